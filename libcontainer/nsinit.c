/* nsinit: the command-line tool over libcontainer. */
#define _GNU_SOURCE
#include "libcontainer/container.h"
#include "libcontainer/nsinit_runc.h"
#include "libcontainer/nsinit_signals.h"
#include "libcontainer/process.h"
#include "libcontainer/user.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/pty.h"
#include "common/spawn.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#define DEFAULT_ROOT "/run/nsinit"

struct args {
	const char *root, *config, *id, *user, *cwd, *bundle, *image_path, *work_path, *init;
	char **env;
	size_t n_env;
	bool tty, force, all, detach, help;
	struct lc_criu_opts criu;
	struct lc_resources update;
	bool has_update;
	int64_t threshold; /* oom --memory-threshold */
	char **rest;       /* positional arguments after the command, and everything after -- */
	size_t n_rest;
	const char *command;
};

static const char usage[] =
    "usage: nsinit [--root DIR] COMMAND [options] [-- CMD [ARG...]]\n"
    "commands:\n"
    "  config                      print the default container config (OCI JSON)\n"
    "  exec [--tty] [--config F] [--id ID] [--user U] [--cwd D] [--env K=V]... [--init PATH]\n"
    "       -- CMD\n"
    "                              run CMD in a new container, or in container ID if it runs\n"
    "  create [--config F] [--bundle DIR] [--init PATH] --id ID\n"
    "                              set a container up, waiting before exec; --init runs PATH\n"
    "                              (a host file, outside the rootfs) instead of args[0]\n"
    "  start --id ID               let a created container exec its process\n"
    "  run [--config F] [--bundle DIR] [--init PATH] [--detach] --id ID   create and start\n"
    "  state --id ID               print the container's state (JSON)\n"
    "  list                        the containers under the root\n"
    "  kill --id ID [--all] [SIG]  signal the init (or every process), default TERM\n"
    "  delete --id ID [--force]    remove a stopped container (--force: kill it first)\n"
    "  ps --id ID                  the pids of the container's processes\n"
    "  pause --id ID | unpause --id ID   freeze or thaw every process\n"
    "  stats --id ID               cpu, memory, pids, blkio and network counters (JSON)\n"
    "  update --id ID [--memory N] [--memory-reservation N] [--memory-swap N]\n"
    "         [--cpu-shares N] [--cpu-quota N] [--cpu-period N] [--cpuset-cpus S]\n"
    "         [--cpuset-mems S] [--pids-limit N] [--blkio-weight N]\n"
    "  oom --id ID [--memory-threshold N]   print a line for each OOM kill (and each time\n"
    "                              memory usage crosses N bytes) until the container exits\n"
    "  checkpoint --id ID --image-path P [--work-path W] [--leave-running]\n"
    "         [--tcp-established] [--ext-unix-sk] [--shell-job]\n"
    "  restore --id ID --image-path P [--work-path W] [...the same flags]\n"
    "  init                        internal (the container init runs inside the library)\n"
    "runc's command line is taken too (nsinit [--root DIR] COMMAND [options] ID, see\n"
    "`nsinit --debug --help`) unless --id, --config or -- is given.\n";

static int die(const cm_err *err)
{
	fprintf(stderr, "nsinit: %s\n", err->msg);
	return 1;
}

