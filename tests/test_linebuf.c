/* Line splitting of dyno output: whole lines, lines across reads, a last line without a
 * newline, and lines longer than the limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hsupd/linebuf.h"

static char out[4096];

static void collect(void *ctx, const char *line, size_t len)
{
	(void)ctx;
	strcat(out, "[");
	strncat(out, line, len);
	strcat(out, "]");
}

static void feed_all(struct hs_linebuf *lb, const char *s)
{
	hs_linebuf_feed(lb, s, strlen(s), collect, NULL);
}

static void lines_across_reads(void **state)
{
	(void)state;
	struct hs_linebuf lb;
	hs_linebuf_init(&lb, 1024);
	out[0] = '\0';
	feed_all(&lb, "one\ntw");
	feed_all(&lb, "o\n\nthr");
	assert_string_equal(out, "[one][two][]");
	feed_all(&lb, "ee");
	hs_linebuf_flush(&lb, collect, NULL);
	assert_string_equal(out, "[one][two][][three]");
	hs_linebuf_flush(&lb, collect, NULL);
	assert_string_equal(out, "[one][two][][three]");
	hs_linebuf_free(&lb);
}

static void long_lines_split_at_the_limit(void **state)
{
	(void)state;
	struct hs_linebuf lb;
	hs_linebuf_init(&lb, 4);
	out[0] = '\0';
	feed_all(&lb, "abcdefghij\nxy");
	feed_all(&lb, "z\n");
	assert_string_equal(out, "[abcd][efgh][ij][xyz]");
	out[0] = '\0';
	feed_all(&lb, "abcd\n"); /* exactly the limit: one line, no empty tail */
	feed_all(&lb, "abcdefgh\nq\n");
	assert_string_equal(out, "[abcd][abcd][efgh][q]");
	hs_linebuf_free(&lb);
}

static void count(void *ctx, const char *line, size_t len)
{
	(void)line;
	*(size_t *)ctx += len;
	if (len != 200000)
		fail_msg("a line of %zu bytes instead of one of 200000", len);
}

static void big_line_passes_whole(void **state)
{
	(void)state;
	struct hs_linebuf lb;
	hs_linebuf_init(&lb, 1 << 20);
	size_t n = 200000;
	char *big = malloc(n + 2);
	memset(big, 'x', n);
	big[n] = '\n';
	big[n + 1] = '\0';
	size_t got = 0;
	for (size_t off = 0; off < n + 1; off += 4096) {
		size_t len = n + 1 - off < 4096 ? n + 1 - off : 4096;
		hs_linebuf_feed(&lb, big + off, len, count, &got);
	}
	assert_int_equal(got, n);
	free(big);
	hs_linebuf_free(&lb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(lines_across_reads),
	    cmocka_unit_test(long_lines_split_at_the_limit),
	    cmocka_unit_test(big_line_passes_whole),
	};
	return cmocka_run_group_tests_name("linebuf", tests, NULL, NULL);
}
