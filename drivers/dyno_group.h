/* What a dyno is made of on the host: a cgroup of its own (v2, or v1's freezer), so that every
 * process it starts, including one that leaves its process group or daemonizes, is found and
 * stopped with it. Where hsup cannot make cgroups (not root, a read-only cgroupfs), a dyno is
 * its process group, as before, and what leaves the group is not the dyno's any more.
 *
 * Signals never reach an unrelated process through a reused pid: cgroup members are signalled
 * through a pidfd opened before their membership is checked, v2's cgroup.kill kills a whole
 * group at once, and a process group is signalled only while its number cannot have been
 * reused (its leader is the one recorded, or no process has that pid). */
#ifndef HS_DYNO_GROUP_H
#define HS_DYNO_GROUP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/spawn.h"

enum hs_dg_kind {
	HS_DG_PGROUP,
	HS_DG_V1, /* the v1 freezer hierarchy */
	HS_DG_V2,
};

/* Where one hsup makes its dynos' groups: <hierarchy><its own cgroup>/hsup.<pid>. */
struct hs_dg_root {
	enum hs_dg_kind kind;
	char *mount; /* the hierarchy's mount point: /sys/fs/cgroup/unified */
	char *rel;   /* the parent group, relative to mount: /hsup.123 */
	int lock_fd; /* the parent group, flock'ed while this hsup lives (with rel) */
	unsigned seq;
};

struct hs_dg {
	enum hs_dg_kind kind;
	char *mount, *rel; /* the group: mount + rel; NULL for a process group */
	int dir_fd, procs_fd, events_fd;
	pid_t pgid;                    /* the leader's pid */
	unsigned long long start_time; /* the leader's, to tell a reused pid */
	bool leader_gone;              /* reaped: its number may belong to a new process */
};

/* Chooses how dynos are tracked: want is "auto" (cgroup v2, else v1, else process groups),
 * "cgroup-v2", "cgroup-v1" or "pgroup". When auto falls back, *why says what was not possible. */
int hs_dg_root_init(struct hs_dg_root *root, const char *want, char *why, size_t whylen,
                    cm_err *err);
/* Removes the parent group (once its dynos' groups are gone). */
void hs_dg_root_free(struct hs_dg_root *root);
const char *hs_dg_kind_name(enum hs_dg_kind k);

/* A new group for the dyno name (nothing in it yet). */
int hs_dg_create(struct hs_dg_root *root, const char *name, struct hs_dg *g, cm_err *err);
/* How the dyno's first process joins the group; NULL for a process group. */
const struct cm_spawn_cgroup *hs_dg_spawn_cgroup(const struct hs_dg *g,
                                                 struct cm_spawn_cgroup *buf);
/* The dyno's first process is pid (leading its process group). */
void hs_dg_started(struct hs_dg *g, pid_t pid);
/* Sends sig to every process of the dyno; SIGKILL of a v2 group is one write to cgroup.kill. */
int hs_dg_signal(struct hs_dg *g, int sig, cm_err *err);
/* Whether any process of the dyno is left. */
bool hs_dg_alive(struct hs_dg *g);
/* For v2: an fd that polls readable (POLLPRI) when the group empties or fills; else -1 and the
 * caller checks hs_dg_alive on a timer. */
int hs_dg_events_fd(struct hs_dg *g);
/* Closes the group's fds and removes the group (it must be empty to go). */
void hs_dg_destroy(struct hs_dg *g);

/* A record of the group for a later hsup (owned), and the group back from one: 1 if some
 * process of it is left, 0 if nothing is (what was left of it is removed), < 0 on error. */
json_t *hs_dg_record(const struct hs_dg *g);
int hs_dg_from_record(json_t *rec, struct hs_dg *g, cm_err *err);

#endif
