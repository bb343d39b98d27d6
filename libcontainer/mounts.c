/* Mount operations: planned from the config before clone, run in the child by fd so that a
 * destination is resolved inside the rootfs (openat2 RESOLVE_IN_ROOT) and symlinks in the
 * image cannot redirect a mount onto the host. */
#define _GNU_SOURCE
#include "libcontainer/mounts.h"
#include "libcontainer/inroot.h"
#include "libcontainer/validate.h"
#include "libcontainer/namespaces.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <limits.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- before clone ---- */

static const struct {
	const char *name;
	bool clear;
	unsigned long flag;
} flag_options[] = {
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},
    {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},
    {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},
    {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},
    {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},
    {"mand", false, MS_MANDLOCK},
    {"nomand", true, MS_MANDLOCK},
    {"noatime", false, MS_NOATIME},
    {"atime", true, MS_NOATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"diratime", true, MS_NODIRATIME},
    {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"lazytime", false, MS_LAZYTIME},
    {"bind", false, MS_BIND},
    {"rbind", false, MS_BIND | MS_REC},
};

struct parsed_options {
	unsigned long flags;
	unsigned long propagation;
	char *data; /* owned */
};

static void parse_options(char *const *opts, struct parsed_options *out)
{
	size_t dlen = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; opts && opts[i]; i++) {
		bool known = false;
		for (size_t k = 0; k < CM_ARRAY_SIZE(flag_options) && !known; k++)
			if (strcmp(opts[i], flag_options[k].name) == 0) {
				known = true;
				if (flag_options[k].clear)
					out->flags &= ~flag_options[k].flag;
				else
					out->flags |= flag_options[k].flag;
			}
		unsigned long prop = lc_propagation_flags(opts[i]);
		if (prop) {
			out->propagation = prop;
			known = true;
		}
		if (known)
			continue;
		size_t l = strlen(opts[i]);
		out->data = xrealloc(out->data, dlen + l + 2);
		if (dlen)
			out->data[dlen++] = ',';
		memcpy(out->data + dlen, opts[i], l + 1);
		dlen += l;
	}
}

static char *rel_dest(const char *dest)
{
	while (*dest == '/')
		dest++;
	return xstrdup(dest);
}

static struct lc_mount_op *add_op(struct lc_plan *p, size_t *cap)
{
	xgrow((void **)&p->ops, cap, p->n_ops + 1, sizeof(*p->ops));
	struct lc_mount_op *op = &p->ops[p->n_ops++];
	memset(op, 0, sizeof(*op));
	op->userns_fd = -1;
	return op;
}

#define BIND_ATTR_FLAGS                                                                            \
	(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | \
	 MS_STRICTATIME)

/* On cgroup v1 a "cgroup" mount is a tmpfs with the container's own group of each controller
 * bound into it; on v2 it is cgroup2 itself (the container's cgroup namespace, if any, roots
 * it). */
/* mount_setattr(2) (5.12) sets flags on a whole tree in one call. */
static bool have_mount_setattr(void)
{
	return syscall(SYS_mount_setattr, -1, "", AT_EMPTY_PATH, NULL, 0) < 0 && errno != ENOSYS;
}

static struct lc_mount_op *plan_op(struct lc_plan *p, size_t *cap, int kind, int idx,
                                   const char *source, char *dest, const char *fstype)
{
	struct lc_mount_op *op = add_op(p, cap);
	op->kind = kind;
	op->index = idx;
	op->source = source ? xstrdup(source) : NULL;
	op->dest = dest;
	op->fstype = fstype ? xstrdup(fstype) : NULL;
	return op;
}

/* On cgroup v1 a "cgroup" mount is a tmpfs with the container's own group of each controller
 * bound into it; on v2 it is cgroup2 itself (the container's cgroup namespace, if any, roots
 * it). The flags go on the whole tree at the end: one mount_setattr instead of a remount per
 * controller. */
