/* Control documents: what is accepted, and the words a user gets for what is not. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hsupd/env.h"
#include "hsupd/dynosize.h"
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

/* Returns the error's code. */
static int expect_error(const char *doc, const char *words)
{
	struct hs_release *r = NULL;
	cm_err err;
	if (hs_release_parse(doc, strlen(doc), &r, &err) == 0) {
		hs_release_unref(r);
		fail_msg("accepted %.200s", doc);
	}
	if (!strstr(err.msg, words))
		fail_msg("for %.200s: want \"%s\" in \"%s\"", doc, words, err.msg);
	return err.code;
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

static void truncated_documents_say_so(void **state)
{
	(void)state;
	assert_int_equal(expect_error("{\"Version\": 1, \"Env\": {\"A\": \"x", "line 1"), ENODATA);
	assert_int_equal(expect_error("{\"Version\": 1,", "line 1"), ENODATA);
	assert_int_equal(expect_error("", "line 1"), ENODATA);
	assert_int_equal(expect_error("{\"Version\": 1}}", "line 1"), EINVAL);
	assert_int_equal(expect_error("{\"Version\": x}", "line 1"), EINVAL);
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

static void dyno_sizes(void **state)
{
	(void)state;
	const char *doc = "{\"Processes\": [{\"Type\": \"web\", \"Args\": [\"x\"]},"
	                  " {\"Type\": \"big\", \"Size\": \"performance-l\", \"Args\": [\"y\"]}]}";
	struct hs_release *r = NULL;
	cm_err err;
	assert_int_equal(hs_release_parse(doc, strlen(doc), &r, &err), 0);
	assert_string_equal(r->procs[0].size->name, "standard-1x");
	assert_int_equal(r->procs[0].size->memory_quota, 512ULL << 20);
	assert_string_equal(r->procs[1].size->name, "performance-l");
	assert_int_equal(r->procs[1].size->memory_limit, 14336ULL << 20);
	hs_release_unref(r);
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
	expect_error(
	    "{\"Processes\": [{\"Type\": \"web\", \"Size\": \"huge\", \"Args\": [\"x\"]}]}",
	    "Processes[0].Size \"huge\" is not a dyno size (free, hobby");
	expect_error("{\"Processes\": [{\"Type\": \"web\", \"Size\": 2, \"Args\": [\"x\"]}]}",
	             "Processes[0].Size must be a string, not an integer");
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
	char **env = hs_env_build(r, "web.2", 5001, false, false);
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

/* A document with one config var A whose value is n bytes of 'x', and one process type. */
static char *doc_with_var(size_t n, const char *cmd)
{
	char *v = malloc(n + 1);
	memset(v, 'x', n);
	v[n] = '\0';
	char *doc;
	assert_true(asprintf(&doc,
	                     "{\"Env\": {\"A\": \"%s\"}, \"Processes\": [{\"Type\": \"web\", "
	                     "\"Quantity\": 1, \"Args\": [\"%s\"]}]}",
	                     v, cmd) > 0);
	free(v);
	return doc;
}

/* Whether execve takes one variable A of n bytes of value (E2BIG if not). */
static bool kernel_takes_var(size_t n)
{
	char *var = malloc(n + 3);
	memcpy(var, "A=", 2);
	memset(var + 2, 'x', n);
	var[n + 2] = '\0';
	char *argv[] = {"true", NULL}, *envp[] = {var, NULL};
	pid_t pid = fork();
	if (pid == 0) {
		execve("/bin/true", argv, envp);
		_exit(errno == E2BIG ? 7 : 8);
	}
	free(var);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 8);
	return WEXITSTATUS(status) == 0;
}

static void what_the_kernel_cannot_pass_is_refused(void **state)
{
	(void)state;
	/* The argument space is a quarter of the stack limit: make it 2 MiB whatever the shell
	 * running the tests set. */
	struct rlimit old, stack = {.rlim_cur = 8 << 20};
	getrlimit(RLIMIT_STACK, &old);
	stack.rlim_max = old.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_STACK, &stack), 0);
	size_t max = (size_t)sysconf(_SC_PAGESIZE) * 32 - 1; /* MAX_ARG_STRLEN without the NUL */

	/* The longest variable hsup accepts is one the kernel takes; a byte more, it does not. */
	size_t longest = max - strlen("A=");
	char *doc = doc_with_var(longest, "true");
	hs_release_unref(parse_ok(doc));
	free(doc);
	assert_true(kernel_takes_var(longest));
	assert_false(kernel_takes_var(longest + 1));
	doc = doc_with_var(longest + 1, "true");
	assert_int_equal(expect_error(doc, "Env.A is 131072 bytes as KEY=VALUE; the kernel "
	                                   "passes a variable of at most 131071 bytes"),
	                 E2BIG);
	free(doc);
	doc = doc_with_var(200 * 1000, "true");
	expect_error(doc, "Env.A is 200002 bytes");
	free(doc);

	/* bash -c gets Args joined with spaces as one argument. */
	char *big = malloc(max + 2);
	memset(big, 'y', max);
	big[max] = '\0';
	doc = doc_with_var(1, big); /* the longest command is accepted */
	hs_release_unref(parse_ok(doc));
	free(doc);
	strcat(big, "y");
	doc = doc_with_var(1, big);
	expect_error(doc, "Processes[0] (web): its Args joined with spaces make a command of "
	                  "131072 bytes; the kernel passes an argument of at most 131071 bytes");
	free(doc);
	free(big);

	/* Twenty variables of 120 kB: each fits, all of them do not. */
	char *env = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&env, &len);
	for (int i = 0; i < 20; i++) {
		fprintf(f, "%s\"V%d\": \"", i ? ", " : "", i);
		for (int j = 0; j < 120 * 1000; j++)
			fputc('z', f);
		fputc('"', f);
	}
	fclose(f);
	assert_true(asprintf(&doc,
	                     "{\"Env\": {%s}, \"Processes\": [{\"Type\": \"worker\", "
	                     "\"Args\": [\"x\"]}]}",
	                     env) > 0);
	assert_int_equal(expect_error(doc, "Processes[0] (worker): the config vars"), E2BIG);
	expect_error(doc, "the kernel passes at most 2097152 bytes of arguments and environment "
	                  "to a process (ARG_MAX)");
	free(doc);
	free(env);
	setrlimit(RLIMIT_STACK, &old);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(full_document),
	    cmocka_unit_test(nulls_and_empties),
	    cmocka_unit_test(json_errors_name_line_and_column),
	    cmocka_unit_test(truncated_documents_say_so),
	    cmocka_unit_test(nul_byte_is_refused),
	    cmocka_unit_test(field_rules),
	    cmocka_unit_test(dyno_sizes),
	    cmocka_unit_test(what_the_kernel_cannot_pass_is_refused),
	    cmocka_unit_test(dyno_environment),
	};
	return cmocka_run_group_tests_name("release", tests, NULL, NULL);
}
