/* exec: a new process inside a running container: its namespaces (setns), its cgroups, and
 * its capabilities, seccomp filter, user and no_new_privs, as the config says. */
#define _GNU_SOURCE
#include "libcontainer/container.h"
#include "libcontainer/container_int.h"
#include "libcontainer/process.h"
#include "libcontainer/user.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int lc_container_exec(struct lc_container *c, struct lc_exec_opts *o, pid_t *pid, int *pidfd,
                      cm_err *err)
{
	if (lc_container_load_config(c, err) < 0)
		return -1;
	enum lc_status st = lc_container_status(c);
	if (st != LC_RUNNING && st != LC_CREATED)
		return cm_err_set(err, EINVAL, "container %s is %s", c->state.id,
		                  lc_status_name(st));
	struct lc_spawn_req req = {
	    .cfg = c->cfg,
	    .cg = &c->state.cgroup,
	    .join_pid = c->state.pid,
	    .start_fd = -1,
	    .exec_fd = -1,
	    .cache_dirfd = c->f->cachefd,
	    .args = o->args,
	    .env = o->env,
	    .cwd = o->cwd,
	};
	memcpy(req.stdio, o->stdio, sizeof(req.stdio));
	if (o->user) {
		/* the container's own /etc/passwd, seen through its init's root */
		_cleanup_free_ char *path = xasprintf("/proc/%d/root", (int)c->state.pid);
		_cleanup_close_ int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (root < 0)
			return cm_err_sys(err, "open %s", path);
		if (lc_parse_user(o->user, root, &req.uid, &req.gid, err) < 0)
			return -1;
		req.has_user = true;
	}
	o->console_fd = -1;
	req.console = o->tty ? &o->console_fd : NULL;
	req.rows = o->rows;
	req.cols = o->cols;
	if (lc_process_spawn(&req, pid, pidfd, NULL, err) < 0)
		return cm_err_wrap(err, "exec in container %s", c->state.id);
	return 0;
}
