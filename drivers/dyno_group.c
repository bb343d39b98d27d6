#define _GNU_SOURCE
#include "drivers/dyno_group.h"
#include "common/cgpath.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/proc.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_SIGNAL_ROUNDS 4  /* re-reads of cgroup.procs for members forked meanwhile */
#define MAX_ROOT_NAMES    64 /* hsup.<pid>.<n> tried */

static const char *const kind_names[] = {
    [HS_DG_PGROUP] = "pgroup", [HS_DG_V1] = "v1", [HS_DG_V2] = "v2"};

const char *hs_dg_kind_name(enum hs_dg_kind k)
{
	return kind_names[k];
}

static bool is_fs(const char *path, long magic)
{
	struct statfs fs;
	return statfs(path, &fs) == 0 && fs.f_type == magic;
}

/* The v2 hierarchy: the whole of /sys/fs/cgroup, or the "unified" mount of a hybrid host. */
static const char *v2_mount(void)
{
	if (is_fs("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC))
		return "/sys/fs/cgroup";
	if (is_fs("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC))
		return "/sys/fs/cgroup/unified";
	return NULL;
}

static const char *controller_of(enum hs_dg_kind k)
{
	return k == HS_DG_V1 ? "freezer" : NULL;
}

/* Whether pid is an hsup that is alive (a reused pid is some other program). */
static bool hsup_alive(long pid)
{
	char path[32], comm[32];
	snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, comm, sizeof(comm) - 1);
	if (n <= 0)
		return false;
	comm[n] = '\0';
	return strcmp(comm, "hsup\n") == 0;
}

/* Removes the group of each hsup in parent that died (kill -9) once it is empty: its dynos'
 * empty groups, then its own. An hsup holds an flock on its group while it lives, which the
 * kernel lets go however it dies: a group that cannot be locked is a live hsup's, whatever pid
 * namespace it is in (its pid means nothing here then). A group still holding a process is
 * left (rmdir says EBUSY): the next hsup stops those dynos, and removes it at its own start or
 * exit. */
static void sweep_dead(const char *parent)
{
	_cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = pfd < 0 ? NULL : fdopendir(dup(pfd));
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		long pid =
		    strncmp(e->d_name, "hsup.", 5) == 0 ? strtol(e->d_name + 5, &end, 10) : 0;
		if (pid <= 0 || (*end && *end != '.') || pid == getpid() || hsup_alive(pid))
			continue;
		_cleanup_close_ int gfd =
		    openat(pfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (gfd < 0 || flock(gfd, LOCK_EX | LOCK_NB) < 0)
			continue;
		DIR *g = fdopendir(dup(gfd));
		struct dirent *c;
		while (g && (c = readdir(g)))
			if ((c->d_type == DT_DIR || c->d_type == DT_UNKNOWN) && c->d_name[0] != '.')
				unlinkat(gfd, c->d_name, AT_REMOVEDIR);
		if (g)
			closedir(g);
		unlinkat(pfd, e->d_name, AT_REMOVEDIR);
	}
	closedir(d);
}

/* Locks the group just made, for this hsup's life; ENOENT when another hsup's sweep removed it
 * in between (it was empty and not yet locked). */
static int lock_root(const char *dir, int *lock_fd)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat locked, now;
	if (fd < 0 || flock(fd, LOCK_EX) < 0 || fstat(fd, &locked) < 0)
		return -1;
	if (stat(dir, &now) < 0 || now.st_ino != locked.st_ino || now.st_dev != locked.st_dev) {
		errno = ENOENT;
		return -1;
	}
	*lock_fd = cm_steal_fd(fd);
	return 0;
}

static int try_root(struct hs_dg_root *root, enum hs_dg_kind kind, cm_err *err)
{
	const char *mount = kind == HS_DG_V2 ? v2_mount()
	                    : is_fs("/sys/fs/cgroup/freezer", CGROUP_SUPER_MAGIC)
	                        ? "/sys/fs/cgroup/freezer"
	                        : NULL;
	if (!mount)
		return cm_err_set(err, ENOENT, "no cgroup %s hierarchy is mounted",
		                  kind == HS_DG_V2 ? "v2" : "v1 freezer");
	_cleanup_free_ char *own = cm_cgroup_path_of(0, controller_of(kind));
	if (!own)
		return cm_err_set(err, ENOENT, "/proc/self/cgroup names no %s group",
		                  hs_dg_kind_name(kind));
	const char *base = strcmp(own, "/") ? own : "";
	_cleanup_free_ char *parent = xasprintf("%s%s", mount, base);
	sweep_dead(parent);
	/* hsup.<pid>; hsup.<pid>.<n> where that is taken: by an hsup of another pid namespace
	 * (PID 1 in a container without a cgroup namespace of its own), never to be shared */
	char *rel = NULL;
	int lost = 0;
	for (int n = 1; !rel; n++) {
		char *try = n == 1 ? xasprintf("%s/hsup.%d", base, (int)getpid())
		                   : xasprintf("%s/hsup.%d.%d", base, (int)getpid(), n);
		_cleanup_free_ char *dir = xasprintf("%s%s", mount, try);
		bool made = mkdir(dir, 0755) == 0;
		if (made && lock_root(dir, &root->lock_fd) == 0) {
			rel = try;
			break;
		}
		free(try);
		if (made && errno == ENOENT && ++lost < MAX_ROOT_NAMES) {
			n--; /* removed by a sweep before it was locked: again */
			continue;
		}
		if (made || errno != EEXIST || n == MAX_ROOT_NAMES) {
			cm_err_sys(err, "cannot create cgroup %s", dir);
			if (made)
				rmdir(dir);
			return -1;
		}
	}
	root->kind = kind;
	root->mount = xstrdup(mount);
	root->rel = rel;
	return 0;
}

int hs_dg_root_init(struct hs_dg_root *root, const char *want, char *why, size_t whylen,
                    cm_err *err)
{
	memset(root, 0, sizeof(*root));
	why[0] = '\0';
	if (strcmp(want, "pgroup") == 0)
		return 0;
	if (strcmp(want, "cgroup-v2") == 0)
		return try_root(root, HS_DG_V2, err);
	if (strcmp(want, "cgroup-v1") == 0)
		return try_root(root, HS_DG_V1, err);
	if (strcmp(want, "auto") != 0)
		return cm_err_set(
		    err, EINVAL,
		    "unknown way to track dynos \"%s\" (auto, cgroup-v2, cgroup-v1, pgroup)", want);
	cm_err v2err, v1err;
	if (try_root(root, HS_DG_V2, &v2err) == 0)
		return 0;
	if (try_root(root, HS_DG_V1, &v1err) == 0)
		return 0;
	snprintf(why, whylen, "%s; %s", v2err.msg, v1err.msg);
	return 0;
}

static char *full_path(const char *mount, const char *rel)
{
	return xasprintf("%s%s", mount, rel);
}

void hs_dg_root_free(struct hs_dg_root *root)
{
	if (root->rel) {
		_cleanup_free_ char *dir = full_path(root->mount, root->rel);
		rmdir(dir);
		close(root->lock_fd);
		*strrchr(dir, '/') = '\0';
		sweep_dead(dir); /* what the dead hsups whose dynos this one stopped left */
	}
	free(root->mount);
	free(root->rel);
	memset(root, 0, sizeof(*root));
}

static void dg_init(struct hs_dg *g, enum hs_dg_kind kind)
{
	memset(g, 0, sizeof(*g));
	g->kind = kind;
	g->dir_fd = g->procs_fd = g->events_fd = -1;
}

/* Opens the group's directory and files; it exists. */
static int open_group(struct hs_dg *g, cm_err *err)
{
	_cleanup_free_ char *dir = full_path(g->mount, g->rel);
	g->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (g->dir_fd < 0)
		return cm_err_sys(err, "open cgroup %s", dir);
	return 0;
}

/* cgroup.events, opened when first needed: most dynos are never waited for that way. */
static int events_fd(struct hs_dg *g)
{
	if (g->events_fd < 0 && g->kind == HS_DG_V2 && g->dir_fd >= 0)
		g->events_fd = openat(g->dir_fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
	return g->events_fd;
}

int hs_dg_create(struct hs_dg_root *root, const char *name, struct hs_dg *g, cm_err *err)
{
	dg_init(g, root->kind);
	if (root->kind == HS_DG_PGROUP)
		return 0;
	g->mount = xstrdup(root->mount);
	g->rel = xasprintf("%s/%s.%u", root->rel, name, ++root->seq);
	_cleanup_free_ char *dir = full_path(g->mount, g->rel);
	if (mkdir(dir, 0755) < 0) {
		cm_err_sys(err, "create cgroup %s", dir);
		free(g->mount);
		free(g->rel);
		dg_init(g, root->kind);
		return -1;
	}
	if (open_group(g, err) < 0) {
		hs_dg_destroy(g);
		return -1;
	}
	/* for the first process to join by itself where it cannot be born in the group */
	g->procs_fd = openat(g->dir_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	if (g->procs_fd < 0) {
		cm_err_sys(err, "open %s/cgroup.procs", dir);
		hs_dg_destroy(g);
		return -1;
	}
	return 0;
}

const struct cm_spawn_cgroup *hs_dg_spawn_cgroup(const struct hs_dg *g, struct cm_spawn_cgroup *buf)
{
	if (g->kind == HS_DG_PGROUP)
		return NULL;
	buf->dir_fd = g->kind == HS_DG_V2 ? g->dir_fd : -1;
	buf->procs_fd = g->procs_fd;
	return buf;
}

void hs_dg_started(struct hs_dg *g, pid_t pid)
{
	struct cm_proc_info info;
	if (g->procs_fd >= 0) /* only the first process needed it */
		close(g->procs_fd);
	g->procs_fd = -1;
	g->pgid = pid;
	g->leader_gone = false;
	g->start_time = cm_proc_info(pid, &info) == 0 ? info.start_time : 0;
}

/* ---- process groups ---- */

/* Whether group pgid is still the dyno's: a pid in use as a group id is never handed out
 * again, so once the leader is reaped, any process with that pid is a new one and our group is
 * empty; while the leader lives it must be the one we started. */
static bool pgroup_is_ours(const struct hs_dg *g)
{
	struct cm_proc_info info;
	if (g->pgid <= 0)
		return false;
	if (cm_proc_info(g->pgid, &info) == 0 &&
	    (g->leader_gone || (g->start_time && info.start_time != g->start_time)))
		return false;
	return kill(-g->pgid, 0) == 0 || errno == EPERM;
}

/* ---- cgroups ---- */

static bool cgroup_populated(struct hs_dg *g)
{
	char buf[256];
	if (events_fd(g) >= 0) {
		ssize_t n = pread(g->events_fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			return strstr(buf, "populated 1") != NULL;
		}
	}
	_cleanup_free_ char *text = NULL;
	size_t len;
	cm_err err;
	if (cm_read_file_at(g->dir_fd, "cgroup.procs", 1 << 22, &text, &len, &err) < 0)
		return false;
	return len > 0;
}

static bool member(const struct hs_dg *g, pid_t pid)
{
	_cleanup_free_ char *path = cm_cgroup_path_of(pid, controller_of(g->kind));
	return path && strcmp(path, g->rel) == 0;
}

static bool seen(const pid_t *v, size_t n, pid_t pid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == pid)
			return true;
	return false;
}

/* Signals pid through a pidfd opened before its membership is checked: if the pid was reused,
 * the check sees the new process (not ours) and nothing is sent. */
static int signal_member(const struct hs_dg *g, pid_t pid, int sig)
{
	_cleanup_close_ int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0 || !member(g, pid))
		return 0;
	if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0 && errno != ESRCH)
		return -errno;
	return 0;
}

/* One pass over cgroup.procs: signals the members not signalled yet, adding them to *done.
 * Returns how many were new; the first failure goes to *first. */
static int signal_round(const struct hs_dg *g, int sig, pid_t **done, size_t *n, size_t *cap,
                        int *first)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	cm_err err;
	if (cm_read_file_at(g->dir_fd, "cgroup.procs", 1 << 22, &text, &len, &err) < 0)
		return 0;
	int fresh = 0;
	for (char *p = text; *p;) {
		pid_t pid = (pid_t)strtol(p, &p, 10);
		while (*p == '\n')
			p++;
		if (pid <= 0 || seen(*done, *n, pid))
			continue;
		xgrow((void **)done, cap, *n + 1, sizeof(**done));
		(*done)[(*n)++] = pid;
		fresh++;
		int r = signal_member(g, pid, sig);
		if (r < 0 && !*first)
			*first = -r;
	}
	return fresh;
}

