/* state.json: what outlives the process that created a container. */
#ifndef LC_STATE_H
#define LC_STATE_H

#include <sys/types.h>

#include "common/err.h"
#include "libcontainer/cgroups.h"

struct lc_state {
	char *id;
	pid_t pid;                     /* 0 while the container is being created */
	unsigned long long start_time; /* /proc/PID/stat field 22: tells a reused pid apart */
	pid_t creator;                 /* the process creating it, until pid is known */
	unsigned long long creator_start_time;
	char *bundle;
	char *rootfs;
	long long created; /* unix seconds */
	struct lc_cgroup cgroup;
};

/* Writes dirfd/state.json atomically (a temp file renamed over it). Not fsynced: a container
 * does not survive the reboot that would lose it. */
int lc_state_write(int dirfd, const struct lc_state *s, cm_err *err);
/* Reads it; a directory without state.json (a create killed before it wrote one, which it
 * does first) reads as a container with no pid and no cgroup: nothing but the directory. */
int lc_state_read(int dirfd, struct lc_state *s, cm_err *err);
void lc_state_clear(struct lc_state *s);

#endif
