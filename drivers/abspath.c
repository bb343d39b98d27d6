/* The abspath driver: the Heroku dyno environment on the host, without a container, for hosts
 * where hsup itself already runs in one. Building a release unpacks its slug once (slugstore.c)
 * and points the app path (/app, or $HSUP_APP_PATH) at the tree, a symbolic link replaced
 * atomically; each dyno is a host process, as with the simple driver (a cgroup of its own, a
 * process group), run by the dyno init: in the app's directory, after the *.sh of /etc/profile.d
 * and of the app's .profile.d, with HOME=/app and the standard PATH. Dynos of an older release
 * still running keep their working directory (the old tree) until they are replaced. */
#define _GNU_SOURCE
#include "drivers/dynoinit.h"
#include "drivers/simple_int.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static void abspath_destroy(struct hs_driver *base)
{
	struct simple_driver *d = (struct simple_driver *)base;
	if (d->init_fd >= 0)
		close(d->init_fd);
	free(d->app_path);
	hs_simple_fini(d);
	free(d);
}

static int abspath_create(const struct hs_driver_conf *conf, struct hs_driver **out, cm_err *err)
{
	struct simple_driver *d = xcalloc(1, sizeof(*d));
	d->app_path = xstrdup(conf->app_path ? conf->app_path : "/app");
	int r = hs_simple_init(d, conf, &hs_driver_abspath, err);
	if (r == 0 && (d->init_fd = hs_dynoinit_fd(err)) < 0)
		r = -1;
	if (r < 0) {
		abspath_destroy(&d->base);
		return cm_err_wrap(err, "abspath driver");
	}
	*out = &d->base;
	return 0;
}

/* Points the app path at tree: a new symbolic link renamed over it, so a dyno starting
 * meanwhile sees the old tree or the new, never none. A directory there is not replaced. */
static int point_app(const char *app, const char *tree, cm_err *err)
{
	struct stat st;
	if (lstat(app, &st) == 0 && !S_ISLNK(st.st_mode))
		return cm_err_set(err, EEXIST,
		                  "%s is not a symbolic link: the abspath driver puts the release "
		                  "there (remove it, or set HSUP_APP_PATH elsewhere)",
		                  app);
	unsigned rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), 0) < 0)
		rnd = (unsigned)getpid();
	_cleanup_free_ char *tmp = xasprintf("%s.hsup-%08x", app, rnd);
	if (symlink(tree, tmp) < 0)
		return cm_err_sys(err, "make the link %s", tmp);
	if (rename(tmp, app) < 0) {
		cm_err_sys(err, "point %s at %s", app, tree);
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int abspath_build(struct hs_driver *base, const struct hs_release_info *r,
                         const volatile bool *cancel, struct hs_build **out, cm_err *err)
{
	struct simple_driver *d = (struct simple_driver *)base;
	(void)cancel;
	*out = NULL;
	if (!*r->slug) { /* nothing to unpack: the app is what the app path holds (an image's) */
		struct stat st;
		if (stat(d->app_path, &st) < 0 || !S_ISDIR(st.st_mode))
			return cm_err_set(
			    err, ENOENT,
			    "the release has no Slug and %s is no directory: the dynos "
			    "would have no app to run in",
			    d->app_path);
		return 0;
	}
	struct hs_slug_build *b;
	if (hs_simple_slug_build(d, r->slug, &b, err) < 0)
		return -1;
	if (point_app(d->app_path, b->tree.path, err) < 0) {
		hs_simple_free_build(&b->base);
		return -1;
	}
	*out = &b->base;
	return 0;
}

const struct hs_driver_ops hs_driver_abspath = {
    .name = "abspath",
    .app_env = true,
    .create = abspath_create,
    .destroy = abspath_destroy,
    .build = abspath_build,
    .free_build = hs_simple_free_build,
    .start = hs_simple_start,
    .signal = hs_simple_signal,
    .release = hs_simple_release,
    .record = hs_simple_record,
    .adopt = hs_simple_adopt,
};
