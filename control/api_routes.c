#define _GNU_SOURCE
#include "control/api_routes.h"
#include "hsupd/release.h"
#include "hsupd/supervisor.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#define JSON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

static void reply_json(struct hs_reply *r, int status, json_t *doc)
{
	r->status = status;
	r->body = doc ? json_dumps(doc, JSON_FLAGS) : NULL;
	json_decref(doc);
	/* json_pack fails on a string that is not UTF-8: say so rather than answer an empty {} */
	if (!r->body) {
		r->status = 500;
		r->body = xstrdup("{\"Error\":\"internal: the answer could not be encoded\"}\n");
	} else {
		size_t n = strlen(r->body);
		r->body = xrealloc(r->body, n + 2);
		memcpy(r->body + n, "\n", 2);
	}
}

void hs_reply_error(struct hs_reply *r, int status, const char *msg)
{
	reply_json(r, status, json_pack("{s:s}", "Error", msg));
}

static void method_not_allowed(struct hs_reply *r, const char *allow)
{
	hs_reply_error(r, 405, "method not allowed");
	r->allow = allow;
}

/* The Go hsup's names for a dyno's state. */
static const char *legacy_status(enum hs_exec_state s)
{
	switch (s) {
	case HS_EXEC_STARTED:
		return "Started";
	case HS_EXEC_RETIRING:
	case HS_EXEC_RESTARTING:
	case HS_EXEC_STOPPING:
		return "Retiring";
	case HS_EXEC_RETIRED:
		return "Retired";
	default:
		return "Stopped";
	}
}

static const char *dyno_ip(const struct hs_dyno *d)
{
	return d->proc && d->proc->ip[0] ? d->proc->ip : "127.0.0.1";
}

static void status(struct hs_sup *sup, struct hs_reply *r)
{
	json_t *procs = json_object();
	for (struct hs_dyno *d = hs_sup_dynos(sup); d; d = d->next) {
		json_t *cur = json_object_get(procs, d->type);
		/* one entry per type: the first started dyno speaks for it, else the first */
		if (cur &&
		    (d->ex.state != HS_EXEC_STARTED ||
		     strcmp(json_string_value(json_object_get(cur, "Status")), "Started") == 0))
			continue;
		json_object_set_new(procs, d->type,
		                    json_pack("{s:s, s:s, s:i}", "Status",
		                              legacy_status(d->ex.state), "IPAddress", dyno_ip(d),
		                              "Port", d->port));
	}
	reply_json(r, 200, json_pack("{s:o}", "Processes", procs));
}

static json_t *last_exit_json(const struct hs_dyno *d, uint64_t now)
{
	if (!d->has_exit)
		return json_null();
	const struct hs_exit *x = &d->last_exit;
	json_t *o = json_pack("{s:i, s:f}", "Code", x->status.code, "SecondsAgo",
	                      (double)(now - d->exited_at) / 1000);
	if (x->status.signal)
		json_object_set_new(o, "Signal",
		                    json_string(sigabbrev_np(x->status.signal)
		                                    ? sigabbrev_np(x->status.signal)
		                                    : "?"));
	if (x->start_failed)
		json_object_set_new(o, "Error", json_string(x->reason));
	return o;
}

static json_t *dyno_json(struct hs_sup *sup, const struct hs_dyno *d)
{
	uint64_t now = hs_sup_now(sup);
	bool running = hs_dyno_running(d);
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:i, s:i, s:s, s:i, s:o}", "Name", d->name,
	                      "Type", d->type, "State", hs_exec_state_name(d->ex.state), "Release",
	                      (json_int_t)d->release->version, "Restarts", (int)d->ex.restarts,
	                      "CrashesInARow", (int)d->ex.crashes, "IPAddress", dyno_ip(d), "Port",
	                      d->port, "LastExit", last_exit_json(d, now));
	json_object_set_new(o, "Pid", running ? json_integer(d->proc->pid) : json_null());
	json_object_set_new(
	    o, "Uptime", running ? json_real((double)(now - d->started_at) / 1000) : json_null());
	bool waiting = d->ex.state == HS_EXEC_BACKOFF && d->timer_due;
	json_object_set_new(
	    o, "NextRestartIn",
	    waiting ? json_real((double)(d->timer_due > now ? d->timer_due - now : 0) / 1000)
	            : json_null());
	return o;
}

static void dynos(struct hs_sup *sup, struct hs_reply *r)
{
	json_t *list = json_array();
	for (struct hs_dyno *d = hs_sup_dynos(sup); d; d = d->next)
		json_array_append_new(list, dyno_json(sup, d));
	const struct hs_release *rel = hs_sup_release(sup);
	const char *note = hs_sup_release_note(sup);
	json_t *release =
	    json_pack("{s:o, s:o}", "Version", rel ? json_integer(rel->version) : json_null(),
	              "Note", note ? json_string(note) : json_null());
	reply_json(r, 200, json_pack("{s:o, s:o}", "Dynos", list, "Release", release));
}

