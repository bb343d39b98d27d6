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

struct hs_statedir {
	uv_loop_t *loop;
	char *path;
	int dirfd, lockfd;
	char *name;   /* "ctl-<dev>-<ino>.json" */
	char *source; /* "the control directory /etc/hsup", "app myapp on https://..." */
	char boot_id[64];
	json_t *leftovers;
	struct hs_sup *sup;
	char *driver;
	uv_timer_t write;
	bool timer_open;
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

/* The record a dead hsup left, if it is of this boot (after a reboot its pids mean nothing). */
static void load_leftovers(struct hs_statedir *sd)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	cm_err err;
	struct stat st;
	if (fstatat(sd->dirfd, sd->name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
	    cm_read_file_at(sd->dirfd, sd->name, MAX_STATE, &text, &len, &err) < 0)
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
	sd->lockfd = -1;
	sd->name = xasprintf("%s.json", key);
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

static json_t *dynos_json(struct hs_statedir *sd)
{
	json_t *list = json_array();
	for (struct hs_dyno *d = hs_sup_dynos(sd->sup); d; d = d->next) {
		json_t *rec = d->proc && d->proc->driver->ops->record
		                  ? d->proc->driver->ops->record(d->proc)
		                  : NULL;
		if (rec)
			json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "name", d->name,
			                                      "driver", d->proc->driver->ops->name,
			                                      "record", rec));
	}
	return list;
}

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
	if (text &&
	    cm_write_file_replace_at(sd->dirfd, sd->name, text, strlen(text), 0600, &err) < 0)
		hs_log_system("state directory: %s", err.msg);
}

static void on_write(uv_timer_t *t)
{
	write_state(t->data);
}

void hs_statedir_track(struct hs_statedir *sd, struct hs_sup *sup, const char *driver)
{
	sd->sup = sup;
	sd->driver = xstrdup(driver);
	uv_timer_init(sd->loop, &sd->write);
	sd->write.data = sd;
	sd->timer_open = true;
	write_state(sd);
}

void hs_statedir_changed(void *data)
{
	struct hs_statedir *sd = data;
	if (sd->timer_open && !uv_is_active((uv_handle_t *)&sd->write))
		uv_timer_start(&sd->write, on_write, 0, 0); /* once per loop iteration at most */
}

static void free_statedir(struct hs_statedir *sd)
{
	if (sd->lockfd >= 0)
		close(sd->lockfd); /* the lock file stays: removing it would let two hsups lock */
	if (sd->dirfd >= 0)
		close(sd->dirfd);
	json_decref(sd->leftovers);
	free(sd->path);
	free(sd->name);
	free(sd->source);
	free(sd->driver);
	free(sd);
}

static void on_timer_closed(uv_handle_t *h)
{
	free_statedir(h->data);
}

void hs_statedir_close(struct hs_statedir *sd)
{
	if (sd->sup && sd->dirfd >= 0)
		unlinkat(sd->dirfd, sd->name, 0);
	if (!sd->timer_open)
		return free_statedir(sd);
	uv_timer_stop(&sd->write);
	uv_close((uv_handle_t *)&sd->write, on_timer_closed);
}
