/* The config's hooks: {"prestart": [{"path", "args", "env", "timeout"}], ...}, parsed, freed
 * and written back (the saved config carries them to start and delete). */
#define _GNU_SOURCE
#include "libcontainer/config_int.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <string.h>

static const char *const kind_names[LC_HOOK_NKINDS] = {
    [LC_HOOK_PRESTART] = "prestart",
    [LC_HOOK_CREATE_RUNTIME] = "createRuntime",
    [LC_HOOK_CREATE_CONTAINER] = "createContainer",
    [LC_HOOK_START_CONTAINER] = "startContainer",
    [LC_HOOK_POSTSTART] = "poststart",
    [LC_HOOK_POSTSTOP] = "poststop",
};

const char *lc_hook_kind_name(enum lc_hook_kind k)
{
	return k < LC_HOOK_NKINDS ? kind_names[k] : "?";
}

static int hook_field(const char *key, json_t *v, const char *path, struct lc_hook *h, cm_err *err)
{
	_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
	if (LC_FIELD("path")) {
		if (lc_cfg_str(v, sub, &h->path, err) < 0)
			return -1;
		return h->path[0] == '/' ? 0 : lc_cfg_wrong_type(err, sub, "an absolute path");
	}
	if (LC_FIELD("args"))
		return lc_cfg_strv(v, sub, &h->args, err);
	if (LC_FIELD("env"))
		return lc_cfg_strv(v, sub, &h->env, err);
	if (LC_FIELD("timeout")) {
		if (lc_cfg_i64(v, sub, &h->timeout, err) < 0 || h->timeout <= 0 ||
		    h->timeout > 86400 * 365)
			return lc_cfg_wrong_type(err, sub, "a positive number of seconds");
		return 0;
	}
	return lc_cfg_unknown(err, path, key, v);
}

static int parse_hook(json_t *o, const char *path, void *arr, size_t i, cm_err *err)
{
	struct lc_hook *h = (struct lc_hook *)arr + i;
	const char *key;
	json_t *v;
	h->timeout = LC_UNSET;
	json_object_foreach (o, key, v)
		if (hook_field(key, v, path, h, err) < 0)
			return -1;
	return h->path ? 0 : lc_cfg_missing(err, path, "path");
}

int lc_cfg_hooks(json_t *o, const char *path, struct lc_config *c, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int kind = -1;
		for (int k = 0; k < LC_HOOK_NKINDS; k++)
			if (LC_FIELD(kind_names[k]))
				kind = k;
		if (kind < 0 ? lc_cfg_unknown(err, path, key, v)
		             : lc_cfg_array(v, sub, (void **)&c->hooks[kind], &c->n_hooks[kind],
		                            sizeof(struct lc_hook), parse_hook, err) < 0)
			return -1;
	}
	return 0;
}

void lc_cfg_free_hooks(struct lc_config *c)
{
	for (int k = 0; k < LC_HOOK_NKINDS; k++) {
		for (size_t i = 0; i < c->n_hooks[k]; i++) {
			free(c->hooks[k][i].path);
			cm_strv_free(c->hooks[k][i].args);
			cm_strv_free(c->hooks[k][i].env);
		}
		free(c->hooks[k]);
	}
}

static json_t *strv_or_null(char *const *v)
{
	if (!v)
		return NULL;
	json_t *a = json_array();
	for (size_t i = 0; v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *lc_cfg_hooks_json(const struct lc_config *c)
{
	json_t *o = json_object();
	for (int k = 0; k < LC_HOOK_NKINDS; k++) {
		if (!c->n_hooks[k])
			continue;
		json_t *a = json_array();
		for (size_t i = 0; i < c->n_hooks[k]; i++) {
			const struct lc_hook *h = &c->hooks[k][i];
			json_t *e = json_pack("{s:s}", "path", h->path);
			json_t *args = strv_or_null(h->args), *env = strv_or_null(h->env);
			if (args)
				json_object_set_new(e, "args", args);
			if (env)
				json_object_set_new(e, "env", env);
			if (h->timeout != LC_UNSET)
				json_object_set_new(e, "timeout", json_integer(h->timeout));
			json_array_append_new(a, e);
		}
		json_object_set_new(o, kind_names[k], a);
	}
	if (json_object_size(o))
		return o;
	json_decref(o);
	return NULL;
}
