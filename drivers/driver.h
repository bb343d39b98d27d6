/* The dyno driver interface. A driver builds a release (blocking work, run on the thread pool)
 * and starts, signals and watches dynos on the daemon's event loop. Every driver implements
 * struct hs_driver_ops; hs_driver_lookup() finds one by its command-line name. */
#ifndef HS_DRIVER_H
#define HS_DRIVER_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "common/err.h"
#include "common/spawn.h"

struct hs_release;
struct hs_driver;
struct hs_dyno_proc;

/* What a driver needs to start one dyno. */
struct hs_dyno_spec {
	const char *name;  /* "web.1" */
	const char *type;  /* "web" */
	char *const *args; /* command words; run as bash -c "<args joined>" */
	char *const *env;  /* the dyno's complete environment, KEY=VALUE */
	const struct hs_release *release;
	int stdio[3];    /* fds for its stdin, stdout and stderr */
	bool foreground; /* give it the terminal on stdin (hsup run) */
	int port;        /* its $PORT */
};

/* How a dyno ended; start_failed with reason when it never ran; status_unknown when it was
 * not our child (adopted from an earlier hsup), so its status went elsewhere. */
struct hs_exit {
	struct cm_exit status;
	bool start_failed;
	bool status_unknown;
	char reason[256];
};

/* Called once per started dyno, on the loop, when every process of the dyno is gone. */
typedef void (*hs_driver_exit_cb)(struct hs_dyno_proc *proc, const struct hs_exit *how, void *data);

struct hs_driver_conf {
	uv_loop_t *loop;
	double stop_timeout;               /* seconds a dyno gets between SIGTERM and SIGKILL */
	char **binds;                      /* --bind host[:container], for drivers that isolate */
	const struct rlimit *child_nofile; /* RLIMIT_NOFILE for dynos (hsup raises its own) */
	const char *tracking;              /* auto, cgroup-v2, cgroup-v1 or pgroup */
	/* Where a driver says what the user should know (hsup's own log). */
	void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

struct hs_driver_ops {
	const char *name;
	int (*create)(const struct hs_driver_conf *conf, struct hs_driver **out, cm_err *err);
	void (*destroy)(struct hs_driver *d);
	/* Prepares a release; runs on the thread pool, so it may block. */
	int (*build)(struct hs_driver *d, const struct hs_release *r, cm_err *err);
	int (*start)(struct hs_driver *d, const struct hs_dyno_spec *spec, hs_driver_exit_cb cb,
	             void *data, struct hs_dyno_proc **out, cm_err *err);
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
