/* The cgroup interface: picks v1 or v2 and holds what both share. */
#define _GNU_SOURCE
#include "libcontainer/cgroups.h"
#include "libcontainer/container.h"
#include "common/cgpath.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"

static int cgroup_version(void)
{
	struct statfs fs;
	if (statfs(CGROUP_ROOT, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
		return 2;
	return 1;
}

int lc_cg_write(const char *dir, const char *file, const char *value, cm_err *err)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return cm_err_sys(err, "open %s", path);
	ssize_t n;
	do
		n = write(fd, value, strlen(value));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return cm_err_sys(err, "write %s to %s", value, path);
	return 0;
}

int lc_cg_read(const char *dir, const char *file, char *buf, size_t size, cm_err *err)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cm_err_sys(err, "open %s", path);
	size_t used = 0;
	while (used < size - 1) {
		ssize_t n = read(fd, buf + used, size - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cm_err_sys(err, "read %s", path);
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	return 0;
}

uint64_t lc_cg_read_u64(const char *dir, const char *file)
{
	char buf[64];
	cm_err err;
	if (!dir || lc_cg_read(dir, file, buf, sizeof(buf), &err) < 0)
		return 0;
	if (strncmp(buf, "max", 3) == 0)
		return UINT64_MAX;
	return strtoull(buf, NULL, 10);
}

/* The nodes every container gets in /dev, allowed after the config's own rules. */
static const struct lc_device_rule default_allowed[] = {
    {true, 'c', -1, -1, "m"},    {true, 'b', -1, -1, "m"}, {true, 'c', 1, 3, "rwm"},
    {true, 'c', 1, 5, "rwm"},    {true, 'c', 1, 7, "rwm"}, {true, 'c', 1, 8, "rwm"},
    {true, 'c', 1, 9, "rwm"},    {true, 'c', 5, 0, "rwm"}, {true, 'c', 5, 2, "rwm"},
    {true, 'c', 136, -1, "rwm"},
};

struct lc_device_rule *lc_cgroup_device_rules(const struct lc_config *cfg, size_t *n)
{
	const struct lc_resources *r = &cfg->resources;
	struct lc_device_rule *v =
	    xcalloc(r->n_devices + CM_ARRAY_SIZE(default_allowed) + cfg->n_devices + 1, sizeof(*v));
	*n = 0;
	for (size_t i = 0; i < r->n_devices; i++)
		v[(*n)++] = r->devices[i];
	for (size_t i = 0; i < CM_ARRAY_SIZE(default_allowed); i++)
		v[(*n)++] = default_allowed[i];
	for (size_t i = 0; i < cfg->n_devices; i++) {
		const struct lc_device *d = &cfg->devices[i];
		if (d->type != 'p') /* fifos are no device to the cgroup */
			v[(*n)++] = (struct lc_device_rule){true, d->type == 'u' ? 'c' : d->type,
			                                    d->major, d->minor, "rwm"};
	}
	return v;
}

int lc_cgroup_hugepages(const char *dir, const char *suffix, const struct lc_resources *r,
                        cm_err *err)
{
	if (r->n_hugepage_limits == 0)
		return 0;
	if (!dir)
		return cm_err_set(err, ENOTSUP,
		                  "linux.resources.hugepageLimits: the hugetlb cgroup controller "
		                  "is not available on this host");
	for (size_t i = 0; i < r->n_hugepage_limits; i++) {
		const struct lc_hugepage_limit *h = &r->hugepage_limits[i];
		char file[64], value[32];
		snprintf(file, sizeof(file), "hugetlb.%s.%s", h->page_size, suffix);
		snprintf(value, sizeof(value), "%llu", (unsigned long long)h->limit);
		if (lc_cg_write(dir, file, value, err) < 0)
			return cm_err_wrap(err, "linux.resources.hugepageLimits[%zu] (%s pages)", i,
			                   h->page_size);
	}
	return 0;
}

const char *lc_cgroup_dir(const struct lc_cgroup *cg, const char *ctrl)
{
	for (size_t i = 0; i < cg->n; i++)
		if (strcmp(cg->ctrl[i], ctrl) == 0)
			return cg->dir[i];
	return NULL;
}

void lc_cgroup_clear(struct lc_cgroup *cg)
{
	for (size_t i = 0; i < cg->n; i++) {
		free(cg->ctrl[i]);
		free(cg->dir[i]);
	}
	cg->n = 0;
}

void lc_cgroup_resolve(const char *path, struct lc_cgroup *cg)
{
	memset(cg, 0, sizeof(*cg));
	if (cgroup_version() == 2)
		lc_cgroup_v2_resolve(path, cg);
	else
		lc_cgroup_v1_resolve(path, cg);
}

int lc_cgroup_setup(const struct lc_cgroup *cg, const struct lc_config *cfg, cm_err *err)
{
	int r =
	    cg->version == 2 ? lc_cgroup_v2_setup(cg, cfg, err) : lc_cgroup_v1_setup(cg, cfg, err);
	if (r == 0)
		r = lc_cgroup_extra(cg, &cfg->resources, err);
	if (r < 0) {
		cm_err tmp;
		lc_cgroup_destroy(cg, &tmp);
	}
	return r;
}

int lc_cgroup_create(const char *path, const struct lc_config *cfg, struct lc_cgroup *cg,
                     cm_err *err)
{
	lc_cgroup_resolve(path, cg);
	if (lc_cgroup_setup(cg, cfg, err) < 0) {
		lc_cgroup_clear(cg);
		return -1;
	}
	return 0;
}

int lc_cgroup_add_pid(const struct lc_cgroup *cg, pid_t pid, cm_err *err)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%d", (int)pid);
	for (size_t i = 0; i < cg->n; i++)
		if (lc_cg_write(cg->dir[i], "cgroup.procs", buf, err) < 0)
			return -1;
	return 0;
}

int lc_cgroup_update(const struct lc_cgroup *cg, const struct lc_resources *r, cm_err *err)
{
	return cg->version == 2 ? lc_cgroup_v2_update(cg, r, err) : lc_cgroup_v1_update(cg, r, err);
}

int lc_cgroup_freeze(const struct lc_cgroup *cg, bool frozen, cm_err *err)
{
	return cg->version == 2 ? lc_cgroup_v2_freeze(cg, frozen, err)
	                        : lc_cgroup_v1_freeze(cg, frozen, err);
}

int lc_cgroup_is_frozen(const struct lc_cgroup *cg)
{
	char buf[256];
	cm_err err;
	if (cg->version == 2) {
		const char *d = lc_cgroup_dir(cg, "unified");
		return d && lc_cg_read(d, "cgroup.events", buf, sizeof(buf), &err) == 0 &&
		       strstr(buf, "frozen 1") != NULL;
	}
	const char *d = lc_cgroup_dir(cg, "freezer");
	return d && lc_cg_read(d, "freezer.state", buf, sizeof(buf), &err) == 0 &&
	       strncmp(buf, "FROZEN", 6) == 0;
}

/* The group that holds every process: v1's freezer or pids (or any), v2's only one. */
static const char *procs_dir(const struct lc_cgroup *cg)
{
	const char *d = lc_cgroup_dir(cg, "freezer");
	if (!d)
		d = lc_cgroup_dir(cg, "pids");
	return d ? d : (cg->n ? cg->dir[0] : NULL);
}

int lc_cgroup_pids(const struct lc_cgroup *cg, pid_t **pids, size_t *n, cm_err *err)
{
	*pids = NULL;
	*n = 0;
	const char *d = procs_dir(cg);
	if (!d)
		return 0;
	_cleanup_free_ char *path = xasprintf("%s/cgroup.procs", d);
	_cleanup_free_ char *text = NULL;
	size_t len, cap = 0;
	if (cm_read_file_at(AT_FDCWD, path, 1 << 22, &text, &len, err) < 0)
		return -1;
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *end;
		errno = 0;
		long pid = strtol(l, &end, 10);
		if (errno || *end || pid <= 0 || pid > INT32_MAX)
			continue;
		xgrow((void **)pids, &cap, *n + 1, sizeof(pid_t));
		(*pids)[(*n)++] = (pid_t)pid;
	}
	return 0;
}

