#define _GNU_SOURCE
#include "control/client.h"
#include "control/http_unix.h"
#include "hsupd/cli.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define TIMEOUT_MS 30000

/* Sends one request and parses the JSON answer. Returns 0 with *doc set, or the exit code
 * after saying what went wrong (hsup unreachable, or the API's error). */
static int call(const struct hs_cli *cli, const char *method, const char *path, const char *body,
                json_t **doc)
{
	struct hs_http_response r;
	cm_err err;
	if (hs_http_unix(cli->socket, method, path, body, TIMEOUT_MS, &r, &err) < 0) {
		fprintf(stderr, "hsup: cannot reach hsup on %s: %s\n", cli->socket, err.msg);
		return 1;
	}
	*doc = json_loads(r.body, 0, NULL);
	if (r.status == 200 && *doc) {
		free(r.body);
		return 0;
	}
	const char *msg = json_string_value(json_object_get(*doc, "Error"));
	fprintf(stderr, "hsup: %s\n", msg ? msg : r.body);
	json_decref(*doc);
	free(r.body);
	return 1;
}

static void format_duration(double secs, char *buf, size_t n)
{
	long s = (long)secs;
	if (s >= 3600)
		snprintf(buf, n, "%ldh%02ldm", s / 3600, s / 60 % 60);
	else if (s >= 60)
		snprintf(buf, n, "%ldm%02lds", s / 60, s % 60);
	else
		snprintf(buf, n, "%lds", s);
}

static void format_exit(json_t *d, char *buf, size_t n)
{
	json_t *x = json_object_get(d, "LastExit");
	if (!json_is_object(x)) {
		snprintf(buf, n, "-");
		return;
	}
	char ago[32];
	const char *sig = json_string_value(json_object_get(x, "Signal"));
	const char *error = json_string_value(json_object_get(x, "Error"));
	format_duration(json_number_value(json_object_get(x, "SecondsAgo")), ago, sizeof(ago));
	if (error)
		snprintf(buf, n, "failed to start, %s ago: %s", ago, error);
	else if (sig)
		snprintf(buf, n, "SIG%s, %s ago", sig, ago);
	else
		snprintf(buf, n, "code %d, %s ago",
		         (int)json_integer_value(json_object_get(x, "Code")), ago);
	json_t *next = json_object_get(d, "NextRestartIn");
	if (json_is_number(next)) {
		size_t l = strlen(buf);
		snprintf(buf + l, n - l, " (restart in %.0fs)", json_number_value(next));
	}
}

static bool wanted(json_t *d, const char *filter)
{
	return !filter || strcmp(json_string_value(json_object_get(d, "Name")), filter) == 0 ||
	       strcmp(json_string_value(json_object_get(d, "Type")), filter) == 0;
}

static void print_table(json_t *list, const char *filter)
{
	size_t i;
	json_t *d;
	printf("%-16s %-10s %-8s %-8s %-8s %s\n", "DYNO", "STATE", "PID", "RESTARTS", "UPTIME",
	       "LAST EXIT");
	json_array_foreach (list, i, d) {
		if (!wanted(d, filter))
			continue;
		char pid[16] = "-", up[32] = "-", last[512];
		if (json_is_integer(json_object_get(d, "Pid")))
			snprintf(pid, sizeof(pid), "%lld",
			         (long long)json_integer_value(json_object_get(d, "Pid")));
		if (json_is_number(json_object_get(d, "Uptime")))
			format_duration(json_number_value(json_object_get(d, "Uptime")), up,
			                sizeof(up));
		format_exit(d, last, sizeof(last));
		printf("%-16s %-10s %-8s %-8lld %-8s %s\n",
		       json_string_value(json_object_get(d, "Name")),
		       json_string_value(json_object_get(d, "State")), pid,
		       (long long)json_integer_value(json_object_get(d, "Restarts")), up, last);
	}
}

