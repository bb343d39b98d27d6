#define _GNU_SOURCE
#include "drivers/lcdyno.h"
#include "drivers/slug.h"
#include "libcontainer/namespaces.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <linux/mount.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DYNO_USER    "dyno"
#define NOFILE_LIMIT 10000 /* Heroku's; this host allows at most 20000 */
#define TMP_SIZE     "size=536870912"

/* ---- the dyno's directory ---- */

static int write_file(int dirfd, const char *name, const char *text, cm_err *err)
{
	_cleanup_close_ int fd =
	    openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || cm_write_all(fd, text, strlen(text)) < 0)
		return cm_err_sys(err, "write %s", name);
	return 0;
}

/* The dyno's user, alone with root and nobody, in files bound read-only over the stack's. */
static int write_users(int dirfd, uint32_t uid, cm_err *err)
{
	_cleanup_free_ char *passwd = xasprintf(
	    "root:x:0:0:root:/root:/bin/bash\n" DYNO_USER ":x:%u:%u:" DYNO_USER
	    ":/app:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
	    uid, uid);
	_cleanup_free_ char *group =
	    xasprintf("root:x:0:\n" DYNO_USER ":x:%u:\nnogroup:x:65534:\n", uid);
	return write_file(dirfd, "passwd", passwd, err) ?: write_file(dirfd, "group", group, err);
}

static int make_dirs(int dirfd, uint32_t uid, cm_err *err)
{
	static const struct {
		const char *name;
		mode_t mode;
	} dirs[] = {{"upper", 0755}, {"work", 0700}, {"lower", 0755}, {"app", 0755}};
	for (size_t i = 0; i < CM_ARRAY_SIZE(dirs); i++)
		if (mkdirat(dirfd, dirs[i].name, dirs[i].mode) < 0)
			return cm_err_sys(err, "make %s", dirs[i].name);
	/* the dyno owns its /app: the upper layer's root is the overlay's root */
	if (fchownat(dirfd, "upper", uid, uid, AT_SYMLINK_NOFOLLOW) < 0)
		return cm_err_sys(err, "chown upper");
	return 0;
}

