#define _GNU_SOURCE
#include "control/ctldir.h"
#include "hsupd/logs.h"
#include "hsupd/release.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DOC      (16 * 1024 * 1024)
#define POLL_MS      2000
#define SETTLE_SEC   1 /* a polled `new` this recently modified may still be being written */
#define CLAIM_PREFIX ".new.claimed."

struct hs_ctldir {
	uv_loop_t *loop;
	char *path;
	int dirfd;
	int ino;
	bool watching; /* the inotify handle is initialised */
	uv_poll_t inotify;
	uv_timer_t poll;
	hs_ctldir_cb cb;
	void *data;
	unsigned seq;
	int open_handles;
};

/* One claimed `new` on its way through the supervisor. */
struct ticket {
	struct hs_ctldir *cd;
	char *claim; /* NULL for `loaded` offered again */
};

static int write_last_error(struct hs_ctldir *cd, const char *msg)
{
	cm_err err;
	_cleanup_free_ char *line = xasprintf("%s\n", msg);
	if (cm_write_file_atomic_at(cd->dirfd, "last_error", line, strlen(line), 0600, &err) < 0) {
		hs_log_system("%s: %s", cd->path, err.msg);
		return -1;
	}
	return 0;
}

static void reject(struct hs_ctldir *cd, const char *claim, const char *why)
{
	_cleanup_free_ char *msg = xasprintf("new: %s", why);
	hs_log_system("rejected %s/new: %s", cd->path, why);
	if (renameat(cd->dirfd, claim, cd->dirfd, "rejected") < 0)
		hs_log_system("%s: rename %s to rejected: %s", cd->path, claim, strerror(errno));
	write_last_error(cd, msg);
	cm_err err;
	cm_fsync_dir(cd->dirfd, &err);
}

static void accept_release(struct hs_ctldir *cd, const struct hs_release *r, const char *claim)
{
	cm_err err;
	if (cm_write_file_atomic_at(cd->dirfd, "loaded", r->raw, r->rawlen, 0600, &err) < 0) {
		hs_log_system("%s: %s", cd->path, err.msg);
		return;
	}
	unlinkat(cd->dirfd, claim, 0);
	unlinkat(cd->dirfd, "rejected", 0);
	unlinkat(cd->dirfd, "last_error", 0);
	cm_fsync_dir(cd->dirfd, &err);
	hs_log_info("loaded release v%lld from %s", r->version, cd->path);
}

/* Not applied through no fault of its own: give it back as `new` unless a newer one came. */
static void put_back(struct hs_ctldir *cd, const char *claim)
{
	if (renameat2(cd->dirfd, claim, cd->dirfd, "new", RENAME_NOREPLACE) < 0)
		unlinkat(cd->dirfd, claim, 0);
}

void hs_ctldir_offer_cb(enum hs_offer_result res, const struct hs_release *r, const cm_err *err,
                        void *data)
{
	struct ticket *t = data;
	if (t->claim) {
		switch (res) {
		case HS_OFFER_APPLIED:
			accept_release(t->cd, r, t->claim);
			break;
		case HS_OFFER_FAILED: {
			_cleanup_free_ char *why = xasprintf("build failed: %s", err->msg);
			reject(t->cd, t->claim, why);
			break;
		}
		case HS_OFFER_SUPERSEDED:
			unlinkat(t->cd->dirfd, t->claim, 0);
			break;
		case HS_OFFER_ABANDONED:
			put_back(t->cd, t->claim);
			break;
		}
	} else if (res == HS_OFFER_FAILED) {
		hs_log_system("%s/loaded: build failed: %s", t->cd->path, err->msg);
	}
	free(t->claim);
	free(t);
}

static void deliver(struct hs_ctldir *cd, struct hs_release *r, char *claim)
{
	struct ticket *t = xcalloc(1, sizeof(*t));
	t->cd = cd;
	t->claim = claim;
	cd->cb(r, t, cd->data);
	hs_release_unref(r);
}

/* Takes `new` by renaming it, so whatever is written as `new` from now on is a newer one. */
static int take_new(struct hs_ctldir *cd)
{
	char *claim = xasprintf(CLAIM_PREFIX "%d.%u", (int)getpid(), cd->seq++);
	if (renameat(cd->dirfd, "new", cd->dirfd, claim) < 0) {
		if (errno != ENOENT)
			hs_log_system("%s: take new: %s", cd->path, strerror(errno));
		free(claim);
		return 0;
	}
	cm_err err;
	_cleanup_free_ char *doc = NULL;
	size_t len;
	struct hs_release *r = NULL;
	if (cm_read_file_at(cd->dirfd, claim, MAX_DOC, &doc, &len, &err) < 0 ||
	    hs_release_parse(doc, len, &r, &err) < 0) {
		reject(cd, claim, err.msg);
		free(claim);
		return 0;
	}
	deliver(cd, r, claim);
	return 1;
}

