#define _GNU_SOURCE
#include "control/ctldir.h"
#include "hsupd/logs.h"
#include "hsupd/release.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/proc.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DOC (16 * 1024 * 1024)
/* Without inotify `new` is looked at every POLL_MS; with it, after an event, once more POLL_MS
 * after a take that had to wait (a writer still at it, a file still changing, an error), and
 * every SAFETY_POLL_MS for a change no event told (another host's write on a network
 * filesystem): an idle hsup does not wake for it. */
#define POLL_MS        2000
#define SAFETY_POLL_MS (10 * 60 * 1000)
/* Where read leases are not available: a polled `new` unchanged this long is taken, and a
 * truncated one changed less long ago than TRUNCATED_WAIT_SEC is given back to wait for the
 * rest of it. */
#define SETTLE_SEC         2
#define TRUNCATED_WAIT_SEC 10
#define SAVE_RETRY_MIN_MS  1000
#define SAVE_RETRY_MAX_MS  60000
#define CLAIM_PREFIX       ".new.claimed."

/* What asked for `new` to be taken. Without read leases only an event (a writer closed the
 * file, or renamed it into place) or a file that stopped changing is trusted to be complete. */
enum trigger {
	BY_POLL = 1,
	BY_EVENT = 2,
};

enum took {
	TOOK_NOTHING,
	TOOK_NOT_YET, /* being written, or changed under us: an event or the poll brings it back */
	TOOK_RELEASE,
	TOOK_REJECTED,
	TOOK_ERROR,
};

struct take {
	enum took what;
	struct hs_release *release; /* TOOK_RELEASE, with its claim */
	char *claim;
	char **notes; /* lines for hsup's log */
	size_t nnotes;
	cm_err err; /* why, for TOOK_REJECTED and TOOK_ERROR */
};

enum job_kind {
	JOB_TAKE,     /* take `new` (and with or_loaded, read `loaded` if none was taken) */
	JOB_SAVE,     /* write `loaded` */
	JOB_REJECT,   /* move a claim to `rejected`, the reason to `last_error` */
	JOB_PUT_BACK, /* give a claim back as `new` */
	JOB_DROP,     /* remove a superseded claim */
};

/* File work in the directory, run on the thread pool one job at a time, in order. */
struct job {
	struct job *next;
	enum job_kind kind;
	int triggers;
	bool or_loaded;
	bool clear_rejection; /* JOB_SAVE of a release just applied */
	char *claim;
	char *why;
	struct hs_release *release; /* JOB_SAVE */
	struct take take;
	struct hs_release *loaded;
	int rc;
	cm_err err;
};

