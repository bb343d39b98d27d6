#define _GNU_SOURCE
#include "hsupd/statedir.h"
#include "hsupd/logs.h"
#include "hsupd/supervisor.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/proc.h"
#include "common/xalloc.h"

#include <errno.h>
#include <nettle/md5.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_STATE (16 * 1024 * 1024)
/* The journal is folded into a new record once it has this many lines more than twice the
 * dynos it describes: what a change costs stays the same however many dynos run. */
#define JOURNAL_SLACK 64

struct hs_statedir {
	uv_loop_t *loop;
	char *path;
	int dirfd, lockfd;
	char *name;  /* "ctl-<dev>-<ino>.json": the record */
	char *jname; /* "ctl-<dev>-<ino>.log": the changes since the record was written */
	int jfd;     /* the journal, open for appending while dynos are tracked */
	size_t jlines, live;
	unsigned long next_key;
	char *source; /* "the control directory /etc/hsup", "app myapp on https://..." */
	char boot_id[64];
	json_t *leftovers;
	struct hs_sup *sup;
	char *driver;
};

char *hs_statedir_path(void)
{
	const char *env = getenv("HSUP_STATE_DIR");
	if (env && *env)
		return xstrdup(env);
	if (geteuid() == 0)
		return xstrdup("/run/hsup");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	if (xdg && *xdg)
		return xasprintf("%s/hsup", xdg);
	return xasprintf("/tmp/hsup-%u", (unsigned)geteuid());
}

/* The directory says which processes hsup may signal: it must be ours alone. */
static int open_dir(const char *path, cm_err *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return cm_err_sys(err, "state directory %s", path);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cm_err_sys(err, "state directory %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
		close(fd);
		return cm_err_set(err, EPERM,
		                  "state directory %s must belong to uid %u and be writable by "
		                  "nobody else (set HSUP_STATE_DIR to another)",
		                  path, (unsigned)geteuid());
	}
	return fd;
}

static void read_boot_id(char *out, size_t n)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	cm_err err;
	out[0] = '\0';
	if (cm_read_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", 256, &text, &len, &err) ==
	    0)
		snprintf(out, n, "%.*s", (int)strcspn(text, "\n"), text);
}

/* Who holds the lock, for the message: the pid in the record it keeps. */
static int holder_pid(struct hs_statedir *sd)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	cm_err err;
	if (cm_read_file_at(sd->dirfd, sd->name, MAX_STATE, &text, &len, &err) < 0)
		return 0;
	json_t *doc = json_loadb(text, len, 0, NULL);
	int pid = (int)json_integer_value(json_object_get(doc, "pid"));
	json_decref(doc);
	return pid;
}

