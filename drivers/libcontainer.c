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
#include "drivers/slugstore.h"
#include "stacks/fetch.h"
#include "stacks/manifest.h"
#include "stacks/mount.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
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
	_cleanup_free_ char *slugs = xasprintf("%s/slugs", conf->data_dir);
	d->netns_dir = xasprintf("%s/netns", conf->state_dir);
	d->manifest = conf->stack_manifest ? xstrdup(conf->stack_manifest)
	                                   : xasprintf("%s/stacks/manifest.yml", conf->data_dir);
	if (make_dir(conf->data_dir, 0755, err) < 0 || make_dir(d->dynos_dir, 0711, err) < 0 ||
	    make_dir(conf->state_dir, 0700, err) < 0 || make_dir(d->netns_dir, 0711, err) < 0)
		return -1;
	return hs_slugstore_open(&d->slugs, slugs, err);
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
	hs_slugstore_close(&d->slugs);
	free(d->dynos_dir);
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
	d->init_fd = -1;
	d->slugs.fd = -1;
	if (open_parts(d, conf, err) < 0) {
		lcd_destroy(&d->base);
		return cm_err_wrap(err, "libcontainer driver");
	}
	*out = &d->base;
	return 0;
}

/* ---- building a release ---- */

/* The stack a release names; a release naming none runs on the manifest's one primary. */
static int stack_rootfs(struct lcd_driver *d, const char *name, char **rootfs, cm_err *err)
{
	_cleanup_manifest_ struct st_manifest *m = NULL;
	if (st_manifest_load(d->manifest, &m, err) < 0)
		return -1;
	const struct st_stack *s = st_manifest_pick(m, name, err);
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

static void build_free(struct lcd_build *b)
{
	hs_slugstore_release(&b->tree);
	free(b->rootfs);
	free(b);
}

static int lcd_build(struct hs_driver *base, const struct hs_release_info *r,
                     const volatile bool *cancel, struct hs_build **out, cm_err *err)
{
	struct lcd_driver *d = (struct lcd_driver *)base;
	struct lcd_build *b = xcalloc(1, sizeof(*b));
	b->base.refs = 1;
	b->base.driver = base;
	b->tree.fd = -1;
	int rc = stack_rootfs(d, r->stack, &b->rootfs, err);
	if (rc == 0 && *cancel)
		rc = cm_err_set(err, ECANCELED, "a newer release came");
	if (rc == 0 && *r->slug)
		rc = hs_slugstore_take(&d->slugs, r->slug, &b->tree, err);
	if (rc < 0) {
		build_free(b);
		return -1;
	}
	hs_slugstore_collect(&d->slugs, base->conf.log);
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
