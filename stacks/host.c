/* The small stack made from the host's own programs: each program, the libraries ldd finds for
 * it, and every symbolic link on the way to them, copied into a new tree. The tree is written
 * through directory fds only, and the host's links become relative links in it, so nothing in
 * the stack points at the host. */
#define _GNU_SOURCE
#include "stacks/build.h"
#include "stacks/tree.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/spawn.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOST_PATH  "/usr/bin:/bin:/usr/sbin:/sbin"
#define MAX_HOPS   40 /* symbolic links followed for one path, as the kernel */
#define COPY_DEPTH 32

const char *const st_host_programs[] = {
    "bash",  "sh",    "env",      "cat",     "ls",       "id",       "ps",   "ip",  "sleep", "echo",
    "true",  "false", "printenv", "pwd",     "mkdir",    "rmdir",    "rm",   "cp",  "mv",    "ln",
    "chmod", "touch", "head",     "tail",    "wc",       "sort",     "uniq", "tr",  "cut",   "grep",
    "sed",   "uname", "hostname", "dirname", "basename", "readlink", "stty", "tty", "kill",  "date",
    "tee",   "xargs", "find",     "seq",     "expr",     "test",     NULL,
};

/* What the standard library copy of python leaves out: tests, tools, caches, the static
 * library. */
static const char *const python_skip[] = {
    "__pycache__",   "test",      "tests",   "idlelib",    "tkinter",
    "turtledemo",    "ensurepip", "lib2to3", "pydoc_data", "dist-packages",
    "site-packages", "config-*",  NULL,
};

struct host {
	int root_fd; /* the tree */
	const char *tree;
	cm_err *err;
};

/* ---- copying one host path, link by link ---- */

static int mirror(struct host *h, const char *path, int hops);

