/* waitn: the benchmarks' stopwatch. Scans /proc for processes whose command line is exactly
 * the given argv and waits until enough of them exist, printing the elapsed milliseconds.
 *
 *   waitn [options] -- ARGV...
 *     -n N       wait until at least N processes match (default 1)
 *     -d         wait until at most N match instead (N may be 0)
 *     -l         print the matching pids, one a line, and exit (no waiting)
 *     -s EPOCH   measure from this CLOCK_REALTIME instant (seconds, e.g. bash's
 *                $EPOCHREALTIME) instead of from waitn's own start
 *     -s -       the same, the instant read from stdin: waitn first prints "ready" and a
 *                newline, then reads a line holding EPOCH, then scans; so a caller can have
 *                it watching before it acts, and the time to start waitn is not counted;
 *                a process running then and not matching is not read again (the argv it
 *                execs later is missed)
 *     -k PID     restart mode: note the matching pids, SIGKILL PID (one of them), then wait
 *                until at least N match and one of them is new; timed from the kill
 *     -t SECS    give up after SECS seconds (default 60): exit 1
 *     -i USECS   least pause between scans (default 200); a pause lasts at least as long as
 *                the scan before it, so waitn takes at most half a CPU from what it measures
 *
 * A process seen to match is counted, without reading it again, for as long as /proc lists it
 * (the benchmarks kill nothing while counting up; -k leaves its victim out and -d rereads
 * everything), so a scan reads little more than the command lines of new processes.
 * With -k, where the kernel's process events can be had (the proc connector, for root), the new
 * process is seen the moment it execs the command, whatever the number of processes; else by
 * scanning, whose pauses grow with what /proc lists.
 * Prints the elapsed time as "12.345" (ms) on stdout and exits 0; on timeout prints what it
 * saw on stderr and exits 1; usage errors exit 2. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

struct pidset {
	pid_t *v;
	size_t n, cap;
};

static void pidset_add(struct pidset *s, pid_t pid)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v) {
			perror("waitn: realloc");
			exit(2);
		}
	}
	s->v[s->n++] = pid;
}

/* One bit per possible pid. */
struct pidmap {
	unsigned char *bits;
	size_t max;
};

static void pidmap_init(struct pidmap *m, size_t max)
{
	m->max = max;
	m->bits = calloc(max / 8 + 1, 1);
	if (!m->bits) {
		perror("waitn: calloc");
		exit(2);
	}
}

static bool pidmap_has(const struct pidmap *m, pid_t pid)
{
	size_t p = (size_t)pid;
	return p <= m->max && (m->bits[p / 8] >> (p % 8) & 1);
}

static void pidmap_set(struct pidmap *m, pid_t pid, bool on)
{
	size_t p = (size_t)pid;
	if (p > m->max)
		return;
	if (on)
		m->bits[p / 8] |= (unsigned char)(1u << (p % 8));
	else
		m->bits[p / 8] &= (unsigned char)~(1u << (p % 8));
}

static size_t pid_max(void)
{
	unsigned long v = 4194304; /* the kernel's ceiling, should the file be unreadable */
	FILE *f = fopen("/proc/sys/kernel/pid_max", "r");
	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 4194304;
		fclose(f);
	}
	return v;
}

static char *want;   /* the argv joined with NULs, as in /proc/PID/cmdline */
static size_t wantn; /* its length, the last NUL included */

/* Does the process PID (a directory of /proc) run exactly the wanted argv? */
static bool matches(int procfd, const char *pid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "%s/cmdline", pid);
	int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false; /* gone meanwhile */
	/* One byte more than wanted, so a longer command line cannot pass as a match. */
	size_t lim = wantn + 1 < sizeof(buf) ? wantn + 1 : sizeof(buf);
	ssize_t r = read(fd, buf, lim);
	close(fd);
	return r == (ssize_t)wantn && memcmp(buf, want, wantn) == 0;
}

/* What a scan may take for granted, to read as few command lines as possible:
 * - known: pids seen to match; they count, without a read, as long as /proc lists them.
 *   Sound while no matching process dies, since a zombie is still listed (not with -d).
 * - ignored: pids that are not candidates at all (with -k and -s -: whatever did not match
 *   before). */
struct scan_cache {
	bool enabled;
	struct pidmap known, ignored;
	pid_t exclude; /* never counted: the victim of -k */
};

