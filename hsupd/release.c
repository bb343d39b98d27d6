#define _GNU_SOURCE
#include "hsupd/release.h"
#include "common/http.h"
#include "hsupd/dynosize.h"
#include "drivers/driver.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <http_parser.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_TYPE_LEN 128
/* What the kernel passes to a new program. Each string of argv or envp, NUL included, fits in
 * MAX_ARG_STRLEN (32 pages); all of them with their pointers fit in a quarter of RLIMIT_STACK
 * (sysconf's ARG_MAX), never more than 3/4 of the kernel's 8 MiB _STK_LIM. */
#define ARG_STRLEN_PAGES 32
#define ARG_SPACE_CAP    (6UL << 20)
/* Room for what a driver adds to a dyno's environment beyond PORT, DYNO, PATH, HOME and TERM
 * (the abspath and container drivers set a few short variables more). */
#define EXEC_SLACK 4096

bool hs_valid_process_type(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MAX_TYPE_LEN)
		return false;
	for (; *s; s++)
		if (!(*s == '-' || *s == '_' || (*s >= '0' && *s <= '9') ||
		      (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
			return false;
	return true;
}

bool hs_valid_env_name(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++)
		if (!(*s == '_' || (*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= 'A' && *s <= 'Z')))
			return false;
	return true;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "null";
	}
}

