/* UID reservations: <state_dir>/uids/<uid>, a JSON record of its owner and of what the owner
 * made for it:
 *   {"uid": 3000, "pid": 123, "start_time": 456, "boot_id": "...", "fields": {"veth": "..."}}
 * A record is written whole to a temporary file and renamed into place, without replacing
 * when a UID is taken, so a reader sees a whole record or none and a UID has one owner.
 * Freeing a dead owner's reservation compares the record under a lock (uids/.lock), so that
 * of two hsups cleaning up after the same dead one, neither frees the UID a third has taken
 * in between. */
#define _GNU_SOURCE
#include "alloc/alloc.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/proc.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define UIDS_DIR   "uids"
#define LOCK_NAME  ".lock"
#define TMP_PREFIX ".tmp."
#define RECORD_MAX (64 * 1024)

struct al_alloc {
	struct al_config cfg;
	int dirfd; /* <state_dir>/uids */
	pid_t pid; /* the owner: this process */
	unsigned long long start_time;
	char boot_id[40];
	atomic_uint seq; /* temporary file names */
};

int al_open_state_subdir(const char *state_dir, const char *name, cm_err *err)
{
	_cleanup_close_ int top = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		return cm_err_sys(err, "state directory %s", state_dir);
	if (mkdirat(top, name, 0700) < 0 && errno != EEXIST)
		return cm_err_sys(err, "mkdir %s/%s", state_dir, name);
	_cleanup_close_ int fd = openat(top, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return cm_err_sys(err, "open %s/%s", state_dir, name);
	if (st.st_uid != geteuid())
		return cm_err_set(err, EPERM, "%s/%s belongs to UID %u, not to hsup's user (%u)",
		                  state_dir, name, (unsigned)st.st_uid, (unsigned)geteuid());
	if (st.st_mode & 022)
		return cm_err_set(err, EPERM,
		                  "%s/%s is writable by others (mode %03o): what it records "
		                  "cannot be trusted",
		                  state_dir, name, (unsigned)(st.st_mode & 0777));
	return cm_steal_fd(fd);
}

int al_read_boot_id(char *buf, size_t size, cm_err *err)
{
	_cleanup_free_ char *s = NULL;
	size_t len;
	if (cm_read_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", 64, &s, &len, err) < 0)
		return -1;
	s[strcspn(s, "\n")] = '\0';
	snprintf(buf, size, "%s", s);
	return 0;
}

int al_open(const char *state_dir, const struct al_config *c, struct al_alloc **out, cm_err *err)
{
	struct al_alloc *a = xcalloc(1, sizeof(*a));
	a->cfg = *c;
	a->pid = getpid();
	char state;
	a->dirfd = al_open_state_subdir(state_dir, UIDS_DIR, err);
	if (a->dirfd < 0 || al_read_boot_id(a->boot_id, sizeof(a->boot_id), err) < 0)
		goto fail;
	if (cm_proc_stat(a->pid, &a->start_time, &state) < 0) {
		cm_err_sys(err, "read /proc/%d/stat", (int)a->pid);
		goto fail;
	}
	*out = a;
	return 0;
fail:
	al_close(a);
	return -1;
}

void al_close(struct al_alloc *a)
{
	if (!a)
		return;
	if (a->dirfd >= 0)
		close(a->dirfd);
	free(a);
}

const struct al_config *al_config_of(const struct al_alloc *a)
{
	return &a->cfg;
}

/* Held while a record is compared and then removed or replaced; closing the fd unlocks. */
static int lock_uids(struct al_alloc *a, cm_err *err)
{
	_cleanup_close_ int fd =
	    openat(a->dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return cm_err_sys(err, "open %s/%s", UIDS_DIR, LOCK_NAME);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return cm_err_sys(err, "lock %s/%s", UIDS_DIR, LOCK_NAME);
	return cm_steal_fd(fd);
}

/* A UID's file name: decimal, nothing else. */
static bool uid_of_name(const char *name, uint32_t *uid)
{
	size_t len = strlen(name);
	if (len == 0 || len > 10 || (len > 1 && name[0] == '0'))
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	if (v > UINT32_MAX)
		return false;
	*uid = (uint32_t)v;
	return true;
}

static char *record_text(const struct al_alloc *a, uint32_t uid, const struct al_field *fields,
                         size_t n)
{
	json_t *f = json_object();
	for (size_t i = 0; i < n; i++)
		json_object_set_new(f, fields[i].key, json_string(fields[i].value));
	json_t *rec = json_pack("{s:I, s:I, s:I, s:s, s:o}", "uid", (json_int_t)uid, "pid",
	                        (json_int_t)a->pid, "start_time", (json_int_t)a->start_time,
	                        "boot_id", a->boot_id, "fields", f);
	char *text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(rec);
	if (!text)
		abort(); /* only allocation fails here */
	char *line = xasprintf("%s\n", text);
	free(text);
	return line;
}

/* Writes text to a new temporary file, named after its writer so that one left by a crash
 * is known to be garbage once the writer is dead. */
static int write_temp(struct al_alloc *a, const char *text, char *name, size_t size, cm_err *err)
{
	snprintf(name, size, TMP_PREFIX "%d.%llu.%u", (int)a->pid, a->start_time,
	         atomic_fetch_add(&a->seq, 1));
	int fd = openat(a->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return cm_err_sys(err, "create %s/%s", UIDS_DIR, name);
	int r = cm_write_all(fd, text, strlen(text));
	int saved = errno;
	if (close(fd) < 0 && r == 0) {
		r = -1;
		saved = errno;
	}
	if (r < 0) {
		unlinkat(a->dirfd, name, 0);
		return cm_err_errno(err, saved, "write %s/%s", UIDS_DIR, name);
	}
	return 0;
}

/* Moves the temporary file to target unless target exists: 1 done, 0 taken, < 0 error. */
static int place_new(struct al_alloc *a, const char *tmp, const char *target, cm_err *err)
{
	int r = renameat2(a->dirfd, tmp, a->dirfd, target, RENAME_NOREPLACE);
	if (r < 0 && errno == EINVAL) { /* a file system without RENAME_NOREPLACE */
		r = linkat(a->dirfd, tmp, a->dirfd, target, 0);
		int saved = errno;
		unlinkat(a->dirfd, tmp, 0);
		errno = saved;
	}
	if (r == 0)
		return 1;
	int saved = errno;
	unlinkat(a->dirfd, tmp, 0);
	if (saved == EEXIST)
		return 0;
	return cm_err_errno(err, saved, "reserve %s/%s", UIDS_DIR, target);
}

static int try_take(struct al_alloc *a, uint32_t uid, cm_err *err)
{
	_cleanup_free_ char *text = record_text(a, uid, NULL, 0);
	char tmp[96], name[16];
	if (write_temp(a, text, tmp, sizeof(tmp), err) < 0)
		return -1;
	snprintf(name, sizeof(name), "%u", uid);
	return place_new(a, tmp, name, err);
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return (a > b) - (a < b);
}

static DIR *open_listing(struct al_alloc *a, cm_err *err)
{
	int fd = openat(a->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		cm_err_sys(err, "read directory %s", UIDS_DIR);
		if (fd >= 0)
			close(fd);
	}
	return d;
}

/* The reserved UIDs of the range, sorted: one pass over the directory. */
static int taken_uids(struct al_alloc *a, uint32_t **out, size_t *n, cm_err *err)
{
	_cleanup_closedir_ DIR *d = open_listing(a, err);
	if (!d)
		return -1;
	size_t cap = 0, len = 0;
	uint32_t *v = NULL, uid;
	struct dirent *e;
	while ((e = readdir(d)))
		if (uid_of_name(e->d_name, &uid) && uid >= a->cfg.uid_min &&
		    uid <= a->cfg.uid_max) {
			xgrow((void **)&v, &cap, len + 1, sizeof(*v));
			v[len++] = uid;
		}
	if (len)
		qsort(v, len, sizeof(*v), cmp_u32);
	*out = v;
	*n = len;
	return 0;
}

static uint64_t random_below(uint64_t n)
{
	uint64_t r;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = (uint64_t)ts.tv_nsec * 2654435761u ^ (uint64_t)getpid();
	}
	return r % n;
}

int al_reserve(struct al_alloc *a, uint32_t *uid, cm_err *err)
{
	_cleanup_free_ uint32_t *taken = NULL;
	size_t ntaken;
	if (taken_uids(a, &taken, &ntaken, err) < 0)
		return -1;
	uint64_t n = (uint64_t)a->cfg.uid_max - a->cfg.uid_min + 1;
	/* From a random place, so hsups starting together rarely race for the same UID, and a
	 * UID just freed is not at once another dyno's (with the same addresses). */
	uint64_t start = random_below(n);
	for (uint64_t i = 0; ntaken < n && i < n; i++) {
		uint32_t cand = (uint32_t)(a->cfg.uid_min + (start + i) % n);
		if (ntaken && bsearch(&cand, taken, ntaken, sizeof(*taken), cmp_u32))
			continue;
		int r = try_take(a, cand, err);
		if (r < 0)
			return -1;
		if (r > 0) {
			*uid = cand;
			return 0;
		}
	}
	return cm_err_set(err, EAGAIN,
	                  "no free UID in %s..%s (%u..%u): all %llu are reserved (those of "
	                  "exited hsups until they are freed)",
	                  AL_ENV_UID_MIN, AL_ENV_UID_MAX, a->cfg.uid_min, a->cfg.uid_max,
	                  (unsigned long long)n);
}

/* The record of name as read, or ENOENT. */
static int read_record(struct al_alloc *a, const char *name, char **raw, size_t *len, cm_err *err)
{
	struct stat st;
	_cleanup_close_ int fd = cm_open_regular_at(a->dirfd, name, &st, err);
	if (fd < 0)
		return -1;
	if (cm_read_fd(fd, name, RECORD_MAX, raw, len, err) < 0)
		return -1;
	return 0;
}

static bool copy_fields(json_t *f, struct al_reservation *r)
{
	size_t n = 0;
	const char *key;
	json_t *v;
	r->fields = xcalloc(2 * json_object_size(f) + 1, sizeof(char *));
	json_object_foreach (f, key, v) {
		if (!json_is_string(v))
			return false;
		r->fields[n++] = xstrdup(key);
		r->fields[n++] = xstrdup(json_string_value(v));
	}
	return true;
}

/* Reads the owner and fields; false with *why when the record is not one hsup writes. */
static bool parse_record(const char *raw, size_t len, uint32_t uid, struct al_reservation *r,
                         const char **why)
{
	json_error_t jerr;
	json_t *root = json_loadb(raw, len, JSON_REJECT_DUPLICATES, &jerr);
	json_int_t ruid, pid, start;
	const char *boot;
	json_t *fields;
	bool ok =
	    root && json_unpack(root, "{s:I, s:I, s:I, s:s, s:o}", "uid", &ruid, "pid", &pid,
	                        "start_time", &start, "boot_id", &boot, "fields", &fields) == 0;
	*why = "it is not a reservation record";
	if (ok && (ruid != (json_int_t)uid || pid <= 0 || pid > INT32_MAX || start < 0 ||
	           strlen(boot) >= sizeof(r->boot_id) || !json_is_object(fields))) {
		*why = "its fields are out of range";
		ok = false;
	}
	if (ok && !copy_fields(fields, r)) {
		*why = "a field's value is not a string";
		ok = false;
	}
	if (ok) {
		r->pid = (pid_t)pid;
		r->start_time = (unsigned long long)start;
		snprintf(r->boot_id, sizeof(r->boot_id), "%s", boot);
	}
	json_decref(root);
	return ok;
}

/* NULL when the owner lives, else why it is dead. */
static char *dead_reason(const struct al_alloc *a, const struct al_reservation *r)
{
	if (strcmp(r->boot_id, a->boot_id) != 0)
		return xasprintf("it was made before the last boot (boot %s)", r->boot_id);
	unsigned long long st;
	char state;
	if (cm_proc_stat(r->pid, &st, &state) < 0)
		return xasprintf("its owner, pid %d, has exited", (int)r->pid);
	if (st != r->start_time)
		return xasprintf("its owner, pid %d, has exited (the pid is now another process's)",
		                 (int)r->pid);
	if (state == 'Z' || state == 'X')
		return xasprintf("its owner, pid %d, has exited (not yet reaped)", (int)r->pid);
	return NULL;
}

static bool is_own(const struct al_alloc *a, const struct al_reservation *r)
{
	return r->pid == a->pid && r->start_time == a->start_time &&
	       strcmp(r->boot_id, a->boot_id) == 0;
}

static void reservation_clear(struct al_reservation *r)
{
	cm_strv_free(r->fields);
	free(r->why);
	free(r->raw);
	memset(r, 0, sizeof(*r));
}

/* Reads uid's record and checks that this process owns it. */
static int own_record(struct al_alloc *a, uint32_t uid, struct al_reservation *r, cm_err *err)
{
	char name[16];
	snprintf(name, sizeof(name), "%u", uid);
	if (read_record(a, name, &r->raw, &r->rawlen, err) < 0) {
		if (err->code == ENOENT)
			return cm_err_set(err, ENOENT, "UID %u is not reserved", uid);
		return cm_err_wrap(err, "UID %u", uid);
	}
	const char *why;
	if (!parse_record(r->raw, r->rawlen, uid, r, &why))
		return cm_err_set(err, EINVAL, "UID %u: %s/%s: %s", uid, UIDS_DIR, name, why);
	if (!is_own(a, r))
		return cm_err_set(err, EPERM, "UID %u is reserved by pid %d, not by this process",
		                  uid, (int)r->pid);
	return 0;
}

int al_record(struct al_alloc *a, uint32_t uid, const struct al_field *fields, size_t n,
              cm_err *err)
{
	_cleanup_close_ int lock = lock_uids(a, err);
	struct al_reservation r = {0};
	int rc = lock < 0 ? -1 : own_record(a, uid, &r, err);
	reservation_clear(&r);
	if (rc < 0)
		return -1;
	_cleanup_free_ char *text = record_text(a, uid, fields, n);
	char tmp[96], name[16];
	if (write_temp(a, text, tmp, sizeof(tmp), err) < 0)
		return -1;
	snprintf(name, sizeof(name), "%u", uid);
	if (renameat(a->dirfd, tmp, a->dirfd, name) < 0) {
		int saved = errno;
		unlinkat(a->dirfd, tmp, 0);
		return cm_err_errno(err, saved, "record UID %u", uid);
	}
	return 0;
}

static int remove_record(struct al_alloc *a, uint32_t uid, cm_err *err)
{
	char name[16];
	snprintf(name, sizeof(name), "%u", uid);
	if (unlinkat(a->dirfd, name, 0) < 0 && errno != ENOENT)
		return cm_err_sys(err, "free UID %u: remove %s/%s", uid, UIDS_DIR, name);
	return 0;
}

int al_release(struct al_alloc *a, uint32_t uid, cm_err *err)
{
	_cleanup_close_ int lock = lock_uids(a, err);
	struct al_reservation r = {0};
	int rc = lock < 0 ? -1 : own_record(a, uid, &r, err);
	reservation_clear(&r);
	return rc < 0 ? -1 : remove_record(a, uid, err);
}

/* A temporary file whose writer is dead: left by a crash between writing and renaming. */
static bool stale_temp(const struct al_alloc *a, const char *name)
{
	if (strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
		return false;
	int pid;
	unsigned long long start;
	unsigned seq;
	if (sscanf(name + strlen(TMP_PREFIX), "%d.%llu.%u", &pid, &start, &seq) != 3)
		return false;
	return !(pid == a->pid && start == a->start_time) && !cm_proc_alive(pid, start);
}

/* Reads the reservation of name; 1 and *r filled when its owner is dead, 0 when alive or
 * gone. */
static int check_one(struct al_alloc *a, const char *name, uint32_t uid, struct al_reservation *r,
                     cm_err *err)
{
	cm_err rerr;
	r->uid = uid;
	if (read_record(a, name, &r->raw, &r->rawlen, &rerr) < 0) {
		if (rerr.code == ENOENT)
			return 0; /* freed meanwhile */
		/* not a regular file, or too large: nothing hsup wrote; anything else (EMFILE, EIO)
		 * says nothing of the owner, and a live owner's UID must never be freed */
		if (rerr.code != EINVAL && rerr.code != EFBIG)
			return cm_err_set(err, rerr.code, "%s/%s: %s", UIDS_DIR, name, rerr.msg);
		r->fields = xcalloc(1, sizeof(char *));
		r->why = xasprintf("its record is unreadable: %s", rerr.msg);
		return 1;
	}
	const char *why;
	if (!parse_record(r->raw, r->rawlen, uid, r, &why)) {
		cm_strv_free(r->fields);
		r->fields = xcalloc(1, sizeof(char *));
		r->pid = 0;
		r->why = xasprintf("its record is unreadable: %s", why);
		return 1;
	}
	r->why = dead_reason(a, r);
	return r->why != NULL;
}

static int cmp_reservation(const void *x, const void *y)
{
	const struct al_reservation *a = x, *b = y;
	return (a->uid > b->uid) - (a->uid < b->uid);
}

int al_list_dead(struct al_alloc *a, struct al_reservation **out, size_t *n, cm_err *err)
{
	_cleanup_closedir_ DIR *d = open_listing(a, err);
	if (!d)
		return -1;
	struct al_reservation *v = NULL;
	size_t cap = 0, len = 0;
	struct dirent *e;
	uint32_t uid;
	while ((e = readdir(d))) {
		if (stale_temp(a, e->d_name))
			unlinkat(a->dirfd, e->d_name, 0);
		if (!uid_of_name(e->d_name, &uid))
			continue;
		xgrow((void **)&v, &cap, len + 1, sizeof(*v));
		memset(&v[len], 0, sizeof(*v));
		int r = check_one(a, e->d_name, uid, &v[len], err);
		if (r < 0) {
			al_reservations_free(v, len + 1);
			return -1;
		}
		if (r > 0)
			len++;
		else
			reservation_clear(&v[len]);
	}
	if (len)
		qsort(v, len, sizeof(*v), cmp_reservation);
	*out = v;
	*n = len;
	return 0;
}

const char *al_field(const struct al_reservation *r, const char *key)
{
	for (size_t i = 0; r->fields && r->fields[i] && r->fields[i + 1]; i += 2)
		if (strcmp(r->fields[i], key) == 0)
			return r->fields[i + 1];
	return NULL;
}

int al_release_dead(struct al_alloc *a, const struct al_reservation *r, cm_err *err)
{
	_cleanup_close_ int lock = lock_uids(a, err);
	if (lock < 0)
		return -1;
	char name[16];
	snprintf(name, sizeof(name), "%u", r->uid);
	struct al_reservation now = {0};
	int dead = check_one(a, name, r->uid, &now, err);
	bool same = dead > 0 && now.rawlen == r->rawlen &&
	            (r->rawlen == 0 || memcmp(now.raw, r->raw, r->rawlen) == 0);
	reservation_clear(&now);
	if (dead < 0)
		return -1;
	/* gone, taken again, or (it cannot be) alive: not the reservation the caller cleaned */
	if (!same)
		return 0;
	return remove_record(a, r->uid, err);
}

void al_reservations_free(struct al_reservation *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++)
		reservation_clear(&r[i]);
	free(r);
}
