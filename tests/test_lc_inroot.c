/* libcontainer's resolution inside a hostile tree: openat2 and the walk that stands in for it
 * without openat2 must give the same answer for every trap, and neither may leave the tree. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libcontainer/inroot.h"

struct tree {
	char dir[64]; /* holds root/ and outside/ */
	int root;
};

static void make(const char *base, const char *rel, bool is_dir)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", base, rel);
	if (is_dir)
		assert_int_equal(mkdir(path, 0755), 0);
	else
		assert_int_equal(close(open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)), 0);
}

static void link_to(const char *base, const char *target, const char *rel)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", base, rel);
	assert_int_equal(symlink(target, path), 0);
}

/* root/: etc/passwd, dev/, lib -> usr/lib, usr/lib/x, abs -> /etc, up -> ../../outside,
 * proc_exe -> /proc/self/exe, loop -> loop, outside/secret next to root/. */
static int setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/lc-inroot.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	char root[128], outside[128];
	snprintf(root, sizeof(root), "%s/root", t->dir);
	snprintf(outside, sizeof(outside), "%s/outside", t->dir);
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	make(outside, "secret", false);
	make(root, "etc", true);
	make(root, "etc/passwd", false);
	make(root, "dev", true);
	make(root, "usr", true);
	make(root, "usr/lib", true);
	make(root, "usr/lib/x", false);
	link_to(root, "usr/lib", "lib");
	link_to(root, "/etc", "abs");
	link_to(root, "../../outside", "up");
	link_to(root, outside, "hostabs");
	link_to(root, "/proc/self/exe", "proc_exe");
	link_to(root, "loop", "loop");
	link_to(root, "/etc/passwd", "etc/link");
	t->root = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(t->root >= 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tree *t = *state;
	char cmd[128];
	close(t->root);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

/* Resolves path both ways; returns the errno (0 on success) and checks they agree on the
 * file they reached. */
static int both(struct tree *t, const char *path, int flags, int how, struct stat *out)
{
	int a = lc_inroot_open(t->root, path, flags, how), ea = errno;
	int b = lc_inroot_walk(t->root, path, flags, how), eb = errno;
	if ((a < 0) != (b < 0))
		fail_msg("%s: openat2 %s, walk %s", path, a < 0 ? strerror(ea) : "ok",
		         b < 0 ? strerror(eb) : "ok");
	if (a < 0) {
		if (ea != eb)
			fail_msg("%s: openat2 says %s, walk %s", path, strerror(ea), strerror(eb));
		return ea;
	}
	struct stat sa, sb;
	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	if (sa.st_ino != sb.st_ino || sa.st_dev != sb.st_dev)
		fail_msg("%s: openat2 and walk reached different files", path);
	close(a);
	close(b);
	if (out)
		*out = sa;
	return 0;
}

static ino_t ino_of(struct tree *t, const char *rel)
{
	char path[256];
	struct stat st;
	snprintf(path, sizeof(path), "%s/%s", t->dir, rel);
	assert_int_equal(lstat(path, &st), 0);
	return st.st_ino;
}

static void symlinks_stay_inside(void **state)
{
	struct tree *t = *state;
	struct stat st;
	assert_int_equal(both(t, "lib/x", O_PATH, LC_IN_ROOT, &st), 0);
	assert_int_equal(st.st_ino, ino_of(t, "root/usr/lib/x"));
	/* an absolute symlink is taken from the root */
	assert_int_equal(both(t, "abs/passwd", O_PATH, LC_IN_ROOT, &st), 0);
	assert_int_equal(st.st_ino, ino_of(t, "root/etc/passwd"));
	assert_int_equal(both(t, "/etc/link", O_RDONLY, LC_IN_ROOT, &st), 0);
	assert_int_equal(st.st_ino, ino_of(t, "root/etc/passwd"));
	/* ".." stops at the root: up -> ../../outside is root/outside, which does not exist */
	assert_int_equal(both(t, "up/secret", O_PATH, LC_IN_ROOT, NULL), ENOENT);
	assert_int_equal(both(t, "../../outside/secret", O_PATH, LC_IN_ROOT, NULL), ENOENT);
	assert_int_equal(both(t, "hostabs/secret", O_PATH, LC_IN_ROOT, NULL), ENOENT);
	assert_int_equal(both(t, "../etc/../../etc/passwd", O_PATH, LC_IN_ROOT, &st), 0);
	assert_int_equal(st.st_ino, ino_of(t, "root/etc/passwd"));
	assert_int_equal(both(t, "loop", O_PATH, LC_IN_ROOT, NULL), ELOOP);
	assert_int_equal(both(t, "", O_PATH | O_DIRECTORY, LC_IN_ROOT, &st), 0);
	assert_int_equal(st.st_ino, ino_of(t, "root"));
	assert_int_equal(both(t, "etc/passwd/", O_PATH, LC_IN_ROOT, NULL), ENOTDIR);
	assert_int_equal(both(t, "etc/./passwd", O_PATH | O_DIRECTORY, LC_IN_ROOT, NULL), ENOTDIR);
}

/* Every path of up to four components from a small set (and with or without a trailing or a
 * leading slash) reaches the same file, or fails the same way, both ways. */
static void walk_matches_openat2(void **state)
{
	struct tree *t = *state;
	static const char *const parts[] = {"..", ".",    "lib", "abs",     "up",   "etc", "passwd",
	                                    "x",  "loop", "usr", "hostabs", "link", ""};
	const size_t n = sizeof(parts) / sizeof(parts[0]);
	static const int hows[] = {LC_IN_ROOT, LC_BENEATH, LC_NO_SYMLINKS};
	static const int flags[] = {O_PATH, O_PATH | O_NOFOLLOW, O_PATH | O_DIRECTORY};
	char path[128];
	for (size_t a = 0; a < n; a++)
		for (size_t b = 0; b < n; b++)
			for (size_t c = 0; c < n; c++)
				for (size_t d = 0; d < 4; d++) {
					snprintf(path, sizeof(path), "%s%s/%s/%s%s",
					         d & 1 ? "/" : "", parts[a], parts[b], parts[c],
					         d & 2 ? "/" : "");
					for (size_t h = 0; h < 3; h++)
						for (size_t f = 0; f < 3; f++)
							both(t, path, flags[f], hows[h], NULL);
				}
}

static void magic_links_lead_nowhere(void **state)
{
	struct tree *t = *state;
	/* openat2 refuses the magic link; the walk reads its text (the test binary's path) and
	 * looks for that inside the root, where it is not */
	int fd = lc_inroot_open(t->root, "proc_exe", O_PATH, LC_IN_ROOT);
	assert_true(fd < 0);
	fd = lc_inroot_walk(t->root, "proc_exe", O_PATH, LC_IN_ROOT);
	assert_true(fd < 0 && errno == ENOENT);
	char fdlink[64];
	snprintf(fdlink, sizeof(fdlink), "/proc/self/fd/%d", t->root);
	assert_true(lc_inroot_open(AT_FDCWD, fdlink, O_PATH, LC_IN_ROOT) < 0);
}

static void last_component_not_followed(void **state)
{
	struct tree *t = *state;
	struct stat st;
	assert_int_equal(both(t, "abs", O_PATH | O_NOFOLLOW, LC_IN_ROOT, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(st.st_ino, ino_of(t, "root/abs"));
	char name[64];
	int dir = lc_inroot_open_parent(t->root, "lib/x", name, sizeof(name));
	assert_true(dir >= 0);
	assert_string_equal(name, "x");
	assert_int_equal(fstat(dir, &st), 0);
	assert_int_equal(st.st_ino, ino_of(t, "root/usr/lib"));
	close(dir);
	dir = lc_inroot_open_parent(t->root, "dev//", name, sizeof(name));
	assert_true(dir >= 0);
	assert_string_equal(name, "dev");
	close(dir);
	assert_int_equal(lc_inroot_open_parent(t->root, "dev/..", name, sizeof(name)), -1);
	assert_int_equal(errno, EINVAL);
}

static void beneath_and_no_symlinks(void **state)
{
	struct tree *t = *state;
	assert_int_equal(both(t, "up/secret", O_PATH, LC_BENEATH, NULL), EXDEV);
	assert_int_equal(both(t, "abs/passwd", O_PATH, LC_BENEATH, NULL), EXDEV);
	assert_int_equal(both(t, "../x", O_PATH, LC_BENEATH, NULL), EXDEV);
	assert_int_equal(both(t, "lib/x", O_PATH, LC_BENEATH, NULL), 0);
	assert_int_equal(both(t, "lib/x", O_PATH, LC_NO_SYMLINKS, NULL), ELOOP);
	assert_int_equal(both(t, "usr/lib/x", O_PATH, LC_NO_SYMLINKS, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(symlinks_stay_inside, setup, teardown),
	    cmocka_unit_test_setup_teardown(walk_matches_openat2, setup, teardown),
	    cmocka_unit_test_setup_teardown(magic_links_lead_nowhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(last_component_not_followed, setup, teardown),
	    cmocka_unit_test_setup_teardown(beneath_and_no_symlinks, setup, teardown),
	};
	return cmocka_run_group_tests_name("lc_inroot", tests, NULL, NULL);
}
