/* The stack manifest: what is read, and the words a user gets, naming the file, the line and
 * the field, for each rule a manifest can break. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "stacks/manifest.h"

#define MD5A "0123456789abcdef0123456789abcdef"
#define MD5B "fedcba9876543210fedcba9876543210"

/* One complete entry, as YAML lines, with the md5 given. */
#define ENTRY(name, version, md5)                                                                  \
	"- name: " name "\n  version: " version "\n  url: https://stacks.example/" name            \
	"-" version ".img.gz\n  md5: " md5 "\n"

static struct st_manifest *parse_ok(const char *yaml)
{
	struct st_manifest *m = NULL;
	cm_err err;
	if (st_manifest_parse(yaml, strlen(yaml), "m.yml", "/stacks", &m, &err) < 0)
		fail_msg("rejected:\n%s\n%s", yaml, err.msg);
	return m;
}

static void expect_error_len(const char *yaml, size_t len, const char *const *words)
{
	struct st_manifest *m = NULL;
	cm_err err;
	if (st_manifest_parse(yaml, len, "m.yml", "/stacks", &m, &err) == 0) {
		st_manifest_free(m);
		fail_msg("accepted:\n%s", yaml);
	}
	assert_null(m);
	for (size_t i = 0; words[i]; i++)
		if (!strstr(err.msg, words[i]))
			fail_msg("for:\n%s\nwant \"%s\" in \"%s\"", yaml, words[i], err.msg);
}

#define expect_error(yaml, ...)                                                                    \
	expect_error_len(yaml, strlen(yaml), (const char *const[]){__VA_ARGS__, NULL})

static void reads_every_field(void **state)
{
	(void)state;
	_cleanup_manifest_ struct st_manifest *m = parse_ok("# stacks\n" ENTRY(
	    "cedar-14", "v42",
	    "0123456789ABCDEF0123456789abcdef") "  primary: true\n"
	                                        "  comment: [unknown keys, {are: skipped}]\n"
	                                        "- name: heroku-16\n"
	                                        "  version: \"16.0\"\n"
	                                        "  url: file:///srv/stacks/heroku-16.img.gz\n"
	                                        "  md5: '" MD5B "'\n"
	                                        "  primary: no\n" ENTRY("busybox", "1", MD5A));
	assert_int_equal(m->n, 3);
	assert_string_equal(m->path, "m.yml");
	assert_string_equal(m->dir, "/stacks");
	const struct st_stack *s = &m->stacks[0];
	assert_string_equal(s->name, "cedar-14");
	assert_string_equal(s->version, "v42");
	assert_string_equal(s->url, "https://stacks.example/cedar-14-v42.img.gz");
	assert_string_equal(s->md5, MD5A); /* made lowercase */
	assert_true(s->primary);
	assert_int_equal(s->line, 2);
	assert_string_equal(m->stacks[1].version, "16.0");
	assert_false(m->stacks[1].primary);
	assert_int_equal(m->stacks[1].line, 8);
	assert_false(m->stacks[2].primary); /* the default */
	_cleanup_free_ char *id = st_stack_id(s);
	assert_string_equal(id, "cedar-14-v42");
}

static void empty_documents_list_no_stacks(void **state)
{
	(void)state;
	static const char *const docs[] = {"", "---\n", "~\n", "[]\n", "# nothing yet\n"};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct st_manifest *m = parse_ok(docs[i]);
		assert_int_equal(m->n, 0);
		st_manifest_free(m);
	}
}

static void booleans_as_yaml_1_1(void **state)
{
	(void)state;
	static const struct {
		const char *word;
		bool value;
	} cases[] = {{"true", true}, {"True", true},   {"yes", true}, {"on", true},
	             {"Y", true},    {"false", false}, {"NO", false}, {"off", false}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char yaml[512];
		snprintf(yaml, sizeof(yaml), ENTRY("a", "1", MD5A) "  primary: %s\n",
		         cases[i].word);
		struct st_manifest *m = parse_ok(yaml);
		assert_int_equal(m->stacks[0].primary, cases[i].value);
		st_manifest_free(m);
	}
}

