/* The docker driver: each dyno a Docker container, through the Docker Engine API
 * (docker_api.h). Images:
 * - the stack: `hsup-stack/<name>:<version>`, imported once (POST /images/create?fromSrc=-)
 *   from a tar of the stack's read-only mount (stacks/), the image the libcontainer driver runs;
 * - a release: `hsup-release/<app>:v<version>-<hash>` (hash of the stack, the slug's source and,
 *   unless images are kept, the owner: release images are not shared between hsups),
 *   the stack with the release's unpacked slug as /app, owned by the dyno user: a container of
 *   the stack image given the tree (PUT /containers/{id}/archive) and committed.
 * Both are made during the build step (the thread pool), while the old release's dynos run. A
 * release image goes when the last build holding it does, unless DOCKER_IMAGE_CACHE=1. The
 * build step first stops and removes the containers an earlier hsup of the same state left
 * (by label: those of another instance), so that a release never runs twice. */
#define _GNU_SOURCE
#include "drivers/docker_int.h"
#include "drivers/dynoinit.h"
#include "stacks/fetch.h"
#include "stacks/manifest.h"
#include "stacks/mount.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/spawn.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <nettle/md5.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

json_t *hs_docker_labels(const struct hs_docker_driver *d)
{
	return json_pack("{s:s, s:s}", HS_DOCKER_L_OWNER, d->owner, HS_DOCKER_L_INSTANCE,
	                 d->instance);
}

/* ---- creating the driver ---- */

static int make_dir(const char *path, mode_t mode, cm_err *err)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return cm_err_sys(err, "make %s", path);
	return 0;
}

/* The dyno init as a file dockerd can bind (it takes paths, not fds): root's, read-only,
 * replaced (rename) only when another build of hsup wrote a different one. */
