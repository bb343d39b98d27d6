/* Slugs: a good slug unpacked with its modes, links and mtimes; every kind of malicious entry
 * refused with the entry named and nothing written outside the target (a host directory and
 * /etc/passwd compared before and after); caps; trees listed, removed and cleaned. The tars
 * are written here byte by byte (ustar), so any name or type can be tried. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/strv.h"
#include "drivers/slug.h"

static char group_top[64], top[96], slugs[128], outside[128];
static int slugs_fd = -1;

/* ---- writing tars ---- */

struct tar {
	unsigned char *buf;
	size_t len, cap;
};

static void tar_reserve(struct tar *t, size_t n)
{
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2;
		t->buf = realloc(t->buf, t->cap);
		assert_non_null(t->buf);
	}
}

static void octal(unsigned char *field, size_t width, unsigned long long v)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%0*llo", (int)width - 1, v);
	memcpy(field, tmp, width - 1);
}

/* One ustar entry: type '0' file, '1' hard link, '2' symbolic link, '3'/'4' devices, '5'
 * directory, '6' FIFO. */
static void tar_entry(struct tar *t, const char *name, char type, const char *link, mode_t mode,
                      time_t mtime, const char *data, size_t len)
{
	unsigned char h[512] = {0};
	assert_true(strlen(name) < 100 && (!link || strlen(link) < 100));
	memcpy(h, name, strlen(name));
	octal(h + 100, 8, mode);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	octal(h + 124, 12, len);
	octal(h + 136, 12, (unsigned long long)mtime);
	h[156] = (unsigned char)type;
	if (link)
		memcpy(h + 157, link, strlen(link));
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	unsigned sum = 0;
	for (int i = 0; i < 512; i++)
		sum += h[i];
	char cs[8];
	snprintf(cs, sizeof(cs), "%06o", sum);
	memcpy(h + 148, cs, 7);
	size_t padded = (len + 511) / 512 * 512;
	tar_reserve(t, 512 + padded);
	memcpy(t->buf + t->len, h, 512);
	memset(t->buf + t->len + 512, 0, padded);
	if (len)
		memcpy(t->buf + t->len + 512, data, len);
	t->len += 512 + padded;
}

static void tar_file(struct tar *t, const char *name, mode_t mode, const char *data)
{
	tar_entry(t, name, '0', NULL, mode, 1000000000, data, strlen(data));
}

static void tar_dir(struct tar *t, const char *name, mode_t mode)
{
	tar_entry(t, name, '5', NULL, mode, 1000000000, NULL, 0);
}

static void tar_link(struct tar *t, const char *name, char type, const char *target)
{
	tar_entry(t, name, type, target, 0777, 1000000000, NULL, 0);
}

static void tar_end(struct tar *t)
{
	tar_reserve(t, 1024);
	memset(t->buf + t->len, 0, 1024);
	t->len += 1024;
}

static struct tar gzip_tar(const struct tar *in)
{
	struct tar out = {0};
	z_stream z = {0};
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	tar_reserve(&out, deflateBound(&z, in->len));
	z.next_in = in->buf;
	z.avail_in = (uInt)in->len;
	z.next_out = out.buf;
	z.avail_out = (uInt)out.cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	out.len = z.total_out;
	deflateEnd(&z);
	return out;
}

/* ---- the host, before and after ---- */

static char *snap;
static size_t snap_len;

static int snap_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)flag;
	(void)f;
	char line[512];
	int n =
	    snprintf(line, sizeof(line), "%s %o %lld %lld %lu\n", path, st->st_mode,
	             (long long)st->st_size, (long long)st->st_mtime, (unsigned long)st->st_nlink);
	snap = realloc(snap, snap_len + (size_t)n + 1);
	memcpy(snap + snap_len, line, (size_t)n + 1);
	snap_len += (size_t)n;
	return 0;
}

/* outside (recursively) and /etc/passwd, as a string. */
static char *host_state(void)
{
	snap = NULL;
	snap_len = 0;
	assert_int_equal(nftw(outside, snap_one, 16, FTW_PHYS), 0);
	struct stat st;
	assert_int_equal(lstat("/etc/passwd", &st), 0);
	snap_one("/etc/passwd", &st, 0, NULL);
	return snap;
}

