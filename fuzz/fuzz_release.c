/* libFuzzer target: the release document of the control directory (hsupd/release.c), JSON and
 * the rules it must keep, from arbitrary bytes. What parses must keep the promises the
 * supervisor relies on; anything else must fail with a message. */
#include "fuzz/fuzz.h"
#include "hsupd/release.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Orders "KEY=VALUE" entries by key, as the release keeps them. */
static int key_cmp(const char *a, const char *b)
{
	size_t la = strcspn(a, "="), lb = strcspn(b, "=");
	int c = memcmp(a, b, la < lb ? la : lb);
	return c ? c : (la > lb) - (la < lb);
}

static void check_env(const struct hs_release *r)
{
	for (size_t i = 0; r->env[i]; i++) {
		const char *eq = strchr(r->env[i], '=');
		CHECK(eq);
		char *key = strndup(r->env[i], (size_t)(eq - r->env[i]));
		CHECK(key && hs_valid_env_name(key));
		CHECK(hs_release_env_get(r, key) == eq + 1);
		CHECK(i == 0 || key_cmp(r->env[i - 1], r->env[i]) < 0); /* sorted, keys unique */
		free(key);
	}
}

static void check_release(const struct hs_release *r, const uint8_t *data, size_t size)
{
	CHECK(r->refs == 1);
	CHECK(r->name && r->slug && r->stack && r->logplex_url && r->env);
	CHECK(r->rawlen == size && strlen(r->raw) == size && memcmp(r->raw, data, size) == 0);
	check_env(r);
	for (size_t i = 0; i < r->nprocs; i++) {
		const struct hs_process_type *p = &r->procs[i];
		CHECK(hs_valid_process_type(p->type));
		CHECK(hs_release_find(r, p->type) == p);
		CHECK(hs_release_type_index(r, p->type) == (int)i);
		CHECK(p->quantity >= 0 && p->quantity <= 100000);
		CHECK(p->args && p->args[0]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hs_release *r = NULL;
	cm_err err;
	cm_err_clear(&err);
	if (hs_release_parse((const char *)data, size, &r, &err) < 0) {
		CHECK(r == NULL && err.msg[0] != '\0');
		return 0;
	}
	check_release(r, data, size);
	hs_release_unref(r);
	return 0;
}
