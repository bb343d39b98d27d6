/* libcontainer: a container runtime as a library. A factory keeps containers' state under a
 * root directory; a container is created from a config (struct lc_config, parsed from OCI JSON
 * or built in memory), started, signalled, inspected and deleted; it outlives the process that
 * created it. The library never waits on children it did not start, installs no signal
 * handler and hands out pidfds and notification fds for the caller's own event loop. */
#ifndef LC_CONTAINER_H
#define LC_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "libcontainer/cgroups.h"
#include "libcontainer/config.h"

struct lc_factory;
struct lc_container;

enum lc_status {
	LC_CREATED,
	LC_RUNNING,
	LC_PAUSED,
	LC_STOPPED,
	LC_CREATING /* state.json written, the init not ready yet (OCI's "creating") */
};

struct lc_create_opts {
	const char *bundle; /* resolves a relative root.path and bind sources; NULL: the cwd */
	int stdio[3];       /* fds for the container's 0, 1, 2; -1: the caller's own */
	int init_fd;        /* >= 0: run this executable (from outside the rootfs) via execveat */
	int console_fd;     /* out: the terminal's master when process.terminal; else -1 */
};

struct lc_exec_opts {
	char *const *args; /* required */
	char *const *env;  /* NULL: the container's */
	const char *cwd;   /* NULL: the container's */
	const char *user;  /* "uid[:gid]" or names in the rootfs; NULL: the container's */
	bool tty;
	unsigned short rows, cols; /* the terminal's window when tty; 0: none */
	int stdio[3];
	int console_fd; /* out: the terminal's master when tty */
};

struct lc_net_stats {
	char name[32];
	uint64_t rx_bytes, rx_packets, rx_errors, rx_dropped;
	uint64_t tx_bytes, tx_packets, tx_errors, tx_dropped;
};

struct lc_stats {
	struct lc_cgroup_stats cg;
	struct lc_net_stats net[16];
	size_t n_net;
};

int lc_factory_open(const char *root, struct lc_factory **out, cm_err *err);
void lc_factory_free(struct lc_factory *f);
/* The ids of the containers under the root (owned vector). */
int lc_factory_list(struct lc_factory *f, char ***ids, cm_err *err);

/* Sets everything up; the process waits before exec until lc_container_start. */
int lc_container_create(struct lc_factory *f, const char *id, const struct lc_config *cfg,
                        struct lc_create_opts *o, struct lc_container **out, cm_err *err);
int lc_container_load(struct lc_factory *f, const char *id, struct lc_container **out, cm_err *err);
int lc_container_start(struct lc_container *c, cm_err *err);
/* create + start. */
int lc_container_run(struct lc_factory *f, const char *id, const struct lc_config *cfg,
                     struct lc_create_opts *o, struct lc_container **out, cm_err *err);
void lc_container_free(struct lc_container *c);

const char *lc_container_id(const struct lc_container *c);
pid_t lc_container_pid(const struct lc_container *c);
/* The container's config (from its state directory), or NULL if it cannot be read. */
const struct lc_config *lc_container_config(struct lc_container *c);
const struct lc_cgroup *lc_container_cgroup(const struct lc_container *c);
const char *lc_container_rootfs(const struct lc_container *c);
const char *lc_container_bundle(const struct lc_container *c);
long long lc_container_created(const struct lc_container *c);
const char *lc_status_name(enum lc_status s);
enum lc_status lc_container_status(struct lc_container *c);
/* A pidfd for the init process (owned by the container): readable once it exits. If this
 * process created the container it is the parent and reaps it with lc_container_reap. */
int lc_container_pidfd(struct lc_container *c, cm_err *err);
/* Non-blocking: 1 and the exit code (128+signal) once the init has exited, 0 before. */
int lc_container_reap(struct lc_container *c, int *exit_code, cm_err *err);

int lc_container_kill(struct lc_container *c, int sig, bool all, cm_err *err);
/* Removes the container: processes (force: killed first, else it must be stopped), cgroups
 * and state. */
int lc_container_delete(struct lc_container *c, bool force, cm_err *err);
int lc_container_exec(struct lc_container *c, struct lc_exec_opts *o, pid_t *pid, int *pidfd,
                      cm_err *err);
int lc_container_processes(struct lc_container *c, pid_t **pids, size_t *n, cm_err *err);
int lc_container_pause(struct lc_container *c, cm_err *err);
int lc_container_resume(struct lc_container *c, cm_err *err);
int lc_container_stats(struct lc_container *c, struct lc_stats *st, cm_err *err);
int lc_container_update(struct lc_container *c, const struct lc_resources *r, cm_err *err);
/* Moves this process into the group it is in (a move that changes nothing) in one cgroup
 * hierarchy. Every move into a cgroup takes the kernel's cgroup migration lock for writing,
 * which waits for an RCU grace period (10-25 ms here) unless a move has happened in the last
 * few milliseconds. Called on another thread when a container's setup begins, it takes that
 * wait while the rest is made, and the container's own move into its cgroups, a few ms later,
 * does not wait. Blocks; best effort. */
void lc_cgroup_warm(void);
/* An fd readable on each OOM kill (v1: an eventfd, read its 8-byte counter; v2: inotify on
 * memory.events). */
int lc_container_oom_fd(struct lc_container *c, int *fd, cm_err *err);
/* An eventfd readable each time memory usage crosses bytes (cgroup v1). */
int lc_container_threshold_fd(struct lc_container *c, uint64_t bytes, int *fd, cm_err *err);

struct lc_criu_opts {
	const char *image_path;
	const char *work_path; /* NULL: image_path */
	bool leave_running;
	bool tcp_established;
	bool ext_unix_sk;
	bool shell_job;
};
/* Whether CRIU can work on this kernel: 0, or -1 with its own words why not. */
int lc_criu_check(cm_err *err);
int lc_container_checkpoint(struct lc_container *c, const struct lc_criu_opts *o, cm_err *err);
int lc_container_restore(struct lc_container *c, const struct lc_criu_opts *o, cm_err *err);

#endif
