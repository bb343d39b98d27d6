/* The command line, compatible with the Go hsup: `hsup [options] COMMAND [options] [args...]`,
 * options anywhere before `--`. */
#ifndef HS_CLI_H
#define HS_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "hsupd/supervisor.h"

enum hs_command {
	HS_CMD_NONE,
	HS_CMD_RUN,
	HS_CMD_START,
	HS_CMD_BUILD,
	HS_CMD_HELP,
	HS_CMD_VERSION,
	HS_CMD_STATUS,
	HS_CMD_STOP,
	HS_CMD_RESTART,
	HS_CMD_SCALE,
};

struct hs_cli {
	enum hs_command cmd;
	const char *cmd_name;
	char *driver;
	char *app;
	bool oneshot;
	int start_number;
	char *socket;
	char *logplex_url;
	bool logplex_only;
	char *api_url;        /* the Heroku Platform API */
	double poll_interval; /* seconds between polls of it */
	double api_timeout;   /* seconds a request to it may take */
	char **binds;
	size_t nbinds;
	double stop_timeout;
	bool json;
	char **args; /* the words after the command */
	size_t nargs;
	struct hs_scale *scale; /* start/scale: type[=N] */
	size_t nscale;
};

/* Fills cli from argv and the environment (HSUP_CONTROL_SOCKET). A usage error sets err;
 * hsup then prints it with a hint and exits 2. */
int hs_cli_parse(int argc, char **argv, struct hs_cli *cli, cm_err *err);
void hs_cli_free(struct hs_cli *cli);
/* Parses "type" or "type=N" (N = -1 when absent). */
int hs_cli_parse_scale(const char *word, struct hs_scale *out, cm_err *err);
extern const char hs_cli_usage[];

#endif
