#define _GNU_SOURCE
#include "hsupd/supervisor.h"
#include "hsupd/dynosize.h"
#include "hsupd/env.h"
#include "hsupd/logs.h"
#include "hsupd/release.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_QUANTITY 100000
#define START_BATCH  64                 /* dynos started per loop iteration at most... */
#define BATCH_NS     (50 * 1000 * 1000) /* ...and for this long at most */

struct hs_sup {
	struct hs_sup_conf conf;
	uv_loop_t *loop;
	struct hs_release *current;
	/* A release being built, and the newest one waiting for that build to end. */
	struct hs_release *building, *pending;
	hs_offer_cb building_cb, pending_cb;
	void *building_data, *pending_data;
	uv_work_t work;
	int build_rc;
	cm_err build_err;
	struct hs_build *built;     /* what the build made */
	volatile bool build_cancel; /* a newer release came: the build's result is not wanted */
	struct hs_scale *scale;
	size_t nscale;
	char **holds; /* types and dynos stopped through the control API */
	size_t nholds;
	struct hs_dyno *dynos, *tail;
	uv_timer_t kick; /* reconciles once after a burst of changes */
	/* Goes on with a start cut in batches in the next turn of the loop, after its I/O: a
	 * timer restarted from its own callback would run again before any (libuv 1.44). */
	uv_idle_t more;
	int open_handles;
	bool shutting_down, started_once, done;
	bool reconcile_more; /* a batch of starts was cut short... */
	size_t resume_type;  /* ...here */
	int resume_k;
	int exit_code;
	bool has_exit_code;
	int devnull;
	unsigned colors;
	char *release_note;
	struct hs_sup_report reports[4];
	size_t nreports;
	struct hs_log_sink *run_out, *run_err; /* hs_sup_pipe_run */
};

static void kick(struct hs_sup *sup);
static void on_more(uv_idle_t *h);

/* What runs changed: whoever records it (the state directory) hears of it. */
static void changed(struct hs_dyno *d)
{
	if (d->sup->conf.on_change)
		d->sup->conf.on_change(d->sup->conf.data, d);
}

/* ---- the executor's actions, for real ---- */

static struct hs_dyno *dyno_of(struct hs_exec *ex)
{
	return ex->owner;
}

static bool want_foreground(void)
{
	return isatty(0) && tcgetpgrp(0) == getpgrp();
}

static void on_dyno_exit(struct hs_dyno_proc *proc, const struct hs_exit *how, void *data);
static void on_dyno_started(struct hs_dyno_proc *proc, const cm_err *err, void *data);

static const struct hs_dyno_cbs dyno_cbs = {.started = on_dyno_started, .exited = on_dyno_exit};

static void dyno_runs(struct hs_dyno *d)
{
	d->started_at = uv_now(d->sup->loop);
	changed(d); /* recorded before it is said to run */
	hs_log_info("%s started (pid %d)", d->name, (int)d->proc->pid);
}

static int open_output_pipe(struct hs_dyno *d, int fds[2], cm_err *err)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return cm_err_sys(err, "%s: pipe", d->name);
	return 0;
}

static void record_start_failure(struct hs_dyno *d, const cm_err *err)
{
	d->has_exit = true;
	d->exited_at = uv_now(d->sup->loop);
	d->last_exit = (struct hs_exit){.status = {.code = 127}, .start_failed = true};
	snprintf(d->last_exit.reason, sizeof(d->last_exit.reason), "%s", err->msg);
	hs_log_system("%s failed to start: %s", d->name, err->msg);
}

/* A dyno's stdio: under start, its output in one pipe read by hsup; under hsup run, the
 * user's, or, when run's output passes through hsup (logplex), stdout and stderr in a pipe
 * each, unless it gets the terminal. */
static int dyno_stdio(struct hs_dyno *d, struct hs_dyno_spec *spec, int out[2], int err_out[2],
                      cm_err *err)
{
	struct hs_sup *sup = d->sup;
	if (sup->conf.run_mode) {
		spec->foreground = want_foreground();
		spec->user_stdin = true;
		if (spec->foreground || !sup->run_out)
			return 0;
		if (open_output_pipe(d, out, err) < 0 || open_output_pipe(d, err_out, err) < 0)
			return -1;
		spec->stdio[1] = out[1];
		spec->stdio[2] = err_out[1];
		return 0;
	}
	if (open_output_pipe(d, out, err) < 0)
		return -1;
	spec->stdio[0] = sup->devnull;
	spec->stdio[1] = spec->stdio[2] = out[1];
	return 0;
}

static void close_pipe(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
}

static void open_logs(struct hs_dyno *d, int out, int err_out)
{
	struct hs_sup *sup = d->sup;
	if (sup->conf.run_mode && out >= 0) {
		d->log = hs_log_src_open_raw(sup->run_out, d->name, out);
		d->log_err = hs_log_src_open_raw(sup->run_err, d->name, err_out);
	} else if (out >= 0) {
		d->log = hs_log_src_open(sup->conf.sink, d->name, d->color, out);
	}
}