/* One pass over /proc: the matching pids into *out (emptied first). */
static void scan(DIR *proc, struct scan_cache *c, struct pidset *out)
{
	struct dirent *e;
	out->n = 0;
	rewinddir(proc);
	while ((e = readdir(proc))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		pid_t pid = (pid_t)atoi(e->d_name);
		if (c->enabled) {
			if (pid == c->exclude || pidmap_has(&c->ignored, pid))
				continue;
			if (pidmap_has(&c->known, pid)) {
				pidset_add(out, pid);
				continue;
			}
		}
		if (matches(dirfd(proc), e->d_name)) {
			pidset_add(out, pid);
			if (c->enabled)
				pidmap_set(&c->known, pid, true);
		}
	}
}

/* Every process listed now and not known to match is left out of later scans. */
static void ignore_the_others(DIR *proc, struct scan_cache *c)
{
	struct dirent *e;
	rewinddir(proc);
	while ((e = readdir(proc))) {
		pid_t pid = (pid_t)atoi(e->d_name);
		if (!pidmap_has(&c->known, pid))
			pidmap_set(&c->ignored, pid, true);
	}
}

static double mono_ms(void);

/* The kernel's process events (exec, fork, exit...), or -1 where they cannot be had. */
static int proc_events_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
	if (fd < 0)
		return -1;
	struct sockaddr_nl sa = {
	    .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC, .nl_pid = (unsigned)getpid()};
	struct {
		struct nlmsghdr nl;
		struct cn_msg cn;
		enum proc_cn_mcast_op op;
	} __attribute__((packed)) req = {
	    .nl = {.nlmsg_len = sizeof(req),
	           .nlmsg_type = NLMSG_DONE,
	           .nlmsg_pid = (unsigned)getpid()},
	    .cn = {.id = {.idx = CN_IDX_PROC, .val = CN_VAL_PROC},
	           .len = sizeof(enum proc_cn_mcast_op)},
	    .op = PROC_CN_MCAST_LISTEN,
	};
	int big = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, &req, sizeof(req), 0) != (ssize_t)sizeof(req)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits on the process events for a process not in before to exec the wanted argv; returns
 * 1 when one does, 0 at the deadline, -1 if the events failed (lost some: scan instead). */
static int wait_new_exec(int fd, int procfd, const struct pidmap *before, double deadline)
{
	char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
	for (;;) {
		double left = deadline - mono_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)left + 1);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r <= 0)
			continue;
		ssize_t len = recv(fd, buf, sizeof(buf), 0);
		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0)
			return -1; /* ENOBUFS: events were lost */
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len);
		     h = NLMSG_NEXT(h, len)) {
			struct cn_msg *cn = NLMSG_DATA(h);
			struct proc_event *ev = (struct proc_event *)cn->data;
			if (ev->what != PROC_EVENT_EXEC)
				continue;
			pid_t pid = ev->event_data.exec.process_pid;
			char name[16];
			snprintf(name, sizeof(name), "%d", (int)pid);
			if (!pidmap_has(before, pid) && matches(procfd, name))
				return 1;
		}
	}
}

static double mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double real_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void usage(void)
{
	fputs("usage: waitn [-n N] [-d] [-l] [-s EPOCH|-] [-k PID] [-t SECS] [-i USECS] -- "
	      "ARGV...\n",
	      stderr);
	exit(2);
}

static double number(const char *s, double min)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < min) {
		fprintf(stderr, "waitn: bad number \"%s\"\n", s);
		usage();
	}
	return v;
}

/* -s -: says it is ready, then waits for the instant to measure from. */
static double epoch_from_stdin(void)
{
	char line[64];
	fputs("ready\n", stdout);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin)) {
		fputs("waitn: no EPOCH on stdin\n", stderr);
		exit(2);
	}
	line[strcspn(line, "\n")] = '\0';
	return number(line, 0) * 1e3;
}