/* The structure: a list of mappings, in one YAML document. */
static void structure_errors(void **state)
{
	(void)state;
	expect_error("- name: \"a\n  version: 1\n", "m.yml:", "not valid YAML");
	expect_error("- name: a\n\tversion: 1\n", "m.yml:2:", "not valid YAML");
	expect_error("name: a\n", "m.yml:1: a list of stacks expected, found a mapping");
	expect_error("just words\n", "m.yml:1: a list of stacks expected, found a single value");
	expect_error(ENTRY("a", "1", MD5A) "- b\n",
	             "m.yml:5: stack 2: a mapping of name, version, url, md5 and primary "
	             "expected, found a single value");
	expect_error("- [a, b]\n", "m.yml:1: stack 1: a mapping", "found a list");
	expect_error(ENTRY("a", "1", MD5A) "---\n" ENTRY("b", "1", MD5A),
	             "m.yml:5: a second YAML document");
	expect_error(ENTRY("a", "1", MD5A) "- name: &n b\n  version: *n\n",
	             "m.yml:6: YAML aliases");
	expect_error("- ? [a]\n  : b\n", "m.yml:1: stack 1: a key must be a word, found a list");
	expect_error("- name: \xff\n", "m.yml: not valid YAML", "at byte");
}

/* Each field's rules; every message names the file, the line, the entry and the field. */
static void field_errors(void **state)
{
	(void)state;
	expect_error("- version: 1\n  url: https://x/y\n  md5: " MD5A "\n",
	             "m.yml:1: stack 1: name is missing");
	expect_error("- name: a\n  url: https://x/y\n  md5: " MD5A "\n",
	             "m.yml:1: stack 1 (a): version is missing");
	expect_error("- name: a\n  version: 1\n  md5: " MD5A "\n",
	             "m.yml:1: stack 1 (a): url is missing");
	expect_error(ENTRY("a", "1", MD5A) "- name: b\n  version: 1\n  url: https://x/y\n",
	             "m.yml:5: stack 2 (b): md5 is missing");
	expect_error("- name: a/b\n", "m.yml:1: stack 1: name: at most 64 letters", "\"a/b\"");
	expect_error("- name: .hidden\n", "m.yml:1: stack 1: name:", "starting with a letter");
	expect_error("- name: "
	             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	             "stack 1: name: at most 64");
	expect_error("- name: ~\n", "m.yml:1: stack 1: name is empty");
	expect_error("- name: a\n  version: ''\n", "m.yml:2: stack 1 (a): version is empty");
	expect_error("- name: a\n  version: ../1\n", "m.yml:2: stack 1 (a): version:");
	expect_error("- name: a\n  version: 1\n  url: ftp://x/y\n",
	             "m.yml:3: stack 1 (a): url: a file:///, http:// or https:// URL expected, "
	             "found \"ftp://x/y\"");
	expect_error("- name: a\n  version: 1\n  url: http:///y\n",
	             "m.yml:3: stack 1 (a): url: an http(s) URL with a host");
	expect_error("- name: a\n  version: 1\n  url: file://host/y\n", "m.yml:3:", "url:");
	expect_error("- name: a\n  version: 1\n  url: \"https://x/a b\"\n",
	             "m.yml:3:", "url: a URL without spaces");
	expect_error("- name: a\n  version: 1\n  url: https://x/y\n  md5: abc\n",
	             "m.yml:4: stack 1 (a): md5: 32 hexadecimal digits expected, found \"abc\"");
	expect_error("- name: a\n  version: 1\n  url: https://x/y\n"
	             "  md5: 0123456789abcdef0123456789abcdeg\n",
	             "m.yml:4: stack 1 (a): md5: 32 hexadecimal digits");
	expect_error(ENTRY("a", "1", MD5A) "  primary: maybe\n",
	             "m.yml:5: stack 1 (a): primary: true or false expected, found maybe");
	expect_error(ENTRY("a", "1", MD5A) "  primary: \"true\"\n",
	             "m.yml:5: stack 1 (a): primary:", "found the string \"true\"");
	expect_error("- name: [a]\n", "m.yml:1: stack 1: name: a string expected, found a list");
	expect_error(ENTRY("a", "1", MD5A) "  primary: {x: 1}\n",
	             "m.yml:5: stack 1: primary: true or false expected, found a mapping");
	expect_error("- name: a\n  name: b\n", "m.yml:2: stack 1: name is given twice (also at "
	                                       "line 1)");
	expect_error("- name: \"a\\0b\"\n", "m.yml:1: stack 1: name holds a NUL byte");
}

