#define _GNU_SOURCE
#include "control/apidoc.h"
#include "hsupd/dynosize.h"
#include "common/cleanup.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

bool hs_api_valid_id(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

bool hs_api_valid_app(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 100 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static const char *kind(json_t *j)
{
	static const char *const names[] = {"an object", "an array", "a string", "an integer",
	                                    "a number",  "true",     "false",    "null"};
	return j ? names[json_typeof(j)] : "missing";
}

json_t *hs_api_parse_body(const char *body, json_type want, const char *what, cm_err *err)
{
	json_error_t je;
	json_t *j = json_loads(body ? body : "", JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		cm_err_set(err, EPROTO, "%s: not JSON (line %d, column %d: %s)", what, je.line,
		           je.column, je.text);
		return NULL;
	}
	if (json_typeof(j) != want) {
		cm_err_set(err, EPROTO, "%s: %s, not %s", what, kind(j),
		           want == JSON_OBJECT ? "an object" : "an array");
		json_decref(j);
		return NULL;
	}
	return j;
}

static int copy_id(json_t *v, char out[65], const char *what, cm_err *err)
{
	const char *s = json_string_value(v);
	if (!s || !hs_api_valid_id(s))
		return cm_err_set(err, EPROTO, "%s: %s is not an id (1 to 64 letters, digits, '-')",
		                  what, s ? s : kind(v));
	snprintf(out, 65, "%s", s);
	return 0;
}

static int read_release(json_t *r, struct hs_api_release *out, cm_err *err)
{
	json_t *ver = json_object_get(r, "version"), *slug = json_object_get(r, "slug");
	const char *status = json_string_value(json_object_get(r, "status"));
	*out = (struct hs_api_release){0};
	if (copy_id(json_object_get(r, "id"), out->id, "release id", err) < 0)
		return -1;
	if (!json_is_integer(ver) || json_integer_value(ver) < 0)
		return cm_err_set(err, EPROTO, "release %s: version is %s, not a count", out->id,
		                  kind(ver));
	out->version = json_integer_value(ver);
	snprintf(out->status, sizeof(out->status), "%s", status ? status : "succeeded");
	if (slug && !json_is_null(slug) &&
	    copy_id(json_object_get(slug, "id"), out->slug_id, "release slug id", err) < 0)
		return -1;
	return 0;
}

int hs_api_newest_release(const char *body, struct hs_api_release *out, cm_err *err)
{
	json_t *list = hs_api_parse_body(body, JSON_ARRAY, "the release list", err), *r;
	if (!list)
		return -1;
	size_t i;
	int found = 0;
	/* asked for newest first; take the highest version whatever the order */
	json_array_foreach (list, i, r) {
		struct hs_api_release one;
		if (!json_is_object(r) || read_release(r, &one, err) < 0) {
			if (json_is_object(r))
				cm_err_wrap(err, "the release list");
			else
				cm_err_set(err, EPROTO, "the release list holds %s", kind(r));
			json_decref(list);
			return -1;
		}
		if (!found || one.version > out->version)
			*out = one;
		found = 1;
	}
	json_decref(list);
	return found;
}

static int hex_lower(const char *s, char out[65])
{
	if (strlen(s) != 64)
		return -1;
	for (size_t i = 0; i < 64; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return -1;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[64] = 0;
	return 0;
}

int hs_api_slug_blob(json_t *slug, const char **url, long long *size, char sha256[65], cm_err *err)
{
	json_t *blob = json_object_get(slug, "blob"), *sz = json_object_get(slug, "size");
	const char *sum = json_string_value(json_object_get(slug, "checksum"));
	*url = json_string_value(json_object_get(blob, "url"));
	if (!*url || (strncmp(*url, "http://", 7) != 0 && strncmp(*url, "https://", 8) != 0))
		return cm_err_set(err, EPROTO, "slug: blob.url is %s, not an http(s) URL",
		                  *url ? "another kind of URL"
		                       : kind(json_object_get(blob, "url")));
	*size = json_is_integer(sz) && json_integer_value(sz) >= 0 ? json_integer_value(sz) : -1;
	sha256[0] = 0;
	if (sum && strncasecmp(sum, "SHA256:", 7) == 0 && hex_lower(sum + 7, sha256) < 0)
		return cm_err_set(err, EPROTO,
		                  "slug: checksum \"%.80s\" is not SHA256:<64 hex digits>", sum);
	return 0;
}

static int add_env(json_t *doc, json_t *config, cm_err *err)
{
	json_t *env = json_object(), *v;
	const char *k;
	json_object_set_new(doc, "Env", env);
	json_object_foreach (config, k, v) {
		if (json_is_null(v))
			continue;
		if (!json_is_string(v))
			return cm_err_set(err, EPROTO, "config var %s is %s, not a string", k,
			                  kind(v));
		json_object_set(env, k, v);
	}
	return 0;
}

/* The formation's size, when hsup knows it ("Standard-1X" is standard-1x); else the default. */
static void add_size(json_t *proc, json_t *size)
{
	const char *s = json_string_value(size);
	char low[32];
	size_t n = s ? strlen(s) : 0;
	if (!s || n >= sizeof(low))
		return;
	for (size_t i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)s[i]);
	if (hs_dyno_size_find(low))
		json_object_set_new(proc, "Size", json_string(low));
}

static int add_process(json_t *procs, json_t *f, json_t *types, size_t i, cm_err *err)
{
	json_t *type = json_object_get(f, "type"), *q = json_object_get(f, "quantity");
	const char *cmd = json_string_value(json_object_get(f, "command"));
	if (!json_is_string(type))
		return cm_err_set(err, EPROTO, "formation[%zu].type is %s, not a string", i,
		                  kind(type));
	if (!json_is_integer(q))
		return cm_err_set(err, EPROTO, "formation[%zu].quantity is %s, not an integer", i,
		                  kind(q));
	if (!cmd || !*cmd)
		cmd = json_string_value(json_object_get(types, json_string_value(type)));
	if (!cmd)
		return cm_err_set(err, EPROTO,
		                  "formation %s has no command, nor has the slug a process type of "
		                  "that name",
		                  json_string_value(type));
	json_t *p = json_pack("{sO sO s[s]}", "Type", type, "Quantity", q, "Args", cmd);
	add_size(p, json_object_get(f, "size"));
	json_array_append_new(procs, p);
	return 0;
}

static int add_processes(json_t *doc, json_t *formation, json_t *slug, cm_err *err)
{
	json_t *procs = json_array(), *f;
	json_t *types = slug ? json_object_get(slug, "process_types") : NULL;
	size_t i;
	json_object_set_new(doc, "Processes", procs);
	json_array_foreach (formation, i, f) {
		if (!json_is_object(f))
			return cm_err_set(err, EPROTO, "formation[%zu] is %s, not an object", i,
			                  kind(f));
		if (add_process(procs, f, types, i, err) < 0)
			return -1;
	}
	return 0;
}

json_t *hs_api_document(const struct hs_api_release *rel, const char *app,
                        const struct hs_api_parts *parts, const char *slug_path, cm_err *err)
{
	const char *stack =
	    json_string_value(json_object_get(json_object_get(parts->app, "stack"), "name"));
	json_t *doc = json_pack("{sI ss ss ss}", "Version", (json_int_t)rel->version, "Name", app,
	                        "Slug", slug_path ? slug_path : "", "Stack", stack ? stack : "");
	if (!doc) {
		cm_err_set(err, EPROTO, "the app's name or stack is not UTF-8");
		return NULL;
	}
	if (add_env(doc, parts->config, err) < 0 ||
	    add_processes(doc, parts->formation, parts->slug, err) < 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}
