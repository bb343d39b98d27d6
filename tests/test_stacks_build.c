/* The stack builder: the link rules of a stack's tree, rewriting absolute links, the image
 * and its md5 (checked without mounting it, with debugfs), and the tree made from the host's
 * own programs. Needs mkfs.ext4 for the image; skipped with the reason otherwise. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/spawn.h"
#include "common/strv.h"
#include "common/xalloc.h"
#include "stacks/build.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_stacks_build.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *cmd = NULL;
	assert_true(vasprintf(&cmd, fmt, ap) > 0);
	va_end(ap);
	if (system(cmd) != 0)
		fail_msg("failed: %s", cmd);
}

/* A fresh tree DIR/NAME with a file, a directory, and relative links that stay inside. */
static char *good_tree(const char *name)
{
	char *tree = xasprintf("%s/%s", dir, name);
	sh("rm -rf %s && mkdir -p %s/usr/bin %s/a/b && echo hi > %s/usr/bin/prog && "
	   "ln -s usr/bin %s/bin && ln -s ../../usr/bin/prog %s/a/b/prog && "
	   "ln -s nowhere %s/a/dangling && ln -s loop %s/a/loop",
	   tree, tree, tree, tree, tree, tree, tree, tree);
	return tree;
}

static void expect_check_error(const char *tree, const char *words)
{
	cm_err err;
	assert_int_equal(st_tree_check(tree, &err), -1);
	if (!strstr(err.msg, words))
		fail_msg("want \"%s\" in \"%s\"", words, err.msg);
}

static void links_must_be_relative_and_stay_inside(void **state)
{
	(void)state;
	_cleanup_free_ char *tree = good_tree("check");
	cm_err err;
	if (st_tree_check(tree, &err) < 0)
		fail_msg("%s", err.msg);

	sh("ln -s /etc/passwd %s/a/b/abs", tree);
	_cleanup_free_ char *words =
	    xasprintf("%s/a/b/abs -> /etc/passwd: an absolute link (a stack must never point at "
	              "the host",
	              tree);
	expect_check_error(tree, words);

	sh("rm %s/a/b/abs && ln -s ../../../../etc/passwd %s/a/b/up", tree, tree);
	free(words);
	words =
	    xasprintf("%s/a/b/up -> ../../../../etc/passwd: the link climbs out of the tree", tree);
	expect_check_error(tree, words);

	/* out through another link: x leads to the root, so x/.. is above it */
	sh("rm %s/a/b/up && ln -s ../.. %s/a/b/x && ln -s x/../etc %s/a/b/sneaky", tree, tree,
	   tree);
	expect_check_error(tree, "a/b/sneaky -> x/../etc: the link climbs out of the tree");
}