/* Rules across entries. */
static void entries_errors(void **state)
{
	(void)state;
	expect_error(ENTRY("a", "1", MD5A) ENTRY("a", "1", MD5B),
	             "m.yml:5: stack 2 (a): version 1 is listed twice (also at line 1)");
	expect_error(
	    ENTRY("a", "1", MD5A) "  primary: true\n" ENTRY("a", "2", MD5B) "  primary: true\n",
	    "m.yml:6: stack 2 (a): primary: a second primary version of a (the other is "
	    "at line 1)");
}

static void too_large_is_refused(void **state)
{
	(void)state;
	size_t len = ST_MANIFEST_MAX + 1;
	_cleanup_free_ char *big = malloc(len);
	memset(big, '#', len);
	expect_error_len(big, len, (const char *const[]){"m.yml is larger than", NULL});
}

static void finds_the_stack_a_release_names(void **state)
{
	(void)state;
	_cleanup_manifest_ struct st_manifest *m =
	    parse_ok(ENTRY("cedar", "1", MD5A) ENTRY("cedar", "2", MD5A) "  primary: true\n" ENTRY(
	        "solo", "7", MD5A) ENTRY("twins", "1", MD5A) ENTRY("twins", "2", MD5A));
	cm_err err;
	assert_string_equal(st_manifest_find(m, "cedar", NULL, &err)->version, "2");
	assert_string_equal(st_manifest_find(m, "cedar", "1", &err)->version, "1");
	assert_string_equal(st_manifest_find(m, "solo", NULL, &err)->version, "7");
	assert_null(st_manifest_find(m, "twins", NULL, &err));
	assert_non_null(strstr(err.msg, "stack \"twins\": m.yml lists 2 versions of it and none "
	                                "is primary"));
	assert_null(st_manifest_find(m, "heroku-18", NULL, &err));
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "unknown stack \"heroku-18\": m.yml lists cedar-1, "
	                                "cedar-2, solo-7"));
	assert_null(st_manifest_find(m, "cedar", "3", &err));
	assert_non_null(strstr(err.msg, "unknown stack \"cedar-3\""));
	_cleanup_manifest_ struct st_manifest *none = parse_ok("");
	assert_null(st_manifest_find(none, "cedar", NULL, &err));
	assert_non_null(strstr(err.msg, "m.yml lists no stacks"));
}

static void formats_and_reads_back(void **state)
{
	(void)state;
	_cleanup_manifest_ struct st_manifest *m = parse_ok(ENTRY("cedar", "1", MD5A) ENTRY(
	    "cedar", "true", MD5B) "  primary: true\n" ENTRY("x", "007", MD5A));
	_cleanup_free_ char *yaml = st_manifest_format(m);
	_cleanup_manifest_ struct st_manifest *back = parse_ok(yaml);
	assert_int_equal(back->n, m->n);
	for (size_t i = 0; i < m->n; i++) {
		assert_string_equal(back->stacks[i].name, m->stacks[i].name);
		assert_string_equal(back->stacks[i].version, m->stacks[i].version);
		assert_string_equal(back->stacks[i].url, m->stacks[i].url);
		assert_string_equal(back->stacks[i].md5, m->stacks[i].md5);
		assert_int_equal(back->stacks[i].primary, m->stacks[i].primary);
	}
	_cleanup_manifest_ struct st_manifest *empty = parse_ok("");
	_cleanup_free_ char *none = st_manifest_format(empty);
	_cleanup_manifest_ struct st_manifest *empty_back = parse_ok(none);
	assert_int_equal(empty_back->n, 0);
}

