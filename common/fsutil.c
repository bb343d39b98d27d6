#define _GNU_SOURCE
#include "common/fsutil.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
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

int cm_read_file_at(int dirfd, const char *path, size_t max, char **out, size_t *len, cm_err *err)
{
	_cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return cm_err_sys(err, "open %s", path);
	size_t cap = 4096, n = 0;
	_cleanup_free_ char *buf = xmalloc(cap + 1);
	for (;;) {
		if (n == cap) {
			if (cap >= max)
				return cm_err_set(err, EFBIG, "%s is larger than %zu bytes", path,
				                  max);
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return cm_err_sys(err, "read %s", path);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max)
		return cm_err_set(err, EFBIG, "%s is larger than %zu bytes", path, max);
	buf[n] = '\0';
	*len = n;
	*out = cm_steal_ptr(buf);
	return 0;
}

int cm_fsync_dir(int dirfd, cm_err *err)
{
	_cleanup_close_ int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return cm_err_sys(err, "fsync directory");
	return 0;
}

static int replace_file(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                        bool durable, cm_err *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	_cleanup_close_ int fd =
	    openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return cm_err_sys(err, "create %s", tmp);
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
