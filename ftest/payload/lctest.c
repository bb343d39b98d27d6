/* lctest: a static test payload run inside containers. It reports what it sees from inside,
 * one KEY=VALUE per line, so the functional tests can check isolation as a user would. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e)
{
	switch (e) {
	case EROFS:
		return "EROFS";
	case EACCES:
		return "EACCES";
	case EPERM:
		return "EPERM";
	case ENOENT:
		return "ENOENT";
	case EAGAIN:
		return "EAGAIN";
	}
	static char buf[32];
	snprintf(buf, sizeof(buf), "%d", e);
	return buf;
}

static void status_field(const char *key)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	size_t n = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0 && line[n] == ':') {
			char *v = line + n + 1;
			v += strspn(v, " \t");
			printf("%s=%s", key, v);
		}
	if (f)
		fclose(f);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(const char *key, const char *path)
{
	char *names[256];
	int n = 0;
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d)) && n < 256)
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	if (d)
		closedir(d);
	qsort(names, (size_t)n, sizeof(char *), cmp);
	printf("%s=", key);
	for (int i = 0; i < n; i++) {
		printf("%s%s", i ? " " : "", names[i]);
		free(names[i]);
	}
	printf("\n");
}

/* Every mount point, from mountinfo's fifth field. */
static void mountpoints(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096];
	printf("mountpoints=");
	for (int i = 0; f && fgets(line, sizeof(line), f); i++) {
		char mp[4096];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1)
			printf("%s%s", i ? " " : "", mp);
	}
	printf("\n");
	if (f)
		fclose(f);
}

static int info(void)
{
	struct utsname u;
	uname(&u);
	printf("pid=%d\nppid=%d\nhostname=%s\ndomainname=%s\n", getpid(), getppid(), u.nodename,
	       u.domainname);
	printf("uid=%d\ngid=%d\n", getuid(), getgid());
	gid_t groups[64];
	int ng = getgroups(64, groups);
	printf("groups=");
	for (int i = 0; i < ng; i++)
		printf("%s%d", i ? "," : "", groups[i]);
	printf("\n");
	status_field("CapInh");
	status_field("CapPrm");
	status_field("CapEff");
	status_field("CapBnd");
	status_field("CapAmb");
	status_field("NoNewPrivs");
	status_field("Seccomp");
	status_field("SigBlk");
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	printf("nofile=%llu/%llu\n", (unsigned long long)rl.rlim_cur,
	       (unsigned long long)rl.rlim_max);
	char cwd[4096];
	printf("cwd=%s\n", getcwd(cwd, sizeof(cwd)) ? cwd : "?");
	list_dir("dev", "/dev");
	mountpoints();
	return 0;
}

static int try_write(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		printf("write %s=%s\n", path, errname(errno));
		return 0;
	}
	close(fd);
	printf("write %s=ok\n", path);
	return 0;
}

static int try_read(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		printf("read %s=%s\n", path, errname(errno));
		return 0;
	}
	char buf[4096];
	long total = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
	close(fd);
	printf("read %s=%ld bytes\n", path, total);
	return 0;
}

static int cat(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	while (f && fgets(line, sizeof(line), f))
		fputs(line, stdout);
	if (f)
		fclose(f);
	return 0;
}

static int try_getpriority(void)
{
	errno = 0;
	int r = getpriority(PRIO_USER, 0);
	printf("getpriority user=%s\n", r == -1 && errno ? errname(errno) : "ok");
	errno = 0;
	r = getpriority(PRIO_PROCESS, 0);
	printf("getpriority process=%s\n", r == -1 && errno ? errname(errno) : "ok");
	return 0;
}

/* Allocates and touches memory 1 MiB at a time until mb or until killed. */
static int alloc(long mb)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	for (long i = 1; i <= mb; i++) {
		char *p = malloc(1 << 20);
		if (!p) {
			printf("malloc failed at %ld MiB\n", i);
			return 1;
		}
		memset(p, 1, 1 << 20);
		if (i % 16 == 0)
			printf("allocated %ld MiB\n", i);
	}
	printf("allocated all %ld MiB\n", mb);
	return 0;
}

/* Forks up to n sleeping children; reports how many it got and why it stopped. */
static int forkbomb(int n)
{
	pid_t kids[4096];
	int got = 0, err = 0;
	for (; got < n && got < 4096; got++) {
		pid_t p = fork();
		if (p < 0) {
			err = errno;
			break;
		}
		if (p == 0) {
			pause();
			_exit(0);
		}
		kids[got] = p;
	}
	printf("forked=%d stopped=%s\n", got, err ? errname(err) : "no");
	fflush(stdout);
	for (int i = 0; i < got; i++)
		kill(kids[i], SIGKILL);
	while (wait(NULL) > 0)
		;
	return 0;
}

/* Forks a sleeping child every 100 us, up to max: a process that forks all the while, which
 * kill --all must stop while it is at it. */
static int breed(int max)
{
	struct timespec pace = {0, 100000};
	for (int n = 0;; n++) {
		if (n < max && fork() == 0) {
			pause();
			_exit(0);
		}
		nanosleep(&pace, NULL);
	}
}

/* CPU time, not wall time: on a busy host the test reading the container's cpu usage after
 * "spin 200" must find 200 ms there. */
static int spin(long ms)
{
	struct timespec start, now;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
	volatile unsigned long x = 0;
	do {
		for (int i = 0; i < 100000; i++)
			x += (unsigned long)i;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
	} while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < ms);
	printf("spun %ld ms\n", ms);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		const char *cmd = argv[i], *arg = i + 1 < argc ? argv[i + 1] : "";
		if (!strcmp(cmd, "info"))
			info();
		else if (!strcmp(cmd, "write"))
			try_write(arg), i++;
		else if (!strcmp(cmd, "read"))
			try_read(arg), i++;
		else if (!strcmp(cmd, "cat"))
			cat(arg), i++;
		else if (!strcmp(cmd, "getpriority"))
			try_getpriority();
		else if (!strcmp(cmd, "alloc"))
			return alloc(atol(arg));
		else if (!strcmp(cmd, "fork"))
			forkbomb(atoi(arg)), i++;
		else if (!strcmp(cmd, "breed"))
			breed(atoi(arg)), i++;
		else if (!strcmp(cmd, "spin"))
			spin(atol(arg)), i++;
		else if (!strcmp(cmd, "sleep"))
			for (;;)
				pause();
		else {
			fprintf(stderr, "lctest: unknown command %s\n", cmd);
			return 2;
		}
	}
	return 0;
}