struct identity {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct hs_ctldir {
	uv_loop_t *loop;
	char *path;
	int dirfd;
	int ino;
	bool watching, closing;
	uv_poll_t inotify;
	uv_timer_t poll, retry;
	hs_ctldir_cb cb;
	hs_ctldir_note_cb note_cb;
	void *data;
	int open_handles;
	uv_work_t work;
	struct job *running, *queue;
	/* The release that runs but is not in `loaded` yet, and its claim, kept until it is: if
	 * hsup dies meanwhile, the claim is recovered as the newest release. */
	struct hs_release *unsaved;
	char *unsaved_claim;
	uint64_t retry_ms;
	unsigned save_failures;
	char *save_error;
	/* Touched only by the job that runs (or by hs_ctldir_start, before any job). */
	unsigned long long start_time; /* this process's, in its claims' names */
	unsigned long long last_claim_ns;
	bool lease_noted;
	bool have_deferred;
	struct identity deferred; /* a truncated `new` given back to wait for the rest */
	char *take_error;         /* the last error taking `new`, not repeated every poll */
};

/* One claimed `new` on its way through the supervisor. */
struct ticket {
	struct hs_ctldir *cd;
	char *claim; /* NULL for `loaded` */
};

/* ---- file work: runs on the thread pool (or at start, before the loop) ---- */

static unsigned long long ts_ns(struct timespec ts)
{
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static bool changed_within(const struct stat *st, int secs)
{
	return st->st_mtim.tv_sec + secs > time(NULL);
}

static void note(struct take *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct take *t, const char *fmt, ...)
{
	char *line;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		abort();
	va_end(ap);
	cm_strv_push(&t->notes, &t->nnotes, line);
}

/* .new.claimed.<claim time, ns>.<pid>.<pid's start time>: which claim is newest, and whether
 * its owner still runs, can be told from the name alone. */
static char *claim_name(struct hs_ctldir *cd)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	unsigned long long ns = ts_ns(now);
	if (ns <= cd->last_claim_ns)
		ns = cd->last_claim_ns + 1;
	cd->last_claim_ns = ns;
	return xasprintf(CLAIM_PREFIX "%llu.%d.%llu", ns, (int)getpid(), cd->start_time);
}

/* Gives a claim back as `new`, unless a newer `new` came meanwhile: then it is superseded. */
static void put_back(struct hs_ctldir *cd, const char *claim)
{
	if (renameat2(cd->dirfd, claim, cd->dirfd, "new", RENAME_NOREPLACE) < 0 && errno == EEXIST)
		unlinkat(cd->dirfd, claim, 0);
}

/* Moves a refused claim to `rejected` and writes why to `last_error`. */
static int reject(struct hs_ctldir *cd, const char *claim, const char *why, cm_err *err)
{
	int rc = 0;
	if (renameat(cd->dirfd, claim, cd->dirfd, "rejected") < 0) {
		rc = cm_err_sys(err, "%s: move %s to rejected", cd->path, claim);
		unlinkat(cd->dirfd, claim, 0);
	}
	_cleanup_free_ char *line = xasprintf("%s\n", why);
	cm_err werr;
	if (cm_write_file_atomic_at(cd->dirfd, "last_error", line, strlen(line), 0600, &werr) < 0 &&
	    rc == 0)
		rc = cm_err_set(err, werr.code, "%s: %s", cd->path, werr.msg);
	return rc;
}

static void take_rejected(struct hs_ctldir *cd, struct take *t, const char *why)
{
	cm_err err;
	t->what = TOOK_REJECTED;
	if (reject(cd, t->claim, why, &err) < 0)
		note(t, "%s", err.msg);
	if (why != t->err.msg)
		snprintf(t->err.msg, sizeof(t->err.msg), "%s", why);
	free(t->claim);
	t->claim = NULL;
}

/* An error taking `new` is logged once, not at every poll. */
static void take_failed(struct hs_ctldir *cd, struct take *t)
{
	t->what = TOOK_ERROR;
	if (cd->take_error && strcmp(cd->take_error, t->err.msg) == 0) {
		t->what = TOOK_NOT_YET;
		return;
	}
	free(cd->take_error);
	cd->take_error = xstrdup(t->err.msg);
}

/* Renames `new` to a claim of ours if it still is the file st describes: 1 with t->claim set,
 * 0 when there is nothing to take now, -1 on error. */
static int claim(struct hs_ctldir *cd, const struct stat *st, struct take *t)
{
	char *name = claim_name(cd);
	if (renameat(cd->dirfd, "new", cd->dirfd, name) < 0) {
		int e = errno;
		free(name);
		if (e == ENOENT)
			return 0;
		cm_err_errno(&t->err, e, "%s: take new", cd->path);
		take_failed(cd, t);
		return -1;
	}
	struct stat now;
	if (fstatat(cd->dirfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_dev != st->st_dev ||
	    now.st_ino != st->st_ino) {
		/* `new` was replaced between the look and the rename: give back what was not
		 * looked at; its arrival is an event of its own. */
		put_back(cd, name);
		free(name);
		t->what = TOOK_NOT_YET;
		return 0;
	}
	t->claim = name;
	return 1;
}

static void set_identity(struct identity *id, const struct stat *st)
{
	*id = (struct identity){st->st_dev, st->st_ino, st->st_size, st->st_mtim};
}

static bool same_identity(const struct identity *id, const struct stat *st)
{
	return id->dev == st->st_dev && id->ino == st->st_ino && id->size == st->st_size &&
	       id->mtime.tv_sec == st->st_mtim.tv_sec && id->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Whether `new` (fd, st) may be taken: no process has it open for writing. A read lease
 * proves it (the kernel refuses one with EAGAIN while anyone has the file open for writing)
 * and is held while it is taken and read (*leased). Without leases (EINVAL: not on this
 * filesystem; EACCES: hsup neither owns the file nor has CAP_LEASE) a writer is taken to be
 * done on an event (it closed or renamed the file) or when the file stopped changing. */
static bool writers_gone(struct hs_ctldir *cd, int fd, const struct stat *st, int triggers,
                         bool *leased, struct take *t)
{
	*leased = fcntl(fd, F_SETLEASE, F_RDLCK) == 0;
	if (*leased)
		return true;
	if (errno == EAGAIN)
		return false; /* IN_CLOSE_WRITE, or the poll, brings it back */
	if (!cd->lease_noted)
		note(t,
		     "%s: no read lease on new (%s): it is taken once its writer closes it, or "
		     "once it has not changed for %d s",
		     cd->path, strerror(errno), SETTLE_SEC);
	cd->lease_noted = true;
	if (cd->have_deferred && same_identity(&cd->deferred, st) &&
	    changed_within(st, TRUNCATED_WAIT_SEC))
		return false; /* still the truncated file given back: wait for more of it */
	return (triggers & BY_EVENT) || !changed_within(st, SETTLE_SEC);
}

/* How a claim was taken: under a read lease (which a writer opening the file breaks), without
 * one (a truncated document may still be being written), or where it lay (recovery in a
 * directory that cannot be changed: nothing is given back). */
enum how {
	LEASED,
	UNLEASED,
	IN_PLACE,
};

/* Reads and parses the claimed file (st: its status before reading); gives it back as `new`
 * if its writer may not be done. */
static void read_claim(struct hs_ctldir *cd, int fd, const struct stat *st, enum how how,
                       struct take *t)
{
	_cleanup_free_ char *doc = NULL;
	size_t len;
	cm_err err;
	int rc = cm_read_fd(fd, "new", MAX_DOC, &doc, &len, &err);
	if (rc == 0 && hs_release_parse(doc, len, &t->release, &err) < 0)
		rc = cm_err_wrap(&err, "new");
	bool wait = how == LEASED && fcntl(fd, F_GETLEASE) != F_RDLCK; /* a writer opened it */
	if (how == UNLEASED && rc < 0 && err.code == ENODATA &&
	    changed_within(st, TRUNCATED_WAIT_SEC)) {
		/* What was read, as it was before reading: any write since makes it new again. */
		set_identity(&cd->deferred, st);
		cd->have_deferred = wait = true;
	}
	if (wait) {
		hs_release_unref(cm_steal_ptr(t->release));
		put_back(cd, t->claim);
		free(cm_steal_ptr(t->claim));
		t->what = TOOK_NOT_YET;
	} else if (rc < 0) {
		take_rejected(cd, t, err.msg);
	} else {
		t->what = TOOK_RELEASE;
		cd->have_deferred = false;
	}
}

/* Takes `new` if it is there and complete. Anything but a regular file hsup can open is
 * refused by its type, without being opened for reading. */
static void take_new(struct hs_ctldir *cd, int triggers, struct take *t)
{
	struct stat st = {0};
	_cleanup_close_ int fd = cm_open_regular_at(cd->dirfd, "new", &st, &t->err);
	if (fd < 0 && st.st_mode == 0) { /* not even looked at */
		if (t->err.code != ENOENT)
			take_failed(cd, t);
		return;
	}
	if (fd < 0) {
		cm_err why = t->err;
		if (claim(cd, &st, t) > 0)
			take_rejected(cd, t, why.msg);
		return;
	}
	bool leased;
	if (!writers_gone(cd, fd, &st, triggers, &leased, t)) {
		t->what = TOOK_NOT_YET;
		return;
	}
	if (claim(cd, &st, t) <= 0)
		return;
	free(cm_steal_ptr(cd->take_error));
	read_claim(cd, fd, &st, leased ? LEASED : UNLEASED, t);
} /* closing fd ends the lease */

static int read_release_at(int dirfd, const char *name, struct hs_release **out, cm_err *err)
{
	struct stat st;
	_cleanup_close_ int fd = cm_open_regular_at(dirfd, name, &st, err);
	if (fd < 0)
		return err->code == ENOENT ? 0 : -1;
	_cleanup_free_ char *doc = NULL;
	size_t len;
	if (cm_read_fd(fd, name, MAX_DOC, &doc, &len, err) < 0)
		return -1;
	if (hs_release_parse(doc, len, out, err) < 0)
		return cm_err_wrap(err, "%s", name);
	return 1;
}

/* Writes the applied release as `loaded`; then its claim is no longer needed. */
static int save_loaded(struct hs_ctldir *cd, struct job *j)
{
	if (j->clear_rejection) {
		unlinkat(cd->dirfd, "rejected", 0);
		unlinkat(cd->dirfd, "last_error", 0);
	}
	const struct hs_release *r = j->release;
	if (cm_write_file_atomic_at(cd->dirfd, "loaded", r->raw, r->rawlen, 0600, &j->err) < 0)
		return cm_err_wrap(&j->err, "%s", cd->path);
	if (j->claim)
		unlinkat(cd->dirfd, j->claim, 0);
	cm_err ignored;
	cm_fsync_dir(cd->dirfd, &ignored);
	return 0;
}

static void run_job(uv_work_t *w)
{
	struct hs_ctldir *cd = w->data;
	struct job *j = cd->running;
	switch (j->kind) {
	case JOB_TAKE:
		take_new(cd, j->triggers, &j->take);
		if (j->or_loaded && j->take.what != TOOK_RELEASE)
			j->rc = read_release_at(cd->dirfd, "loaded", &j->loaded, &j->err);
		break;
	case JOB_SAVE:
		j->rc = save_loaded(cd, j);
		break;
	case JOB_REJECT:
		j->rc = reject(cd, j->claim, j->why, &j->err);
		break;
	case JOB_PUT_BACK:
		put_back(cd, j->claim);
		break;
	case JOB_DROP:
		unlinkat(cd->dirfd, j->claim, 0);
		break;
	}
}

/* ---- recovering what a dead hsup left (at start) ---- */

struct claim {
	char *name;
	unsigned long long ns;
	bool live;
};

static bool parse_claim(int dirfd, const char *name, struct claim *c)
{
	const char *s = name + strlen(CLAIM_PREFIX);
	unsigned long long ns, start;
	int pid, end = -1;
	if (sscanf(s, "%llu.%d.%llu%n", &ns, &pid, &start, &end) == 3 && s[end] == '\0') {
		*c = (struct claim){xstrdup(name), ns, cm_proc_alive(pid, start)};
		return true;
	}
	/* An older hsup's .new.claimed.<pid>.<n>: ordered by when it was renamed (its ctime);
	 * without a start time, a process with that pid counts as its owner. */
	unsigned seq;
	struct stat st;
	if (sscanf(s, "%d.%u%n", &pid, &seq, &end) != 2 || s[end] != '\0' ||
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return false;
	unsigned long long started;
	char state = 'X';
	bool live =
	    pid > 0 && cm_proc_stat(pid, &started, &state) == 0 && state != 'Z' && state != 'X';
	*c = (struct claim){xstrdup(name), ts_ns(st.st_ctim), live};
	return true;
}

static size_t list_claims(struct hs_ctldir *cd, struct claim **out)
{
	int fd = openat(cd->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_closedir_ DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	size_t n = 0, cap = 0;
	*out = NULL;
	if (!dir) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	for (struct dirent *e; (e = readdir(dir));) {
		if (strncmp(e->d_name, CLAIM_PREFIX, strlen(CLAIM_PREFIX)) != 0)
			continue;
		xgrow((void **)out, &cap, n + 1, sizeof(**out));
		n += parse_claim(cd->dirfd, e->d_name, &(*out)[n]);
	}
	return n;
}

/* When `loaded` was last written: a claim made before that is no newer than it. */
static unsigned long long loaded_time(struct hs_ctldir *cd)
{
	struct stat st;
	if (fstatat(cd->dirfd, "loaded", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return 0;
	return ts_ns(st.st_mtim);
}

/* Takes a claim where it is, in a directory where it cannot be renamed (read-only). */
static void take_in_place(struct hs_ctldir *cd, const char *name, struct take *t)
{
	struct stat st;
	_cleanup_close_ int fd = cm_open_regular_at(cd->dirfd, name, &st, &t->err);
	if (fd < 0) {
		t->what = TOOK_ERROR;
		return;
	}
	t->claim = xstrdup(name);
	read_claim(cd, fd, &st, IN_PLACE, t);
}

/* Gives the newest claim back as `new` to be taken as usual, or takes it where it is if it
 * cannot be renamed. Returns whether t holds what was taken. */
static bool recover_newest(struct hs_ctldir *cd, const struct claim *c, struct take *t)
{
	if (renameat2(cd->dirfd, c->name, cd->dirfd, "new", RENAME_NOREPLACE) == 0) {
		hs_log_system("%s: recovered %s, left by an hsup that died with it", cd->path,
		              c->name);
		return false;
	}
	if (errno == EEXIST) { /* a `new` came meanwhile: newer */
		unlinkat(cd->dirfd, c->name, 0);
		return false;
	}
	hs_log_system("%s: cannot give %s back as new (%s): taking it where it is", cd->path,
	              c->name, strerror(errno));
	take_in_place(cd, c->name, t);
	return true;
}

/* Claims of hsups that died before finishing with them: the newest wins, older ones are
 * superseded and removed. A `new` present is newer than any claim, and a claim made before
 * `loaded` was last written is no newer than `loaded`. A live hsup's claims are left alone.
 * Returns whether t holds a release taken in place. */
static bool recover_claims(struct hs_ctldir *cd, struct take *t)
{
	struct claim *claims;
	size_t n = list_claims(cd, &claims);
	struct stat st;
	bool have_new = fstatat(cd->dirfd, "new", &st, AT_SYMLINK_NOFOLLOW) == 0;
	unsigned long long floor = loaded_time(cd);
	struct claim *newest = NULL;
	for (size_t i = 0; i < n; i++) {
		struct claim *c = &claims[i];
		if (c->live)
			hs_log_info("%s: leaving %s alone: the hsup that claimed it runs", cd->path,
			            c->name);
		else if (!have_new && c->ns > floor && (!newest || c->ns > newest->ns))
			newest = c;
	}
	for (size_t i = 0; i < n; i++)
		if (!claims[i].live && &claims[i] != newest &&
		    unlinkat(cd->dirfd, claims[i].name, 0) < 0)
			hs_log_system("%s: cannot remove the superseded %s: %s", cd->path,
			              claims[i].name, strerror(errno));
	bool taken = newest && recover_newest(cd, newest, t);
	for (size_t i = 0; i < n; i++)
		free(claims[i].name);
	free(claims);
	return taken;
}

/* ---- on the loop ---- */

static void deliver(struct hs_ctldir *cd, struct hs_release *r, char *claim)
{
	struct ticket *t = xcalloc(1, sizeof(*t));
	t->cd = cd;
	t->claim = claim;
	cd->cb(r, t, cd->data);
	hs_release_unref(r);
}

static void free_take(struct take *t)
{
	hs_release_unref(t->release);
	free(t->claim);
	cm_strv_free(t->notes);
}

static void free_job(struct job *j)
{
	free_take(&j->take);
	hs_release_unref(j->loaded);
	hs_release_unref(j->release);
	free(j->claim);
	free(j->why);
	free(j);
}

static void job_done(uv_work_t *w, int status);

static void run_next(struct hs_ctldir *cd)
{
	while (!cd->running && cd->queue) {
		struct job *j = cd->queue;
		cd->queue = j->next;
		if (cd->closing && j->kind == JOB_TAKE) {
			free_job(j); /* what is written is finished; nothing new is taken */
			continue;
		}
		cd->running = j;
		cd->work.data = cd;
		uv_queue_work(cd->loop, &cd->work, run_job, job_done);
	}
}

static struct job *enqueue(struct hs_ctldir *cd, enum job_kind kind, const char *claim)
{
	struct job *j = xcalloc(1, sizeof(*j)), **p = &cd->queue;
	j->kind = kind;
	j->claim = claim ? xstrdup(claim) : NULL;
	while (*p)
		p = &(*p)->next;
	*p = j;
	return j;
}

static void queue_take(struct hs_ctldir *cd, int triggers, bool or_loaded)
{
	struct job *j = cd->queue;
	while (j && j->kind != JOB_TAKE) /* one waiting take serves every reason */
		j = j->next;
	if (!j)
		j = enqueue(cd, JOB_TAKE, NULL);
	j->triggers |= triggers;
	j->or_loaded |= or_loaded;
	run_next(cd);
}

static void queue_save(struct hs_ctldir *cd, bool clear_rejection)
{
	for (struct job *j = cd->queue; j; j = j->next)
		if (j->kind == JOB_SAVE && j->release == cd->unsaved) {
			j->clear_rejection |= clear_rejection;
			return;
		}
	struct job *j = enqueue(cd, JOB_SAVE, cd->unsaved_claim);
	j->release = hs_release_ref(cd->unsaved);
	j->clear_rejection = clear_rejection;
	run_next(cd);
}

/* A save waiting for its retry goes at once (SIGHUP, a new release). */
static void save_now(struct hs_ctldir *cd)
{
	if (cd->unsaved && uv_is_active((uv_handle_t *)&cd->retry)) {
		uv_timer_stop(&cd->retry);
		queue_save(cd, false);
	}
}

static void set_note(struct hs_ctldir *cd, const char *note_text)
{
	if (cd->note_cb)
		cd->note_cb(note_text, cd->data);
}

/* Logs what a take found, and hands on a release. Returns whether it delivered one. */
static bool report_take(struct hs_ctldir *cd, struct take *t)
{
	for (size_t i = 0; i < t->nnotes; i++)
		hs_log_system("%s", t->notes[i]);
	if (t->what == TOOK_REJECTED)
		hs_log_system("rejected %s/new: %s", cd->path, t->err.msg);
	else if (t->what == TOOK_ERROR)
		hs_log_system("%s", t->err.msg);
	if (t->what != TOOK_RELEASE)
		return false;
	if (cd->closing) {
		enqueue(cd, JOB_PUT_BACK, t->claim);
		return false;
	}
	save_now(cd);
	deliver(cd, cm_steal_ptr(t->release), cm_steal_ptr(t->claim));
	return true;
}

static void on_retry(uv_timer_t *h)
{
	struct hs_ctldir *cd = h->data;
	if (cd->unsaved)
		queue_save(cd, false);
}

static void save_failed(struct hs_ctldir *cd, const cm_err *err)
{
	_cleanup_free_ char *text =
	    xasprintf("loaded is out of date: release v%lld runs, but writing it failed: %s; "
	              "retrying in %llu s",
	              cd->unsaved->version, err->msg, (unsigned long long)cd->retry_ms / 1000);
	if (!cd->save_error || strcmp(cd->save_error, err->msg) != 0)
		hs_log_system("%s", text);
	free(cd->save_error);
	cd->save_error = xstrdup(err->msg);
	cd->save_failures++;
	set_note(cd, text);
	uv_timer_start(&cd->retry, on_retry, cd->retry_ms, 0);
	cd->retry_ms = cd->retry_ms * 2 < SAVE_RETRY_MAX_MS ? cd->retry_ms * 2 : SAVE_RETRY_MAX_MS;
}

static void save_done(struct hs_ctldir *cd, struct job *j)
{
	if (j->release != cd->unsaved || cd->closing)
		return; /* a newer release is on its way to `loaded` */
	if (j->rc < 0)
		return save_failed(cd, &j->err);
	if (cd->save_failures)
		hs_log_system("%s/loaded written (release v%lld) after %u failed attempts: it is "
		              "up to date again",
		              cd->path, cd->unsaved->version, cd->save_failures);
	else
		hs_log_info("loaded release v%lld from %s", cd->unsaved->version, cd->path);
	if (cd->save_failures)
		set_note(cd, NULL);
	hs_release_unref(cm_steal_ptr(cd->unsaved));
	free(cm_steal_ptr(cd->unsaved_claim));
	free(cm_steal_ptr(cd->save_error));
	cd->save_failures = 0;
}

static void maybe_free(struct hs_ctldir *cd)
{
	if (!cd->closing || cd->open_handles > 0 || cd->running || cd->queue)
		return;
	if (cd->ino >= 0)
		close(cd->ino);
	close(cd->dirfd);
	hs_release_unref(cd->unsaved);
	free(cd->unsaved_claim);
	free(cd->save_error);
	free(cd->take_error);
	free(cd->path);
	free(cd);
}

static void on_poll(uv_timer_t *t);

static void job_done(uv_work_t *w, int status)
{
	struct hs_ctldir *cd = w->data;
	struct job *j = cd->running;
	(void)status; /* never cancelled */
	cd->running = NULL;
	if (j->kind == JOB_TAKE) {
		report_take(cd, &j->take);
		if (cd->watching && (j->take.what == TOOK_NOT_YET || j->take.what == TOOK_ERROR))
			uv_timer_start(&cd->poll, on_poll, POLL_MS, SAFETY_POLL_MS);
		if (j->loaded && !cd->closing)
			deliver(cd, cm_steal_ptr(j->loaded), NULL);
		else if (j->or_loaded && j->rc < 0)
			hs_log_system("%s: %s", cd->path, j->err.msg);
	} else if (j->kind == JOB_SAVE) {
		save_done(cd, j);
	} else if (j->rc < 0) {
		hs_log_system("%s", j->err.msg);
	}
	free_job(j);
	run_next(cd);
	maybe_free(cd);
}

/* A release was applied: it becomes `loaded`, and a release applied before it that is not in
 * `loaded` yet is superseded. */
static void applied(struct hs_ctldir *cd, const struct hs_release *r, char *claim)
{
	if (cd->unsaved_claim && strcmp(cd->unsaved_claim, claim) != 0)
		enqueue(cd, JOB_DROP, cd->unsaved_claim);
	hs_release_unref(cd->unsaved);
	free(cd->unsaved_claim);
	cd->unsaved = hs_release_ref((struct hs_release *)r);
	cd->unsaved_claim = claim;
	cd->retry_ms = SAVE_RETRY_MIN_MS;
	uv_timer_stop(&cd->retry);
	queue_save(cd, true);
}

void hs_ctldir_offer_cb(enum hs_offer_result res, const struct hs_release *r, const cm_err *err,
                        void *data)
{
	struct ticket *t = data;
	struct hs_ctldir *cd = t->cd;
	if (!t->claim) {
		if (res == HS_OFFER_FAILED)
			hs_log_system("%s/loaded: build failed: %s", cd->path, err->msg);
	} else if (res == HS_OFFER_APPLIED) {
		applied(cd, r, cm_steal_ptr(t->claim));
	} else if (res == HS_OFFER_FAILED) {
		hs_log_system("rejected %s/new: build failed: %s", cd->path, err->msg);
		enqueue(cd, JOB_REJECT, t->claim)->why =
		    xasprintf("new: build failed: %s", err->msg);
	} else {
		enqueue(cd, res == HS_OFFER_SUPERSEDED ? JOB_DROP : JOB_PUT_BACK, t->claim);
	}
	run_next(cd);
	free(t->claim);
	free(t);
}

static void on_inotify(uv_poll_t *h, int status, int events)
{
	struct hs_ctldir *cd = h->data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool saw_new = false, made_new = false;
	(void)status, (void)events;
	for (;;) {
		ssize_t n = read(cd->ino, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			bool is_new = ev->len && strcmp(ev->name, "new") == 0;
			/* closed after writing, or renamed into place: done; made (a symbolic link
			 * or a FIFO, which no close follows, or a file a writer has just opened):
			 * looked at as a poll would; events were lost (the queue overflowed): too
			 */
			if (is_new && (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)))
				saw_new = true;
			else if ((is_new && (ev->mask & IN_CREATE)) || (ev->mask & IN_Q_OVERFLOW))
				made_new = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	if (saw_new || made_new)
		queue_take(cd, saw_new ? BY_EVENT : BY_POLL, false);
}

static void on_poll(uv_timer_t *t)
{
	queue_take(t->data, BY_POLL, false);
}

/* A read lease being broken is signalled with SIGIO, whose default action ends the process.
 * Dynos do not inherit it ignored: every child resets its signals before exec (cm_spawn). */
static void ignore_sigio(void)
{
	struct sigaction sa;
	if (sigaction(SIGIO, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGIO, SIG_IGN);
}

int hs_ctldir_open(uv_loop_t *loop, const char *path, hs_ctldir_cb cb, hs_ctldir_note_cb note_cb,
                   void *data, struct hs_ctldir **out, cm_err *err)
{
	int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return cm_err_sys(err, "HSUP_CONTROL_DIR %s", path);
	struct hs_ctldir *cd = xcalloc(1, sizeof(*cd));
	*cd = (struct hs_ctldir){.loop = loop,
	                         .path = xstrdup(path),
	                         .dirfd = dirfd,
	                         .cb = cb,
	                         .note_cb = note_cb,
	                         .data = data,
	                         .ino = -1,
	                         .retry_ms = SAVE_RETRY_MIN_MS};
	char state;
	cm_proc_stat(getpid(), &cd->start_time, &state);
	ignore_sigio();
	uv_timer_init(loop, &cd->poll);
	uv_timer_init(loop, &cd->retry);
	cd->poll.data = cd->retry.data = cd;
	cd->open_handles = 2;
	*out = cd;
	return 0;
}

static void watch(struct hs_ctldir *cd)
{
	/* The directory hsup opened, whatever its path names now. */
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", cd->dirfd);
	cd->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (cd->ino >= 0 &&
	    inotify_add_watch(cd->ino, self, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) >= 0) {
		uv_poll_init(cd->loop, &cd->inotify, cd->ino);
		cd->inotify.data = cd;
		cd->open_handles++;
		cd->watching = true;
		uv_poll_start(&cd->inotify, UV_READABLE, on_inotify);
	} else {
		hs_log_system("%s: inotify unavailable (%s); polling every %ds", cd->path,
		              strerror(errno), POLL_MS / 1000);
	}
	uint64_t every = cd->watching ? SAFETY_POLL_MS : POLL_MS;
	uv_timer_start(&cd->poll, on_poll, every, every);
}

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

int hs_ctldir_start(struct hs_ctldir *cd, bool watching, cm_err *err)
{
	struct take t = {0};
	if (!recover_claims(cd, &t))
		take_new(cd, BY_EVENT, &t); /* present at start: as if it had just arrived */
	int got = report_take(cd, &t);
	free_take(&t);
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
	save_now(cd);
	/* While `loaded` is out of date it is not offered: it holds an older release. */
	queue_take(cd, BY_EVENT, !cd->unsaved);
}

static void on_closed(uv_handle_t *h)
{
	struct hs_ctldir *cd = h->data;
	cd->open_handles--;
	maybe_free(cd);
}

void hs_ctldir_close(struct hs_ctldir *cd)
{
	cd->closing = true;
	if (cd->watching)
		uv_close((uv_handle_t *)&cd->inotify, on_closed);
	uv_close((uv_handle_t *)&cd->poll, on_closed);
	uv_close((uv_handle_t *)&cd->retry, on_closed);
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