static int write_init(struct hs_docker_driver *d, const char *dir, cm_err *err)
{
	size_t len;
	const unsigned char *blob = hs_dynoinit_blob(&len);
	d->init_path = xasprintf("%s/dyno-init", dir);
	struct stat st;
	_cleanup_close_ int cur = open(d->init_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (cur >= 0 && fstat(cur, &st) == 0 && (size_t)st.st_size == len && st.st_uid == 0) {
		_cleanup_free_ char *have = xmalloc(len);
		if (read(cur, have, len) == (ssize_t)len && memcmp(have, blob, len) == 0)
			return 0;
	}
	_cleanup_free_ char *tmp = xasprintf("%s.%d", d->init_path, (int)getpid());
	_cleanup_close_ int fd =
	    open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0555);
	if (fd < 0 || cm_write_all(fd, blob, len) < 0 || fsync(fd) < 0 ||
	    rename(tmp, d->init_path) < 0) {
		cm_err_sys(err, "write the dyno init %s", tmp);
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int open_parts(struct hs_docker_driver *d, const struct hs_driver_conf *conf, cm_err *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/docker", conf->data_dir);
	_cleanup_free_ char *slugs = xasprintf("%s/slugs", conf->data_dir);
	d->manifest = conf->stack_manifest ? xstrdup(conf->stack_manifest)
	                                   : xasprintf("%s/stacks/manifest.yml", conf->data_dir);
	if (hs_docker_conn_from_env(&d->conn, err) < 0 || make_dir(conf->data_dir, 0755, err) < 0 ||
	    make_dir(dir, 0711, err) < 0 || write_init(d, dir, err) < 0)
		return -1;
	return hs_slugstore_open(&d->slugs, slugs, err);
}

static void dk_destroy(struct hs_driver *base)
{
	struct hs_docker_driver *d = (struct hs_docker_driver *)base;
	hs_docker_conn_free(&d->conn);
	hs_slugstore_close(&d->slugs);
	pthread_mutex_destroy(&d->lock);
	for (size_t i = 0; i < d->nimages; i++)
		free(d->images[i]);
	free(d->images);
	free(d->manifest);
	free(d->init_path);
	free(d->owner);
	free(d->instance);
	free(d);
}

static int dk_create(const struct hs_driver_conf *conf, struct hs_driver **out, cm_err *err)
{
	struct hs_docker_driver *d = xcalloc(1, sizeof(*d));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	d->base.ops = &hs_driver_docker;
	d->base.conf = *conf;
	d->slugs.fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	d->instance = xasprintf("%d-%lld.%09ld", (int)getpid(), (long long)now.tv_sec, now.tv_nsec);
	/* hsup run has no state: its containers are its instance's alone */
	d->owner = conf->owner ? xstrdup(conf->owner) : xasprintf("run-%s", d->instance);
	const char *cache = getenv("DOCKER_IMAGE_CACHE");
	d->image_cache = cache && strcmp(cache, "1") == 0;
	d->api = (struct hs_docker_api){.loop = conf->loop, .conn = &d->conn};
	if (open_parts(d, conf, err) < 0) {
		dk_destroy(&d->base);
		return cm_err_wrap(err, "docker driver");
	}
	*out = &d->base;
	return 0;
}

/* ---- what an hsup that died left ---- */

static char *owner_filter(const struct hs_docker_driver *d)
{
	json_t *f = json_pack("{s:[s+]}", "label", HS_DOCKER_L_OWNER "=", d->owner);
	_cleanup_free_ char *text = json_dumps(f, JSON_COMPACT);
	json_decref(f);
	_cleanup_free_ char *esc = hs_docker_escape(text);
	return xasprintf("/containers/json?all=1&filters=%s", esc);
}

/* Every container of this state made by another instance: SIGTERM to all at once, then each
 * stopped (SIGKILL after the stop timeout) and removed. */
/* The id of a container of the list that another instance of this state made, or NULL. */
static const char *leftover(const struct hs_docker_driver *d, json_t *c)
{
	const char *id = json_string_value(json_object_get(c, "Id"));
	json_t *labels = json_object_get(c, "Labels");
	const char *inst = json_string_value(json_object_get(labels, HS_DOCKER_L_INSTANCE));
	return id && !(inst && strcmp(inst, d->instance) == 0) ? id : NULL;
}

static int sweep(struct hs_docker_driver *d, cm_err *err)
{
	_cleanup_free_ char *path = owner_filter(d);
	json_t *list = NULL, *c;
	const char *id;
	size_t i, n = 0;
	if (hs_docker_sync_ok(&d->conn, "GET", path, NULL, -1, 0, &list, err) < 0)
		return -1;
	/* all get SIGTERM first, so that their stop timeouts run together */
	json_array_foreach (list, i, c) {
		if (!(id = leftover(d, c)))
			continue;
		_cleanup_free_ char *kill = xasprintf("/containers/%s/kill?signal=SIGTERM", id);
		cm_err ignored;
		hs_docker_sync_ok(&d->conn, "POST", kill, NULL, -1, 409, NULL, &ignored);
		n++;
	}
	json_array_foreach (list, i, c) {
		if (!(id = leftover(d, c)))
			continue;
		_cleanup_free_ char *stop = xasprintf("/containers/%s/stop?t=%d", id,
		                                      (int)(d->base.conf.stop_timeout + 0.999));
		_cleanup_free_ char *rm = xasprintf("/containers/%s?force=1&v=1", id);
		cm_err e;
		if (hs_docker_sync_ok(&d->conn, "POST", stop, NULL, -1, 304, NULL, &e) < 0 ||
		    hs_docker_sync_ok(&d->conn, "DELETE", rm, NULL, -1, 404, NULL, &e) < 0)
			hs_docker_log(d, "%s", e.msg);
	}
	json_decref(list);
	if (n)
		hs_docker_log(d, "stopped and removed %zu containers an earlier hsup left", n);
	return 0;
}

/* ---- tar streams ---- */

static int wait_child(int pidfd, cm_err *err)
{
	struct cm_exit st;
	for (;;) {
		int r = cm_pidfd_reap(pidfd, &st, err);
		if (r < 0)
			return -1;
		if (r > 0)
			return st.code == 0 ? 0
			                    : cm_err_set(err, EIO, "tar exited with %d", st.code);
		struct pollfd p = {.fd = pidfd, .events = POLLIN};
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return cm_err_sys(err, "wait for tar");
	}
}

/* tar's output, read by the upload, sent as the body of METHOD PATH. */
static int upload_tar(struct hs_docker_driver *d, char *const *argv, const char *method,
                      const char *path, json_t **out, cm_err *err)
{
	static char *const env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
	_cleanup_free_ char *tar = cm_find_program("tar", "/usr/bin:/bin");
	if (!tar)
		return cm_err_set(err, ENOENT, "tar is not installed");
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return cm_err_sys(err, "pipe");
	struct cm_spawn_opts o = {.path = tar,
	                          .argv = argv,
	                          .envp = env,
	                          .stdio = {-1, pipefd[1], -1},
	                          .foreground_tty = -1};
	pid_t pid;
	int pidfd;
	int r = cm_spawn(&o, &pid, &pidfd, err);
	close(pipefd[1]);
	if (r < 0) {
		close(pipefd[0]);
		return -1;
	}
	r = hs_docker_sync_ok(&d->conn, method, path, NULL, pipefd[0], 0, out, err);
	close(pipefd[0]); /* tar ends, should the upload have stopped early */
	cm_err terr;
	int tr = wait_child(pidfd, &terr);
	close(pidfd);
	if (r == 0 && tr < 0) {
		*err = terr;
		r = -1;
	}
	return r;
}

/* ---- the stack's image ---- */

static char *image_name(const char *s)
{
	char *n = xstrdup(*s ? s : "app");
	for (char *p = n; *p; p++) {
		*p = (char)tolower((unsigned char)*p);
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != '_')
			*p = '-';
	}
	if (!isalnum((unsigned char)n[0]))
		n[0] = 'x';
	return n;
}

static int image_exists(struct hs_docker_driver *d, const char *ref, cm_err *err)
{
	_cleanup_free_ char *path = xasprintf("/images/%s/json", ref);
	long status;
	json_t *j = NULL;
	if (hs_docker_call_sync(&d->conn, "GET", path, NULL, -1, &status, &j, err) < 0)
		return -1;
	json_decref(j);
	if (status == 200)
		return 1;
	if (status == 404)
		return 0;
	return hs_docker_err(err, "GET", path, status, NULL);
}

/* An import answers 200 and says how it went in a stream of JSON objects. */
static int import_result(json_t *answer, cm_err *err)
{
	const char *text = json_string_value(answer);
	const char *e = text ? strstr(text, "\"errorDetail\"") : NULL;
	if (!e)
		return 0;
	json_t *j = json_loads(strchr(e, '{') ? strchr(e, '{') : e, JSON_DISABLE_EOF_CHECK, NULL);
	const char *msg = json_string_value(json_object_get(j, "message"));
	cm_err_set(err, EIO, "docker: POST /images/create: %s", msg ? msg : e);
	json_decref(j);
	return -1;
}

static int import_stack(struct hs_docker_driver *d, const struct st_manifest *m,
                        const struct st_stack *s, cm_err *err)
{
	struct st_fetch_opts fo = ST_FETCH_OPTS_INIT;
	struct st_mount mnt;
	if (st_fetch(m, s, &fo, err) < 0 || st_mount(m, s, &mnt, err) < 0)
		return -1;
	hs_docker_log(d, "importing stack %s-%s into docker", s->name, s->version);
	_cleanup_free_ char *repo = image_name(s->name), *erepo = NULL, *etag = NULL;
	erepo = hs_docker_escape(repo);
	etag = hs_docker_escape(s->version);
	_cleanup_free_ char *path =
	    xasprintf("/images/create?fromSrc=-&repo=hsup-stack%%2F%s&tag=%s", erepo, etag);
	char *const argv[] = {"tar", "-C", mnt.path, "-c", "--numeric-owner", ".", NULL};
	json_t *answer = NULL;
	int r = upload_tar(d, argv, "POST", path, &answer, err);
	if (r == 0)
		r = import_result(answer, err);
	json_decref(answer);
	st_mount_release(&mnt);
	return r;
}

/* The stack's image, imported unless dockerd has it. */
static int stack_image(struct hs_docker_driver *d, const char *name, char **ref, cm_err *err)
{
	_cleanup_manifest_ struct st_manifest *m = NULL;
	if (st_manifest_load(d->manifest, &m, err) < 0)
		return -1;
	const struct st_stack *s = st_manifest_pick(m, name, err);
	if (!s)
		return -1;
	_cleanup_free_ char *repo = image_name(s->name);
	*ref = xasprintf("hsup-stack/%s:%s", repo, s->version);
	int r = image_exists(d, *ref, err);
	if (r == 0)
		r = import_stack(d, m, s, err);
	return r < 0 ? cm_err_wrap(err, "stack %s-%s", s->name, s->version) : 0;
}

/* ---- a release's image ---- */

/* The hash is of the stack and the slug's source, and, unless images are kept
 * (DOCKER_IMAGE_CACHE=1), of this hsup's owner label too: an image another hsup removes once
 * its own dynos are gone is never one this hsup is about to run. */
static char *release_tag(const struct hs_docker_driver *d, long long version, const char *stack_ref,
                         const char *slug)
{
	struct md5_ctx ctx;
	uint8_t dg[MD5_DIGEST_SIZE];
	md5_init(&ctx);
	md5_update(&ctx, strlen(stack_ref) + 1, (const uint8_t *)stack_ref);
	md5_update(&ctx, strlen(slug) + 1, (const uint8_t *)slug);
	if (!d->image_cache)
		md5_update(&ctx, strlen(d->owner), (const uint8_t *)d->owner);
	md5_digest(&ctx, sizeof(dg), dg);
	return xasprintf("v%lld-%02x%02x%02x%02x%02x%02x", version, dg[0], dg[1], dg[2], dg[3],
	                 dg[4], dg[5]);
}

/* A container of the stack image that never runs: a place to put /app before the commit. */
static int scratch_container(struct hs_docker_driver *d, const char *stack_ref, char **id,
                             cm_err *err)
{
	json_t *body = json_pack("{s:s, s:[s], s:o}", "Image", stack_ref, "Cmd", "/bin/true",
	                         "Labels", hs_docker_labels(d));
	json_t *answer = NULL;
	int r =
	    hs_docker_sync_ok(&d->conn, "POST", "/containers/create", body, -1, 0, &answer, err);
	json_decref(body);
	const char *s = json_string_value(json_object_get(answer, "Id"));
	if (r == 0 && !s)
		r = cm_err_set(err, EIO, "docker: POST /containers/create: no Id in the answer");
	if (r == 0)
		*id = xstrdup(s);
	json_decref(answer);
	return r;
}

/* The tree as /app, every file the dyno user's; then the commit, labelled as hsup's. */
static int fill_and_commit(struct hs_docker_driver *d, const char *id, const char *tree,
                           const char *ref, const struct hs_release_info *r, cm_err *err)
{
	_cleanup_free_ char *owner = xasprintf("--owner=%d", HS_DOCKER_DYNO_UID);
	_cleanup_free_ char *group = xasprintf("--group=%d", HS_DOCKER_DYNO_UID);
	char *const argv[] = {"tar",
	                      "-C",
	                      (char *)tree,
	                      "-c",
	                      "--numeric-owner",
	                      owner,
	                      group,
	                      "--transform=s,^\\.,app,",
	                      ".",
	                      NULL};
	_cleanup_free_ char *put = xasprintf("/containers/%s/archive?path=%%2F", id);
	if (upload_tar(d, argv, "PUT", put, NULL, err) < 0)
		return -1;
	const char *colon = strrchr(ref, ':');
	_cleanup_free_ char *name = xstrndup(ref, (size_t)(colon - ref));
	_cleanup_free_ char *repo = hs_docker_escape(name);
	_cleanup_free_ char *commit =
	    xasprintf("/commit?container=%s&repo=%s&tag=%s", id, repo, colon + 1);
	json_t *labels = hs_docker_labels(d);
	json_object_set_new(labels, HS_DOCKER_L_APP, json_string(r->app));
	json_object_set_new(labels, HS_DOCKER_L_RELEASE, json_sprintf("v%lld", r->version));
	json_t *body = json_pack("{s:o}", "Labels", labels);
	int rc = hs_docker_sync_ok(&d->conn, "POST", commit, body, -1, 0, NULL, err);
	json_decref(body);
	return rc;
}

static int release_image(struct hs_docker_driver *d, const char *stack_ref, const char *tree,
                         const char *ref, const struct hs_release_info *r, cm_err *err)
{
	_cleanup_free_ char *id = NULL;
	if (scratch_container(d, stack_ref, &id, err) < 0)
		return -1;
	int rc = fill_and_commit(d, id, tree, ref, r, err);
	_cleanup_free_ char *rm = xasprintf("/containers/%s?force=1&v=1", id);
	cm_err e;
	if (hs_docker_sync_ok(&d->conn, "DELETE", rm, NULL, -1, 404, NULL, &e) < 0)
		hs_docker_log(d, "%s", e.msg);
	return rc;
}

/* An empty directory, for a release without a slug. */
static char *empty_tree(struct hs_docker_driver *d, cm_err *err)
{
	char *t = xasprintf("%s/docker/empty.XXXXXX", d->base.conf.data_dir);
	if (!mkdtemp(t)) {
		cm_err_sys(err, "mkdtemp %s", t);
		free(t);
		return NULL;
	}
	return t;
}

static int make_release(struct hs_docker_driver *d, const struct hs_release_info *r,
                        const char *stack_ref, const char *ref, cm_err *err)
{
	struct hs_slug_hold tree = {.fd = -1};
	_cleanup_free_ char *empty = NULL;
	if (*r->slug && hs_slugstore_take(&d->slugs, r->slug, &tree, err) < 0)
		return -1;
	if (!*r->slug && !(empty = empty_tree(d, err)))
		return -1;
	int rc = release_image(d, stack_ref, *r->slug ? tree.path : empty, ref, r, err);
	if (empty)
		rmdir(empty);
	hs_slugstore_release(&tree);
	hs_slugstore_collect(&d->slugs, d->base.conf.log);
	return rc;
}

static void hold_image(struct hs_docker_driver *d, const char *ref)
{
	pthread_mutex_lock(&d->lock);
	d->images = xrealloc(d->images, (d->nimages + 1) * sizeof(*d->images));
	d->images[d->nimages++] = xstrdup(ref);
	pthread_mutex_unlock(&d->lock);
}

/* Lets go of one hold of ref: whether another build still holds it. */
static bool unhold_image(struct hs_docker_driver *d, const char *ref)
{
	bool held = false, gone = false;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->nimages; i++) {
		if (strcmp(d->images[i], ref) != 0)
			continue;
		if (gone) {
			held = true;
			continue;
		}
		free(d->images[i]);
		d->images[i--] = d->images[--d->nimages];
		gone = true;
	}
	pthread_mutex_unlock(&d->lock);
	return held;
}