static void formation(struct hs_sup *sup, struct hs_reply *r)
{
	json_t *list = json_array();
	const struct hs_release *rel = hs_sup_release(sup);
	for (size_t i = 0; rel && i < rel->nprocs; i++) {
		int running = 0;
		for (struct hs_dyno *d = hs_sup_dynos(sup); d; d = d->next)
			running += strcmp(d->type, rel->procs[i].type) == 0 && hs_dyno_running(d);
		json_array_append_new(
		    list, json_pack("{s:s, s:i, s:i, s:o}", "Type", rel->procs[i].type, "Quantity",
		                    hs_sup_desired(sup, rel->procs[i].type), "Running", running,
		                    "Args", json_string(rel->procs[i].args[0])));
	}
	reply_json(r, 200, json_pack("{s:o}", "Formation", list));
}

/* Parses {"Processes": ["web", ...]}; on failure the reply is set. */
static json_t *parse_targets(const char *body, size_t len, struct hs_reply *r)
{
	json_error_t jerr;
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	json_t *list = doc ? json_object_get(doc, "Processes") : NULL;
	if (!doc) {
		_cleanup_free_ char *msg = xasprintf("invalid JSON at line %d, column %d: %s",
		                                     jerr.line, jerr.column, jerr.text);
		hs_reply_error(r, 400, msg);
		return NULL;
	}
	size_t i;
	json_t *v;
	bool ok = json_is_array(list);
	json_array_foreach (list, i, v)
		ok = ok && json_is_string(v);
	if (!ok) {
		json_decref(doc);
		hs_reply_error(r, 400, "the body must be {\"Processes\": [\"type or dyno\", ...]}");
		return NULL;
	}
	json_incref(list);
	json_decref(doc);
	return list;
}

static void add_type(struct hs_dyno *d, void *data)
{
	json_array_append_new(data, json_string(d->type));
}

static void reply_refused(struct hs_reply *r, const cm_err *err)
{
	hs_reply_error(r, err->code == ENOENT ? 404 : 409, err->msg);
}

/* Every target must be valid before any is acted on: a request is done whole or not at all. */
static bool check_targets(struct hs_sup *sup, enum hs_sup_action action, json_t *targets,
                          struct hs_reply *r)
{
	size_t i;
	json_t *v;
	cm_err err;
	json_array_foreach (targets, i, v) {
		if (hs_sup_check(sup, action, json_string_value(v), &err) < 0) {
			reply_refused(r, &err);
			return false;
		}
	}
	return true;
}

static void control_stop(struct hs_sup *sup, const char *body, size_t len, struct hs_reply *r)
{
	json_t *targets = parse_targets(body, len, r);
	if (!targets)
		return;
	if (!check_targets(sup, HS_SUP_STOP, targets, r)) {
		json_decref(targets);
		return;
	}
	json_t *stopped = json_array();
	size_t i;
	json_t *v;
	cm_err err;
	json_array_foreach (targets, i, v)
		hs_sup_stop(sup, json_string_value(v), add_type, stopped, &err);
	json_decref(targets);
	reply_json(r, 200, json_pack("{s:o}", "StoppedProcesses", stopped));
}

static void control_restart(struct hs_sup *sup, const char *body, size_t len, struct hs_reply *r)
{
	json_t *targets = parse_targets(body, len, r);
	if (!targets)
		return;
	if (!check_targets(sup, HS_SUP_RESTART, targets, r)) {
		json_decref(targets);
		return;
	}
	json_t *done = json_array();
	size_t i;
	json_t *v;
	cm_err err;
	json_array_foreach (targets, i, v) {
		if (hs_sup_restart(sup, json_string_value(v), &err) >= 0)
			json_array_append(done, v);
	}
	json_decref(targets);
	reply_json(r, 200, json_pack("{s:o}", "RestartedProcesses", done));
}