static int dyno_spawn(struct hs_exec *ex)
{
	struct hs_dyno *d = dyno_of(ex);
	struct hs_sup *sup = d->sup;
	cm_err err;
	int out[2] = {-1, -1}, err_out[2] = {-1, -1};
	struct hs_dyno_spec spec = {
	    .name = d->name,
	    .type = d->type,
	    .args = d->args,
	    .env = d->env,
	    .stdio = {0, 1, 2},
	    .port = d->port,
	};
	if (dyno_stdio(d, &spec, out, err_out, &err) < 0) {
		close_pipe(out);
		close_pipe(err_out);
		record_start_failure(d, &err);
		return -1;
	}
	spec.build = d->release->build;
	const struct hs_process_type *pt =
	    sup->conf.run_mode ? NULL : hs_release_find(d->release, d->type);
	const struct hs_dyno_size *size = pt ? pt->size : hs_dyno_size_default();
	spec.memory_quota = size->memory_quota;
	spec.memory_limit = size->memory_limit;
	spec.cpu_shares = size->cpu_shares;
	spec.pids_limit = size->pids_limit;
	int rc =
	    sup->conf.driver->ops->start(sup->conf.driver, &spec, &dyno_cbs, d, &d->proc, &err);
	close_pipe((int[2]){out[1], err_out[1]});
	if (rc < 0) {
		close_pipe((int[2]){out[0], err_out[0]});
		record_start_failure(d, &err);
		return -1;
	}
	/* the dyno holds what its release's build made for as long as it runs */
	d->build = hs_build_ref(spec.build);
	open_logs(d, out[0], err_out[0]);
	if (rc == 0)
		dyno_runs(d);
	return rc;
}

/* A dyno the driver is done with: its output read to the end, its proc and build let go. */
static void let_go(struct hs_dyno *d)
{
	if (d->log)
		hs_log_src_finish(d->log);
	if (d->log_err)
		hs_log_src_finish(d->log_err);
	d->log = d->log_err = NULL;
	d->proc->driver->ops->release(d->proc);
	d->proc = NULL;
	hs_build_unref(d->build);
	d->build = NULL;
}

static void on_dyno_started(struct hs_dyno_proc *proc, const cm_err *err, void *data)
{
	struct hs_dyno *d = data;
	(void)proc;
	if (!err) {
		dyno_runs(d);
		hs_exec_feed(&d->ex, HS_IN_STARTED);
		return;
	}
	record_start_failure(d, err);
	let_go(d);
	hs_exec_start_failed(&d->ex);
}

static void dyno_signal(struct hs_exec *ex, int sig)
{
	struct hs_dyno *d = dyno_of(ex);
	cm_err err;
	if (sig == SIGKILL && d->proc)
		hs_log_system("%s did not stop within %.1fs: sending SIGKILL", d->name,
		              (double)d->ex.policy->stop_timeout_ms / 1000);
	if (d->proc && d->proc->driver->ops->signal(d->proc, sig, &err) < 0)
		hs_log_system("%s: %s", d->name, err.msg);
}

static void on_timer(uv_timer_t *t)
{
	hs_exec_timer_fired(&((struct hs_dyno *)t->data)->ex);
}

static void on_stayup(uv_timer_t *t)
{
	hs_exec_feed(&((struct hs_dyno *)t->data)->ex, HS_IN_STAYED_UP);
}

static void dyno_arm_timer(struct hs_exec *ex, uint64_t ms)
{
	struct hs_dyno *d = dyno_of(ex);
	d->timer_due = uv_now(d->sup->loop) + ms;
	uv_timer_start(&d->timer, on_timer, ms, 0);
}

static void dyno_cancel_timer(struct hs_exec *ex)
{
	struct hs_dyno *d = dyno_of(ex);
	d->timer_due = 0;
	uv_timer_stop(&d->timer);
}

static void dyno_arm_stayup(struct hs_exec *ex, uint64_t ms)
{
	uv_timer_start(&dyno_of(ex)->stayup, on_stayup, ms, 0);
}

static void dyno_cancel_stayup(struct hs_exec *ex)
{
	uv_timer_stop(&dyno_of(ex)->stayup);
}

static void dyno_free(struct hs_dyno *d)
{
	hs_build_unref(d->build);
	hs_release_unref(d->release);
	cm_strv_free(d->args);
	cm_strv_free(d->env);
	free(d->name);
	free(d->type);
	free(d);
}

static void on_dyno_handle_closed(uv_handle_t *h)
{
	struct hs_dyno *d = h->data;
	if (--d->open_handles == 0)
		dyno_free(d);
}

static void unlink_dyno(struct hs_sup *sup, struct hs_dyno *d)
{
	if (d->prev)
		d->prev->next = d->next;
	else
		sup->dynos = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		sup->tail = d->prev;
}