static void relink_rewrites_absolute_links(void **state)
{
	(void)state;
	_cleanup_free_ char *tree = good_tree("relink");
	sh("ln -s /usr/bin/prog %s/a/b/abs && ln -s / %s/root && ln -s /../a/./b//abs %s/a/odd",
	   tree, tree, tree);
	size_t n;
	cm_err err;
	if (st_tree_relink(tree, &n, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(n, 3);
	static const struct {
		const char *link, *target;
	} want[] = {{"a/b/abs", "../../usr/bin/prog"},
	            {"root", "."},
	            {"a/odd", "../a/b/abs"},
	            {"bin", "usr/bin"},
	            {"a/b/prog", "../../usr/bin/prog"}};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", tree, want[i].link);
		char buf[256];
		ssize_t len = readlink(path, buf, sizeof(buf) - 1);
		assert_true(len > 0);
		buf[len] = '\0';
		assert_string_equal(buf, want[i].target);
	}
	_cleanup_free_ char *abs = xasprintf("%s/a/b/abs", tree);
	_cleanup_free_ char *content = NULL;
	size_t len;
	assert_int_equal(cm_read_file_at(AT_FDCWD, abs, 100, &content, &len, &err), 0);
	assert_string_equal(content, "hi\n");
	if (st_tree_check(tree, &err) < 0)
		fail_msg("%s", err.msg);
}

static const char *no_mkfs(void)
{
	_cleanup_free_ char *mkfs = cm_find_program("mkfs.ext4", "/usr/sbin:/sbin:/usr/bin:/bin");
	return mkfs ? NULL : "mkfs.ext4 is not installed (e2fsprogs)";
}

/* What `debugfs -R REQUEST IMAGE` prints. */
static char *debugfs(const char *image, const char *request)
{
	_cleanup_free_ char *prog = cm_find_program("debugfs", "/usr/sbin:/sbin:/usr/bin:/bin");
	assert_non_null(prog);
	char *argv[] = {prog, "-R", (char *)request, (char *)image, NULL};
	char *out = NULL;
	cm_err err;
	if (st_run(argv, &out, &err) != 0)
		fail_msg("debugfs %s: %s", request, out ? out : err.msg);
	return out;
}

static void builds_an_image_and_its_md5(void **state)
{
	(void)state;
	const char *why = no_mkfs();
	if (why) {
		fprintf(stderr, "# skip: %s\n", why);
		skip();
	}
	_cleanup_free_ char *tree = good_tree("image");
	_cleanup_free_ char *out = xasprintf("%s/out", dir);
	assert_int_equal(mkdir(out, 0755), 0);
	struct st_build_result res;
	cm_err err;
	if (st_build_image(tree, "t", "1.0", out, &res, &err) < 0)
		fail_msg("%s", err.msg);
	_cleanup_free_ char *gz = xasprintf("%s/t-1.0.img.gz", out);
	assert_string_equal(res.gz_path, gz);
	sh("test \"$(ls -A %s)\" = t-1.0.img.gz", out); /* nothing else left there */
	sh("cd %s && zcat t-1.0.img.gz > raw.img && echo '%s  raw.img' | md5sum -c --quiet", out,
	   res.md5);
	_cleanup_free_ char *raw = xasprintf("%s/raw.img", out);
	struct stat st;
	assert_int_equal(stat(raw, &st), 0);
	assert_int_equal(st.st_size, res.image_size);
	_cleanup_free_ char *hi = debugfs(raw, "cat /usr/bin/prog");
	assert_non_null(strstr(hi, "hi\n"));
	_cleanup_free_ char *link = debugfs(raw, "stat /a/b/prog");
	assert_non_null(strstr(link, "Fast link dest: \"../../usr/bin/prog\""));
	_cleanup_free_ char *root = debugfs(raw, "stat /");
	assert_non_null(strstr(root, "User:     0   Group:     0"));
	st_build_result_free(&res);
}

static void refuses_a_tree_pointing_at_the_host(void **state)
{
	(void)state;
	_cleanup_free_ char *tree = good_tree("bad");
	sh("ln -s /etc %s/a/etc", tree);
	_cleanup_free_ char *out = xasprintf("%s/out-bad", dir);
	assert_int_equal(mkdir(out, 0755), 0);
	struct st_build_result res;
	cm_err err;
	assert_int_equal(st_build_image(tree, "t", "1", out, &res, &err), -1);
	assert_non_null(strstr(err.msg, "build stack t-1: "));
	assert_non_null(strstr(err.msg, "/a/etc -> /etc: an absolute link"));
	sh("test -z \"$(ls -A %s)\"", out);
	assert_int_equal(st_build_image(tree, "t/x", "1", out, &res, &err), -1);
	assert_non_null(strstr(err.msg, "name: at most 64 letters"));
}

static void host_tree_of_the_hosts_programs(void **state)
{
	(void)state;
	_cleanup_free_ char *tree = xasprintf("%s/host", dir);
	const char *programs[] = {"sh", "cat", "no-such-program-here", NULL};
	_cleanup_strv_ char **missing = NULL;
	cm_err err;
	if (st_host_tree(tree, programs, false, &missing, &err) < 0)
		fail_msg("%s", err.msg);
	assert_non_null(missing);
	assert_string_equal(missing[0], "no-such-program-here");
	assert_null(missing[1]);
	if (st_tree_check(tree, &err) < 0) /* relative links only */
		fail_msg("%s", err.msg);
	sh("test -x %s/bin/sh && test -x %s/usr/bin/cat", tree, tree);
	sh("test -d %s/app && test -z \"$(ls -A %s/app)\" && test -d %s/etc/profile.d", tree, tree,
	   tree);
	sh("test \"$(stat -c %%a %s/tmp)\" = 1777 && grep -q '^root:' %s/etc/passwd", tree, tree);
	sh("test -z \"$(find %s -type l -lname '/*')\"", tree);
	if (geteuid() == 0) /* it runs there */
		sh("test \"$(chroot %s /bin/sh -c 'cat /etc/hosts' | head -1)\" = "
		   "\"$(printf '127.0.0.1\\tlocalhost')\"",
		   tree);
	/* a tree is made in a new directory */
	_cleanup_strv_ char **again = NULL;
	assert_int_equal(st_host_tree(tree, programs, false, &again, &err), -1);
	assert_non_null(strstr(err.msg, "is not empty"));
}

static void runs_programs(void **state)
{
	(void)state;
	char *ok[] = {"/bin/sh", "-c", "echo out; echo err >&2", NULL};
	char *bad[] = {"/bin/sh", "-c", "exit 3", NULL};
	char *missing[] = {"/nonexistent/prog", NULL};
	_cleanup_free_ char *out = NULL;
	cm_err err;
	assert_int_equal(st_run(ok, &out, &err), 0);
	assert_string_equal(out, "out\nerr\n");
	assert_int_equal(st_run(bad, NULL, &err), 3);
	assert_int_equal(st_run(missing, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/prog"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(links_must_be_relative_and_stay_inside),
	    cmocka_unit_test(relink_rewrites_absolute_links),
	    cmocka_unit_test(builds_an_image_and_its_md5),
	    cmocka_unit_test(refuses_a_tree_pointing_at_the_host),
	    cmocka_unit_test(host_tree_of_the_hosts_programs),
	    cmocka_unit_test(runs_programs),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
