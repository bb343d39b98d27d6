/* cgroup v2: one unified hierarchy at /sys/fs/cgroup. */
#define _GNU_SOURCE
#include "libcontainer/cgroups.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *own_group(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4096];
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			return xstrdup(line + 3);
		}
	return xstrdup("/");
}

/* mkdir -p, enabling the controllers for the children of every ancestor on the way; hugetlb
 * only when the container asks for hugepage limits. */
static int make_group(const char *dir, bool hugetlb, cm_err *err)
{
	_cleanup_free_ char *p = xstrdup(dir);
	size_t base = strlen("/sys/fs/cgroup");
	for (char *s = strchr(p + base + 1, '/');; s = strchr(s + 1, '/')) {
		char parent[4096];
		if (s)
			*s = '\0';
		snprintf(parent, sizeof(parent), "%.*s", (int)(strrchr(p, '/') - p), p);
		/* each controller separately: one that is absent must not stop the others */
		static const char *const ctrls[] = {"+memory", "+pids", "+cpu", "+cpuset", "+io"};
		cm_err ignored;
		for (size_t i = 0; i < CM_ARRAY_SIZE(ctrls); i++)
			lc_cg_write(parent, "cgroup.subtree_control", ctrls[i], &ignored);
		if (hugetlb)
			lc_cg_write(parent, "cgroup.subtree_control", "+hugetlb", &ignored);
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return cm_err_sys(err, "create cgroup %s", p);
		if (!s)
			break;
		*s = '/';
	}
	return 0;
}

static int write_val(const char *dir, const char *file, int64_t v, cm_err *err)
{
	char buf[32];
	if (v == LC_UNSET)
		return 0;
	if (v == -1)
		snprintf(buf, sizeof(buf), "max");
	else
		snprintf(buf, sizeof(buf), "%" PRId64, v);
	return lc_cg_write(dir, file, buf, err);
}

int lc_cgroup_v2_update(const struct lc_cgroup *cg, const struct lc_resources *r, cm_err *err)
{
	const char *d = lc_cgroup_dir(cg, "unified");
	int64_t swap = r->memory_swap;
	/* v1's swap is memory+swap; v2's is swap alone */
	if (swap > 0 && r->memory_limit > 0)
		swap -= r->memory_limit;
	if (write_val(d, "memory.max", r->memory_limit, err) < 0 ||
	    write_val(d, "memory.low", r->memory_reservation, err) < 0 ||
	    write_val(d, "memory.swap.max", swap, err) < 0 ||
	    write_val(d, "pids.max", r->pids_limit, err) < 0)
		return -1;
	if (r->cpu_shares != LC_UNSET &&
	    write_val(d, "cpu.weight", 1 + ((r->cpu_shares - 2) * 9999) / 262142, err) < 0)
		return -1;
	if (r->cpu_quota != LC_UNSET || r->cpu_period != LC_UNSET) {
		char buf[64];
		int64_t period = r->cpu_period == LC_UNSET ? 100000 : r->cpu_period;
		if (r->cpu_quota == LC_UNSET || r->cpu_quota < 0)
			snprintf(buf, sizeof(buf), "max %" PRId64, period);
		else
			snprintf(buf, sizeof(buf), "%" PRId64 " %" PRId64, r->cpu_quota, period);
		if (lc_cg_write(d, "cpu.max", buf, err) < 0)
			return -1;
	}
	if ((r->cpu_cpus && lc_cg_write(d, "cpuset.cpus", r->cpu_cpus, err) < 0) ||
	    (r->cpu_mems && lc_cg_write(d, "cpuset.mems", r->cpu_mems, err) < 0))
		return -1;
	if (r->blkio_weight != LC_UNSET &&
	    write_val(d, "io.weight", 1 + (r->blkio_weight - 10) * 9999 / 990, err) < 0)
		return -1;
	return lc_cgroup_hugepages(d, "max", r, err);
}