static void record_exit_code(struct hs_sup *sup, struct hs_dyno *d)
{
	if (!sup->conf.oneshot || !d->has_exit || (sup->has_exit_code && sup->exit_code != 0))
		return;
	sup->exit_code = d->last_exit.status.code;
	sup->has_exit_code = true;
}

static void dyno_complete(struct hs_exec *ex)
{
	struct hs_dyno *d = dyno_of(ex);
	struct hs_sup *sup = d->sup;
	record_exit_code(sup, d);
	unlink_dyno(sup, d);
	uv_close((uv_handle_t *)&d->timer, on_dyno_handle_closed);
	uv_close((uv_handle_t *)&d->stayup, on_dyno_handle_closed);
	kick(sup);
}

static const struct hs_exec_ops dyno_ops = {
    .spawn = dyno_spawn,
    .signal = dyno_signal,
    .arm_timer = dyno_arm_timer,
    .cancel_timer = dyno_cancel_timer,
    .arm_stayup = dyno_arm_stayup,
    .cancel_stayup = dyno_cancel_stayup,
    .complete = dyno_complete,
};

static void describe_exit(const struct hs_exit *how, char *buf, size_t n)
{
	if (how->status_unknown)
		snprintf(buf, n, "ended (it was not this hsup's child: its status is unknown)");
	else if (how->start_failed)
		snprintf(buf, n, "failed to start (%s)", how->reason);
	else if (how->status.signal)
		snprintf(buf, n, "was killed by signal %d (%s)%s", how->status.signal,
		         strsignal(how->status.signal),
		         how->oom ? " for passing its memory limit" : "");
	else
		snprintf(buf, n, "exited with code %d", how->status.code);
}

static void on_dyno_exit(struct hs_dyno_proc *proc, const struct hs_exit *how, void *data)
{
	struct hs_dyno *d = data;
	struct hs_sup *sup = d->sup;
	char what[128];
	(void)proc;
	d->has_exit = true;
	d->last_exit = *how;
	d->exited_at = uv_now(sup->loop);
	let_go(d);
	describe_exit(how, what, sizeof(what));
	changed(d);
	hs_exec_exited(&d->ex);
	if (d->ex.state == HS_EXEC_BACKOFF && d->ex.backoff_ms == 0)
		hs_log_system("%s %s; restarting", d->name, what);
	else if (d->ex.state == HS_EXEC_BACKOFF)
		hs_log_system("%s %s; restarting in %.1fs (crash %u in a row)", d->name, what,
		              (double)d->ex.backoff_ms / 1000, d->ex.crashes);
	else
		hs_log_info("%s %s", d->name, what);
}

/* ---- which dynos should run ---- */

static bool held(const struct hs_sup *sup, const char *what)
{
	for (size_t i = 0; i < sup->nholds; i++)
		if (strcmp(sup->holds[i], what) == 0)
			return true;
	return false;
}

static void unhold(struct hs_sup *sup, const char *what, bool with_dynos)
{
	size_t tl = strlen(what);
	for (size_t i = 0; i < sup->nholds;) {
		const char *h = sup->holds[i];
		if (strcmp(h, what) == 0 ||
		    (with_dynos && strncmp(h, what, tl) == 0 && h[tl] == '.')) {
			free(sup->holds[i]);
			sup->holds[i] = sup->holds[--sup->nholds];
			sup->holds[sup->nholds] = NULL;
		} else {
			i++;
		}
	}
}

static void hold(struct hs_sup *sup, const char *what)
{
	if (!held(sup, what))
		cm_strv_push(&sup->holds, &sup->nholds, xstrdup(what));
}

static bool dyno_held(const struct hs_sup *sup, const struct hs_dyno *d)
{
	return held(sup, d->type) || held(sup, d->name);
}

static struct hs_scale *find_scale(const struct hs_sup *sup, const char *type)
{
	for (size_t i = 0; i < sup->nscale; i++)
		if (strcmp(sup->scale[i].type, type) == 0)
			return &sup->scale[i];
	return NULL;
}

/* How many dynos of type the formation has under release r, whether stopped or not. */
static int formation_count(const struct hs_sup *sup, const struct hs_release *r, const char *type)
{
	const struct hs_process_type *pt = r ? hs_release_find(r, type) : NULL;
	if (!pt)
		return 0;
	const struct hs_scale *s = find_scale(sup, type);
	if (s && s->count < 0) /* named without a count: its Quantity, at least one */
		return pt->quantity > 0 ? pt->quantity : 1;
	if (s)
		return s->count;
	return sup->conf.explicit_formation ? 0 : pt->quantity;
}

int hs_sup_desired(const struct hs_sup *sup, const char *type)
{
	return held(sup, type) ? 0 : formation_count(sup, sup->current, type);
}