static void put_replaces_and_moves_primary(void **state)
{
	(void)state;
	_cleanup_manifest_ struct st_manifest *m = parse_ok(ENTRY(
	    "cedar", "1", MD5A) "  primary: true\n" ENTRY("other", "1", MD5A) "  primary: true\n");
	struct st_stack s = {.name = "cedar",
	                     .version = "2",
	                     .url = "file:///x.img.gz",
	                     .md5 = MD5B,
	                     .primary = true};
	st_manifest_put(m, &s);
	assert_int_equal(m->n, 3);
	assert_false(m->stacks[0].primary);
	assert_true(m->stacks[1].primary); /* another name keeps its own */
	assert_true(m->stacks[2].primary);
	s.md5 = MD5A;
	st_manifest_put(m, &s);
	assert_int_equal(m->n, 3);
	assert_string_equal(m->stacks[2].md5, MD5A);
	cm_err err;
	assert_string_equal(st_manifest_find(m, "cedar", NULL, &err)->version, "2");
}

static void checks_a_stack_given_by_hand(void **state)
{
	(void)state;
	cm_err err;
	struct st_stack s = {.name = "ok", .version = "bad/version"};
	assert_int_equal(st_stack_check(&s, &err), -1);
	assert_non_null(strstr(err.msg, "version: at most 64 letters"));
	s.version = "1";
	assert_int_equal(st_stack_check(&s, &err), 0);
}

/* Loading from a file: only a regular file is read. */
static void loads_only_regular_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/test_stacks_manifest.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128], link[128], fifo[128];
	snprintf(path, sizeof(path), "%s/manifest.yml", dir);
	snprintf(link, sizeof(link), "%s/link.yml", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo.yml", dir);
	FILE *f = fopen(path, "w");
	fputs(ENTRY("a", "1", MD5A), f);
	fclose(f);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	cm_err err;
	struct st_manifest *m = NULL;
	assert_int_equal(st_manifest_load(path, &m, &err), 0);
	assert_int_equal(m->n, 1);
	assert_string_equal(m->dir, dir); /* absolute, the images' directory */
	st_manifest_free(m);
	m = NULL;
	assert_int_equal(st_manifest_load(link, &m, &err), -1);
	assert_non_null(strstr(err.msg, "is a symbolic link, not a regular file"));
	assert_int_equal(st_manifest_load(fifo, &m, &err), -1); /* must not block */
	assert_non_null(strstr(err.msg, "is a FIFO"));
	snprintf(fifo, sizeof(fifo), "%s/missing.yml", dir);
	assert_int_equal(st_manifest_load(fifo, &m, &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_non_null(strstr(err.msg, "missing.yml"));
	assert_null(m);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reads_every_field),
	    cmocka_unit_test(empty_documents_list_no_stacks),
	    cmocka_unit_test(booleans_as_yaml_1_1),
	    cmocka_unit_test(structure_errors),
	    cmocka_unit_test(field_errors),
	    cmocka_unit_test(entries_errors),
	    cmocka_unit_test(too_large_is_refused),
	    cmocka_unit_test(finds_the_stack_a_release_names),
	    cmocka_unit_test(formats_and_reads_back),
	    cmocka_unit_test(put_replaces_and_moves_primary),
	    cmocka_unit_test(checks_a_stack_given_by_hand),
	    cmocka_unit_test(loads_only_regular_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
