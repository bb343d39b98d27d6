/* cgroup v1: one hierarchy per controller under /sys/fs/cgroup/<controller>. */
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
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const controllers[] = {"memory",  "pids",    "cpu",   "cpuacct", "cpuset",
                                          "freezer", "devices", "blkio", "hugetlb"};

/* The caller's own group in controller ctrl, from /proc/self/cgroup ("4:memory:/a/b"). */
static char *own_group(const char *ctrl)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
	char line[4096];
	while (f && fgets(line, sizeof(line), f)) {
		char *list = strchr(line, ':'), *path;
		if (!list || !(path = strchr(++list, ':')))
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		char *save = NULL;
		for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save))
			if (strcmp(c, ctrl) == 0)
				return xstrdup(path);
	}
	return xstrdup("/");
}

static char *group_dir(const char *ctrl, const char *path)
{
	if (path[0] == '/')
		return xasprintf("/sys/fs/cgroup/%s%s", ctrl, path);
	_cleanup_free_ char *own = own_group(ctrl);
	return xasprintf("/sys/fs/cgroup/%s%s/%s", ctrl, strcmp(own, "/") ? own : "", path);
}

/* mkdir -p; a new cpuset group takes no task before its cpus and mems are set. */
static int make_group(const char *dir, bool cpuset, cm_err *err)
{
	_cleanup_free_ char *p = xstrdup(dir);
	size_t base = strlen("/sys/fs/cgroup/");
	for (char *s = strchr(p + base, '/');; s = strchr(s + 1, '/')) {
		if (s)
			*s = '\0';
		bool made = mkdir(p, 0755) == 0;
		if (!made && errno != EEXIST)
			return cm_err_sys(err, "create cgroup %s", p);
		if (made && cpuset) {
			char parent[4096], val[4096];
			snprintf(parent, sizeof(parent), "%.*s", (int)(strrchr(p, '/') - p), p);
			if (lc_cg_read(parent, "cpuset.cpus", val, sizeof(val), err) < 0 ||
			    lc_cg_write(p, "cpuset.cpus", val, err) < 0 ||
			    lc_cg_read(parent, "cpuset.mems", val, sizeof(val), err) < 0 ||
			    lc_cg_write(p, "cpuset.mems", val, err) < 0)
				return -1;
		}
		if (!s)
			break;
		*s = '/';
	}
	return 0;
}

static void format_rule(char *buf, size_t size, char type, int64_t major, int64_t minor,
                        const char *access)
{
	char ma[24] = "*", mi[24] = "*";
	if (major >= 0)
		snprintf(ma, sizeof(ma), "%" PRId64, major);
	if (minor >= 0)
		snprintf(mi, sizeof(mi), "%" PRId64, minor);
	snprintf(buf, size, "%c %s:%s %s", type, ma, mi, access && *access ? access : "rwm");
}

/* Each rule is one write(2) to the same open file: devices.allow and .deny take one a write. */
static int write_rule(int fd, const char *dir, const char *file, const char *rule, cm_err *err)
{
	ssize_t n;
	do
		n = write(fd, rule, strlen(rule));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return cm_err_sys(err, "write %s to %s/%s", rule, dir, file);
	return 0;
}

static int set_devices(const char *dir, const struct lc_config *cfg, cm_err *err)
{
	char rule[128], path[4096];
	snprintf(path, sizeof(path), "%s/devices.allow", dir);
	_cleanup_close_ int allow = open(path, O_WRONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "%s/devices.deny", dir);
	_cleanup_close_ int deny = open(path, O_WRONLY | O_CLOEXEC);
	if (allow < 0 || deny < 0)
		return cm_err_sys(err, "open %s", path);
	size_t n;
	_cleanup_free_ struct lc_device_rule *rules = lc_cgroup_device_rules(cfg, &n);
	for (size_t i = 0; i < n; i++) {
		const struct lc_device_rule *d = &rules[i];
		format_rule(rule, sizeof(rule), d->type, d->major, d->minor, d->access);
		if (d->type == 'a')
			snprintf(rule, sizeof(rule), "a");
		if (write_rule(d->allow ? allow : deny, dir,
		               d->allow ? "devices.allow" : "devices.deny", rule, err) < 0)
			return -1;
	}
	return 0;
}

static int write_i64(const struct lc_cgroup *cg, const char *ctrl, const char *file, int64_t v,
                     cm_err *err)
{
	const char *dir = lc_cgroup_dir(cg, ctrl);
	if (v == LC_UNSET)
		return 0;
	if (!dir)
		return cm_err_set(err, ENOTSUP, "cgroup controller %s is not available", ctrl);
	char buf[32];
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return lc_cg_write(dir, file, buf, err);
}