/* Whether the dyno belongs to the formation (running or stopped on request). */
static bool in_formation(const struct hs_sup *sup, const struct hs_dyno *d)
{
	if (sup->conf.run_mode)
		return true;
	int n = formation_count(sup, sup->current, d->type);
	return d->index >= sup->conf.start_number && d->index < sup->conf.start_number + n;
}

/* The ports of release r's formation, with type (if not NULL) at count. */
static int check_ports(const struct hs_sup *sup, const struct hs_release *r, const char *type,
                       int count, cm_err *err)
{
	if (!sup->conf.host_network || sup->conf.run_mode || !r)
		return 0;
	_cleanup_free_ int *counts = xcalloc(r->nprocs + 1, sizeof(int));
	for (size_t i = 0; i < r->nprocs; i++)
		counts[i] = type && strcmp(r->procs[i].type, type) == 0
		                ? count
		                : formation_count(sup, r, r->procs[i].type);
	return hs_env_check_ports(r, counts, err);
}

static char **run_args(const struct hs_sup *sup, const char *type)
{
	if (sup->conf.run_mode)
		return sup->conf.run_args;
	return hs_release_find(sup->current, type)->args;
}

static int dyno_port(const struct hs_sup *sup, const char *type, int index)
{
	int ti = sup->conf.run_mode ? 0 : hs_release_type_index(sup->current, type);
	return hs_env_port(sup->current, ti, index - sup->conf.start_number,
	                   sup->conf.host_network);
}

static char **dyno_env(const struct hs_sup *sup, const char *name, int port)
{
	return hs_env_build(sup->current, name, port, sup->conf.run_mode && want_foreground(),
	                    sup->conf.driver->ops->app_env);
}

/* A dyno is stale when the current release would run it differently. */
static bool stale(struct hs_sup *sup, struct hs_dyno *d)
{
	const struct hs_release *cur = sup->current;
	if (d->release == cur || sup->conf.run_mode)
		return false;
	int port = dyno_port(sup, d->type, d->index);
	_cleanup_strv_ char **env = dyno_env(sup, d->name, port);
	const struct hs_process_type *now = hs_release_find(cur, d->type),
	                             *then = hs_release_find(d->release, d->type);
	if (port != d->port || !cm_strv_equal(env, d->env) ||
	    !cm_strv_equal(run_args(sup, d->type), d->args) || !now || !then ||
	    now->size != then->size || strcmp(cur->slug, d->release->slug) != 0 ||
	    strcmp(cur->stack, d->release->stack) != 0)
		return true;
	hs_release_unref(d->release); /* same dyno under the new release */
	d->release = hs_release_ref(sup->current);
	return false;
}

/* What the current release runs as this dyno. */
static void set_spec(struct hs_sup *sup, struct hs_dyno *d)
{
	hs_release_unref(d->release);
	cm_strv_free(d->args);
	cm_strv_free(d->env);
	d->release = hs_release_ref(sup->current);
	d->args = cm_strv_dup(run_args(sup, d->type));
	d->port = dyno_port(sup, d->type, d->index);
	d->env = dyno_env(sup, d->name, d->port);
}

/* A stopped dyno runs nothing: it takes the current release in place, to start with it. */
static void refresh_stopped(struct hs_sup *sup, struct hs_dyno *d)
{
	if (d->ex.state == HS_EXEC_STOPPED && sup->current && stale(sup, d))
		set_spec(sup, d);
}

static struct hs_dyno *dyno_alloc(struct hs_sup *sup, const char *type, int index)
{
	struct hs_dyno *d = xcalloc(1, sizeof(*d));
	d->sup = sup;
	d->type = xstrdup(type);
	d->index = index;
	d->name = xasprintf("%s.%d", type, index);
	d->color = (int)sup->colors++;
	uv_timer_init(sup->loop, &d->timer);
	uv_timer_init(sup->loop, &d->stayup);
	d->timer.data = d->stayup.data = d;
	d->open_handles = 2;
	hs_exec_init(&d->ex, &dyno_ops, &sup->conf.policy, sup->conf.oneshot);
	d->ex.owner = d;
	d->prev = sup->tail;
	if (sup->tail)
		sup->tail->next = d;
	else
		sup->dynos = d;
	sup->tail = d;
	return d;
}

static struct hs_dyno *dyno_new(struct hs_sup *sup, const char *type, int index)
{
	struct hs_dyno *d = dyno_alloc(sup, type, index);
	set_spec(sup, d);
	return d;
}

/* Starts the dyno unless it runs, is held, or its predecessor is still stopping. Returns
 * whether it started one. */
/* Starts dyno type.index unless it is held; known_missing: the caller knows there is none. */
static bool ensure_dyno(struct hs_sup *sup, const char *type, int index, bool known_missing)
{
	char name[160];
	snprintf(name, sizeof(name), "%s.%d", type, index);
	if (held(sup, name) || held(sup, type) || (!known_missing && hs_sup_find(sup, name)))
		return false;
	hs_exec_feed(&dyno_new(sup, type, index)->ex, HS_IN_START);
	return true;
}