static int bad_usage(const char *fmt, const char *what)
{
	fprintf(stderr, "nsinit: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, "\n%s", usage);
	return 2;
}

static int64_t *update_field(struct args *a, const char *name)
{
	static const struct {
		const char *flag;
		size_t off;
	} fields[] = {
	    {"memory", offsetof(struct lc_resources, memory_limit)},
	    {"memory-reservation", offsetof(struct lc_resources, memory_reservation)},
	    {"memory-swap", offsetof(struct lc_resources, memory_swap)},
	    {"cpu-shares", offsetof(struct lc_resources, cpu_shares)},
	    {"cpu-quota", offsetof(struct lc_resources, cpu_quota)},
	    {"cpu-period", offsetof(struct lc_resources, cpu_period)},
	    {"pids-limit", offsetof(struct lc_resources, pids_limit)},
	    {"blkio-weight", offsetof(struct lc_resources, blkio_weight)},
	};
	if (strcmp(name, "memory-threshold") == 0)
		return &a->threshold;
	for (size_t i = 0; i < CM_ARRAY_SIZE(fields); i++)
		if (strcmp(fields[i].flag, name) == 0)
			return (int64_t *)((char *)&a->update + fields[i].off);
	return NULL;
}

/* Options that take a value; returns where to store it, or NULL. */
static const char **string_option(struct args *a, const char *name)
{
	static const struct {
		const char *name;
		size_t off;
	} opts[] = {
	    {"root", offsetof(struct args, root)},
	    {"config", offsetof(struct args, config)},
	    {"id", offsetof(struct args, id)},
	    {"user", offsetof(struct args, user)},
	    {"cwd", offsetof(struct args, cwd)},
	    {"bundle", offsetof(struct args, bundle)},
	    {"image-path", offsetof(struct args, image_path)},
	    {"work-path", offsetof(struct args, work_path)},
	    {"init", offsetof(struct args, init)},
	};
	for (size_t i = 0; i < CM_ARRAY_SIZE(opts); i++)
		if (strcmp(opts[i].name, name) == 0)
			return (const char **)((char *)a + opts[i].off);
	return NULL;
}

static bool *flag_option(struct args *a, const char *name)
{
	if (!strcmp(name, "tty") || !strcmp(name, "t"))
		return &a->tty;
	if (!strcmp(name, "force") || !strcmp(name, "f"))
		return &a->force;
	if (!strcmp(name, "all") || !strcmp(name, "a"))
		return &a->all;
	if (!strcmp(name, "detach") || !strcmp(name, "d"))
		return &a->detach;
	if (!strcmp(name, "help") || !strcmp(name, "h"))
		return &a->help;
	if (!strcmp(name, "leave-running"))
		return &a->criu.leave_running;
	if (!strcmp(name, "tcp-established"))
		return &a->criu.tcp_established;
	if (!strcmp(name, "ext-unix-sk"))
		return &a->criu.ext_unix_sk;
	if (!strcmp(name, "shell-job"))
		return &a->criu.shell_job;
	return NULL;
}

static int set_value(struct args *a, const char *name, const char *value)
{
	const char **s = string_option(a, name);
	int64_t *n = update_field(a, name);
	if (s)
		*s = value;
	else if (!strcmp(name, "env"))
		cm_strv_push(&a->env, &a->n_env, xstrdup(value));
	else if (!strcmp(name, "cpuset-cpus"))
		a->update.cpu_cpus = xstrdup(value), a->has_update = true;
	else if (!strcmp(name, "cpuset-mems"))
		a->update.cpu_mems = xstrdup(value), a->has_update = true;
	else if (n) {
		char *end;
		errno = 0;
		*n = strtoll(value, &end, 10);
		if (errno || *end || end == value)
			return bad_usage("--%s needs a number", name);
		a->has_update = strcmp(name, "memory-threshold") != 0;
	} else
		return bad_usage("unknown option --%s", name);
	return 0;
}

static bool takes_value(struct args *a, const char *name)
{
	return string_option(a, name) || update_field(a, name) || !strcmp(name, "env") ||
	       !strcmp(name, "cpuset-cpus") || !strcmp(name, "cpuset-mems");
}

static int parse_args(int argc, char **argv, struct args *a)
{
	a->update = LC_RESOURCES_UNSET;
	a->rest = xcalloc(1, sizeof(char *));
	for (int i = 1; i < argc; i++) {
		char *arg = argv[i];
		if (strcmp(arg, "--") == 0) {
			while (++i < argc)
				cm_strv_push(&a->rest, &a->n_rest, xstrdup(argv[i]));
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0') {
			if (!a->command)
				a->command = arg;
			else
				cm_strv_push(&a->rest, &a->n_rest, xstrdup(arg));
			continue;
		}
		char name[64];
		const char *p = arg + (arg[1] == '-' ? 2 : 1), *eq = strchr(p, '=');
		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - p) : (int)strlen(p), p);
		bool *flag = flag_option(a, name);
		if (flag && !eq) {
			*flag = true;
			continue;
		}
		if (!takes_value(a, name))
			return bad_usage("unknown option %s", arg);
		const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!value)
			return bad_usage("option %s needs a value", arg);
		int r = set_value(a, name, value);
		if (r)
			return r;
	}
	return 0;
}

static void free_args(struct args *a)
{
	cm_strv_free(a->env);
	cm_strv_free(a->rest);
	free(a->update.cpu_cpus);
	free(a->update.cpu_mems);
}

