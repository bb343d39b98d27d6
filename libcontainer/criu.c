/* Checkpoint and restore through the criu binary. Whether CRIU works is asked of `criu
 * check` first, so a kernel it cannot handle is reported in CRIU's own words. */
#define _GNU_SOURCE
#include "libcontainer/container.h"
#include "libcontainer/container_int.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/proc.h"
#include "common/spawn.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

/* Runs criu with argv, collecting what it prints; returns its exit code or -1. */
static int run_criu(char **argv, char **output, cm_err *err)
{
	_cleanup_free_ char *path = cm_find_program("criu", "/usr/sbin:/usr/bin:/sbin:/bin");
	if (!path)
		return cm_err_set(err, ENOENT, "criu is not installed");
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return cm_err_sys(err, "pipe");
	_cleanup_close_ int rd = pipefd[0];
	struct cm_spawn_opts o = {.path = path,
	                          .argv = argv,
	                          .envp = environ,
	                          .stdio = {-1, pipefd[1], pipefd[1]},
	                          .foreground_tty = -1};
	pid_t pid;
	int pidfd;
	int r = cm_spawn(&o, &pid, &pidfd, err);
	close(pipefd[1]);
	if (r < 0)
		return -1;
	_cleanup_close_ int pfd = pidfd;
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len + 1024 > cap)
			buf = xrealloc(buf, cap *= 2);
		ssize_t n = read(rd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*output = buf;
	struct cm_exit st;
	struct pollfd p = {.fd = pfd, .events = POLLIN};
	while ((r = cm_pidfd_reap(pfd, &st, err)) == 0)
		poll(&p, 1, -1);
	return r < 0 ? -1 : st.code;
}

/* The last line with "Error" in CRIU's output, or its last line. */
static const char *criu_reason(char *out)
{
	char *best = NULL, *last = NULL, *save = NULL;
	for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		last = l;
		if (strstr(l, "Error") && !best)
			best = l;
	}
	return best ? best : last ? last : "no output";
}

int lc_criu_check(cm_err *err)
{
	char *argv[] = {"criu", "check", NULL};
	_cleanup_free_ char *out = NULL;
	int code = run_criu(argv, &out, err);
	if (code < 0)
		return -1;
	if (code != 0)
		return cm_err_set(err, ENOTSUP,
		                  "CRIU cannot work on this kernel (`criu check` "
		                  "exits %d: %s)",
		                  code, criu_reason(out));
	return 0;
}

static void push(char ***v, size_t *n, const char *s)
{
	cm_strv_push(v, n, xstrdup(s));
}

static char **criu_args(struct lc_container *c, const char *cmd, const struct lc_criu_opts *o,
                        const char *pidfile)
{
	char **v = NULL;
	size_t n = 0;
	push(&v, &n, "criu");
	push(&v, &n, cmd);
	push(&v, &n, "--images-dir");
	push(&v, &n, o->image_path);
	push(&v, &n, "--work-dir");
	push(&v, &n, o->work_path ? o->work_path : o->image_path);
	push(&v, &n, "--root");
	push(&v, &n, c->state.rootfs);
	push(&v, &n, "--manage-cgroups");
	if (strcmp(cmd, "dump") == 0) {
		push(&v, &n, "--tree");
		cm_strv_push(&v, &n, xasprintf("%d", (int)c->state.pid));
		if (o->leave_running)
			push(&v, &n, "--leave-running");
	} else {
		push(&v, &n, "--restore-detached");
		push(&v, &n, "--pidfile");
		push(&v, &n, pidfile);
	}
	if (o->tcp_established)
		push(&v, &n, "--tcp-established");
	if (o->ext_unix_sk)
		push(&v, &n, "--ext-unix-sk");
	if (o->shell_job)
		push(&v, &n, "--shell-job");
	return v;
}

int lc_container_checkpoint(struct lc_container *c, const struct lc_criu_opts *o, cm_err *err)
{
	if (lc_criu_check(err) < 0)
		return -1;
	if (lc_container_status(c) == LC_STOPPED)
		return cm_err_set(err, ESRCH, "container %s is not running", c->state.id);
	_cleanup_strv_ char **argv = criu_args(c, "dump", o, NULL);
	_cleanup_free_ char *out = NULL;
	int code = run_criu(argv, &out, err);
	if (code < 0)
		return -1;
	if (code != 0)
		return cm_err_set(err, EIO, "criu dump of %s failed: %s", c->state.id,
		                  criu_reason(out));
	return 0;
}

int lc_container_restore(struct lc_container *c, const struct lc_criu_opts *o, cm_err *err)
{
	if (lc_criu_check(err) < 0)
		return -1;
	if (lc_container_status(c) != LC_STOPPED)
		return cm_err_set(err, EBUSY, "container %s is still running", c->state.id);
	_cleanup_free_ char *pidfile = xasprintf("%s/restore.pid", o->image_path);
	_cleanup_strv_ char **argv = criu_args(c, "restore", o, pidfile);
	_cleanup_free_ char *out = NULL;
	int code = run_criu(argv, &out, err);
	if (code < 0)
		return -1;
	if (code != 0)
		return cm_err_set(err, EIO, "criu restore of %s failed: %s", c->state.id,
		                  criu_reason(out));
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (cm_read_file_at(AT_FDCWD, pidfile, 64, &text, &len, err) < 0)
		return -1;
	char st;
	c->state.pid = (pid_t)atoi(text);
	if (cm_proc_stat(c->state.pid, &c->state.start_time, &st) < 0)
		return cm_err_sys(err, "restored process %d", (int)c->state.pid);
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->pidfd = -1;
	c->is_parent = false;
	return lc_state_write(c->dirfd, &c->state, err);
}