/* Which of type's first n dynos exist (by offset from the start number): one pass over the
 * dynos, so that bringing a formation in line costs O(dynos), not O(dynos squared). Owned. */
static bool *present_dynos(const struct hs_sup *sup, const char *type, int n)
{
	bool *have = xcalloc((size_t)n + 1, sizeof(*have));
	for (const struct hs_dyno *d = sup->dynos; d; d = d->next) {
		int off = d->index - sup->conf.start_number;
		if (off >= 0 && off < n && strcmp(d->type, type) == 0)
			have[off] = true;
	}
	return have;
}

/* Brings one existing dyno in line: gone when scaled away, kept stopped while held, replaced
 * when the release changed what it runs. */
static void reconcile_dyno(struct hs_sup *sup, struct hs_dyno *d)
{
	enum hs_exec_state st = d->ex.state;
	if (st == HS_EXEC_RETIRING || st == HS_EXEC_RETIRED)
		return;
	if (!in_formation(sup, d))
		hs_exec_feed(&d->ex, HS_IN_RETIRE);
	else if (dyno_held(sup, d) && !sup->conf.oneshot)
		st == HS_EXEC_STOPPED ? refresh_stopped(sup, d)
		                      : (void)hs_exec_feed(&d->ex, HS_IN_STOP);
	else if (dyno_held(sup, d) || stale(sup, d))
		hs_exec_feed(&d->ex, HS_IN_RETIRE);
	else if (st == HS_EXEC_STOPPED)
		hs_exec_feed(&d->ex, HS_IN_START);
}

static void reconcile(struct hs_sup *sup)
{
	bool more = sup->reconcile_more;
	sup->reconcile_more = false;
	if (!sup->current || sup->shutting_down ||
	    (sup->conf.oneshot && sup->started_once && !more))
		return;
	sup->started_once = true;
	struct hs_dyno *next;
	for (struct hs_dyno *d = sup->dynos; d; d = next) {
		next = d->next;
		reconcile_dyno(sup, d);
	}
	if (sup->conf.run_mode) {
		ensure_dyno(sup, "run", sup->conf.start_number, false);
		return;
	}
	/* A oneshot dyno that already ended must not start again: resume where the last batch
	 * stopped. Otherwise starting over is harmless and sees every change. */
	size_t i = more && sup->conf.oneshot ? sup->resume_type : 0;
	int k = more && sup->conf.oneshot ? sup->resume_k : 0, started = 0;
	uint64_t t0 = uv_hrtime();
	for (; i < sup->current->nprocs; i++, k = 0) {
		const char *type = sup->current->procs[i].type;
		int n = hs_sup_desired(sup, type);
		_cleanup_free_ bool *have = present_dynos(sup, type, n);
		for (; k < n; k++) {
			if (have[k])
				continue;
			if (started == START_BATCH || (started && uv_hrtime() - t0 > BATCH_NS)) {
				/* Let signals, the API and dyno output in before the next batch. */
				sup->reconcile_more = true;
				sup->resume_type = i;
				sup->resume_k = k;
				uv_idle_start(&sup->more, on_more);
				return;
			}
			started += ensure_dyno(sup, type, sup->conf.start_number + k, true);
		}
	}
}

static void maybe_done(struct hs_sup *sup)
{
	bool finishing =
	    sup->shutting_down || (sup->conf.oneshot && sup->started_once && !sup->reconcile_more);
	if (!finishing || sup->dynos || sup->building || sup->done)
		return;
	sup->done = true;
	sup->conf.on_done(sup, sup->has_exit_code ? sup->exit_code : 0, sup->conf.data);
}

static void on_kick(uv_timer_t *t)
{
	struct hs_sup *sup = t->data;
	reconcile(sup);
	maybe_done(sup);
}

static void on_more(uv_idle_t *h)
{
	struct hs_sup *sup = h->data;
	uv_idle_stop(h);
	if (!uv_is_active((uv_handle_t *)&sup->kick)) /* else it will */
		on_kick(&sup->kick);
}

static void kick(struct hs_sup *sup)
{
	if (!uv_is_active((uv_handle_t *)&sup->kick))
		uv_timer_start(&sup->kick, on_kick, 0, 0);
}

/* ---- releases ---- */

static void apply(struct hs_sup *sup, struct hs_release *r)
{
	hs_release_unref(sup->current);
	sup->current = hs_release_ref(r);
	if (sup->conf.on_apply)
		sup->conf.on_apply(r, sup->conf.data);
	for (struct hs_dyno *d = sup->dynos; d; d = d->next)
		d->ex.crashes = 0; /* a new release forgives old crashes */
	reconcile(sup);
	kick(sup);
}

