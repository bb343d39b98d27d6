/* Control groups behind one interface: cgroup v1 (one hierarchy per controller, what hybrid
 * hosts have) and v2 (the unified hierarchy). The mode is detected from /sys/fs/cgroup. */
#ifndef LC_CGROUPS_H
#define LC_CGROUPS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "libcontainer/config.h"

#define LC_CGROUP_MAX_CTRL 10

struct lc_cgroup {
	int version; /* 1 or 2 */
	size_t n;
	char *ctrl[LC_CGROUP_MAX_CTRL]; /* v1: "memory", ...; v2: "unified" */
	char *dir[LC_CGROUP_MAX_CTRL];  /* absolute directory of the container's group */
};

struct lc_cgroup_stats {
	uint64_t cpu_usage_ns, cpu_user_ns, cpu_system_ns;
	uint64_t memory_usage, memory_max_usage, memory_limit, memory_cache, memory_rss;
	uint64_t memory_failcnt, oom_kills;
	uint64_t pids_current, pids_limit;
	uint64_t blkio_read_bytes, blkio_write_bytes;
};

/* Makes the group cgroups_path (absolute in the hierarchy, or relative to the caller's own
 * group) in every controller and applies the resources; extra_devices are allowed too. */
int lc_cgroup_create(const char *cgroups_path, const struct lc_config *cfg, struct lc_cgroup *cg,
                     cm_err *err);
/* The same in two steps: where the groups will be (no side effect), then making them. */
void lc_cgroup_resolve(const char *cgroups_path, struct lc_cgroup *cg);
int lc_cgroup_setup(const struct lc_cgroup *cg, const struct lc_config *cfg, cm_err *err);
int lc_cgroup_add_pid(const struct lc_cgroup *cg, pid_t pid, cm_err *err);
int lc_cgroup_update(const struct lc_cgroup *cg, const struct lc_resources *r, cm_err *err);
int lc_cgroup_freeze(const struct lc_cgroup *cg, bool frozen, cm_err *err);
int lc_cgroup_is_frozen(const struct lc_cgroup *cg);
int lc_cgroup_pids(const struct lc_cgroup *cg, pid_t **pids, size_t *n, cm_err *err);
/* Signals every process in the group, frozen meanwhile (or, SIGKILL on v2, cgroup.kill);
 * goes on past an error and reports the first. */
int lc_cgroup_signal_all(const struct lc_cgroup *cg, int sig, cm_err *err);
/* Kills what is left, waits for the groups to empty and removes them. */
int lc_cgroup_destroy(const struct lc_cgroup *cg, cm_err *err);
int lc_cgroup_stats(const struct lc_cgroup *cg, struct lc_cgroup_stats *st, cm_err *err);
/* An fd that becomes readable on each OOM kill in the group (v1: eventfd on
 * memory.oom_control, 8-byte counter; v2: inotify on memory.events). */
int lc_cgroup_oom_fd(const struct lc_cgroup *cg, int *fd, int *version, cm_err *err);
/* An eventfd that becomes readable when memory usage crosses bytes, either way (cgroup v1
 * only: v2 has memory.high and the events of lc_cgroup_oom_fd instead). */
int lc_cgroup_threshold_fd(const struct lc_cgroup *cg, uint64_t bytes, int *fd, cm_err *err);
int lc_cgroup_v1_threshold_fd(const struct lc_cgroup *cg, uint64_t bytes, int *fd, cm_err *err);
/* The directory of one controller ("memory"), or NULL. */
const char *lc_cgroup_dir(const struct lc_cgroup *cg, const char *ctrl);
void lc_cgroup_clear(struct lc_cgroup *cg);

/* Internal: the two implementations. */
void lc_cgroup_v1_resolve(const char *path, struct lc_cgroup *cg);
int lc_cgroup_v1_setup(const struct lc_cgroup *cg, const struct lc_config *cfg, cm_err *err);
int lc_cgroup_v1_update(const struct lc_cgroup *cg, const struct lc_resources *r, cm_err *err);
int lc_cgroup_v1_freeze(const struct lc_cgroup *cg, bool frozen, cm_err *err);
int lc_cgroup_v1_stats(const struct lc_cgroup *cg, struct lc_cgroup_stats *st, cm_err *err);
int lc_cgroup_v1_oom_fd(const struct lc_cgroup *cg, int *fd, cm_err *err);
void lc_cgroup_v2_resolve(const char *path, struct lc_cgroup *cg);
int lc_cgroup_v2_setup(const struct lc_cgroup *cg, const struct lc_config *cfg, cm_err *err);
int lc_cgroup_v2_update(const struct lc_cgroup *cg, const struct lc_resources *r, cm_err *err);
int lc_cgroup_v2_freeze(const struct lc_cgroup *cg, bool frozen, cm_err *err);
int lc_cgroup_v2_stats(const struct lc_cgroup *cg, struct lc_cgroup_stats *st, cm_err *err);
int lc_cgroup_v2_oom_fd(const struct lc_cgroup *cg, int *fd, cm_err *err);
/* Shared by both. */
/* The device rules in force: the config's, then the default nodes and the config's devices
 * (owned array; the strings are the config's or static). */
struct lc_device_rule *lc_cgroup_device_rules(const struct lc_config *cfg, size_t *n);
/* v2: the rules as an eBPF program attached to the group's directory. */
int lc_cgroup_v2_devices(const char *dir, const struct lc_config *cfg, cm_err *err);
int lc_cg_write(const char *dir, const char *file, const char *value, cm_err *err);
/* cgroups_extra.c: kernel memory, swappiness, OOM killer, blockIO devices, unified. */
int lc_cgroup_extra(const struct lc_cgroup *cg, const struct lc_resources *r, cm_err *err);
/* Writes the hugepage limits into dir's hugetlb.<size>.<suffix> files (v1: limit_in_bytes,
 * v2: max); dir NULL: the controller is missing, which is an error if limits are given. */
int lc_cgroup_hugepages(const char *dir, const char *suffix, const struct lc_resources *r,
                        cm_err *err);
int lc_cg_read(const char *dir, const char *file, char *buf, size_t size, cm_err *err);
uint64_t lc_cg_read_u64(const char *dir, const char *file);
/* v2: waits up to timeout_ms for dir's cgroup.events to hold want ("frozen 1"), woken by the
 * kernel's notification rather than by polling. -1 with ETIMEDOUT if it did not. */
int lc_cg_wait_event(const char *dir, const char *want, int timeout_ms);

#endif