static size_t count_entries(int dirfd_)
{
	_cleanup_closedir_ DIR *d = fdopendir(dup(dirfd_));
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	return n;
}

/* Each test's directory is inside the group's, removed at the end even when a test failed. */
static int group_setup(void **state)
{
	(void)state;
	snprintf(group_top, sizeof(group_top), "/tmp/test_slug.XXXXXX");
	return mkdtemp(group_top) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", group_top);
	return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	(void)state;
	static int n;
	snprintf(top, sizeof(top), "%s/%d", group_top, n++);
	assert_int_equal(mkdir(top, 0700), 0);
	snprintf(slugs, sizeof(slugs), "%s/slugs", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	assert_int_equal(mkdir(slugs, 0700), 0);
	assert_int_equal(mkdir(outside, 0755), 0);
	char p[160];
	snprintf(p, sizeof(p), "%s/x", outside);
	int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0 && write(fd, "host\n", 5) == 5);
	close(fd);
	slugs_fd = open(slugs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(slugs_fd >= 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	assert_int_equal(system(cmd), 0);
	close(slugs_fd);
	return 0;
}

static const struct hs_slug_opts fast = {.no_sync = true};

/* ---- a good slug ---- */

static void good_tar(struct tar *t)
{
	tar_entry(t, "./app/", '5', NULL, 0750, 1100000000, NULL, 0);
	tar_entry(t, "./app/bin/", '5', NULL, 0755, 1200000000, NULL, 0);
	tar_entry(t, "./app/bin/run", '0', NULL, 04755, 1300000000, "#!/bin/sh\n", 10);
	tar_entry(t, "./app/data", '0', NULL, 0600, 1400000000, "data\n", 5);
	tar_entry(t, "./app/shared/", '5', NULL, 02775, 1500000000, NULL, 0);
	tar_link(t, "./app/l", '2', "bin/run");
	tar_link(t, "./app/bin/up", '2', "../data");
	tar_link(t, "./app/dot", '2', ".");
	tar_link(t, "./app/h", '1', "./app/data");
	tar_file(t, "./app/deep/er/f", 0644, "f\n");
	tar_end(t);
}

static void check_stat(const char *rel, mode_t mode, time_t mtime)
{
	char p[256];
	struct stat st;
	snprintf(p, sizeof(p), "%s/v1/%s", slugs, rel);
	assert_int_equal(lstat(p, &st), 0);
	if ((st.st_mode & 07777) != mode)
		fail_msg("%s: mode %o, not %o", rel, st.st_mode & 07777, mode);
	if (mtime)
		assert_int_equal(st.st_mtime, mtime);
	assert_int_equal(st.st_uid, geteuid());
}

static void check_link(const char *rel, const char *target)
{
	char p[256], buf[256];
	snprintf(p, sizeof(p), "%s/v1/%s", slugs, rel);
	ssize_t n = readlink(p, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, target);
}

static void check_good_tree(const struct hs_slug_stats *st)
{
	check_stat("", 0750, 1100000000);
	check_stat("bin", 0755, 1200000000);
	check_stat("bin/run", 0755, 1300000000); /* setuid stripped */
	check_stat("data", 0600, 1400000000);
	check_stat("shared", 0775, 1500000000); /* setgid stripped */
	check_stat("deep", 0755, 0);
	check_stat("deep/er/f", 0644, 1000000000);
	check_link("l", "bin/run");
	check_link("bin/up", "../data");
	check_link("dot", ".");
	char p[256];
	struct stat a, b;
	snprintf(p, sizeof(p), "%s/v1/data", slugs);
	assert_int_equal(stat(p, &a), 0);
	snprintf(p, sizeof(p), "%s/v1/h", slugs);
	assert_int_equal(stat(p, &b), 0);
	assert_true(a.st_ino == b.st_ino && a.st_nlink == 2);
	assert_int_equal(st->stripped, 2);
	assert_int_equal(st->files, 3);
	assert_int_equal(st->hardlinks, 1);
	assert_int_equal(st->symlinks, 3);
	assert_int_equal(count_entries(slugs_fd), 1); /* no temporary left */
}

static void good_slug(void **state)
{
	(void)state;
	struct tar t = {0};
	good_tar(&t);
	struct hs_slug_stats st;
	cm_err err;
	if (hs_slug_unpack_mem(t.buf, t.len, "good", slugs_fd, "v1", NULL, &st, &err) != 0)
		fail_msg("%s", err.msg);
	check_good_tree(&st);
	/* Once per release: a second unpack finds the tree and reads nothing. */
	assert_int_equal(hs_slug_unpack_mem("junk", 4, "again", slugs_fd, "v1", &fast, &st, &err),
	                 1);
	free(t.buf);
}

static void good_slug_gzipped(void **state)
{
	(void)state;
	struct tar t = {0};
	good_tar(&t);
	struct tar gz = gzip_tar(&t);
	char path[160];
	snprintf(path, sizeof(path), "%s/slug.tgz", top);
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0 && write(fd, gz.buf, gz.len) == (ssize_t)gz.len);
	close(fd);
	struct hs_slug_stats st;
	cm_err err;
	char url[200];
	snprintf(url, sizeof(url), "file://%s", path);
	if (hs_slug_unpack(url, slugs_fd, "v1", NULL, &st, &err) != 0)
		fail_msg("%s", err.msg);
	check_good_tree(&st);
	free(t.buf);
	free(gz.buf);
}

/* A later entry replaces an earlier one, but never writes into what it was: replacing a hard
 * link leaves the file it shared an inode with alone. */
static void later_entry_replaces_without_writing_through(void **state)
{
	(void)state;
	struct tar t = {0};
	tar_file(&t, "./app/a", 0644, "original\n");
	tar_link(&t, "./app/b", '1', "./app/a");
	tar_file(&t, "./app/b", 0644, "replaced\n");
	tar_link(&t, "./app/c", '2', "a");
	tar_file(&t, "./app/c", 0644, "not through the link\n");
	tar_end(&t);
	cm_err err;
	if (hs_slug_unpack_mem(t.buf, t.len, "dup", slugs_fd, "v1", &fast, NULL, &err) != 0)
		fail_msg("%s", err.msg);
	char p[200], *buf = NULL;
	size_t len;
	snprintf(p, sizeof(p), "%s/v1/a", slugs);
	assert_int_equal(cm_read_file_at(AT_FDCWD, p, 100, &buf, &len, &err), 0);
	assert_string_equal(buf, "original\n");
	free(buf);
	snprintf(p, sizeof(p), "%s/v1/c", slugs);
	assert_int_equal(cm_read_file_at(AT_FDCWD, p, 100, &buf, &len, &err), 0);
	assert_string_equal(buf, "not through the link\n");
	free(buf);
	free(t.buf);
}

/* ---- malicious slugs ---- */

enum kind {
	ABS,
	DOTDOT,
	SYM_ABS,
	SYM_CLIMB,
	SYM_AFTER_NAME,
	SYM_THEN_FILE,
	SYM_THEN_DIR,
	HARD_PASSWD,
	HARD_PASSWD_REL,
	HARD_LATER,
	HARD_DIR,
	HARD_SYMLINK,
	HARD_ROOT,
	CHR,
	BLK,
	FIFO,
	OUT_OTHER,
	OUT_PREFIX,
	OUT_BARE,
	APP_FILE,
	FILE_OVER_DIR,
	DIR_THROUGH_FILE,
	NKINDS
};

struct bad {
	const char *entry; /* as named in the message */
	const char *why;
};

static struct bad bad_tar(enum kind k, struct tar *t)
{
	char abs[200];
	snprintf(abs, sizeof(abs), "%s/y", outside);
	tar_dir(t, "./app/", 0755);
	tar_dir(t, "./app/sub/", 0755);
	switch (k) {
	case ABS:
		tar_file(t, abs, 0644, "pwned\n");
		return (struct bad){strdup(abs), "an absolute name"};
	case DOTDOT:
		tar_file(t, "./app/../../outside/y", 0644, "pwned\n");
		return (struct bad){"./app/../../outside/y", "a \"..\" component"};
	case SYM_ABS:
		tar_link(t, "./app/l", '2', outside);
		tar_file(t, "./app/l/y", 0644, "pwned\n");
		return (struct bad){"./app/l", "a symbolic link to an absolute path"};
	case SYM_CLIMB:
		tar_link(t, "./app/sub/l", '2', "../../outside");
		return (struct bad){"./app/sub/l", "leading out of the slug's root"};
	case SYM_AFTER_NAME:
		tar_link(t, "./app/l", '2', "sub/../..");
		return (struct bad){"./app/l", "after a name"};
	case SYM_THEN_FILE:
		tar_link(t, "./app/l", '2', "sub");
		tar_file(t, "./app/l/y", 0644, "through\n");
		return (struct bad){"./app/l/y", "a component of its path is a symbolic link"};
	case SYM_THEN_DIR:
		tar_link(t, "./app/l", '2', "sub");
		tar_dir(t, "./app/l/d/", 0755);
		return (struct bad){"./app/l/d/", "a component of its path is a symbolic link"};
	case HARD_PASSWD:
		tar_link(t, "./app/pw", '1', "/etc/passwd");
		return (struct bad){"./app/pw", "a hard link to \"/etc/passwd\", an absolute name"};
	case HARD_PASSWD_REL:
		tar_link(t, "./app/pw", '1', "./app/../../../../../../etc/passwd");
		return (struct bad){"./app/pw", "component"};
	case HARD_LATER:
		tar_link(t, "./app/pw", '1', "./app/later");
		tar_file(t, "./app/later", 0644, "x\n");
		return (struct bad){"./app/pw", "not a regular file extracted before it"};
	case HARD_DIR:
		tar_link(t, "./app/pw", '1', "./app/sub");
		return (struct bad){"./app/pw", "not a regular file extracted before it"};
	case HARD_SYMLINK:
		tar_link(t, "./app/l", '2', "sub");
		tar_link(t, "./app/pw", '1', "./app/l");
		return (struct bad){"./app/pw", "not a regular file extracted before it"};
	case HARD_ROOT:
		tar_link(t, "./app/pw", '1', "./app/");
		return (struct bad){"./app/pw", "which is not a file of the slug"};
	case CHR:
		tar_entry(t, "./app/null", '3', NULL, 0666, 0, NULL, 0);
		return (struct bad){"./app/null", "a character device"};
	case BLK:
		tar_entry(t, "./app/sda", '4', NULL, 0666, 0, NULL, 0);
		return (struct bad){"./app/sda", "a block device"};
	case FIFO:
		tar_entry(t, "./app/fifo", '6', NULL, 0666, 0, NULL, 0);
		return (struct bad){"./app/fifo", "a FIFO"};
	case OUT_OTHER:
		tar_file(t, "./other/y", 0644, "x\n");
		return (struct bad){"./other/y", "outside ./app/"};
	case OUT_PREFIX:
		tar_file(t, "./application/y", 0644, "x\n");
		return (struct bad){"./application/y", "outside ./app/"};
	case OUT_BARE:
		tar_file(t, "y", 0644, "x\n");
		return (struct bad){"y", "outside ./app/"};
	case APP_FILE:
		tar_file(t, "./app", 0644, "x\n");
		return (struct bad){"./app", "./app itself must be a directory"};
	case FILE_OVER_DIR:
		tar_file(t, "./app/sub", 0644, "x\n");
		return (struct bad){"./app/sub", "its name is already a directory"};
	case DIR_THROUGH_FILE:
		tar_file(t, "./app/f", 0644, "x\n");
		tar_file(t, "./app/f/y", 0644, "x\n");
		return (struct bad){"./app/f/y", "a component of its path is not a directory"};
	default:
		fail();
	}
	return (struct bad){0};
}

static void refuse_one(enum kind k, bool gzipped)
{
	struct tar t = {0};
	struct bad b = bad_tar(k, &t);
	tar_file(&t, "./app/after", 0644, "after\n");
	tar_end(&t);
	if (gzipped) {
		struct tar gz = gzip_tar(&t);
		free(t.buf);
		t = gz;
	}
	char *before = host_state();
	cm_err err;
	int rc = hs_slug_unpack_mem(t.buf, t.len, "evil.tgz", slugs_fd, "v1", NULL, NULL, &err);
	char want[512];
	snprintf(want, sizeof(want), "slug evil.tgz: entry \"%s\": ", b.entry);
	if (rc >= 0 || !strstr(err.msg, want) || !strstr(err.msg, b.why) ||
	    !strstr(err.msg, "refused"))
		fail_msg("case %d: rc %d, message: %s (wanted %s...%s)", k, rc,
		         rc < 0 ? err.msg : "", want, b.why);
	char *after = host_state();
	assert_string_equal(before, after);
	assert_int_equal(count_entries(slugs_fd), 0); /* nothing left, not even a temporary */
	free(before);
	free(after);
	free(t.buf);
	if (k == ABS)
		free((char *)b.entry);
}

static void malicious_entries_refused(void **state)
{
	(void)state;
	for (int k = 0; k < NKINDS; k++)
		refuse_one((enum kind)k, k % 2);
}

static struct tar many_entries(int n)
{
	struct tar t = {0};
	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof(name), "./app/f%d", i);
		tar_file(&t, name, 0644, "x");
	}
	tar_end(&t);
	return t;
}