static int dk_build(struct hs_driver *base, const struct hs_release_info *r,
                    const volatile bool *cancel, struct hs_build **out, cm_err *err)
{
	struct hs_docker_driver *d = (struct hs_docker_driver *)base;
	_cleanup_free_ char *stack_ref = NULL, *app = image_name(r->app);
	if (sweep(d, err) < 0 || stack_image(d, r->stack, &stack_ref, err) < 0)
		return -1;
	if (*cancel)
		return cm_err_set(err, ECANCELED, "a newer release came");
	_cleanup_free_ char *tag = release_tag(d, r->version, stack_ref, r->slug);
	char *ref = xasprintf("hsup-release/%s:%s", app, tag);
	hold_image(d, ref); /* before it exists: no earlier build's end may remove it meanwhile */
	int e = image_exists(d, ref, err);
	if (e == 0)
		e = make_release(d, r, stack_ref, ref, err);
	if (e < 0) {
		unhold_image(d, ref);
		free(ref);
		return -1;
	}
	struct hs_docker_build *b = xcalloc(1, sizeof(*b));
	b->base.refs = 1;
	b->base.driver = base;
	b->image = ref;
	b->app = xstrdup(r->app);
	b->version = r->version;
	*out = &b->base;
	return 0;
}

/* ---- images no release uses ---- */