/* When hsup follows an app on the Platform API: one line on where it stands. */
static void print_poller(const struct hs_cli *cli)
{
	struct hs_http_response r;
	cm_err err;
	if (hs_http_unix(cli->socket, "GET", "/poller", NULL, TIMEOUT_MS, &r, &err) < 0)
		return;
	json_t *p = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
	free(r.body);
	if (!p)
		return;
	json_t *applied = json_object_get(p, "applied_version");
	const char *error = json_string_value(json_object_get(p, "last_error"));
	printf("\nfollowing %s on %s (%s): ", json_string_value(json_object_get(p, "app")),
	       json_string_value(json_object_get(p, "api_url")),
	       json_string_value(json_object_get(p, "state")));
	if (json_is_integer(applied))
		printf("release v%lld applied", (long long)json_integer_value(applied));
	else
		printf("no release applied yet");
	printf(", last poll %s\n", json_string_value(json_object_get(p, "last_poll")) ?: "never");
	if (error && json_integer_value(json_object_get(p, "failures")) > 0)
		printf("failing (%lld in a row): %s\n",
		       (long long)json_integer_value(json_object_get(p, "failures")), error);
	json_decref(p);
}

static int status_cmd(const struct hs_cli *cli)
{
	json_t *doc;
	int code = call(cli, "GET", "/dynos", NULL, &doc);
	if (code)
		return code;
	json_t *list = json_object_get(doc, "Dynos");
	const char *filter = cli->nargs ? cli->args[0] : NULL;
	const char *note =
	    json_string_value(json_object_get(json_object_get(doc, "Release"), "Note"));
	if (note)
		fprintf(stderr, "hsup: warning: %s\n", note);
	if (cli->json) {
		json_t *out = json_array();
		size_t i;
		json_t *d;
		json_array_foreach (list, i, d)
			if (wanted(d, filter))
				json_array_append(out, d);
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
		json_decref(out);
	} else {
		print_table(list, filter);
		if (!filter)
			print_poller(cli);
	}
	json_decref(doc);
	return 0;
}

static int act_cmd(const struct hs_cli *cli, const char *action)
{
	int code = 0;
	for (size_t i = 0; i < cli->nargs; i++) {
		json_t *doc;
		_cleanup_free_ char *path = xasprintf("/dynos/%s/%s", cli->args[i], action);
		if (call(cli, "POST", path, "", &doc) != 0) {
			code = 1;
			continue;
		}
		int n = (int)json_integer_value(json_object_get(doc, "Dynos"));
		printf("%s: %s %d dyno%s\n", cli->args[i],
		       strcmp(action, "stop") == 0 ? "stopping" : "restarting", n,
		       n == 1 ? "" : "s");
		json_decref(doc);
	}
	return code;
}

static int scale_cmd(const struct hs_cli *cli)
{
	json_t *req = json_object(), *doc;
	for (size_t i = 0; i < cli->nscale; i++)
		json_object_set_new(req, cli->scale[i].type, json_integer(cli->scale[i].count));
	_cleanup_free_ char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	int code = call(cli, "POST", "/control/scale", body, &doc);
	if (code)
		return code;
	size_t i;
	json_t *f;
	json_array_foreach (json_object_get(doc, "Formation"), i, f)
		printf("%s=%lld\n", json_string_value(json_object_get(f, "Type")),
		       (long long)json_integer_value(json_object_get(f, "Quantity")));
	json_decref(doc);
	return 0;
}

int hs_client_main(const struct hs_cli *cli)
{
	if (!cli->socket) {
		fprintf(stderr,
		        "hsup: %s needs the control socket of a running hsup: -s PATH or "
		        "HSUP_CONTROL_SOCKET\n",
		        cli->cmd_name);
		return 2;
	}
	int code;
	switch (cli->cmd) {
	case HS_CMD_STATUS:
		code = status_cmd(cli);
		break;
	case HS_CMD_STOP:
		code = act_cmd(cli, "stop");
		break;
	case HS_CMD_RESTART:
		code = act_cmd(cli, "restart");
		break;
	default:
		code = scale_cmd(cli);
		break;
	}
	return code;
}
