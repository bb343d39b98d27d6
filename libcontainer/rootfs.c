/* The container's root: planning /dev before clone; in the child, the mounts in order, /dev
 * nodes and links, pivot_root with the old root detached, masked and read-only paths. */
#define _GNU_SOURCE
#include "libcontainer/rootfs.h"
#include "libcontainer/inroot.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* ---- before clone ---- */

static const struct {
	const char *name;
	unsigned int major, minor;
} default_nodes[] = {
    {"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

static bool has_mount(const struct lc_config *c, const char *dest, const char *type)
{
	for (size_t i = 0; i < c->n_mounts; i++)
		if (strcmp(c->mounts[i].destination, dest) == 0 &&
		    (!type || (c->mounts[i].type && strcmp(c->mounts[i].type, type) == 0)))
			return true;
	return false;
}

static mode_t node_type(char t)
{
	return t == 'b' ? S_IFBLK : t == 'p' ? S_IFIFO : S_IFCHR;
}

void lc_rootfs_plan_devices(const struct lc_config *c, bool userns, struct lc_plan *p)
{
	bool dev_tmpfs = has_mount(c, "/dev", "tmpfs");
	size_t n = (dev_tmpfs ? CM_ARRAY_SIZE(default_nodes) : 0) + c->n_devices;
	p->devs = xcalloc(n + 1, sizeof(*p->devs));
	for (size_t i = 0; dev_tmpfs && i < CM_ARRAY_SIZE(default_nodes); i++) {
		struct lc_dev_node *d = &p->devs[p->n_devs++];
		d->path = xasprintf("dev/%s", default_nodes[i].name);
		d->host_path = xasprintf("/dev/%s", default_nodes[i].name);
		d->mode = S_IFCHR | 0666;
		d->dev = makedev(default_nodes[i].major, default_nodes[i].minor);
		d->uid = d->gid = (uid_t)-1;
	}
	for (size_t i = 0; i < c->n_devices; i++) {
		const struct lc_device *cd = &c->devices[i];
		struct lc_dev_node *d = &p->devs[p->n_devs++];
		d->path = xstrdup(cd->path + 1);
		d->host_path = xstrdup(cd->path);
		d->mode = node_type(cd->type) | (cd->file_mode ? (cd->file_mode & 07777) : 0666);
		d->dev = makedev((unsigned)cd->major, (unsigned)cd->minor);
		d->uid = cd->uid;
		d->gid = cd->gid;
	}
	p->dev_symlinks = dev_tmpfs;
	p->ptmx_link = dev_tmpfs && has_mount(c, "/dev/pts", "devpts");
	(void)userns;
}

void lc_rootfs_plan_free(struct lc_plan *p)
{
	for (size_t i = 0; i < p->n_devs; i++) {
		free((char *)p->devs[i].path);
		free((char *)p->devs[i].host_path);
	}
	free(p->devs);
	p->devs = NULL;
}

/* ---- in the child: system calls only ---- */

static int close_keep_errno(int fd, int r)
{
	int saved = errno;
	if (fd >= 0)
		close(fd);
	errno = saved;
	return r;
}

static bool is_wanted(const struct stat *st, mode_t type, dev_t dev)
{
	if (type == 0) /* something to bind a node onto: anything but a directory or a link */
		return !S_ISDIR(st->st_mode) && !S_ISLNK(st->st_mode);
	return (st->st_mode & S_IFMT) == type && (type == S_IFIFO || st->st_rdev == dev);
}

/* Makes name in dir (a directory inside the root) a node of mode and dev (S_IFREG: an empty
 * file to bind a node onto, or whatever non-directory is there), and returns it as an O_PATH
 * fd. What stands there already is checked without following it: a symlink or a wrong node is
 * removed and made again, a directory is an error. */
static int make_node_at(int dir, const char *name, mode_t mode, dev_t dev)
{
	mode_t type = mode & S_IFMT;
	for (int attempt = 0; attempt < 3; attempt++) {
		if (mknodat(dir, name, mode, dev) < 0 && errno != EEXIST)
			return -1;
		int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0)
			return close_keep_errno(fd, -1);
		if (is_wanted(&st, type == S_IFREG ? 0 : type, dev))
			return fd;
		close(fd);
		if (S_ISDIR(st.st_mode))
			return errno = EEXIST, -1;
		if (unlinkat(dir, name, 0) < 0)
			return -1;
	}
	return errno = EEXIST, -1;
}

static int make_node(const struct lc_plan *p, int rootfd, const struct lc_dev_node *d)
{
	char name[NAME_MAX + 1], target[32];
	int dir = lc_inroot_open_parent(rootfd, d->path, name, sizeof(name));
	if (dir < 0)
		return -1;
	/* no mknod in a user namespace: bind the host's node onto an empty file */
	int fd = make_node_at(dir, name, p->userns ? (S_IFREG | 0644) : d->mode, d->dev);
	close_keep_errno(dir, 0);
	if (fd < 0)
		return -1;
	lc_fd_path(target, fd);
	int r;
	if (p->userns)
		r = mount(d->host_path, target, "none", MS_BIND, NULL);
	else /* mknod honours the umask: set the mode exactly */
		r = lc_fchmod_path_fd(fd, d->mode & 07777);
	if (r == 0 && !p->userns && (d->uid != (uid_t)-1 || d->gid != (gid_t)-1))
		r = fchownat(fd, "", d->uid, d->gid, AT_EMPTY_PATH);
	return close_keep_errno(fd, r);
}

static int make_links(const struct lc_plan *p, int rootfd, int *index)
{
	static const char *const links[][2] = {
	    {"/proc/self/fd", "fd"},
	    {"/proc/self/fd/0", "stdin"},
	    {"/proc/self/fd/1", "stdout"},
	    {"/proc/self/fd/2", "stderr"},
	};
	if (!p->dev_symlinks && !p->ptmx_link)
		return 0;
	/* the links go into /dev as it resolves inside the root: where its tmpfs was mounted */
	int dev = lc_inroot_open(rootfd, "dev", O_PATH | O_DIRECTORY, LC_IN_ROOT);
	if (dev < 0)
		return *index = 0, -1;
	for (size_t i = 0; p->dev_symlinks && i < 4; i++)
		if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST)
			return *index = (int)i, close_keep_errno(dev, -1);
	if (p->ptmx_link) {
		/* /dev/ptmx must be the devpts instance's own; unlinkat never follows a link */
		unlinkat(dev, "ptmx", 0);
		if (symlinkat("pts/ptmx", dev, "ptmx") < 0)
			return *index = 4, close_keep_errno(dev, -1);
	}
	return close_keep_errno(dev, 0);
}

