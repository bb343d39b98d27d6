/* runc's lifecycle commands: create, run, start, state, kill, delete, ps, pause, resume, list.
 * create leaves the container's init waiting (created) as a child of whoever reaps this
 * process's orphans (containerd's shim is a subreaper), with this process's stdio as its own
 * when there is no terminal, and exits. */
#define _GNU_SOURCE
#include "libcontainer/nsinit_runc.h"
#include "libcontainer/nsinit_signals.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int nr_open(const struct nr_args *a, struct lc_factory **f, struct lc_container **c, cm_err *err)
{
	*f = NULL;
	*c = NULL;
	if (lc_factory_open(a->root, f, err) < 0)
		return -1;
	return lc_container_load(*f, a->id, c, err);
}

static char *bundle_dir(const struct nr_args *a)
{
	char *abs = realpath(a->bundle ? a->bundle : ".", NULL);
	return abs ? abs : xstrdup(a->bundle ? a->bundle : ".");
}

/* runc's rules on a terminal: a detached one needs the socket to send it to, and a socket
 * needs a terminal to send. */
static int check_terminal(const struct nr_args *a, bool terminal, bool detach, cm_err *err)
{
	if (terminal && detach && !a->console_socket)
		return cm_err_set(err, EINVAL,
		                  "cannot allocate tty if the runtime will detach "
		                  "without setting console socket");
	if (!terminal && a->console_socket)
		return cm_err_set(err, EINVAL,
		                  "cannot use console socket if the runtime will "
		                  "not detach or allocate tty (process.terminal is "
		                  "false)");
	return 0;
}

/* What create hands over once the init is ready: its console and its pid. */
static int hand_over(const struct nr_args *a, pid_t pid, int console, cm_err *err)
{
	if (console >= 0 && a->console_socket &&
	    nr_send_console(a->console_socket, console, err) < 0)
		return -1;
	if (a->pid_file && nr_write_pid_file(a->pid_file, pid, err) < 0)
		return -1;
	return 0;
}

/* run without --detach: waits (relaying the terminal if it was not sent away), deletes. */
static int wait_and_delete(struct lc_container *c, int console)
{
	cm_err err;
	int code = 0;
	_cleanup_close_ int sigfd = ns_forward_signals();
	struct ns_relay rel;
	ns_relay_start(&rel, console);
	int pidfd = lc_container_pidfd(c, &err);
	ns_wait_process(pidfd, lc_container_pid(c), &rel, sigfd);
	ns_relay_stop(&rel);
	while (lc_container_reap(c, &code, &err) == 0)
		poll(&(struct pollfd){pidfd, POLLIN, 0}, 1, -1);
	if (lc_container_delete(c, true, &err) < 0)
		nr_fail(&err);
	return code;
}

static int create_run(struct nr_args *a, bool run, struct lc_factory *f, struct lc_config *cfg,
                      cm_err *err)
{
	bool detach = !run || a->detach;
	if (check_terminal(a, cfg->process.terminal, detach, err) < 0 ||
	    nr_preserve_fds(a->preserve_fds, err) < 0)
		return -1;
	_cleanup_free_ char *bundle = bundle_dir(a);
	struct lc_create_opts o = {.bundle = bundle, .stdio = {-1, -1, -1}, .init_fd = -1};
	struct lc_container *c;
	if (lc_container_create(f, a->id, cfg, &o, &c, err) < 0)
		return -1;
	int r = hand_over(a, lc_container_pid(c), o.console_fd, err);
	if (r == 0 && run)
		r = lc_container_start(c, err);
	if (r < 0) {
		cm_err ignored;
		lc_container_delete(c, true, &ignored);
	} else if (!detach) {
		r = wait_and_delete(c, a->console_socket ? -1 : o.console_fd);
	}
	if (o.console_fd >= 0)
		close(o.console_fd);
	lc_container_free(c);
	return r;
}

int nr_cmd_create_run(struct nr_args *a, bool run)
{
	cm_err err;
	struct lc_factory *f = NULL;
	struct lc_config *cfg = NULL;
	_cleanup_free_ char *path = xasprintf("%s/config.json", a->bundle ? a->bundle : ".");
	int r = lc_factory_open(a->root, &f, &err);
	if (r == 0)
		r = lc_config_load(path, &cfg, &err);
	if (r == 0)
		r = create_run(a, run, f, cfg, &err);
	lc_config_free(cfg);
	lc_factory_free(f);
	if (r < 0)
		return nr_fail(&err);
	return r;
}

/* The bundle's annotations, read from its config.json ({} when it cannot be). */
static json_t *annotations(const char *bundle)
{
	_cleanup_free_ char *path = xasprintf("%s/config.json", bundle);
	json_t *cfg = json_load_file(path, 0, NULL);
	json_t *an = json_object_get(cfg, "annotations");
	an = json_is_object(an) ? json_incref(an) : json_object();
	json_decref(cfg);
	return an;
}