/* A string field that may be absent or null (both mean ""). */
static int get_opt_string(json_t *root, const char *key, char **out, cm_err *err)
{
	json_t *v = json_object_get(root, key);
	if (!v || json_is_null(v)) {
		*out = xstrdup("");
		return 0;
	}
	if (!json_is_string(v))
		return cm_err_set(err, EINVAL, "%s must be a string, not %s", key, json_kind(v));
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int parse_env(json_t *root, struct hs_release *r, cm_err *err)
{
	json_t *env = json_object_get(root, "Env");
	size_t n = 0;
	r->env = xcalloc(1, sizeof(char *));
	if (!env || json_is_null(env))
		return 0;
	if (!json_is_object(env))
		return cm_err_set(err, EINVAL, "Env must be an object of strings, not %s",
		                  json_kind(env));
	const char *key;
	json_t *val;
	json_object_foreach (env, key, val) {
		if (!hs_valid_env_name(key))
			return cm_err_set(err, EINVAL,
			                  "Env key \"%s\" is not a valid variable name (letters, "
			                  "digits and '_', not starting with a digit)",
			                  key);
		if (!json_is_string(val))
			return cm_err_set(err, EINVAL, "Env.%s must be a string, not %s", key,
			                  json_kind(val));
		cm_strv_push(&r->env, &n, xasprintf("%s=%s", key, json_string_value(val)));
	}
	cm_strv_sort_env(r->env);
	return 0;
}

static int parse_args(json_t *args, size_t i, char ***out, cm_err *err)
{
	size_t n = 0;
	if (!args || json_is_null(args))
		return cm_err_set(err, EINVAL, "Processes[%zu].Args is missing: nothing to run", i);
	if (!json_is_array(args))
		return cm_err_set(err, EINVAL, "Processes[%zu].Args must be an array of strings",
		                  i);
	*out = xcalloc(1, sizeof(char *));
	size_t j;
	json_t *a;
	json_array_foreach (args, j, a) {
		if (!json_is_string(a))
			return cm_err_set(err, EINVAL,
			                  "Processes[%zu].Args[%zu] must be a string, not %s", i, j,
			                  json_kind(a));
		cm_strv_push(out, &n, xstrdup(json_string_value(a)));
	}
	if (n == 0)
		return cm_err_set(err, EINVAL, "Processes[%zu].Args is empty: nothing to run", i);
	return 0;
}

/* "Size": a dyno size's name; absent or null: standard-1x. */
static int parse_size(json_t *size, size_t i, struct hs_process_type *pt, cm_err *err)
{
	pt->size = hs_dyno_size_default();
	if (!size || json_is_null(size))
		return 0;
	if (!json_is_string(size))
		return cm_err_set(err, EINVAL, "Processes[%zu].Size must be a string, not %s", i,
		                  json_kind(size));
	pt->size = hs_dyno_size_find(json_string_value(size));
	if (!pt->size)
		return cm_err_set(err, EINVAL, "Processes[%zu].Size \"%s\" is not a dyno size (%s)",
		                  i, json_string_value(size), hs_dyno_size_names());
	return 0;
}

static int parse_process(json_t *p, size_t i, struct hs_release *r, cm_err *err)
{
	struct hs_process_type *pt = &r->procs[i];
	if (!json_is_object(p))
		return cm_err_set(err, EINVAL, "Processes[%zu] must be an object, not %s", i,
		                  json_kind(p));
	json_t *type = json_object_get(p, "Type"), *qty = json_object_get(p, "Quantity");
	if (!json_is_string(type))
		return cm_err_set(err, EINVAL, "Processes[%zu].Type must be a string", i);
	pt->type = xstrdup(json_string_value(type));
	if (!hs_valid_process_type(pt->type))
		return cm_err_set(err, EINVAL,
		                  "Processes[%zu].Type \"%s\" is not a valid process type (1 to "
		                  "128 letters, digits, '_' or '-')",
		                  i, pt->type);
	if (hs_release_find(r, pt->type) != pt)
		return cm_err_set(err, EINVAL, "Processes[%zu].Type \"%s\" is listed twice", i,
		                  pt->type);
	if (qty && !json_is_null(qty) && !json_is_integer(qty))
		return cm_err_set(err, EINVAL, "Processes[%zu].Quantity must be an integer, not %s",
		                  i, json_kind(qty));
	json_int_t q = qty ? json_integer_value(qty) : 0;
	if (q < 0 || q > 100000)
		return cm_err_set(
		    err, EINVAL, "Processes[%zu].Quantity is %lld; it must be between 0 and 100000",
		    i, (long long)q);
	pt->quantity = (int)q;
	if (parse_size(json_object_get(p, "Size"), i, pt, err) < 0)
		return -1;
	return parse_args(json_object_get(p, "Args"), i, &pt->args, err);
}

static int parse_processes(json_t *root, struct hs_release *r, cm_err *err)
{
	json_t *procs = json_object_get(root, "Processes");
	if (!procs || json_is_null(procs))
		return 0;
	if (!json_is_array(procs))
		return cm_err_set(err, EINVAL, "Processes must be an array, not %s",
		                  json_kind(procs));
	r->procs = xcalloc(json_array_size(procs) + 1, sizeof(*r->procs));
	size_t i;
	json_t *p;
	json_array_foreach (procs, i, p) {
		r->nprocs = i + 1;
		if (parse_process(p, i, r, err) < 0)
			return -1;
	}
	return 0;
}

/* A URL's credentials (user:password@) never appear in a message. */
int hs_validate_url(const char *url, const char *what, cm_err *err)
{
	_cleanup_free_ char *shown = NULL;
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (http_parser_parse_url(url, strlen(url), 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_SCHEMA)) || !(u.field_set & (1 << UF_HOST)))
		return cm_err_set(err, EINVAL, "%s \"%s\" is not a valid URL", what,
		                  shown = cm_http_redact(url));
	const char *scheme = url + u.field_data[UF_SCHEMA].off;
	size_t n = u.field_data[UF_SCHEMA].len;
	if (!((n == 4 && strncasecmp(scheme, "http", 4) == 0) ||
	      (n == 5 && strncasecmp(scheme, "https", 5) == 0)))
		return cm_err_set(err, EINVAL, "%s \"%s\" must be an http or https URL", what,
		                  shown = cm_http_redact(url));
	return 0;
}