static void caps_refused(void **state)
{
	(void)state;
	cm_err err;
	struct hs_slug_opts o = {.no_sync = true, .max_entries = 3};
	struct tar t = many_entries(5);
	assert_true(hs_slug_unpack_mem(t.buf, t.len, "many", slugs_fd, "v1", &o, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "entry \"./app/f3\": the slug has more than 3 entries"));
	free(t.buf);

	/* A gzip bomb: 64 MiB of zeros in a file, some 64 kB gzipped, against a 1 MiB cap. */
	size_t big = 64 << 20;
	char *zeros = calloc(1, big);
	struct tar bomb = {0};
	tar_entry(&bomb, "./app/zeros", '0', NULL, 0644, 0, zeros, big);
	tar_end(&bomb);
	free(zeros);
	struct tar gz = gzip_tar(&bomb);
	free(bomb.buf);
	assert_true(gz.len < 1 << 20);
	o = (struct hs_slug_opts){.no_sync = true, .max_bytes = 1 << 20};
	assert_true(hs_slug_unpack_mem(gz.buf, gz.len, "bomb", slugs_fd, "v1", &o, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "entry \"./app/zeros\": the slug would unpack to more "
	                                "than 1048576 bytes: refused"));
	free(gz.buf);
	assert_int_equal(count_entries(slugs_fd), 0);
}