static json_t *oci_state(struct lc_container *c)
{
	char created[64];
	struct tm tm;
	time_t t = (time_t)lc_container_created(c);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	enum lc_status st = lc_container_status(c);
	const char *bundle = lc_container_bundle(c);
	return json_pack("{s:s,s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:o}", "ociVersion", NR_OCI_VERSION,
	                 "id", lc_container_id(c), "pid",
	                 st == LC_STOPPED ? 0 : (int)lc_container_pid(c), "status",
	                 lc_status_name(st), "bundle", bundle, "rootfs", lc_container_rootfs(c),
	                 "created", created, "owner", "", "annotations", annotations(bundle));
}

static int print_json(json_t *o, size_t flags)
{
	char *s = json_dumps(o, flags | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(o);
	puts(s);
	free(s);
	return 0;
}

static int cmd_kill(struct nr_args *a, struct lc_container *c, cm_err *err)
{
	if (a->n_rest > 1)
		return cm_err_set(err, EINVAL, "kill takes an id and at most one signal");
	int sig = ns_parse_signal(a->n_rest ? a->rest[0] : NULL);
	if (sig < 0)
		return cm_err_set(err, EINVAL, "unknown signal %s", a->rest[0]);
	return lc_container_kill(c, sig, a->all, err);
}

static int cmd_ps(struct nr_args *a, struct lc_container *c, cm_err *err)
{
	_cleanup_free_ pid_t *pids = NULL;
	size_t n;
	bool as_json = a->format && !strcmp(a->format, "json");
	if (a->format && !as_json && strcmp(a->format, "table"))
		return cm_err_set(err, EINVAL, "invalid format option %s", a->format);
	if (lc_container_processes(c, &pids, &n, err) < 0)
		return -1;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_integer(pids[i]));
	if (as_json)
		return print_json(arr, JSON_COMPACT);
	json_decref(arr);
	puts("PID");
	for (size_t i = 0; i < n; i++)
		printf("%d\n", (int)pids[i]);
	return 0;
}

static int run_on(struct nr_args *a, struct lc_container *c, cm_err *err)
{
	const char *cmd = a->command;
	if (!strcmp(cmd, "state"))
		return print_json(oci_state(c), JSON_INDENT(2));
	if (!strcmp(cmd, "start"))
		return lc_container_start(c, err);
	if (!strcmp(cmd, "kill"))
		return cmd_kill(a, c, err);
	if (!strcmp(cmd, "ps"))
		return cmd_ps(a, c, err);
	if (!strcmp(cmd, "pause"))
		return lc_container_pause(c, err);
	if (!strcmp(cmd, "resume"))
		return lc_container_resume(c, err);
	if (!strcmp(cmd, "events"))
		return nr_cmd_events(a, c, err);
	return nr_cmd_update(a, c, err);
}

int nr_cmd_on_container(struct nr_args *a)
{
	cm_err err;
	struct lc_factory *f;
	struct lc_container *c;
	int r = nr_open(a, &f, &c, &err);
	if (r == 0)
		r = run_on(a, c, &err);
	lc_container_free(c);
	lc_factory_free(f);
	return r < 0 ? nr_fail(&err) : 0;
}

/* runc's: a container that does not exist is an error, unless forced (then its directory,
 * if a create left one without state, goes). */
int nr_cmd_delete(struct nr_args *a)
{
	cm_err err;
	struct lc_factory *f;
	struct lc_container *c;
	int r = nr_open(a, &f, &c, &err);
	if (r == 0)
		r = lc_container_delete(c, a->force, &err);
	else if (a->force && err.code == ENOENT)
		r = 0;
	lc_container_free(c);
	lc_factory_free(f);
	return r < 0 ? nr_fail(&err) : 0;
}

static void list_table(json_t *states)
{
	size_t i;
	json_t *s;
	printf("%-12s %-8s %-10s %-40s %-20s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED",
	       "OWNER");
	json_array_foreach (states, i, s)
		printf("%-12s %-8lld %-10s %-40s %-20s %s\n",
		       json_string_value(json_object_get(s, "id")),
		       (long long)json_integer_value(json_object_get(s, "pid")),
		       json_string_value(json_object_get(s, "status")),
		       json_string_value(json_object_get(s, "bundle")),
		       json_string_value(json_object_get(s, "created")), "root");
}

int nr_cmd_list(struct nr_args *a)
{
	cm_err err;
	struct lc_factory *f;
	_cleanup_strv_ char **ids = NULL;
	if (lc_factory_open(a->root, &f, &err) < 0)
		return nr_fail(&err);
	if (lc_factory_list(f, &ids, &err) < 0) {
		lc_factory_free(f);
		return nr_fail(&err);
	}
	json_t *states = json_array();
	for (size_t i = 0; ids[i]; i++) {
		struct lc_container *c;
		if (lc_container_load(f, ids[i], &c, &err) < 0) {
			nr_fail(&err);
			continue;
		}
		json_array_append_new(states, oci_state(c));
		lc_container_free(c);
	}
	lc_factory_free(f);
	if (a->format && !strcmp(a->format, "json"))
		return print_json(states, JSON_COMPACT);
	if (a->quiet)
		for (size_t i = 0; i < json_array_size(states); i++)
			puts(json_string_value(json_object_get(json_array_get(states, i), "id")));
	else
		list_table(states);
	json_decref(states);
	return 0;
}
