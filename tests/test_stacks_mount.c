/* Read-only loop mounts of stack images: mounted once, found again by another process, never
 * made twice, refused when something else is there, and nothing left behind on failure. The
 * test runs in a mount namespace of its own (unshare), so its mounts, and with them the loop
 * devices (autoclear), go when it ends, however it ends. Needs root, loop devices and
 * mkfs.ext4; skipped with the reason otherwise. */
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
#include <glob.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "stacks/build.h"
#include "stacks/fetch.h"
#include "stacks/mount.h"

#define NSTACKS 4

static const char *skip_reason;
static char dir[64], src[96], stacks[96], manifest_path[128];
static struct st_manifest *manifest;

static void write_file(const char *path, const char *content)
{
	cm_err err;
	if (cm_write_file_replace_at(AT_FDCWD, path, content, strlen(content), 0644, &err) < 0)
		fail_msg("%s", err.msg);
}

static const char *isolate(void)
{
	if (geteuid() != 0)
		return "needs root (loop devices and mounts)";
	if (access("/dev/loop-control", R_OK | W_OK) != 0)
		return "no /dev/loop-control";
	if (access("/usr/sbin/mkfs.ext4", X_OK) != 0 && access("/sbin/mkfs.ext4", X_OK) != 0)
		return "mkfs.ext4 is not installed (e2fsprogs)";
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return "cannot make a mount namespace of its own (unshare)";
	return NULL;
}

/* src/tree: a small tree with a relative link; src/t-N-1.img.gz built from it. */
static void build_stacks(void)
{
	_cleanup_free_ char *tree = xasprintf("%s/tree", src);
	_cleanup_free_ char *cmd = xasprintf("mkdir -p %s/sub && echo hello > %s/hello && "
	                                     "ln -s ../hello %s/sub/link",
	                                     tree, tree, tree);
	assert_int_equal(system(cmd), 0);
	_cleanup_free_ char *yaml = xstrdup("");
	for (int i = 1; i <= NSTACKS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "t%d", i);
		struct st_build_result res;
		cm_err err;
		if (st_build_image(tree, name, "1", src, &res, &err) < 0)
			fail_msg("%s", err.msg);
		char *next = xasprintf("%s- name: %s\n  version: 1\n  url: file://%s\n  md5: %s\n",
		                       yaml, name, res.gz_path, res.md5);
		free(yaml);
		yaml = next;
		st_build_result_free(&res);
	}
	/* an image that is not a filesystem */
	_cleanup_free_ char *junk = xasprintf("head -c 65536 /dev/urandom > %s/junk.img && gzip -n "
	                                      "-f %s/junk.img && zcat %s/junk.img.gz | md5sum",
	                                      src, src, src);
	FILE *p = popen(junk, "r");
	char md5[33] = "";
	assert_int_equal(fscanf(p, "%32s", md5), 1);
	pclose(p);
	char *next = xasprintf("%s- name: junk\n  version: 1\n  url: file://%s/junk.img.gz\n"
	                       "  md5: %s\n",
	                       yaml, src, md5);
	free(yaml);
	yaml = next;
	write_file(manifest_path, yaml);
	cm_err err;
	if (st_manifest_load(manifest_path, &manifest, &err) < 0)
		fail_msg("%s", err.msg);
}

