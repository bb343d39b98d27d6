/* File helpers: replacing a file atomically under concurrent writers and planted links, and
 * opening a file in a hostile directory without following links or blocking on a FIFO. */
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
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

#define WRITERS    4
#define ROUNDS     300
#define FILE_BYTES (64 * 1024)

static char dir[64];
static int tdir = -1;

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_fsutil.XXXXXX");
	assert_non_null(mkdtemp(dir));
	tdir = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(tdir >= 0);
	return 0;
}

static int remove_dir(void **state)
{
	(void)state;
	_cleanup_free_ char *cmd = NULL;
	assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
	assert_int_equal(system(cmd), 0);
	close(tdir);
	return 0;
}

static char *read_all(const char *name, size_t *len)
{
	char *buf = NULL;
	cm_err err;
	if (cm_read_file_at(tdir, name, 1 << 24, &buf, len, &err) < 0)
		fail_msg("%s", err.msg);
	return buf;
}

static void write_ok(const char *name, const char *data, bool durable)
{
	cm_err err;
	int rc = durable ? cm_write_file_atomic_at(tdir, name, data, strlen(data), 0600, &err)
	                 : cm_write_file_replace_at(tdir, name, data, strlen(data), 0600, &err);
	if (rc < 0)
		fail_msg("%s", err.msg);
}

static size_t count_entries(void)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	return n;
}

static atomic_bool writers_done;
static atomic_int bad_reads, writer_errors;

/* Replaces "shared" with a whole file of one letter, rounds times. */
static void write_letters(char letter, int rounds)
{
	char *data = malloc(FILE_BYTES);
	memset(data, letter, FILE_BYTES);
	for (int i = 0; i < rounds; i++) {
		cm_err err;
		if (cm_write_file_replace_at(tdir, "shared", data, FILE_BYTES, 0600, &err) < 0)
			writer_errors++;
	}
	free(data);
}

static void *writer(void *arg)
{
	write_letters((char)('a' + (intptr_t)arg), ROUNDS);
	return NULL;
}

static bool whole(const char *buf, size_t len)
{
	if (len != FILE_BYTES)
		return false;
	for (size_t i = 1; i < len; i++)
		if (buf[i] != buf[0])
			return false;
	return true;
}

static void *reader(void *arg)
{
	(void)arg;
	while (!writers_done) {
		_cleanup_free_ char *buf = NULL;
		size_t len;
		cm_err err;
		if (cm_read_file_at(tdir, "shared", 1 << 20, &buf, &len, &err) == 0 &&
		    !whole(buf, len))
			bad_reads++;
	}
	return NULL;
}

static void concurrent_writers_never_publish_a_partial_file(void **state)
{
	(void)state;
	pthread_t w[WRITERS], r;
	write_letters('z', 1);
	assert_int_equal(pthread_create(&r, NULL, reader, NULL), 0);
	for (intptr_t i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&w[i], NULL, writer, (void *)i), 0);
	for (int i = 0; i < WRITERS; i++)
		pthread_join(w[i], NULL);
	writers_done = true;
	pthread_join(r, NULL);
	assert_int_equal(writer_errors, 0);
	assert_int_equal(bad_reads, 0);
	size_t len;
	_cleanup_free_ char *buf = read_all("shared", &len);
	assert_true(whole(buf, len));
	assert_int_equal(count_entries(), 1); /* no temporary file left behind */
	unlinkat(tdir, "shared", 0);
}

/* The name the old code used for its temporary file, predictable by anyone. */
static char *old_temp_name(const char *path)
{
	char *name = NULL;
	assert_true(asprintf(&name, "%s.tmp.%d", path, (int)getpid()) > 0);
	return name;
}

static void planted_links_are_not_written_through(void **state)
{
	(void)state;
	write_ok("victim", "precious\n", true);
	_cleanup_free_ char *tmp = old_temp_name("target");
	_cleanup_free_ char *victim = NULL;
	assert_true(asprintf(&victim, "%s/victim", dir) > 0);

	assert_int_equal(symlinkat(victim, tdir, tmp), 0);
	write_ok("target", "one\n", true);
	assert_int_equal(unlinkat(tdir, tmp, 0), 0);

	assert_int_equal(linkat(tdir, "victim", tdir, tmp, 0), 0);
	write_ok("target", "two\n", false);
	assert_int_equal(unlinkat(tdir, tmp, 0), 0);

	size_t len;
	_cleanup_free_ char *v = read_all("victim", &len);
	assert_string_equal(v, "precious\n");
	_cleanup_free_ char *t = read_all("target", &len);
	assert_string_equal(t, "two\n");
	struct stat st;
	assert_int_equal(fstatat(tdir, "target", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode) && st.st_nlink == 1);
	assert_int_equal(st.st_mode & 0777, 0600);
	unlinkat(tdir, "victim", 0);
	unlinkat(tdir, "target", 0);
	assert_int_equal(count_entries(), 0);
}

static void expect_refused(const char *name, const char *kind)
{
	struct stat st;
	cm_err err;
	int fd = cm_open_regular_at(tdir, name, &st, &err);
	if (fd >= 0)
		fail_msg("%s was opened", name);
	assert_int_equal(err.code, EINVAL);
	char want[256];
	snprintf(want, sizeof(want), "%s is %s, not a regular file: refused without reading it",
	         name, kind);
	assert_string_equal(err.msg, want);
}

static void only_regular_files_are_opened(void **state)
{
	(void)state;
	write_ok("secret", "TOPSECRET\n", false);
	assert_int_equal(symlinkat("secret", tdir, "link"), 0);
	expect_refused("link", "a symbolic link");
	/* A FIFO nobody writes to would block an open for reading forever. */
	assert_int_equal(mkfifoat(tdir, "fifo", 0600), 0);
	expect_refused("fifo", "a FIFO");
	assert_int_equal(mkdirat(tdir, "sub", 0700), 0);
	expect_refused("sub", "a directory");
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	expect_refused("sock", "a socket");
	if (mknodat(tdir, "null", S_IFCHR | 0600, makedev(1, 3)) == 0)
		expect_refused("null", "a character device");

	struct stat st;
	cm_err err;
	assert_true(cm_open_regular_at(tdir, "missing", &st, &err) < 0);
	assert_int_equal(err.code, ENOENT);
	_cleanup_close_ int fd = cm_open_regular_at(tdir, "secret", &st, &err);
	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	char *buf;
	size_t len;
	assert_int_equal(cm_read_fd(fd, "secret", 100, &buf, &len, &err), 0);
	assert_string_equal(buf, "TOPSECRET\n");
	free(buf);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_true(cm_read_fd(fd, "secret", 4, &buf, &len, &err) < 0);
	assert_int_equal(err.code, EFBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(concurrent_writers_never_publish_a_partial_file),
	    cmocka_unit_test(planted_links_are_not_written_through),
	    cmocka_unit_test(only_regular_files_are_opened),
	};
	return cmocka_run_group_tests_name("fsutil", tests, make_dir, remove_dir);
}
