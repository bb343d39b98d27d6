/* Container lifecycle: create (set up, waiting before exec), start, state, kill, delete. The
 * state lives on disk under the factory's root, so a container outlives its creator. */
#define _GNU_SOURCE
#include "libcontainer/container.h"
#include "libcontainer/container_int.h"
#include "libcontainer/hooks.h"
#include "libcontainer/process.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/proc.h"
#include "common/spawn.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int lc_factory_open(const char *root, struct lc_factory **out, cm_err *err)
{
	_cleanup_free_ char *p = xstrdup(root);
	for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
		if (s)
			*s = '\0';
		if (mkdir(p, 0711) < 0 && errno != EEXIST)
			return cm_err_sys(err, "create state root %s", p);
		if (!s)
			break;
		*s = '/';
	}
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cm_err_sys(err, "open state root %s", root);
	struct lc_factory *f = xcalloc(1, sizeof(*f));
	f->root = xstrdup(root);
	f->rootfd = fd;
	f->cachefd = -1;
	if (mkdirat(fd, ".cache", 0700) < 0 && errno != EEXIST)
		return cm_err_sys(err, "create %s/.cache", root), lc_factory_free(f), -1;
	f->cachefd = openat(fd, ".cache", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*out = f;
	return 0;
}

void lc_factory_free(struct lc_factory *f)
{
	if (!f)
		return;
	close(f->rootfd);
	if (f->cachefd >= 0)
		close(f->cachefd);
	free(f->root);
	free(f);
}

/* A container's directory: DT_UNKNOWN (some filesystems report nothing else) is asked of
 * fstatat, and a symlink is never one. */
static bool is_container_dir(int dirfd, const struct dirent *e)
{
	struct stat st;
	if (e->d_name[0] == '.')
		return false;
	if (e->d_type != DT_UNKNOWN)
		return e->d_type == DT_DIR;
	return fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

int lc_factory_list(struct lc_factory *f, char ***ids, cm_err *err)
{
	int fd = openat(f->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cm_err_sys(err, "list %s", f->root);
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		cm_err_sys(err, "list %s", f->root);
		close(fd);
		return -1;
	}
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (is_container_dir(dirfd(d), e))
			cm_strv_push(&v, &n, xstrdup(e->d_name));
	*ids = v;
	return 0;
}

static int check_id(const char *id, cm_err *err)
{
	size_t n = strlen(id);
	if (n == 0 || n > 128 || id[0] == '.' ||
	    strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n)
		return cm_err_set(err, EINVAL, "container id %s: use 1-128 of [A-Za-z0-9_.-]", id);
	return 0;
}

static struct lc_container *container_new(struct lc_factory *f, const char *id, int dirfd)
{
	struct lc_container *c = xcalloc(1, sizeof(*c));
	c->f = f;
	c->dirfd = dirfd;
	c->pidfd = c->sync_fd = -1;
	c->state.id = xstrdup(id);
	return c;
}

void lc_container_free(struct lc_container *c)
{
	if (!c)
		return;
	if (c->dirfd >= 0)
		close(c->dirfd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	if (c->sync_fd >= 0)
		close(c->sync_fd);
	lc_state_clear(&c->state);
	lc_config_free(c->cfg);
	free(c->arg0);
	free(c);
}

/* Removes what create made, whatever a create killed half-way left there (temporary files
 * too): used when create fails and by delete. */
static int remove_state(struct lc_container *c, cm_err *err)
{
	int fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return cm_err_sys(err, "list %s/%s", c->f->root, c->state.id);
	}
	struct dirent *e;
	int r = 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    unlinkat(c->dirfd, e->d_name, 0) < 0 && errno != ENOENT && r == 0)
			r = cm_err_sys(err, "remove %s/%s/%s", c->f->root, c->state.id, e->d_name);
	closedir(d);
	if (r == 0 && unlinkat(c->f->rootfd, c->state.id, AT_REMOVEDIR) < 0 && errno != ENOENT)
		r = cm_err_sys(err, "remove %s/%s", c->f->root, c->state.id);
	return r;
}

