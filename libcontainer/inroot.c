/* Resolving paths inside a hostile tree: openat2 where the kernel has it, else a walk of one
 * component at a time that reads each symlink and resolves its text inside the tree itself.
 * Runs in the container's init between clone and exec: system calls only, no allocation. */
#define _GNU_SOURCE
#include "libcontainer/inroot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

#define MAX_LINKS 40 /* as the kernel's own path walk */

/* Set once openat2 said ENOSYS: the walk is used from then on. */
static bool no_openat2;

static bool same_inode(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static int fail(int *fd, int code)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	errno = code;
	return -1;
}

/* Replaces cur by next (both fds). */
static void step_to(int *cur, int next)
{
	close(*cur);
	*cur = next;
}

/* ".." from cur: never above root (IN_ROOT), or an error (BENEATH). */
static int walk_up(const struct stat *root_st, int *cur, int how)
{
	struct stat st;
	if (fstat(*cur, &st) < 0)
		return fail(cur, errno);
	if (same_inode(&st, root_st))
		return (how & LC_BENEATH) ? fail(cur, EXDEV) : 0;
	int up = openat(*cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (up < 0)
		return fail(cur, errno);
	step_to(cur, up);
	return 0;
}

/* Puts the symlink behind link_fd in front of rest in buf: the walk goes on with its text,
 * from root if it is absolute. */
static int splice_link(int root, int link_fd, const char *rest, char *buf, size_t size, int *cur,
                       int how)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(link_fd, "", target, sizeof(target) - 1);
	int saved = errno;
	close(link_fd);
	if (n <= 0)
		return fail(cur, n < 0 ? saved : ENOENT);
	/* rest is "" or starts with the '/' that followed the link */
	size_t rl = strlen(rest);
	if ((size_t)n + rl >= size || (size_t)n + rl >= sizeof(target))
		return fail(cur, ENAMETOOLONG);
	memcpy(target + n, rest, rl + 1);
	memcpy(buf, target, (size_t)n + rl + 1);
	if (buf[0] == '/') {
		if (how & LC_BENEATH)
			return fail(cur, EXDEV);
		int top = fcntl(root, F_DUPFD_CLOEXEC, 0);
		if (top < 0)
			return fail(cur, errno);
		step_to(cur, top);
	}
	return 0;
}

/* The walk: what openat2 does, one component at a time. A symlink's text is resolved inside
 * root like any other path, so a /proc magic link can only lead where its text names, inside
 * root, never to the object behind it. */
int lc_inroot_walk(int root, const char *path, int flags, int how)
{
	char buf[PATH_MAX];
	struct stat root_st;
	size_t len = strlen(path);
	if (len >= sizeof(buf))
		return errno = ENAMETOOLONG, -1;
	if ((how & LC_BENEATH) && path[0] == '/')
		return errno = EXDEV, -1;
	memcpy(buf, path, len + 1);
	if (fstat(root, &root_st) < 0)
		return -1;
	int cur = fcntl(root, F_DUPFD_CLOEXEC, 0), links = 0;
	if (cur < 0)
		return -1;
	for (char *p = buf;;) {
		while (*p == '/')
			p++;
		if (!*p) {
			int fd = openat(cur, ".", flags | O_CLOEXEC);
			int saved = errno;
			close(cur);
			errno = saved;
			return fd;
		}
		char *end = p + strcspn(p, "/");
		bool last = end[strspn(end, "/")] == '\0';
		/* "name/" names a directory, through a symlink if need be */
		bool trailing = *end == '/';
		char saved = *end;
		*end = '\0';
		if (strcmp(p, ".") == 0 || strcmp(p, "..") == 0) {
			if (p[1] == '.' && walk_up(&root_st, &cur, how) < 0)
				return -1;
			*end = saved;
			p = end;
			continue;
		}
		int fd = openat(cur, p, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			return fail(&cur, e);
		}
		*end = saved;
		if (S_ISLNK(st.st_mode) && !(last && !trailing && (flags & O_NOFOLLOW))) {
			if ((how & LC_NO_SYMLINKS) || ++links > MAX_LINKS) {
				close(fd);
				return fail(&cur, ELOOP);
			}
			if (splice_link(root, fd, end, buf, sizeof(buf), &cur, how) < 0)
				return -1;
			p = buf;
			continue;
		}
		if (last) {
			close(fd);
			*end = '\0';
			/* one component, relative to a directory inside root: nothing to follow */
			fd = openat(cur, p,
			            flags | O_NOFOLLOW | O_CLOEXEC | (trailing ? O_DIRECTORY : 0));
			int e = errno;
			close(cur);
			errno = e;
			return fd;
		}
		if (!S_ISDIR(st.st_mode)) {
			close(fd);
			return fail(&cur, ENOTDIR);
		}
		step_to(&cur, fd);
		p = end;
	}
}

int lc_inroot_open(int root, const char *path, int flags, int how)
{
	struct open_how oh = {
	    .flags = (uint64_t)(flags | O_CLOEXEC),
	    .resolve = RESOLVE_NO_MAGICLINKS |
	               ((how & LC_BENEATH) ? RESOLVE_BENEATH : RESOLVE_IN_ROOT) |
	               ((how & LC_NO_SYMLINKS) ? RESOLVE_NO_SYMLINKS : 0),
	};
	const char *p = *path ? path : ".";
	for (int i = 0; !no_openat2 && i < 32; i++) {
		int fd = (int)syscall(SYS_openat2, root, p, &oh, sizeof(oh));
		if (fd >= 0 || (errno != EAGAIN && errno != ENOSYS && errno != EPERM))
			return fd;
		/* EPERM: a seccomp filter forbids openat2 (the kernel itself never says it for
		 * these flags); the walk is as strict */
		if (errno == ENOSYS || errno == EPERM)
			no_openat2 = true;
		/* EAGAIN: a rename raced the resolution of ".."; try again */
	}
	if (!no_openat2)
		return -1;
	return lc_inroot_walk(root, path, flags, how);
}

int lc_inroot_open_parent(int root, const char *path, char *name, size_t size)
{
	char dir[PATH_MAX];
	size_t len = strlen(path);
	if (len >= sizeof(dir))
		return errno = ENAMETOOLONG, -1;
	memcpy(dir, path, len + 1);
	while (len > 0 && dir[len - 1] == '/')
		dir[--len] = '\0';
	size_t start = len;
	while (start > 0 && dir[start - 1] != '/')
		start--;
	const char *last = dir + start;
	size_t nlen = len - start;
	if (nlen >= size)
		return errno = ENAMETOOLONG, -1;
	if (nlen == 0 || strcmp(last, ".") == 0 || strcmp(last, "..") == 0)
		return errno = EINVAL, -1;
	memcpy(name, last, nlen + 1);
	dir[start] = '\0';
	return lc_inroot_open(root, dir, O_PATH | O_DIRECTORY, LC_IN_ROOT);
}

void lc_fd_path(char out[32], int fd)
{
	const char prefix[] = "/proc/self/fd/";
	char digits[12];
	int n = 0;
	do
		digits[n++] = (char)('0' + fd % 10);
	while ((fd /= 10) > 0);
	size_t i = 0;
	for (; prefix[i]; i++)
		out[i] = prefix[i];
	while (n > 0)
		out[i++] = digits[--n];
	out[i] = '\0';
}

int lc_fchmod_path_fd(int fd, unsigned int mode)
{
	if (syscall(SYS_fchmodat2, fd, "", mode, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
		return -1;
	/* before 6.6: the fd's magic link reaches the very inode the fd holds */
	char path[32];
	lc_fd_path(path, fd);
	return chmod(path, mode);
}
