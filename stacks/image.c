/* Building a stack image from a tree: mkfs.ext4 -d into a sparse file sized for the tree (no
 * mount, no loop device), then its md5 and a gzipped copy, renamed into place when whole. */
#define _GNU_SOURCE
#include "stacks/build.h"
#include "stacks/store.h"
#include "stacks/tree.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/spawn.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/md5.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK (1 << 20)

/* Room for the tree: its blocks and a quarter more, inode tables, and metadata. */
static uint64_t image_size(const struct st_tree_stats *st)
{
	uint64_t size = st->bytes + st->bytes / 4 + st->inodes * 256 + (16ULL << 20);
	return (size + (1 << 20) - 1) / (1 << 20) * (1 << 20);
}

static int create_exclusive(int dirfd, const char *name, cm_err *err)
{
	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return cm_err_sys(err, "remove %s", name);
	int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
	                0600);
	if (fd < 0)
		return cm_err_sys(err, "create %s", name);
	return fd;
}

/* The last line of a program's output, for an error message. */
static const char *last_line(char *out)
{
	size_t n = strlen(out);
	while (n > 0 && out[n - 1] == '\n')
		out[--n] = '\0';
	char *nl = strrchr(out, '\n');
	return nl ? nl + 1 : out;
}

static int mkfs(const char *tree, const char *label, const struct st_tree_stats *st,
                const char *raw_path, cm_err *err)
{
	_cleanup_free_ char *prog = cm_find_program("mkfs.ext4", "/usr/sbin:/sbin:/usr/bin:/bin");
	if (!prog)
		return cm_err_set(err, ENOENT, "mkfs.ext4 is not installed (Debian: e2fsprogs)");
	char inodes[32], lab[17];
	snprintf(inodes, sizeof(inodes), "%llu",
	         (unsigned long long)(st->inodes + st->inodes / 4 + 64));
	snprintf(lab, sizeof(lab), "%s", label); /* ext4 labels have 16 bytes */
	char *argv[] = {prog,
	                "-q",
	                "-F",
	                "-t",
	                "ext4",
	                "-b",
	                "4096",
	                "-m",
	                "0",
	                "-O",
	                "^has_journal",
	                "-N",
	                inodes,
	                "-L",
	                lab,
	                "-E",
	                "root_owner=0:0",
	                "-d",
	                (char *)tree,
	                (char *)raw_path,
	                NULL};
	_cleanup_free_ char *out = NULL;
	int r = st_run(argv, &out, err);
	if (r < 0)
		return -1;
	if (r != 0)
		return cm_err_set(err, EIO, "mkfs.ext4 -d %s failed (exit %d): %s", tree, r,
		                  last_line(out));
	return 0;
}

static int write_gz(int fd, z_stream *z, int flush, uint8_t *buf, cm_err *err)
{
	int r;
	do {
		z->next_out = buf;
		z->avail_out = CHUNK;
		r = deflate(z, flush);
		if (r == Z_STREAM_ERROR)
			return cm_err_set(err, EIO, "deflate failed");
		if (cm_write_all(fd, buf, CHUNK - z->avail_out) < 0)
			return cm_err_sys(err, "write the gzipped image");
	} while (z->avail_out == 0);
	return 0;
}

/* Reads the raw image, hashing it, and writes it gzipped to gz. */
static int gzip_image(int raw, int gz, struct st_build_result *res, cm_err *err)
{
	_cleanup_free_ uint8_t *in = xmalloc(CHUNK);
	_cleanup_free_ uint8_t *out = xmalloc(CHUNK);
	struct md5_ctx md5;
	z_stream z = {0};
	md5_init(&md5);
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
	                 Z_DEFAULT_STRATEGY) != Z_OK)
		return cm_err_set(err, ENOMEM, "deflateInit2 failed");
	int rc = 0;
	for (;;) {
		ssize_t n = read(raw, in, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = cm_err_sys(err, "read the image");
			break;
		}
		md5_update(&md5, (size_t)n, in);
		res->image_size += (uint64_t)n;
		z.next_in = in;
		z.avail_in = (uInt)n;
		if ((rc = write_gz(gz, &z, n == 0 ? Z_FINISH : Z_NO_FLUSH, out, err)) < 0 || n == 0)
			break;
	}
	res->gz_size = z.total_out;
	deflateEnd(&z);
	uint8_t digest[MD5_DIGEST_SIZE];
	md5_digest(&md5, sizeof(digest), digest);
	st_md5_hex(digest, res->md5);
	return rc;
}

static int gzip_into_place(int dirfd, int raw, const char *gz_name, struct st_build_result *res,
                           cm_err *err)
{
	_cleanup_free_ char *part = xasprintf(".%s.part", gz_name);
	_cleanup_close_ int gz = create_exclusive(dirfd, part, err);
	if (gz < 0)
		return -1;
	int rc = gzip_image(raw, gz, res, err);
	if (rc == 0 && (fchmod(gz, 0644) < 0 || fsync(gz) < 0))
		rc = cm_err_sys(err, "write %s", part);
	if (rc == 0 && renameat(dirfd, part, dirfd, gz_name) < 0)
		rc = cm_err_sys(err, "rename %s to %s", part, gz_name);
	if (rc < 0)
		unlinkat(dirfd, part, 0);
	return rc < 0 ? -1 : cm_fsync_dir(dirfd, err);
}

static int build(const char *tree, const char *id, const char *out_dir, int dirfd,
                 struct st_build_result *res, cm_err *err)
{
	struct st_tree_stats st;
	if (st_tree_scan(tree, &st, err) < 0)
		return -1;
	_cleanup_free_ char *raw_name = xasprintf(".%s.img.build", id);
	_cleanup_free_ char *raw_path = xasprintf("%s/%s", out_dir, raw_name);
	_cleanup_close_ int raw = create_exclusive(dirfd, raw_name, err);
	if (raw < 0)
		return -1;
	int rc = ftruncate(raw, (off_t)image_size(&st)) < 0 ? cm_err_sys(err, "size %s", raw_path)
	                                                    : mkfs(tree, id, &st, raw_path, err);
	_cleanup_free_ char *gz_name = xasprintf("%s.img.gz", id);
	if (rc == 0)
		rc = gzip_into_place(dirfd, raw, gz_name, res, err);
	unlinkat(dirfd, raw_name, 0);
	if (rc == 0)
		res->gz_path = xasprintf("%s/%s", out_dir, gz_name);
	return rc;
}

int st_build_image(const char *tree, const char *name, const char *version, const char *out_dir,
                   struct st_build_result *res, cm_err *err)
{
	memset(res, 0, sizeof(*res));
	struct st_stack s = {.name = (char *)name, .version = (char *)version};
	if (st_stack_check(&s, err) < 0)
		return cm_err_wrap(err, "build a stack");
	_cleanup_free_ char *id = st_stack_id(&s);
	_cleanup_close_ int dirfd = open(out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return cm_err_sys(err, "build stack %s: open %s", id, out_dir);
	if (build(tree, id, out_dir, dirfd, res, err) < 0)
		return cm_err_wrap(err, "build stack %s", id);
	return 0;
}

void st_build_result_free(struct st_build_result *res)
{
	free(res->gz_path);
	res->gz_path = NULL;
}
