#define _GNU_SOURCE
#include "hsupd/env.h"
#include "hsupd/release.h"
#include "common/strv.h"
#include "common/xalloc.h"

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

int hs_env_port(const struct hs_release *r, int type_index, int offset, bool host_network)
{
	int base = parse_port(hs_release_env_get(r, "PORT"));
	if (!host_network)
		return base;
	int port = base + 100 * (type_index > 0 ? type_index : 0) + offset;
	return port > 65535 ? base : port;
}

static void add_from_host(const struct hs_release *r, char ***env, size_t *n, const char *key)
{
	const char *v = getenv(key);
	if (v && !hs_release_env_get(r, key))
		cm_strv_push(env, n, xasprintf("%s=%s", key, v));
}

char **hs_env_build(const struct hs_release *r, const char *dyno, int port, bool with_term)
{
	size_t n = 0;
	char **env = xcalloc(1, sizeof(char *));
	for (size_t i = 0; r->env[i]; i++)
		if (strncmp(r->env[i], "PORT=", 5) != 0 && strncmp(r->env[i], "DYNO=", 5) != 0)
			cm_strv_push(&env, &n, xstrdup(r->env[i]));
	cm_strv_push(&env, &n, xasprintf("PORT=%d", port));
	cm_strv_push(&env, &n, xasprintf("DYNO=%s", dyno));
	add_from_host(r, &env, &n, "PATH");
	add_from_host(r, &env, &n, "HOME");
	if (with_term)
		add_from_host(r, &env, &n, "TERM");
	cm_strv_sort_env(env);
	return env;
}
