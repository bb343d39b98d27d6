#define _GNU_SOURCE
#include "libcontainer/process.h"
#include "libcontainer/init.h"
#include "libcontainer/mounts.h"
#include "libcontainer/namespaces.h"
#include "libcontainer/rootfs.h"
#include "libcontainer/validate.h"
#include "common/children.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/pty.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const step_names[LC_STEP_COUNT] = {
    [LC_STEP_READY] = "ready",
    [LC_STEP_SYNC] = "wait for the parent",
    [LC_STEP_SETNS] = "join namespace",
    [LC_STEP_SETSID] = "take the terminal",
    [LC_STEP_STDIO] = "set up stdio",
    [LC_STEP_BECOME_ROOT] = "become root in the user namespace",
    [LC_STEP_HOSTNAME] = "sethostname",
    [LC_STEP_DOMAINNAME] = "setdomainname",
    [LC_STEP_PROPAGATION] = "set mount propagation",
    [LC_STEP_ROOTFS] = "bind the rootfs",
    [LC_STEP_MOUNT] = "mount",
    [LC_STEP_MOUNT_DEST] = "create mount point",
    [LC_STEP_DEVICE] = "create device",
    [LC_STEP_SYMLINK] = "create /dev symlink",
    [LC_STEP_PIVOT] = "pivot_root to",
    [LC_STEP_MASK] = "mask",
    [LC_STEP_READONLY] = "make read-only",
    [LC_STEP_ROOT_READONLY] = "make the rootfs read-only",
    [LC_STEP_SYSCTL] = "write sysctl",
    [LC_STEP_SYSCTL_NOT_PROC] = "write sysctl outside procfs:",
    [LC_STEP_RLIMIT] = "setrlimit",
    [LC_STEP_CWD] = "chdir to",
    [LC_STEP_BOUNDING] = "drop bounding capabilities",
    [LC_STEP_GROUPS] = "setgroups",
    [LC_STEP_SETGID] = "setgid",
    [LC_STEP_SETUID] = "setuid",
    [LC_STEP_NO_NEW_PRIVS] = "set no_new_privs",
    [LC_STEP_CAPS] = "set capabilities",
    [LC_STEP_SECCOMP] = "load the seccomp filter",
    [LC_STEP_SIGNALS] = "reset signals",
    [LC_STEP_FIND_EXEC] = "find executable",
    [LC_STEP_INTERPRETER] = "find the interpreter of",
    [LC_STEP_EXEC] = "exec",
    [LC_STEP_HOOKS] = "wait for the create hooks",
    [LC_STEP_CHROOT] = "chroot to",
    [LC_STEP_PERSONALITY] = "set linux.personality",
    [LC_STEP_IOPRIO] = "set process.ioPriority",
    [LC_STEP_SCHED] = "set process.scheduler",
    [LC_STEP_PTY] = "open a terminal on the container's /dev/ptmx",
};

/* ---- the plan ---- */

static char **exec_candidates(const char *arg0, char *const *env)
{
	char **v = NULL;
	size_t n = 0;
	if (strchr(arg0, '/')) {
		cm_strv_push(&v, &n, xstrdup(arg0));
		return v;
	}
	const char *path = DEFAULT_PATH;
	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], "PATH=", 5) == 0)
			path = env[i] + 5;
	_cleanup_free_ char *copy = xstrdup(path);
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
		cm_strv_push(&v, &n, xasprintf("%s/%s", d, arg0));
	if (!v)
		cm_strv_push(&v, &n, xasprintf("/bin/%s", arg0));
	return v;
}

static void plan_sysctl(const struct lc_config *c, struct lc_plan *p)
{
	size_t n = 0, m = 0;
	for (size_t i = 0; i < c->n_sysctl; i++) {
		char *path = xasprintf("/proc/sys/%s", c->sysctl[i].key);
		for (char *s = path + 10; *s; s++)
			if (*s == '.')
				*s = '/';
		cm_strv_push(&p->sysctl_paths, &n, path);
		cm_strv_push(&p->sysctl_values, &m, xstrdup(c->sysctl[i].value));
	}
}

