/* Starting a process in a container: the plan is built before clone, the child follows it
 * (init.c), and the parent does its half (id maps, cgroups) in step with it. */
#ifndef LC_PROCESS_H
#define LC_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"
#include "libcontainer/cgroups.h"
#include "libcontainer/config.h"

struct lc_spawn_req {
	const struct lc_config *cfg;
	const char *bundle;         /* resolves a relative root.path and bind sources */
	const struct lc_cgroup *cg; /* the process joins these groups */
	bool make_cgroups;          /* and the parent makes them first, while the child starts */
	pid_t join_pid;             /* > 0: exec into the namespaces of this process */
	int start_fd;               /* create: the exec fifo (the child waits on it); -1 */
	int stdio[3];               /* -1: inherit */
	int exec_fd;                /* -1: args[0] looked up in the container */
	int cache_dirfd;            /* compiled seccomp programs; -1: none */
	/* non-NULL: a new pty as the controlling terminal and stdio, its master returned here:
	 * one of the container's own devpts if it has one, else of the host's */
	int *console;
	unsigned short rows, cols; /* the pty's window; 0: the kernel's */
	/* exec overrides; NULL/false: the config's */
	char *const *args;
	char *const *env;
	const char *cwd;
	bool has_user;
	/* create: runs the create hooks while the child waits before pivot_root; NULL: none */
	int (*hooks)(void *arg, pid_t pid, cm_err *err);
	void *hooks_arg;
	uid_t uid;
	gid_t gid;
};

/* Clones the process and waits until it is ready: waiting on start_fd (create) or exec'd.
 * On success *sync_fd (if not NULL) stays open: after the start signal it reads EOF once the
 * process has exec'd, or a report of why exec failed (lc_process_wait_exec). */
int lc_process_spawn(const struct lc_spawn_req *r, pid_t *pid, int *pidfd, int *sync_fd,
                     cm_err *err);
int lc_process_wait_exec(int sync_fd, const char *what, cm_err *err);

#endif