static int signal_members(const struct hs_dg *g, int sig, cm_err *err)
{
	_cleanup_free_ pid_t *done = NULL;
	size_t n = 0, cap = 0;
	int first = 0;
	for (int i = 0; i < MAX_SIGNAL_ROUNDS; i++)
		if (signal_round(g, sig, &done, &n, &cap, &first) == 0)
			break;
	if (first)
		return cm_err_errno(err, first, "signal %d to the processes of cgroup %s%s", sig,
		                    g->mount, g->rel);
	return 0;
}

static int write_at(int dirfd, const char *file, const char *value)
{
	_cleanup_close_ int fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	return write(fd, value, strlen(value)) < 0 ? -1 : 0;
}

int hs_dg_signal(struct hs_dg *g, int sig, cm_err *err)
{
	if (g->kind == HS_DG_PGROUP) {
		if (!pgroup_is_ours(g) || kill(-g->pgid, sig) == 0 || errno == ESRCH)
			return 0;
		return cm_err_sys(err, "signal %d to process group %d", sig, (int)g->pgid);
	}
	/* cgroup.kill (5.14) kills the whole group at once, forks included */
	if (sig == SIGKILL && g->kind == HS_DG_V2 && write_at(g->dir_fd, "cgroup.kill", "1") == 0)
		return 0;
	/* v1: frozen members cannot fork; SIGKILL takes them as they thaw */
	bool freeze = sig == SIGKILL && g->kind == HS_DG_V1;
	if (freeze)
		write_at(g->dir_fd, "freezer.state", "FROZEN");
	int r = signal_members(g, sig, err);
	if (freeze)
		write_at(g->dir_fd, "freezer.state", "THAWED");
	return r;
}