static int plan_cgroup(struct lc_plan *p, size_t *cap, const struct lc_mount *m, int idx,
                       const struct parsed_options *o, const struct lc_cgroup *cg)
{
	char *dest = rel_dest(m->destination);
	unsigned long ro = o->flags & MS_RDONLY;
	unsigned long base =
	    (o->flags & ~(ro | MS_BIND | MS_REC)) | MS_NOSUID | MS_NODEV | MS_NOEXEC;
	if (cg->version == 2) {
		struct lc_mount_op *op =
		    plan_op(p, cap, LC_OP_MOUNT, idx, "cgroup2", dest, "cgroup2");
		op->flags = base | ro;
		op->wait_cgroups = true;
		return 0;
	}
	bool setattr = have_mount_setattr();
	struct lc_mount_op *op = plan_op(p, cap, LC_OP_MOUNT, idx, "tmpfs", dest, "tmpfs");
	op->wait_cgroups = true;
	op->flags = base;
	op->data = xstrdup("mode=755");
	for (size_t i = 0; i < cg->n; i++) {
		char *sub = xasprintf("%s/%s", dest, cg->ctrl[i]);
		op = plan_op(p, cap, LC_OP_BIND, idx, cg->dir[i], sub, NULL);
		op->flags = MS_BIND;
		op->remount_flags = setattr ? 0 : base | ro;
	}
	if (setattr || ro) {
		op = plan_op(p, cap, setattr ? LC_OP_SETATTR : LC_OP_REMOUNT, idx, NULL,
		             xstrdup(dest), NULL);
		op->remount_flags = base | ro;
	}
	return 0;
}

/* A bind mount's source: an absolute path is the host's, as the config's author gave it; a
 * relative one is the bundle's and may not leave it, neither by ".." nor through a symlink
 * (the rootfs, which usually sits in the bundle, is someone else's tree). The child opens it
 * again the same way (open_source), so what is checked here is what gets mounted. */
static int plan_bind_source(struct lc_mount_op *op, const struct lc_mount *m, const char *bundle,
                            size_t i, cm_err *err)
{
	const char *src = m->source ? m->source : "";
	op->source = xstrdup(src);
	op->source_in_bundle = src[0] != '/';
	struct stat st;
	if (!op->source_in_bundle) {
		op->dest_is_file = stat(src, &st) == 0 && !S_ISDIR(st.st_mode);
		return 0;
	}
	_cleanup_close_ int dir = open(bundle ? bundle : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return cm_err_sys(err, "open the bundle %s", bundle ? bundle : ".");
	_cleanup_close_ int fd = lc_inroot_open(dir, src, O_PATH, LC_BENEATH);
	if (fd < 0 && errno == EXDEV)
		return cm_err_set(err, EXDEV,
		                  "field mounts[%zu].source: %s leads out of the bundle %s (a "
		                  "relative source must stay in it; give a host path absolute)",
		                  i, src, bundle ? bundle : ".");
	op->dest_is_file = fd >= 0 && fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode);
	return 0;
}

int lc_mounts_plan(const struct lc_config *cfg, const char *bundle, const struct lc_cgroup *cg,
                   struct lc_plan *p, cm_err *err)
{
	size_t cap = 0;
	bool netns = lc_config_has_namespace(cfg, CLONE_NEWNET);
	for (size_t i = 0; i < cfg->n_mounts; i++) {
		const struct lc_mount *m = &cfg->mounts[i];
		struct parsed_options o;
		parse_options(m->options, &o);
		_cleanup_free_ char *data = o.data;
		if (m->type && strcmp(m->type, "cgroup") == 0) {
			plan_cgroup(p, &cap, m, (int)i, &o, cg);
			continue;
		}
		bool sysfs_bind = m->type && strcmp(m->type, "sysfs") == 0 && !netns;
		struct lc_mount_op *op = add_op(p, &cap);
		op->index = (int)i;
		op->dest = rel_dest(m->destination);
		op->propagation = o.propagation;
		if (lc_mount_is_bind(m) || sysfs_bind) {
			/* sysfs belongs to a network namespace: without its own, bind the host's */
			op->kind = m->n_uid_mappings ? LC_OP_IDMAP : LC_OP_BIND;
			if (sysfs_bind)
				op->source = xstrdup("/sys");
			else if (plan_bind_source(op, m, bundle, i, err) < 0)
				return -1;
			op->flags = MS_BIND | (o.flags & MS_REC) | (sysfs_bind ? MS_REC : 0);
			op->remount_flags = o.flags & BIND_ATTR_FLAGS;
			if (op->kind == LC_OP_IDMAP &&
			    lc_userns_for_mapping(m->uid_mappings, m->n_uid_mappings,
			                          m->gid_mappings, m->n_gid_mappings,
			                          &op->userns_fd, err) < 0)
				return cm_err_wrap(err, "mounts[%zu]", i);
			continue;
		}
		op->kind = LC_OP_MOUNT;
		op->source = xstrdup(m->source ? m->source : m->type);
		op->fstype = xstrdup(m->type);
		op->flags = o.flags & ~(MS_BIND | MS_REC);
		op->data = cm_steal_ptr(data);
	}
	return 0;
}