/* ---- commands ---- */

static int cmd_config(void)
{
	struct lc_config *c = lc_spec_default();
	char *s = lc_config_to_json(c);
	fputs(s, stdout);
	free(s);
	lc_config_free(c);
	return 0;
}

static int load(struct args *a, struct lc_factory **f, struct lc_container **c, cm_err *err)
{
	if (lc_factory_open(a->root, f, err) < 0)
		return -1;
	return lc_container_load(*f, a->id, c, err);
}

/* The config from --config (its directory is the bundle) or the default (the cwd is). */
static int load_config(struct args *a, struct lc_config **cfg, char **bundle, cm_err *err)
{
	if (!a->config) {
		*cfg = lc_spec_default();
		*bundle = xstrdup(a->bundle ? a->bundle : ".");
		return 0;
	}
	if (lc_config_load(a->config, cfg, err) < 0)
		return -1;
	_cleanup_free_ char *copy = xstrdup(a->config);
	*bundle = xstrdup(a->bundle ? a->bundle : dirname(copy));
	return 0;
}

static char *absolute(const char *p)
{
	char *r = realpath(p, NULL);
	return r ? r : xstrdup(p);
}

/* Applies the exec flags (command, env, cwd, user, tty) to a config for a new container. */
static int apply_process_flags(struct args *a, struct lc_config *cfg, const char *bundle,
                               cm_err *err)
{
	struct lc_process *p = &cfg->process;
	if (a->n_rest) {
		cm_strv_free(p->args);
		p->args = cm_strv_dup(a->rest);
	}
	size_t n = cm_strv_len(p->env);
	for (size_t i = 0; i < a->n_env; i++)
		cm_strv_push(&p->env, &n, xstrdup(a->env[i]));
	if (a->cwd) {
		free(p->cwd);
		p->cwd = xstrdup(a->cwd);
	}
	p->terminal = a->tty;
	if (a->tty && isatty(0)) /* the pty starts with the user's window, not 0 x 0 */
		cm_tty_size(0, &p->console_rows, &p->console_cols);
	if (a->user) {
		_cleanup_free_ char *path = cfg->root_path[0] == '/'
		                                ? xstrdup(cfg->root_path)
		                                : xasprintf("%s/%s", bundle, cfg->root_path);
		_cleanup_close_ int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		uid_t uid;
		gid_t gid;
		if (root < 0)
			return cm_err_sys(err, "open the rootfs %s", path);
		if (lc_parse_user(a->user, root, &uid, &gid, err) < 0)
			return -1;
		p->uid = uid;
		p->gid = gid;
	}
	return lc_config_validate(cfg, err);
}

static int exec_join(struct args *a, struct lc_container *c)
{
	cm_err err;
	char **env = NULL;
	size_t n = 0;
	const struct lc_config *cfg = lc_container_config(c);
	if (!cfg) {
		fprintf(stderr, "nsinit: cannot read the config of container %s\n", a->id);
		return 1;
	}
	for (size_t i = 0; cfg->process.env && cfg->process.env[i]; i++)
		cm_strv_push(&env, &n, xstrdup(cfg->process.env[i]));
	for (size_t i = 0; i < a->n_env; i++)
		cm_strv_push(&env, &n, xstrdup(a->env[i]));
	struct lc_exec_opts o = {.args = a->rest,
	                         .env = env,
	                         .cwd = a->cwd,
	                         .user = a->user,
	                         .tty = a->tty,
	                         .stdio = {-1, -1, -1}};
	if (a->tty)
		cm_tty_size(0, &o.rows, &o.cols);
	pid_t pid;
	int pidfd;
	_cleanup_close_ int sigfd = ns_forward_signals();
	int r = lc_container_exec(c, &o, &pid, &pidfd, &err);
	cm_strv_free(env);
	if (r < 0)
		return die(&err);
	struct ns_relay rel;
	ns_relay_start(&rel, o.console_fd);
	ns_wait_process(pidfd, pid, &rel, sigfd);
	ns_relay_stop(&rel);
	struct cm_exit st = {0, 0};
	while (cm_pidfd_reap(pidfd, &st, &err) == 0)
		poll(&(struct pollfd){pidfd, POLLIN, 0}, 1, -1);
	close(pidfd);
	return st.code;
}

