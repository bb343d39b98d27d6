#define _GNU_SOURCE
#include "hsupd/cli.h"
#include "hsupd/release.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

const char hs_cli_usage[] =
    "Usage: hsup [options] COMMAND [options] [args...]\n"
    "\n"
    "Commands:\n"
    "  run CMD...             run a one-off dyno (run.N) and exit with its exit code\n"
    "  start [TYPE[=N]...]    supervise the release's formation (all types at their\n"
    "                         Quantity, or only the named ones: TYPE alone = its Quantity)\n"
    "  build                  run only the dyno driver's build step for the release\n"
    "  status [DYNO|TYPE]     show the dynos of a running hsup (needs -s)\n"
    "  stop DYNO|TYPE...      stop dynos of a running hsup until restarted (needs -s)\n"
    "  restart DYNO|TYPE...   restart dynos of a running hsup (needs -s)\n"
    "  scale TYPE=N...        change how many dynos of a type run (needs -s)\n"
    "  help                   show this help\n"
    "  version                print the version\n"
    "\n"
    "Options:\n"
    "  -d, --dynodriver NAME    simple (default), abspath, libcontainer or docker\n"
    "  -a, --app NAME           the application's name\n"
    "      --oneshot            exit when the dynos end instead of restarting them\n"
    "      --start-number N     number of the first dyno of each type (default 1)\n"
    "  -s, --control-socket P   serve (start, run) or use (status, ...) the control API\n"
    "                           on the unix socket P (default $HSUP_CONTROL_SOCKET)\n"
    "      --logplex-url URL    send dyno logs to logplex at URL (http or https; default\n"
    "                           $HSUP_LOGPLEX_URL, else the release's LogplexURL)\n"
    "      --logplex-only       dyno logs go to logplex only, not to stdout\n"
    "      --api-url URL        the Heroku Platform API (default $HEROKU_API_URL, else\n"
    "                           https://api.heroku.com)\n"
    "      --poll-interval SECS how often to ask the API for changes (default\n"
    "                           $HSUP_POLL_INTERVAL, else 10)\n"
    "      --bind HOST[:DYNO]   bind a host path into isolated dynos (repeatable)\n"
    "      --stop-timeout SECS  time between SIGTERM and SIGKILL when stopping (default 30)\n"
    "      --json               status: print JSON\n"
    "  -h, --help               show this help\n"
    "\n"
    "Environment:\n"
    "  HSUP_CONTROL_DIR       directory holding the release (new, loaded, rejected)\n"
    "  HSUP_CONTROL_SOCKET    default for -s\n"
    "  HEROKU_ACCESS_TOKEN    follow the releases of --app on the Heroku Platform API\n"
    "                         (when HSUP_CONTROL_DIR is not set)\n"
    "  HEROKU_API_URL         default for --api-url\n"
    "  HSUP_POLL_INTERVAL     default for --poll-interval\n"
    "  HSUP_API_TIMEOUT       seconds a request to the API may take (default 30)\n"
    "  HSUP_LOGPLEX_URL       default for --logplex-url\n"
    "  HSUP_LOGPLEX_BUFFER    bytes of dyno logs held for logplex (default 8M; k, M)\n"
    "  HSUP_LOGPLEX_FLUSH_TIMEOUT  seconds to deliver them at exit (default 5)\n";

enum {
	OPT_ONESHOT = 256,
	OPT_START_NUMBER,
	OPT_LOGPLEX,
	OPT_LOGPLEX_ONLY,
	OPT_BIND,
	OPT_STOP_TIMEOUT,
	OPT_JSON,
	OPT_API_URL,
	OPT_POLL_INTERVAL,
};

static const struct option long_opts[] = {
    {"dynodriver", required_argument, NULL, 'd'},
    {"app", required_argument, NULL, 'a'},
    {"oneshot", no_argument, NULL, OPT_ONESHOT},
    {"start-number", required_argument, NULL, OPT_START_NUMBER},
    {"control-socket", required_argument, NULL, 's'},
    {"logplex-url", required_argument, NULL, OPT_LOGPLEX},
    {"logplex-only", no_argument, NULL, OPT_LOGPLEX_ONLY},
    {"bind", required_argument, NULL, OPT_BIND},
    {"stop-timeout", required_argument, NULL, OPT_STOP_TIMEOUT},
    {"json", no_argument, NULL, OPT_JSON},
    {"api-url", required_argument, NULL, OPT_API_URL},
    {"poll-interval", required_argument, NULL, OPT_POLL_INTERVAL},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct {
	const char *name;
	enum hs_command cmd;
} commands[] = {
    {"run", HS_CMD_RUN},   {"start", HS_CMD_START},     {"build", HS_CMD_BUILD},
    {"help", HS_CMD_HELP}, {"version", HS_CMD_VERSION}, {"status", HS_CMD_STATUS},
    {"stop", HS_CMD_STOP}, {"restart", HS_CMD_RESTART}, {"scale", HS_CMD_SCALE},
};

static int parse_int(const char *s, const char *what, long min, long max, long *out, cm_err *err)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < min || v > max)
		return cm_err_set(err, EINVAL, "%s \"%s\" must be a whole number from %ld to %ld",
		                  what, s, min, max);
	*out = v;
	return 0;
}