static void plan_limits(const struct lc_config *c, struct lc_plan *p)
{
	for (size_t i = 0; i < c->process.n_rlimits; i++) {
		int r = lc_rlimit_resource(c->process.rlimits[i].type);
		p->rlimits[r].rlim_cur = c->process.rlimits[i].soft;
		p->rlimits[r].rlim_max = c->process.rlimits[i].hard;
		p->rlimit_set[r] = true;
	}
}

static void plan_process_attrs(const struct lc_config *c, struct lc_plan *p)
{
	const struct lc_process *pr = &c->process;
	p->umask = pr->umask == LC_UNSET ? -1 : (int)pr->umask;
	p->personality = c->personality == LC_UNSET ? -1 : (long)c->personality;
	/* IOPRIO_PRIO_VALUE(class, data): the class in the bits above 13 */
	p->ioprio = pr->io_prio_class ? (pr->io_prio_class << 13) | pr->io_prio_level : -1;
	const struct lc_scheduler *s = pr->scheduler;
	if (!s)
		return;
	p->sched_set = true;
	p->sched = (struct lc_sched_attr){
	    .size = sizeof(p->sched),
	    .policy = (uint32_t)s->policy,
	    .flags = s->flags,
	    .nice = s->nice,
	    .priority = (uint32_t)s->priority,
	    .runtime = s->runtime,
	    .deadline = s->deadline,
	    .period = s->period,
	};
}

static int open_joins(const struct lc_config *c, pid_t join_pid, struct lc_plan *p, cm_err *err)
{
	static const int types[] = {CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWUTS,
	                            CLONE_NEWIPC,  CLONE_NEWNET, CLONE_NEWCGROUP};
	for (size_t i = 0; i < CM_ARRAY_SIZE(types); i++) {
		_cleanup_free_ char *path = NULL;
		if (join_pid > 0) {
			path =
			    xasprintf("/proc/%d/ns/%s", (int)join_pid, lc_ns_proc_name(types[i]));
			_cleanup_free_ char *own =
			    xasprintf("/proc/self/ns/%s", lc_ns_proc_name(types[i]));
			struct stat a, b;
			/* setns into one's own user namespace fails: join only what differs */
			if (stat(path, &a) == 0 && stat(own, &b) == 0 && a.st_ino == b.st_ino &&
			    a.st_dev == b.st_dev)
				continue;
		} else {
			for (size_t k = 0; k < c->n_namespaces; k++)
				if (c->namespaces[k].type == types[i] && c->namespaces[k].path)
					path = xstrdup(c->namespaces[k].path);
			if (!path)
				continue;
		}
		struct lc_ns_join *j = &p->joins[p->n_joins];
		if (lc_ns_open(path, types[i], &j->fd, err) < 0)
			return -1;
		j->type = types[i];
		p->n_joins++;
	}
	return 0;
}

static void plan_free(struct lc_plan *p)
{
	for (size_t i = 0; i < p->n_joins; i++)
		close(p->joins[i].fd);
	if (p->tty_slave >= 0)
		close(p->tty_slave); /* the child has its own */
	lc_mounts_plan_free(p);
	lc_rootfs_plan_free(p);
	cm_strv_free(p->sysctl_paths);
	cm_strv_free(p->sysctl_values);
	free((char *)p->rootfs);
	free((char *)p->bundle);
	free(p->groups);
	lc_bpf_free(&p->bpf);
	cm_strv_free(p->exec_candidates);
}

static int plan_rootfs(const struct lc_spawn_req *r, struct lc_plan *p, cm_err *err)
{
	const struct lc_config *c = r->cfg;
	_cleanup_free_ char *joined = c->root_path[0] == '/' || !r->bundle
	                                  ? xstrdup(c->root_path)
	                                  : xasprintf("%s/%s", r->bundle, c->root_path);
	char *abs = realpath(joined, NULL);
	if (!abs)
		return cm_err_sys(err, "rootfs %s", joined);
	p->rootfs = abs;
	p->bundle = r->bundle ? xstrdup(r->bundle) : NULL;
	p->no_mntns = !lc_config_has_namespace(c, CLONE_NEWNS);
	if (p->no_mntns)
		return 0; /* validation refused every mount, device and path */
	p->root_readonly = c->root_readonly;
	if (c->rootfs_propagation)
		p->root_propagation = lc_propagation_flags(c->rootfs_propagation);
	if (lc_mounts_plan(c, r->bundle, r->cg, p, err) < 0)
		return -1;
	lc_rootfs_plan_devices(c, p->userns, p);
	p->masked = c->masked_paths;
	p->readonly = c->readonly_paths;
	plan_sysctl(c, p);
	return 0;
}

