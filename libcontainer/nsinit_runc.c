/* runc's command line: which dialect argv speaks, and its arguments. Global options stand
 * before the command word, the command's options before the container id (as runc's flag
 * parser reads them), and what follows the id is an operand: kill's signal, exec's command. */
#define _GNU_SOURCE
#include "libcontainer/nsinit_runc.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: nsinit [global options] COMMAND [options] ID [ARGS...]   (runc's command line)\n"
    "global options: --root DIR (default " NR_DEFAULT_ROOT "), --log FILE,\n"
    "  --log-format text|json, --debug, --systemd-cgroup (refused: not supported)\n"
    "commands:\n"
    "  create [--bundle DIR] [--pid-file F] [--console-socket S] [--preserve-fds N]\n"
    "         [--no-pivot] [--no-new-keyring] ID\n"
    "  run [--bundle DIR] [--detach] [--pid-file F] [--console-socket S] ID\n"
    "  start ID | state ID | pause ID | resume ID | delete [--force] ID\n"
    "  kill [--all] ID [SIGNAL]        SIGNAL: a number, TERM or SIGTERM (default)\n"
    "  exec [--process FILE] [--detach] [--pid-file F] [--console-socket S] [--tty]\n"
    "       [--cwd D] [--env K=V]... [--user U] [--preserve-fds N] ID [CMD ARGS...]\n"
    "  ps [--format table|json] ID\n"
    "  events [--stats] [--interval 5s] ID\n"
    "  update [--resources FILE|-] [--memory N] [--cpu-shares N] ... ID\n"
    "  list [--format table|json] [--quiet]\n"
    "  features                        what this runtime supports (JSON)\n"
    "  --version, --help\n"
    "nsinit's own dialect (`nsinit --help`) is taken when --id, --config or -- is given.\n";

enum nr_kind {
	NR_STR,
	NR_BOOL,
	NR_INT,
	NR_ENV,
	NR_LIMIT,
	NR_CPUSET
};

struct nr_opt {
	const char *name, *alias;
	enum nr_kind kind;
	size_t off;       /* in struct nr_args, or in struct lc_resources for NR_LIMIT */
	const char *cmds; /* the commands that take it, space-separated; NULL: global */
};

#define A(f)  offsetof(struct nr_args, f)
#define R(f)  offsetof(struct lc_resources, f)
#define UPD   " update "
#define CREAT " create run "

static const struct nr_opt opts[] = {
    {"root", NULL, NR_STR, A(root), NULL},
    {"log", NULL, NR_STR, A(log), NULL},
    {"log-format", NULL, NR_STR, A(log_format), NULL},
    {"criu", NULL, NR_STR, A(criu), NULL},
    {"rootless", NULL, NR_STR, A(rootless), NULL},
    {"debug", NULL, NR_BOOL, A(debug), NULL},
    {"systemd-cgroup", NULL, NR_BOOL, A(systemd_cgroup), NULL},
    {"version", "v", NR_BOOL, A(version), NULL},
    {"help", "h", NR_BOOL, A(help), NULL},
    {"help", "h", NR_BOOL, A(help), " * "},
    {"bundle", "b", NR_STR, A(bundle), CREAT},
    {"pid-file", NULL, NR_STR, A(pid_file), CREAT "exec "},
    {"console-socket", NULL, NR_STR, A(console_socket), CREAT "exec "},
    {"preserve-fds", NULL, NR_INT, A(preserve_fds), CREAT "exec "},
    {"no-pivot", NULL, NR_BOOL, A(no_pivot), CREAT},
    {"no-new-keyring", NULL, NR_BOOL, A(no_new_keyring), CREAT},
    {"detach", "d", NR_BOOL, A(detach), " run exec "},
    {"keep", NULL, NR_BOOL, A(keep), " run "},
    {"process", "p", NR_STR, A(process), " exec "},
    {"tty", "t", NR_BOOL, A(tty), " exec "},
    {"cwd", NULL, NR_STR, A(cwd), " exec "},
    {"env", "e", NR_ENV, 0, " exec "},
    {"user", "u", NR_STR, A(user), " exec "},
    {"all", "a", NR_BOOL, A(all), " kill "},
    {"force", "f", NR_BOOL, A(force), " delete "},
    {"format", "f", NR_STR, A(format), " ps list "},
    {"quiet", "q", NR_BOOL, A(quiet), " list "},
    {"stats", NULL, NR_BOOL, A(stats), " events "},
    {"interval", NULL, NR_STR, A(interval), " events "},
    {"resources", "r", NR_STR, A(resources), UPD},
    {"memory", NULL, NR_LIMIT, R(memory_limit), UPD},
    {"memory-reservation", NULL, NR_LIMIT, R(memory_reservation), UPD},
    {"memory-swap", NULL, NR_LIMIT, R(memory_swap), UPD},
    {"cpu-shares", NULL, NR_LIMIT, R(cpu_shares), UPD},
    {"cpu-quota", NULL, NR_LIMIT, R(cpu_quota), UPD},
    {"cpu-period", NULL, NR_LIMIT, R(cpu_period), UPD},
    {"pids-limit", NULL, NR_LIMIT, R(pids_limit), UPD},
    {"blkio-weight", NULL, NR_LIMIT, R(blkio_weight), UPD},
    {"cpuset-cpus", NULL, NR_CPUSET, R(cpu_cpus), UPD},
    {"cpuset-mems", NULL, NR_CPUSET, R(cpu_mems), UPD},
};

