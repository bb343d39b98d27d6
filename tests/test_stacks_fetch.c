/* Fetching stack images over file://: gunzipped, verified, stored atomically and reused; what
 * is wrong refused with nothing left behind; concurrent fetches (threads and processes) give
 * one good image. http(s) is tested from outside (ftest/stacks.bats). */
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
#include <nettle/md5.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "stacks/fetch.h"
#include "stacks/store.h"

#define DATA_LEN (3 << 20)

static char dir[64], src[96], stacks[96], manifest[128];
static uint8_t *data; /* the image: random bytes, a megabyte of zeros, random bytes */

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245 + 12345;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_stacks_fetch.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(stacks, sizeof(stacks), "%s/stacks", dir);
	snprintf(manifest, sizeof(manifest), "%s/manifest.yml", stacks);
	assert_int_equal(mkdir(src, 0755), 0);
	assert_int_equal(mkdir(stacks, 0755), 0);
	data = xcalloc(1, DATA_LEN);
	fill(data, 1 << 20, 1);
	fill(data + (2 << 20), 1 << 20, 2);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(data);
	return 0;
}

/* Before each test: an empty stacks directory. */
static int clean_stacks(void **state)
{
	(void)state;
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s' && mkdir '%s'", stacks, stacks);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void md5_of(const uint8_t *p, size_t n, char hex[33])
{
	struct md5_ctx ctx;
	uint8_t digest[MD5_DIGEST_SIZE];
	md5_init(&ctx);
	md5_update(&ctx, n, p);
	md5_digest(&ctx, sizeof(digest), digest);
	st_md5_hex(digest, hex);
}

/* src/NAME, gzipped in `members` gzip members. */
static void write_gz(const char *name, const uint8_t *p, size_t n, int members)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", src, name);
	unlink(path);
	size_t part = n / (size_t)members;
	for (int i = 0; i < members; i++) {
		gzFile gz = gzopen(path, "ab");
		assert_non_null(gz);
		size_t len = i + 1 < members ? part : n - part * (size_t)i;
		assert_int_equal(gzwrite(gz, p + part * (size_t)i, (unsigned)len), (int)len);
		assert_int_equal(gzclose(gz), Z_OK);
	}
}

static void write_file(const char *path, const void *p, size_t n)
{
	cm_err err;
	if (cm_write_file_replace_at(AT_FDCWD, path, p, n, 0644, &err) < 0)
		fail_msg("%s", err.msg);
}

/* The manifest with one stack, t-1, from src/FILE with the md5 given. */
static struct st_manifest *load(const char *file, const char *md5)
{
	_cleanup_free_ char *yaml = xasprintf("- name: t\n  version: 1\n  url: file://%s/%s\n"
	                                      "  md5: %s\n",
	                                      src, file, md5);
	write_file(manifest, yaml, strlen(yaml));
	struct st_manifest *m = NULL;
	cm_err err;
	if (st_manifest_load(manifest, &m, &err) < 0)
		fail_msg("%s", err.msg);
	return m;
}

static struct st_manifest *load_good(void)
{
	char hex[33];
	md5_of(data, DATA_LEN, hex);
	return load("t-1.img.gz", hex);
}

/* The names in the stacks directory, sorted, space-separated. */
static char *listing(void)
{
	struct dirent **names;
	int n = scandir(stacks, &names, NULL, alphasort);
	assert_true(n >= 0);
	char *out = xstrdup("");
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.' || strlen(names[i]->d_name) > 2) {
			char *next = xasprintf("%s%s%s", out, out[0] ? " " : "", names[i]->d_name);
			free(out);
			out = next;
		}
		free(names[i]);
	}
	free(names);
	return out;
}

static void assert_nothing_stored(void)
{
	_cleanup_free_ char *names = listing();
	assert_string_equal(names, ".t-1.lock manifest.yml");
}