static int copy_data(int from, int to)
{
	char buf[128 * 1024];
	for (;;) {
		ssize_t n = read(from, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return (int)n;
		if (cm_write_all(to, buf, (size_t)n) < 0)
			return -1;
	}
}

/* Copies a regular file, without its set-id bits; one already copied is left as it is. */
static int copy_file(struct host *h, const char *host_path, int tdir, const char *name, mode_t mode)
{
	_cleanup_close_ int to =
	    openat(tdir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (to < 0 && errno == EEXIST)
		return 0;
	if (to < 0)
		return cm_err_sys(h->err, "create %s%s in the tree", h->tree, host_path);
	_cleanup_close_ int from = open(host_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (from < 0 || copy_data(from, to) < 0 || fchmod(to, mode & 0755) < 0)
		return cm_err_sys(h->err, "copy %s", host_path);
	return 0;
}

/* The directory name in tdir, made if missing; returns its fd. */
static int tree_dir(struct host *h, int tdir, const char *name, mode_t mode, const char *host_path)
{
	if (mkdirat(tdir, name, 0700) == 0) {
		_cleanup_close_ int fd =
		    openat(tdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fchmod(fd, mode & 01777) < 0)
			return cm_err_sys(h->err, "make %s%s", h->tree, host_path);
		return cm_steal_fd(fd);
	}
	if (errno != EEXIST)
		return cm_err_sys(h->err, "make %s%s", h->tree, host_path);
	int fd = openat(tdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 ? fd : cm_err_sys(h->err, "open %s%s", h->tree, host_path);
}

static int depth_of(const char *dir)
{
	int d = 0;
	for (const char *p = dir; *p; p++)
		d += *p == '/' && p[1] && p[1] != '/';
	return d;
}

/* Whether a relative target, seen from a directory depth levels deep, climbs above /. */
static bool climbs_above_root(int depth, const char *target)
{
	_cleanup_free_ char *copy = xstrdup(target);
	for (char *save = NULL, *c = strtok_r(copy, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, "..") == 0 && --depth < 0)
			return true;
		if (strcmp(c, ".") != 0 && strcmp(c, "..") != 0)
			depth++;
	}
	return false;
}

/* The host's link dir/name -> target, made in tdir as a relative link to the same place. */
static int copy_link(struct host *h, int tdir, const char *dir, const char *name,
                     const char *target)
{
	int depth = depth_of(dir);
	_cleanup_free_ char *abs = target[0] == '/' ? xstrdup(target)
	                           : climbs_above_root(depth, target)
	                               ? xasprintf("%s/%s", dir, target)
	                               : NULL;
	_cleanup_free_ char *rel = abs ? st_relative_target(depth, abs) : xstrdup(target);
	if (symlinkat(rel, tdir, name) < 0 && errno != EEXIST)
		return cm_err_sys(h->err, "make the link %s%s/%s", h->tree, dir, name);
	return 0;
}

static char *read_host_link(struct host *h, const char *path)
{
	char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return cm_err_sys(h->err, "read the link %s", path), NULL;
	buf[n] = '\0';
	return xstrdup(buf);
}

/* Follows the host's link cur/name: made in the tree, then the rest of the path is mirrored
 * from where the link leads. */
static int follow_link(struct host *h, int tdir, const char *cur, const char *name,
                       const char *rest, int hops)
{
	_cleanup_free_ char *host_path = xasprintf("%s/%s", cur, name);
	_cleanup_free_ char *target = read_host_link(h, host_path);
	if (!target || copy_link(h, tdir, cur, name, target) < 0)
		return -1;
	_cleanup_free_ char *next =
	    xasprintf("%s%s%s%s%s", target[0] == '/' ? "" : cur, target[0] == '/' ? "" : "/",
	              target, rest[0] ? "/" : "", rest);
	return mirror(h, next, hops + 1);
}

/* One component of the walk: a directory to enter (its fd in *tdir), a link to follow, or the
 * final file to copy. Returns 1 when the walk goes on, 0 when it is done. */
static int mirror_step(struct host *h, int *tdir, char *cur, const char *name, const char *rest,
                       int hops)
{
	_cleanup_free_ char *host_path = xasprintf("%s/%s", cur, name);
	struct stat st;
	if (lstat(host_path, &st) < 0)
		return cm_err_sys(h->err, "stat %s", host_path);
	if (S_ISLNK(st.st_mode)) {
		int r = follow_link(h, *tdir, cur, name, rest, hops);
		return r < 0 ? -1 : 0;
	}
	if (S_ISDIR(st.st_mode)) {
		int fd = tree_dir(h, *tdir, name, st.st_mode, host_path);
		if (fd < 0)
			return -1;
		close(*tdir);
		*tdir = fd;
		snprintf(cur + strlen(cur), PATH_MAX - strlen(cur), "/%s", name);
		return 1;
	}
	if (rest[0])
		return cm_err_set(h->err, ENOTDIR, "%s is not a directory", host_path);
	if (!S_ISREG(st.st_mode))
		return cm_err_set(h->err, EINVAL, "%s is %s: not copied into a stack", host_path,
		                  cm_file_kind(st.st_mode));
	return copy_file(h, host_path, *tdir, name, st.st_mode) < 0 ? -1 : 0;
}

/* ".." in a walk: cur holds only directories (links were followed before), so going up is
 * cutting its last component, as the kernel does; the walk starts again from there. */
static int mirror_up(struct host *h, char *cur, const char *rest, int hops)
{
	char *slash = strrchr(cur, '/');
	if (slash)
		*slash = '\0';
	_cleanup_free_ char *next = xasprintf("%s/%s", cur, rest);
	return mirror(h, next, hops + 1);
}

/* Copies the host's path into the tree as it is seen through its links: every directory, link
 * and the file at the end. */
static int mirror(struct host *h, const char *path, int hops)
{
	if (hops > MAX_HOPS)
		return cm_err_set(h->err, ELOOP, "%s: too many levels of symbolic links", path);
	if (strlen(path) >= PATH_MAX)
		return cm_err_set(h->err, ENAMETOOLONG, "%s: path too long", path);
	_cleanup_free_ char *copy = xstrdup(path);
	char cur[PATH_MAX] = "";
	_cleanup_close_ int tdir = fcntl(h->root_fd, F_DUPFD_CLOEXEC, 3);
	if (tdir < 0)
		return cm_err_sys(h->err, "dup");
	int r = 1;
	for (char *save = NULL, *c = strtok_r(copy, "/", &save); c && r > 0;
	     c = strtok_r(NULL, "/", &save)) {
		const char *rest = save ? save : "";
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0)
			return mirror_up(h, cur, rest, hops);
		r = mirror_step(h, &tdir, cur, c, rest, hops);
	}
	return r < 0 ? -1 : 0;
}

/* ---- programs, their libraries, python ---- */

/* Mirrors the libraries ldd lists for path ("libc.so.6 => /lib/.../libc.so.6 (0x...)", and
 * the loader as "/lib64/ld-linux-x86-64.so.2 (0x...)"). */
static int add_libs(struct host *h, char *ldd, const char *path)
{
	char *argv[] = {ldd, (char *)path, NULL};
	_cleanup_free_ char *out = NULL;
	int r = st_run(argv, &out, h->err);
	if (r < 0)
		return cm_err_wrap(h->err, "ldd %s", path);
	if (r != 0) /* a script, or static: "not a dynamic executable" */
		return strstr(out, "not a dynamic executable")
		           ? 0
		           : cm_err_set(h->err, EIO, "ldd %s failed (exit %d): %s", path, r, out);
	for (char *save = NULL, *line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "=> not found"))
			return cm_err_set(h->err, ENOENT, "%s needs %.*s, which ldd does not find",
			                  path, (int)strcspn(line + strspn(line, " \t"), " ="),
			                  line + strspn(line, " \t"));
		char *p = strstr(line, "=> ");
		p = p ? p + 3 : line + strspn(line, " \t");
		if (*p != '/') /* linux-vdso.so.1, in the kernel */
			continue;
		p[strcspn(p, " (")] = '\0';
		if (mirror(h, p, 0) < 0)
			return -1;
	}
	return 0;
}