/* A devpts instance of the container's own at /dev/pts, in a mount namespace of its own: its
 * terminal is opened there. Without one (no such mount in the config), the container sees the
 * host's /dev/pts or none, and its terminal stays a pty of the host's, opened by the parent. */
static bool has_own_devpts(const struct lc_config *c)
{
	if (!lc_config_has_namespace(c, CLONE_NEWNS))
		return false;
	for (size_t i = 0; i < c->n_mounts; i++)
		if (strcmp(c->mounts[i].destination, "/dev/pts") == 0 && c->mounts[i].type &&
		    strcmp(c->mounts[i].type, "devpts") == 0)
			return true;
	return false;
}

static int plan_build(const struct lc_spawn_req *r, struct lc_plan *p, cm_err *err)
{
	const struct lc_config *c = r->cfg;
	memset(p, 0, sizeof(*p));
	p->start_fd = r->start_fd;
	p->tty_slave = -1;
	p->pty_inside = r->console && has_own_devpts(c);
	p->pty_rows = r->rows;
	p->pty_cols = r->cols;
	p->exec_fd = r->exec_fd;
	memcpy(p->stdio, r->stdio, sizeof(p->stdio));
	p->join_only = r->join_pid > 0;
	bool new_userns = false;
	for (size_t i = 0; i < c->n_namespaces; i++)
		if (c->namespaces[i].type == CLONE_NEWUSER && !c->namespaces[i].path)
			new_userns = true;
	p->userns = new_userns && !p->join_only;
	if (open_joins(c, r->join_pid, p, err) < 0)
		return -1;
	if (!p->join_only) {
		p->hostname = c->hostname;
		p->domainname = c->domainname;
		if (plan_rootfs(r, p, err) < 0)
			return -1;
	}
	plan_limits(c, p);
	plan_process_attrs(c, p);
	p->hook_point = r->hooks != NULL;
	p->cwd = r->cwd ? r->cwd : c->process.cwd;
	p->uid = r->has_user ? r->uid : c->process.uid;
	p->gid = r->has_user ? r->gid : c->process.gid;
	p->n_groups = c->process.n_additional_gids;
	p->groups = xcalloc(p->n_groups + 1, sizeof(gid_t));
	for (size_t i = 0; i < p->n_groups; i++)
		p->groups[i] = c->process.additional_gids[i];
	p->no_new_privs = c->process.no_new_privileges;
	p->exec_blocked = c->process.exec_blocked;
	if (lc_caps_from_process(&c->process, &p->caps, err) < 0 ||
	    lc_seccomp_build_cached(c->seccomp, r->cache_dirfd, &p->bpf, err) < 0)
		return -1;
	p->argv = (char **)(r->args ? r->args : c->process.args);
	p->envp = (char **)(r->env ? r->env : c->process.env);
	if (!p->envp)
		p->envp = (char *[]){NULL};
	if (!p->argv || !p->argv[0])
		return cm_err_set(err, EINVAL, "no command to run");
	p->exec_candidates = exec_candidates(p->argv[0], p->envp);
	return 0;
}

/* ---- reports ---- */

static const char *report_object(const struct lc_plan *p, const struct lc_config *c,
                                 const struct lc_report *rep, char *buf, size_t size)
{
	int i = rep->index;
	switch (rep->step) {
	case LC_STEP_MOUNT:
	case LC_STEP_MOUNT_DEST:
		if (i >= 0 && (size_t)i < c->n_mounts)
			snprintf(buf, size, "mounts[%d] %s on %s", i,
			         c->mounts[i].source ? c->mounts[i].source : "",
			         c->mounts[i].destination);
		return buf;
	case LC_STEP_PIVOT:
	case LC_STEP_CHROOT:
		return p->rootfs ? p->rootfs : "";
	case LC_STEP_CWD:
		return p->cwd;
	case LC_STEP_MASK:
		return i >= 0 ? p->masked[i] : "";
	case LC_STEP_READONLY:
		return i >= 0 ? p->readonly[i] : "";
	case LC_STEP_SYSCTL:
	case LC_STEP_SYSCTL_NOT_PROC:
		return i >= 0 ? p->sysctl_paths[i] : "";
	case LC_STEP_DEVICE:
		return i >= 0 && (size_t)i < p->n_devs ? p->devs[i].path : "";
	case LC_STEP_SETNS:
		return i >= 0 ? lc_ns_proc_name(p->joins[i].type) : "";
	case LC_STEP_FIND_EXEC:
	case LC_STEP_EXEC:
		return p->argv[0];
	case LC_STEP_INTERPRETER:
		return i >= 0 ? p->exec_candidates[i] : p->argv[0];
	}
	return NULL;
}

