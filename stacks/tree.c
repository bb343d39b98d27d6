/* Walking a stack's tree by fd (no path is resolved twice, no link followed): the link rules a
 * stack keeps, rewriting absolute links, and the sizes the image must hold. */
#define _GNU_SOURCE
#include "stacks/tree.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define WALK_MAX_DEPTH 256

struct walk {
	int root_fd;
	const char *tree;
	int (*on_link)(struct walk *w, int dirfd, const char *name, const char *rel, int depth);
	struct st_tree_stats stats;
	size_t relinked;
	cm_err *err;
};

static int walk_dir(struct walk *w, int dirfd, const char *rel, int depth);

static uint64_t round_block(uint64_t n)
{
	return (n + 4095) / 4096 * 4096;
}

static int walk_entry(struct walk *w, int dirfd, const char *name, const char *rel, int depth)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return cm_err_sys(w->err, "stat %s/%s", w->tree, rel);
	w->stats.inodes++;
	if (S_ISREG(st.st_mode))
		w->stats.bytes += round_block((uint64_t)st.st_size);
	if (S_ISLNK(st.st_mode)) {
		w->stats.bytes += st.st_size >= 60 ? 4096 : 0; /* short targets fit in the inode */
		return w->on_link ? w->on_link(w, dirfd, name, rel, depth) : 0;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	w->stats.bytes += 4096;
	if (depth >= WALK_MAX_DEPTH)
		return cm_err_set(w->err, ELOOP, "%s/%s: deeper than %d directories", w->tree, rel,
		                  WALK_MAX_DEPTH);
	_cleanup_close_ int sub =
	    openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub < 0)
		return cm_err_sys(w->err, "open %s/%s", w->tree, rel);
	return walk_dir(w, sub, rel, depth + 1);
}

static int walk_dir(struct walk *w, int dirfd, const char *rel, int depth)
{
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	_cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return cm_err_sys(w->err, "read the directory %s/%s", w->tree, rel);
	}
	for (;;) {
		errno = 0;
		struct dirent *e = readdir(d);
		if (!e && errno)
			return cm_err_sys(w->err, "read the directory %s/%s", w->tree, rel);
		if (!e)
			return 0;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		_cleanup_free_ char *child =
		    rel[0] ? xasprintf("%s/%s", rel, e->d_name) : xstrdup(e->d_name);
		if (walk_entry(w, dirfd, e->d_name, child, depth) < 0)
			return -1;
	}
}

static int walk_tree(struct walk *w, const char *tree)
{
	w->tree = tree;
	_cleanup_close_ int root = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return cm_err_sys(w->err, "open the tree %s", tree);
	w->root_fd = root;
	w->stats.inodes = 1;
	w->stats.bytes = 4096;
	return walk_dir(w, root, "", 0);
}

static char *link_target(struct walk *w, int dirfd, const char *name, const char *rel)
{
	char buf[4096];
	ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf) - 1);
	if (n < 0)
		return cm_err_sys(w->err, "read the link %s/%s", w->tree, rel), NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

/* ---- the rule: relative links that stay inside ---- */

/* Resolves the link as the kernel would, refusing to leave the tree (RESOLVE_BENEATH): EXDEV
 * when it climbs out. A link to nothing (or a loop) is harmless: it leads nowhere, outside
 * the tree or in it. */
static int check_link(struct walk *w, int dirfd, const char *name, const char *rel, int depth)
{
	(void)depth;
	_cleanup_free_ char *target = link_target(w, dirfd, name, rel);
	if (!target)
		return -1;
	if (target[0] == '/')
		return cm_err_set(w->err, EXDEV,
		                  "%s/%s -> %s: an absolute link (a stack must never point at the "
		                  "host: hsup-stack relink rewrites such links as relative ones)",
		                  w->tree, rel, target);
	struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH};
	int fd = (int)syscall(SYS_openat2, w->root_fd, rel, &how, sizeof(how));
	if (fd >= 0)
		return close(fd), 0;
	if (errno == EXDEV)
		return cm_err_set(w->err, EXDEV, "%s/%s -> %s: the link climbs out of the tree",
		                  w->tree, rel, target);
	if (errno == ENOSYS)
		return cm_err_sys(w->err, "openat2 (Linux 5.6 or later is needed)");
	return 0;
}

int st_tree_scan(const char *tree, struct st_tree_stats *stats, cm_err *err)
{
	struct walk w = {.on_link = check_link, .err = err};
	if (walk_tree(&w, tree) < 0)
		return -1;
	if (stats)
		*stats = w.stats;
	return 0;
}

int st_tree_check(const char *tree, cm_err *err)
{
	return st_tree_scan(tree, NULL, err);
}

/* ---- rewriting absolute links ---- */

char *st_relative_target(int depth, const char *abs)
{
	/* the components of abs, with "." dropped and ".." applied (never above /) */
	size_t cap = strlen(abs) + 1, len = 0;
	_cleanup_free_ char *norm = xmalloc(cap);
	_cleanup_free_ char *copy = xstrdup(abs);
	for (char *save = NULL, *c = strtok_r(copy, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0) {
			while (len > 0 && norm[len - 1] != '/')
				len--;
			len -= len > 0;
			continue;
		}
		len += (size_t)snprintf(norm + len, cap - len, "%s%s", len ? "/" : "", c);
	}
	norm[len] = '\0';
	size_t need = (size_t)depth * 3 + len + 2;
	char *out = xmalloc(need), *p = out;
	for (int i = 0; i < depth; i++)
		p += snprintf(p, need - (size_t)(p - out), "..%s",
		              (i + 1 < depth || len) ? "/" : "");
	snprintf(p, need - (size_t)(p - out), "%s", norm);
	if (!out[0])
		snprintf(out, need, ".");
	return out;
}

/* Replaces the link by a new one through a temporary name and a rename: never missing. */
static int replace_link(struct walk *w, int dirfd, const char *name, const char *rel,
                        const char *target)
{
	_cleanup_free_ char *tmp = xasprintf(".%s.relink", name);
	unlinkat(dirfd, tmp, 0);
	if (symlinkat(target, dirfd, tmp) < 0)
		return cm_err_sys(w->err, "make the link %s/%s", w->tree, rel);
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		unlinkat(dirfd, tmp, 0);
		return cm_err_sys(w->err, "replace the link %s/%s", w->tree, rel);
	}
	w->relinked++;
	return 0;
}

static int relink(struct walk *w, int dirfd, const char *name, const char *rel, int depth)
{
	_cleanup_free_ char *target = link_target(w, dirfd, name, rel);
	if (!target)
		return -1;
	if (target[0] != '/')
		return 0;
	_cleanup_free_ char *relative = st_relative_target(depth, target);
	return replace_link(w, dirfd, name, rel, relative);
}

int st_tree_relink(const char *tree, size_t *count, cm_err *err)
{
	struct walk w = {.on_link = relink, .err = err};
	int r = walk_tree(&w, tree);
	if (count)
		*count = w.relinked;
	return r;
}
