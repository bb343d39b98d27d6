/* Starting children: exec errors come back as the step and errno, stdio and process groups
 * are as asked, and the pidfd reports the exit. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(exit_codes_and_signals),
	    cmocka_unit_test(errors_name_the_step),
	    cmocka_unit_test(stdio_env_and_process_group),
	    cmocka_unit_test(ignored_signals_are_reset),
	    cmocka_unit_test(orphan_reaper_leaves_watched_children_alone),
	};
	return cmocka_run_group_tests_name("spawn", tests, NULL, NULL);
}