static int report_error(const struct lc_plan *p, const struct lc_config *c,
                        const struct lc_report *rep, cm_err *err)
{
	char buf[512] = "";
	const char *step =
	    rep->step > 0 && rep->step < LC_STEP_COUNT ? step_names[rep->step] : "unknown step";
	const char *obj = report_object(p, c, rep, buf, sizeof(buf));
	if (obj && *obj)
		return cm_err_errno(err, rep->errnum, "container init: %s %s", step, obj);
	return cm_err_errno(err, rep->errnum, "container init: %s", step);
}

/* The fd a report carried (the pty's master): into *fd_out if asked for and not yet had,
 * else closed. */
static void take_fd(struct msghdr *msg, int *fd_out)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		int *fds = (int *)CMSG_DATA(cm);
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			if (fd_out && *fd_out < 0)
				*fd_out = fds[i];
			else
				close(fds[i]);
		}
	}
}

/* Reads the child's next report: 1 and rep filled, or 0 at EOF (it exec'd or died). An fd
 * sent along goes to *fd_out (NULL: closed). ECONNRESET says the child exited with bytes of
 * ours unread ('c' sent while it was failing); the kernel reports that before the queued
 * report, once, so read again. */
static int read_report_flags(int fd, struct lc_report *rep, int *fd_out, int flags, cm_err *err)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = rep, .iov_len = sizeof(*rep)};
	struct msghdr msg;
	ssize_t n;
	do {
		msg = (struct msghdr){.msg_iov = &iov,
		                      .msg_iovlen = 1,
		                      .msg_control = ctl.buf,
		                      .msg_controllen = sizeof(ctl.buf)};
		n = recvmsg(fd, &msg, flags | MSG_CMSG_CLOEXEC);
	} while (n < 0 && (errno == EINTR || errno == ECONNRESET));
	if (n < 0)
		return cm_err_sys(err, "read the container's report");
	take_fd(&msg, fd_out);
	if (n == 0)
		return 0;
	if (n != sizeof(*rep))
		return cm_err_set(err, EIO, "short report from the container");
	return 1;
}

static int read_report(int fd, struct lc_report *rep, int *fd_out, cm_err *err)
{
	return read_report_flags(fd, rep, fd_out, 0, err);
}

/* Lets the child go on after the hooks: 1, or -1 if it is gone (its report says why). */
static int run_on(int fd, cm_err *err)
{
	if (send(fd, "h", 1, MSG_NOSIGNAL) == 1)
		return 1;
	return cm_err_sys(err, "signal the container to go on after its hooks");
}

static void reap(int pidfd)
{
	siginfo_t si = {0};
	while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	if (si.si_pid > 0)
		cm_children_forget(si.si_pid);
}

int lc_process_wait_exec(int sync_fd, const char *what, cm_err *err)
{
	struct lc_report rep;
	int r = read_report(sync_fd, &rep, NULL, err);
	if (r <= 0)
		return r;
	if (rep.step == LC_STEP_EXEC)
		return cm_err_errno(err, rep.errnum, "exec %s", what);
	return cm_err_errno(err, rep.errnum, "container init failed after it was ready");
}

/* ---- clone ---- */

static uint64_t clone_flags(const struct lc_spawn_req *r)
{
	uint64_t flags = CLONE_PIDFD;
	if (r->join_pid > 0)
		return flags;
	for (size_t i = 0; i < r->cfg->n_namespaces; i++)
		if (!r->cfg->namespaces[i].path)
			flags |= (uint64_t)r->cfg->namespaces[i].type;
	return flags;
}