static int parse_fields(json_t *root, struct hs_release *r, cm_err *err)
{
	json_t *ver = json_object_get(root, "Version");
	if (ver && !json_is_null(ver) && !json_is_integer(ver))
		return cm_err_set(err, EINVAL, "Version must be an integer, not %s",
		                  json_kind(ver));
	r->version = ver ? json_integer_value(ver) : 0;
	if (get_opt_string(root, "Name", &r->name, err) < 0 ||
	    get_opt_string(root, "Slug", &r->slug, err) < 0 ||
	    get_opt_string(root, "Stack", &r->stack, err) < 0 ||
	    get_opt_string(root, "LogplexURL", &r->logplex_url, err) < 0)
		return -1;
	if (*r->logplex_url && hs_validate_url(r->logplex_url, "LogplexURL", err) < 0)
		return -1;
	if (parse_env(root, r, err) < 0)
		return -1;
	return parse_processes(root, r, err);
}

static size_t max_arg_strlen(void)
{
	return (size_t)sysconf(_SC_PAGESIZE) * ARG_STRLEN_PAGES;
}

static size_t arg_space(void)
{
	long max = sysconf(_SC_ARG_MAX);
	return max > 0 && (unsigned long)max < ARG_SPACE_CAP ? (size_t)max : ARG_SPACE_CAP;
}

/* Bytes a string takes in the new program's argument space: itself, its NUL, its pointer. */
static size_t arg_cost(size_t len)
{
	return len + 1 + sizeof(char *);
}

/* What hsup adds to every dyno of type: DYNO, PORT, PATH, HOME and TERM (from hsup's own
 * environment unless the release sets them), bash's path, "bash" and "-c". */
static size_t added_cost(const struct hs_release *r, const char *type)
{
	static const char *const from_host[] = {"PATH", "HOME", "TERM"};
	size_t n = arg_cost(strlen("DYNO=.4294967295") + strlen(type)) +
	           arg_cost(strlen("PORT=65535")) + PATH_MAX + arg_cost(4) + arg_cost(2) +
	           sizeof(char *) * 2 + EXEC_SLACK;
	for (size_t i = 0; i < CM_ARRAY_SIZE(from_host); i++) {
		const char *v = getenv(from_host[i]);
		if (v && !hs_release_env_get(r, from_host[i]))
			n += arg_cost(strlen(from_host[i]) + 1 + strlen(v));
	}
	return n;
}

static int check_env_strings(const struct hs_release *r, size_t *total, cm_err *err)
{
	size_t max = max_arg_strlen();
	*total = 0;
	for (size_t i = 0; r->env[i]; i++) {
		size_t len = strlen(r->env[i]);
		if (len + 1 > max)
			return cm_err_set(
			    err, E2BIG,
			    "Env.%.*s is %zu bytes as KEY=VALUE; the kernel passes a "
			    "variable of at most %zu bytes to a process (MAX_ARG_STRLEN)",
			    (int)strcspn(r->env[i], "="), r->env[i], len, max - 1);
		*total += arg_cost(len);
	}
	return 0;
}

static int check_process(const struct hs_release *r, size_t i, size_t env_total, cm_err *err)
{
	const struct hs_process_type *pt = &r->procs[i];
	size_t cmd = 0, max = max_arg_strlen(), space = arg_space();
	for (size_t j = 0; pt->args[j]; j++)
		cmd += strlen(pt->args[j]) + (j > 0); /* joined with spaces for bash -c */
	if (cmd + 1 > max)
		return cm_err_set(
		    err, E2BIG,
		    "Processes[%zu] (%s): its Args joined with spaces make a command "
		    "of %zu bytes; the kernel passes an argument of at most %zu bytes "
		    "to a process (MAX_ARG_STRLEN)",
		    i, pt->type, cmd, max - 1);
	size_t need = env_total + arg_cost(cmd) + added_cost(r, pt->type);
	if (need > space)
		return cm_err_set(
		    err, E2BIG,
		    "Processes[%zu] (%s): the config vars (%zu bytes) and the command "
		    "(%zu bytes), with what hsup adds, need %zu bytes; the kernel "
		    "passes at most %zu bytes of arguments and environment to a "
		    "process (ARG_MAX)",
		    i, pt->type, env_total, cmd, need, space);
	return 0;
}

