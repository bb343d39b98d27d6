/* Control documents: what is accepted, and the words a user gets for what is not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hsupd/env.h"
#include "hsupd/release.h"
#include "common/strv.h"

static struct hs_release *parse_ok(const char *doc)
{
	struct hs_release *r = NULL;
	cm_err err;
	if (hs_release_parse(doc, strlen(doc), &r, &err) < 0)
		fail_msg("rejected %s: %s", doc, err.msg);
	return r;
}

static void expect_error(const char *doc, const char *words)
{
	struct hs_release *r = NULL;
	cm_err err;
	if (hs_release_parse(doc, strlen(doc), &r, &err) == 0) {
		hs_release_unref(r);
		fail_msg("accepted %s", doc);
	}
	if (!strstr(err.msg, words))
		fail_msg("for %s: want \"%s\" in \"%s\"", doc, words, err.msg);
}

static void full_document(void **state)
{
	(void)state;
	struct hs_release *r = parse_ok(
	    "{\"Version\": 7, \"Name\": \"app\", \"Env\": {\"B\": \"2\", \"A\": \"1\"},"
	    " \"Slug\": \"s.tgz\", \"Stack\": \"cedar-14\", \"Unknown\": [1],"
	    " \"Processes\": [{\"Type\": \"web\", \"Quantity\": 2, \"Args\": [\"./web\", \"-p\"]},"
	    " {\"Type\": \"worker-2_x\", \"Quantity\": 0, \"Args\": [\"w\"]}],"
	    " \"LogplexURL\": \"https://u:p@logs.example/logs\"}");
	assert_int_equal(r->version, 7);
	assert_string_equal(r->name, "app");
	assert_string_equal(r->env[0], "A=1"); /* sorted */
	assert_string_equal(r->env[1], "B=2");
	assert_null(r->env[2]);
	assert_int_equal(r->nprocs, 2);
	assert_string_equal(r->procs[0].args[1], "-p");
	assert_int_equal(hs_release_find(r, "worker-2_x")->quantity, 0);
	assert_string_equal(hs_release_env_get(r, "B"), "2");
	assert_null(hs_release_env_get(r, "C"));
	hs_release_unref(r);
}

static void nulls_and_empties(void **state)
{
	(void)state;
	hs_release_unref(parse_ok("{\"Env\": null, \"Processes\": null}"));
	hs_release_unref(parse_ok("{\"Processes\": []}"));
	hs_release_unref(parse_ok("{}"));
}

static void json_errors_name_line_and_column(void **state)
{
	(void)state;
	expect_error("{\n  \"Version\": 1,\n  \"Env\": {\"A\": \"x\",}\n}", "line 3, column");
	expect_error("[1, 2]", "must be a JSON object");
	expect_error("{\"Env\": {\"A\": \"1\", \"A\": \"2\"}}", "duplicate");
}

/* jansson lets a NUL byte through after a number; the document, kept as a C string, would be
 * cut short at it while its length said otherwise (found by fuzz/fuzz_release.c). */
static void nul_byte_is_refused(void **state)
{
	(void)state;
	static const char doc[] = "{\"Version\": 1,\n \"X\": 0.5\0}";
	struct hs_release *r = NULL;
	cm_err err;
	if (hs_release_parse(doc, sizeof(doc) - 1, &r, &err) == 0) {
		hs_release_unref(r);
		fail_msg("accepted a document with a NUL byte");
	}
	assert_string_equal(err.msg, "invalid JSON at line 2, column 10: a NUL byte");
}

static void field_rules(void **state)
{
	(void)state;
	expect_error("{\"Version\": \"1\"}", "Version must be an integer");
	expect_error("{\"Env\": {\"1A\": \"x\"}}", "Env key \"1A\" is not a valid variable name");
	expect_error("{\"Env\": {\"A-B\": \"x\"}}", "not a valid variable name");
	expect_error("{\"Env\": {\"PORT\": 5000}}", "Env.PORT must be a string");
	expect_error("{\"Env\": []}", "Env must be an object");
	expect_error("{\"Processes\": {}}", "Processes must be an array");
	expect_error("{\"Processes\": [{\"Type\": \"we b\", \"Args\": [\"x\"]}]}",
	             "Processes[0].Type \"we b\" is not a valid process type");
	expect_error("{\"Processes\": [{\"Type\": \"\", \"Args\": [\"x\"]}]}",
	             "is not a valid process type");
	expect_error("{\"Processes\": [{\"Type\": \"web\", \"Quantity\": -1, \"Args\": [\"x\"]}]}",
	             "Processes[0].Quantity is -1");
	expect_error("{\"Processes\": [{\"Type\": \"web\", \"Args\": []}]}",
	             "Processes[0].Args is empty");
	expect_error("{\"Processes\": [{\"Type\": \"web\", \"Args\": [1]}]}",
	             "Processes[0].Args[0] must be a string");
	expect_error("{\"Processes\": [{\"Type\": \"a\", \"Args\": [\"x\"]},"
	             " {\"Type\": \"a\", \"Args\": [\"y\"]}]}",
	             "Processes[1].Type \"a\" is listed twice");
	expect_error("{\"LogplexURL\": \"ftp://x/\"}", "must be an http or https URL");
	expect_error("{\"LogplexURL\": \"not a url\"}", "is not a valid URL");
	char long_type[200];
	memset(long_type, 'a', 129);
	long_type[129] = '\0';
	char doc[400];
	snprintf(doc, sizeof(doc), "{\"Processes\": [{\"Type\": \"%s\", \"Args\": [\"x\"]}]}",
	         long_type);
	expect_error(doc, "is not a valid process type");
}

static void dyno_environment(void **state)
{
	(void)state;
	struct hs_release *r = parse_ok("{\"Env\": {\"X\": \"1\", \"DYNO\": \"fake\"}}");
	char **env = hs_env_build(r, "web.2", 5001, false);
	bool port = false, dyno = false, x = false;
	for (size_t i = 0; env[i]; i++) {
		port |= strcmp(env[i], "PORT=5001") == 0;
		dyno |= strcmp(env[i], "DYNO=web.2") == 0;
		x |= strcmp(env[i], "X=1") == 0;
		assert_string_not_equal(env[i], "DYNO=fake");
	}
	assert_true(port && dyno && x);
	cm_strv_free(env);
	/* Ports: PORT or 5000, then apart per type and per dyno on a shared host network. */
	assert_int_equal(hs_env_port(r, 0, 0, true), 5000);
	assert_int_equal(hs_env_port(r, 1, 2, true), 5102);
	assert_int_equal(hs_env_port(r, 1, 2, false), 5000);
	hs_release_unref(r);
	r = parse_ok("{\"Env\": {\"PORT\": \"8080\"}}");
	assert_int_equal(hs_env_port(r, 0, 1, true), 8081);
	hs_release_unref(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(full_document),
	    cmocka_unit_test(nulls_and_empties),
	    cmocka_unit_test(json_errors_name_line_and_column),
	    cmocka_unit_test(nul_byte_is_refused),
	    cmocka_unit_test(field_rules),
	    cmocka_unit_test(dyno_environment),
	};
	return cmocka_run_group_tests_name("release", tests, NULL, NULL);
}