static int add_program(struct host *h, char *ldd, const char *path)
{
	if (mirror(h, path, 0) < 0)
		return -1;
	return add_libs(h, ldd, path);
}

static bool skipped(const char *name, const char *const *skip)
{
	for (size_t i = 0; skip[i]; i++)
		if (fnmatch(skip[i], name, 0) == 0)
			return true;
	return false;
}

/* Copies a host directory's contents (but what skip matches), with the libraries of its
 * shared objects. */
static int copy_dir(struct host *h, char *ldd, const char *dir, const char *const *skip, int depth)
{
	if (depth > COPY_DEPTH)
		return cm_err_set(h->err, ELOOP, "%s: more than %d levels deep", dir, COPY_DEPTH);
	if (mirror(h, dir, 0) < 0)
		return -1;
	_cleanup_closedir_ DIR *d = opendir(dir);
	if (!d)
		return cm_err_sys(h->err, "open %s", dir);
	for (struct dirent *e; (errno = 0, e = readdir(d));) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    skipped(e->d_name, skip))
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(path, &st) < 0)
			return cm_err_sys(h->err, "stat %s", path);
		int r = S_ISDIR(st.st_mode) ? copy_dir(h, ldd, path, skip, depth + 1)
		        : S_ISREG(st.st_mode) && strstr(e->d_name, ".so")
		            ? add_program(h, ldd, path)
		            : mirror(h, path, 0);
		if (r < 0)
			return -1;
	}
	return errno ? cm_err_sys(h->err, "read %s", dir) : 0;
}

/* python3 with its standard library (/usr/lib/python3.N, named after the binary). */
static int add_python(struct host *h, char *ldd)
{
	_cleanup_free_ char *py = cm_find_program("python3", HOST_PATH);
	if (!py)
		return 0;
	if (add_program(h, ldd, py) < 0)
		return -1;
	_cleanup_free_ char *real = realpath(py, NULL);
	if (!real)
		return cm_err_sys(h->err, "resolve %s", py);
	_cleanup_free_ char *lib = xasprintf("/usr/lib/%s", basename(real));
	struct stat st;
	if (stat(lib, &st) < 0 || !S_ISDIR(st.st_mode))
		return 0;
	return copy_dir(h, ldd, lib, python_skip, 0);
}

/* ---- what a dyno needs besides programs ---- */

static int make_dirs(struct host *h, const char *rel, mode_t mode)
{
	_cleanup_free_ char *copy = xstrdup(rel);
	_cleanup_close_ int dir = fcntl(h->root_fd, F_DUPFD_CLOEXEC, 3);
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		int fd = tree_dir(h, dir, c, *save ? 0755 : mode, rel);
		if (fd < 0)
			return -1;
		close(dir);
		dir = fd;
	}
	return 0;
}