static void broken_input_leaves_nothing(void **state)
{
	(void)state;
	cm_err err;
	assert_true(hs_slug_unpack_mem("not a tar at all", 16, "junk", slugs_fd, "v1", &fast, NULL,
	                               &err) < 0);
	assert_non_null(strstr(err.msg, "slug junk: "));
	struct tar t = {0};
	tar_file(&t, "./app/a", 0644, "a\n");
	char data[4000];
	memset(data, 'x', sizeof(data));
	tar_entry(&t, "./app/b", '0', NULL, 0644, 0, data, sizeof(data));
	assert_true(hs_slug_unpack_mem(t.buf, t.len - 2048, "truncated", slugs_fd, "v1", &fast,
	                               NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "slug truncated: entry \"./app/b\""));
	assert_int_equal(count_entries(slugs_fd), 0);
	free(t.buf);
	assert_true(hs_slug_unpack_mem("", 0, "empty", slugs_fd, "../x", &fast, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "not a valid name"));
}

static int cancel_at_two(uint64_t entries, uint64_t bytes, void *data)
{
	(void)bytes;
	(void)data;
	return entries == 2;
}

static void cancelled_leaves_nothing(void **state)
{
	(void)state;
	struct tar t = many_entries(5);
	struct hs_slug_opts o = {.no_sync = true, .progress = cancel_at_two};
	cm_err err;
	assert_true(hs_slug_unpack_mem(t.buf, t.len, "c", slugs_fd, "v1", &o, NULL, &err) < 0);
	assert_int_equal(err.code, ECANCELED);
	assert_int_equal(count_entries(slugs_fd), 0);
	free(t.buf);
}

