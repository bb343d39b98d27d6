/* libFuzzer target: the stack manifest (stacks/manifest.c), YAML and the rules of its fields,
 * from arbitrary bytes. What parses must keep the promises fetching and mounting rely on (names
 * safe as file names, URLs of the allowed schemes, md5s of 32 lowercase hexadecimal digits, one
 * entry per name and version, one primary per name) and read back the same once written; a
 * failure must say which file it is about. */
#include "fuzz/fuzz.h"
#include "stacks/manifest.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void check_stack(const struct st_manifest *m, size_t i)
{
	const struct st_stack *s = &m->stacks[i];
	CHECK(s->name && s->version && s->url && s->md5 && s->line >= 1);
	CHECK(strlen(s->name) <= ST_NAME_MAX && strlen(s->version) <= ST_NAME_MAX);
	CHECK(!strchr(s->name, '/') && !strchr(s->version, '/'));
	CHECK(isalnum((unsigned char)s->name[0]) && isalnum((unsigned char)s->version[0]));
	CHECK(strncasecmp(s->url, "file://", 7) == 0 || strncasecmp(s->url, "http://", 7) == 0 ||
	      strncasecmp(s->url, "https://", 8) == 0);
	for (const char *c = s->url; *c; c++)
		CHECK((unsigned char)*c > 0x20 && *c != 0x7f);
	CHECK(strlen(s->md5) == ST_MD5_HEX);
	for (const char *c = s->md5; *c; c++)
		CHECK(isdigit((unsigned char)*c) || (*c >= 'a' && *c <= 'f'));
	struct st_stack copy = *s;
	cm_err err;
	CHECK(st_stack_check(&copy, &err) == 0);
	for (size_t j = 0; j < i; j++) {
		const struct st_stack *o = &m->stacks[j];
		CHECK(strcmp(o->name, s->name) != 0 || strcmp(o->version, s->version) != 0);
		CHECK(strcmp(o->name, s->name) != 0 || !(o->primary && s->primary));
	}
	/* the exact version is found; the name alone finds its primary, or fails saying why */
	CHECK(st_manifest_find(m, s->name, s->version, &err) == s);
	const struct st_stack *by_name = st_manifest_find(m, s->name, NULL, &err);
	CHECK(by_name ? strcmp(by_name->name, s->name) == 0 : err.msg[0] != '\0');
	CHECK(!s->primary || by_name == s);
}

/* Written out and read back, the manifest is the same. */
static void check_round_trip(const struct st_manifest *m)
{
	char *yaml = st_manifest_format(m);
	struct st_manifest *back = NULL;
	cm_err err;
	if (st_manifest_parse(yaml, strlen(yaml), "again.yml", "/stacks", &back, &err) < 0) {
		fprintf(stderr, "%s\n---\n%s", err.msg, yaml);
		CHECK(!"the written manifest reads back");
	}
	CHECK(back->n == m->n);
	for (size_t i = 0; i < m->n; i++) {
		const struct st_stack *a = &m->stacks[i], *b = &back->stacks[i];
		CHECK(strcmp(a->name, b->name) == 0 && strcmp(a->version, b->version) == 0);
		CHECK(strcmp(a->url, b->url) == 0 && strcmp(a->md5, b->md5) == 0);
		CHECK(a->primary == b->primary);
	}
	st_manifest_free(back);
	free(yaml);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct st_manifest *m = NULL;
	cm_err err;
	cm_err_clear(&err);
	if (st_manifest_parse((const char *)data, size, "fuzz.yml", "/stacks", &m, &err) < 0) {
		CHECK(m == NULL);
		CHECK(strncmp(err.msg, "fuzz.yml", 8) == 0); /* errors name the file */
		return 0;
	}
	CHECK(strcmp(m->path, "fuzz.yml") == 0 && strcmp(m->dir, "/stacks") == 0);
	for (size_t i = 0; i < m->n; i++)
		check_stack(m, i);
	check_round_trip(m);
	st_manifest_free(m);
	return 0;
}
