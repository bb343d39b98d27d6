/* The libcontainer driver: each dyno is a container made by the in-tree runtime, as Heroku runs
 * dynos: the release's stack read-only as /, its slug as a private writable /app owned by the
 * dyno's own UID, its own /30 subnet on a veth pair, cgroup limits by dyno size, no
 * capability, seccomp, the project's own init as PID 1 (lcproc.c, lcdyno.c).
 *
 * Building a release (on the thread pool) fetches and mounts its stack (stacks/) and unpacks
 * its slug (slug.c) once; creating the driver reclaims what an hsup that died left (alloc/:
 * reservations of dead owners, with their containers, mounts, veths and directories) and sets
 * up forwarding and NAT of the dyno block (net.c). */
#define _GNU_SOURCE
#include "drivers/dynoinit.h"
#include "drivers/lcdyno.h"
#include "drivers/libcontainer_int.h"
#include "drivers/slug.h"
#include "stacks/fetch.h"
#include "stacks/manifest.h"
#include "stacks/mount.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/md5.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- creating the driver ---- */

static int make_dir(const char *path, mode_t mode, cm_err *err)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return cm_err_sys(err, "make %s", path);
	return 0;
}

static int make_dirs(struct lcd_driver *d, const struct hs_driver_conf *conf, cm_err *err)
{
	d->dynos_dir = xasprintf("%s/dynos", conf->data_dir);
	d->slugs_dir = xasprintf("%s/slugs", conf->data_dir);
	d->netns_dir = xasprintf("%s/netns", conf->state_dir);
	d->manifest = conf->stack_manifest ? xstrdup(conf->stack_manifest)
	                                   : xasprintf("%s/stacks/manifest.yml", conf->data_dir);
	if (make_dir(conf->data_dir, 0755, err) < 0 || make_dir(d->dynos_dir, 0711, err) < 0 ||
	    make_dir(d->slugs_dir, 0700, err) < 0 || make_dir(conf->state_dir, 0700, err) < 0 ||
	    make_dir(d->netns_dir, 0711, err) < 0)
		return -1;
	d->slugs_fd = open(d->slugs_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (d->slugs_fd < 0)
		return cm_err_sys(err, "open %s", d->slugs_dir);
	unsigned cleaned = 0;
	return hs_slug_clean(d->slugs_fd, &cleaned, err);
}

/* Reservations of hsups that died, with everything they made: removed before this one starts
 * its own dynos. */
static int reclaim(struct lcd_driver *d, cm_err *err)
{
	struct al_reservation *dead = NULL;
	size_t n = 0;
	if (al_list_dead(d->alloc, &dead, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		lcd_reclaim(d, &dead[i]);
		cm_err e;
		if (al_release_dead(d->alloc, &dead[i], &e) < 0)
			lcd_log(d, "uid %u: %s", dead[i].uid, e.msg);
	}
	if (n)
		lcd_log(d, "removed %zu container dynos left by an hsup that died (%s)", n,
		        dead[0].why);
	al_reservations_free(dead, n);
	return 0;
}

static int open_parts(struct lcd_driver *d, const struct hs_driver_conf *conf, cm_err *err)
{
	struct al_config ac;
	_cleanup_free_ char *containers = xasprintf("%s/containers", conf->state_dir);
	if (make_dirs(d, conf, err) < 0 || al_config_from_env(&ac, err) < 0 ||
	    hs_net_conf_from_env(&d->net, err) < 0 ||
	    al_open(conf->state_dir, &ac, &d->alloc, err) < 0 ||
	    lc_factory_open(containers, &d->factory, err) < 0 || reclaim(d, err) < 0)
		return -1;
	if (hs_net_host_acquire(conf->state_dir, &ac, err) < 0)
		return -1;
	d->net_acquired = true;
	d->init_fd = hs_dynoinit_fd(err);
	return d->init_fd < 0 ? -1 : 0;
}

static void lcd_destroy(struct hs_driver *base)
{
	struct lcd_driver *d = (struct lcd_driver *)base;
	cm_err err;
	if (d->net_acquired && hs_net_host_release(base->conf.state_dir, &err) < 0)
		lcd_log(d, "%s", err.msg);
	if (d->alloc)
		al_close(d->alloc);
	hs_net_conf_free(&d->net);
	lc_factory_free(d->factory);
	if (d->init_fd >= 0)
		close(d->init_fd);
	if (d->slugs_fd >= 0)
		close(d->slugs_fd);
	pthread_mutex_destroy(&d->trees);
	free(d->dynos_dir);
	free(d->slugs_dir);
	free(d->netns_dir);
	free(d->manifest);
	free(d);
}

static int lcd_create(const struct hs_driver_conf *conf, struct hs_driver **out, cm_err *err)
{
	if (geteuid() != 0)
		return cm_err_set(
		    err, EPERM,
		    "the libcontainer driver needs root (namespaces, mounts, cgroups, "
		    "the dynos' network)");
	struct lcd_driver *d = xcalloc(1, sizeof(*d));
	d->base.ops = &hs_driver_libcontainer;
	d->base.conf = *conf;
	d->slugs_fd = d->init_fd = -1;
	pthread_mutex_init(&d->trees, NULL);
	if (open_parts(d, conf, err) < 0) {
		lcd_destroy(&d->base);
		return cm_err_wrap(err, "libcontainer driver");
	}
	*out = &d->base;
	return 0;
}

/* ---- building a release ---- */

/* The stack a release names; a release naming none runs on the manifest's one primary. */
static const struct st_stack *pick_stack(const struct st_manifest *m, const char *name, cm_err *err)
{
	if (*name)
		return st_manifest_find(m, name, NULL, err);
	const struct st_stack *only = NULL;
	for (size_t i = 0; i < m->n; i++)
		if (m->stacks[i].primary) {
			if (only)
				return cm_err_set(err, EINVAL,
				                  "the release names no Stack and %s has several "
				                  "primary stacks",
				                  m->path),
				       NULL;
			only = &m->stacks[i];
		}
	if (!only)
		cm_err_set(err, ENOENT, "the release names no Stack and %s has no primary stack",
		           m->path);
	return only;
}

static int stack_rootfs(struct lcd_driver *d, const char *name, char **rootfs, cm_err *err)
{
	_cleanup_manifest_ struct st_manifest *m = NULL;
	if (st_manifest_load(d->manifest, &m, err) < 0)
		return -1;
	const struct st_stack *s = pick_stack(m, name, err);
	if (!s)
		return -1;
	struct st_fetch_opts fo = ST_FETCH_OPTS_INIT;
	fo.progress_fd = isatty(2) ? 2 : -1;
	struct st_mount mnt;
	if (st_fetch(m, s, &fo, err) < 0 || st_mount(m, s, &mnt, err) < 0)
		return cm_err_wrap(err, "stack %s-%s", s->name, s->version);
	*rootfs = xstrdup(mnt.path);
	st_mount_release(&mnt);
	return 0;
}

/* An unpacked slug is named by its source: "slug-<md5 of the URL>". */
static char *tree_name(const char *slug)
{
	struct md5_ctx ctx;
	uint8_t digest[MD5_DIGEST_SIZE];
	md5_init(&ctx);
	md5_update(&ctx, strlen(slug), (const uint8_t *)slug);
	md5_digest(&ctx, sizeof(digest), digest);
	char hex[2 * MD5_DIGEST_SIZE + 1];
	for (size_t i = 0; i < sizeof(digest); i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	return xasprintf("slug-%s", hex);
}

/* Unpacks the slug (once: a tree already there is used), and holds it with a shared lock. */
static int take_tree(struct lcd_driver *d, const char *slug, struct lcd_build *b, cm_err *err)
{
	b->tree_name = tree_name(slug);
	pthread_mutex_lock(&d->trees);
	int r = hs_slug_unpack(slug, d->slugs_fd, b->tree_name, NULL, NULL, err);
	if (r >= 0) {
		b->tree_fd = openat(d->slugs_fd, b->tree_name,
		                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (b->tree_fd < 0 || flock(b->tree_fd, LOCK_SH) < 0)
			r = cm_err_sys(err, "open %s/%s", d->slugs_dir, b->tree_name);
	}
	pthread_mutex_unlock(&d->trees);
	if (r < 0)
		return -1;
	b->tree = xasprintf("%s/%s", d->slugs_dir, b->tree_name);
	return 0;
}

/* Removes the unpacked slugs no release of any hsup holds (they take a shared lock). */
static void collect_trees(struct lcd_driver *d)
{
	_cleanup_strv_ char **names = NULL;
	cm_err err;
	if (hs_slug_list(d->slugs_fd, &names, &err) < 0)
		return;
	pthread_mutex_lock(&d->trees);
	for (size_t i = 0; names[i]; i++) {
		_cleanup_close_ int fd =
		    openat(d->slugs_fd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 &&
		    hs_slug_remove(d->slugs_fd, names[i], &err) < 0)
			lcd_log(d, "%s", err.msg);
	}
	pthread_mutex_unlock(&d->trees);
}

static void build_free(struct lcd_build *b)
{
	if (b->tree_fd >= 0)
		close(b->tree_fd); /* the lock goes with it */
	free(b->rootfs);
	free(b->tree);
	free(b->tree_name);
	free(b);
}

static int lcd_build(struct hs_driver *base, const struct hs_release_info *r,
                     const volatile bool *cancel, struct hs_build **out, cm_err *err)
{
	struct lcd_driver *d = (struct lcd_driver *)base;
	struct lcd_build *b = xcalloc(1, sizeof(*b));
	b->base.refs = 1;
	b->base.driver = base;
	b->tree_fd = -1;
	int rc = stack_rootfs(d, r->stack, &b->rootfs, err);
	if (rc == 0 && *cancel)
		rc = cm_err_set(err, ECANCELED, "a newer release came");
	if (rc == 0 && *r->slug)
		rc = take_tree(d, r->slug, b, err);
	if (rc < 0) {
		build_free(b);
		return -1;
	}
	collect_trees(d);
	*out = &b->base;
	return 0;
}

static void lcd_free_build(struct hs_build *base)
{
	build_free((struct lcd_build *)base);
}

const struct hs_driver_ops hs_driver_libcontainer = {
    .name = "libcontainer",
    .app_env = true,
    .own_address = true,
    .create = lcd_create,
    .destroy = lcd_destroy,
    .build = lcd_build,
    .free_build = lcd_free_build,
    .start = lcd_start,
    .signal = lcd_signal,
    .release = lcd_release,
};