static int write_str(const struct lc_cgroup *cg, const char *ctrl, const char *file, const char *v,
                     cm_err *err)
{
	const char *dir = lc_cgroup_dir(cg, ctrl);
	if (!v)
		return 0;
	if (!dir)
		return cm_err_set(err, ENOTSUP, "cgroup controller %s is not available", ctrl);
	return lc_cg_write(dir, file, v, err);
}

int lc_cgroup_v1_update(const struct lc_cgroup *cg, const struct lc_resources *r, cm_err *err)
{
	/* limit <= memsw at every step: grow memsw before the limit, shrink it after */
	uint64_t old_swap =
	    lc_cg_read_u64(lc_cgroup_dir(cg, "memory"), "memory.memsw.limit_in_bytes");
	int64_t swap = r->memory_swap;
	bool swap_first = swap != LC_UNSET && (swap == -1 || (uint64_t)swap >= old_swap);
	if (swap_first && write_i64(cg, "memory", "memory.memsw.limit_in_bytes", swap, err) < 0)
		return -1;
	if (write_i64(cg, "memory", "memory.limit_in_bytes", r->memory_limit, err) < 0)
		return -1;
	if (swap != LC_UNSET && !swap_first &&
	    write_i64(cg, "memory", "memory.memsw.limit_in_bytes", swap, err) < 0)
		return -1;
	return write_i64(cg, "memory", "memory.soft_limit_in_bytes", r->memory_reservation, err) ?:
	       write_i64(cg, "pids", "pids.max", r->pids_limit, err) ?:
	       write_i64(cg, "cpu", "cpu.shares", r->cpu_shares, err) ?:
	       write_i64(cg, "cpu", "cpu.cfs_period_us", r->cpu_period, err) ?:
	       write_i64(cg, "cpu", "cpu.cfs_quota_us", r->cpu_quota, err) ?:
	       write_str(cg, "cpuset", "cpuset.cpus", r->cpu_cpus, err) ?:
	       write_str(cg, "cpuset", "cpuset.mems", r->cpu_mems, err) ?:
	       write_i64(cg, "blkio", "blkio.weight", r->blkio_weight, err) ?:
	       lc_cgroup_hugepages(lc_cgroup_dir(cg, "hugetlb"), "limit_in_bytes", r, err);
}

void lc_cgroup_v1_resolve(const char *path, struct lc_cgroup *cg)
{
	cg->version = 1;
	for (size_t i = 0; i < CM_ARRAY_SIZE(controllers); i++) {
		_cleanup_free_ char *mnt = xasprintf("/sys/fs/cgroup/%s", controllers[i]);
		if (access(mnt, F_OK) < 0)
			continue;
		cg->ctrl[cg->n] = xstrdup(controllers[i]);
		cg->dir[cg->n++] = group_dir(controllers[i], path);
	}
}

int lc_cgroup_v1_setup(const struct lc_cgroup *cg, const struct lc_config *cfg, cm_err *err)
{
	for (size_t i = 0; i < cg->n; i++)
		if (make_group(cg->dir[i], strcmp(cg->ctrl[i], "cpuset") == 0, err) < 0)
			return -1;
	const char *dev = lc_cgroup_dir(cg, "devices");
	if (dev && set_devices(dev, cfg, err) < 0)
		return -1;
	return lc_cgroup_v1_update(cg, &cfg->resources, err);
}

int lc_cgroup_v1_freeze(const struct lc_cgroup *cg, bool frozen, cm_err *err)
{
	const char *dir = lc_cgroup_dir(cg, "freezer");
	if (!dir)
		return cm_err_set(err, ENOTSUP, "the freezer controller is not available");
	if (lc_cg_write(dir, "freezer.state", frozen ? "FROZEN" : "THAWED", err) < 0)
		return -1;
	/* FREEZING becomes FROZEN once every task has stopped */
	for (int i = 0; frozen && i < 1000; i++) {
		if (lc_cgroup_is_frozen(cg))
			return 0;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
		lc_cg_write(dir, "freezer.state", "FROZEN", err);
	}
	return frozen ? cm_err_set(err, EBUSY, "%s did not freeze", dir) : 0;
}

static uint64_t stat_field(const char *dir, const char *file, const char *key)
{
	char buf[8192];
	cm_err err;
	if (!dir || lc_cg_read(dir, file, buf, sizeof(buf), &err) < 0)
		return 0;
	size_t klen = strlen(key);
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, key, klen) == 0 && l[klen] == ' ')
			return strtoull(l + klen + 1, NULL, 10);
	return 0;
}