bool hs_dg_alive(struct hs_dg *g)
{
	return g->kind == HS_DG_PGROUP ? pgroup_is_ours(g) : cgroup_populated(g);
}

int hs_dg_events_fd(struct hs_dg *g)
{
	return events_fd(g);
}

void hs_dg_destroy(struct hs_dg *g)
{
	if (g->dir_fd >= 0)
		close(g->dir_fd);
	if (g->procs_fd >= 0)
		close(g->procs_fd);
	if (g->events_fd >= 0)
		close(g->events_fd);
	if (g->rel) {
		_cleanup_free_ char *dir = full_path(g->mount, g->rel);
		rmdir(dir);
	}
	free(g->mount);
	free(g->rel);
	dg_init(g, g->kind);
}

/* ---- records ---- */

json_t *hs_dg_record(const struct hs_dg *g)
{
	json_t *o = json_pack("{s:s, s:i, s:I}", "kind", hs_dg_kind_name(g->kind), "pid",
	                      (int)g->pgid, "start_time", (json_int_t)g->start_time);
	if (g->rel)
		json_object_set_new(o, "cgroup", json_string(g->rel));
	if (g->mount)
		json_object_set_new(o, "mount", json_string(g->mount));
	return o;
}

/* A record comes from our own state directory, but a path in it is still checked to be a
 * cgroup below a known hierarchy. */
