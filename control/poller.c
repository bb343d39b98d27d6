/* See poller.h. One cycle at a time, as a flat sequence of steps, each a set of requests in
 * flight; when the last of a step's requests ends, the step's outcome decides the next:
 *   POLL   releases (newest) and formation, conditional
 *   PARTS  a new release's config vars, slug and app (its stack)
 *   SLUG   the slug's blob, into the cache (resumed when a part is there)
 *   VERIFY its size and SHA-256, on the thread pool, then renamed into place
 * and then the control document is made and handed on unless it is the one handed on last. A
 * failed step ends the cycle; the next, after backoff, starts again from POLL, and since what
 * was handed on (not what was seen) decides, no release is skipped. */
#define _GNU_SOURCE
#include "control/poller.h"
#include "control/apidoc.h"
#include "hsupd/logs.h"
#include "hsupd/release.h"
#include "common/cleanup.h"
#include "common/http.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define API_MAX_BODY      (8u << 20)
#define SLUG_MAX_BYTES    (4ULL << 30)     /* when the API gives no size */
#define SLUG_TIMEOUT_MS   (30 * 60 * 1000) /* a trickle must not hold the poller for ever */
#define BACKOFF_BASE_MS   1000
#define BACKOFF_MAX_MS    300000
#define RETRY_AFTER_MAX_S 3600  /* a server's Retry-After, believed up to an hour */
#define RATELIMIT_LOW     100   /* RateLimit-Remaining under which polling slows... */
#define SLOW_INTERVAL_MS  60000 /* ...to at most once a minute */
#define ACCEPT            "Accept: application/vnd.heroku+json; version=3"

enum step {
	STEP_IDLE,
	STEP_POLL,
	STEP_PARTS,
	STEP_SLUG,
	STEP_VERIFY
};
static const char *const step_names[] = {"idle", "polling", "fetching the release",
                                         "downloading the slug", "verifying the slug"};

enum what {
	W_RELEASES,
	W_FORMATION,
	W_CONFIG,
	W_SLUG,
	W_APP,
	W_BLOB,
	W_MAX
};

struct cached {
	char *etag;
	char *body;
	bool changed; /* a new body came in this cycle */
};

/* What an API request in flight is for: the data of its callback. */
struct call {
	struct hs_poller *p;
	enum what what;
	char *path;
};

struct hs_poller {
	struct hs_poller_conf c;
	char *app_path;  /* "/apps/<app>" */
	char *auth;      /* the Authorization header */
	char *shown_url; /* the API's URL without credentials, for messages */
	struct cm_http *http;
	uv_timer_t timer;
	uv_work_t work;
	enum step step;
	struct cm_http_req *reqs[W_MAX];
	struct call calls[W_MAX]; /* of reqs[], kept here: a cancelled one is freed with p */
	int pending;
	bool failed;
	cm_err err;
	long retry_after;
	struct cached releases, formation;
	struct hs_api_release rel;
	char parts_id[65]; /* the release config, slug and app are of */
	json_t *config, *slug, *app;
	int part_fd;
	char *part_path, *slug_path;
	long long slug_size;
	char sha256[65];
	int verify_rc;
	cm_err verify_err;
	char *offered;  /* the document handed on last */
	bool settled;   /* offered matches the cached releases and formation */
	bool said_wait; /* the pending or failed release was reported */
	int failures;
	bool closing;
	int open_handles;
	/* the report */
	uint64_t polls, not_modified;
	time_t last_poll, last_success, last_error_at;
	char *last_error;
	long ratelimit;
	struct hs_api_release seen;
	long long applied_version;
	char applied_id[65];
	uint64_t next_ms;
};

static void cycle_failed(struct hs_poller *p);
static void step_done(struct hs_poller *p);

/* ---- timing ---- */

static uint64_t jitter(uint64_t ms)
{
	uint32_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)time(NULL);
	return ms / 2 + (ms / 2 ? r % (ms / 2 + 1) : 0);
}

static void on_timer(uv_timer_t *t);