void lc_mounts_plan_free(struct lc_plan *p)
{
	for (size_t i = 0; i < p->n_ops; i++) {
		struct lc_mount_op *op = &p->ops[i];
		free((char *)op->dest);
		free((char *)op->source);
		free((char *)op->fstype);
		free((char *)op->data);
		if (op->userns_fd >= 0)
			close(op->userns_fd);
	}
	free(p->ops);
	p->ops = NULL;
	p->n_ops = 0;
}

/* ---- in the child: system calls only ---- */

/* Whether the last component of rel (between its last '/' and end) is "." or "..". */
static bool dot_component(const char *rel, size_t end)
{
	size_t start = end;
	while (start > 0 && rel[start - 1] != '/')
		start--;
	size_t n = end - start;
	return (n == 1 && rel[start] == '.') ||
	       (n == 2 && rel[start] == '.' && rel[start + 1] == '.');
}

/* Makes what is missing of rel: directories, and if file a last empty regular file to mount
 * over. Each component is made relative to its parent, which was opened inside the root, and
 * is never followed: a symlink standing there is left alone (and resolved inside the root
 * when the whole path is opened again). */
static int make_path(int rootfd, const char *rel, bool file)
{
	char buf[PATH_MAX], name[NAME_MAX + 1];
	size_t len = strlen(rel);
	if (len >= sizeof(buf))
		return errno = ENAMETOOLONG, -1;
	memcpy(buf, rel, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if ((buf[i] != '/' && buf[i] != '\0') || buf[i - 1] == '/' || dot_component(buf, i))
			continue;
		bool last = buf[i + strspn(buf + i, "/")] == '\0';
		char saved = buf[i];
		buf[i] = '\0';
		int parent = lc_inroot_open_parent(rootfd, buf, name, sizeof(name));
		buf[i] = saved;
		if (parent < 0)
			return -1;
		int r = last && file ? mknodat(parent, name, S_IFREG | 0644, 0)
		                     : mkdirat(parent, name, 0755);
		int e = errno;
		close(parent);
		if (r < 0 && e != EEXIST)
			return errno = e, -1;
		if (last)
			break;
	}
	return 0;
}

/* Opens rel under rootfd (O_PATH), creating missing directories and, if file, a last empty
 * file to mount over. */
int lc_open_in_root(int rootfd, const char *rel, bool create, bool file)
{
	int fd = lc_inroot_open(rootfd, rel, O_PATH, LC_IN_ROOT);
	if (fd >= 0 || errno != ENOENT || !create)
		return fd;
	if (make_path(rootfd, rel, file) < 0)
		return -1;
	return lc_inroot_open(rootfd, rel, O_PATH, LC_IN_ROOT);
}

static int close_keep_errno(int fd, int r)
{
	int saved = errno;
	close(fd);
	errno = saved;
	return r;
}

/* Applies flags or propagation to what is now mounted at rel. */
static int remount_at(int rootfd, const char *rel, unsigned long flags)
{
	int fd = lc_inroot_open(rootfd, rel, O_PATH, LC_IN_ROOT);
	if (fd < 0)
		return -1;
	char target[32];
	lc_fd_path(target, fd);
	return close_keep_errno(fd, mount("none", target, "none", flags, NULL));
}

