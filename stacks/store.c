#define _GNU_SOURCE
#include "stacks/store.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/md5.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

int st_store_open(const struct st_manifest *m, cm_err *err)
{
	int fd = open(m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cm_err_sys(err, "open the stacks directory %s", m->dir);
	return fd;
}

int st_store_lock(int dirfd, const char *id, cm_err *err)
{
	_cleanup_free_ char *name = xasprintf(".%s.lock", id);
	/* O_NOFOLLOW: a link planted under the name must not make us create a file elsewhere */
	_cleanup_close_ int fd =
	    openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return cm_err_sys(err, "open the lock file %s", name);
	int r;
	do
		r = flock(fd, LOCK_EX);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return cm_err_sys(err, "lock %s", name);
	return cm_steal_fd(fd);
}

void st_md5_hex(const uint8_t digest[16], char hex[ST_MD5_HEX + 1])
{
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

int st_md5_fd(int fd, const char *what, char hex[ST_MD5_HEX + 1], cm_err *err)
{
	enum {
		CHUNK = 1 << 20
	};
	_cleanup_free_ uint8_t *buf = xmalloc(CHUNK);
	struct md5_ctx ctx;
	md5_init(&ctx);
	for (off_t off = 0;;) {
		ssize_t n = pread(fd, buf, CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cm_err_sys(err, "read %s", what);
		if (n == 0)
			break;
		md5_update(&ctx, (size_t)n, buf);
		off += n;
	}
	uint8_t digest[MD5_DIGEST_SIZE];
	md5_digest(&ctx, sizeof(digest), digest);
	st_md5_hex(digest, hex);
	return 0;
}