/* The slug's tree, with every file shown as the dyno's: root (0) maps to uid. */
static int idmapped_lower(const struct lcd_dyno *d, int dirfd, cm_err *err)
{
	struct lc_idmap map = {.container_id = 0, .host_id = d->uid, .size = 1};
	_cleanup_close_ int userns = -1;
	if (lc_userns_for_mapping(&map, 1, &map, 1, &userns, err) < 0)
		return -1;
	_cleanup_close_ int tree = (int)syscall(SYS_open_tree, AT_FDCWD, d->slug_tree,
	                                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		return cm_err_sys(err, "open_tree %s", d->slug_tree);
	struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY |
	                                      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
	                          .userns_fd = (uint64_t)userns};
	if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
		return cm_err_sys(err, "idmapped mount of %s for uid %u", d->slug_tree, d->uid);
	if (syscall(SYS_move_mount, tree, "", dirfd, "lower", MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return cm_err_sys(err, "mount %s on %s/lower", d->slug_tree, d->dir);
	return 0;
}

static int overlay(const struct lcd_dyno *d, cm_err *err)
{
	_cleanup_free_ char *data = xasprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work",
	                                      d->dir, d->dir, d->dir);
	_cleanup_free_ char *target = xasprintf("%s/app", d->dir);
	if (mount("overlay", target, "overlay", MS_NOSUID | MS_NODEV, data) < 0)
		return cm_err_sys(err, "mount the overlay of /app on %s", target);
	return 0;
}

int lcd_prepare(const struct lcd_dyno *d, cm_err *err)
{
	if (mkdir(d->dir, 0711) < 0)
		return cm_err_sys(err, "make the dyno's directory %s", d->dir);
	_cleanup_close_ int dirfd = open(d->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r = dirfd < 0 ? cm_err_sys(err, "open %s", d->dir) : 0;
	if (r == 0)
		r = make_dirs(dirfd, d->uid, err) ?: write_users(dirfd, d->uid, err);
	if (r == 0 && d->slug_tree)
		r = idmapped_lower(d, dirfd, err);
	if (r == 0)
		r = overlay(d, err);
	if (r < 0) {
		cm_err ignored;
		lcd_unprepare(d->dir, &ignored);
		return cm_err_wrap(err, "dyno %s", d->name);
	}
	return 0;
}

int lcd_unprepare(const char *dir, cm_err *err)
{
	static const char *const mounts[] = {"app", "lower"};
	for (size_t i = 0; i < CM_ARRAY_SIZE(mounts); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, mounts[i]);
		/* MNT_DETACH: a process still holding it (a container's copy) keeps it alive */
		if (umount2(p, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL &&
		    errno != ENOENT)
			return cm_err_sys(err, "unmount %s", p);
	}
	_cleanup_free_ char *copy = xstrdup(dir), *copy2 = xstrdup(dir);
	_cleanup_close_ int parent = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (parent < 0)
		return errno == ENOENT ? 0 : cm_err_sys(err, "open the directory of %s", dir);
	return hs_slug_remove_tree(parent, basename(copy2), err);
}

/* ---- the container's config ---- */

static void add_mount(struct lc_config *c, const char *dest, const char *type, const char *source,
                      char *const *options)
{
	c->mounts = xrealloc(c->mounts, (c->n_mounts + 1) * sizeof(*c->mounts));
	struct lc_mount *m = &c->mounts[c->n_mounts++];
	memset(m, 0, sizeof(*m));
	m->destination = xstrdup(dest);
	m->type = xstrdup(type);
	m->source = xstrdup(source);
	m->options = cm_strv_dup(options);
}

static void add_bind(struct lc_config *c, const char *dest, const char *source, bool ro)
{
	char *const rw[] = {"rbind", "nosuid", "nodev", NULL};
	char *const rdonly[] = {"rbind", "nosuid", "nodev", "ro", NULL};
	add_mount(c, dest, "bind", source, ro ? rdonly : rw);
}

static void dyno_mounts(struct lc_config *c, const struct lcd_dyno *d)
{
	char *const tmp[] = {"nosuid", "nodev", "mode=1777", TMP_SIZE, NULL};
	add_mount(c, "/tmp", "tmpfs", "tmpfs", tmp);
	add_mount(c, "/var/tmp", "tmpfs", "tmpfs", tmp);
	_cleanup_free_ char *app = xasprintf("%s/app", d->dir);
	_cleanup_free_ char *passwd = xasprintf("%s/passwd", d->dir);
	_cleanup_free_ char *group = xasprintf("%s/group", d->dir);
	add_bind(c, "/app", app, false);
	add_bind(c, "/etc/passwd", passwd, true);
	add_bind(c, "/etc/group", group, true);
	if (access("/etc/resolv.conf", R_OK) == 0)
		add_bind(c, "/etc/resolv.conf", "/etc/resolv.conf", true);
	for (size_t i = 0; d->binds && d->binds[i]; i++) {
		_cleanup_free_ char *host = xstrdup(d->binds[i]);
		char *colon = strchr(host, ':');
		if (colon)
			*colon++ = '\0';
		add_bind(c, colon ? colon : host, host, true);
	}
}

/* The dyno's user, with no capability at all and no way to gain one. */
static void dyno_process(struct lc_config *c, const struct lcd_dyno *d)
{
	struct lc_process *p = &c->process;
	cm_strv_free(p->args);
	cm_strv_free(p->env);
	free(p->cwd);
	size_t n = 0;
	p->args = NULL;
	cm_strv_push(&p->args, &n, xstrdup("dyno-init"));
	cm_strv_push(&p->args, &n, xstrdup("--grace"));
	cm_strv_push(&p->args, &n, xasprintf("%d", d->grace));
	cm_strv_push(&p->args, &n, xstrdup("--"));
	for (size_t i = 0; d->args[i]; i++)
		cm_strv_push(&p->args, &n, xstrdup(d->args[i]));
	p->env = cm_strv_dup(d->env);
	p->cwd = xstrdup("/app");
	p->uid = p->gid = d->uid;
	for (int s = 0; s < LC_CAP_NSETS; s++) {
		cm_strv_free(p->caps[s]);
		p->caps[s] = NULL;
	}
	p->rlimits[0].soft = p->rlimits[0].hard = NOFILE_LIMIT;
	p->no_new_privileges = true;
	/* what the dyno init forwards or waits for, blocked from the exec on: a stop sent the
	 * moment the dyno has started is queued for it, not dropped (it is PID 1) */
	p->exec_blocked = 0;
	static const int waited[] = {SIGTERM, SIGINT,  SIGHUP,  SIGQUIT,
	                             SIGUSR1, SIGUSR2, SIGCHLD, SIGTTOU};
	for (size_t i = 0; i < CM_ARRAY_SIZE(waited); i++)
		p->exec_blocked |= 1ULL << (waited[i] - 1);
	p->terminal = d->terminal;
	p->console_rows = d->rows;
	p->console_cols = d->cols;
}

static void dyno_namespaces(struct lc_config *c, const struct lcd_dyno *d)
{
	for (size_t i = 0; i < c->n_namespaces; i++)
		if (c->namespaces[i].type == CLONE_NEWNET)
			c->namespaces[i].path = xstrdup(d->netns);
	c->namespaces = xrealloc(c->namespaces, (c->n_namespaces + 1) * sizeof(*c->namespaces));
	c->namespaces[c->n_namespaces++] = (struct lc_namespace){.type = CLONE_NEWCGROUP};
}

struct lc_config *lcd_config(const struct lcd_dyno *d)
{
	struct lc_config *c = lc_spec_default();
	free(c->root_path);
	c->root_path = xstrdup(d->rootfs);
	c->root_readonly = true;
	free(c->hostname);
	c->hostname = xstrdup(d->name);
	dyno_process(c, d);
	dyno_namespaces(c, d);
	dyno_mounts(c, d);
	if (d->memory_limit) {
		c->resources.memory_limit = (int64_t)d->memory_limit;
		c->resources.memory_swap = (int64_t)d->memory_limit; /* no swap past it */
	}
	if (d->cpu_shares > 0)
		c->resources.cpu_shares = d->cpu_shares;
	if (d->pids_limit > 0)
		c->resources.pids_limit = d->pids_limit;
	c->cgroups_path = xasprintf("hsup-%s", d->id);
	return c;
}