static int pivot(int rootfd)
{
	if (fchdir(rootfd) < 0)
		return -1;
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		/* the old root is now stacked under the new one: detach it without telling the
		 * host, and nothing is left to remove */
		if (mount("none", ".", "none", MS_SLAVE | MS_REC, NULL) < 0 ||
		    umount2(".", MNT_DETACH) < 0)
			return -1;
	} else if (errno == EINVAL) {
		/* a rootfs on the initramfs cannot be pivoted: move it over / and chroot */
		if (mount(".", "/", "none", MS_MOVE, NULL) < 0 || chroot(".") < 0)
			return -1;
	} else
		return -1;
	return chdir("/");
}

/* Masks, read-only paths and sysctls are resolved inside the root and done on the fd, before
 * pivot_root: the host's /proc still gives every fd a path (/proc/self/fd/N) whatever the
 * container mounts or lacks, and the host's /dev/null is the mask. */
static int mask(int rootfd, const char *path)
{
	int fd = lc_inroot_open(rootfd, path, O_PATH, LC_IN_ROOT);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	struct stat st;
	char target[32];
	lc_fd_path(target, fd);
	if (fstat(fd, &st) < 0)
		return close_keep_errno(fd, -1);
	if (S_ISDIR(st.st_mode))
		return close_keep_errno(
		    fd, mount("tmpfs", target, "tmpfs", MS_RDONLY, "size=0,mode=555"));
	return close_keep_errno(fd, mount("/dev/null", target, "none", MS_BIND, NULL));
}