/* A pid namespace applies to children only: the parent enters it for the clone and leaves. */
static int enter_pid_ns(const struct lc_spawn_req *r, int *saved, cm_err *err)
{
	_cleanup_free_ char *path = NULL;
	*saved = -1;
	if (r->join_pid > 0)
		path = xasprintf("/proc/%d/ns/pid", (int)r->join_pid);
	for (size_t i = 0; !path && i < r->cfg->n_namespaces; i++)
		if (r->cfg->namespaces[i].type == CLONE_NEWPID && r->cfg->namespaces[i].path)
			path = xstrdup(r->cfg->namespaces[i].path);
	if (!path)
		return 0;
	_cleanup_close_ int fd = -1;
	if (lc_ns_open(path, CLONE_NEWPID, &fd, err) < 0)
		return -1;
	*saved = open("/proc/thread-self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (*saved < 0)
		return cm_err_sys(err, "open /proc/thread-self/ns/pid");
	if (setns(fd, CLONE_NEWPID) < 0) {
		close(*saved);
		*saved = -1;
		return cm_err_sys(err, "join pid namespace %s", path);
	}
	return 0;
}

/* Going back cannot be allowed to fail: this thread's children would be born in the
 * container's pid namespace from then on (every later fork, posix_spawn or clone of a caller
 * that may be a daemon with threads), and no error returned now could undo that, since the
 * caller cannot leave the namespace either. The process stops here instead, before it makes
 * another child. */
static void leave_pid_ns(int saved)
{
	if (saved < 0)
		return;
	if (setns(saved, CLONE_NEWPID) < 0) {
		int e = errno;
		fprintf(stderr,
		        "libcontainer: cannot go back to this process's pid namespace after "
		        "cloning into a container's (%s): stopping rather than putting "
		        "every later child into the container\n",
		        strerror(e));
		abort();
	}
	close(saved);
}

static int do_clone(const struct lc_spawn_req *r, struct lc_plan *p, int sv[2], pid_t *pid,
                    int *pidfd, cm_err *err)
{
	int saved_ns;
	if (enter_pid_ns(r, &saved_ns, err) < 0)
		return -1;
	sigset_t all, old;
	sigfillset(&all);
	/* no handler of the caller's may run in the child before it resets them */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	struct clone_args args = {
	    .flags = clone_flags(r), .pidfd = (uint64_t)(uintptr_t)pidfd, .exit_signal = SIGCHLD};
	/* a caller reaping orphans (hsup as PID 1) must never take this child's status */
	cm_children_lock();
	long child = lc_clone(&args);
	if (child == 0) {
		/* the parent's end: held here too, the child would never see EOF when the parent
		 * dies, and would wait for it for ever */
		close(sv[0]);
		p->sync_fd = sv[1];
		lc_init_run(p);
	}
	int saved = errno;
	if (child > 0)
		cm_children_add((pid_t)child);
	cm_children_unlock();
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	leave_pid_ns(saved_ns);
	if (child < 0)
		return cm_err_errno(err, saved, "clone3");
	*pid = (pid_t)child;
	return 0;
}

/* The parent's half, in step with the child: 'g' after the id maps; the cgroups are made
 * and joined while the child builds its rootfs ('k' once they exist, for the child's bind mounts
 * of them; 'c' once it is in them). The first move of a task into a v1 cgroup waits for an RCU
 * grace period (several milliseconds when cold), better spent in parallel. The child waits for
 * 'c' before it reports ready, so it never execs outside its cgroups. */
/* Written by the parent through the host's /proc, before the child does anything: the
 * child's own /proc, once in the container, is the rootfs's to fake. */
static int set_oom_score(const struct lc_config *c, pid_t pid, cm_err *err)
{
	if (c->process.oom_score_adj == LC_UNSET)
		return 0;
	char path[64], value[32];
	snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int)pid);
	snprintf(value, sizeof(value), "%lld", (long long)c->process.oom_score_adj);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || cm_write_all(fd, value, strlen(value)) < 0)
		return cm_err_sys(err, "process.oomScoreAdj: write %s to %s", value, path);
	return 0;
}