static int make_file(struct host *h, const char *rel, const char *content)
{
	_cleanup_close_ int fd =
	    openat(h->root_fd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return 0;
	if (fd < 0 || cm_write_all(fd, content, strlen(content)) < 0 || fchmod(fd, 0644) < 0)
		return cm_err_sys(h->err, "write %s/%s", h->tree, rel);
	return 0;
}

static int skeleton(struct host *h)
{
	static const struct {
		const char *path;
		mode_t mode;
	} dirs[] = {
	    {"app", 0755},  {"tmp", 01777},          {"var/tmp", 01777}, {"proc", 0555},
	    {"sys", 0555},  {"dev", 0755},           {"run", 0755},      {"root", 0700},
	    {"home", 0755}, {"etc/profile.d", 0755},
	};
	static const struct {
		const char *path, *content;
	} files[] = {
	    {"etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"
	                   "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
	    {"etc/group", "root:x:0:\nnogroup:x:65534:\n"},
	    {"etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n"},
	    {"etc/resolv.conf", ""},
	};
	for (size_t i = 0; i < CM_ARRAY_SIZE(dirs); i++)
		if (make_dirs(h, dirs[i].path, dirs[i].mode) < 0)
			return -1;
	for (size_t i = 0; i < CM_ARRAY_SIZE(files); i++)
		if (make_file(h, files[i].path, files[i].content) < 0)
			return -1;
	return 0;
}

/* The tree's root: made, or an existing empty directory. */
static int open_new_tree(const char *tree, cm_err *err)
{
	if (mkdir(tree, 0700) < 0 && errno != EEXIST)
		return cm_err_sys(err, "make %s", tree);
	_cleanup_close_ int fd = open(tree, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cm_err_sys(err, "open %s", tree);
	int probe = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	_cleanup_closedir_ DIR *d = probe >= 0 ? fdopendir(probe) : NULL;
	if (!d)
		return cm_err_sys(err, "read %s", tree);
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			return cm_err_set(err, EEXIST,
			                  "%s is not empty: a stack is made in a new "
			                  "directory",
			                  tree);
	if (fchmod(fd, 0755) < 0)
		return cm_err_sys(err, "chmod %s", tree);
	return cm_steal_fd(fd);
}

/* The host's top directories as they are (on a merged /usr, links into /usr), so that
 * "#!/bin/sh" works in the stack as on the host. */
static int add_top_dirs(struct host *h)
{
	static const char *const top[] = {"/bin",   "/sbin",    "/lib",
	                                  "/lib64", "/usr/bin", "/usr/sbin"};
	for (size_t i = 0; i < CM_ARRAY_SIZE(top); i++) {
		struct stat st;
		if (lstat(top[i], &st) == 0 && mirror(h, top[i], 0) < 0)
			return -1;
	}
	return 0;
}

static int add_programs(struct host *h, char *ldd, const char *const *programs, char ***missing)
{
	size_t nmissing = 0;
	if (add_top_dirs(h) < 0)
		return -1;
	for (size_t i = 0; programs[i]; i++) {
		_cleanup_free_ char *path = cm_find_program(programs[i], HOST_PATH);
		if (!path) {
			cm_strv_push(missing, &nmissing, xstrdup(programs[i]));
			continue;
		}
		if (add_program(h, ldd, path) < 0)
			return -1;
	}
	return 0;
}

/* Empties the directory dirfd: what a failed st_host_tree made, so that nothing is left. */
static void remove_contents(int dirfd, int depth)
{
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	_cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	for (struct dirent *e; (e = readdir(d));) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd, e->d_name, 0) == 0 || errno != EISDIR || depth > COPY_DEPTH * 2)
			continue;
		_cleanup_close_ int sub =
		    openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub >= 0)
			remove_contents(sub, depth + 1);
		unlinkat(dirfd, e->d_name, AT_REMOVEDIR);
	}
}

int st_host_tree(const char *tree, const char *const *programs, bool python, char ***missing,
                 cm_err *err)
{
	*missing = NULL;
	_cleanup_free_ char *ldd = cm_find_program("ldd", HOST_PATH);
	if (!ldd)
		return cm_err_set(err, ENOENT, "ldd is not installed (Debian: libc-bin)");
	_cleanup_close_ int root = open_new_tree(tree, err);
	if (root < 0)
		return -1;
	struct host h = {.root_fd = root, .tree = tree, .err = err};
	int r = skeleton(&h);
	if (r == 0)
		r = add_programs(&h, ldd, programs ? programs : st_host_programs, missing);
	if (r == 0 && python)
		r = add_python(&h, ldd);
	if (r == 0)
		r = st_tree_check(tree, err);
	if (r < 0) {
		remove_contents(root, 0);
		cm_strv_free(*missing);
		*missing = NULL;
		return cm_err_wrap(err, "make the host stack in %s", tree);
	}
	return 0;
}