static void schedule(struct hs_poller *p, uint64_t ms)
{
	p->step = STEP_IDLE;
	p->next_ms = uv_now(p->c.loop) + ms;
	uv_timer_start(&p->timer, on_timer, ms, 0);
}

static void schedule_next(struct hs_poller *p)
{
	uint64_t ms = p->c.interval_ms;
	if (p->ratelimit >= 0 && p->ratelimit < RATELIMIT_LOW && ms < SLOW_INTERVAL_MS)
		ms = SLOW_INTERVAL_MS;
	if (p->c.watch || !p->offered)
		schedule(p, ms);
	else
		p->step = STEP_IDLE; /* once: the release is handed on */
}

/* ---- requests ---- */

static void set_error(struct hs_poller *p, const cm_err *err)
{
	if (p->failed)
		return; /* the first failure of a step says the most */
	p->failed = true;
	p->err = *err;
}

/* The API's own words for an error, when it gave them: {"id": ..., "message": ...}. */
static char *api_message(const struct cm_http_resp *r)
{
	_cleanup_free_ char *copy = r->body ? xstrndup(r->body, 4096) : NULL;
	json_t *j = copy ? json_loads(copy, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(j, "message"));
	char *out = NULL;
	if (m) {
		out = xstrndup(m, 200);
		for (char *c = out; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = ' ';
	}
	json_decref(j);
	return out;
}

/* A 404 on these says the app is gone (or was never there). */
static bool app_wide(struct hs_poller *p, const char *path)
{
	size_t n = strlen(p->app_path);
	return strncmp(path, p->app_path, n) == 0 &&
	       (!path[n] || strcmp(path + n, "/releases") == 0 ||
	        strcmp(path + n, "/formation") == 0);
}

static void http_error(struct hs_poller *p, const char *path, const struct cm_http_resp *r)
{
	cm_err err;
	_cleanup_free_ char *msg = api_message(r);
	const char *app = p->c.app;
	if (r->status == 401)
		cm_err_set(&err, EACCES,
		           "the Heroku API refused the access token (401): check "
		           "HEROKU_ACCESS_TOKEN%s%s",
		           msg ? ": " : "", msg ? msg : "");
	else if (r->status == 403)
		cm_err_set(&err, EACCES, "the access token may not read app %s (403)%s%s", app,
		           msg ? ": " : "", msg ? msg : "");
	else if (r->status == 404 && app_wide(p, path))
		cm_err_set(&err, ENOENT, "the Heroku API has no app \"%s\" (404)", app);
	else if (r->status == 429)
		cm_err_set(&err, EAGAIN, "the Heroku API's rate limit is reached (429)%s",
		           r->retry_after > 0 ? "" : "; backing off");
	else
		cm_err_set(&err, EPROTO, "GET %s: HTTP %ld%s%s", path, r->status, msg ? ": " : "",
		           msg ? msg : "");
	if (r->status == 429)
		p->retry_after = r->retry_after;
	set_error(p, &err);
}

static void on_api(struct cm_http_req *req, const struct cm_http_resp *r, void *data);

static int get(struct hs_poller *p, enum what what, const char *path, const char *range,
               const char *etag)
{
	_cleanup_free_ char *url = xasprintf("%s%s", p->c.api_url, path);
	_cleanup_free_ char *rng = range ? xasprintf("Range: %s", range) : NULL;
	_cleanup_free_ char *inm = etag ? xasprintf("If-None-Match: %s", etag) : NULL;
	const char *headers[5] = {ACCEPT, p->auth};
	size_t n = 2;
	if (rng)
		headers[n++] = rng;
	if (inm)
		headers[n++] = inm;
	struct cm_http_opts o = {.url = url,
	                         .headers = headers,
	                         .timeout_ms = p->c.timeout_ms,
	                         .max_body = API_MAX_BODY,
	                         .fd = -1};
	struct call *c = &p->calls[what];
	*c = (struct call){p, what, xstrdup(path)};
	cm_err err;
	if (cm_http_start(p->http, &o, on_api, c, &p->reqs[what], &err) < 0) {
		free(cm_steal_ptr(c->path));
		set_error(p, &err);
		return -1;
	}
	p->pending++;
	return 0;
}

static void keep(struct cached *k, const struct cm_http_resp *r)
{
	if (r->status == 304)
		return;
	free(k->etag);
	free(k->body);
	k->etag = r->etag ? xstrdup(r->etag) : NULL;
	k->body = xstrdup(r->body ? r->body : "");
	k->changed = true;
}

static json_t **part_slot(struct hs_poller *p, enum what what)
{
	return what == W_CONFIG ? &p->config : what == W_SLUG ? &p->slug : &p->app;
}

static void take_part(struct hs_poller *p, enum what what, const struct cm_http_resp *r)
{
	static const char *const names[] = {
	    [W_CONFIG] = "the config vars", [W_SLUG] = "the slug", [W_APP] = "the app"};
	cm_err err;
	json_t *j = hs_api_parse_body(r->body, JSON_OBJECT, names[what], &err);
	if (!j)
		return set_error(p, &err);
	json_decref(*part_slot(p, what));
	*part_slot(p, what) = j;
}

static void on_api(struct cm_http_req *req, const struct cm_http_resp *r, void *data)
{
	struct call *c = data;
	struct hs_poller *p = c->p;
	(void)req;
	p->reqs[c->what] = NULL;
	p->pending--;
	if (r->ratelimit >= 0)
		p->ratelimit = r->ratelimit;
	if (!r->ok) {
		cm_err err = r->err;
		cm_err_wrap(&err, "GET %s", c->path);
		set_error(p, &err);
	} else if (r->status == 304 && (c->what == W_RELEASES || c->what == W_FORMATION)) {
		p->not_modified++;
	} else if (r->status != 200 && r->status != 206) {
		http_error(p, c->path, r);
	} else if (c->what == W_RELEASES) {
		keep(&p->releases, r);
	} else if (c->what == W_FORMATION) {
		keep(&p->formation, r);
	} else {
		take_part(p, c->what, r);
	}
	free(cm_steal_ptr(c->path));
	if (p->pending == 0)
		step_done(p);
}

/* ---- the steps ---- */

static void begin(struct hs_poller *p, enum step step)
{
	p->step = step;
	p->failed = false;
	p->retry_after = -1;
}

static void poll_now(struct hs_poller *p)
{
	_cleanup_free_ char *fpath = xasprintf("%s/formation", p->app_path);
	_cleanup_free_ char *rpath = xasprintf("%s/releases", p->app_path);
	begin(p, STEP_POLL);
	p->polls++;
	p->last_poll = time(NULL);
	p->releases.changed = p->formation.changed = false;
	/* without a body kept, a 304 would leave nothing to read */
	get(p, W_RELEASES, rpath, "version ..; max=1, order=desc",
	    p->releases.body ? p->releases.etag : NULL);
	get(p, W_FORMATION, fpath, NULL, p->formation.body ? p->formation.etag : NULL);
	if (p->pending == 0)
		step_done(p);
}

static void on_timer(uv_timer_t *t)
{
	poll_now(t->data);
}

static void fetch_parts(struct hs_poller *p)
{
	_cleanup_free_ char *cpath =
	    xasprintf("%s/releases/%s/config-vars", p->app_path, p->rel.id);
	_cleanup_free_ char *spath = xasprintf("%s/slugs/%s", p->app_path, p->rel.slug_id);
	begin(p, STEP_PARTS);
	json_decref(p->slug);
	p->slug = NULL;
	p->parts_id[0] = 0;
	get(p, W_CONFIG, cpath, NULL, NULL);
	if (p->rel.slug_id[0])
		get(p, W_SLUG, spath, NULL, NULL);
	get(p, W_APP, p->app_path, NULL, NULL);
	if (p->pending == 0)
		step_done(p);
}

static void hand_on(struct hs_poller *p, const char *slug_path)
{
	cm_err err;
	struct hs_api_parts parts = {p->config, p->slug, p->app, NULL};
	json_t *formation = hs_api_parse_body(p->formation.body, JSON_ARRAY, "the formation", &err);
	parts.formation = formation;
	json_t *doc =
	    formation ? hs_api_document(&p->rel, p->c.app, &parts, slug_path, &err) : NULL;
	json_decref(formation);
	if (!doc)
		return set_error(p, &err), cycle_failed(p);
	_cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(doc);
	p->failures = 0;
	p->settled = true;
	if (p->offered && strcmp(p->offered, text) == 0)
		return schedule_next(p);
	free(p->offered);
	p->offered = cm_steal_ptr(text);
	struct hs_release *r;
	if (hs_release_parse(p->offered, strlen(p->offered), &r, &err) < 0) {
		/* not retried: it would be refused again until the app changes */
		cm_err_wrap(&err, "release v%lld of %s from the Heroku API is refused",
		            p->rel.version, p->c.app);
		hs_log_system("%s; what runs is left alone", err.msg);
		free(p->last_error);
		p->last_error = xstrdup(err.msg);
		p->last_error_at = time(NULL);
		return schedule_next(p);
	}
	hs_log_info("release v%lld of %s from the Heroku API", p->rel.version, p->c.app);
	schedule_next(p);
	p->c.cb(r, p->c.data);
}

/* ---- the slug ---- */

static char *cache_file(struct hs_poller *p, const char *suffix)
{
	return xasprintf("%s/%s.tgz%s", p->c.cache_dir, p->rel.slug_id, suffix);
}

static void download(struct hs_poller *p);

/* What was downloaded is wrong: the next attempt starts from nothing. */
static void discard_part(struct hs_poller *p)
{
	if (ftruncate(p->part_fd, 0) < 0)
		unlink(p->part_path);
}

static void ensure_slug(struct hs_poller *p)
{
	if (!p->rel.slug_id[0])
		return hand_on(p, NULL);
	free(p->slug_path);
	p->slug_path = cache_file(p, "");
	struct stat st;
	if (stat(p->slug_path, &st) == 0 && S_ISREG(st.st_mode))
		return hand_on(p, p->slug_path);
	download(p);
}

static void on_blob(struct cm_http_req *req, const struct cm_http_resp *r, void *data);

static void download(struct hs_poller *p)
{
	cm_err err;
	const char *url;
	begin(p, STEP_SLUG);
	if (hs_api_slug_blob(p->slug, &url, &p->slug_size, p->sha256, &err) < 0)
		return set_error(p, &err), cycle_failed(p);
	free(p->part_path);
	p->part_path = cache_file(p, ".part");
	p->part_fd = open(p->part_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct stat st;
	if (p->part_fd < 0 || fstat(p->part_fd, &st) < 0) {
		cm_err_sys(&err, "open %s", p->part_path);
		return set_error(p, &err), cycle_failed(p);
	}
	uint64_t have = (uint64_t)st.st_size;
	if (p->slug_size >= 0 && have > (uint64_t)p->slug_size)
		have = 0, discard_part(p);
	struct cm_http_opts o = {.url = url,
	                         .fd = p->part_fd,
	                         .resume_from = have,
	                         .max_body =
	                             p->slug_size >= 0 ? (uint64_t)p->slug_size : SLUG_MAX_BYTES,
	                         .timeout_ms = SLUG_TIMEOUT_MS,
	                         .follow_redirects = true};
	if (p->slug_size >= 0 && have == (uint64_t)p->slug_size) {
		p->pending = 0; /* all there already: straight to verifying */
		struct cm_http_resp done = {.ok = true, .status = 206};
		return on_blob(NULL, &done, p);
	}
	if (cm_http_start(p->http, &o, on_blob, p, &p->reqs[W_BLOB], &err) < 0)
		return set_error(p, &err), cycle_failed(p);
	p->pending = 1;
}

static void verify_work(uv_work_t *w);
static void after_verify(uv_work_t *w, int status);

static void on_blob(struct cm_http_req *req, const struct cm_http_resp *r, void *data)
{
	struct hs_poller *p = data;
	cm_err err;
	(void)req;
	p->reqs[W_BLOB] = NULL;
	p->pending = 0;
	if (!r->ok) {
		err = r->err;
		cm_err_wrap(&err, "download of slug %s", p->rel.slug_id);
		if (r->err.code == EFBIG) /* else resumed from what arrived, next time */
			discard_part(p);
		return set_error(p, &err), cycle_failed(p);
	}
	if (r->status != 200 && r->status != 206) {
		if (r->status == 416)
			discard_part(p);
		cm_err_set(&err, EPROTO, "download of slug %s: HTTP %ld", p->rel.slug_id,
		           r->status);
		return set_error(p, &err), cycle_failed(p);
	}
	begin(p, STEP_VERIFY);
	p->work.data = p;
	p->open_handles++;
	uv_queue_work(p->c.loop, &p->work, verify_work, after_verify);
}

static int sha256_fd(int fd, uint64_t *size, char hex[65])
{
	struct sha256_ctx ctx;
	uint8_t buf[64 * 1024], digest[SHA256_DIGEST_SIZE];
	off_t off = 0;
	sha256_init(&ctx);
	for (;;) {
		ssize_t n = pread(fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		sha256_update(&ctx, (size_t)n, buf);
		off += n;
	}
	sha256_digest(&ctx, sizeof(digest), digest);
	for (size_t i = 0; i < sizeof(digest); i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	*size = (uint64_t)off;
	return 0;
}

/* Keeps the slug just downloaded and the one the running release came from. */
static void prune_cache(struct hs_poller *p)
{
	_cleanup_closedir_ DIR *d = opendir(p->c.cache_dir);
	struct dirent *e;
	char keep[80], keep_part[80], applied[80] = "";
	snprintf(keep, sizeof(keep), "%s.tgz", p->rel.slug_id);
	snprintf(keep_part, sizeof(keep_part), "%s.tgz.part", p->rel.slug_id);
	if (p->applied_id[0])
		snprintf(applied, sizeof(applied), "%s", p->applied_id);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, keep) == 0 ||
		    strcmp(e->d_name, keep_part) == 0 || strcmp(e->d_name, applied) == 0)
			continue;
		unlinkat(dirfd(d), e->d_name, 0);
	}
}

/* On the thread pool: the file is checked whole, made durable and renamed into place. */
static void verify_work(uv_work_t *w)
{
	struct hs_poller *p = w->data;
	uint64_t size;
	char hex[65];
	cm_err *err = &p->verify_err;
	p->verify_rc = -1;
	if (sha256_fd(p->part_fd, &size, hex) < 0) {
		cm_err_sys(err, "read %s", p->part_path);
		return;
	}
	if (p->slug_size >= 0 && size != (uint64_t)p->slug_size) {
		cm_err_set(err, EIO, "slug %s: %" PRIu64 " bytes downloaded, the API says %lld",
		           p->rel.slug_id, size, p->slug_size);
		return;
	}
	if (p->sha256[0] && strcmp(hex, p->sha256) != 0) {
		discard_part(p);
		cm_err_set(err, EIO, "slug %s: its SHA-256 is %s, the API says %s: discarded",
		           p->rel.slug_id, hex, p->sha256);
		return;
	}
	if (fsync(p->part_fd) < 0 || rename(p->part_path, p->slug_path) < 0) {
		cm_err_sys(err, "store %s", p->slug_path);
		return;
	}
	prune_cache(p);
	p->verify_rc = 0;
}

static void maybe_free(struct hs_poller *p);

static void after_verify(uv_work_t *w, int status)
{
	struct hs_poller *p = w->data;
	close(p->part_fd);
	p->part_fd = -1;
	p->open_handles--;
	if (p->closing)
		return maybe_free(p);
	if (status < 0 || p->verify_rc < 0) {
		set_error(p, &p->verify_err);
		return cycle_failed(p);
	}
	hs_log_info("slug %s downloaded", p->rel.slug_id);
	hand_on(p, p->slug_path);
}

/* ---- deciding ---- */

/* The newest release is not to be run yet (its release phase runs) or ever (it failed). */
static bool waiting(struct hs_poller *p)
{
	if (strcmp(p->rel.status, "succeeded") == 0)
		return false;
	if (!p->said_wait)
		hs_log_system("release v%lld of %s is %s on Heroku: %s", p->rel.version, p->c.app,
		              p->rel.status,
		              strcmp(p->rel.status, "pending") == 0
		                  ? "waiting for it to succeed"
		                  : "it is not applied; what runs goes on running");
	p->said_wait = true;
	return true;
}

static void decide(struct hs_poller *p)
{
	cm_err err;
	p->last_success = time(NULL);
	if (p->settled && !p->releases.changed && !p->formation.changed)
		return schedule_next(p); /* two 304s: nothing changed */
	int got = hs_api_newest_release(p->releases.body, &p->rel, &err);
	if (got < 0)
		return set_error(p, &err), cycle_failed(p);
	if (got == 0) {
		p->settled = true;
		return schedule_next(p); /* an app never released */
	}
	if (strcmp(p->rel.id, p->seen.id) != 0)
		p->said_wait = false;
	p->seen = p->rel;
	if (waiting(p)) {
		p->settled = true;
		return schedule_next(p);
	}
	if (strcmp(p->parts_id, p->rel.id) != 0)
		return fetch_parts(p);
	ensure_slug(p);
}

static void step_done(struct hs_poller *p)
{
	if (p->closing)
		return;
	if (p->failed)
		return cycle_failed(p);
	if (p->step == STEP_POLL)
		return decide(p);
	if (p->step == STEP_PARTS) {
		snprintf(p->parts_id, sizeof(p->parts_id), "%s", p->rel.id);
		return ensure_slug(p);
	}
}

static void cycle_failed(struct hs_poller *p)
{
	if (p->part_fd >= 0 && p->step != STEP_VERIFY) {
		close(p->part_fd);
		p->part_fd = -1;
	}
	p->settled = false;
	p->failures++;
	if (!p->last_error || strcmp(p->last_error, p->err.msg) != 0)
		hs_log_system("Heroku API: %s (what runs goes on running)", p->err.msg);
	free(p->last_error);
	p->last_error = xstrdup(p->err.msg);
	p->last_error_at = time(NULL);
	uint64_t ms = BACKOFF_BASE_MS;
	for (int i = 1; i < p->failures && ms < BACKOFF_MAX_MS; i++)
		ms *= 2;
	ms = jitter(ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS);
	if (p->retry_after > 0)
		ms = (uint64_t)(p->retry_after < RETRY_AFTER_MAX_S ? p->retry_after
		                                                   : RETRY_AFTER_MAX_S) *
		     1000;
	if (p->c.give_up_after && p->failures >= p->c.give_up_after && p->c.failed) {
		p->step = STEP_IDLE;
		return p->c.failed(p->err.msg, p->c.data);
	}
	schedule(p, ms);
}

/* ---- outcome, report, life ---- */

void hs_poller_offer_cb(enum hs_offer_result res, const struct hs_release *r, const cm_err *err,
                        void *data)
{
	struct hs_poller *p = data;
	if (res == HS_OFFER_APPLIED) {
		p->applied_version = r->version;
		const char *slash = strrchr(r->slug, '/');
		snprintf(p->applied_id, sizeof(p->applied_id), "%s", slash ? slash + 1 : "");
	} else if (res == HS_OFFER_FAILED) {
		hs_log_system("release v%lld of %s failed to build: %s; what ran before runs on",
		              r->version, p->c.app, err->msg);
		free(p->last_error);
		p->last_error =
		    xasprintf("release v%lld failed to build: %s", r->version, err->msg);
		p->last_error_at = time(NULL);
	}
}

static json_t *time_json(time_t t)
{
	char buf[32];
	struct tm tm;
	if (!t)
		return json_null();
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

json_t *hs_poller_report(void *data)
{
	struct hs_poller *p = data;
	uint64_t now = uv_now(p->c.loop);
	json_t *seen = p->seen.id[0]
	                   ? json_pack("{ss sI ss}", "id", p->seen.id, "version",
	                               (json_int_t)p->seen.version, "status", p->seen.status)
	                   : json_null();
	return json_pack(
	    "{ss ss sI ss sI sI so so so so sI so so sI sI}", "app", p->c.app, "api_url",
	    p->shown_url, "interval_ms", (json_int_t)p->c.interval_ms, "state", step_names[p->step],
	    "polls", (json_int_t)p->polls, "not_modified", (json_int_t)p->not_modified, "last_poll",
	    time_json(p->last_poll), "last_success", time_json(p->last_success), "release_seen",
	    seen, "applied_version",
	    p->applied_version ? json_integer(p->applied_version) : json_null(), "failures",
	    (json_int_t)p->failures, "last_error",
	    p->last_error ? json_string(p->last_error) : json_null(), "last_error_at",
	    time_json(p->last_error_at), "ratelimit_remaining", (json_int_t)p->ratelimit,
	    "next_poll_in_ms",
	    (json_int_t)(p->step == STEP_IDLE && p->next_ms > now ? p->next_ms - now : 0));
}

int hs_poller_open(const struct hs_poller_conf *conf, struct hs_poller **out, cm_err *err)
{
	if (mkdir(conf->cache_dir, 0700) < 0 && errno != EEXIST)
		return cm_err_sys(err, "make the slug cache %s", conf->cache_dir);
	struct hs_poller *p = xcalloc(1, sizeof(*p));
	if (cm_http_new(conf->loop, &p->http, err) < 0) {
		free(p);
		return cm_err_wrap(err, "following the Heroku API");
	}
	p->c = *conf;
	size_t n = strlen(conf->api_url);
	p->c.api_url = xstrndup(conf->api_url, n - (n && conf->api_url[n - 1] == '/'));
	p->shown_url = cm_http_redact(p->c.api_url);
	p->c.app = xstrdup(conf->app);
	p->c.token = NULL; /* kept only inside the header */
	p->c.cache_dir = xstrdup(conf->cache_dir);
	p->auth = xasprintf("Authorization: Bearer %s", conf->token);
	p->app_path = xasprintf("/apps/%s", conf->app);
	p->part_fd = -1;
	p->ratelimit = -1;
	uv_timer_init(conf->loop, &p->timer);
	p->timer.data = p;
	p->open_handles = 1;
	*out = p;
	return 0;
}

void hs_poller_start(struct hs_poller *p)
{
	schedule(p, 0);
}

static void free_poller(struct hs_poller *p)
{
	free((char *)p->c.api_url);
	free(p->shown_url);
	free((char *)p->c.app);
	free((char *)p->c.cache_dir);
	explicit_bzero(p->auth, strlen(p->auth));
	free(p->auth);
	free(p->app_path);
	free(p->releases.etag), free(p->releases.body);
	free(p->formation.etag), free(p->formation.body);
	json_decref(p->config), json_decref(p->slug), json_decref(p->app);
	free(p->part_path), free(p->slug_path), free(p->offered), free(p->last_error);
	for (size_t i = 0; i < W_MAX; i++)
		free(p->calls[i].path); /* of a request cancelled by hs_poller_close */
	if (p->part_fd >= 0)
		close(p->part_fd);
	free(p);
}

static void maybe_free(struct hs_poller *p)
{
	if (p->open_handles == 0)
		free_poller(p);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct hs_poller *p = h->data;
	p->open_handles--;
	maybe_free(p);
}

void hs_poller_close(struct hs_poller *p)
{
	p->closing = true;
	cm_http_close(p->http); /* cancels the requests; their calls go with p */
	for (size_t i = 0; i < W_MAX; i++)
		p->reqs[i] = NULL;
	uv_close((uv_handle_t *)&p->timer, on_timer_closed);
}