static int take_lock(struct hs_statedir *sd, const char *key, cm_err *err)
{
	_cleanup_free_ char *lockname = xasprintf("%s.lock", key);
	sd->lockfd = openat(sd->dirfd, lockname, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (sd->lockfd < 0)
		return cm_err_sys(err, "%s/%s", sd->path, lockname);
	if (flock(sd->lockfd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return cm_err_sys(err, "lock %s/%s", sd->path, lockname);
	int pid = holder_pid(sd);
	return cm_err_set(err, EBUSY,
	                  "another hsup (pid %d) is supervising %s: two would run every dyno "
	                  "twice",
	                  pid, sd->source);
}

/* Applies one journal line to the dynos by key: a line with a record sets its key's entry,
 * one without removes it. A line that does not parse (the last one, cut by a kill during
 * its write) is skipped. */
static void apply_line(json_t *bykey, const char *line, size_t len)
{
	json_t *e = json_loadb(line, len, 0, NULL);
	json_t *key = json_object_get(e, "key");
	char k[32];
	if (json_is_integer(key)) {
		snprintf(k, sizeof(k), "%" JSON_INTEGER_FORMAT, json_integer_value(key));
		if (json_object_get(e, "record"))
			json_object_set(bykey, k, e);
		else
			json_object_del(bykey, k);
	}
	json_decref(e);
}

/* A regular file of the state directory, whole (not through a link); NULL if there is none. */
static char *read_state_file(struct hs_statedir *sd, const char *name, size_t *len)
{
	char *text = NULL;
	cm_err err;
	struct stat st;
	if (fstatat(sd->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
	    cm_read_file_at(sd->dirfd, name, MAX_STATE, &text, len, &err) < 0)
		return NULL;
	return text;
}

/* The dynos of the record with the journal's changes applied, in the record's array. */
static void replay_journal(struct hs_statedir *sd, json_t *doc)
{
	size_t len;
	_cleanup_free_ char *text = read_state_file(sd, sd->jname, &len);
	if (!text)
		return;
	json_t *bykey = json_object(), *v;
	size_t i, n = 0;
	char k[32];
	json_array_foreach (json_object_get(doc, "dynos"), i, v) {
		json_t *key = json_object_get(v, "key");
		if (json_is_integer(key))
			snprintf(k, sizeof(k), "%" JSON_INTEGER_FORMAT, json_integer_value(key));
		else
			snprintf(k, sizeof(k), "unkeyed.%zu", n++);
		json_object_set(bykey, k, v);
	}
	for (char *p = text, *end = text + len; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		apply_line(bykey, p, l);
		p += l + 1;
	}
	json_t *dynos = json_array();
	const char *key;
	json_object_foreach (bykey, key, v)
		json_array_append(dynos, v);
	json_decref(bykey);
	json_object_set_new(doc, "dynos", dynos);
}

/* The record a dead hsup left, if it is of this boot (after a reboot its pids mean nothing),
 * with its journal's changes. */
static void load_leftovers(struct hs_statedir *sd)
{
	size_t len;
	_cleanup_free_ char *text = read_state_file(sd, sd->name, &len);
	if (!text)
		return;
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, 0, &jerr);
	const char *boot = json_string_value(json_object_get(doc, "boot_id"));
	if (!doc || !boot || strcmp(boot, sd->boot_id) != 0 ||
	    !json_is_array(json_object_get(doc, "dynos"))) {
		if (!doc)
			hs_log_system("%s/%s: unreadable (%s); ignored", sd->path, sd->name,
			              jerr.text);
		json_decref(doc);
		return;
	}
	replay_journal(sd, doc);
	sd->leftovers = doc;
}

char *hs_statedir_ctl_key(const char *ctl_dir, cm_err *err)
{
	struct stat st;
	if (stat(ctl_dir, &st) < 0)
		return cm_err_sys(err, "HSUP_CONTROL_DIR %s", ctl_dir), NULL;
	return xasprintf("ctl-%llx-%llx", (unsigned long long)st.st_dev,
	                 (unsigned long long)st.st_ino);
}

char *hs_statedir_api_key(const char *api_url, const char *app)
{
	struct md5_ctx ctx;
	uint8_t digest[MD5_DIGEST_SIZE];
	char hex[2 * MD5_DIGEST_SIZE + 1];
	md5_init(&ctx);
	md5_update(&ctx, strlen(api_url) + 1, (const uint8_t *)api_url); /* with its NUL */
	md5_update(&ctx, strlen(app), (const uint8_t *)app);
	md5_digest(&ctx, sizeof(digest), digest);
	for (size_t i = 0; i < sizeof(digest); i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	return xasprintf("api-%s", hex);
}

int hs_statedir_open(uv_loop_t *loop, const char *key, const char *source, struct hs_statedir **out,
                     cm_err *err)
{
	struct hs_statedir *sd = xcalloc(1, sizeof(*sd));
	sd->loop = loop;
	sd->path = hs_statedir_path();
	sd->source = xstrdup(source);
	sd->lockfd = sd->jfd = -1;
	sd->name = xasprintf("%s.json", key);
	sd->jname = xasprintf("%s.log", key);
	read_boot_id(sd->boot_id, sizeof(sd->boot_id));
	sd->dirfd = open_dir(sd->path, err);
	if (sd->dirfd < 0 || take_lock(sd, key, err) < 0) {
		hs_statedir_close(sd);
		return -1;
	}
	load_leftovers(sd);
	*out = sd;
	return 0;
}

json_t *hs_statedir_leftovers(struct hs_statedir *sd)
{
	return sd->leftovers;
}

/* A dyno's entry: its key, name, driver and the driver's record; NULL if it has no record. */
static json_t *dyno_entry(struct hs_statedir *sd, struct hs_dyno *d)
{
	json_t *rec =
	    d->proc && d->proc->driver->ops->record ? d->proc->driver->ops->record(d->proc) : NULL;
	if (!rec)
		return NULL;
	if (!d->state_key) {
		d->state_key = ++sd->next_key;
		sd->live++;
	}
	return json_pack("{s:I, s:s, s:s, s:o}", "key", (json_int_t)d->state_key, "name", d->name,
	                 "driver", d->proc->driver->ops->name, "record", rec);
}

static json_t *dynos_json(struct hs_statedir *sd)
{
	json_t *list = json_array();
	sd->live = 0;
	for (struct hs_dyno *d = hs_sup_dynos(sd->sup); d; d = d->next) {
		d->state_key = 0;
		json_t *e = dyno_entry(sd, d);
		if (e)
			json_array_append_new(list, e);
	}
	return list;
}

/* The whole record, written atomically; then the journal starts again empty (a kill between
 * the two leaves lines the record already holds: replaying them changes nothing). */
static void write_state(struct hs_statedir *sd)
{
	unsigned long long start = 0;
	char st;
	cm_proc_stat(getpid(), &start, &st);
	json_t *doc = json_pack("{s:i, s:s, s:i, s:I, s:s, s:o}", "version", 1, "boot_id",
	                        sd->boot_id, "pid", (int)getpid(), "start_time", (json_int_t)start,
	                        "source", sd->source, "dynos", dynos_json(sd));
	_cleanup_free_ char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	cm_err err;
	/* not fsynced: the state of running processes means nothing after a reboot */
	if (!text ||
	    cm_write_file_replace_at(sd->dirfd, sd->name, text, strlen(text), 0600, &err) < 0) {
		hs_log_system("state directory: %s", text ? err.msg : "out of memory");
		return;
	}
	if (sd->jfd >= 0 && ftruncate(sd->jfd, 0) < 0)
		hs_log_system("state directory: truncate %s/%s: %s", sd->path, sd->jname,
		              strerror(errno));
	sd->jlines = 0;
}

void hs_statedir_track(struct hs_statedir *sd, struct hs_sup *sup, const char *driver)
{
	sd->sup = sup;
	sd->driver = xstrdup(driver);
	sd->jfd = openat(sd->dirfd, sd->jname,
	                 O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (sd->jfd < 0)
		hs_log_system(
		    "state directory: open %s/%s: %s; the whole record is written at each "
		    "change",
		    sd->path, sd->jname, strerror(errno));
	write_state(sd);
}

/* One line in the journal: the dyno's entry, or its key alone once it has none. Written at
 * once, in the turn of the loop that started or ended the dyno. */
void hs_statedir_dyno_changed(struct hs_statedir *sd, struct hs_dyno *d)
{
	if (!sd->sup)
		return; /* not tracking yet: the first record will hold it */
	unsigned long key = d->state_key;
	json_t *e = dyno_entry(sd, d);
	if (!e && !key)
		return;
	if (!e) {
		e = json_pack("{s:I}", "key", (json_int_t)key);
		d->state_key = 0;
		sd->live--;
	}
	_cleanup_free_ char *line = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	size_t len = line ? strlen(line) : 0;
	if (line)
		line[len++] = '\n'; /* over the NUL: written by length */
	if (!line || sd->jfd < 0 || write(sd->jfd, line, len) != (ssize_t)len ||
	    ++sd->jlines > JOURNAL_SLACK + 2 * sd->live)
		write_state(sd);
}

void hs_statedir_close(struct hs_statedir *sd)
{
	if (sd->sup && sd->dirfd >= 0) {
		unlinkat(sd->dirfd, sd->name, 0);
		unlinkat(sd->dirfd, sd->jname, 0);
	}
	if (sd->jfd >= 0)
		close(sd->jfd);
	if (sd->lockfd >= 0)
		close(sd->lockfd); /* the lock file stays: removing it would let two hsups lock */
	if (sd->dirfd >= 0)
		close(sd->dirfd);
	json_decref(sd->leftovers);
	free(sd->path);
	free(sd->name);
	free(sd->jname);
	free(sd->source);
	free(sd->driver);
	free(sd);
}
