/* Starting children: exec errors come back as the step and errno, stdio and process groups
 * are as asked, and the pidfd reports the exit. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/children.h"
#include "common/spawn.h"

#include <sys/wait.h>

static struct cm_exit wait_exit(int pidfd)
{
	struct cm_exit st = {0};
	cm_err err;
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_int_equal(cm_pidfd_reap(pidfd, &st, &err), 1);
	close(pidfd);
	return st;
}

static void exit_codes_and_signals(void **state)
{
	(void)state;
	char *argv[] = {"sh", "-c", "exit 7", NULL}, *envp[] = {NULL};
	struct cm_spawn_opts o = {.path = "/bin/sh",
	                          .argv = argv,
	                          .envp = envp,
	                          .stdio = {-1, -1, -1},
	                          .foreground_tty = -1};
	pid_t pid;
	int pidfd;
	cm_err err;
	assert_int_equal(cm_spawn(&o, &pid, &pidfd, &err), 0);
	assert_int_equal(wait_exit(pidfd).code, 7);
	argv[2] = "kill -TERM $$";
	assert_int_equal(cm_spawn(&o, &pid, &pidfd, &err), 0);
	struct cm_exit st = wait_exit(pidfd);
	assert_int_equal(st.signal, SIGTERM);
	assert_int_equal(st.code, 128 + SIGTERM);
}

static void errors_name_the_step(void **state)
{
	(void)state;
	char *argv[] = {"x", NULL}, *envp[] = {NULL};
	struct cm_spawn_opts o = {.path = "/no/such/program",
	                          .argv = argv,
	                          .envp = envp,
	                          .stdio = {-1, -1, -1},
	                          .foreground_tty = -1};
	pid_t pid;
	int pidfd;
	cm_err err;
	assert_int_equal(cm_spawn(&o, &pid, &pidfd, &err), -1);
	assert_string_equal(err.msg, "exec /no/such/program: No such file or directory");
	o.path = "/bin/true";
	o.cwd = "/no/such/dir";
	assert_int_equal(cm_spawn(&o, &pid, &pidfd, &err), -1);
	assert_string_equal(err.msg,
	                    "start /bin/true: chdir /no/such/dir: No such file or directory");
}

static void stdio_env_and_process_group(void **state)
{
	(void)state;
	int out[2];
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	char *argv[] = {"sh", "-c", "echo \"$A\" $(ps -o pgid= -p $$ 2>/dev/null || echo x)", NULL};
	char *envp[] = {"A=hello", "PATH=/usr/bin:/bin", NULL};
	struct cm_spawn_opts o = {.path = "/bin/sh",
	                          .argv = argv,
	                          .envp = envp,
	                          .stdio = {-1, out[1], -1},
	                          .new_pgroup = true,
	                          .foreground_tty = -1};
	pid_t pid;
	int pidfd;
	cm_err err;
	assert_int_equal(cm_spawn(&o, &pid, &pidfd, &err), 0);
	close(out[1]);
	assert_int_equal(getpgid(pid), pid);
	char buf[128] = {0};
	ssize_t n = read(out[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	assert_int_equal(strncmp(buf, "hello", 5), 0);
	close(out[0]);
	assert_int_equal(wait_exit(pidfd).code, 0);
}

static void ignored_signals_are_reset(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN); /* as in hsup */
	char *argv[] = {"sh", "-c", "kill -PIPE $$; exit 0", NULL}, *envp[] = {NULL};
	struct cm_spawn_opts o = {.path = "/bin/sh",
	                          .argv = argv,
	                          .envp = envp,
	                          .stdio = {-1, -1, -1},
	                          .foreground_tty = -1};
	pid_t pid;
	int pidfd;
	cm_err err;
	assert_int_equal(cm_spawn(&o, &pid, &pidfd, &err), 0);
	assert_int_equal(wait_exit(pidfd).signal, SIGPIPE);
	signal(SIGPIPE, SIG_DFL);
}

/* Waits until pid is a zombie (it exited; nobody reaped it yet). */
static void wait_zombie(pid_t pid)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
}

static void orphan_reaper_leaves_watched_children_alone(void **state)
{
	(void)state;
	char *argv[] = {"sh", "-c", "exit 5", NULL}, *envp[] = {NULL};
	struct cm_spawn_opts o = {.path = "/bin/sh",
	                          .argv = argv,
	                          .envp = envp,
	                          .stdio = {-1, -1, -1},
	                          .foreground_tty = -1};
	pid_t pid;
	int pidfd;
	cm_err err;
	assert_int_equal(cm_spawn(&o, &pid, &pidfd, &err), 0);
	assert_true(cm_children_watched(pid));
	pid_t stray = fork(); /* a child nobody watches, as an orphan reparented to PID 1 */
	if (stray == 0)
		_exit(0);
	wait_zombie(pid);
	wait_zombie(stray);
	assert_int_equal(cm_children_reap_orphans(), 1); /* the stray only */
	assert_int_equal(kill(stray, 0), -1);
	assert_int_equal(wait_exit(pidfd).code, 5); /* the watched child's status is still there */
	assert_false(cm_children_watched(pid));
}