static int setup(void **state)
{
	(void)state;
	skip_reason = isolate();
	if (skip_reason)
		return 0;
	snprintf(dir, sizeof(dir), "/tmp/test_stacks_mount.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(stacks, sizeof(stacks), "%s/stacks", dir);
	snprintf(manifest_path, sizeof(manifest_path), "%s/manifest.yml", stacks);
	assert_int_equal(mkdir(src, 0755), 0);
	assert_int_equal(mkdir(stacks, 0755), 0);
	build_stacks();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (skip_reason)
		return 0;
	/* whatever a failed test left mounted, so that its files can be removed */
	for (size_t i = 0; i < manifest->n; i++) {
		_cleanup_free_ char *id = st_stack_id(&manifest->stacks[i]);
		_cleanup_free_ char *path = xasprintf("%s/%s", stacks, id);
		while (umount2(path, MNT_DETACH) == 0) {
		}
	}
	st_manifest_free(manifest);
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static int need_isolation(void **state)
{
	(void)state;
	if (skip_reason) {
		fprintf(stderr, "# skip: %s\n", skip_reason);
		skip();
	}
	return 0;
}

static const struct st_stack *stack(const char *name)
{
	cm_err err;
	const struct st_stack *s = st_manifest_find(manifest, name, NULL, &err);
	if (!s)
		fail_msg("%s", err.msg);
	return s;
}

static void fetch(const struct st_stack *s)
{
	cm_err err;
	if (st_fetch(manifest, s, NULL, &err) < 0)
		fail_msg("%s", err.msg);
}

/* How many mounts /proc/self/mountinfo shows at path. */
static int mounts_at(const char *path)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	cm_err err;
	assert_int_equal(
	    cm_read_file_at(AT_FDCWD, "/proc/self/mountinfo", 1 << 24, &buf, &len, &err), 0);
	_cleanup_free_ char *needle = xasprintf(" %s ", path);
	int n = 0;
	for (char *p = buf; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* How many loop devices have backing_file as their backing file. */
static int loops_of(const char *backing_file)
{
	glob_t g;
	int n = 0;
	if (glob("/sys/block/loop*/loop/backing_file", 0, NULL, &g) != 0)
		return 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		char *buf = NULL;
		size_t len;
		cm_err err;
		if (cm_read_file_at(AT_FDCWD, g.gl_pathv[i], 8192, &buf, &len, &err) == 0) {
			buf[strcspn(buf, "\n")] = '\0';
			n += strcmp(buf, backing_file) == 0;
			free(buf);
		}
	}
	globfree(&g);
	return n;
}

/* The loop device is cleared when its last user goes; the kernel may finish a moment later. */
static int loops_of_after_release(const char *backing_file)
{
	int n = 0;
	for (int i = 0; i < 500 && (n = loops_of(backing_file)) > 0; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return n;
}

static char *in_stacks(const char *name)
{
	return xasprintf("%s/%s", stacks, name);
}

static void mounted_read_only_once_and_found_again(void **state)
{
	(void)state;
	const struct st_stack *s = stack("t1");
	fetch(s);
	_cleanup_free_ char *path = in_stacks("t1-1");
	_cleanup_free_ char *img = in_stacks("t1-1.img");
	struct st_mount mnt;
	cm_err err;
	if (st_mount(manifest, s, &mnt, &err) < 0)
		fail_msg("%s", err.msg);
	assert_false(mnt.reused);
	assert_string_equal(mnt.path, path);
	assert_int_equal(mounts_at(path), 1);
	assert_int_equal(loops_of(img), 1);

	/* read-only, nodev, nosuid; the root fd is the mount's root */
	struct statvfs sv;
	assert_int_equal(statvfs(path, &sv), 0);
	assert_true(sv.f_flag & ST_RDONLY);
	assert_true(sv.f_flag & ST_NODEV);
	assert_true(sv.f_flag & ST_NOSUID);
	_cleanup_free_ char *file = xasprintf("%s/new", path);
	assert_int_equal(open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600), -1);
	assert_int_equal(errno, EROFS);
	_cleanup_free_ char *hello = NULL;
	size_t len;
	assert_int_equal(cm_read_file_at(mnt.root_fd, "sub/link", 100, &hello, &len, &err), 0);
	assert_string_equal(hello, "hello\n");
	int flags = fcntl(mnt.root_fd, F_GETFL);
	assert_true(flags & O_PATH);

	/* again, in this process: the same mount */
	struct st_mount again;
	assert_int_equal(st_mount(manifest, s, &again, &err), 0);
	assert_true(again.reused);
	assert_int_equal(mounts_at(path), 1);
	st_mount_release(&again);

	/* and in a new process, as a restarted hsup */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct st_mount m2;
		cm_err e2;
		int r = st_mount(manifest, s, &m2, &e2);
		_exit(r < 0 ? 2 : m2.reused ? 0 : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(mounts_at(path), 1);
	assert_int_equal(loops_of(img), 1);
	st_mount_release(&mnt);

	/* fetching a mounted stack does nothing, even with the image gone */
	assert_int_equal(unlink(img), 0);
	assert_int_equal(st_fetch(manifest, s, NULL, &err), 0);
	assert_int_equal(access(img, F_OK), -1);

	assert_int_equal(st_umount(manifest, s, &err), 1);
	assert_int_equal(mounts_at(path), 0);
	assert_int_equal(access(path, F_OK), -1); /* the mount point is gone */
	assert_int_equal(st_umount(manifest, s, &err), 0);
}

static void unmount_frees_the_loop_device(void **state)
{
	(void)state;
	const struct st_stack *s = stack("t2");
	fetch(s);
	_cleanup_free_ char *img = in_stacks("t2-1.img");
	struct st_mount mnt;
	cm_err err;
	if (st_mount(manifest, s, &mnt, &err) < 0)
		fail_msg("%s", err.msg);
	st_mount_release(&mnt);
	assert_int_equal(loops_of(img), 1);
	assert_int_equal(st_umount(manifest, s, &err), 1);
	assert_int_equal(loops_of_after_release(img), 0);
}

/* Unmounted while in use: gone from the tree at once, the loop device freed when the last
 * user lets go. */
static void a_busy_stack_goes_when_its_last_user_does(void **state)
{
	(void)state;
	const struct st_stack *s = stack("t2");
	fetch(s);
	_cleanup_free_ char *img = in_stacks("t2-1.img");
	struct st_mount mnt;
	cm_err err;
	if (st_mount(manifest, s, &mnt, &err) < 0)
		fail_msg("%s", err.msg);
	_cleanup_free_ char *hello = xasprintf("%s/hello", mnt.path);
	int fd = open(hello, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(st_umount(manifest, s, &err), 1);
	assert_int_equal(mounts_at(mnt.path), 0);
	assert_int_equal(access(mnt.path, F_OK), -1);
	char buf[16] = "";
	assert_int_equal(read(fd, buf, sizeof(buf)), 6); /* still readable */
	assert_string_equal(buf, "hello\n");
	assert_int_equal(loops_of(img), 1);
	close(fd);
	st_mount_release(&mnt);
	assert_int_equal(loops_of_after_release(img), 0);
}

static void something_else_mounted_there_is_refused(void **state)
{
	(void)state;
	const struct st_stack *s = stack("t3");
	fetch(s);
	_cleanup_free_ char *path = in_stacks("t3-1");
	_cleanup_free_ char *img = in_stacks("t3-1.img");
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(mount("hsup-test", path, "tmpfs", 0, NULL), 0);
	struct st_mount mnt;
	cm_err err;
	assert_int_equal(st_mount(manifest, s, &mnt, &err), -1);
	_cleanup_free_ char *words = xasprintf(
	    "mount stack t3-1: %s is already a mount point, of hsup-test (tmpfs), not of %s", path,
	    img);
	assert_string_equal(err.msg, words);
	assert_int_equal(loops_of(img), 0);
	assert_int_equal(mounts_at(path), 1);
	assert_int_equal(st_umount(manifest, s, &err), -1); /* not ours to unmount */
	assert_int_equal(mounts_at(path), 1);
	assert_int_equal(umount2(path, 0), 0);
	assert_int_equal(rmdir(path), 0);
}

static void a_mount_without_nodev_is_refused(void **state)
{
	(void)state;
	const struct st_stack *s = stack("t3");
	fetch(s);
	struct st_mount mnt;
	cm_err err;
	if (st_mount(manifest, s, &mnt, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(
	    mount(NULL, mnt.path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, NULL), 0);
	struct st_mount again;
	assert_int_equal(st_mount(manifest, s, &again, &err), -1);
	assert_int_equal(err.code, EPERM);
	assert_non_null(strstr(err.msg, "a stack must be read-only, nodev and nosuid"));
	assert_int_equal(st_umount(manifest, s, &err), 1); /* its own image: unmounted */
	assert_int_equal(mounts_at(mnt.path), 0);
	st_mount_release(&mnt);
}

static void not_a_filesystem_leaves_nothing(void **state)
{
	(void)state;
	const struct st_stack *s = stack("junk");
	fetch(s);
	_cleanup_free_ char *path = in_stacks("junk-1");
	_cleanup_free_ char *img = in_stacks("junk-1.img");
	struct st_mount mnt;
	cm_err err;
	assert_int_equal(st_mount(manifest, s, &mnt, &err), -1);
	assert_non_null(strstr(err.msg, "mount stack junk-1: junk-1.img is not an ext2/3/4 or "
	                                "squashfs filesystem image"));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(loops_of(img), 0);
	assert_int_equal(mnt.root_fd, -1);
	assert_null(mnt.path);
}

static void a_failed_mount_leaves_no_loop_device(void **state)
{
	(void)state;
	const struct st_stack *s = stack("t4");
	fetch(s);
	_cleanup_free_ char *path = in_stacks("t4-1");
	_cleanup_free_ char *img = in_stacks("t4-1.img");
	/* an ext4 superblock, and garbage after it: the kernel refuses to mount it */
	int fd = open(img, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	char zeros[4096] = {0};
	assert_int_equal(pwrite(fd, zeros, sizeof(zeros), 4096), (ssize_t)sizeof(zeros));
	assert_int_equal(pwrite(fd, zeros, 16, 1024), 16);
	close(fd);
	struct st_mount mnt;
	cm_err err;
	assert_int_equal(st_mount(manifest, s, &mnt, &err), -1);
	assert_non_null(strstr(err.msg, "mount /dev/loop"));
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(loops_of_after_release(img), 0);
	assert_int_equal(unlink(img), 0); /* the next fetch gets a good one */
}

static void a_linked_mount_point_is_refused(void **state)
{
	(void)state;
	const struct st_stack *s = stack("t4");
	fetch(s);
	_cleanup_free_ char *path = in_stacks("t4-1");
	_cleanup_free_ char *elsewhere = xasprintf("%s/elsewhere", dir);
	assert_int_equal(mkdir(elsewhere, 0755), 0);
	assert_int_equal(symlink(elsewhere, path), 0);
	struct st_mount mnt;
	cm_err err;
	assert_int_equal(st_mount(manifest, s, &mnt, &err), -1);
	assert_non_null(strstr(err.msg, "open the mount point t4-1"));
	assert_int_equal(mounts_at(elsewhere), 0);
	_cleanup_free_ char *img = in_stacks("t4-1.img");
	assert_int_equal(loops_of(img), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(elsewhere), 0);
}

struct racer {
	const struct st_stack *s;
	int rc;
	struct st_mount mnt;
	cm_err err;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	r->rc = st_fetch(manifest, r->s, NULL, &r->err);
	if (r->rc >= 0)
		r->rc = st_mount(manifest, r->s, &r->mnt, &r->err);
	return NULL;
}

/* Racing threads: every stack mounted once, each on a loop device of its own. */
static void concurrent_mounts(void **state)
{
	(void)state;
	struct racer r[2 * NSTACKS];
	pthread_t t[2 * NSTACKS];
	for (int i = 0; i < 2 * NSTACKS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "t%d", i % NSTACKS + 1);
		r[i] = (struct racer){.s = stack(name)};
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	int reused = 0;
	for (int i = 0; i < 2 * NSTACKS; i++) {
		pthread_join(t[i], NULL);
		if (r[i].rc < 0)
			fail_msg("%s", r[i].err.msg);
		reused += r[i].mnt.reused;
	}
	assert_int_equal(reused, NSTACKS);
	for (int i = 0; i < NSTACKS; i++) {
		_cleanup_free_ char *img = xasprintf("%s/t%d-1.img", stacks, i + 1);
		assert_int_equal(mounts_at(r[i].mnt.path), 1);
		assert_int_equal(loops_of(img), 1);
	}
	for (int i = 0; i < 2 * NSTACKS; i++)
		st_mount_release(&r[i].mnt);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, need_isolation)
	const struct CMUnitTest tests[] = {
	    T(mounted_read_only_once_and_found_again),
	    T(unmount_frees_the_loop_device),
	    T(a_busy_stack_goes_when_its_last_user_does),
	    T(something_else_mounted_there_is_refused),
	    T(a_mount_without_nodev_is_refused),
	    T(not_a_filesystem_leaves_nothing),
	    T(a_failed_mount_leaves_no_loop_device),
	    T(a_linked_mount_point_is_refused),
	    T(concurrent_mounts),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
