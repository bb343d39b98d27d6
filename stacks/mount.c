/* Read-only loop mounts of stack images, found again by a later hsup. */
#define _GNU_SOURCE
#include "stacks/mount.h"
#include "stacks/store.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MOUNTINFO_MAX    (64 << 20)
#define LOOP_TRIES       10 /* LOOP_CTL_GET_FREE hands the same device to racing callers */
#define UMOUNT_MAX_DEPTH 16

/* ---- finding a mount ---- */

/* One line of /proc/self/mountinfo, the fields that say what is mounted. */
struct mountinfo {
	int id;
	char *root, *opts, *fstype, *source;
};

static void mountinfo_clear(struct mountinfo *mi)
{
	free(mi->root), free(mi->opts), free(mi->fstype), free(mi->source);
	memset(mi, 0, sizeof(*mi));
}

/* Undoes mountinfo's octal escapes (\040 for a space, ...) in place. */
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* Splits a mountinfo line into its fields; false when it is not one. */
static bool parse_line(char *line, struct mountinfo *mi, char **mount_point)
{
	char *f[64];
	size_t n = 0;
	for (char *save = NULL, *t = strtok_r(line, " ", &save); t && n < CM_ARRAY_SIZE(f);
	     t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	size_t dash = 6;
	while (dash < n && strcmp(f[dash], "-") != 0)
		dash++;
	if (n < 6 || dash + 2 >= n)
		return false;
	for (size_t i = 0; i < n; i++)
		unescape(f[i]);
	mi->id = atoi(f[0]);
	mi->root = f[3], mi->opts = f[5], mi->fstype = f[dash + 1], mi->source = f[dash + 2];
	*mount_point = f[4];
	return true;
}

/* The topmost mount at path: 1 and *out filled (owned), or 0. */
static int mountinfo_lookup(const char *path, struct mountinfo *out, cm_err *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (cm_read_file_at(AT_FDCWD, "/proc/self/mountinfo", MOUNTINFO_MAX, &buf, &len, err) < 0)
		return -1;
	int found = 0;
	for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct mountinfo mi;
		char *mp;
		if (!parse_line(line, &mi, &mp) || strcmp(mp, path) != 0)
			continue;
		mountinfo_clear(out);
		out->id = mi.id;
		out->root = xstrdup(mi.root), out->opts = xstrdup(mi.opts);
		out->fstype = xstrdup(mi.fstype), out->source = xstrdup(mi.source);
		found = 1; /* later lines are mounted on top: keep looking */
	}
	return found;
}

