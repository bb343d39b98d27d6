/* libcontainer's users: checked ids, exact passwd/group parsing, --user specs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "libcontainer/user.h"

static void ids_are_checked(void **state)
{
	(void)state;
	uint32_t v = 7;
	assert_true(lc_id_parse("0", 1, &v) && v == 0);
	assert_true(lc_id_parse("4294967294", 10, &v) && v == 4294967294u);
	/* (uid_t)-1 is "unchanged" to setresuid; beyond it, 32 bits wrap to root */
	assert_false(lc_id_parse("4294967295", 10, &v));
	assert_false(lc_id_parse("4294967296", 10, &v));
	assert_false(lc_id_parse("99999999999", 11, &v));
	assert_false(lc_id_parse("-1", 2, &v));
	assert_false(lc_id_parse("+1", 2, &v));
	assert_false(lc_id_parse(" 1", 2, &v));
	assert_false(lc_id_parse("1x", 2, &v));
	assert_false(lc_id_parse("", 0, &v));
	/* len counts: "12" of "123" */
	assert_true(lc_id_parse("123", 2, &v) && v == 12);
}

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "nopass::1001:1002::/home/nopass:/bin/sh\n"
                             "short:x:5\n"
                             "big:x:4294967296:1:::\n"
                             "app:x:1000:1000:app:/:/bin/sh"; /* no final newline */

static void passwd_fields_are_exact(void **state)
{
	(void)state;
	uint32_t id = 0, gid = 0;
	cm_err err;
	/* an empty password field is a field: strtok would have merged it away */
	assert_int_equal(lc_idfile_lookup(passwd, sizeof(passwd) - 1, "nopass", &id, &gid, &err),
	                 1);
	assert_int_equal(id, 1001);
	assert_int_equal(gid, 1002);
	assert_int_equal(lc_idfile_lookup(passwd, sizeof(passwd) - 1, "app", &id, &gid, &err), 1);
	assert_int_equal(id, 1000);
	assert_int_equal(lc_idfile_lookup(passwd, sizeof(passwd) - 1, "nobody", &id, &gid, &err),
	                 0);
	/* a prefix of a name is not the name */
	assert_int_equal(lc_idfile_lookup(passwd, sizeof(passwd) - 1, "ap", &id, &gid, &err), 0);
	assert_int_equal(lc_idfile_lookup(passwd, sizeof(passwd) - 1, "short", &id, &gid, &err),
	                 -1);
	assert_non_null(strstr(err.msg, "line 3"));
	assert_int_equal(lc_idfile_lookup(passwd, sizeof(passwd) - 1, "big", &id, &gid, &err), -1);
	assert_non_null(strstr(err.msg, "line 4: uid \"4294967296\" is not an id"));
	/* a NUL inside the text ends nothing: names are compared by length */
	static const char nul[] = "a\0b:x:1:1\nab:x:2:2\n";
	assert_int_equal(lc_idfile_lookup(nul, sizeof(nul) - 1, "ab", &id, &gid, &err), 1);
	assert_int_equal(id, 2);
}

static void group_fields(void **state)
{
	(void)state;
	static const char group[] = "root:x:0:\nstaff::50:a,b\n";
	uint32_t id = 0;
	cm_err err;
	assert_int_equal(lc_idfile_lookup(group, sizeof(group) - 1, "staff", &id, NULL, &err), 1);
	assert_int_equal(id, 50);
}

static void specs_resolve(void **state)
{
	(void)state;
	static const char group[] = "wheel:x:10:\n";
	uid_t u = 9;
	gid_t g = 9;
	cm_err err;
	assert_int_equal(lc_user_resolve("1000", NULL, 0, NULL, 0, &u, &g, &err), 0);
	assert_true(u == 1000 && g == 1000);
	assert_int_equal(lc_user_resolve("1000:2000", NULL, 0, NULL, 0, &u, &g, &err), 0);
	assert_true(u == 1000 && g == 2000);
	assert_int_equal(
	    lc_user_resolve("nopass", passwd, sizeof(passwd) - 1, NULL, 0, &u, &g, &err), 0);
	assert_true(u == 1001 && g == 1002);
	assert_int_equal(lc_user_resolve("nopass:wheel", passwd, sizeof(passwd) - 1, group,
	                                 sizeof(group) - 1, &u, &g, &err),
	                 0);
	assert_true(u == 1001 && g == 10);
	/* out of range: refused, never wrapped to root */
	assert_int_equal(lc_user_resolve("4294967296", NULL, 0, NULL, 0, &u, &g, &err), -1);
	assert_non_null(strstr(err.msg, "user 4294967296: out of range"));
	assert_int_equal(lc_user_resolve("4294967295", NULL, 0, NULL, 0, &u, &g, &err), -1);
	assert_int_equal(lc_user_resolve("0:4294967295", NULL, 0, NULL, 0, &u, &g, &err), -1);
	assert_non_null(strstr(err.msg, "group 4294967295: out of range"));
	assert_int_equal(lc_user_resolve("-1", NULL, 0, NULL, 0, &u, &g, &err), -1);
	assert_int_equal(lc_user_resolve("", NULL, 0, NULL, 0, &u, &g, &err), -1);
	assert_non_null(strstr(err.msg, "user: empty"));
	assert_int_equal(lc_user_resolve("1000:", NULL, 0, NULL, 0, &u, &g, &err), -1);
	assert_non_null(strstr(err.msg, "group: empty"));
	assert_int_equal(lc_user_resolve("big", passwd, sizeof(passwd) - 1, NULL, 0, &u, &g, &err),
	                 -1);
	assert_non_null(strstr(err.msg, "user big: the container's /etc/passwd: line 4"));
	assert_int_equal(
	    lc_user_resolve("ghost", passwd, sizeof(passwd) - 1, NULL, 0, &u, &g, &err), -1);
	assert_non_null(strstr(err.msg, "user ghost: not in the container's /etc/passwd"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(ids_are_checked),
	    cmocka_unit_test(passwd_fields_are_exact),
	    cmocka_unit_test(group_fields),
	    cmocka_unit_test(specs_resolve),
	};
	return cmocka_run_group_tests_name("lc_user", tests, NULL, NULL);
}