static void assert_image_good(void)
{
	_cleanup_free_ char *path = xasprintf("%s/t-1.img", stacks);
	_cleanup_free_ char *got = NULL;
	size_t len;
	cm_err err;
	if (cm_read_file_at(AT_FDCWD, path, DATA_LEN * 2, &got, &len, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(len, DATA_LEN);
	assert_memory_equal(got, data, DATA_LEN);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
}

struct progress_log {
	int calls;
	struct st_progress last;
	char id[64]; /* last.id lives only during the call */
};

static void on_progress(const struct st_progress *p, void *arg)
{
	struct progress_log *log = arg;
	log->calls++;
	log->last = *p;
	snprintf(log->id, sizeof(log->id), "%s", p->id);
}

static int fetch(const struct st_manifest *m, const struct st_fetch_opts *o, cm_err *err)
{
	return st_fetch(m, &m->stacks[0], o, err);
}

static void fetches_verifies_stores_and_reuses(void **state)
{
	(void)state;
	write_gz("t-1.img.gz", data, DATA_LEN, 1);
	_cleanup_manifest_ struct st_manifest *m = load_good();
	struct progress_log log = {0};
	struct st_fetch_opts o = ST_FETCH_OPTS_INIT;
	o.progress = on_progress;
	o.progress_arg = &log;
	cm_err err;
	if (fetch(m, &o, &err) != 1)
		fail_msg("%s", err.msg);
	assert_image_good();
	_cleanup_free_ char *names = listing();
	assert_string_equal(names, ".t-1.lock manifest.yml t-1.img");
	struct stat gz;
	_cleanup_free_ char *gz_path = xasprintf("%s/t-1.img.gz", src);
	assert_int_equal(stat(gz_path, &gz), 0);
	assert_true(log.last.done);
	assert_int_equal(log.last.received, gz.st_size);
	assert_int_equal(log.last.total, gz.st_size);
	assert_int_equal(log.last.written, DATA_LEN);
	assert_string_equal(log.id, "t-1");

	/* the second time: verified where it is, not fetched */
	struct stat before, after;
	_cleanup_free_ char *img = xasprintf("%s/t-1.img", stacks);
	assert_int_equal(stat(img, &before), 0);
	int calls = log.calls;
	assert_int_equal(fetch(m, &o, &err), 0);
	assert_int_equal(log.calls, calls);
	assert_int_equal(stat(img, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
}

static void zeros_take_no_disk_space(void **state)
{
	(void)state;
	write_gz("t-1.img.gz", data, DATA_LEN, 1);
	_cleanup_manifest_ struct st_manifest *m = load_good();
	cm_err err;
	assert_int_equal(fetch(m, NULL, &err), 1);
	_cleanup_free_ char *img = xasprintf("%s/t-1.img", stacks);
	struct stat st;
	assert_int_equal(stat(img, &st), 0);
	/* two megabytes of data, one of zeros: the zeros are a hole */
	assert_true(st.st_blocks * 512 < (2 << 20) + (512 << 10));
}

static void several_gzip_members_are_one_image(void **state)
{
	(void)state;
	write_gz("t-1.img.gz", data, DATA_LEN, 3);
	_cleanup_manifest_ struct st_manifest *m = load_good();
	cm_err err;
	if (fetch(m, NULL, &err) != 1)
		fail_msg("%s", err.msg);
	assert_image_good();
}

static void wrong_md5_stores_nothing_and_gives_both_sums(void **state)
{
	(void)state;
	write_gz("t-1.img.gz", data, DATA_LEN, 1);
	char want[33] = "0123456789abcdef0123456789abcdef", got[33];
	md5_of(data, DATA_LEN, got);
	_cleanup_manifest_ struct st_manifest *m = load("t-1.img.gz", want);
	cm_err err;
	assert_int_equal(fetch(m, NULL, &err), -1);
	assert_int_equal(err.code, EBADMSG);
	_cleanup_free_ char *words =
	    xasprintf("fetch stack t-1 from file://%s/t-1.img.gz: md5 mismatch: the image is %s, "
	              "but %s line 1 says %s; nothing was stored",
	              src, got, manifest, want);
	assert_string_equal(err.msg, words);
	assert_nothing_stored();
}

static void a_wrong_image_there_is_replaced(void **state)
{
	(void)state;
	write_gz("t-1.img.gz", data, DATA_LEN, 1);
	_cleanup_manifest_ struct st_manifest *m = load_good();
	_cleanup_free_ char *img = xasprintf("%s/t-1.img", stacks);
	write_file(img, "not the image", 13);
	cm_err err;
	assert_int_equal(fetch(m, NULL, &err), 1);
	assert_image_good();
}

static void truncated_download_is_refused(void **state)
{
	(void)state;
	write_gz("full.gz", data, DATA_LEN, 1);
	_cleanup_free_ char *full = xasprintf("%s/full.gz", src);
	_cleanup_free_ char *buf = NULL;
	size_t len;
	cm_err err;
	assert_int_equal(cm_read_file_at(AT_FDCWD, full, DATA_LEN * 2, &buf, &len, &err), 0);
	_cleanup_free_ char *cut = xasprintf("%s/t-1.img.gz", src);
	write_file(cut, buf, len / 2);
	_cleanup_manifest_ struct st_manifest *m = load_good();
	assert_int_equal(fetch(m, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "the gzip stream ends early"));
	assert_non_null(strstr(err.msg, "truncated download"));
	assert_nothing_stored();
}

static void not_gzip_is_refused(void **state)
{
	(void)state;
	_cleanup_free_ char *path = xasprintf("%s/t-1.img.gz", src);
	write_file(path, data, 4096);
	_cleanup_manifest_ struct st_manifest *m = load_good();
	cm_err err;
	assert_int_equal(fetch(m, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "not a gzip stream, or a damaged one"));
	assert_nothing_stored();
}

static void size_is_capped(void **state)
{
	(void)state;
	write_gz("t-1.img.gz", data, DATA_LEN, 1);
	_cleanup_manifest_ struct st_manifest *m = load_good();
	struct st_fetch_opts o = ST_FETCH_OPTS_INIT;
	o.max_size = DATA_LEN / 2;
	cm_err err;
	assert_int_equal(fetch(m, &o, &err), -1);
	assert_int_equal(err.code, EFBIG);
	assert_non_null(strstr(err.msg, "larger than 1572864 bytes (the limit)"));
	assert_nothing_stored();
}

static void missing_source_is_named(void **state)
{
	(void)state;
	_cleanup_manifest_ struct st_manifest *m =
	    load("nowhere.img.gz", "0123456789abcdef0123456789abcdef");
	cm_err err;
	assert_int_equal(fetch(m, NULL, &err), -1);
	_cleanup_free_ char *words =
	    xasprintf("fetch stack t-1 from file://%s/nowhere.img.gz: ", src);
	assert_non_null(strstr(err.msg, words));
	assert_nothing_stored();
}

/* Links planted under the image's name or the temporary file's are replaced, never written
 * through. */
static void planted_links_are_not_followed(void **state)
{
	(void)state;
	write_gz("t-1.img.gz", data, DATA_LEN, 1);
	_cleanup_manifest_ struct st_manifest *m = load_good();
	_cleanup_free_ char *victim = xasprintf("%s/victim", dir);
	write_file(victim, "untouched", 9);
	_cleanup_free_ char *img = xasprintf("%s/t-1.img", stacks);
	_cleanup_free_ char *part = xasprintf("%s/.t-1.img.part", stacks);
	assert_int_equal(symlink(victim, img), 0);
	assert_int_equal(symlink(victim, part), 0);
	cm_err err;
	assert_int_equal(fetch(m, NULL, &err), 1);
	assert_image_good();
	struct stat st;
	assert_int_equal(lstat(img, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	_cleanup_free_ char *v = NULL;
	size_t len;
	assert_int_equal(cm_read_file_at(AT_FDCWD, victim, 100, &v, &len, &err), 0);
	assert_string_equal(v, "untouched");
	_cleanup_free_ char *names = listing();
	assert_string_equal(names, ".t-1.lock manifest.yml t-1.img");
}

/* A fetch killed half-way leaves its temporary file: the next one takes its place. */
static void a_killed_fetch_is_cleaned_up(void **state)
{
	(void)state;
	write_gz("t-1.img.gz", data, DATA_LEN, 1);
	_cleanup_manifest_ struct st_manifest *m = load_good();
	_cleanup_free_ char *part = xasprintf("%s/.t-1.img.part", stacks);
	write_file(part, "half", 4);
	cm_err err;
	assert_int_equal(fetch(m, NULL, &err), 1);
	assert_image_good();
	assert_int_equal(access(part, F_OK), -1);
}

struct racer {
	const struct st_manifest *m;
	int rc;
	cm_err err;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	r->rc = fetch(r->m, NULL, &r->err);
	return NULL;
}

static void concurrent_threads_fetch_once(void **state)
{
	(void)state;
	write_gz("t-1.img.gz", data, DATA_LEN, 1);
	_cleanup_manifest_ struct st_manifest *m = load_good();
	struct racer r[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){.m = m};
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	int fetched = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		if (r[i].rc < 0)
			fail_msg("%s", r[i].err.msg);
		fetched += r[i].rc;
	}
	assert_int_equal(fetched, 1);
	assert_image_good();
}

static void concurrent_processes_fetch_once(void **state)
{
	(void)state;
	write_gz("t-1.img.gz", data, DATA_LEN, 1);
	_cleanup_manifest_ struct st_manifest *m = load_good();
	pid_t pids[3];
	for (int i = 0; i < 3; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			cm_err err;
			int rc = fetch(m, NULL, &err);
			if (rc < 0)
				fprintf(stderr, "%s\n", err.msg);
			_exit(rc < 0 ? 10 : rc);
		}
	}
	int fetched = 0;
	for (int i = 0; i < 3; i++) {
		int status;
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) <= 1);
		fetched += WEXITSTATUS(status);
	}
	assert_int_equal(fetched, 1);
	assert_image_good();
}

static void progress_lines(void **state)
{
	(void)state;
	char line[256];
	struct st_progress p = {.id = "cedar-14-v42",
	                        .received = 12 << 20,
	                        .total = 40 << 20,
	                        .rate = 3.1 * (1 << 20),
	                        .eta = 9.2};
	st_progress_format(&p, line, sizeof(line));
	assert_string_equal(line,
	                    "cedar-14-v42: 12.0 MiB of 40.0 MiB (30%), 3.1 MiB/s, 0:00:09 left");
	p.total = 0;
	p.eta = -1;
	p.received = 512;
	p.rate = 100;
	st_progress_format(&p, line, sizeof(line));
	assert_string_equal(line, "cedar-14-v42: 512 B, 100 B/s");

	/* written to an fd, rewritten in place, ended by a newline */
	write_gz("t-1.img.gz", data, DATA_LEN, 1);
	_cleanup_manifest_ struct st_manifest *m = load_good();
	int fds[2];
	assert_int_equal(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
	struct st_fetch_opts o = ST_FETCH_OPTS_INIT;
	o.progress_fd = fds[1];
	cm_err err;
	assert_int_equal(fetch(m, &o, &err), 1);
	close(fds[1]);
	_cleanup_free_ char *out = NULL;
	size_t len;
	assert_int_equal(cm_read_fd(fds[0], "pipe", 65536, &out, &len, &err), 0);
	close(fds[0]);
	assert_true(len > 0 && out[0] == '\r' && out[len - 1] == '\n');
	assert_non_null(strstr(out, "t-1: "));
	assert_non_null(strstr(out, "(100%)"));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, clean_stacks)
	const struct CMUnitTest tests[] = {
	    T(fetches_verifies_stores_and_reuses),
	    T(zeros_take_no_disk_space),
	    T(several_gzip_members_are_one_image),
	    T(wrong_md5_stores_nothing_and_gives_both_sums),
	    T(a_wrong_image_there_is_replaced),
	    T(truncated_download_is_refused),
	    T(not_gzip_is_refused),
	    T(size_is_capped),
	    T(missing_source_is_named),
	    T(planted_links_are_not_followed),
	    T(a_killed_fetch_is_cleaned_up),
	    T(concurrent_threads_fetch_once),
	    T(concurrent_processes_fetch_once),
	    T(progress_lines),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
