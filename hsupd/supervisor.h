/* The supervisor: owns the dynos of one hsup. It takes releases (building each before it is
 * applied), works out which dynos should run (the formation, scaled by the command line and the
 * control API), and reconciles: retires what should not run or runs stale code, starts what is
 * missing. Each dyno is driven by its executor state machine. */
#ifndef HS_SUPERVISOR_H
#define HS_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "drivers/driver.h"
#include "hsupd/executor.h"

struct hs_release;
struct hs_log_sink;
struct hs_log_src;
struct hs_sup;

/* The supervisor's record of one dyno. */
struct hs_dyno {
	struct hs_exec ex;
	struct hs_sup *sup;
	struct hs_dyno *next, *prev;
	char *name, *type;
	int index;
	struct hs_release *release; /* the release it runs */
	char **args, **env;
	int port;
	int color;
	struct hs_dyno_proc *proc;        /* while the driver starts it, and while it runs */
	struct hs_build *build;           /* what it was started with */
	struct hs_log_src *log, *log_err; /* log_err: hsup run's stderr through hsup */
	uv_timer_t timer, stayup;
	uint64_t timer_due;  /* loop time at which the armed timer fires */
	uint64_t started_at; /* loop time of the last start */
	uint64_t exited_at;
	bool has_exit;
	struct hs_exit last_exit;
	int open_handles;
	unsigned long state_key; /* the state directory's name for it while it is recorded; 0 */
};

struct hs_scale {
	char *type;
	int count;
};

enum hs_offer_result {
	HS_OFFER_APPLIED,    /* built and running */
	HS_OFFER_FAILED,     /* the build failed; what ran before runs on */
	HS_OFFER_SUPERSEDED, /* a newer release came before this one was built */
	HS_OFFER_ABANDONED,  /* hsup is shutting down; the release was not applied */
};

typedef void (*hs_offer_cb)(enum hs_offer_result res, const struct hs_release *r, const cm_err *err,
                            void *data);

struct hs_sup_conf {
	uv_loop_t *loop;
	struct hs_driver *driver;
	struct hs_exec_policy policy;
	bool run_mode; /* hsup run: one dyno run.N with run_args, on the user's stdio */
	char **run_args;
	bool oneshot; /* exit when the dynos end, never restart them */
	int start_number;
	bool host_network;       /* dynos share the host's address: give them distinct ports */
	bool explicit_formation; /* start web=2 worker: unnamed types run 0 */
	struct hs_scale *scale;  /* counts from the command line */
	size_t nscale;
	struct hs_log_sink *sink; /* where dyno output goes (start); NULL for run */
	void (*on_done)(struct hs_sup *sup, int exit_code, void *data);
	/* Called when a dyno starts or ends (for the state directory); may be NULL. */
	void (*on_change)(void *data, struct hs_dyno *d);
	/* Called when a release is applied, before its dynos start; may be NULL. */
	void (*on_apply)(const struct hs_release *r, void *data);
	void *data;
};

struct hs_sup *hs_sup_new(const struct hs_sup_conf *conf);
/* Frees the supervisor; call after on_done, when no dyno is left. */
void hs_sup_free(struct hs_sup *sup);

/* Offers a release: it is built on the thread pool while the current dynos run on, then
 * applied. cb (may be NULL) learns the outcome. The supervisor takes a reference. */
void hs_sup_offer(struct hs_sup *sup, struct hs_release *r, hs_offer_cb cb, void *data);
const struct hs_release *hs_sup_release(const struct hs_sup *sup);
/* Stops every dyno (SIGTERM, SIGKILL after the stop timeout) and then calls on_done. A
 * second call sends SIGKILL at once. */
void hs_sup_shutdown(struct hs_sup *sup);

struct hs_dyno *hs_sup_dynos(struct hs_sup *sup);
struct hs_dyno *hs_sup_find(struct hs_sup *sup, const char *name);
/* Whether the dyno's processes run (it has started and not yet ended). */
bool hs_dyno_running(const struct hs_dyno *d);
uint64_t hs_sup_now(const struct hs_sup *sup);

enum hs_sup_action {
	HS_SUP_STOP,
	HS_SUP_RESTART,
};

/* Control: target is a process type ("web") or a dyno ("web.1"). hs_sup_check says whether the
 * action would be taken (< 0 with err: ENOENT when the target matches nothing, EPERM when it
 * cannot be done), so that a request naming several targets is refused whole or done whole.
 * Stopped dynos stay listed (state "stopped") until restarted or scaled away; in a oneshot
 * hsup (run) they end. Each action returns the number of dynos affected, or < 0 as the
 * check. */
int hs_sup_check(struct hs_sup *sup, enum hs_sup_action action, const char *target, cm_err *err);
int hs_sup_stop(struct hs_sup *sup, const char *target, void (*each)(struct hs_dyno *, void *),
                void *data, cm_err *err);
int hs_sup_restart(struct hs_sup *sup, const char *target, cm_err *err);
int hs_sup_scale(struct hs_sup *sup, const char *type, int count, cm_err *err);
/* The number of dynos of type that should run now. */
int hs_sup_desired(const struct hs_sup *sup, const char *type);
/* Whether release r can run beside the current formation: each dyno on the host network needs
 * a port of its own. */
int hs_sup_check_release(const struct hs_sup *sup, const struct hs_release *r, cm_err *err);

/* Takes over the dyno name that an earlier hsup started (record: from the driver's record op)
 * to stop it: it is listed as retiring, gets SIGTERM and SIGKILL after the stop timeout, and a
 * dyno of that name starts only once it is gone. 1 if adopted, 0 if nothing of it was left. */
int hs_sup_adopt(struct hs_sup *sup, struct hs_driver *drv, const char *name, json_t *record,
                 cm_err *err);

/* Writes the state of every dyno to stderr (SIGUSR1). */
void hs_sup_dump(struct hs_sup *sup);

/* What the release source says of the current release (e.g. that `loaded` could not be
 * written); NULL when all is well. Shown by the control API and on SIGUSR1. */
void hs_sup_set_release_note(struct hs_sup *sup, const char *note); /* copies; NULL clears */
const char *hs_sup_release_note(const struct hs_sup *sup);

/* hsup run: from the next start on, unless the dyno gets the terminal, its stdout and stderr
 * pass through hsup, through out and err (lines as written, without a prefix), instead of
 * being the user's own (for logplex). */
void hs_sup_pipe_run(struct hs_sup *sup, struct hs_log_sink *out, struct hs_log_sink *err);

/* A part of hsup beside the dynos (the Platform API poller, the logplex forwarder) reports its
 * state through the control API as GET /NAME (name: a static string; fn returns a new
 * reference). Adding a name again replaces it. */
typedef json_t *(*hs_sup_report_fn)(void *data);
struct hs_sup_report {
	const char *name;
	hs_sup_report_fn fn;
	void *data;
};
void hs_sup_add_report(struct hs_sup *sup, const char *name, hs_sup_report_fn fn, void *data);
/* The report's JSON (a new reference), or NULL when no part reports under name. */
json_t *hs_sup_report(struct hs_sup *sup, const char *name);

#endif
