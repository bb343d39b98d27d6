#define _GNU_SOURCE
#include "hsupd/env.h"
#include "hsupd/release.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s)
{
	if (!s || !*s)
		return HS_DEFAULT_PORT;
	char *end;
	long v = strtol(s, &end, 10);
	return (*end || v < 1 || v > 65535) ? HS_DEFAULT_PORT : (int)v;
}

int hs_env_base_port(const struct hs_release *r)
{
	return parse_port(hs_release_env_get(r, "PORT"));
}

int hs_env_port(const struct hs_release *r, int type_index, int offset, bool host_network)
{
	int base = hs_env_base_port(r);
	if (!host_network)
		return base;
	/* hs_env_check_ports has refused formations whose ports would collide or pass 65535 */
	return base + HS_PORTS_PER_TYPE * (type_index > 0 ? type_index : 0) + offset;
}

int hs_env_check_ports(const struct hs_release *r, const int *counts, cm_err *err)
{
	int base = hs_env_base_port(r);
	for (size_t i = 0; i < r->nprocs; i++) {
		if (counts[i] <= 0)
			continue;
		int first = base + HS_PORTS_PER_TYPE * (int)i;
		long last = (long)first + counts[i] - 1;
		if (last > 65535)
			return cm_err_set(err, ERANGE,
			                  "%s=%d would need ports %d-%ld, past 65535 (PORT is %d)",
			                  r->procs[i].type, counts[i], first, last, base);
		for (size_t j = i + 1; j < r->nprocs; j++)
			if (counts[j] > 0 && last >= base + HS_PORTS_PER_TYPE * (long)j)
				return cm_err_set(
				    err, ERANGE,
				    "%s=%d would need ports %d-%ld, but %s's start at %d: dynos "
				    "sharing the host's network get PORT + %d x the type's place "
				    "in "
				    "the release + the dyno's offset, so a type other than the "
				    "last "
				    "runs at most %d",
				    r->procs[i].type, counts[i], first, last, r->procs[j].type,
				    base + HS_PORTS_PER_TYPE * (int)j, HS_PORTS_PER_TYPE,
				    HS_PORTS_PER_TYPE);
	}
	return 0;
}

/* key from hsup's environment, or the given value, unless the release sets it */
static void add_default(const struct hs_release *r, char ***env, size_t *n, const char *key,
                        const char *value)
{
	const char *v = value ? value : getenv(key);
	if (v && !hs_release_env_get(r, key))
		cm_strv_push(env, n, xasprintf("%s=%s", key, v));
}

char **hs_env_build(const struct hs_release *r, const char *dyno, int port, bool with_term,
                    bool app_env)
{
	size_t n = 0;
	char **env = xcalloc(1, sizeof(char *));
	for (size_t i = 0; r->env[i]; i++)
		if (strncmp(r->env[i], "PORT=", 5) != 0 && strncmp(r->env[i], "DYNO=", 5) != 0)
			cm_strv_push(&env, &n, xstrdup(r->env[i]));
	cm_strv_push(&env, &n, xasprintf("PORT=%d", port));
	cm_strv_push(&env, &n, xasprintf("DYNO=%s", dyno));
	add_default(r, &env, &n, "PATH", app_env ? HS_DYNO_PATH : NULL);
	add_default(r, &env, &n, "HOME", app_env ? "/app" : NULL);
	if (with_term)
		add_default(r, &env, &n, "TERM", NULL);
	cm_strv_sort_env(env);
	return env;
}