static void url_secrets_not_shown(void **state)
{
	(void)state;
	cm_err err;
	/* No host: curl refuses it before any connection. */
	assert_true(hs_slug_unpack("http://user:secret@/slug.tgz?Signature=abc", slugs_fd, "v1",
	                           &fast, NULL, &err) < 0);
	assert_null(strstr(err.msg, "secret"));
	assert_null(strstr(err.msg, "Signature"));
	assert_non_null(strstr(err.msg, "slug http://***@/slug.tgz?...: "));
	assert_true(hs_slug_unpack("ftp://host/slug.tgz", slugs_fd, "v1", &fast, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "unsupported URL scheme"));
	assert_true(hs_slug_unpack("/dev/null", slugs_fd, "v1", &fast, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "not a regular file"));
	assert_int_equal(count_entries(slugs_fd), 0);
}

/* ---- trees: list, remove, clean ---- */

static void mkdir_at(const char *rel)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", slugs, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static void symlink_at(const char *target, const char *rel)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", slugs, rel);
	assert_int_equal(symlink(target, p), 0);
}

/* A tree full of links out of it, as a dyno or a bug might leave: removing it removes the
 * links, never what they point to. */
static void remove_tree_follows_no_link(void **state)
{
	(void)state;
	char *before = host_state();
	mkdir_at("t");
	mkdir_at("t/a");
	mkdir_at("t/a/b");
	symlink_at(outside, "t/out");
	symlink_at(outside, "t/a/b/out");
	symlink_at("/etc", "t/a/etc");
	char p[256];
	snprintf(p, sizeof(p), "%s/t/a/b/file", slugs);
	close(open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	snprintf(p, sizeof(p), "%s/x", outside);
	char hl[256];
	snprintf(hl, sizeof(hl), "%s/t/hardlink", slugs);
	assert_int_equal(link(p, hl), 0);
	cm_err err;
	if (hs_slug_remove_tree(slugs_fd, "t", &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(count_entries(slugs_fd), 0);
	char *after = host_state();
	assert_string_equal(before, after);
	assert_int_equal(hs_slug_remove_tree(slugs_fd, "t", &err), 0); /* gone: fine */
	symlink_at(outside, "link");
	assert_int_equal(hs_slug_remove_tree(slugs_fd, "link", &err), 0);
	assert_int_equal(access(outside, F_OK), 0);
	assert_true(hs_slug_remove_tree(slugs_fd, "..", &err) < 0);
	free(before);
	free(after);
}

/* Found by fuzz_slug (corpus good.tgz, on tmpfs): the tree's root was read again through a
 * duplicate of its fd, whose offset the first pass had moved, so entries went unseen and the
 * removal failed with "Directory not empty". */
static void remove_tree_with_many_directories(void **state)
{
	(void)state;
	char rel[64], p[256];
	mkdir_at("t");
	for (int i = 0; i < 20; i++) {
		snprintf(rel, sizeof(rel), "t/d%d", i);
		mkdir_at(rel);
		snprintf(p, sizeof(p), "%s/t/f%d", slugs, i);
		close(open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
		snprintf(p, sizeof(p), "%s/t/d%d/f", slugs, i);
		close(open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	}
	cm_err err;
	if (hs_slug_remove_tree(slugs_fd, "t", &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(count_entries(slugs_fd), 0);
}

static void list_remove_and_clean(void **state)
{
	(void)state;
	struct tar t = {0};
	tar_file(&t, "./app/f", 0644, "f\n");
	tar_end(&t);
	cm_err err;
	assert_int_equal(hs_slug_unpack_mem(t.buf, t.len, "s", slugs_fd, "v2", &fast, NULL, &err),
	                 0);
	assert_int_equal(hs_slug_unpack_mem(t.buf, t.len, "s", slugs_fd, "v1", &fast, NULL, &err),
	                 0);
	free(t.buf);
	mkdir_at(".slug-tmp-dead"); /* a crashed unpack's: nobody holds its lock */
	mkdir_at(".slug-tmp-dead/d");
	mkdir_at(".slug-tmp-busy");           /* one being written */
	symlink_at(outside, ".slug-tmp-lnk"); /* not a directory: not ours to clean */
	char p[256];
	snprintf(p, sizeof(p), "%s/.slug-tmp-busy", slugs);
	int busy = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(flock(busy, LOCK_EX), 0);

	_cleanup_strv_ char **names = NULL;
	assert_int_equal(hs_slug_list(slugs_fd, &names, &err), 0);
	assert_int_equal(cm_strv_len(names), 2);
	assert_string_equal(names[0], "v1");
	assert_string_equal(names[1], "v2");

	unsigned removed;
	assert_int_equal(hs_slug_clean(slugs_fd, &removed, &err), 0);
	assert_int_equal(removed, 1);
	snprintf(p, sizeof(p), "%s/.slug-tmp-dead", slugs);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/.slug-tmp-busy", slugs);
	assert_int_equal(access(p, F_OK), 0);
	close(busy);
	assert_int_equal(hs_slug_clean(slugs_fd, &removed, &err), 0);
	assert_int_equal(removed, 1);

	assert_int_equal(hs_slug_remove(slugs_fd, "v1", &err), 0);
	assert_int_equal(hs_slug_remove(slugs_fd, "v1", &err), 0); /* gone: fine */
	cm_strv_free(names);
	assert_int_equal(hs_slug_list(slugs_fd, &names, &err), 0);
	assert_int_equal(cm_strv_len(names), 1);
	assert_string_equal(names[0], "v2");
	assert_true(hs_slug_remove(slugs_fd, "../x", &err) < 0);
}

/* A tree someone holds (a shared lock) is not removed as unused; once let go, it is. */
static void remove_unused_spares_held_trees(void **state)
{
	(void)state;
	struct tar t = {0};
	good_tar(&t);
	cm_err err;
	assert_int_equal(
	    hs_slug_unpack_mem(t.buf, t.len, "good", slugs_fd, "held", &fast, NULL, &err), 0);
	free(t.buf);
	int held = openat(slugs_fd, "held", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(held >= 0);
	assert_int_equal(flock(held, LOCK_SH), 0);
	assert_int_equal(hs_slug_remove_unused(slugs_fd, "held", &err), 0);
	assert_int_equal(faccessat(slugs_fd, "held/data", F_OK, 0), 0);
	close(held);
	assert_int_equal(hs_slug_remove_unused(slugs_fd, "held", &err), 1);
	assert_int_equal(faccessat(slugs_fd, "held", F_OK, AT_SYMLINK_NOFOLLOW), -1);
	assert_int_equal(hs_slug_remove_unused(slugs_fd, "held", &err), 0); /* missing */
}

static void names(void **state)
{
	(void)state;
	assert_true(hs_slug_valid_name("v12-abc_d.e"));
	assert_false(hs_slug_valid_name(""));
	assert_false(hs_slug_valid_name(".slug-tmp-x"));
	assert_false(hs_slug_valid_name("a/b"));
	assert_false(hs_slug_valid_name(".."));
	assert_false(hs_slug_valid_name("a b"));
	char longname[HS_SLUG_NAME_MAX + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(hs_slug_valid_name(longname));
	longname[HS_SLUG_NAME_MAX] = '\0';
	assert_true(hs_slug_valid_name(longname));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(good_slug, setup, teardown),
	    cmocka_unit_test_setup_teardown(good_slug_gzipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(later_entry_replaces_without_writing_through, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(malicious_entries_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(caps_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(broken_input_leaves_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(cancelled_leaves_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(url_secrets_not_shown, setup, teardown),
	    cmocka_unit_test_setup_teardown(remove_tree_follows_no_link, setup, teardown),
	    cmocka_unit_test_setup_teardown(remove_tree_with_many_directories, setup, teardown),
	    cmocka_unit_test_setup_teardown(list_remove_and_clean, setup, teardown),
	    cmocka_unit_test_setup_teardown(remove_unused_spares_held_trees, setup, teardown),
	    cmocka_unit_test(names),
	};
	return cmocka_run_group_tests_name("slug", tests, group_setup, group_teardown);
}