static int parse_seconds(const char *s, const char *what, double min, double *out, cm_err *err)
{
	char *end;
	double v = strtod(s, &end);
	if (end != s && *end == 's')
		end++;
	if (end == s || *end || !(v >= min && v <= 86400))
		return cm_err_set(err, EINVAL,
		                  "%s \"%s\" must be a number of seconds from %g to 86400", what, s,
		                  min);
	*out = v;
	return 0;
}

static int set_api_url(struct hs_cli *cli, const char *url, const char *what, cm_err *err)
{
	if (hs_validate_url(url, what, err) < 0)
		return -1;
	free(cli->api_url);
	cli->api_url = xstrdup(url);
	return 0;
}

static int parse_bind(const char *s, cm_err *err)
{
	const char *colon = strchr(s, ':');
	if (s[0] != '/' || (colon && colon[1] != '/'))
		return cm_err_set(err, EINVAL,
		                  "--bind \"%s\" must be HOST[:DYNO] with absolute paths", s);
	return 0;
}

int hs_cli_parse_scale(const char *word, struct hs_scale *out, cm_err *err)
{
	const char *eq = strchr(word, '=');
	char *type = eq ? xstrndup(word, (size_t)(eq - word)) : xstrdup(word);
	long n = -1;
	if (!hs_valid_process_type(type)) {
		cm_err_set(err, EINVAL,
		           "\"%s\" is not a process type (1 to 128 letters, digits, '_' or '-')",
		           type);
		free(type);
		return -1;
	}
	if (eq && parse_int(eq + 1, type, 0, 100000, &n, err) < 0) {
		free(type);
		return -1;
	}
	*out = (struct hs_scale){.type = type, .count = (int)n};
	return 0;
}

static int take_option(struct hs_cli *cli, int c, const char *arg, cm_err *err)
{
	long n;
	switch (c) {
	case 'd':
		free(cli->driver);
		cli->driver = xstrdup(arg);
		return 0;
	case 'a':
		free(cli->app);
		cli->app = xstrdup(arg);
		return 0;
	case 's':
		free(cli->socket);
		cli->socket = xstrdup(arg);
		return 0;
	case OPT_ONESHOT:
		cli->oneshot = true;
		return 0;
	case OPT_JSON:
		cli->json = true;
		return 0;
	case OPT_START_NUMBER:
		if (parse_int(arg, "--start-number", 0, 1000000, &n, err) < 0)
			return -1;
		cli->start_number = (int)n;
		return 0;
	case OPT_LOGPLEX:
		if (hs_validate_url(arg, "--logplex-url", err) < 0)
			return -1;
		free(cli->logplex_url);
		cli->logplex_url = xstrdup(arg);
		return 0;
	case OPT_LOGPLEX_ONLY:
		cli->logplex_only = true;
		return 0;
	case OPT_BIND:
		if (parse_bind(arg, err) < 0)
			return -1;
		cm_strv_push(&cli->binds, &cli->nbinds, xstrdup(arg));
		return 0;
	case OPT_STOP_TIMEOUT:
		return parse_seconds(arg, "--stop-timeout", 0, &cli->stop_timeout, err);
	case OPT_API_URL:
		return set_api_url(cli, arg, "--api-url", err);
	case OPT_POLL_INTERVAL:
		return parse_seconds(arg, "--poll-interval", 0.05, &cli->poll_interval, err);
	case 'h':
		cli->cmd = HS_CMD_HELP;
		return 0;
	}
	return cm_err_set(err, EINVAL, "unexpected option");
}

static int take_word(struct hs_cli *cli, const char *word, cm_err *err)
{
	if (cli->cmd_name || cli->cmd == HS_CMD_HELP) {
		cm_strv_push(&cli->args, &cli->nargs, xstrdup(word));
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, word) == 0) {
			cli->cmd = commands[i].cmd;
			cli->cmd_name = commands[i].name;
			return 0;
		}
	return cm_err_set(err, EINVAL, "unknown command \"%s\"", word);
}

static int bad_option(int c, int opt, char **argv, cm_err *err)
{
	const char *word = argv[optind - 1];
	if (c == ':')
		return cm_err_set(err, EINVAL, "option %s needs a value", word);
	if (opt)
		return cm_err_set(err, EINVAL,
		                  "unknown option -%c (to pass options to a command, "
		                  "put it after --: hsup run -- CMD -%c)",
		                  opt, opt);
	return cm_err_set(err, EINVAL,
	                  "unknown option %s (to pass options to a command, put it "
	                  "after --: hsup run -- CMD %s)",
	                  word, word);
}