static void control_scale(struct hs_sup *sup, const char *body, size_t len, struct hs_reply *r)
{
	json_error_t jerr;
	/* {"web": 1, "web": 3} is refused, as the control directory refuses it. */
	json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *type;
	json_t *v;
	cm_err err;
	if (!doc) {
		_cleanup_free_ char *msg = xasprintf("invalid JSON at line %d, column %d: %s",
		                                     jerr.line, jerr.column, jerr.text);
		return hs_reply_error(r, 400, msg);
	}
	if (!json_is_object(doc)) {
		json_decref(doc);
		return hs_reply_error(r, 400, "the body must be {\"type\": quantity, ...}");
	}
	json_object_foreach (doc, type, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 100000) {
			json_decref(doc);
			return hs_reply_error(r, 400,
			                      "quantities must be whole numbers from 0 to 100000");
		}
		const struct hs_release *rel = hs_sup_release(sup);
		if (!rel || !hs_release_find(rel, type)) {
			_cleanup_free_ char *msg =
			    xasprintf("the release has no process type \"%s\"", type);
			json_decref(doc);
			return hs_reply_error(r, 404, msg);
		}
	}
	json_object_foreach (doc, type, v) {
		if (hs_sup_scale(sup, type, (int)json_integer_value(v), &err) < 0) {
			json_decref(doc);
			return hs_reply_error(r, 409, err.msg);
		}
	}
	json_decref(doc);
	formation(sup, r);
}

static void one_dyno(struct hs_sup *sup, const char *name, struct hs_reply *r)
{
	struct hs_dyno *d = hs_sup_find(sup, name);
	if (!d) {
		_cleanup_free_ char *msg = xasprintf("no dyno named \"%s\"", name);
		return hs_reply_error(r, 404, msg);
	}
	reply_json(r, 200, dyno_json(sup, d));
}

static void dyno_action(struct hs_sup *sup, const char *name, const char *action,
                        struct hs_reply *r)
{
	cm_err err;
	int n;
	if (strcmp(action, "stop") == 0)
		n = hs_sup_stop(sup, name, NULL, NULL, &err);
	else
		n = hs_sup_restart(sup, name, &err);
	if (n < 0)
		return reply_refused(r, &err);
	reply_json(r, 200,
	           json_pack("{s:s, s:s, s:i}", "Target", name, "Action", action, "Dynos", n));
}

/* /dynos/NAME[/stop|/restart] */
static void dynos_subtree(struct hs_sup *sup, const char *method, const char *rest,
                          struct hs_reply *r)
{
	const char *slash = strchr(rest, '/');
	_cleanup_free_ char *name = slash ? xstrndup(rest, (size_t)(slash - rest)) : xstrdup(rest);
	if (!slash) {
		if (strcmp(method, "GET") != 0)
			return method_not_allowed(r, "GET");
		return one_dyno(sup, name, r);
	}
	const char *action = slash + 1;
	if (strcmp(action, "stop") != 0 && strcmp(action, "restart") != 0)
		return hs_reply_error(r, 404, "no such resource");
	if (strcmp(method, "POST") != 0)
		return method_not_allowed(r, "POST");
	dyno_action(sup, name, action, r);
}

static bool is(const char *method, const char *want, struct hs_reply *r);

/* GET /poller, /logplex: what the parts beside the dynos say of themselves. */
static void report(struct hs_sup *sup, const char *method, const char *name, struct hs_reply *r)
{
	/* without a supervisor (the transport's tests), no part reports */
	json_t *j = !sup || strchr(name, '/') ? NULL : hs_sup_report(sup, name);
	if (!j)
		return hs_reply_error(r, 404, "no such resource");
	if (is(method, "GET", r)) {
		r->status = 200;
		r->body = json_dumps(j, JSON_COMPACT);
	}
	json_decref(j);
}

static bool is(const char *method, const char *want, struct hs_reply *r)
{
	if (strcmp(method, want) == 0)
		return true;
	method_not_allowed(r, want);
	return false;
}

void hs_api_route(struct hs_sup *sup, const char *method, const char *path, const char *body,
                  size_t body_len, struct hs_reply *r)
{
	*r = (struct hs_reply){0};
	if (strcmp(path, "/health") == 0) {
		if (is(method, "GET", r)) {
			r->status = 200;
			r->body = xstrdup("OK");
			r->ctype = "text/plain";
		}
	} else if (strcmp(path, "/status") == 0) {
		if (is(method, "GET", r))
			status(sup, r);
	} else if (strcmp(path, "/control/stop") == 0) {
		if (is(method, "POST", r))
			control_stop(sup, body, body_len, r);
	} else if (strcmp(path, "/control/restart") == 0) {
		if (is(method, "POST", r))
			control_restart(sup, body, body_len, r);
	} else if (strcmp(path, "/control/scale") == 0) {
		if (is(method, "POST", r))
			control_scale(sup, body, body_len, r);
	} else if (strcmp(path, "/formation") == 0) {
		if (is(method, "GET", r))
			formation(sup, r);
	} else if (strcmp(path, "/dynos") == 0 || strcmp(path, "/dynos/") == 0) {
		if (is(method, "GET", r))
			dynos(sup, r);
	} else if (strncmp(path, "/dynos/", 7) == 0) {
		dynos_subtree(sup, method, path + 7, r);
	} else {
		report(sup, method, path + 1, r);
	}
}