/* Signals every pid listed, past any error: the first is reported. */
static int signal_listed(const struct lc_cgroup *cg, int sig, cm_err *err)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n;
	if (lc_cgroup_pids(cg, &pids, &n, err) < 0)
		return -1;
	int r = 0;
	for (size_t i = 0; i < n; i++)
		if (kill(pids[i], sig) < 0 && errno != ESRCH && r == 0)
			r = cm_err_sys(err, "kill %d", (int)pids[i]);
	return r;
}

/* v2 (5.14): the kernel kills the whole group itself, forks in flight included. */
static int kill_v2(const struct lc_cgroup *cg)
{
	const char *d = lc_cgroup_dir(cg, "unified");
	cm_err ignored;
	return d ? lc_cg_write(d, "cgroup.kill", "1", &ignored) : -1;
}

/* Frozen while the list is read and signalled, a process can neither fork a child that escapes
 * the list nor exit and have its pid reused by another process before its signal. A container
 * that was paused stays paused, unless it is being killed. */
int lc_cgroup_signal_all(const struct lc_cgroup *cg, int sig, cm_err *err)
{
	if (cg->n == 0)
		return 0;
	if (sig == SIGKILL && cg->version == 2 && kill_v2(cg) == 0)
		return 0;
	cm_err ferr;
	bool was_frozen = lc_cgroup_is_frozen(cg);
	/* without a freezer the list is signalled as it stands */
	if (!was_frozen)
		lc_cgroup_freeze(cg, true, &ferr);
	int r = signal_listed(cg, sig, err);
	if (!was_frozen || sig == SIGKILL)
		lc_cgroup_freeze(cg, false, &ferr);
	return r;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {0, ms * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int lc_cg_wait_event(const char *dir, const char *want, int timeout_ms)
{
	char path[4096], buf[512];
	snprintf(path, sizeof(path), "%s/cgroup.events", dir);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n < 0 && errno != EINTR)
			return -1;
		buf[n > 0 ? n : 0] = '\0';
		if (strstr(buf, want))
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
		                          (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0)
			return errno = ETIMEDOUT, -1;
		/* the kernel signals a change of cgroup.events as POLLPRI */
		struct pollfd p = {.fd = fd, .events = POLLPRI};
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -1;
	}
}

