/* Hooks: a child per hook, in the runtime's namespaces or the container's, fed the state on
 * a socket as stdin, waited for on its pidfd with the hook's timeout. */
#define _GNU_SOURCE
#include "libcontainer/hooks.h"
#include "libcontainer/namespaces.h"
#include "common/children.h"
#include "common/cleanup.h"
#include "common/spawn.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
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

/* The user namespace first: it grants the right to join the others. */
static const int ns_order[] = {CLONE_NEWUSER, CLONE_NEWNS,  CLONE_NEWUTS,
                               CLONE_NEWIPC,  CLONE_NEWNET, CLONE_NEWCGROUP};

struct ns_fds {
	int fd[CM_ARRAY_SIZE(ns_order)];
};

static void ns_fds_close(struct ns_fds *n)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(ns_order); i++)
		if (n->fd[i] >= 0)
			close(n->fd[i]);
}

/* Opens the namespaces of pid that differ from ours (joining one's own user namespace fails). */
static int ns_fds_open(pid_t pid, struct ns_fds *n, cm_err *err)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(ns_order); i++) {
		const char *name = lc_ns_proc_name(ns_order[i]);
		_cleanup_free_ char *path = xasprintf("/proc/%d/ns/%s", (int)pid, name);
		_cleanup_free_ char *own = xasprintf("/proc/self/ns/%s", name);
		struct stat a, b;
		n->fd[i] = -1;
		if (stat(path, &a) < 0)
			return cm_err_sys(err, "hooks: %s", path);
		if (stat(own, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
			continue;
		n->fd[i] = open(path, O_RDONLY | O_CLOEXEC);
		if (n->fd[i] < 0)
			return cm_err_sys(err, "hooks: open %s", path);
	}
	return 0;
}

char *lc_hooks_state_json(const struct lc_state *s, const char *status)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:s}", "ociVersion", "1.0.2", "id", s->id, "status",
	                      status, "pid", (int)s->pid, "bundle", s->bundle ? s->bundle : "");
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text)
		abort();
	return text;
}

/* Between fork and exec: system calls only. */
static __attribute__((noreturn)) void hook_child(const struct lc_hook *h, char *const *argv,
                                                 char *const *envp, const struct ns_fds *ns, int in)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(ns_order); i++)
		if (ns->fd[i] >= 0 && setns(ns->fd[i], ns_order[i]) < 0)
			_exit(126);
	int stdio[3] = {in, -1, -1};
	if (cm_child_reset_signals() < 0 || cm_child_stdio(stdio) < 0)
		_exit(126);
	execve(h->path, argv, envp);
	_exit(127);
}

static int fork_hook(const struct lc_hook *h, const struct ns_fds *ns, int in, int *pidfd,
                     cm_err *err)
{
	char *fallback[] = {h->path, NULL}, *noenv[] = {NULL};
	char *const *argv = h->args && h->args[0] ? h->args : fallback;
	char *const *envp = h->env ? h->env : noenv;
	cm_children_lock(); /* a reaper of orphans must not take this child's status */
	pid_t pid = fork();
	if (pid == 0)
		hook_child(h, argv, envp, ns, in);
	if (pid > 0)
		cm_children_add(pid);
	cm_children_unlock();
	if (pid < 0)
		return cm_err_sys(err, "fork");
	*pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (*pidfd < 0) {
		int e = errno;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		cm_children_forget(pid);
		return cm_err_errno(err, e, "pidfd_open");
	}
	return 0;
}

/* Waits for the hook, killing it once its timeout passes: its wait status, or -1 on timeout. */
static int wait_hook(int pidfd, int64_t timeout)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	int ms = timeout == LC_UNSET ? -1 : (int)(timeout > INT32_MAX / 1000 ? -1 : timeout * 1000);
	int r;
	do
		r = poll(&p, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	siginfo_t si = {0};
	while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	if (si.si_pid > 0)
		cm_children_forget(si.si_pid);
	if (r == 0)
		return -1;
	return si.si_code == CLD_EXITED ? si.si_status << 8 : si.si_status & 0x7f;
}

static int hook_result(const struct lc_hook *h, const char *name, size_t i, int status, cm_err *err)
{
	if (status == 0)
		return 0;
	if (status < 0)
		return cm_err_set(err, ETIMEDOUT,
		                  "hooks.%s[%zu] %s: timed out after %lld s, killed", name, i,
		                  h->path, (long long)h->timeout);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return cm_err_set(err, ENOENT, "hooks.%s[%zu] %s: could not be executed", name, i,
		                  h->path);
	if (WIFEXITED(status))
		return cm_err_set(err, EIO, "hooks.%s[%zu] %s: exited with status %d", name, i,
		                  h->path, WEXITSTATUS(status));
	return cm_err_set(err, EIO, "hooks.%s[%zu] %s: killed by signal %d", name, i, h->path,
	                  WTERMSIG(status));
}

static int run_one(const struct lc_hook *h, const char *name, size_t i, const char *state,
                   const struct ns_fds *ns, cm_err *err)
{
	int sv[2], pidfd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return cm_err_sys(err, "hooks.%s[%zu]: socketpair", name, i);
	int r = fork_hook(h, ns, sv[1], &pidfd, err);
	close(sv[1]);
	_cleanup_close_ int in = sv[0];
	if (r < 0)
		return cm_err_wrap(err, "hooks.%s[%zu] %s", name, i, h->path);
	_cleanup_close_ int pfd = pidfd;
	/* the state fits the socket's buffer: a hook that never reads it blocks nobody */
	if (send(in, state, strlen(state), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EPIPE)
		fprintf(stderr, "libcontainer: hooks.%s[%zu]: state not sent: %s\n", name, i,
		        strerror(errno));
	shutdown(in, SHUT_WR);
	return hook_result(h, name, i, wait_hook(pfd, h->timeout), err);
}

static int run_kind(const struct lc_config *c, enum lc_hook_kind kind, const char *state,
                    pid_t ns_pid, bool warn_only, cm_err *err)
{
	struct ns_fds ns;
	for (size_t i = 0; i < CM_ARRAY_SIZE(ns_order); i++)
		ns.fd[i] = -1;
	if (!c->n_hooks[kind])
		return 0;
	if (ns_pid > 0 && ns_fds_open(ns_pid, &ns, err) < 0) {
		ns_fds_close(&ns);
		return -1;
	}
	int rc = 0;
	for (size_t i = 0; i < c->n_hooks[kind]; i++) {
		cm_err one;
		if (run_one(&c->hooks[kind][i], lc_hook_kind_name(kind), i, state, &ns, &one) == 0)
			continue;
		if (!warn_only) {
			*err = one;
			rc = -1;
			break;
		}
		fprintf(stderr, "libcontainer: warning: %s\n", one.msg);
	}
	ns_fds_close(&ns);
	return rc;
}

int lc_hooks_run(const struct lc_config *c, enum lc_hook_kind kind, const char *state, pid_t ns_pid,
                 cm_err *err)
{
	return run_kind(c, kind, state, ns_pid, false, err);
}

void lc_hooks_run_warn(const struct lc_config *c, enum lc_hook_kind kind, const char *state,
                       pid_t ns_pid)
{
	cm_err err;
	if (run_kind(c, kind, state, ns_pid, true, &err) < 0)
		fprintf(stderr, "libcontainer: warning: %s\n", err.msg);
}

bool lc_hooks_any(const struct lc_config *c, enum lc_hook_kind first, enum lc_hook_kind last)
{
	for (int k = first; k <= (int)last; k++)
		if (c->n_hooks[k])
			return true;
	return false;
}