static int read_release_at(int dirfd, const char *name, struct hs_release **out, cm_err *err);

static int offer_loaded(struct hs_ctldir *cd, cm_err *err)
{
	struct hs_release *r = NULL;
	int got = read_release_at(cd->dirfd, "loaded", &r, err);
	if (got < 0)
		return cm_err_wrap(err, "%s", cd->path);
	if (got > 0)
		deliver(cd, r, NULL);
	return got;
}

/* A claim left by an hsup that died before finishing with it goes back to being `new`. */
static void recover_claims(struct hs_ctldir *cd)
{
	int fd = openat(cd->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_closedir_ DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir)
		return;
	struct dirent *e;
	while ((e = readdir(dir)))
		if (strncmp(e->d_name, CLAIM_PREFIX, strlen(CLAIM_PREFIX)) == 0)
			put_back(cd, e->d_name);
}

static void on_inotify(uv_poll_t *h, int status, int events)
{
	struct hs_ctldir *cd = h->data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool saw_new = false;
	(void)status, (void)events;
	for (;;) {
		ssize_t n = read(cd->ino, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (ev->len && strcmp(ev->name, "new") == 0)
				saw_new = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (saw_new)
		take_new(cd);
}

static void on_poll(uv_timer_t *t)
{
	struct hs_ctldir *cd = t->data;
	struct stat st;
	if (fstatat(cd->dirfd, "new", &st, 0) == 0 && st.st_mtime + SETTLE_SEC <= time(NULL))
		take_new(cd);
}

int hs_ctldir_open(uv_loop_t *loop, const char *path, hs_ctldir_cb cb, void *data,
                   struct hs_ctldir **out, cm_err *err)
{
	int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return cm_err_sys(err, "HSUP_CONTROL_DIR %s", path);
	struct hs_ctldir *cd = xcalloc(1, sizeof(*cd));
	*cd = (struct hs_ctldir){
	    .loop = loop, .path = xstrdup(path), .dirfd = dirfd, .cb = cb, .data = data, .ino = -1};
	uv_timer_init(loop, &cd->poll);
	cd->poll.data = cd;
	cd->open_handles = 1;
	*out = cd;
	return 0;
}

static void watch(struct hs_ctldir *cd)
{
	cd->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (cd->ino >= 0 &&
	    inotify_add_watch(cd->ino, cd->path, IN_CLOSE_WRITE | IN_MOVED_TO) >= 0) {
		uv_poll_init(cd->loop, &cd->inotify, cd->ino);
		cd->inotify.data = cd;
		cd->open_handles++;
		cd->watching = true;
		uv_poll_start(&cd->inotify, UV_READABLE, on_inotify);
	} else {
		hs_log_system("%s: inotify unavailable (%s); polling every %ds", cd->path,
		              strerror(errno), POLL_MS / 1000);
	}
	uv_timer_start(&cd->poll, on_poll, POLL_MS, POLL_MS);
}

int hs_ctldir_start(struct hs_ctldir *cd, bool watching, cm_err *err)
{
	recover_claims(cd);
	int got = 0;
	struct stat st;
	if (fstatat(cd->dirfd, "new", &st, 0) == 0)
		got = take_new(cd);
	if (!got)
		got = offer_loaded(cd, err);
	if (got < 0)
		return -1;
	if (watching)
		watch(cd);
	return got;
}

void hs_ctldir_rescan(struct hs_ctldir *cd)
{
	cm_err err;
	if (take_new(cd))
		return;
	if (offer_loaded(cd, &err) < 0)
		hs_log_system("%s", err.msg);
}

static void on_closed(uv_handle_t *h)
{
	struct hs_ctldir *cd = h->data;
	if (--cd->open_handles > 0)
		return;
	if (cd->ino >= 0)
		close(cd->ino);
	close(cd->dirfd);
	free(cd->path);
	free(cd);
}

void hs_ctldir_close(struct hs_ctldir *cd)
{
	if (cd->watching)
		uv_close((uv_handle_t *)&cd->inotify, on_closed);
	uv_close((uv_handle_t *)&cd->poll, on_closed);
}

static int read_release_at(int dirfd, const char *name, struct hs_release **out, cm_err *err)
{
	_cleanup_free_ char *doc = NULL;
	size_t len;
	if (cm_read_file_at(dirfd, name, MAX_DOC, &doc, &len, err) < 0)
		return err->code == ENOENT ? 0 : -1;
	if (hs_release_parse(doc, len, out, err) < 0)
		return cm_err_wrap(err, "%s", name);
	return 1;
}

int hs_ctldir_read(const char *path, struct hs_release **out, cm_err *err)
{
	_cleanup_close_ int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return cm_err_sys(err, "HSUP_CONTROL_DIR %s", path);
	int got = read_release_at(dirfd, "new", out, err);
	if (got == 0)
		got = read_release_at(dirfd, "loaded", out, err);
	return got < 0 ? cm_err_wrap(err, "%s", path) : got;
}
