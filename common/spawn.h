/* Starting a child process from a process that may have threads: the child makes only raw
 * system calls between clone3() and execve(), and the parent learns of a failed exec as the
 * step and errno. The child is returned with a pidfd for polling and reaping.
 *
 * What a start costs does not grow with the parent: the child shares the parent's memory until
 * it execs (no page tables copied, no copy-on-write faults after), and keeps only a few low
 * descriptors of the parent's table (the ones it needs, dup'ed there for the spawn), so neither
 * the copy of the table nor the closing at exec grows with the descriptors the parent holds.
 * Where clone3 cannot be used that way (not x86-64, or no clone3), the child is a copy. */
#ifndef CM_SPAWN_H
#define CM_SPAWN_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "common/err.h"

/* A cgroup the child starts in: born there (clone3 CLONE_INTO_CGROUP, cgroup v2) where it can,
 * else it writes itself into procs_fd before exec (cgroup v1, or a kernel before 5.7). */
struct cm_spawn_cgroup {
	int dir_fd;   /* the v2 cgroup's directory, or -1 */
	int procs_fd; /* its cgroup.procs opened for writing */
};

struct cm_spawn_opts {
	const char *path; /* executable; no PATH search */
	char *const *argv;
	char *const *envp;
	const char *cwd;    /* NULL: inherit */
	int stdio[3];       /* fds for 0, 1, 2 in the child; -1 keeps the parent's own */
	bool new_pgroup;    /* the child leads a new process group */
	int foreground_tty; /* >= 0: make the child's group the foreground group of this tty */
	const struct rlimit *nofile;          /* RLIMIT_NOFILE for the child, NULL: inherit */
	const struct cm_spawn_cgroup *cgroup; /* NULL: the parent's cgroups */
};

/* Reserves the few low descriptors and the stack spawning uses, at once rather than at the
 * first spawn: a process that will hold many descriptors calls it early, so that the child's
 * copy of its descriptor table stays that small. */
void cm_spawn_init(void);

/* The child is registered as watched (common/children.h) until cm_pidfd_reap reaps it. */
int cm_spawn(const struct cm_spawn_opts *o, pid_t *pid, int *pidfd, cm_err *err);

/* For a child between clone and exec (raw system calls only, no allocation). */
/* Every signal back to its default action, none blocked. */
int cm_child_reset_signals(void);
/* Makes stdio[i] (>= 0) the child's fd i, moving fds that sit in 0..2 out of the way first so
 * dup2 never clobbers a source; -1 keeps fd i as it is. */
int cm_child_stdio(const int stdio[3]);

/* Exit status of a reaped child as a shell would report it: the code, or 128 + signal. */
struct cm_exit {
	int code;   /* exit code, or 128 + signal */
	int signal; /* terminating signal, 0 if it exited */
};

/* Reaps the child behind pidfd without blocking: 1 if reaped (status filled), 0 if still
 * running, < 0 on error. A reaped child is no longer registered as watched. */
int cm_pidfd_reap(int pidfd, struct cm_exit *status, cm_err *err);

/* Looks name up in the PATH of the given environment value (or a default); returns an owned
 * absolute path or NULL. */
char *cm_find_program(const char *name, const char *path_env);

#endif
