#define _GNU_SOURCE
#include "common/fsutil.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int cm_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int cm_read_fd(int fd, const char *what, size_t max, char **out, size_t *len, cm_err *err)
{
	size_t cap = 4096, n = 0;
	_cleanup_free_ char *buf = xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap >= max)
				return cm_err_set(err, EFBIG, "%s is larger than %zu bytes", what,
				                  max);
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cm_err_sys(err, "read %s", what);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max)
		return cm_err_set(err, EFBIG, "%s is larger than %zu bytes", what, max);
	buf[n] = '\0';
	*len = n;
	*out = cm_steal_ptr(buf);
	return 0;
}

int cm_read_file_at(int dirfd, const char *path, size_t max, char **out, size_t *len, cm_err *err)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return cm_err_sys(err, "open %s", path);
	return cm_read_fd(fd, path, max, out, len, err);
}

const char *cm_file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFLNK:
		return "a symbolic link";
	case S_IFIFO:
		return "a FIFO";
	case S_IFSOCK:
		return "a socket";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	default:
		return "of an unknown type";
	}
}

int cm_open_regular_at(int dirfd, const char *name, struct stat *st, cm_err *err)
{
	/* O_PATH opens nothing for reading: no FIFO open to block on, no device driver called. */
	_cleanup_close_ int path = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (path < 0)
		return cm_err_sys(err, "open %s", name);
	if (fstat(path, st) < 0)
		return cm_err_sys(err, "stat %s", name);
	if (!S_ISREG(st->st_mode))
		return cm_err_set(err, EINVAL,
		                  "%s is %s, not a regular file: refused without reading it", name,
		                  cm_file_kind(st->st_mode));
	/* Reopening through /proc opens the very inode checked, whatever the name holds now. */
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", path);
	int fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return cm_err_sys(err, "reopen %s through %s", name, proc);
	return fd;
}

int cm_fsync_dir(int dirfd, cm_err *err)
{
	_cleanup_close_ int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return cm_err_sys(err, "fsync directory");
	return 0;
}

/* Creates a temporary file beside path under a name nobody else uses: O_EXCL and O_NOFOLLOW, so
 * a file, hard link or symbolic link planted under that name is never written through. */
static int create_temp(int dirfd, const char *path, mode_t mode, char **tmp, cm_err *err)
{
	static _Atomic unsigned long long counter;
	for (int tries = 0; tries < 100; tries++) {
		unsigned long long r;
		if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
			r = (unsigned long long)getpid() << 32 ^ (unsigned long long)gettid();
		r ^= counter++;
		char *name = xasprintf("%s.tmp.%016llx", path, r);
		int fd =
		    openat(dirfd, name,
		           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);
		if (fd >= 0) {
			*tmp = name;
			return fd;
		}
		int e = errno;
		free(name);
		if (e != EEXIST && e != EINTR)
			return cm_err_errno(err, e, "create a temporary file for %s", path);
	}
	return cm_err_set(err, EEXIST, "create a temporary file for %s: every name tried exists",
	                  path);
}

static int replace_file(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                        bool durable, cm_err *err)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = create_temp(dirfd, path, mode, &tmp, err);
	if (fd < 0)
		return -1;
	if (cm_write_all(fd, data, len) < 0 || (durable && fsync(fd) < 0)) {
		cm_err_sys(err, "write %s", tmp);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	if (renameat(dirfd, tmp, dirfd, path) < 0) {
		cm_err_sys(err, "rename %s to %s", tmp, path);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	return durable ? cm_fsync_dir(dirfd, err) : 0;
}

int cm_write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                            cm_err *err)
{
	return replace_file(dirfd, path, data, len, mode, true, err);
}

int cm_write_file_replace_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                             cm_err *err)
{
	return replace_file(dirfd, path, data, len, mode, false, err);
}