/* --init PATH: an executable from outside the rootfs, run with execveat. */
static int open_init(struct args *a, int *fd, cm_err *err)
{
	*fd = -1;
	if (a->init && (*fd = open(a->init, O_RDONLY | O_CLOEXEC)) < 0)
		return cm_err_sys(err, "open %s", a->init);
	return 0;
}

/* A new container for the command: it lives as long as its first process. */
static int exec_new(struct args *a, struct lc_factory *f)
{
	cm_err err;
	struct lc_config *cfg = NULL;
	_cleanup_free_ char *bundle = NULL;
	if (load_config(a, &cfg, &bundle, &err) < 0 ||
	    apply_process_flags(a, cfg, bundle, &err) < 0) {
		lc_config_free(cfg);
		return die(&err);
	}
	_cleanup_free_ char *abs = absolute(bundle);
	_cleanup_close_ int init_fd = -1;
	if (open_init(a, &init_fd, &err) < 0) {
		lc_config_free(cfg);
		return die(&err);
	}
	struct lc_create_opts o = {.bundle = abs, .stdio = {-1, -1, -1}, .init_fd = init_fd};
	struct lc_container *c;
	_cleanup_close_ int sigfd = ns_forward_signals();
	int r = lc_container_run(f, a->id, cfg, &o, &c, &err);
	lc_config_free(cfg);
	if (r < 0)
		return die(&err);
	struct ns_relay rel;
	ns_relay_start(&rel, o.console_fd);
	int pidfd = lc_container_pidfd(c, &err);
	ns_wait_process(pidfd, lc_container_pid(c), &rel, sigfd);
	ns_relay_stop(&rel);
	int code = 0;
	while (lc_container_reap(c, &code, &err) == 0)
		poll(&(struct pollfd){pidfd, POLLIN, 0}, 1, -1);
	/* the first process is gone: everything else in the container goes with it */
	if (lc_container_delete(c, true, &err) < 0)
		fprintf(stderr, "nsinit: %s\n", err.msg);
	lc_container_free(c);
	return code;
}

static int cmd_exec(struct args *a)
{
	cm_err err;
	struct lc_factory *f;
	if (lc_factory_open(a->root, &f, &err) < 0)
		return die(&err);
	struct lc_container *c = NULL;
	int r;
	if (lc_container_load(f, a->id, &c, &err) == 0 && lc_container_status(c) != LC_STOPPED) {
		if (!a->n_rest) {
			lc_container_free(c);
			lc_factory_free(f);
			return bad_usage("exec into a running container needs a command%s", "");
		}
		r = exec_join(a, c);
	} else {
		/* a container whose init died without being deleted is cleaned up first */
		if (c && lc_container_delete(c, true, &err) < 0) {
			lc_container_free(c);
			lc_factory_free(f);
			return die(&err);
		}
		lc_container_free(c);
		c = NULL;
		r = exec_new(a, f);
	}
	lc_container_free(c);
	lc_factory_free(f);
	return r;
}

static int cmd_create_run(struct args *a, bool start)
{
	cm_err err;
	struct lc_factory *f;
	struct lc_config *cfg = NULL;
	_cleanup_free_ char *bundle = NULL;
	if (lc_factory_open(a->root, &f, &err) < 0)
		return die(&err);
	if (load_config(a, &cfg, &bundle, &err) < 0 ||
	    (a->n_rest && apply_process_flags(a, cfg, bundle, &err) < 0)) {
		lc_config_free(cfg);
		lc_factory_free(f);
		return die(&err);
	}
	_cleanup_free_ char *abs = absolute(bundle);
	_cleanup_close_ int init_fd = -1;
	if (open_init(a, &init_fd, &err) < 0) {
		lc_config_free(cfg);
		lc_factory_free(f);
		return die(&err);
	}
	struct lc_create_opts o = {.bundle = abs, .stdio = {-1, -1, -1}, .init_fd = init_fd};
	struct lc_container *c;
	int r = start ? lc_container_run(f, a->id, cfg, &o, &c, &err)
	              : lc_container_create(f, a->id, cfg, &o, &c, &err);
	lc_config_free(cfg);
	if (r < 0) {
		lc_factory_free(f);
		return die(&err);
	}
	int code = 0;
	if (start && !a->detach) {
		int pidfd = lc_container_pidfd(c, &err);
		while (lc_container_reap(c, &code, &err) == 0)
			poll(&(struct pollfd){pidfd, POLLIN, 0}, 1, -1);
		if (lc_container_delete(c, true, &err) < 0)
			fprintf(stderr, "nsinit: %s\n", err.msg);
	}
	if (o.console_fd >= 0)
		close(o.console_fd);
	lc_container_free(c);
	lc_factory_free(f);
	return code;
}

