/* runc's exec: a process in a running container, from --process FILE (the spec's process
 * object, which go-runc writes) or from the command line. With --detach the process is left
 * to whoever reaps this process's orphans; without, its status is the exit code. */
#define _GNU_SOURCE
#include "libcontainer/nsinit_runc.h"
#include "libcontainer/nsinit_signals.h"
#include "common/cleanup.h"
#include "common/spawn.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct exec_spec {
	char **args, **env; /* owned */
	char *cwd, *user;   /* owned; NULL: the container's */
	bool terminal;
};

static void spec_free(struct exec_spec *s)
{
	cm_strv_free(s->args);
	cm_strv_free(s->env);
	free(s->cwd);
	free(s->user);
}

static int strings(json_t *arr, const char *field, char ***out, cm_err *err)
{
	size_t i, n = 0;
	json_t *v;
	if (!arr)
		return 0;
	if (!json_is_array(arr))
		return cm_err_set(err, EINVAL, "field %s: not an array", field);
	*out = xcalloc(1, sizeof(char *));
	json_array_foreach (arr, i, v) {
		if (!json_is_string(v))
			return cm_err_set(err, EINVAL, "field %s[%zu]: not a string", field, i);
		cm_strv_push(out, &n, xstrdup(json_string_value(v)));
	}
	return 0;
}

/* The fields of the process object that an exec can change; the rest (capabilities, rlimits,
 * no_new_privs, ...) are the container's. */
static int spec_from_json(json_t *p, struct exec_spec *s, cm_err *err)
{
	json_error_t jerr;
	const char *cwd = NULL;
	json_t *args = NULL, *env = NULL, *user = NULL;
	int terminal = 0;
	if (json_unpack_ex(p, &jerr, 0, "{s:o,s?o,s?s,s?b,s?o}", "args", &args, "env", &env, "cwd",
	                   &cwd, "terminal", &terminal, "user", &user) < 0)
		return cm_err_set(err, EINVAL, "process: %s", jerr.text);
	if (strings(args, "args", &s->args, err) < 0 || strings(env, "env", &s->env, err) < 0)
		return -1;
	s->cwd = cwd ? xstrdup(cwd) : NULL;
	s->terminal = terminal;
	json_int_t uid = 0, gid = 0;
	if (user && json_unpack_ex(user, &jerr, 0, "{s?I,s?I}", "uid", &uid, "gid", &gid) < 0)
		return cm_err_set(err, EINVAL, "process.user: %s", jerr.text);
	if (user)
		s->user = xasprintf("%lld:%lld", (long long)uid, (long long)gid);
	return 0;
}

static int spec_from_file(const char *path, struct exec_spec *s, cm_err *err)
{
	json_error_t jerr;
	json_t *p =
	    !strcmp(path, "-") ? json_loadf(stdin, 0, &jerr) : json_load_file(path, 0, &jerr);
	if (!p)
		return cm_err_set(err, EINVAL, "process %s: %s", path, jerr.text);
	int r = spec_from_json(p, s, err);
	json_decref(p);
	return r < 0 ? cm_err_wrap(err, "process %s", path) : 0;
}

/* From the flags: the command after the id, the container's env with --env added. */
static int spec_from_flags(struct nr_args *a, struct lc_container *c, struct exec_spec *s,
                           cm_err *err)
{
	const struct lc_config *cfg = lc_container_config(c);
	size_t n = 0;
	if (!a->n_rest)
		return cm_err_set(err, EINVAL, "exec needs a command (or --process)");
	if (!cfg)
		return cm_err_set(err, EIO, "cannot read the config of container %s", a->id);
	s->args = cm_strv_dup(a->rest);
	for (size_t i = 0; cfg->process.env && cfg->process.env[i]; i++)
		cm_strv_push(&s->env, &n, xstrdup(cfg->process.env[i]));
	for (size_t i = 0; i < a->n_env; i++)
		cm_strv_push(&s->env, &n, xstrdup(a->env[i]));
	s->cwd = a->cwd ? xstrdup(a->cwd) : NULL;
	s->user = a->user ? xstrdup(a->user) : NULL;
	s->terminal = a->tty;
	return 0;
}

static int check_exec(const struct nr_args *a, const struct exec_spec *s, cm_err *err)
{
	if (!s->args || !s->args[0])
		return cm_err_set(err, EINVAL, "process.args must not be empty");
	if (s->terminal && a->detach && !a->console_socket)
		return cm_err_set(err, EINVAL,
		                  "cannot allocate tty if the runtime will detach "
		                  "without setting console socket");
	if (!s->terminal && a->console_socket)
		return cm_err_set(err, EINVAL,
		                  "cannot use console socket if the runtime will "
		                  "not detach or allocate tty");
	return nr_preserve_fds(a->preserve_fds, err);
}

/* Without --detach: relays the terminal (unless sent away) and returns the status. */
static int wait_exec(int pidfd, pid_t pid, int console)
{
	cm_err err;
	struct cm_exit st = {0, 0};
	_cleanup_close_ int sigfd = ns_forward_signals();
	struct ns_relay rel;
	ns_relay_start(&rel, console);
	ns_wait_process(pidfd, pid, &rel, sigfd);
	ns_relay_stop(&rel);
	while (cm_pidfd_reap(pidfd, &st, &err) == 0)
		poll(&(struct pollfd){pidfd, POLLIN, 0}, 1, -1);
	return st.code;
}

static int exec_in(struct nr_args *a, struct lc_container *c, const struct exec_spec *s,
                   cm_err *err)
{
	struct lc_exec_opts o = {.args = s->args,
	                         .env = s->env,
	                         .cwd = s->cwd,
	                         .user = s->user,
	                         .tty = s->terminal,
	                         .stdio = {-1, -1, -1}};
	pid_t pid;
	int pidfd;
	if (lc_container_exec(c, &o, &pid, &pidfd, err) < 0)
		return -1;
	int r = 0;
	if (o.console_fd >= 0 && a->console_socket)
		r = nr_send_console(a->console_socket, o.console_fd, err);
	if (r == 0 && a->pid_file)
		r = nr_write_pid_file(a->pid_file, pid, err);
	if (r < 0)
		kill(pid, SIGKILL);
	else if (!a->detach)
		r = wait_exec(pidfd, pid, a->console_socket ? -1 : o.console_fd);
	if (o.console_fd >= 0)
		close(o.console_fd);
	close(pidfd);
	return r;
}

int nr_cmd_exec(struct nr_args *a)
{
	cm_err err;
	struct lc_factory *f;
	struct lc_container *c;
	struct exec_spec s = {0};
	int r = nr_open(a, &f, &c, &err);
	if (r == 0)
		r = a->process ? spec_from_file(a->process, &s, &err)
		               : spec_from_flags(a, c, &s, &err);
	if (r == 0)
		r = check_exec(a, &s, &err);
	if (r == 0)
		r = exec_in(a, c, &s, &err);
	spec_free(&s);
	lc_container_free(c);
	lc_factory_free(f);
	return r < 0 ? nr_fail(&err) : r;
}