/* The config lives in config.json; create works from the caller's and parses none back. */
static int save_config(struct lc_container *c, const struct lc_config *cfg, cm_err *err)
{
	_cleanup_free_ char *text = lc_config_to_json(cfg);
	return cm_write_file_replace_at(c->dirfd, "config.json", text, strlen(text), 0600, err);
}

int lc_container_load_config(struct lc_container *c, cm_err *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (c->cfg)
		return 0;
	if (cm_read_file_at(c->dirfd, "config.json", 4 << 20, &text, &len, err) < 0 ||
	    lc_config_parse(text, &c->cfg, err) < 0)
		return cm_err_wrap(err, "config of container %s", c->state.id);
	return 0;
}

static char *resolve_rootfs(const struct lc_config *cfg, const char *bundle)
{
	_cleanup_free_ char *p = cfg->root_path[0] == '/'
	                             ? xstrdup(cfg->root_path)
	                             : xasprintf("%s/%s", bundle, cfg->root_path);
	char *abs = realpath(p, NULL);
	return abs ? abs : xstrdup(p);
}

static int make_fifo(struct lc_container *c, int *fd, cm_err *err)
{
	if (mkfifoat(c->dirfd, "exec.fifo", 0600) < 0)
		return cm_err_sys(err, "create exec.fifo");
	/* O_RDWR: opening does not wait for a writer; the child reads one byte to start */
	*fd = openat(c->dirfd, "exec.fifo", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (*fd < 0)
		return cm_err_sys(err, "open exec.fifo");
	return 0;
}

struct create_hooks {
	struct lc_container *c;
	const struct lc_config *cfg;
};

/* The child waits before pivot_root meanwhile: prestart and createRuntime in the runtime's
 * namespaces, createContainer in the container's. A failure fails the create, which then
 * undoes everything (and runs the poststop hooks, as the spec's lifecycle goes on there). */
static int run_create_hooks(void *arg, pid_t pid, cm_err *err)
{
	struct create_hooks *h = arg;
	h->c->state.pid = pid;
	h->c->hooks_ran = true;
	_cleanup_free_ char *state = lc_hooks_state_json(&h->c->state, "creating");
	return lc_hooks_run(h->cfg, LC_HOOK_PRESTART, state, 0, err) ?:
	       lc_hooks_run(h->cfg, LC_HOOK_CREATE_RUNTIME, state, 0, err) ?:
	       lc_hooks_run(h->cfg, LC_HOOK_CREATE_CONTAINER, state, pid, err);
}

static void run_poststop(struct lc_container *c, const struct lc_config *cfg)
{
	if (!cfg || !lc_hooks_any(cfg, LC_HOOK_POSTSTOP, LC_HOOK_POSTSTOP))
		return;
	_cleanup_free_ char *state = lc_hooks_state_json(&c->state, "stopped");
	lc_hooks_run_warn(cfg, LC_HOOK_POSTSTOP, state, 0);
}

static int spawn_init(struct lc_container *c, const struct lc_config *cfg, struct lc_create_opts *o,
                      cm_err *err)
{
	struct create_hooks hooks = {c, cfg};
	_cleanup_close_ int start_fd = -1;
	if (make_fifo(c, &start_fd, err) < 0)
		return -1;
	o->console_fd = -1;
	struct lc_spawn_req req = {
	    .cfg = cfg,
	    .bundle = c->state.bundle,
	    .cg = &c->state.cgroup,
	    .make_cgroups = true,
	    .start_fd = start_fd,
	    .console = cfg->process.terminal ? &o->console_fd : NULL,
	    .rows = cfg->process.console_rows,
	    .cols = cfg->process.console_cols,
	    .exec_fd = o->init_fd,
	    .cache_dirfd = c->f->cachefd,
	};
	if (lc_hooks_any(cfg, LC_HOOK_PRESTART, LC_HOOK_CREATE_CONTAINER)) {
		req.hooks = run_create_hooks;
		req.hooks_arg = &hooks;
	}
	memcpy(req.stdio, o->stdio, sizeof(req.stdio));
	if (lc_process_spawn(&req, &c->state.pid, &c->pidfd, &c->sync_fd, err) < 0)
		return -1;
	c->is_parent = true;
	char st;
	if (cm_proc_stat(c->state.pid, &c->state.start_time, &st) < 0)
		return cm_err_sys(err, "read /proc/%d/stat", (int)c->state.pid);
	return 0;
}

/* state.json comes first, before any cgroup or process exists, naming the cgroups that will
 * be made and the process making them: wherever a create is killed, what it leaves is listed
 * and deleted like any container (a directory without state.json holds nothing else). The pid
 * is added once the init is ready. */
static int create_in(struct lc_container *c, const struct lc_config *cfg, struct lc_create_opts *o,
                     cm_err *err)
{
	char cwd[PATH_MAX], st;
	c->state.bundle = xstrdup(o->bundle ? o->bundle : getcwd(cwd, sizeof(cwd)) ? cwd : ".");
	c->state.rootfs = resolve_rootfs(cfg, c->state.bundle);
	c->arg0 = xstrdup(cfg->process.args[0]);
	c->hooks_none = !lc_hooks_any(cfg, 0, LC_HOOK_NKINDS - 1);
	c->state.created = (long long)time(NULL);
	c->state.creator = getpid();
	if (cm_proc_stat(c->state.creator, &c->state.creator_start_time, &st) < 0)
		return cm_err_sys(err, "read /proc/%d/stat", (int)c->state.creator);
	_cleanup_free_ char *cgpath =
	    cfg->cgroups_path ? xstrdup(cfg->cgroups_path) : xasprintf("lc-%s", c->state.id);
	/* the parent makes the groups while the child starts (process.c) */
	lc_cgroup_resolve(cgpath, &c->state.cgroup);
	if (lc_state_write(c->dirfd, &c->state, err) < 0 || save_config(c, cfg, err) < 0 ||
	    spawn_init(c, cfg, o, err) < 0)
		return -1;
	return lc_state_write(c->dirfd, &c->state, err);
}

int lc_container_create(struct lc_factory *f, const char *id, const struct lc_config *cfg,
                        struct lc_create_opts *o, struct lc_container **out, cm_err *err)
{
	if (check_id(id, err) < 0 || lc_config_validate(cfg, err) < 0)
		return -1;
	if (mkdirat(f->rootfd, id, 0711) < 0)
		return errno == EEXIST ? cm_err_set(err, EEXIST, "container %s already exists", id)
		                       : cm_err_sys(err, "create %s/%s", f->root, id);
	int dirfd = openat(f->rootfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0) {
		cm_err_sys(err, "open %s/%s", f->root, id);
		unlinkat(f->rootfd, id, AT_REMOVEDIR);
		return -1;
	}
	struct lc_container *c = container_new(f, id, dirfd);
	if (create_in(c, cfg, o, err) < 0) {
		cm_err ignored;
		if (c->pidfd >= 0) {
			syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
			lc_wait_exit(c, -1);
		}
		lc_cgroup_destroy(&c->state.cgroup, &ignored);
		remove_state(c, &ignored);
		if (c->hooks_ran)
			run_poststop(c, cfg);
		lc_container_free(c);
		return cm_err_wrap(err, "create container %s", id);
	}
	*out = c;
	return 0;
}

int lc_container_load(struct lc_factory *f, const char *id, struct lc_container **out, cm_err *err)
{
	if (check_id(id, err) < 0)
		return -1;
	/* O_NOFOLLOW: a symlink planted in the root is no container, and delete would
	 * otherwise remove the files of the directory it points to */
	int dirfd = openat(f->rootfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0)
		return errno == ENOENT ? cm_err_set(err, ENOENT, "container %s does not exist", id)
		                       : cm_err_sys(err, "open %s/%s", f->root, id);
	struct lc_container *c = container_new(f, id, dirfd);
	free(c->state.id);
	c->state.id = NULL;
	if (lc_state_read(dirfd, &c->state, err) < 0) {
		lc_container_free(c);
		return cm_err_wrap(err, "load container %s", id);
	}
	if (!c->state.id || strcmp(c->state.id, id) != 0) {
		free(c->state.id);
		c->state.id = xstrdup(id);
	}
	*out = c;
	return 0;
}

/* startContainer, in the container's namespaces before its process runs: a failure stops the
 * container (the caller deletes it, which runs poststop). */
static int run_start_hooks(struct lc_container *c, cm_err *err)
{
	if (lc_container_load_config(c, err) < 0)
		return -1;
	if (!lc_hooks_any(c->cfg, LC_HOOK_START_CONTAINER, LC_HOOK_START_CONTAINER))
		return 0;
	_cleanup_free_ char *state = lc_hooks_state_json(&c->state, "created");
	if (lc_hooks_run(c->cfg, LC_HOOK_START_CONTAINER, state, c->state.pid, err) == 0)
		return 0;
	cm_err ignored;
	lc_container_kill(c, SIGKILL, false, &ignored);
	return cm_err_wrap(err, "start container %s", c->state.id);
}

static void run_poststart(struct lc_container *c)
{
	if (!lc_hooks_any(c->cfg, LC_HOOK_POSTSTART, LC_HOOK_POSTSTART))
		return;
	_cleanup_free_ char *state = lc_hooks_state_json(&c->state, "running");
	lc_hooks_run_warn(c->cfg, LC_HOOK_POSTSTART, state, 0);
}

static int start_process(struct lc_container *c, cm_err *err);

int lc_container_start(struct lc_container *c, cm_err *err)
{
	if (!c->hooks_none && lc_container_status(c) == LC_CREATED && run_start_hooks(c, err) < 0)
		return -1;
	if (start_process(c, err) < 0)
		return -1;
	if (c->cfg)
		run_poststart(c);
	return 0;
}

static int start_process(struct lc_container *c, cm_err *err)
{
	_cleanup_close_ int fd =
	    openat(c->dirfd, "exec.fifo", O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return cm_err_set(err, EINVAL, "container %s was already started", c->state.id);
	if (fd < 0 && errno == ENXIO)
		return cm_err_set(err, ESRCH, "container %s is not waiting to start (it exited)",
		                  c->state.id);
	if (fd < 0)
		return cm_err_sys(err, "open exec.fifo of %s", c->state.id);
	if (write(fd, "s", 1) != 1)
		return cm_err_sys(err, "start container %s", c->state.id);
	unlinkat(c->dirfd, "exec.fifo", 0);
	if (c->sync_fd >= 0) {
		int r = lc_process_wait_exec(c->sync_fd, c->arg0 ? c->arg0 : "the process", err);
		close(c->sync_fd);
		c->sync_fd = -1;
		if (r < 0)
			return cm_err_wrap(err, "start container %s", c->state.id);
	}
	return 0;
}

int lc_container_run(struct lc_factory *f, const char *id, const struct lc_config *cfg,
                     struct lc_create_opts *o, struct lc_container **out, cm_err *err)
{
	struct lc_container *c;
	if (lc_container_create(f, id, cfg, o, &c, err) < 0)
		return -1;
	if (lc_container_start(c, err) < 0) {
		cm_err ignored;
		lc_container_delete(c, true, &ignored);
		lc_container_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

const char *lc_container_id(const struct lc_container *c)
{
	return c->state.id;
}

pid_t lc_container_pid(const struct lc_container *c)
{
	return c->state.pid;
}

const struct lc_config *lc_container_config(struct lc_container *c)
{
	cm_err err;
	return lc_container_load_config(c, &err) < 0 ? NULL : c->cfg;
}

const struct lc_cgroup *lc_container_cgroup(const struct lc_container *c)
{
	return &c->state.cgroup;
}

const char *lc_container_rootfs(const struct lc_container *c)
{
	return c->state.rootfs;
}

const char *lc_container_bundle(const struct lc_container *c)
{
	return c->state.bundle ? c->state.bundle : "";
}

long long lc_container_created(const struct lc_container *c)
{
	return c->state.created;
}

const char *lc_status_name(enum lc_status s)
{
	static const char *const names[] = {"created", "running", "paused", "stopped", "creating"};
	return names[s];
}

enum lc_status lc_container_status(struct lc_container *c)
{
	/* no pid yet: being created, or what a create that died left (it never will be) */
	if (c->state.pid == 0)
		return cm_proc_alive(c->state.creator, c->state.creator_start_time) ? LC_CREATING
		                                                                    : LC_STOPPED;
	if (!cm_proc_alive(c->state.pid, c->state.start_time))
		return LC_STOPPED;
	if (faccessat(c->dirfd, "exec.fifo", F_OK, 0) == 0)
		return LC_CREATED;
	if (lc_cgroup_is_frozen(&c->state.cgroup))
		return LC_PAUSED;
	return LC_RUNNING;
}

int lc_container_pidfd(struct lc_container *c, cm_err *err)
{
	if (c->pidfd >= 0)
		return c->pidfd;
	int fd = (int)syscall(SYS_pidfd_open, c->state.pid, 0);
	if (fd < 0)
		return cm_err_sys(err, "pidfd_open %d", (int)c->state.pid);
	/* checked after opening: the fd now pins the process, so a reuse cannot slip in */
	if (!cm_proc_alive(c->state.pid, c->state.start_time)) {
		close(fd);
		return cm_err_set(err, ESRCH, "container %s is not running", c->state.id);
	}
	c->pidfd = fd;
	return fd;
}

int lc_container_reap(struct lc_container *c, int *code, cm_err *err)
{
	if (c->is_parent) {
		struct cm_exit st;
		int r = cm_pidfd_reap(c->pidfd, &st, err);
		if (r == 1)
			*code = st.code;
		return r;
	}
	struct pollfd p = {.fd = c->pidfd, .events = POLLIN};
	if (c->pidfd < 0 || poll(&p, 1, 0) == 1) {
		*code = -1; /* not our child: its status went to its parent */
		return 1;
	}
	return 0;
}

/* Waits up to timeout_ms (-1: for ever) for the init to exit, reaping it if ours. */
int lc_wait_exit(struct lc_container *c, int timeout_ms)
{
	cm_err err;
	if (c->pidfd < 0 && lc_container_pidfd(c, &err) < 0)
		return 0; /* already gone */
	struct pollfd p = {.fd = c->pidfd, .events = POLLIN};
	int r;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	if (r != 1)
		return -1;
	int code;
	if (c->is_parent)
		lc_container_reap(c, &code, &err);
	return 0;
}

int lc_container_kill(struct lc_container *c, int sig, bool all, cm_err *err)
{
	if (all)
		return lc_cgroup_signal_all(&c->state.cgroup, sig, err);
	enum lc_status st = lc_container_status(c);
	if (st == LC_STOPPED || st == LC_CREATING)
		return cm_err_set(err, ESRCH, "container %s is %s: no process to signal",
		                  c->state.id, lc_status_name(st));
	if (lc_container_pidfd(c, err) < 0)
		return -1;
	if (syscall(SYS_pidfd_send_signal, c->pidfd, sig, NULL, 0) < 0)
		return cm_err_sys(err, "signal container %s", c->state.id);
	return 0;
}

int lc_container_delete(struct lc_container *c, bool force, cm_err *err)
{
	cm_err ignored;
	/* read before the state goes: poststop runs after */
	bool has_config = !c->hooks_none && lc_container_load_config(c, &ignored) == 0;
	enum lc_status st = lc_container_status(c);
	if (st != LC_STOPPED && st != LC_CREATED && !force)
		return cm_err_set(err, EBUSY, "container %s is %s: stop it or force the delete",
		                  c->state.id, lc_status_name(st));
	if (st != LC_STOPPED && c->state.pid > 0) {
		if (lc_container_pidfd(c, &ignored) >= 0)
			syscall(SYS_pidfd_send_signal, c->pidfd, SIGKILL, NULL, 0);
		lc_cgroup_signal_all(&c->state.cgroup, SIGKILL, &ignored);
		if (lc_wait_exit(c, 10000) < 0)
			return cm_err_set(err, ETIMEDOUT, "container %s: init did not die",
			                  c->state.id);
	} else if (c->is_parent) {
		lc_wait_exit(c, 0);
	}
	/* what is left in the cgroups (a create killed after its init joined them) dies there */
	if (lc_cgroup_destroy(&c->state.cgroup, err) < 0 || remove_state(c, err) < 0)
		return cm_err_wrap(err, "delete container %s", c->state.id);
	run_poststop(c, has_config ? c->cfg : NULL);
	return 0;
}