int main(int argc, char **argv)
{
	long n = 1;
	bool down = false, list = false;
	double since_epoch_ms = -1, timeout_s = 60;
	bool since_stdin = false;
	long interval_us = 200;
	pid_t victim = 0;
	int opt;
	while ((opt = getopt(argc, argv, "n:dls:k:t:i:")) != -1) {
		switch (opt) {
		case 'n':
			n = (long)number(optarg, 0);
			break;
		case 'd':
			down = true;
			break;
		case 'l':
			list = true;
			break;
		case 's':
			if (strcmp(optarg, "-") == 0)
				since_stdin = true;
			else
				since_epoch_ms = number(optarg, 0) * 1e3;
			break;
		case 'k':
			victim = (pid_t)number(optarg, 1);
			break;
		case 't':
			timeout_s = number(optarg, 0);
			break;
		case 'i':
			interval_us = (long)number(optarg, 0);
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	for (int i = optind; i < argc; i++)
		wantn += strlen(argv[i]) + 1;
	want = malloc(wantn);
	if (!want)
		return 2;
	for (size_t off = 0, i = (size_t)optind; i < (size_t)argc; i++) {
		size_t l = strlen(argv[i]) + 1;
		memcpy(want + off, argv[i], l);
		off += l;
	}

	DIR *proc = opendir("/proc");
	if (!proc) {
		perror("waitn: /proc");
		return 2;
	}
	struct scan_cache cache = {.enabled = !down && !list};
	if (cache.enabled) {
		pidmap_init(&cache.known, pid_max());
		pidmap_init(&cache.ignored, pid_max());
	}
	struct pidset seen = {0};
	if (list) {
		scan(proc, &cache, &seen);
		for (size_t i = 0; i < seen.n; i++)
			printf("%d\n", (int)seen.v[i]);
		return 0;
	}
	struct pidmap before = {0};
	if (victim) {
		/* The processes now: only those started after the kill need reading later. */
		pidmap_init(&before, pid_max());
		cache.enabled = false;
		scan(proc, &cache, &seen);
		cache.enabled = true;
		for (size_t i = 0; i < seen.n; i++)
			pidmap_set(&before, seen.v[i], true);
		if (!pidmap_has(&before, victim)) {
			fprintf(stderr, "waitn: pid %d does not run the given command\n",
			        (int)victim);
			return 2;
		}
		if ((long)seen.n < n)
			fprintf(stderr,
			        "waitn: warning: only %zu processes match before the kill\n",
			        seen.n);
		for (size_t i = 0; i < seen.n; i++)
			pidmap_set(&cache.known, seen.v[i], true);
		ignore_the_others(proc, &cache);
		cache.exclude = victim;
	} else if (since_stdin && cache.enabled) {
		/* What is measured starts new processes: those there now need reading once. */
		scan(proc, &cache, &seen);
		ignore_the_others(proc, &cache);
	}

	if (since_stdin)
		since_epoch_ms = epoch_from_stdin();
	double start = mono_ms();
	/* With -s, the time already gone since EPOCH counts too. */
	double offset = since_epoch_ms >= 0 ? real_ms() - since_epoch_ms : 0;
	int events = victim ? proc_events_open() : -1;
	if (victim && kill(victim, SIGKILL) < 0) {
		perror("waitn: kill");
		return 2;
	}
	double deadline = start + timeout_s * 1e3;
	if (events >= 0) {
		int r = wait_new_exec(events, dirfd(proc), &before, deadline);
		double now = mono_ms();
		if (r == 1) {
			printf("%.3f\n", now - start + offset);
			return 0;
		}
		if (r == 0) {
			fprintf(stderr, "waitn: timed out after %.1f s: no new process\n",
			        timeout_s);
			return 1;
		}
	}
	for (;;) {
		double t = mono_ms();
		scan(proc, &cache, &seen);
		bool done = down ? (long)seen.n <= n : (long)seen.n >= n;
		if (done && victim) {
			done = false;
			for (size_t i = 0; i < seen.n && !done; i++)
				done = !pidmap_has(&before, seen.v[i]);
		}
		double now = mono_ms();
		if (done) {
			printf("%.3f\n", now - start + offset);
			return 0;
		}
		if (now >= deadline) {
			fprintf(
			    stderr,
			    "waitn: timed out after %.1f s: %zu processes match, wanted %s %ld\n",
			    timeout_s, seen.n, down ? "at most" : "at least", n);
			return 1;
		}
		/* Pause at least as long as the scan took: waitn takes at most half a CPU from
		 * the supervisor it measures. */
		double pause_us = (now - t) * 1e3;
		if (pause_us < (double)interval_us)
			pause_us = (double)interval_us;
		struct timespec ts = {(time_t)(pause_us / 1e6),
		                      (long)((long long)pause_us % 1000000) * 1000};
		nanosleep(&ts, NULL);
	}
}
