/* The container's root: planning /dev before clone; in the child, the mounts in order, /dev
 * nodes and links, pivot_root with the old root detached, masked and read-only paths. */
#define _GNU_SOURCE
#include "libcontainer/rootfs.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
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

static int make_node(const struct lc_plan *p, int rootfd, const struct lc_dev_node *d)
{
	if (p->userns) {
		/* no mknod in a user namespace: bind the host's node onto an empty file */
		int fd = lc_open_in_root(rootfd, d->path, true, true);
		if (fd < 0)
			return -1;
		struct lc_mount_op op = {.kind = LC_OP_BIND,
		                         .index = -1,
		                         .source = d->host_path,
		                         .dest = d->path,
		                         .flags = MS_BIND,
		                         .dest_is_file = true,
		                         .userns_fd = -1};
		close(fd);
		return lc_mount_op_run(rootfd, &op);
	}
	if (mknodat(rootfd, d->path, d->mode, d->dev) < 0 && errno != EEXIST)
		return -1;
	/* mknod honours the umask: set the mode exactly */
	if (fchmodat(rootfd, d->path, d->mode & 07777, 0) < 0)
		return -1;
	if ((d->uid != (uid_t)-1 || d->gid != (gid_t)-1) &&
	    fchownat(rootfd, d->path, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	return 0;
}

static int make_links(const struct lc_plan *p, int rootfd, int *index)
{
	static const char *const links[][2] = {
	    {"/proc/self/fd", "dev/fd"},
	    {"/proc/self/fd/0", "dev/stdin"},
	    {"/proc/self/fd/1", "dev/stdout"},
	    {"/proc/self/fd/2", "dev/stderr"},
	};
	for (size_t i = 0; p->dev_symlinks && i < 4; i++)
		if (symlinkat(links[i][0], rootfd, links[i][1]) < 0 && errno != EEXIST)
			return *index = (int)i, -1;
	if (p->ptmx_link) {
		/* /dev/ptmx must be the devpts instance's own */
		unlinkat(rootfd, "dev/ptmx", 0);
		if (symlinkat("pts/ptmx", rootfd, "dev/ptmx") < 0)
			return *index = 4, -1;
	}
	return 0;
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

static int mask(const char *path)
{
	int fd = open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	struct stat st;
	int r = fstat(fd, &st);
	close(fd);
	if (r < 0)
		return -1;
	if (S_ISDIR(st.st_mode))
		return mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0,mode=555");
	return mount("/dev/null", path, "none", MS_BIND, NULL);
}

/* Flags a remount must keep (the kernel refuses to drop locked ones in a user namespace). */
static unsigned long kept_flags(const char *path)
{
	struct statvfs sv;
	if (statvfs(path, &sv) < 0)
		return 0;
	return sv.f_flag &
	       (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME);
}

static int make_readonly(const char *path)
{
	if (mount(path, path, "none", MS_BIND | MS_REC, NULL) < 0)
		return errno == ENOENT ? 0 : -1;
	return mount("none", path, "none", MS_REMOUNT | MS_BIND | MS_RDONLY | kept_flags(path),
	             NULL);
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
	for (size_t i = 0; i < p->n_ops; i++) {
		*step = LC_STEP_SYNC;
		if (p->ops[i].wait_cgroups && lc_init_wait_byte(p, 'k') < 0)
			return -1;
		int r = lc_mount_op_run(rootfd, &p->ops[i]);
		*index = p->ops[i].index;
		*step = r == -2 ? LC_STEP_MOUNT_DEST : LC_STEP_MOUNT;
		if (r < 0)
			return -1;
	}
	*step = LC_STEP_DEVICE;
	for (size_t i = 0; i < p->n_devs; i++)
		if (make_node(p, rootfd, &p->devs[i]) < 0)
			return *index = (int)i, -1;
	*step = LC_STEP_SYMLINK;
	if (make_links(p, rootfd, index) < 0)
		return -1;
	*step = LC_STEP_PIVOT;
	*index = -1;
	if (pivot(rootfd) < 0)
		return -1;
	close(rootfd);
	*step = LC_STEP_MASK;
	for (size_t i = 0; p->masked && p->masked[i]; i++)
		if (mask(p->masked[i]) < 0)
			return *index = (int)i, -1;
	return 0;
}

int lc_rootfs_finish(const struct lc_plan *p, int *step, int *index)
{
	*step = LC_STEP_READONLY;
	for (size_t i = 0; p->readonly && p->readonly[i]; i++)
		if (make_readonly(p->readonly[i]) < 0)
			return *index = (int)i, -1;
	*step = LC_STEP_ROOT_READONLY;
	*index = -1;
	if (p->root_readonly && mount("none", "/", "none",
	                              MS_REMOUNT | MS_BIND | MS_RDONLY | kept_flags("/"), NULL) < 0)
		return -1;
	*step = LC_STEP_PROPAGATION;
	if (p->root_propagation && mount("none", "/", "none", p->root_propagation, NULL) < 0)
		return -1;
	return 0;
}