static void build_work(uv_work_t *w)
{
	struct hs_sup *sup = w->data;
	const struct hs_release *r = sup->building;
	struct hs_release_info info = {
	    .version = r->version, .app = r->name, .slug = r->slug, .stack = r->stack};
	cm_err_clear(&sup->build_err);
	sup->built = NULL;
	sup->build_rc = sup->conf.driver->ops->build(sup->conf.driver, &info, &sup->build_cancel,
	                                             &sup->built, &sup->build_err);
}

static void start_build(struct hs_sup *sup);

static void build_done(uv_work_t *w, int status)
{
	struct hs_sup *sup = w->data;
	struct hs_release *r = sup->building;
	hs_offer_cb cb = sup->building_cb;
	void *data = sup->building_data;
	sup->building = NULL;
	if (status < 0)
		sup->build_rc = cm_err_set(&sup->build_err, -status, "build cancelled");
	enum hs_offer_result res = HS_OFFER_APPLIED;
	bool superseded = sup->build_cancel;
	sup->build_cancel = false;
	if (sup->build_rc == 0 && !superseded)
		r->build = cm_steal_ptr(sup->built); /* the release holds it from now on */
	hs_build_unref(sup->built);
	sup->built = NULL;
	/* the formation may have been scaled while it was built */
	if (sup->build_rc == 0 && !sup->shutting_down && !superseded)
		sup->build_rc = check_ports(sup, r, NULL, 0, &sup->build_err);
	if (superseded)
		res = HS_OFFER_SUPERSEDED;
	else if (sup->build_rc < 0)
		res = HS_OFFER_FAILED;
	else if (sup->shutting_down)
		res = HS_OFFER_ABANDONED;
	else
		apply(sup, r);
	if (cb)
		cb(res, r, &sup->build_err, data);
	hs_release_unref(r);
	if (sup->pending)
		start_build(sup);
	maybe_done(sup);
}

static void start_build(struct hs_sup *sup)
{
	struct hs_release *r = sup->pending;
	hs_offer_cb cb = sup->pending_cb;
	void *data = sup->pending_data;
	sup->pending = NULL;
	if (sup->shutting_down) {
		if (cb)
			cb(HS_OFFER_ABANDONED, r, NULL, data);
		hs_release_unref(r);
		return;
	}
	sup->building = r;
	sup->building_cb = cb;
	sup->building_data = data;
	sup->work.data = sup;
	uv_queue_work(sup->loop, &sup->work, build_work, build_done);
}

void hs_sup_offer(struct hs_sup *sup, struct hs_release *r, hs_offer_cb cb, void *data)
{
	cm_err err;
	if (check_ports(sup, r, NULL, 0, &err) < 0) { /* what runs is left alone */
		if (cb)
			cb(HS_OFFER_FAILED, r, &err, data);
		else
			hs_log_system("release v%lld refused: %s", r->version, err.msg);
		return;
	}
	if (sup->building)
		sup->build_cancel = true; /* the release being built will not be applied */
	if (sup->pending && sup->pending_cb)
		sup->pending_cb(HS_OFFER_SUPERSEDED, sup->pending, NULL, sup->pending_data);
	hs_release_unref(sup->pending);
	sup->pending = hs_release_ref(r);
	sup->pending_cb = cb;
	sup->pending_data = data;
	if (!sup->building)
		start_build(sup);
}

const struct hs_release *hs_sup_release(const struct hs_sup *sup)
{
	return sup->current;
}

/* ---- lifecycle and control ---- */

struct hs_sup *hs_sup_new(const struct hs_sup_conf *conf)
{
	struct hs_sup *sup = xcalloc(1, sizeof(*sup));
	sup->conf = *conf;
	sup->loop = conf->loop;
	sup->scale = xcalloc(conf->nscale + 1, sizeof(*sup->scale));
	for (size_t i = 0; i < conf->nscale; i++)
		sup->scale[i] =
		    (struct hs_scale){xstrdup(conf->scale[i].type), conf->scale[i].count};
	sup->nscale = conf->nscale;
	sup->holds = xcalloc(1, sizeof(char *));
	sup->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	uv_timer_init(sup->loop, &sup->kick);
	uv_idle_init(sup->loop, &sup->more);
	sup->kick.data = sup->more.data = sup;
	sup->open_handles = 2;
	return sup;
}

static void on_sup_handle_closed(uv_handle_t *h)
{
	struct hs_sup *sup = h->data;
	if (--sup->open_handles == 0)
		free(sup);
}

void hs_sup_free(struct hs_sup *sup)
{
	for (size_t i = 0; i < sup->nscale; i++)
		free(sup->scale[i].type);
	free(sup->scale);
	cm_strv_free(sup->holds);
	hs_release_unref(sup->current);
	hs_release_unref(sup->pending);
	free(sup->release_note);
	if (sup->devnull >= 0)
		close(sup->devnull);
	uv_close((uv_handle_t *)&sup->kick, on_sup_handle_closed);
	uv_close((uv_handle_t *)&sup->more, on_sup_handle_closed);
}