static void on_image_removed(long status, json_t *body, const cm_err *err, void *data)
{
	struct hs_docker_driver *d = data;
	(void)body;
	/* 409: a container still uses it (another hsup's, or the user's): it stays */
	if (err && status != 404 && status != 409)
		hs_docker_log(d, "%s", err->msg);
}

static void dk_free_build(struct hs_build *base)
{
	struct hs_docker_build *b = (struct hs_docker_build *)base;
	struct hs_docker_driver *d = (struct hs_docker_driver *)base->driver;
	if (!unhold_image(d, b->image) && !d->image_cache) {
		_cleanup_free_ char *path = xasprintf("/images/%s", b->image);
		struct hs_docker_call_opts o = {.method = "DELETE", .path = path};
		cm_err err;
		if (hs_docker_call(&d->api, &o, on_image_removed, d, NULL, &err) < 0)
			hs_docker_log(d, "%s", err.msg);
	}
	free(b->image);
	free(b->app);
	free(b);
}

const struct hs_driver_ops hs_driver_docker = {
    .name = "docker",
    .app_env = true,
    .own_address = true,
    .create = dk_create,
    .destroy = dk_destroy,
    .build = dk_build,
    .free_build = dk_free_build,
    .start = hs_docker_start,
    .signal = hs_docker_signal,
    .release = hs_docker_release,
    .record = hs_docker_record,
    .adopt = hs_docker_adopt,
};