static int parent_setup(const struct lc_spawn_req *r, const struct lc_plan *p, pid_t pid, int fd,
                        cm_err *err)
{
	if (set_oom_score(r->cfg, pid, err) < 0)
		return -1;
	if (p->userns && lc_write_idmaps(pid, r->cfg->uid_mappings, r->cfg->n_uid_mappings,
	                                 r->cfg->gid_mappings, r->cfg->n_gid_mappings, err) < 0)
		return -1;
	if (send(fd, "g", 1, MSG_NOSIGNAL) != 1)
		return cm_err_sys(err, "signal the container to go on");
	if (r->make_cgroups && lc_cgroup_setup(r->cg, r->cfg, err) < 0)
		return -1;
	/* a child that failed meanwhile has closed its end: its report says why */
	send(fd, "k", 1, MSG_NOSIGNAL);
	if (r->cg && lc_cgroup_add_pid(r->cg, pid, err) < 0)
		return -1;
	send(fd, "c", 1, MSG_NOSIGNAL);
	return 0;
}

/* Waits until the child is ready: runs the create hooks when it stops for them, and keeps in
 * *master the pty's master it sent, if it was to open one in the container. */
static int wait_ready(const struct lc_spawn_req *r, const struct lc_plan *p, pid_t pid, int fd,
                      int *master, cm_err *err)
{
	struct lc_report rep;
	int *fd_out = p->pty_inside ? master : NULL;
	int got = read_report(fd, &rep, fd_out, err);
	if (got == 1 && rep.step == LC_STEP_HOOKS) {
		/* the child waits before pivot_root while the create hooks run */
		if (r->hooks(r->hooks_arg, pid, err) < 0 || run_on(fd, err) < 0)
			return -1;
		got = read_report(fd, &rep, fd_out, err);
	}
	if (got == 1 && rep.step == LC_STEP_PTY && rep.errnum == 0) {
		if (*master < 0)
			return cm_err_set(err, EIO,
			                  "container init: its terminal's master never came");
		got = read_report(fd, &rep, fd_out, err);
	}
	if (got < 0)
		return -1;
	if (got == 0)
		return cm_err_set(err, EIO, "the container init died before it was ready");
	if (rep.step != LC_STEP_READY)
		return report_error(p, r->cfg, &rep, err);
	return 0;
}

/* The host's pty, when the container has no devpts of its own to open one in (has_own_devpts):
 * its slave is handed to the child, its master kept in *master. */
static int open_host_pty(const struct lc_spawn_req *r, struct lc_plan *p, int *master, cm_err *err)
{
	if (!r->console || p->pty_inside)
		return 0;
	return cm_pty_open(master, &p->tty_slave, r->rows, r->cols, err);
}

int lc_process_spawn(const struct lc_spawn_req *r, pid_t *pid_out, int *pidfd_out, int *sync_out,
                     cm_err *err)
{
	struct lc_plan plan;
	int sv[2];
	_cleanup_close_ int master = -1;
	if (plan_build(r, &plan, err) < 0 || open_host_pty(r, &plan, &master, err) < 0) {
		plan_free(&plan);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		plan_free(&plan);
		return cm_err_sys(err, "socketpair");
	}
	pid_t pid = 0;
	int pidfd = -1;
	int rc = do_clone(r, &plan, sv, &pid, &pidfd, err);
	close(sv[1]);
	_cleanup_close_ int fd = sv[0];
	struct lc_report rep = {0, 0, -1};
	cm_err ignored;
	if (rc == 0 && (rc = parent_setup(r, &plan, pid, fd, err)) == 0) {
		rc = wait_ready(r, &plan, pid, fd, &master, err);
	} else if (pidfd >= 0 && read_report_flags(fd, &rep, NULL, MSG_DONTWAIT, &ignored) == 1 &&
	           rep.step != LC_STEP_READY) {
		/* the child failed first (and so could not join its cgroups): its reason counts */
		rc = report_error(&plan, r->cfg, &rep, err);
	}
	if (rc == 0 && r->start_fd < 0 && !sync_out) {
		/* nothing to wait for: it is exec'ing now; learn whether that worked */
		rc = lc_process_wait_exec(fd, plan.argv[0], err);
	}
	plan_free(&plan);
	if (rc < 0) {
		if (pidfd >= 0) {
			syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
			reap(pidfd);
			close(pidfd);
		}
		return -1;
	}
	*pid_out = pid;
	*pidfd_out = pidfd;
	if (sync_out)
		*sync_out = cm_steal_fd(fd);
	if (r->console)
		*r->console = cm_steal_fd(master);
	return 0;
}