static int print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	puts(s);
	free(s);
	return 0;
}

static int cmd_state(struct lc_container *c)
{
	json_t *cg = json_object();
	const struct lc_cgroup *g = lc_container_cgroup(c);
	for (size_t i = 0; i < g->n; i++)
		json_object_set_new(cg, g->ctrl[i], json_string(g->dir[i]));
	enum lc_status st = lc_container_status(c);
	return print_json(json_pack("{s:s,s:s,s:i,s:s,s:I,s:o}", "id", lc_container_id(c), "status",
	                            lc_status_name(st), "pid",
	                            st == LC_STOPPED ? 0 : (int)lc_container_pid(c), "rootfs",
	                            lc_container_rootfs(c), "created",
	                            (json_int_t)lc_container_created(c), "cgroup_paths", cg));
}

static int cmd_list(struct args *a)
{
	cm_err err;
	struct lc_factory *f;
	char **ids;
	if (lc_factory_open(a->root, &f, &err) < 0 || lc_factory_list(f, &ids, &err) < 0)
		return die(&err);
	for (size_t i = 0; ids[i]; i++) {
		struct lc_container *c;
		if (lc_container_load(f, ids[i], &c, &err) < 0) {
			/* still listed: a container nobody can see is one nobody deletes */
			printf("%s\t0\tunknown\n", ids[i]);
			fprintf(stderr, "nsinit: %s\n", err.msg);
			continue;
		}
		printf("%s\t%d\t%s\n", ids[i], (int)lc_container_pid(c),
		       lc_status_name(lc_container_status(c)));
		lc_container_free(c);
	}
	cm_strv_free(ids);
	lc_factory_free(f);
	return 0;
}

static int cmd_stats(struct lc_container *c, cm_err *err)
{
	struct lc_stats st;
	if (lc_container_stats(c, &st, err) < 0)
		return -1;
	const struct lc_cgroup_stats *g = &st.cg;
	json_t *net = ns_net_stats_json(&st);
	json_t *o = json_pack(
	    "{s:{s:I,s:I,s:I},s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I},s:{s:I,s:I},s:o}", "cpu",
	    "usage_ns", (json_int_t)g->cpu_usage_ns, "user_ns", (json_int_t)g->cpu_user_ns,
	    "system_ns", (json_int_t)g->cpu_system_ns, "memory", "usage",
	    (json_int_t)g->memory_usage, "max_usage", (json_int_t)g->memory_max_usage, "limit",
	    (json_int_t)g->memory_limit, "cache", (json_int_t)g->memory_cache, "rss",
	    (json_int_t)g->memory_rss, "failcnt", (json_int_t)g->memory_failcnt, "oom_kills",
	    (json_int_t)g->oom_kills, "pids", "current", (json_int_t)g->pids_current, "limit",
	    (json_int_t)g->pids_limit, "blkio", "read_bytes", (json_int_t)g->blkio_read_bytes,
	    "write_bytes", (json_int_t)g->blkio_write_bytes, "network", net);
	return print_json(o);
}