/* Runs argv[2] under sh -c with stdout into a pipe; returns what it printed (static). */
static const char *output_of(struct cm_spawn_opts *o)
{
	static char buf[4096];
	int out[2];
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	o->stdio[1] = out[1];
	pid_t pid;
	int pidfd;
	cm_err err;
	assert_int_equal(cm_spawn(o, &pid, &pidfd, &err), 0);
	close(out[1]);
	size_t len = 0;
	ssize_t n;
	while ((n = read(out[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = 0;
	close(out[0]);
	assert_int_equal(wait_exit(pidfd).code, 0);
	return buf;
}

/* However many descriptors the parent holds, close-on-exec or not, the child gets its stdio
 * and nothing else. */
static void child_gets_only_its_stdio(void **state)
{
	(void)state;
	int many[300];
	for (size_t i = 0; i < 300; i++) {
		many[i] = open("/dev/null", i % 2 ? O_RDONLY : O_RDONLY | O_CLOEXEC);
		assert_true(many[i] >= 0);
	}
	char *argv[] = {"sh", "-c",
	                "for i in $(seq 0 1000); do [ ! -e /proc/$$/fd/$i ] || echo $i; done",
	                NULL},
	     *envp[] = {"PATH=/usr/bin:/bin", NULL};
	struct cm_spawn_opts o = {.path = "/bin/sh",
	                          .argv = argv,
	                          .envp = envp,
	                          .stdio = {-1, -1, -1},
	                          .foreground_tty = -1};
	assert_string_equal(output_of(&o), "0\n1\n2\n");
	for (size_t i = 0; i < 300; i++)
		close(many[i]);
}

/* A program named by a descriptor of the parent's (as hsup runs its dyno init) still runs,
 * though the child drops that descriptor. */
static void exec_through_proc_self_fd(void **state)
{
	(void)state;
	int fd = open("/bin/sh", O_PATH | O_CLOEXEC);
	assert_true(fd >= 0);
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	char *argv[] = {"sh", "-c", "echo ran", NULL}, *envp[] = {NULL};
	struct cm_spawn_opts o = {
	    .path = path, .argv = argv, .envp = envp, .stdio = {-1, -1, -1}, .foreground_tty = -1};
	assert_string_equal(output_of(&o), "ran\n");
	close(fd);
}

/* Threads spawning at once each get their own child with their own stdio. */
#define SPAWN_THREADS 4
#define SPAWNS_EACH   25

static void *spawn_many(void *arg)
{
	long id = (long)arg;
	for (int i = 0; i < SPAWNS_EACH; i++) {
		int out[2];
		if (pipe2(out, O_CLOEXEC) < 0)
			return (void *)1;
		char word[32];
		snprintf(word, sizeof(word), "t%ld.%d", id, i);
		char *argv[] = {"echo", word, NULL}, *envp[] = {NULL};
		struct cm_spawn_opts o = {.path = "/bin/echo",
		                          .argv = argv,
		                          .envp = envp,
		                          .stdio = {-1, out[1], -1},
		                          .foreground_tty = -1};
		pid_t pid;
		int pidfd;
		cm_err err;
		if (cm_spawn(&o, &pid, &pidfd, &err) < 0)
			return (void *)2;
		close(out[1]);
		char buf[64] = {0};
		ssize_t n = read(out[0], buf, sizeof(buf) - 1);
		close(out[0]);
		struct pollfd p = {.fd = pidfd, .events = POLLIN};
		struct cm_exit st;
		if (poll(&p, 1, 10000) != 1 || cm_pidfd_reap(pidfd, &st, &err) != 1 || st.code != 0)
			return (void *)3;
		close(pidfd);
		if (n != (ssize_t)strlen(word) + 1 || strncmp(buf, word, strlen(word)) != 0)
			return (void *)4;
	}
	return NULL;
}

static void threads_spawn_at_once(void **state)
{
	(void)state;
	pthread_t t[SPAWN_THREADS];
	for (long i = 0; i < SPAWN_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, spawn_many, (void *)i), 0);
	for (int i = 0; i < SPAWN_THREADS; i++) {
		void *r;
		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_null(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(exit_codes_and_signals),
	    cmocka_unit_test(errors_name_the_step),
	    cmocka_unit_test(stdio_env_and_process_group),
	    cmocka_unit_test(ignored_signals_are_reset),
	    cmocka_unit_test(orphan_reaper_leaves_watched_children_alone),
	    cmocka_unit_test(child_gets_only_its_stdio),
	    cmocka_unit_test(exec_through_proc_self_fd),
	    cmocka_unit_test(threads_spawn_at_once),
	};
	return cmocka_run_group_tests_name("spawn", tests, NULL, NULL);
}