static bool has_option(const char *opts, const char *opt)
{
	size_t n = strlen(opt);
	for (const char *p = opts; p; p = strchr(p, ',')) {
		p += *p == ',';
		if (strncmp(p, opt, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

/* The loop device number of "/dev/loopN", or -1. */
static int loop_number(const char *source)
{
	if (strncmp(source, "/dev/loop", 9) != 0 || !isdigit((unsigned char)source[9]))
		return -1;
	char *end;
	long n = strtol(source + 9, &end, 10);
	return *end == '\0' && n <= INT32_MAX ? (int)n : -1;
}

static char *backing_file(int n)
{
	_cleanup_free_ char *path = xasprintf("/sys/block/loop%d/loop/backing_file", n);
	char *buf = NULL;
	size_t len;
	cm_err ignored;
	if (cm_read_file_at(AT_FDCWD, path, 8192, &buf, &len, &ignored) < 0)
		return NULL;
	if (len > 0 && buf[len - 1] == '\n')
		buf[len - 1] = '\0';
	return buf;
}

/* Is the mount at path the image's? */
static int check_identity(const struct mountinfo *mi, const char *path, const char *img,
                          cm_err *err)
{
	int n = loop_number(mi->source);
	_cleanup_free_ char *backing = n >= 0 ? backing_file(n) : NULL;
	/* " (deleted)": the image was replaced or removed since; the mount is still its own */
	size_t len = strlen(img);
	if (backing && strncmp(backing, img, len) == 0 &&
	    (backing[len] == '\0' || strcmp(backing + len, " (deleted)") == 0) &&
	    strcmp(mi->root, "/") == 0)
		return 0;
	return cm_err_set(err, EEXIST, "%s is already a mount point, of %s%s%s%s (%s), not of %s",
	                  path, mi->source, backing ? " backed by " : "", backing ? backing : "",
	                  strcmp(mi->root, "/") ? " (a subtree)" : "", mi->fstype, img);
}

/* Is it mounted as st_mount mounts it? */
static int check_flags(const struct mountinfo *mi, const char *path, cm_err *err)
{
	if (has_option(mi->opts, "ro") && has_option(mi->opts, "nodev") &&
	    has_option(mi->opts, "nosuid"))
		return 0;
	return cm_err_set(err, EPERM,
	                  "%s is mounted with %s: a stack must be read-only, nodev and nosuid "
	                  "(unmount it)",
	                  path, mi->opts);
}

/* An O_PATH fd of the mount's root, checked to be that mount (mount id), not what a racing
 * unmount left under it. */
static int open_root(const char *path, int mnt_id, cm_err *err)
{
	_cleanup_close_ int fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cm_err_sys(err, "open %s", path);
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0)
		return cm_err_sys(err, "statx %s", path);
	if ((stx.stx_mask & STATX_MNT_ID) && stx.stx_mnt_id != (uint64_t)mnt_id)
		return cm_err_set(err, ESTALE, "%s changed while it was opened", path);
	return cm_steal_fd(fd);
}

static char *path_in(const struct st_manifest *m, const char *name)
{
	return xasprintf("%s/%s", m->dir, name);
}

/* The mount of s: 1 and *mi filled, 0 when nothing is mounted there, < 0 when something
 * else is (or, with strict, the image mounted otherwise than st_mount mounts it). */
static int find_mount(const char *path, const char *img, bool strict, struct mountinfo *mi,
                      cm_err *err)
{
	int r = mountinfo_lookup(path, mi, err);
	if (r > 0 && check_identity(mi, path, img, err) < 0)
		return -1;
	if (r > 0 && strict && check_flags(mi, path, err) < 0)
		return -1;
	return r;
}

int st_mount_find(const struct st_manifest *m, const struct st_stack *s, struct st_mount *out,
                  cm_err *err)
{
	_cleanup_free_ char *id = st_stack_id(s);
	_cleanup_free_ char *path = path_in(m, id);
	_cleanup_free_ char *img = xasprintf("%s.img", path);
	struct mountinfo mi = {0};
	int r = find_mount(path, img, true, &mi, err);
	if (r > 0 && out) {
		out->root_fd = open_root(path, mi.id, err);
		r = out->root_fd < 0 ? -1 : 1;
		out->path = r > 0 ? cm_steal_ptr(path) : NULL;
		out->reused = true;
	}
	mountinfo_clear(&mi);
	return r;
}

/* ---- mounting ---- */

/* The kernel's filesystem type for the image, from its superblock. */
static const char *probe_fs(int fd, const char *img, cm_err *err)
{
	uint8_t sb[2048];
	ssize_t n;
	do
		n = pread(fd, sb, sizeof(sb), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return cm_err_sys(err, "read %s", img), NULL;
	if (n >= 4 && memcmp(sb, "hsqs", 4) == 0)
		return "squashfs";
	if (n >= 1082 && sb[1080] == 0x53 && sb[1081] == 0xef) /* ext2/3/4, read by ext4 */
		return "ext4";
	cm_err_set(err, EINVAL, "%s is not an ext2/3/4 or squashfs filesystem image", img);
	return NULL;
}

/* Opens /dev/loopN, making the node when this /dev lacks it (a container's own /dev). */
static int open_loop(int n, cm_err *err)
{
	char dev[32];
	snprintf(dev, sizeof(dev), "/dev/loop%d", n);
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 || errno != ENOENT)
		return fd >= 0 ? fd : cm_err_sys(err, "open %s", dev);
	char sys[64], *num = NULL;
	size_t len;
	unsigned maj, min;
	snprintf(sys, sizeof(sys), "/sys/block/loop%d/dev", n);
	if (cm_read_file_at(AT_FDCWD, sys, 64, &num, &len, err) < 0)
		return -1;
	int ok = sscanf(num, "%u:%u", &maj, &min) == 2;
	free(num);
	if (!ok || (mknod(dev, S_IFBLK | 0600, makedev(maj, min)) < 0 && errno != EEXIST))
		return cm_err_sys(err, "make %s", dev);
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? fd : cm_err_sys(err, "open %s", dev);
}

/* Binds the image to a free loop device, read-only and cleared when its last user closes it.
 * Returns the device's fd (closing it before something else holds the device frees it). */
static int loop_attach(int img_fd, const char *img, int *number, cm_err *err)
{
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return cm_err_sys(err, "open /dev/loop-control");
	struct loop_config cfg = {.fd = (uint32_t)img_fd};
	cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", img);
	for (int tries = 0; tries < LOOP_TRIES; tries++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			return cm_err_sys(err, "LOOP_CTL_GET_FREE");
		_cleanup_close_ int fd = open_loop(n, err);
		if (fd < 0)
			return -1;
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
			*number = n;
			return cm_steal_fd(fd);
		}
		if (errno != EBUSY) /* EBUSY: another process configured it first */
			return cm_err_sys(err, "LOOP_CONFIGURE /dev/loop%d with %s", n, img);
	}
	return cm_err_set(err, EBUSY, "no free loop device for %s after %d tries", img, LOOP_TRIES);
}

/* The kernel's own words on a failed fsconfig, read from the context's fd. */
static int fs_error(int fs, const char *what, cm_err *err)
{
	int e = errno;
	char msg[256] = "";
	ssize_t n = read(fs, msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	if (n > 2)
		return cm_err_errno(err, e, "%s (%s)", what, msg + 2); /* "e ext4: ..." */
	return cm_err_errno(err, e, "%s", what);
}

/* Mounts the filesystem on /dev/loopN onto target (an fd: no path is resolved again), read-only,
 * nodev, nosuid. Returns the mount's fd (O_PATH, its root). */
static int mount_fs(const char *fstype, int n, int target, const char *path, cm_err *err)
{
	_cleanup_close_ int fs = fsopen(fstype, FSOPEN_CLOEXEC);
	if (fs < 0)
		return cm_err_sys(err, "fsopen %s (Linux 5.2 or later is needed)", fstype);
	char src[32];
	snprintf(src, sizeof(src), "/dev/loop%d", n);
	_cleanup_free_ char *what = xasprintf("mount %s (%s) on %s", src, fstype, path);
	if (fsconfig(fs, FSCONFIG_SET_STRING, "source", src, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return fs_error(fs, what, err);
	_cleanup_close_ int mnt =
	    fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
	if (mnt < 0)
		return cm_err_sys(err, "%s: fsmount", what);
	if (move_mount(mnt, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return cm_err_sys(err, "%s: move_mount", what);
	return cm_steal_fd(mnt);
}

/* The mount point, made if missing (*made says so); a link or a file there is refused. */
static int mount_point(int dirfd, const char *id, bool *made, cm_err *err)
{
	*made = mkdirat(dirfd, id, 0755) == 0;
	if (!*made && errno != EEXIST)
		return cm_err_sys(err, "make the mount point %s", id);
	int fd = openat(dirfd, id, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cm_err_sys(err, "open the mount point %s", id);
	return fd;
}

static int mount_new(const struct st_manifest *m, const char *id, int dirfd, struct st_mount *out,
                     cm_err *err)
{
	_cleanup_free_ char *img = xasprintf("%s.img", id);
	_cleanup_free_ char *path = path_in(m, id);
	_cleanup_free_ char *img_path = path_in(m, img);
	struct stat st;
	_cleanup_close_ int img_fd = cm_open_regular_at(dirfd, img, &st, err);
	if (img_fd < 0)
		return -1;
	const char *fstype = probe_fs(img_fd, img, err);
	if (!fstype)
		return -1;
	bool made;
	_cleanup_close_ int target = mount_point(dirfd, id, &made, err);
	if (target < 0)
		return -1;
	int n = -1;
	_cleanup_close_ int loop = loop_attach(img_fd, img_path, &n, err);
	int mnt = loop < 0 ? -1 : mount_fs(fstype, n, target, path, err);
	if (mnt < 0) {
		if (made)
			unlinkat(dirfd, id, AT_REMOVEDIR);
		return -1; /* closing loop frees the device (autoclear) */
	}
	out->path = cm_steal_ptr(path);
	out->root_fd = mnt;
	out->reused = false;
	return 0;
}

int st_mount(const struct st_manifest *m, const struct st_stack *s, struct st_mount *out,
             cm_err *err)
{
	_cleanup_free_ char *id = st_stack_id(s);
	out->path = NULL;
	out->root_fd = -1;
	_cleanup_close_ int dirfd = st_store_open(m, err);
	if (dirfd < 0)
		return cm_err_wrap(err, "mount stack %s", id);
	_cleanup_close_ int lock = st_store_lock(dirfd, id, err);
	if (lock < 0)
		return cm_err_wrap(err, "mount stack %s", id);
	int r = st_mount_find(m, s, out, err);
	if (r == 0)
		r = mount_new(m, id, dirfd, out, err);
	return r < 0 ? cm_err_wrap(err, "mount stack %s", id) : 0;
}

/* Unmounts every mount of the image at path (one may have been made on another). */
static int umount_all(const char *path, const char *img, cm_err *err)
{
	int found = 0;
	for (;;) {
		struct mountinfo mi = {0};
		int r = find_mount(path, img, false, &mi, err);
		mountinfo_clear(&mi);
		if (r <= 0)
			return r < 0 ? -1 : found;
		if (found == UMOUNT_MAX_DEPTH)
			return cm_err_set(err, ELOOP, "%s: still mounted after %d unmounts", path,
			                  found);
		/* detached: processes that still hold it (an fd, a container's copy of it) keep
		 * it until they let go, and the loop device is freed after the last of them */
		if (umount2(path, UMOUNT_NOFOLLOW | MNT_DETACH) < 0)
			return cm_err_sys(err, "unmount %s", path);
		found++;
	}
}

int st_umount(const struct st_manifest *m, const struct st_stack *s, cm_err *err)
{
	_cleanup_free_ char *id = st_stack_id(s);
	_cleanup_free_ char *path = path_in(m, id);
	_cleanup_free_ char *img = xasprintf("%s.img", path);
	_cleanup_close_ int dirfd = st_store_open(m, err);
	if (dirfd < 0)
		return cm_err_wrap(err, "unmount stack %s", id);
	_cleanup_close_ int lock = st_store_lock(dirfd, id, err);
	if (lock < 0)
		return cm_err_wrap(err, "unmount stack %s", id);
	int found = umount_all(path, img, err);
	if (found < 0)
		return cm_err_wrap(err, "unmount stack %s", id);
	if (found && unlinkat(dirfd, id, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return cm_err_sys(err, "unmount stack %s: remove the mount point %s", id, path);
	return found > 0;
}

void st_mount_release(struct st_mount *mnt)
{
	if (mnt->root_fd >= 0)
		close(mnt->root_fd);
	mnt->root_fd = -1;
	free(mnt->path);
	mnt->path = NULL;
}