/* Flags a remount must keep (the kernel refuses to drop locked ones in a user namespace). */
static unsigned long kept_flags(int fd)
{
	struct statvfs sv;
	if (fstatvfs(fd, &sv) < 0)
		return 0;
	return sv.f_flag &
	       (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
}

/* Remounts what is mounted at the top of fd read-only. */
static int remount_readonly(int fd)
{
	char target[32];
	lc_fd_path(target, fd);
	return mount("none", target, "none", MS_REMOUNT | MS_BIND | MS_RDONLY | kept_flags(fd),
	             NULL);
}

static int make_readonly(int rootfd, const char *path)
{
	int fd = lc_inroot_open(rootfd, path, O_PATH, LC_IN_ROOT);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	char target[32];
	lc_fd_path(target, fd);
	if (close_keep_errno(fd, mount(target, target, "none", MS_BIND | MS_REC, NULL)) < 0)
		return -1;
	/* the bind mount now covers what fd holds: open its top */
	fd = lc_inroot_open(rootfd, path, O_PATH, LC_IN_ROOT);
	if (fd < 0)
		return -1;
	return close_keep_errno(fd, remount_readonly(fd));
}

/* A sysctl is written only into the procfs the container mounted, with no symlink on the way:
 * a rootfs without one cannot turn the write into one on a file of its own choosing. */
static int write_sysctl(int rootfd, const char *path, const char *value, int *step)
{
	int fd = lc_inroot_open(rootfd, path, O_WRONLY | O_NONBLOCK | O_NOCTTY, LC_NO_SYMLINKS);
	if (fd < 0)
		return -1;
	struct statfs fs;
	if (fstatfs(fd, &fs) < 0 || fs.f_type != PROC_SUPER_MAGIC) {
		*step = LC_STEP_SYSCTL_NOT_PROC;
		return close_keep_errno(fd, (errno = EINVAL, -1));
	}
	size_t len = strlen(value);
	ssize_t n;
	do
		n = write(fd, value, len);
	while (n < 0 && errno == EINTR);
	return close_keep_errno(fd, n < 0 ? -1 : 0);
}

static int paths_in_root(const struct lc_plan *p, int rootfd, int *step, int *index)
{
	*step = LC_STEP_MASK;
	for (size_t i = 0; p->masked && p->masked[i]; i++)
		if (mask(rootfd, p->masked[i]) < 0)
			return *index = (int)i, -1;
	for (size_t i = 0; p->sysctl_paths && p->sysctl_paths[i]; i++) {
		*step = LC_STEP_SYSCTL;
		if (write_sysctl(rootfd, p->sysctl_paths[i], p->sysctl_values[i], step) < 0)
			return *index = (int)i, -1;
	}
	*step = LC_STEP_READONLY;
	for (size_t i = 0; p->readonly && p->readonly[i]; i++)
		if (make_readonly(rootfd, p->readonly[i]) < 0)
			return *index = (int)i, -1;
	*step = LC_STEP_ROOT_READONLY;
	*index = -1;
	if (p->root_readonly && remount_readonly(rootfd) < 0)
		return -1;
	return 0;
}

static int mounts_and_dev(const struct lc_plan *p, int rootfd, int *step, int *index)
{
	int bundlefd = p->bundle ? open(p->bundle, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	for (size_t i = 0; i < p->n_ops; i++) {
		*step = LC_STEP_SYNC;
		if (p->ops[i].wait_cgroups && lc_init_wait_byte(p, 'k') < 0)
			return close_keep_errno(bundlefd, -1);
		int r = lc_mount_op_run(rootfd, bundlefd, &p->ops[i]);
		*index = p->ops[i].index;
		*step = r == -2 ? LC_STEP_MOUNT_DEST : LC_STEP_MOUNT;
		if (r < 0)
			return close_keep_errno(bundlefd, -1);
	}
	close_keep_errno(bundlefd, 0);
	*step = LC_STEP_DEVICE;
	for (size_t i = 0; i < p->n_devs; i++)
		if (make_node(p, rootfd, &p->devs[i]) < 0)
			return *index = (int)i, -1;
	*step = LC_STEP_SYMLINK;
	return make_links(p, rootfd, index);
}

int lc_rootfs_prepare(const struct lc_plan *p, int *step, int *index)
{
	*step = LC_STEP_PROPAGATION;
	if (mount("none", "/", "none", MS_SLAVE | MS_REC, NULL) < 0)
		return -1;
	*step = LC_STEP_ROOTFS;
	if (mount(p->rootfs, p->rootfs, "none", MS_BIND | MS_REC, NULL) < 0)
		return -1;
	int rootfd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -1;
	if (mounts_and_dev(p, rootfd, step, index) < 0 || paths_in_root(p, rootfd, step, index) < 0)
		return close_keep_errno(rootfd, -1);
	*step = LC_STEP_HOOKS;
	if (p->hook_point && lc_init_hook_point(p) < 0)
		return close_keep_errno(rootfd, -1);
	*step = LC_STEP_PIVOT;
	*index = -1;
	return close_keep_errno(rootfd, pivot(rootfd));
}

int lc_rootfs_finish(const struct lc_plan *p, int *step, int *index)
{
	*step = LC_STEP_PROPAGATION;
	*index = -1;
	if (p->root_propagation && mount("none", "/", "none", p->root_propagation, NULL) < 0)
		return -1;
	return 0;
}