/* mount(2) flags as mount_setattr(2) attributes. */
static uint64_t attrs_of(unsigned long flags)
{
	return ((flags & MS_RDONLY) ? MOUNT_ATTR_RDONLY : 0) |
	       ((flags & MS_NOSUID) ? MOUNT_ATTR_NOSUID : 0) |
	       ((flags & MS_NODEV) ? MOUNT_ATTR_NODEV : 0) |
	       ((flags & MS_NOEXEC) ? MOUNT_ATTR_NOEXEC : 0);
}

/* move_mount onto the destination's fd itself: it does not follow a /proc/self/fd link */
static int idmapped_bind(const struct lc_mount_op *op, int source_fd, int target_fd)
{
	unsigned int tree_flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH;
	if (op->flags & MS_REC)
		tree_flags |= AT_RECURSIVE;
	int tree = (int)syscall(SYS_open_tree, source_fd, "", tree_flags);
	if (tree < 0)
		return -1;
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP,
	                          .userns_fd = (uint64_t)op->userns_fd};
	attr.attr_set |= attrs_of(op->remount_flags);
	int r = (int)syscall(SYS_mount_setattr, tree, "",
	                     AT_EMPTY_PATH | ((op->flags & MS_REC) ? AT_RECURSIVE : 0), &attr,
	                     sizeof(attr));
	if (r == 0)
		r = (int)syscall(SYS_move_mount, tree, "", target_fd, "",
		                 MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
	return close_keep_errno(tree, r);
}

static int setattr_tree(int rootfd, const struct lc_mount_op *op)
{
	int fd = lc_inroot_open(rootfd, op->dest, O_PATH, LC_IN_ROOT);
	if (fd < 0)
		return -1;
	struct mount_attr attr = {.attr_set = 0};
	attr.attr_set |= attrs_of(op->remount_flags);
	return close_keep_errno(fd,
	                        (int)syscall(SYS_mount_setattr, fd, "",
	                                     AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)));
}

/* A bind mount's source: a host path as the config gives it, or one relative to the bundle
 * that may not leave it (not by "..", nor by a symlink the rootfs holds). */
static int open_source(const struct lc_mount_op *op, int bundlefd)
{
	if (op->source_in_bundle)
		return lc_inroot_open(bundlefd, op->source, O_PATH, LC_BENEATH);
	return open(op->source, O_PATH | O_CLOEXEC);
}

static int bind_at(const struct lc_mount_op *op, int bundlefd, int target_fd, const char *target)
{
	int src = open_source(op, bundlefd);
	if (src < 0)
		return -1;
	int r;
	if (op->kind == LC_OP_IDMAP) {
		r = idmapped_bind(op, src, target_fd);
	} else {
		char source[32];
		lc_fd_path(source, src);
		r = mount(source, target, "none", op->flags, NULL);
	}
	return close_keep_errno(src, r);
}

int lc_mount_op_run(int rootfd, int bundlefd, const struct lc_mount_op *op)
{
	if (op->kind == LC_OP_SETATTR)
		return setattr_tree(rootfd, op);
	if (op->kind == LC_OP_REMOUNT)
		return remount_at(rootfd, op->dest, MS_REMOUNT | MS_BIND | op->remount_flags);
	int fd = lc_open_in_root(rootfd, op->dest, true, op->dest_is_file);
	if (fd < 0)
		return -2; /* the destination, not the mount, failed */
	char target[32];
	lc_fd_path(target, fd);
	int r;
	if (op->kind == LC_OP_IDMAP || op->kind == LC_OP_BIND)
		r = bind_at(op, bundlefd, fd, target);
	else
		r = mount(op->source, target, op->fstype, op->flags, op->data);
	close_keep_errno(fd, 0);
	if (r < 0)
		return -1;
	if (op->kind == LC_OP_BIND && op->remount_flags &&
	    remount_at(rootfd, op->dest, MS_REMOUNT | MS_BIND | op->remount_flags) < 0)
		return -1;
	if (op->propagation && remount_at(rootfd, op->dest, op->propagation) < 0)
		return -1;
	return 0;
}
