/* The logplex forwarder's settings from the environment: the buffer's size with its suffixes
 * and bounds, the flush timeout, and their defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hsupd/logplex.h"

static int conf_with(const char *buffer, const char *flush, struct hs_logplex_conf *c, cm_err *err)
{
	if (buffer)
		setenv("HSUP_LOGPLEX_BUFFER", buffer, 1);
	else
		unsetenv("HSUP_LOGPLEX_BUFFER");
	if (flush)
		setenv("HSUP_LOGPLEX_FLUSH_TIMEOUT", flush, 1);
	else
		unsetenv("HSUP_LOGPLEX_FLUSH_TIMEOUT");
	*c = (struct hs_logplex_conf){0};
	return hs_logplex_conf_env(c, err);
}

static void defaults(void **state)
{
	(void)state;
	struct hs_logplex_conf c;
	cm_err err;
	assert_int_equal(conf_with(NULL, NULL, &c, &err), 0);
	assert_int_equal(c.buffer_bytes, 8u << 20);
	assert_int_equal(c.flush_timeout_ms, 5000);
	assert_int_equal(conf_with("", "", &c, &err), 0);
	assert_int_equal(c.buffer_bytes, 8u << 20);
}

static void sizes_and_suffixes(void **state)
{
	(void)state;
	struct hs_logplex_conf c;
	cm_err err;
	static const struct {
		const char *in;
		size_t bytes;
	} ok[] = {{"1024", 1024},   {"16k", 16384},   {"16K", 16384},
	          {"8M", 8u << 20}, {"3m", 3u << 20}, {"1024M", 1u << 30}};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(conf_with(ok[i].in, NULL, &c, &err), 0);
		assert_int_equal(c.buffer_bytes, ok[i].bytes);
	}
	static const char *const bad[] = {"1023", "0", "-1",    "8X",
	                                  "8MB",  "k", "1025M", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(conf_with(bad[i], NULL, &c, &err), -1);
		assert_non_null(strstr(err.msg, "HSUP_LOGPLEX_BUFFER"));
	}
}

static void flush_timeout(void **state)
{
	(void)state;
	struct hs_logplex_conf c;
	cm_err err;
	assert_int_equal(conf_with(NULL, "0", &c, &err), 0);
	assert_int_equal(c.flush_timeout_ms, 0);
	assert_int_equal(conf_with(NULL, "2.5", &c, &err), 0);
	assert_int_equal(c.flush_timeout_ms, 2500);
	assert_int_equal(conf_with(NULL, "-1", &c, &err), -1);
	assert_non_null(strstr(err.msg, "HSUP_LOGPLEX_FLUSH_TIMEOUT \"-1\""));
	assert_int_equal(conf_with(NULL, "soon", &c, &err), -1);
	assert_int_equal(conf_with(NULL, "3601", &c, &err), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(defaults),
	    cmocka_unit_test(sizes_and_suffixes),
	    cmocka_unit_test(flush_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