/* Sums "MAJ:MIN Read N" lines of blkio.throttle.io_service_bytes. */
static void blkio_bytes(const char *dir, uint64_t *rd, uint64_t *wr)
{
	char buf[16384];
	cm_err err;
	if (!dir || lc_cg_read(dir, "blkio.throttle.io_service_bytes", buf, sizeof(buf), &err) < 0)
		return;
	char *save = NULL;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char dev[32], op[16];
		unsigned long long v;
		if (sscanf(l, "%31s %15s %llu", dev, op, &v) != 3)
			continue;
		if (strcmp(op, "Read") == 0)
			*rd += v;
		else if (strcmp(op, "Write") == 0)
			*wr += v;
	}
}

int lc_cgroup_v1_stats(const struct lc_cgroup *cg, struct lc_cgroup_stats *st, cm_err *err)
{
	(void)err;
	const char *cpu = lc_cgroup_dir(cg, "cpuacct"), *mem = lc_cgroup_dir(cg, "memory");
	const char *pids = lc_cgroup_dir(cg, "pids");
	st->cpu_usage_ns = lc_cg_read_u64(cpu, "cpuacct.usage");
	long hz = sysconf(_SC_CLK_TCK);
	st->cpu_user_ns = stat_field(cpu, "cpuacct.stat", "user") * (1000000000ULL / (uint64_t)hz);
	st->cpu_system_ns =
	    stat_field(cpu, "cpuacct.stat", "system") * (1000000000ULL / (uint64_t)hz);
	st->memory_usage = lc_cg_read_u64(mem, "memory.usage_in_bytes");
	st->memory_max_usage = lc_cg_read_u64(mem, "memory.max_usage_in_bytes");
	st->memory_limit = lc_cg_read_u64(mem, "memory.limit_in_bytes");
	st->memory_failcnt = lc_cg_read_u64(mem, "memory.failcnt");
	st->memory_cache = stat_field(mem, "memory.stat", "cache");
	st->memory_rss = stat_field(mem, "memory.stat", "rss");
	st->oom_kills = stat_field(mem, "memory.oom_control", "oom_kill");
	st->pids_current = lc_cg_read_u64(pids, "pids.current");
	st->pids_limit = lc_cg_read_u64(pids, "pids.max");
	blkio_bytes(lc_cgroup_dir(cg, "blkio"), &st->blkio_read_bytes, &st->blkio_write_bytes);
	return 0;
}

int lc_cgroup_v1_oom_fd(const struct lc_cgroup *cg, int *out, cm_err *err)
{
	const char *dir = lc_cgroup_dir(cg, "memory");
	if (!dir)
		return cm_err_set(err, ENOTSUP, "the memory controller is not available");
	_cleanup_free_ char *ctl = xasprintf("%s/memory.oom_control", dir);
	_cleanup_close_ int oomfd = open(ctl, O_RDONLY | O_CLOEXEC);
	if (oomfd < 0)
		return cm_err_sys(err, "open %s", ctl);
	_cleanup_close_ int efd = eventfd(0, EFD_CLOEXEC);
	if (efd < 0)
		return cm_err_sys(err, "eventfd");
	char line[64];
	snprintf(line, sizeof(line), "%d %d", efd, oomfd);
	if (lc_cg_write(dir, "cgroup.event_control", line, err) < 0)
		return -1;
	*out = cm_steal_fd(efd);
	return 0;
}

int lc_cgroup_v1_threshold_fd(const struct lc_cgroup *cg, uint64_t bytes, int *out, cm_err *err)
{
	const char *dir = lc_cgroup_dir(cg, "memory");
	if (!dir)
		return cm_err_set(err, ENOTSUP, "the memory controller is not available");
	_cleanup_free_ char *usage = xasprintf("%s/memory.usage_in_bytes", dir);
	_cleanup_close_ int ufd = open(usage, O_RDONLY | O_CLOEXEC);
	if (ufd < 0)
		return cm_err_sys(err, "open %s", usage);
	_cleanup_close_ int efd = eventfd(0, EFD_CLOEXEC);
	if (efd < 0)
		return cm_err_sys(err, "eventfd");
	char line[96];
	snprintf(line, sizeof(line), "%d %d %" PRIu64, efd, ufd, bytes);
	if (lc_cg_write(dir, "cgroup.event_control", line, err) < 0)
		return -1;
	*out = cm_steal_fd(efd);
	return 0;
}