/* A release whose dynos the kernel would refuse to start (execve: E2BIG) is refused whole,
 * before it replaces dynos that run. */
static int check_exec_limits(const struct hs_release *r, cm_err *err)
{
	size_t env_total;
	if (check_env_strings(r, &env_total, err) < 0)
		return -1;
	for (size_t i = 0; i < r->nprocs; i++)
		if (check_process(r, i, env_total, err) < 0)
			return -1;
	return 0;
}

/* The document ends before it is complete: it may still be being written. */
static bool truncated(const json_error_t *jerr)
{
	return json_error_code(jerr) == json_error_premature_end_of_input;
}

/* JSON has no raw NUL byte, but jansson lets one through after a number, and the document is
 * kept as a C string (raw): refuse it, or the copy would be cut short at it. */
static int refuse_nul(const char *json, size_t len, cm_err *err)
{
	const char *nul = memchr(json, '\0', len);
	if (!nul)
		return 0;
	int line = 1, column = 1;
	for (const char *p = json; p < nul; p++, column++)
		if (*p == '\n')
			line++, column = 0;
	return cm_err_set(err, EINVAL, "invalid JSON at line %d, column %d: a NUL byte", line,
	                  column);
}

int hs_release_parse(const char *json, size_t len, struct hs_release **out, cm_err *err)
{
	if (refuse_nul(json, len, err) < 0)
		return -1;
	json_error_t jerr;
	json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return cm_err_set(err, truncated(&jerr) ? ENODATA : EINVAL,
		                  "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
		                  jerr.text);
	if (!json_is_object(root)) {
		cm_err_set(err, EINVAL, "the document must be a JSON object, not %s",
		           json_kind(root));
		json_decref(root);
		return -1;
	}
	struct hs_release *r = xcalloc(1, sizeof(*r));
	r->refs = 1;
	int rc = parse_fields(root, r, err);
	json_decref(root);
	if (rc == 0)
		rc = check_exec_limits(r, err);
	if (rc < 0) {
		hs_release_unref(r);
		return -1;
	}
	r->raw = xstrndup(json, len);
	r->rawlen = len;
	*out = r;
	return 0;
}

struct hs_release *hs_release_empty(void)
{
	struct hs_release *r = NULL;
	cm_err err;
	static const char doc[] = "{}";
	if (hs_release_parse(doc, sizeof(doc) - 1, &r, &err) < 0)
		abort();
	return r;
}

struct hs_release *hs_release_ref(struct hs_release *r)
{
	r->refs++;
	return r;
}

void hs_release_unref(struct hs_release *r)
{
	if (!r || --r->refs > 0)
		return;
	for (size_t i = 0; i < r->nprocs; i++) {
		free(r->procs[i].type);
		cm_strv_free(r->procs[i].args);
	}
	free(r->procs);
	hs_build_unref(r->build);
	cm_strv_free(r->env);
	free(r->name);
	free(r->slug);
	free(r->stack);
	free(r->logplex_url);
	free(r->raw);
	free(r);
}

void hs_release_unrefp(struct hs_release **r)
{
	hs_release_unref(*r);
}

int hs_release_type_index(const struct hs_release *r, const char *type)
{
	for (size_t i = 0; i < r->nprocs; i++)
		if (r->procs[i].type && strcmp(r->procs[i].type, type) == 0)
			return (int)i;
	return -1;
}

const struct hs_process_type *hs_release_find(const struct hs_release *r, const char *type)
{
	int i = hs_release_type_index(r, type);
	return i < 0 ? NULL : &r->procs[i];
}

const char *hs_release_env_get(const struct hs_release *r, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; r->env && r->env[i]; i++)
		if (strncmp(r->env[i], key, kl) == 0 && r->env[i][kl] == '=')
			return r->env[i] + kl + 1;
	return NULL;
}