void hs_sup_shutdown(struct hs_sup *sup)
{
	cm_err err;
	if (sup->shutting_down) {
		hs_log_system("asked again: killing every dyno now");
		for (struct hs_dyno *d = sup->dynos; d; d = d->next)
			if (hs_dyno_running(d))
				d->proc->driver->ops->signal(d->proc, SIGKILL, &err);
		return;
	}
	sup->shutting_down = true;
	struct hs_dyno *next;
	for (struct hs_dyno *d = sup->dynos; d; d = next) {
		next = d->next;
		hs_exec_feed(&d->ex, HS_IN_RETIRE);
	}
	kick(sup);
}

struct hs_dyno *hs_sup_dynos(struct hs_sup *sup)
{
	return sup->dynos;
}

bool hs_dyno_running(const struct hs_dyno *d)
{
	enum hs_exec_state s = d->ex.state;
	return d->proc && s != HS_EXEC_STARTING && s != HS_EXEC_ABORTING && s != HS_EXEC_HOLDING;
}

struct hs_dyno *hs_sup_find(struct hs_sup *sup, const char *name)
{
	for (struct hs_dyno *d = sup->dynos; d; d = d->next)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

uint64_t hs_sup_now(const struct hs_sup *sup)
{
	return uv_now(sup->loop);
}

static bool is_type(const struct hs_sup *sup, const char *target)
{
	if (sup->current && hs_release_find(sup->current, target))
		return true;
	for (struct hs_dyno *d = sup->dynos; d; d = d->next)
		if (strcmp(d->type, target) == 0)
			return true;
	return false;
}

static bool matches(const struct hs_dyno *d, const char *target, bool type)
{
	return strcmp(type ? d->type : d->name, target) == 0;
}

static int resolve_target(struct hs_sup *sup, const char *target, bool *type, cm_err *err)
{
	*type = is_type(sup, target);
	if (*type || hs_sup_find(sup, target) || held(sup, target))
		return 0;
	return cm_err_set(err, ENOENT, "no process type or dyno named \"%s\"", target);
}

int hs_sup_check(struct hs_sup *sup, enum hs_sup_action action, const char *target, cm_err *err)
{
	bool type;
	if (resolve_target(sup, target, &type, err) < 0)
		return -1;
	if (action != HS_SUP_RESTART)
		return 0;
	if (sup->conf.run_mode)
		return cm_err_set(err, EPERM, "a one-off run cannot be restarted");
	_cleanup_free_ char *t = xstrndup(target, strcspn(target, "."));
	if (!type && held(sup, t))
		return cm_err_set(err, EPERM, "%s is stopped: restart %s to start it", t, t);
	return 0;
}

int hs_sup_stop(struct hs_sup *sup, const char *target, void (*each)(struct hs_dyno *, void *),
                void *data, cm_err *err)
{
	bool type;
	int n = 0;
	if (hs_sup_check(sup, HS_SUP_STOP, target, err) < 0)
		return -1;
	resolve_target(sup, target, &type, err);
	/* a oneshot hsup (run) ends its dynos; a supervisor keeps them, stopped, until restarted */
	enum hs_exec_input in = sup->conf.oneshot ? HS_IN_RETIRE : HS_IN_STOP;
	if (!sup->conf.oneshot)
		hold(sup, target);
	struct hs_dyno *next;
	for (struct hs_dyno *d = sup->dynos; d; d = next) {
		next = d->next;
		if (!matches(d, target, type) || !hs_exec_table[d->ex.state][in].valid)
			continue;
		if (each)
			each(d, data);
		hs_exec_feed(&d->ex, in);
		n++;
	}
	kick(sup);
	return n;
}

int hs_sup_restart(struct hs_sup *sup, const char *target, cm_err *err)
{
	bool type;
	int n = 0;
	if (hs_sup_check(sup, HS_SUP_RESTART, target, err) < 0)
		return -1;
	resolve_target(sup, target, &type, err);
	unhold(sup, target, type);
	for (struct hs_dyno *d = sup->dynos; d; d = d->next) {
		if (!matches(d, target, type))
			continue;
		refresh_stopped(sup, d);
		n += hs_exec_feed(&d->ex, HS_IN_RESTART);
	}
	if (type && hs_sup_desired(sup, target) > n)
		n = hs_sup_desired(sup, target); /* the missing ones start on the next reconcile */
	else if (!type && !hs_sup_find(sup, target))
		n = 1;
	kick(sup);
	return n;
}

int hs_sup_check_release(const struct hs_sup *sup, const struct hs_release *r, cm_err *err)
{
	return check_ports(sup, r, NULL, 0, err);
}

int hs_sup_scale(struct hs_sup *sup, const char *type, int count, cm_err *err)
{
	if (sup->conf.run_mode)
		return cm_err_set(err, EPERM, "a one-off run cannot be scaled");
	if (!sup->current || !hs_release_find(sup->current, type))
		return cm_err_set(err, ENOENT, "the release has no process type \"%s\"", type);
	if (count < 0 || count > MAX_QUANTITY)
		return cm_err_set(err, EINVAL, "%s=%d: the quantity must be between 0 and %d", type,
		                  count, MAX_QUANTITY);
	if (check_ports(sup, sup->current, type, count, err) < 0)
		return -1;
	struct hs_scale *s = find_scale(sup, type);
	if (!s) {
		sup->scale = xrealloc(sup->scale, (sup->nscale + 1) * sizeof(*sup->scale));
		s = &sup->scale[sup->nscale++];
		s->type = xstrdup(type);
	}
	s->count = count;
	kick(sup);
	return count;
}

/* "web.12" as type and index. */
static int split_name(const char *name, char **type, int *index, cm_err *err)
{
	const char *dot = strrchr(name, '.');
	char *end;
	long n = dot ? strtol(dot + 1, &end, 10) : -1;
	if (!dot || dot[1] == '\0' || *end || n < 0 || n > INT32_MAX)
		return cm_err_set(err, EINVAL, "\"%s\" is not a dyno name", name);
	*type = xstrndup(name, (size_t)(dot - name));
	if (!hs_valid_process_type(*type)) {
		free(*type);
		return cm_err_set(err, EINVAL, "\"%s\" is not a dyno name", name);
	}
	*index = (int)n;
	return 0;
}

int hs_sup_adopt(struct hs_sup *sup, struct hs_driver *drv, const char *name, json_t *record,
                 cm_err *err)
{
	_cleanup_free_ char *type = NULL;
	int index = 0;
	if (split_name(name, &type, &index, err) < 0)
		return -1;
	if (hs_sup_find(sup, name))
		return cm_err_set(err, EEXIST, "%s: a dyno of that name is already here", name);
	if (!drv->ops->adopt)
		return cm_err_set(err, ENOTSUP, "the %s driver cannot take over dynos",
		                  drv->ops->name);
	struct hs_dyno *d = dyno_alloc(sup, type, index);
	d->release = hs_release_empty();
	d->args = xcalloc(1, sizeof(char *));
	d->env = xcalloc(1, sizeof(char *));
	int r = drv->ops->adopt(drv, record, on_dyno_exit, d, &d->proc, err);
	if (r <= 0) {
		unlink_dyno(sup, d);
		uv_close((uv_handle_t *)&d->timer, on_dyno_handle_closed);
		uv_close((uv_handle_t *)&d->stayup, on_dyno_handle_closed);
		return r;
	}
	d->started_at = uv_now(sup->loop);
	hs_exec_feed(&d->ex, HS_IN_ADOPT);
	changed(d);
	return 1;
}

void hs_sup_dump(struct hs_sup *sup)
{
	uint64_t now = uv_now(sup->loop);
	if (!sup->dynos)
		hs_log_system("no dynos");
	for (struct hs_dyno *d = sup->dynos; d; d = d->next) {
		char exit[160] = "-";
		if (d->has_exit)
			describe_exit(&d->last_exit, exit, sizeof(exit));
		hs_log_system("%s %s pid=%d restarts=%u uptime=%.1fs last: %s", d->name,
		              hs_exec_state_name(d->ex.state),
		              hs_dyno_running(d) ? (int)d->proc->pid : 0, d->ex.restarts,
		              hs_dyno_running(d) ? (double)(now - d->started_at) / 1000 : 0.0,
		              exit);
	}
}

void hs_sup_set_release_note(struct hs_sup *sup, const char *note)
{
	free(sup->release_note);
	sup->release_note = note ? xstrdup(note) : NULL;
}

const char *hs_sup_release_note(const struct hs_sup *sup)
{
	return sup->release_note;
}

void hs_sup_pipe_run(struct hs_sup *sup, struct hs_log_sink *out, struct hs_log_sink *err)
{
	sup->run_out = out;
	sup->run_err = err;
}

void hs_sup_add_report(struct hs_sup *sup, const char *name, hs_sup_report_fn fn, void *data)
{
	for (size_t i = 0; i < sup->nreports; i++)
		if (strcmp(sup->reports[i].name, name) == 0) {
			sup->reports[i] = (struct hs_sup_report){name, fn, data};
			return;
		}
	if (sup->nreports < CM_ARRAY_SIZE(sup->reports))
		sup->reports[sup->nreports++] = (struct hs_sup_report){name, fn, data};
}

json_t *hs_sup_report(struct hs_sup *sup, const char *name)
{
	for (size_t i = 0; i < sup->nreports; i++)
		if (strcmp(sup->reports[i].name, name) == 0)
			return sup->reports[i].fn(sup->reports[i].data);
	return NULL;
}