/* One line per OOM kill (and threshold crossing), until the container's init exits. */
static int cmd_oom(struct lc_container *c, int64_t threshold, cm_err *err)
{
	int fd, tfd = -1, pidfd = lc_container_pidfd(c, err);
	if (pidfd < 0 || lc_container_oom_fd(c, &fd, err) < 0)
		return -1;
	if (threshold > 0 && lc_container_threshold_fd(c, (uint64_t)threshold, &tfd, err) < 0) {
		close(fd);
		return -1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("watching %s for OOM kills\n", lc_container_id(c));
	for (;;) {
		struct pollfd p[3] = {{fd, POLLIN, 0}, {pidfd, POLLIN, 0}, {tfd, POLLIN, 0}};
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			break;
		char buf[4096];
		if ((p[0].revents & POLLIN) && read(fd, buf, sizeof(buf)) > 0)
			printf("oom: container %s hit its memory limit\n", lc_container_id(c));
		if ((p[2].revents & POLLIN) && read(tfd, buf, sizeof(buf)) > 0)
			printf("threshold: memory usage of %s crossed %lld bytes\n",
			       lc_container_id(c), (long long)threshold);
		if (p[1].revents & POLLIN)
			break;
	}
	close(fd);
	if (tfd >= 0)
		close(tfd);
	return 0;
}

static int cmd_on_container(struct args *a)
{
	cm_err err;
	struct lc_factory *f = NULL;
	struct lc_container *c = NULL;
	int r = 0;
	const char *cmd = a->command;
	if (load(a, &f, &c, &err) < 0) {
		lc_factory_free(f);
		return die(&err);
	}
	if (!strcmp(cmd, "state")) {
		r = cmd_state(c);
	} else if (!strcmp(cmd, "start")) {
		r = lc_container_start(c, &err);
	} else if (!strcmp(cmd, "kill")) {
		int sig = ns_parse_signal(a->n_rest ? a->rest[0] : NULL);
		r = sig < 0 ? cm_err_set(&err, EINVAL, "unknown signal %s", a->rest[0])
		            : lc_container_kill(c, sig, a->all, &err);
	} else if (!strcmp(cmd, "delete")) {
		r = lc_container_delete(c, a->force, &err);
	} else if (!strcmp(cmd, "ps")) {
		_cleanup_free_ pid_t *pids = NULL;
		size_t n;
		r = lc_container_processes(c, &pids, &n, &err);
		for (size_t i = 0; r == 0 && i < n; i++)
			printf("%d\n", (int)pids[i]);
	} else if (!strcmp(cmd, "pause")) {
		r = lc_container_pause(c, &err);
	} else if (!strcmp(cmd, "unpause") || !strcmp(cmd, "resume")) {
		r = lc_container_resume(c, &err);
	} else if (!strcmp(cmd, "stats")) {
		r = cmd_stats(c, &err);
	} else if (!strcmp(cmd, "update")) {
		r = a->has_update ? lc_container_update(c, &a->update, &err)
		                  : cm_err_set(&err, EINVAL, "update: no resource given");
	} else if (!strcmp(cmd, "oom")) {
		r = cmd_oom(c, a->threshold, &err);
	} else if (!strcmp(cmd, "checkpoint") || !strcmp(cmd, "restore")) {
		a->criu.image_path = a->image_path;
		a->criu.work_path = a->work_path;
		if (!a->image_path)
			r = cm_err_set(&err, EINVAL, "%s needs --image-path", cmd);
		else if (!strcmp(cmd, "checkpoint"))
			r = lc_container_checkpoint(c, &a->criu, &err);
		else
			r = lc_container_restore(c, &a->criu, &err);
	}
	lc_container_free(c);
	lc_factory_free(f);
	return r < 0 ? die(&err) : 0;
}

int main(int argc, char **argv)
{
	if (nr_is_runc_dialect(argc, argv))
		return nr_main(argc, argv);
	struct args a = {.root = DEFAULT_ROOT, .id = "nsinit"};
	int r = parse_args(argc, argv, &a);
	if (r) {
		free_args(&a);
		return r;
	}
	const char *cmd = a.command;
	static const char *const on_container[] = {
	    "state",  "start", "kill",   "delete", "ps",         "pause",   "unpause",
	    "resume", "stats", "update", "oom",    "checkpoint", "restore", NULL};
	if (a.help || !cmd || !strcmp(cmd, "help")) {
		fputs(usage, a.help || cmd ? stdout : stderr);
		r = a.help || cmd ? 0 : 2;
	} else if (!strcmp(cmd, "config")) {
		r = cmd_config();
	} else if (!strcmp(cmd, "exec")) {
		r = cmd_exec(&a);
	} else if (!strcmp(cmd, "create") || !strcmp(cmd, "run")) {
		r = cmd_create_run(&a, !strcmp(cmd, "run"));
	} else if (!strcmp(cmd, "list")) {
		r = cmd_list(&a);
	} else if (!strcmp(cmd, "init")) {
		fprintf(stderr, "nsinit: init is internal: the library sets a container up in the "
		                "clone child itself, so there is nothing to run\n");
		r = 2;
	} else {
		r = 2;
		for (size_t i = 0; on_container[i]; i++)
			if (!strcmp(cmd, on_container[i]))
				r = cmd_on_container(&a);
		if (r == 2)
			bad_usage("unknown command %s", cmd);
	}
	free_args(&a);
	return r;
}
