/* libFuzzer target: the slug reader (drivers/slug.c) on arbitrary bytes (tar, gzipped or not),
 * unpacked into a temporary directory. What unpacks must keep the promises: only directories,
 * regular files and symbolic links, no setuid or setgid bit, every link's target inside the
 * tree, nothing beside the tree (no temporary left), nothing outside touched. What fails must
 * say why and leave nothing. The tree is then removed with hs_slug_remove_tree. */
#define _GNU_SOURCE
#include "fuzz/fuzz.h"
#include "drivers/slug.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char top[PATH_MAX], slugs[PATH_MAX + 16], tree[PATH_MAX + 32], sentinel[PATH_MAX + 32];
static int slugs_fd = -1;

static void remove_top(void)
{
	char *slash = strrchr(top, '/');
	*slash = '\0';
	int parent = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	hs_slug_remove_tree(parent, slash + 1, &(cm_err){0});
	close(parent);
}

static void setup_once(void)
{
	if (slugs_fd >= 0)
		return;
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(top, sizeof(top), "%s/fuzz_slug.XXXXXX", base);
	CHECK(mkdtemp(top));
	snprintf(slugs, sizeof(slugs), "%s/slugs", top);
	snprintf(tree, sizeof(tree), "%s/t", slugs);
	snprintf(sentinel, sizeof(sentinel), "%s/sentinel", top);
	CHECK(mkdir(slugs, 0700) == 0);
	int fd = open(sentinel, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	CHECK(fd >= 0 && write(fd, "host\n", 5) == 5);
	close(fd);
	slugs_fd = open(slugs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(slugs_fd >= 0);
	atexit(remove_top);
}

/* The only entry of slugs/, or "" when it is empty. */
static const char *only_entry(char *buf, size_t cap)
{
	DIR *d = opendir(slugs);
	CHECK(d);
	int n = 0;
	buf[0] = '\0';
	for (struct dirent *e; (e = readdir(d));) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		snprintf(buf, cap, "%s", e->d_name);
	}
	closedir(d);
	CHECK(n <= 1);
	return buf;
}

/* A target is inside the tree from a link `level` directories deep: relative, no ".." after a
 * name, and no more leading ".." than level. */
static void check_target(const char *target, int level)
{
	CHECK(target[0] != '/' && target[0] != '\0');
	int up = 0, named = 0;
	for (const char *p = target; *p;) {
		size_t len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			CHECK(!named);
			up++;
		} else if (len > 0 && !(len == 1 && p[0] == '.')) {
			named = 1;
		}
		p += len + (p[len] == '/');
	}
	CHECK(up <= level);
}

static int check_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)flag;
	CHECK(S_ISDIR(st->st_mode) || S_ISREG(st->st_mode) || S_ISLNK(st->st_mode));
	CHECK(!(st->st_mode & (S_ISUID | S_ISGID)));
	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		CHECK(n > 0);
		target[n] = '\0';
		check_target(target, f->level - 1); /* level 1: directly in the tree's root */
	}
	return 0;
}

static void check_host(void)
{
	struct stat st;
	CHECK(lstat(sentinel, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 5 &&
	      st.st_nlink == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup_once();
	struct hs_slug_opts o = {.no_sync = true, .max_bytes = 16 << 20, .max_entries = 10000};
	struct hs_slug_stats st;
	cm_err err;
	cm_err_clear(&err);
	char name[256];
	int rc = hs_slug_unpack_mem(data, size, "fuzz", slugs_fd, "t", &o, &st, &err);
	if (rc < 0) {
		CHECK(err.msg[0] != '\0');
		CHECK(only_entry(name, sizeof(name))[0] == '\0');
		check_host();
		return 0;
	}
	CHECK(rc == 0);
	CHECK(strcmp(only_entry(name, sizeof(name)), "t") == 0);
	CHECK(st.entries <= 10000 && st.bytes <= 16 << 20);
	CHECK(nftw(tree, check_one, 32, FTW_PHYS) == 0);
	check_host();
	CHECK(hs_slug_remove_tree(slugs_fd, "t", &err) == 0);
	CHECK(only_entry(name, sizeof(name))[0] == '\0');
	return 0;
}