/* Waits a little for the group to empty: on v2 for cgroup.events to say so, on v1 (which has
 * no such file) by sleeping. */
static void wait_empty(const struct lc_cgroup *cg)
{
	const char *d = cg->version == 2 ? lc_cgroup_dir(cg, "unified") : NULL;
	if (!d || lc_cg_wait_event(d, "populated 0", 1000) < 0)
		sleep_ms(2);
}

/* rmdir fails with EBUSY while exiting tasks are still charged to the group: retry. */
static int remove_dir(const struct lc_cgroup *cg, const char *dir, cm_err *err)
{
	for (int i = 0; i < 500; i++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			break;
		wait_empty(cg);
	}
	return cm_err_sys(err, "remove cgroup %s", dir);
}

/* SIGKILL to what is in any of the groups, not only the one that lists every process: a
 * creator killed while it added its child to the groups one by one left it in some only.
 * Returns how many processes were found. */
static size_t kill_stragglers(const struct lc_cgroup *cg)
{
	size_t found = 0;
	for (size_t i = 0; i < cg->n; i++) {
		struct lc_cgroup one = {.version = cg->version, .n = 1};
		one.ctrl[0] = cg->ctrl[i];
		one.dir[0] = cg->dir[i];
		_cleanup_free_ pid_t *pids = NULL;
		size_t n = 0;
		cm_err ignored;
		if (lc_cgroup_pids(&one, &pids, &n, &ignored) < 0)
			continue;
		for (size_t k = 0; k < n; k++)
			kill(pids[k], SIGKILL);
		found += n;
	}
	return found;
}

