/* The Platform API's answers turned into control documents, and hostile answers refused with
 * words that name what is wrong. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/apidoc.h"
#include "hsupd/release.h"

static struct hs_api_parts parts(const char *config, const char *slug, const char *formation)
{
	struct hs_api_parts p = {
	    .config = json_loads(config, 0, NULL),
	    .slug = slug ? json_loads(slug, 0, NULL) : NULL,
	    .app =
	        json_loads("{\"name\": \"myapp\", \"stack\": {\"name\": \"heroku-22\"}}", 0, NULL),
	    .formation = json_loads(formation, 0, NULL),
	};
	return p;
}

static void parts_free(struct hs_api_parts *p)
{
	json_decref(p->config), json_decref(p->slug), json_decref(p->app),
	    json_decref(p->formation);
}

static void test_document(void **state)
{
	(void)state;
	struct hs_api_release rel = {.id = "r1", .version = 7, .status = "succeeded"};
	struct hs_api_parts p =
	    parts("{\"GREETING\": \"hi\", \"GONE\": null}",
	          "{\"process_types\": {\"web\": \"bin/web\", \"worker\": \"bin/work\"}}",
	          "[{\"type\": \"web\", \"quantity\": 2, \"command\": \"bin/web -p $PORT\", "
	          "\"size\": \"Standard-2X\"}, {\"type\": \"worker\", \"quantity\": 0, "
	          "\"command\": \"\", \"size\": \"Private-L\"}]");
	cm_err err;
	json_t *doc = hs_api_document(&rel, "myapp", &p, "/cache/s1.tgz", &err);
	if (!doc)
		fail_msg("%s", err.msg);
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	assert_string_equal(
	    text,
	    "{\"Env\":{\"GREETING\":\"hi\"},\"Name\":\"myapp\",\"Processes\":[{\"Args\":[\"bin/web "
	    "-p $PORT\"],\"Quantity\":2,\"Size\":\"standard-2x\",\"Type\":\"web\"},{\"Args\":["
	    "\"bin/work\"],\"Quantity\":0,\"Type\":\"worker\"}],\"Slug\":\"/cache/s1.tgz\","
	    "\"Stack\":\"heroku-22\",\"Version\":7}");
	struct hs_release *r;
	assert_int_equal(hs_release_parse(text, strlen(text), &r, &err), 0);
	assert_int_equal(r->nprocs, 2);
	hs_release_unref(r);
	free(text);
	json_decref(doc);
	parts_free(&p);
}

static void expect_refused(const char *config, const char *slug, const char *formation,
                           const char *words)
{
	struct hs_api_release rel = {.id = "r1", .version = 1};
	struct hs_api_parts p = parts(config, slug, formation);
	cm_err err;
	json_t *doc = hs_api_document(&rel, "myapp", &p, NULL, &err);
	if (doc)
		fail_msg("accepted formation %s", formation);
	if (!strstr(err.msg, words))
		fail_msg("\"%s\" does not say \"%s\"", err.msg, words);
	parts_free(&p);
}

static void test_hostile_parts(void **state)
{
	(void)state;
	expect_refused("{\"A\": 1}", NULL, "[]", "config var A is an integer, not a string");
	expect_refused("{}", NULL, "[{\"type\": 3, \"quantity\": 1}]", "formation[0].type");
	expect_refused("{}", NULL, "[{\"type\": \"web\", \"quantity\": \"1\"}]",
	               "formation[0].quantity is a string");
	expect_refused("{}", NULL, "[{\"type\": \"web\", \"quantity\": 1}]",
	               "formation web has no command");
	expect_refused("{}", NULL, "[7]", "formation[0] is an integer");
}

static void test_releases(void **state)
{
	(void)state;
	struct hs_api_release rel;
	cm_err err;
	assert_int_equal(hs_api_newest_release("[]", &rel, &err), 0);
	assert_int_equal(
	    hs_api_newest_release("[{\"id\": \"a-1\", \"version\": 3, \"slug\": null}, {\"id\": "
	                          "\"b-2\", \"version\": 4, \"status\": \"pending\", \"slug\": "
	                          "{\"id\": \"s-9\"}}]",
	                          &rel, &err),
	    1);
	assert_string_equal(rel.id, "b-2");
	assert_int_equal(rel.version, 4);
	assert_string_equal(rel.status, "pending");
	assert_string_equal(rel.slug_id, "s-9");
	static const struct {
		const char *body, *words;
	} bad[] = {
	    {"{}", "an object, not an array"},
	    {"[{\"id\": \"../../etc\", \"version\": 1}]", "is not an id"},
	    {"[{\"id\": \"a\", \"version\": -1}]", "not a count"},
	    {"[{\"id\": \"a\", \"version\": 1, \"slug\": {\"id\": \"x/y\"}}]", "is not an id"},
	    {"[1]", "holds an integer"},
	    {"[", "not JSON"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hs_api_newest_release(bad[i].body, &rel, &err) >= 0)
			fail_msg("accepted %s", bad[i].body);
		if (!strstr(err.msg, bad[i].words))
			fail_msg("\"%s\" does not say \"%s\"", err.msg, bad[i].words);
	}
	assert_false(hs_api_valid_app(".."));
	assert_false(hs_api_valid_app("a/b"));
	assert_true(hs_api_valid_app("my-app_2.x"));
}

static void test_blob(void **state)
{
	(void)state;
	const char *url;
	long long size;
	char sum[65];
	cm_err err;
	json_t *s =
	    json_loads("{\"blob\": {\"url\": \"https://s3/x?sig=1\"}, \"size\": 10, "
	               "\"checksum\": \"SHA256:"
	               "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\"}",
	               0, NULL);
	assert_int_equal(hs_api_slug_blob(s, &url, &size, sum, &err), 0);
	assert_string_equal(url, "https://s3/x?sig=1");
	assert_int_equal(size, 10);
	assert_string_equal(sum,
	                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	json_decref(s);
	s = json_loads("{\"blob\": {\"url\": \"file:///etc/shadow\"}}", 0, NULL);
	assert_int_equal(hs_api_slug_blob(s, &url, &size, sum, &err), -1);
	assert_non_null(strstr(err.msg, "not an http(s) URL"));
	json_decref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_document),
	    cmocka_unit_test(test_hostile_parts),
	    cmocka_unit_test(test_releases),
	    cmocka_unit_test(test_blob),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