/* ---- which dialect ---- */

static bool in_list(const char *const *list, const char *s)
{
	for (size_t i = 0; list[i]; i++)
		if (strcmp(list[i], s) == 0)
			return true;
	return false;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The name of an option argument (without dashes and "=value") into buf. */
static const char *option_name(const char *arg, char *buf, size_t size)
{
	const char *p = arg + (arg[1] == '-' ? 2 : 1), *eq = strchr(p, '=');
	snprintf(buf, size, "%.*s", eq ? (int)(eq - p) : (int)strlen(p), p);
	return buf;
}

/* Options of either dialect that take their value from the next argument. */
static bool takes_next(const char *arg, const char *name)
{
	static const char *const nsinit_values[] = {"root",
	                                            "config",
	                                            "id",
	                                            "user",
	                                            "cwd",
	                                            "bundle",
	                                            "image-path",
	                                            "work-path",
	                                            "init",
	                                            "env",
	                                            "memory-threshold",
	                                            NULL};
	if (strchr(arg, '='))
		return false;
	if (in_list(nsinit_values, name))
		return true;
	for (size_t i = 0; i < CM_ARRAY_SIZE(opts); i++)
		if (opts[i].kind != NR_BOOL && (!strcmp(opts[i].name, name) ||
		                                (opts[i].alias && !strcmp(opts[i].alias, name))))
			return strcmp(name, "f") != 0; /* -f: delete's --force, or --format */
	return false;
}

/* runc's dialect when invoked as runc or *-runc; nsinit's when --id, --config or -- is given,
 * or for a command only nsinit has; else runc's when a runc-only global option is given, the
 * command is features or events, or an operand (the id) follows the command word. */
bool nr_is_runc_dialect(int argc, char **argv)
{
	static const char *const nsinit_only[] = {"config",     "stats",   "unpause", "oom",
	                                          "checkpoint", "restore", "init",    NULL};
	static const char *const runc_only[] = {
	    "log",     "log-format", "debug", "systemd-cgroup", "rootless", "criu",
	    "version", "v",          NULL};
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (!strcmp(base, "runc") || ends_with(base, "-runc"))
		return true;
	const char *command = NULL;
	bool runc = false;
	for (int i = 1; i < argc; i++) {
		char name[64];
		if (!strcmp(argv[i], "--"))
			return false;
		if (argv[i][0] == '-' && argv[i][1]) {
			option_name(argv[i], name, sizeof(name));
			if (!strcmp(name, "id") || !strcmp(name, "config"))
				return false;
			runc |= in_list(runc_only, name);
			i += takes_next(argv[i], name);
		} else if (!command) {
			command = argv[i];
			if (in_list(nsinit_only, command))
				return false;
			runc |= !strcmp(command, "features") || !strcmp(command, "events");
		} else {
			runc = true;
		}
	}
	return runc;
}

/* ---- parsing ---- */

static const struct nr_opt *find_opt(const char *name, const char *cmd)
{
	char key[80];
	snprintf(key, sizeof(key), " %s ", cmd ? cmd : "");
	for (size_t i = 0; i < CM_ARRAY_SIZE(opts); i++) {
		const struct nr_opt *o = &opts[i];
		bool named = !strcmp(o->name, name) || (o->alias && !strcmp(o->alias, name));
		bool ours =
		    cmd ? o->cmds && (strstr(o->cmds, key) || !strcmp(o->cmds, " * ")) : !o->cmds;
		if (named && ours)
			return o;
	}
	return NULL;
}

static int parse_number(const char *flag, const char *value, int64_t *out, cm_err *err)
{
	char *end;
	errno = 0;
	long long n = strtoll(value, &end, 10);
	if (errno || *end || end == value)
		return cm_err_set(err, EINVAL, "invalid value \"%s\" for flag -%s", value, flag);
	*out = n;
	return 0;
}

static int set_opt(struct nr_args *a, const struct nr_opt *o, const char *value, cm_err *err)
{
	char *base = (char *)a;
	switch (o->kind) {
	case NR_BOOL:
		if (value && strcmp(value, "true") && strcmp(value, "false"))
			return cm_err_set(err, EINVAL, "invalid boolean \"%s\" for -%s", value,
			                  o->name);
		*(bool *)(base + o->off) = !value || !strcmp(value, "true");
		return 0;
	case NR_STR:
		*(const char **)(base + o->off) = value;
		return 0;
	case NR_INT:
		return parse_number(o->name, value, (int64_t *)(base + o->off), err);
	case NR_ENV:
		cm_strv_push(&a->env, &a->n_env, xstrdup(value));
		return 0;
	case NR_LIMIT:
		a->has_update = true;
		return parse_number(o->name, value, (int64_t *)((char *)&a->update + o->off), err);
	case NR_CPUSET:
		a->has_update = true;
		*(char **)((char *)&a->update + o->off) = xstrdup(value);
		return 0;
	}
	return 0;
}

/* One option at argv[*i] (its value may be the next argument). */
static int parse_opt(struct nr_args *a, int argc, char **argv, int *i, cm_err *err)
{
	char name[64];
	const char *arg = argv[*i], *eq = strchr(arg, '=');
	const struct nr_opt *o = find_opt(option_name(arg, name, sizeof(name)), a->command);
	if (!o)
		return cm_err_set(err, EINVAL, "flag provided but not defined: -%s%s%s", name,
		                  a->command ? " for command " : "", a->command ? a->command : "");
	const char *value = eq ? eq + 1 : NULL;
	if (!value && o->kind != NR_BOOL) {
		if (*i + 1 >= argc)
			return cm_err_set(err, EINVAL, "flag needs an argument: -%s", name);
		value = argv[++*i];
	}
	return set_opt(a, o, value, err);
}

static bool is_option(const char *arg)
{
	return arg[0] == '-' && arg[1] != '\0';
}

static int parse(int argc, char **argv, struct nr_args *a, cm_err *err)
{
	int i = 1;
	for (; i < argc && is_option(argv[i]); i++)
		if (parse_opt(a, argc, argv, &i, err) < 0)
			return -1;
	if (i < argc)
		a->command = argv[i++];
	for (; i < argc && is_option(argv[i]); i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (parse_opt(a, argc, argv, &i, err) < 0)
			return -1;
	}
	if (i < argc)
		a->id = argv[i++];
	for (; i < argc; i++)
		cm_strv_push(&a->rest, &a->n_rest, xstrdup(argv[i]));
	return 0;
}

static void args_init(struct nr_args *a)
{
	memset(a, 0, sizeof(*a));
	a->root = NR_DEFAULT_ROOT;
	a->rest = xcalloc(1, sizeof(char *));
	a->update = LC_RESOURCES_UNSET;
}

static void args_free(struct nr_args *a)
{
	cm_strv_free(a->env);
	cm_strv_free(a->rest);
	free(a->update.cpu_cpus);
	free(a->update.cpu_mems);
}

/* ---- dispatch ---- */

/* What the global options ask that this runtime cannot do. */
static int check_globals(const struct nr_args *a, cm_err *err)
{
	if (a->systemd_cgroup)
		return cm_err_set(
		    err, ENOTSUP,
		    "--systemd-cgroup: the systemd cgroup driver is not supported "
		    "(no systemd here); use cgroupfs (containerd: SystemdCgroup = false)");
	if (a->rootless && strcmp(a->rootless, "false") && strcmp(a->rootless, "auto"))
		return cm_err_set(err, ENOTSUP, "--rootless=%s: rootless mode is not supported",
		                  a->rootless);
	if (a->log_format && strcmp(a->log_format, "text") && strcmp(a->log_format, "json"))
		return cm_err_set(err, EINVAL, "invalid log-format: %s", a->log_format);
	return 0;
}

static int need_id(const struct nr_args *a, cm_err *err)
{
	if (!a->id)
		return cm_err_set(err, EINVAL, "\"%s\" requires a container id", a->command);
	return 0;
}

static int dispatch(struct nr_args *a)
{
	static const char *const on_container[] = {"start",  "state",  "kill",   "ps", "pause",
	                                           "resume", "events", "update", NULL};
	const char *cmd = a->command;
	cm_err err;
	if (!strcmp(cmd, "features"))
		return nr_cmd_features();
	if (!strcmp(cmd, "list"))
		return nr_cmd_list(a);
	if (!in_list(on_container, cmd) && strcmp(cmd, "create") && strcmp(cmd, "run") &&
	    strcmp(cmd, "exec") && strcmp(cmd, "delete")) {
		cm_err_set(&err, EINVAL, "unknown command %s (see nsinit --help)", cmd);
		return nr_fail(&err);
	}
	if (need_id(a, &err) < 0)
		return nr_fail(&err);
	nr_log_debug("%s %s", cmd, a->id);
	if (!strcmp(cmd, "create") || !strcmp(cmd, "run"))
		return nr_cmd_create_run(a, !strcmp(cmd, "run"));
	if (!strcmp(cmd, "exec"))
		return nr_cmd_exec(a);
	if (!strcmp(cmd, "delete"))
		return nr_cmd_delete(a);
	return nr_cmd_on_container(a);
}

int nr_main(int argc, char **argv)
{
	struct nr_args a;
	cm_err err;
	args_init(&a);
	int r = parse(argc, argv, &a, &err);
	nr_log_open(&a);
	if (r < 0 || check_globals(&a, &err) < 0)
		r = nr_fail(&err);
	else if (a.version)
		nr_print_version();
	else if (a.help || !a.command || !strcmp(a.command, "help"))
		fputs(usage, a.command || a.help ? stdout : stderr),
		    r = a.command || a.help ? 0 : 1;
	else
		r = dispatch(&a);
	args_free(&a);
	return r;
}