static bool is_empty(const struct lc_cgroup *cg)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	cm_err err;
	return lc_cgroup_pids(cg, &pids, &n, &err) < 0 || n == 0;
}

int lc_cgroup_destroy(const struct lc_cgroup *cg, cm_err *err)
{
	if (cg->n == 0)
		return 0;
	cm_err ignored;
	for (int i = 0; i < 500 && !is_empty(cg); i++) {
		lc_cgroup_signal_all(cg, SIGKILL, &ignored);
		if (!is_empty(cg))
			wait_empty(cg);
	}
	for (int i = 0; i < 500 && kill_stragglers(cg) > 0; i++)
		wait_empty(cg);
	int r = 0;
	for (size_t i = 0; i < cg->n; i++)
		if (remove_dir(cg, cg->dir[i], err) < 0)
			r = -1;
	return r;
}

int lc_cgroup_stats(const struct lc_cgroup *cg, struct lc_cgroup_stats *st, cm_err *err)
{
	memset(st, 0, sizeof(*st));
	return cg->version == 2 ? lc_cgroup_v2_stats(cg, st, err) : lc_cgroup_v1_stats(cg, st, err);
}

int lc_cgroup_oom_fd(const struct lc_cgroup *cg, int *fd, int *version, cm_err *err)
{
	*version = cg->version;
	return cg->version == 2 ? lc_cgroup_v2_oom_fd(cg, fd, err)
	                        : lc_cgroup_v1_oom_fd(cg, fd, err);
}

int lc_cgroup_threshold_fd(const struct lc_cgroup *cg, uint64_t bytes, int *fd, cm_err *err)
{
	if (cg->version == 2)
		return cm_err_set(err, ENOTSUP,
		                  "memory thresholds need cgroup v1; on v2 set "
		                  "memory.high and watch memory.events");
	return lc_cgroup_v1_threshold_fd(cg, bytes, fd, err);
}

/* ---- the migration lock ---- */

static char warm_path[PATH_MAX];

/* Where this process's group's cgroup.procs is in a hierarchy it is in: a v1 one, else v2. */
static void find_warm_path(void)
{
	static const char *const ctrls[] = {"freezer", "pids", "memory", "cpu"};
	for (size_t i = 0; i < CM_ARRAY_SIZE(ctrls); i++) {
		_cleanup_free_ char *own = cm_cgroup_path_of(0, ctrls[i]);
		char mount[64];
		snprintf(mount, sizeof(mount), "/sys/fs/cgroup/%s", ctrls[i]);
		struct statfs fs;
		if (own && statfs(mount, &fs) == 0 && fs.f_type == CGROUP_SUPER_MAGIC) {
			snprintf(warm_path, sizeof(warm_path), "%s%s/cgroup.procs", mount, own);
			return;
		}
	}
	_cleanup_free_ char *own = cm_cgroup_path_of(0, NULL);
	const char *mounts[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
	for (size_t i = 0; own && i < CM_ARRAY_SIZE(mounts); i++) {
		struct statfs fs;
		if (statfs(mounts[i], &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC) {
			snprintf(warm_path, sizeof(warm_path), "%s%s/cgroup.procs", mounts[i], own);
			return;
		}
	}
}

void lc_cgroup_warm(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, find_warm_path);
	if (!warm_path[0])
		return;
	_cleanup_close_ int fd = open(warm_path, O_WRONLY | O_CLOEXEC);
	char pid[16];
	int n = snprintf(pid, sizeof(pid), "%d", (int)getpid());
	if (fd >= 0)
		(void)cm_write_all(fd, pid, (size_t)n);
}
