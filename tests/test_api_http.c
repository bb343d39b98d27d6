/* The control API's HTTP side without a socket (control/api_http.c): one answer per request,
 * the rest left for after it, requests cut anywhere, and refusals that close. Only routes that
 * need no supervisor are used. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control/api_http.h"

#define HEALTH "GET /health HTTP/1.1\r\nHost: h\r\n\r\n"

static bool starts_with(const struct hs_api_answer *a, const char *prefix)
{
	return a->data && strncmp(a->data, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const struct hs_api_answer *a, const char *suffix)
{
	size_t n = strlen(suffix);
	return a->data && a->len >= n && memcmp(a->data + a->len - n, suffix, n) == 0;
}

static void pipelined_requests_are_answered_one_at_a_time(void **state)
{
	(void)state;
	const char *in = HEALTH "GET /nope HTTP/1.1\r\n\r\n";
	size_t n = strlen(in);
	struct hs_api_http h;
	struct hs_api_answer a;
	hs_api_http_init(&h, NULL);
	size_t used = hs_api_http_feed(&h, in, n, &a);
	assert_int_equal(used, strlen(HEALTH)); /* the second waits for the first's answer */
	assert_true(starts_with(&a, "HTTP/1.1 200 OK\r\n") && ends_with(&a, "\r\n\r\nOK"));
	assert_false(a.close);
	free(a.data);
	used += hs_api_http_feed(&h, in + used, n - used, &a);
	assert_int_equal(used, n);
	assert_true(starts_with(&a, "HTTP/1.1 404 Not Found\r\n"));
	assert_true(ends_with(&a, "{\"Error\":\"no such resource\"}\n"));
	free(a.data);
	hs_api_http_free(&h);
}

static void a_request_cut_anywhere_is_answered_at_its_end(void **state)
{
	(void)state;
	const char *in = "POST /health HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
	size_t n = strlen(in);
	struct hs_api_http h;
	struct hs_api_answer a;
	hs_api_http_init(&h, NULL);
	for (size_t i = 0; i < n - 1; i++) {
		assert_int_equal(hs_api_http_feed(&h, in + i, 1, &a), 1);
		assert_null(a.data);
		assert_true(h.in_request);
	}
	assert_int_equal(hs_api_http_feed(&h, in + n - 1, 1, &a), 1);
	assert_true(starts_with(&a, "HTTP/1.1 405 Method Not Allowed\r\n"));
	assert_non_null(strstr(a.data, "\r\nAllow: GET\r\n"));
	assert_false(h.in_request);
	free(a.data);
	hs_api_http_free(&h);
}

/* in: the request; want: the start of the answer, which closes the connection. */
static void refused(const char *in, const char *want)
{
	struct hs_api_http h;
	struct hs_api_answer a;
	hs_api_http_init(&h, NULL);
	assert_int_equal(hs_api_http_feed(&h, in, strlen(in), &a), strlen(in));
	assert_true(starts_with(&a, want));
	assert_true(a.close);
	assert_non_null(strstr(a.data, "\r\nConnection: close\r\n"));
	assert_non_null(strstr(a.data, "{\"Error\":"));
	free(a.data);
	/* Nothing more is parsed on that connection. */
	assert_int_equal(hs_api_http_feed(&h, HEALTH, strlen(HEALTH), &a), strlen(HEALTH));
	assert_null(a.data);
	hs_api_http_free(&h);
}

static void oversized_or_malformed_requests_are_refused(void **state)
{
	(void)state;
	refused("POST /control/stop HTTP/1.1\r\nContent-Length: 65537\r\n\r\n",
	        "HTTP/1.1 413 Payload Too Large\r\n");
	char url[5000];
	memset(url, 'a', sizeof(url));
	memcpy(url, "GET /", 5);
	snprintf(url + 4500, sizeof(url) - 4500, " HTTP/1.1\r\n\r\n");
	refused(url, "HTTP/1.1 414 URI Too Long\r\n");
	refused("GARBAGE\x01 / HTTP/9.9\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n");
}

/* Found by fuzz_http: a name in invalid UTF-8 could not be quoted in the JSON error, which
 * came out as {} without a message. */
static void a_path_not_in_printable_ascii_is_a_bad_request(void **state)
{
	(void)state;
	const char *in = "POST /dynos/web.\x98/restart HTTP/1.1\r\n\r\n";
	struct hs_api_http h;
	struct hs_api_answer a;
	hs_api_http_init(&h, NULL);
	assert_int_equal(hs_api_http_feed(&h, in, strlen(in), &a), strlen(in));
	assert_true(starts_with(&a, "HTTP/1.1 400 Bad Request\r\n"));
	assert_true(ends_with(&a, "{\"Error\":\"the request target is not a valid path\"}\n"));
	assert_false(a.close);
	free(a.data);
	hs_api_http_free(&h);
}

static void http10_and_upgrades_close_after_the_answer(void **state)
{
	(void)state;
	const char *ins[] = {"GET /health HTTP/1.0\r\n\r\n",
	                     "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n",
	                     "GET /health HTTP/1.1\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"};
	for (size_t i = 0; i < sizeof(ins) / sizeof(ins[0]); i++) {
		struct hs_api_http h;
		struct hs_api_answer a;
		hs_api_http_init(&h, NULL);
		hs_api_http_feed(&h, ins[i], strlen(ins[i]), &a);
		assert_true(starts_with(&a, "HTTP/1.1 200 OK\r\n"));
		assert_true(a.close);
		free(a.data);
		hs_api_http_free(&h);
	}
}

static void an_idle_connection_holds_no_request(void **state)
{
	(void)state;
	struct hs_api_http h;
	struct hs_api_answer a;
	hs_api_http_init(&h, NULL);
	assert_int_equal(hs_api_http_feed(&h, "\r\n\r\n", 4, &a), 4); /* between requests */
	assert_false(h.in_request);
	assert_int_equal(hs_api_http_feed(&h, "G", 1, &a), 1);
	assert_true(h.in_request);
	hs_api_http_feed(&h, HEALTH + 1, strlen(HEALTH) - 1, &a);
	assert_non_null(a.data);
	free(a.data);
	assert_false(h.in_request);
	assert_null(h.url);
	assert_null(h.body);
	hs_api_http_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pipelined_requests_are_answered_one_at_a_time),
	    cmocka_unit_test(a_request_cut_anywhere_is_answered_at_its_end),
	    cmocka_unit_test(oversized_or_malformed_requests_are_refused),
	    cmocka_unit_test(a_path_not_in_printable_ascii_is_a_bad_request),
	    cmocka_unit_test(http10_and_upgrades_close_after_the_answer),
	    cmocka_unit_test(an_idle_connection_holds_no_request),
	};
	return cmocka_run_group_tests_name("api_http", tests, NULL, NULL);
}