void lc_cgroup_v2_resolve(const char *path, struct lc_cgroup *cg)
{
	cg->version = 2;
	_cleanup_free_ char *own = path[0] == '/' ? xstrdup("") : own_group();
	char *dir = path[0] == '/'
	                ? xasprintf("/sys/fs/cgroup%s", path)
	                : xasprintf("/sys/fs/cgroup%s/%s", strcmp(own, "/") ? own : "", path);
	cg->ctrl[0] = xstrdup("unified");
	cg->dir[0] = dir;
	cg->n = 1;
}

int lc_cgroup_v2_setup(const struct lc_cgroup *cg, const struct lc_config *cfg, cm_err *err)
{
	const char *dir = cg->dir[0];
	if (make_group(dir, cfg->resources.n_hugepage_limits > 0, err) < 0 ||
	    lc_cgroup_v2_devices(dir, cfg, err) < 0)
		return -1;
	return lc_cgroup_v2_update(cg, &cfg->resources, err);
}

int lc_cgroup_v2_freeze(const struct lc_cgroup *cg, bool frozen, cm_err *err)
{
	const char *d = lc_cgroup_dir(cg, "unified");
	if (lc_cg_write(d, "cgroup.freeze", frozen ? "1" : "0", err) < 0)
		return -1;
	if (frozen && lc_cg_wait_event(d, "frozen 1", 1000) < 0)
		return cm_err_set(err, EBUSY, "%s did not freeze", d);
	return 0;
}

static uint64_t keyed(const char *dir, const char *file, const char *key)
{
	char buf[8192];
	cm_err err;
	if (lc_cg_read(dir, file, buf, sizeof(buf), &err) < 0)
		return 0;
	size_t klen = strlen(key);
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, key, klen) == 0 && l[klen] == ' ')
			return strtoull(l + klen + 1, NULL, 10);
	return 0;
}

int lc_cgroup_v2_stats(const struct lc_cgroup *cg, struct lc_cgroup_stats *st, cm_err *err)
{
	(void)err;
	const char *d = lc_cgroup_dir(cg, "unified");
	st->cpu_usage_ns = keyed(d, "cpu.stat", "usage_usec") * 1000;
	st->cpu_user_ns = keyed(d, "cpu.stat", "user_usec") * 1000;
	st->cpu_system_ns = keyed(d, "cpu.stat", "system_usec") * 1000;
	st->memory_usage = lc_cg_read_u64(d, "memory.current");
	st->memory_max_usage = lc_cg_read_u64(d, "memory.peak");
	st->memory_limit = lc_cg_read_u64(d, "memory.max");
	st->memory_cache = keyed(d, "memory.stat", "file");
	st->memory_rss = keyed(d, "memory.stat", "anon");
	st->memory_failcnt = keyed(d, "memory.events", "max");
	st->oom_kills = keyed(d, "memory.events", "oom_kill");
	st->pids_current = lc_cg_read_u64(d, "pids.current");
	st->pids_limit = lc_cg_read_u64(d, "pids.max");
	char buf[8192];
	cm_err e2;
	if (lc_cg_read(d, "io.stat", buf, sizeof(buf), &e2) == 0)
		for (char *p = buf; (p = strstr(p, "rbytes=")); p++)
			st->blkio_read_bytes += strtoull(p + 7, NULL, 10);
	if (lc_cg_read(d, "io.stat", buf, sizeof(buf), &e2) == 0)
		for (char *p = buf; (p = strstr(p, "wbytes=")); p++)
			st->blkio_write_bytes += strtoull(p + 7, NULL, 10);
	return 0;
}

int lc_cgroup_v2_oom_fd(const struct lc_cgroup *cg, int *out, cm_err *err)
{
	const char *d = lc_cgroup_dir(cg, "unified");
	_cleanup_free_ char *events = xasprintf("%s/memory.events", d);
	_cleanup_close_ int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0)
		return cm_err_sys(err, "inotify_init1");
	if (inotify_add_watch(fd, events, IN_MODIFY) < 0)
		return cm_err_sys(err, "watch %s", events);
	*out = cm_steal_fd(fd);
	return 0;
}