static bool plausible_group(enum hs_dg_kind kind, const char *mount, const char *rel)
{
	const char *want = kind == HS_DG_V1 ? "/sys/fs/cgroup/freezer" : v2_mount();
	return want && strcmp(mount, want) == 0 && rel[0] == '/' && !strstr(rel, "/..") &&
	       strlen(rel) < 4096;
}

static int kind_of(const char *name)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(kind_names); i++)
		if (strcmp(name, kind_names[i]) == 0)
			return (int)i;
	return -1;
}

int hs_dg_from_record(json_t *rec, struct hs_dg *g, cm_err *err)
{
	const char *kind = NULL, *rel = NULL, *mount = NULL;
	int pid = 0;
	json_int_t start = 0;
	if (json_unpack(rec, "{s:s, s:i, s:I, s?s, s?s}", "kind", &kind, "pid", &pid, "start_time",
	                &start, "cgroup", &rel, "mount", &mount) < 0 ||
	    kind_of(kind) < 0)
		return cm_err_set(err, EINVAL, "unreadable dyno record");
	dg_init(g, (enum hs_dg_kind)kind_of(kind));
	g->pgid = pid;
	g->start_time = (unsigned long long)start;
	g->leader_gone = !cm_proc_alive(g->pgid, g->start_time);
	if (g->kind == HS_DG_PGROUP)
		return pgroup_is_ours(g) ? 1 : 0;
	if (!rel || !mount || !plausible_group(g->kind, mount, rel))
		return cm_err_set(err, EINVAL, "dyno record names no cgroup of hsup's");
	g->mount = xstrdup(mount);
	g->rel = xstrdup(rel);
	if (open_group(g, err) < 0) {
		bool gone = err->code == ENOENT;
		hs_dg_destroy(g);
		return gone ? 0 : -1;
	}
	if (!cgroup_populated(g)) {
		hs_dg_destroy(g);
		return 0;
	}
	return 1;
}
