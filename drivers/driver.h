/* The dyno driver interface. A driver builds a release (blocking work, run on the thread pool)
 * and starts, signals and watches dynos on the daemon's event loop. Starting may take a while (a
 * container): a driver says at once that a dyno runs, or later, through a callback, that it
 * runs or why it could not start. Every driver implements struct hs_driver_ops;
 * hs_driver_lookup() finds one by its command-line name. */
#ifndef HS_DRIVER_H
#define HS_DRIVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "common/err.h"
#include "common/spawn.h"

struct hs_driver;
struct hs_dyno_proc;

/* What building a release made for its dynos (an unpacked slug, a reference to a mounted
 * stack). Counted: the release holds a reference and each dyno started from it one more, so it
 * outlives a release replaced while its dynos still stop; when the last goes, the driver's
 * free_build runs on the loop (and queues any blocking cleanup on the thread pool). */
struct hs_build {
	int refs;
	struct hs_driver *driver;
};

struct hs_build *hs_build_ref(struct hs_build *b);
void hs_build_unref(struct hs_build *b);

/* What a driver builds: the parts of a release it needs. */
struct hs_release_info {
	long long version;
	const char *app;   /* the application's name, or "" */
	const char *slug;  /* a path, file:// or http(s):// URL of the slug, or "" */
	const char *stack; /* the stack's name, or "" */
};

/* What a driver needs to start one dyno. */
struct hs_dyno_spec {
	const char *name;       /* "web.1" */
	const char *type;       /* "web" */
	char *const *args;      /* command words; run as bash -c "<args joined>" */
	char *const *env;       /* the dyno's complete environment, KEY=VALUE */
	struct hs_build *build; /* what building its release made, or NULL */
	/* its size's limits (drivers that isolate): memory past which it is warned (R14) and
	 * killed (R15), CPU shares, processes */
	uint64_t memory_quota, memory_limit;
	int64_t cpu_shares, pids_limit;
	int stdio[3];    /* fds for its stdin, stdout and stderr */
	bool foreground; /* give it the terminal on stdin (hsup run) */
	bool user_stdin; /* stdin is the user's (hsup run): a driver that cannot hand the dyno
	                  * the fd relays it */
	int port;        /* its $PORT */
};

/* How a dyno ended; start_failed with reason when it never ran; status_unknown when it was
 * not our child (adopted from an earlier hsup), so its status went elsewhere; oom when it was
 * killed for passing its memory limit. */
struct hs_exit {
	struct cm_exit status;
	bool start_failed;
	bool status_unknown;
	bool oom;
	char reason[256];
};

/* Called once per started dyno, on the loop, when every process of the dyno is gone. */
typedef void (*hs_driver_exit_cb)(struct hs_dyno_proc *proc, const struct hs_exit *how, void *data);

/* What a driver tells of a dyno it starts, on the loop. */
struct hs_dyno_cbs {
	/* Only when start returned 1: the dyno runs (err NULL), or it could not be started (err
	 * set: no exit follows, and the proc is released). */
	void (*started)(struct hs_dyno_proc *proc, const cm_err *err, void *data);
	hs_driver_exit_cb exited;
};

struct hs_driver_conf {
	uv_loop_t *loop;
	double stop_timeout;               /* seconds a dyno gets between SIGTERM and SIGKILL */
	char **binds;                      /* --bind host[:container], for drivers that isolate */
	const struct rlimit *child_nofile; /* RLIMIT_NOFILE for dynos (hsup raises its own) */
	const char *tracking;              /* auto, cgroup-v2, cgroup-v1 or pgroup */
	const char *state_dir;             /* hsup's state directory ($HSUP_STATE_DIR) */
	const char *data_dir;              /* stacks, slugs, dynos' files ($HSUP_DATA_DIR) */
	const char *stack_manifest;        /* $HSUP_STACK_MANIFEST, or NULL for data_dir's */
	const char *app_path;              /* abspath: where the release goes ($HSUP_APP_PATH) */
	/* What names this hsup's state (its release source, in its state directory), or NULL
	 * (hsup run): the docker driver labels its containers with it. */
	const char *owner;
	/* Where a driver says what the user should know (hsup's own log). */
	void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

struct hs_driver_ops {
	const char *name;
	/* Its dynos see HOME=/app and the standard PATH (Heroku's), not hsup's own. */
	bool app_env;
	/* Each of its dynos has an address of its own: all may listen on the same $PORT. */
	bool own_address;
	int (*create)(const struct hs_driver_conf *conf, struct hs_driver **out, cm_err *err);
	void (*destroy)(struct hs_driver *d);
	/* Prepares a release; runs on the thread pool, so it may block. *out: what its dynos need
	 * (NULL if nothing). A newer release may set *cancel meanwhile: a long build may give up,
	 * its product would be thrown away. */
	int (*build)(struct hs_driver *d, const struct hs_release_info *r,
	             const volatile bool *cancel, struct hs_build **out, cm_err *err);
	/* Frees a build product whose last reference went (on the loop). NULL if none is made. */
	void (*free_build)(struct hs_build *b);
	/* Starts a dyno, *out set: 0 when it runs, 1 when starting goes on (cbs->started follows),
	 * < 0 when it could not start (no proc). The supervisor signals a dyno only once it runs.
	 */
	int (*start)(struct hs_driver *d, const struct hs_dyno_spec *spec,
	             const struct hs_dyno_cbs *cbs, void *data, struct hs_dyno_proc **out,
	             cm_err *err);
	/* Sends sig to every process of the dyno. */
	int (*signal)(struct hs_dyno_proc *p, int sig, cm_err *err);
	/* Frees a proc after its exit callback ran. */
	void (*release)(struct hs_dyno_proc *p);
	/* What a later hsup needs to find the dyno's processes again (owned), or NULL. */
	json_t *(*record)(struct hs_dyno_proc *p);
	/* Takes over the processes of a dyno an earlier hsup started, from its record, to watch
	 * and stop them: 1 with *out set, 0 if none of them is left, < 0 on error. May be NULL. */
	int (*adopt)(struct hs_driver *d, json_t *record, hs_driver_exit_cb cb, void *data,
	             struct hs_dyno_proc **out, cm_err *err);
};

/* Common head of every driver and proc; drivers embed these first. */
struct hs_driver {
	const struct hs_driver_ops *ops;
	struct hs_driver_conf conf;
};

struct hs_dyno_proc {
	struct hs_driver *driver;
	pid_t pid;   /* the dyno's main process, as seen from the host */
	char ip[64]; /* the dyno's own address (bare, no mask) */
};

const struct hs_driver_ops *hs_driver_lookup(const char *name);
/* "simple, abspath, ..." for messages. */
const char *hs_driver_names(void);

extern const struct hs_driver_ops hs_driver_simple;

#endif