static int scan(int argc, char **argv, struct hs_cli *cli, cm_err *err)
{
	int c;
	opterr = 0;
	optind = 0; /* also resets getopt's state between calls */
	while ((c = getopt_long(argc, argv, "-:d:a:s:h", long_opts, NULL)) != -1) {
		if (c == 1) {
			if (take_word(cli, optarg, err) < 0)
				return -1;
		} else if (c == '?' || c == ':') {
			return bad_option(c, optopt, argv, err);
		} else if (take_option(cli, c, optarg, err) < 0) {
			return -1;
		}
	}
	for (int i = optind; i < argc; i++) /* after -- */
		cm_strv_push(&cli->args, &cli->nargs, xstrdup(argv[i]));
	return 0;
}

static int check_scale_args(struct hs_cli *cli, bool need_count, cm_err *err)
{
	cli->scale = xcalloc(cli->nargs + 1, sizeof(*cli->scale));
	for (size_t i = 0; i < cli->nargs; i++) {
		if (hs_cli_parse_scale(cli->args[i], &cli->scale[i], err) < 0)
			return cm_err_wrap(err, "%s", cli->cmd_name);
		cli->nscale = i + 1;
		if (need_count && cli->scale[i].count < 0)
			return cm_err_set(err, EINVAL, "scale: \"%s\" needs a count: TYPE=N",
			                  cli->args[i]);
	}
	return 0;
}

static int check_args(struct hs_cli *cli, cm_err *err)
{
	switch (cli->cmd) {
	case HS_CMD_NONE:
		return cm_err_set(err, EINVAL, "no command given");
	case HS_CMD_RUN:
		if (cli->nargs == 0)
			return cm_err_set(err, EINVAL,
			                  "run: no command given (hsup run -- CMD...)");
		return 0;
	case HS_CMD_START:
		return check_scale_args(cli, false, err);
	case HS_CMD_SCALE:
		if (cli->nargs == 0)
			return cm_err_set(err, EINVAL, "scale: say what to scale: TYPE=N...");
		return check_scale_args(cli, true, err);
	case HS_CMD_STOP:
	case HS_CMD_RESTART:
		if (cli->nargs == 0)
			return cm_err_set(err, EINVAL,
			                  "%s: name a dyno (web.1) or a process type (web)",
			                  cli->cmd_name);
		return 0;
	case HS_CMD_STATUS:
		if (cli->nargs > 1)
			return cm_err_set(err, EINVAL, "status: at most one dyno or type");
		return 0;
	case HS_CMD_BUILD:
	case HS_CMD_VERSION:
		if (cli->nargs > 0)
			return cm_err_set(err, EINVAL, "%s takes no arguments", cli->cmd_name);
		return 0;
	case HS_CMD_HELP:
		return 0;
	}
	return 0;
}

int hs_cli_parse(int argc, char **argv, struct hs_cli *cli, cm_err *err)
{
	*cli = (struct hs_cli){.driver = xstrdup("simple"), .start_number = 1, .stop_timeout = 30};
	cli->args = xcalloc(1, sizeof(char *));
	cli->binds = xcalloc(1, sizeof(char *));
	const char *sock = getenv("HSUP_CONTROL_SOCKET");
	if (sock && *sock)
		cli->socket = xstrdup(sock);
	const char *api = getenv("HEROKU_API_URL"), *every = getenv("HSUP_POLL_INTERVAL");
	if (set_api_url(cli, api && *api ? api : "https://api.heroku.com", "HEROKU_API_URL", err) <
	    0)
		return -1;
	cli->poll_interval = 10;
	if (every && *every &&
	    parse_seconds(every, "HSUP_POLL_INTERVAL", 0.05, &cli->poll_interval, err) < 0)
		return -1;
	const char *timeout = getenv("HSUP_API_TIMEOUT");
	cli->api_timeout = 30;
	if (timeout && *timeout &&
	    parse_seconds(timeout, "HSUP_API_TIMEOUT", 0.1, &cli->api_timeout, err) < 0)
		return -1;
	if (scan(argc, argv, cli, err) < 0)
		return -1;
	return check_args(cli, err);
}

void hs_cli_free(struct hs_cli *cli)
{
	free(cli->driver);
	free(cli->app);
	free(cli->socket);
	free(cli->logplex_url);
	free(cli->api_url);
	cm_strv_free(cli->binds);
	cm_strv_free(cli->args);
	for (size_t i = 0; i < cli->nscale; i++)
		free(cli->scale[i].type);
	free(cli->scale);
}
