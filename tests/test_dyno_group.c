/* A dyno's processes as a group: signals reach every member of its cgroup and never an
 * unrelated process through a reused pid. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/proc.h"
#include "common/spawn.h"
#include "drivers/dyno_group.h"

/* A child in a process group of its own, sleeping; the caller reaps it. */
static pid_t sleeper(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		execl("/bin/sleep", "sleep", "100", (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

static bool alive(pid_t pid)
{
	int status;
	return waitpid(pid, &status, WNOHANG) == 0;
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void record_of_a_reused_pid_is_not_ours(void **state)
{
	(void)state;
	pid_t other = sleeper();
	struct cm_proc_info info;
	assert_int_equal(cm_proc_info(other, &info), 0);
	/* a record of a group whose leader had this pid, but started at another time */
	json_t *rec = json_pack("{s:s, s:i, s:I}", "kind", "pgroup", "pid", (int)other,
	                        "start_time", (json_int_t)(info.start_time + 1));
	struct hs_dg g;
	cm_err err;
	assert_int_equal(hs_dg_from_record(rec, &g, &err), 0);
	json_decref(rec);
	assert_true(alive(other));
	stop(other);
}

static void reaped_leader_pid_is_never_signalled(void **state)
{
	(void)state;
	struct hs_dg_root root;
	char why[256];
	cm_err err;
	assert_int_equal(hs_dg_root_init(&root, "pgroup", why, sizeof(why), &err), 0);
	struct hs_dg g;
	assert_int_equal(hs_dg_create(&root, "web.1", &g, &err), 0);
	pid_t leader = sleeper();
	hs_dg_started(&g, leader);
	assert_true(hs_dg_alive(&g));
	stop(leader);
	g.leader_gone = true;
	assert_false(hs_dg_alive(&g));
	/* the pid now belongs to somebody else (as if reused): SIGKILL must not reach it */
	pid_t other = sleeper();
	g.pgid = other;
	assert_false(hs_dg_alive(&g));
	assert_int_equal(hs_dg_signal(&g, SIGKILL, &err), 0);
	usleep(20000);
	assert_true(alive(other));
	stop(other);
	hs_dg_destroy(&g);
	hs_dg_root_free(&root);
}

static bool cgroup_v2_writable(void)
{
	return geteuid() == 0 && access("/sys/fs/cgroup/unified/cgroup.procs", W_OK) == 0;
}

static void cgroup_kill_reaches_escaped_members(void **state)
{
	(void)state;
	if (!cgroup_v2_writable())
		skip();
	struct hs_dg_root root;
	char why[256];
	cm_err err;
	int rc = hs_dg_root_init(&root, "cgroup-v2", why, sizeof(why), &err);
	if (rc < 0)
		skip();
	struct hs_dg g;
	assert_int_equal(hs_dg_create(&root, "web.1", &g, &err), 0);
	struct cm_spawn_cgroup cg;
	/* the leader starts a process in a session of its own, then waits */
	char *argv[] = {"sh", "-c", "setsid sleep 100 & exec sleep 100", NULL}, *envp[] = {NULL};
	struct cm_spawn_opts o = {.path = "/bin/sh",
	                          .argv = argv,
	                          .envp = envp,
	                          .stdio = {-1, -1, -1},
	                          .foreground_tty = -1,
	                          .new_pgroup = true,
	                          .cgroup = hs_dg_spawn_cgroup(&g, &cg)};
	pid_t pid;
	int pidfd;
	assert_int_equal(cm_spawn(&o, &pid, &pidfd, &err), 0);
	hs_dg_started(&g, pid);
	usleep(100000);
	assert_true(hs_dg_alive(&g));
	assert_int_equal(hs_dg_signal(&g, SIGKILL, &err), 0);
	struct pollfd p = {.fd = hs_dg_events_fd(&g), .events = POLLPRI};
	for (int i = 0; i < 50 && hs_dg_alive(&g); i++)
		poll(&p, 1, 100);
	assert_false(hs_dg_alive(&g));
	struct cm_exit st;
	while (cm_pidfd_reap(pidfd, &st, &err) == 0)
		usleep(1000);
	close(pidfd);
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s%s", g.mount, g.rel);
	hs_dg_destroy(&g);
	struct stat sb;
	assert_int_equal(stat(dir, &sb), -1);
	hs_dg_root_free(&root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(record_of_a_reused_pid_is_not_ours),
	    cmocka_unit_test(reaped_leader_pid_is_never_signalled),
	    cmocka_unit_test(cgroup_kill_reaches_escaped_members),
	};
	return cmocka_run_group_tests_name("dyno_group", tests, NULL, NULL);
}
