/* The supervisor against a fake driver (no processes): which dynos it keeps, replaces, starts
 * and stops as releases, builds, scaling and control requests come. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/xalloc.h"
#include "drivers/driver.h"
#include "hsupd/logs.h"
#include "hsupd/release.h"
#include "hsupd/supervisor.h"

/* ---- a driver that pretends ---- */

struct fake_proc {
	struct hs_dyno_proc base;
	hs_driver_exit_cb cb;
	void (*started)(struct hs_dyno_proc *, const cm_err *, void *);
	void *data;
	uv_timer_t exit_timer;
	struct hs_exit how;
	bool ignore_term, starting, fail_start;
};

static int next_pid = 1000;
static int builds, starts, live_builds;

static int fake_create(const struct hs_driver_conf *conf, struct hs_driver **out, cm_err *err)
{
	(void)err;
	struct hs_driver *d = xcalloc(1, sizeof(*d));
	d->conf = *conf;
	*out = d;
	return 0;
}

static void fake_destroy(struct hs_driver *d)
{
	free(d);
}

/* Each build makes a product, counted while alive. */
static int fake_build(struct hs_driver *d, const struct hs_release_info *r,
                      const volatile bool *cancel, struct hs_build **out, cm_err *err)
{
	(void)cancel;
	builds++;
	if (strcmp(r->app, "fail-build") == 0)
		return cm_err_set(err, EIO, "the slug could not be fetched");
	*out = xcalloc(1, sizeof(**out));
	(*out)->refs = 1;
	(*out)->driver = d;
	live_builds++;
	return 0;
}

static void fake_free_build(struct hs_build *b)
{
	live_builds--;
	free(b);
}

static void on_fake_exit(uv_timer_t *t)
{
	struct fake_proc *p = t->data;
	if (p->starting) { /* a slow start ends: it runs, or it could not start */
		p->starting = false;
		cm_err err;
		cm_err_set(&err, EIO, "the container could not be made");
		p->started(&p->base, p->fail_start ? &err : NULL, p->data);
		return;
	}
	p->cb(&p->base, &p->how, p->data);
}

/* Makes the dyno end on the next loop iteration, as a real exit would arrive. */
static void fake_end(struct fake_proc *p, int code)
{
	p->how = (struct hs_exit){.status = {.code = code, .signal = code > 128 ? code - 128 : 0}};
	uv_timer_start(&p->exit_timer, on_fake_exit, 0, 0);
}

/* "slow-start N": it runs after N ms; "slow-fail N": it could not be started, after N ms. */
static int fake_start(struct hs_driver *d, const struct hs_dyno_spec *spec,
                      const struct hs_dyno_cbs *cbs, void *data, struct hs_dyno_proc **out,
                      cm_err *err)
{
	(void)err;
	struct fake_proc *p = xcalloc(1, sizeof(*p));
	p->base.driver = d;
	p->base.pid = next_pid++;
	p->cb = cbs->exited;
	p->started = cbs->started;
	p->data = data;
	p->ignore_term = strstr(spec->args[0], "ignore-term") != NULL;
	uv_timer_init(d->conf.loop, &p->exit_timer);
	p->exit_timer.data = p;
	starts++;
	*out = &p->base;
	const char *slow = strstr(spec->args[0], "slow-");
	if (slow) {
		p->starting = true;
		p->fail_start = strncmp(slow, "slow-fail", 9) == 0;
		uv_timer_start(&p->exit_timer, on_fake_exit, (uint64_t)atoi(slow + 10), 0);
		return 1;
	}
	if (strstr(spec->args[0], "exit-now"))
		fake_end(p, atoi(strstr(spec->args[0], "exit-now") + 9));
	return 0;
}

static int fake_signal(struct hs_dyno_proc *base, int sig, cm_err *err)
{
	(void)err;
	struct fake_proc *p = (struct fake_proc *)base;
	if (sig == SIGKILL || !p->ignore_term)
		fake_end(p, 128 + sig);
	return 0;
}

static void free_proc(uv_handle_t *h)
{
	free(h->data);
}

static void fake_release(struct hs_dyno_proc *base)
{
	struct fake_proc *p = (struct fake_proc *)base;
	uv_close((uv_handle_t *)&p->exit_timer, free_proc);
}

/* A dyno left by an earlier hsup: {"pid": N, "ignore-term": bool}, or {"gone": true}. */
static int fake_adopt(struct hs_driver *d, json_t *record, hs_driver_exit_cb cb, void *data,
                      struct hs_dyno_proc **out, cm_err *err)
{
	(void)err;
	if (json_is_true(json_object_get(record, "gone")))
		return 0;
	struct fake_proc *p = xcalloc(1, sizeof(*p));
	p->base.driver = d;
	p->base.pid = (pid_t)json_integer_value(json_object_get(record, "pid"));
	p->cb = cb;
	p->data = data;
	p->ignore_term = json_is_true(json_object_get(record, "ignore-term"));
	p->how.status_unknown = true;
	uv_timer_init(d->conf.loop, &p->exit_timer);
	p->exit_timer.data = p;
	*out = &p->base;
	return 1;
}

static const struct hs_driver_ops fake_ops = {
    .name = "fake",
    .create = fake_create,
    .destroy = fake_destroy,
    .build = fake_build,
    .free_build = fake_free_build,
    .start = fake_start,
    .signal = fake_signal,
    .release = fake_release,
    .adopt = fake_adopt,
};

/* ---- the world of one test ---- */

struct world {
	uv_loop_t loop;
	struct hs_driver *driver;
	struct hs_log_sink sink;
	struct hs_sup *sup;
	int done_code;
	bool done;
	enum hs_offer_result last_result;
	char last_error[256];
	int offers_answered, applied;
};

static void on_done(struct hs_sup *sup, int code, void *data)
{
	struct world *w = data;
	(void)sup;
	w->done = true;
	w->done_code = code;
}

static struct world *world_new(bool oneshot, struct hs_scale *scale, size_t nscale)
{
	struct world *w = xcalloc(1, sizeof(*w));
	uv_loop_init(&w->loop);
	struct hs_driver_conf dconf = {.loop = &w->loop, .stop_timeout = 1};
	fake_create(&dconf, &w->driver, NULL);
	w->driver->ops = &fake_ops;
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	hs_log_sink_init(&w->sink, &w->loop, devnull, false);
	struct hs_sup_conf conf = {
	    .loop = &w->loop,
	    .driver = w->driver,
	    .policy = {.stop_timeout_ms = 50,
	               .backoff_base_ms = 10,
	               .backoff_max_ms = 40,
	               .stayup_ms = 100000},
	    .oneshot = oneshot,
	    .start_number = 1,
	    .host_network = true,
	    .explicit_formation = nscale > 0,
	    .scale = scale,
	    .nscale = nscale,
	    .sink = &w->sink,
	    .on_done = on_done,
	    .data = w,
	};
	w->sup = hs_sup_new(&conf);
	return w;
}

static void on_offer(enum hs_offer_result res, const struct hs_release *r, const cm_err *err,
                     void *data)
{
	struct world *w = data;
	(void)r;
	w->last_result = res;
	w->applied += res == HS_OFFER_APPLIED;
	snprintf(w->last_error, sizeof(w->last_error), "%s", err ? err->msg : "");
	w->offers_answered++;
}

/* Runs the loop until nothing is due in the next few milliseconds. */
static void tick(uv_timer_t *t)
{
	(void)t;
}
static void settle(struct world *w)
{
	uv_timer_t t;
	uv_timer_init(&w->loop, &t);
	uv_timer_start(&t, tick, 120, 0);
	while (uv_is_active((uv_handle_t *)&t))
		uv_run(&w->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&w->loop, UV_RUN_NOWAIT);
}

/* Offers a release document and runs the loop until the supervisor answers. */
static void offer(struct world *w, const char *doc)
{
	struct hs_release *r = NULL;
	cm_err err;
	if (hs_release_parse(doc, strlen(doc), &r, &err) < 0)
		fail_msg("bad test document: %s", err.msg);
	int before = w->offers_answered;
	hs_sup_offer(w->sup, r, on_offer, w);
	hs_release_unref(r);
	while (w->offers_answered == before)
		uv_run(&w->loop, UV_RUN_ONCE);
	settle(w);
}

static void world_end(struct world *w)
{
	hs_sup_shutdown(w->sup);
	while (!w->done)
		uv_run(&w->loop, UV_RUN_ONCE);
	hs_sup_free(w->sup);
	hs_log_sink_close(&w->sink);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&w->loop), 0);
	close(w->sink.fd);
	free(w->driver);
	free(w);
}

/* "web.1:started web.2:stopped" for every dyno listed. */
static const char *states(struct world *w)
{
	static char buf[1024];
	buf[0] = '\0';
	for (struct hs_dyno *d = hs_sup_dynos(w->sup); d; d = d->next)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s:%s", buf[0] ? " " : "",
		         d->name, hs_exec_state_name(d->ex.state));
	return buf;
}

/* "web.1:1000 worker.1:1002" for the dynos that run. */
static const char *running(struct world *w)
{
	static char buf[1024];
	buf[0] = '\0';
	for (struct hs_dyno *d = hs_sup_dynos(w->sup); d; d = d->next)
		if (hs_dyno_running(d))
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s:%d",
			         buf[0] ? " " : "", d->name, (int)d->proc->pid);
	return buf;
}

static char *names(struct world *w)
{
	static char buf[1024];
	buf[0] = '\0';
	for (struct hs_dyno *d = hs_sup_dynos(w->sup); d; d = d->next)
		if (hs_dyno_running(d))
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s",
			         buf[0] ? " " : "", d->name);
	return buf;
}

#define REL(ver, env, web, worker)                                                                 \
	"{\"Version\": " #ver ", \"Env\": " env ", \"Processes\": ["                               \
	"{\"Type\": \"web\", \"Quantity\": " #web ", \"Args\": [\"serve\"]},"                      \
	"{\"Type\": \"worker\", \"Quantity\": " #worker ", \"Args\": [\"work\"]}]}"

static void scale_only_keeps_dynos(void **state)
{
	(void)state;
	next_pid = 1000;
	struct world *w = world_new(false, NULL, 0);
	offer(w, REL(1, "{\"A\": \"1\"}", 2, 1));
	assert_int_equal(w->last_result, HS_OFFER_APPLIED);
	assert_string_equal(running(w), "web.1:1000 web.2:1001 worker.1:1002");
	offer(w, REL(2, "{\"A\": \"1\"}", 3, 0));
	assert_string_equal(running(w), "web.1:1000 web.2:1001 web.3:1003");
	assert_int_equal(hs_sup_find(w->sup, "web.1")->release->version, 2);
	world_end(w);
}

static void env_change_replaces_dynos(void **state)
{
	(void)state;
	next_pid = 1000;
	struct world *w = world_new(false, NULL, 0);
	offer(w, REL(1, "{\"A\": \"1\"}", 1, 1));
	offer(w, REL(2, "{\"A\": \"2\"}", 1, 1));
	assert_string_equal(running(w), "web.1:1002 worker.1:1003");
	world_end(w);
}

static void failed_build_keeps_what_runs(void **state)
{
	(void)state;
	next_pid = 1000;
	struct world *w = world_new(false, NULL, 0);
	offer(w, REL(1, "{\"A\": \"1\"}", 1, 0));
	offer(w, "{\"Version\": 2, \"Name\": \"fail-build\", \"Processes\": ["
	         "{\"Type\": \"web\", \"Quantity\": 5, \"Args\": [\"other\"]}]}");
	assert_int_equal(w->last_result, HS_OFFER_FAILED);
	assert_string_equal(w->last_error, "the slug could not be fetched");
	assert_string_equal(running(w), "web.1:1000");
	assert_int_equal(hs_sup_release(w->sup)->version, 1);
	world_end(w);
}

static void newer_release_supersedes_one_waiting(void **state)
{
	(void)state;
	struct world *w = world_new(false, NULL, 0);
	struct hs_release *a, *b, *c;
	cm_err err;
	const char *da = REL(1, "null", 1, 0), *db = REL(2, "null", 2, 0),
	           *dc = REL(3, "null", 3, 0);
	hs_release_parse(da, strlen(da), &a, &err);
	hs_release_parse(db, strlen(db), &b, &err);
	hs_release_parse(dc, strlen(dc), &c, &err);
	hs_sup_offer(w->sup, a, on_offer, w); /* building */
	hs_sup_offer(w->sup, b, on_offer, w); /* waits... */
	assert_int_equal(w->offers_answered, 0);
	hs_sup_offer(w->sup, c, on_offer, w); /* ...and is superseded by c */
	assert_int_equal(w->offers_answered, 1);
	assert_int_equal(w->last_result, HS_OFFER_SUPERSEDED);
	while (w->offers_answered < 3)
		uv_run(&w->loop, UV_RUN_ONCE);
	settle(w);
	assert_int_equal(hs_sup_release(w->sup)->version, 3);
	assert_string_equal(names(w), "web.1 web.2 web.3");
	assert_int_equal(w->applied, 1); /* a, superseded while it was built, was abandoned */
	hs_release_unref(a);
	hs_release_unref(b);
	hs_release_unref(c);
	world_end(w);
}

static void explicit_formation_and_scale(void **state)
{
	(void)state;
	struct hs_scale scale[] = {{"worker", 2}};
	struct world *w = world_new(false, scale, 1);
	offer(w, REL(1, "null", 3, 1));
	assert_string_equal(names(w), "worker.1 worker.2");
	cm_err err;
	assert_int_equal(hs_sup_scale(w->sup, "web", 1, &err), 1);
	assert_int_equal(hs_sup_scale(w->sup, "nope", 1, &err), -1);
	assert_string_equal(err.msg, "the release has no process type \"nope\"");
	settle(w);
	assert_string_equal(names(w), "worker.1 worker.2 web.1");
	world_end(w);
}

static void stopped_dynos_stay_stopped_until_restarted(void **state)
{
	(void)state;
	struct world *w = world_new(false, NULL, 0);
	offer(w, REL(1, "null", 2, 1));
	cm_err err;
	assert_int_equal(hs_sup_stop(w->sup, "web.2", NULL, NULL, &err), 1);
	assert_int_equal(hs_sup_stop(w->sup, "worker", NULL, NULL, &err), 1);
	assert_int_equal(hs_sup_stop(w->sup, "worker", NULL, NULL, &err), 0); /* already */
	assert_string_equal(states(w), "web.1:started web.2:stopping worker.1:stopping");
	settle(w);
	assert_string_equal(names(w), "web.1");
	/* listed, stopped, until restarted or scaled away */
	assert_string_equal(states(w), "web.1:started web.2:stopped worker.1:stopped");
	offer(w, REL(2, "null", 2, 1)); /* a new release does not bring them back */
	assert_string_equal(names(w), "web.1");
	assert_string_equal(states(w), "web.1:started web.2:stopped worker.1:stopped");
	assert_int_equal(hs_sup_find(w->sup, "web.2")->release->version, 2);
	assert_int_equal(hs_sup_restart(w->sup, "web.2", &err), 1);
	assert_int_equal(hs_sup_restart(w->sup, "worker", &err), 1);
	assert_int_equal(hs_sup_restart(w->sup, "db", &err), -1);
	settle(w);
	assert_string_equal(names(w), "web.1 web.2 worker.1");
	/* scaled away while stopped: no longer listed */
	hs_sup_stop(w->sup, "web.2", NULL, NULL, &err);
	settle(w);
	assert_int_equal(hs_sup_scale(w->sup, "web", 1, &err), 1);
	settle(w);
	assert_string_equal(states(w), "web.1:started worker.1:started");
	world_end(w);
}

static void control_requests_are_checked_first(void **state)
{
	(void)state;
	struct world *w = world_new(false, NULL, 0);
	offer(w, REL(1, "null", 1, 1));
	cm_err err;
	assert_int_equal(hs_sup_check(w->sup, HS_SUP_STOP, "db", &err), -1);
	assert_int_equal(err.code, ENOENT);
	assert_string_equal(err.msg, "no process type or dyno named \"db\"");
	assert_int_equal(hs_sup_check(w->sup, HS_SUP_STOP, "web.1", &err), 0);
	hs_sup_stop(w->sup, "web", NULL, NULL, &err);
	settle(w);
	assert_int_equal(hs_sup_check(w->sup, HS_SUP_RESTART, "web.1", &err), -1);
	assert_int_equal(err.code, EPERM);
	assert_int_equal(hs_sup_check(w->sup, HS_SUP_RESTART, "web", &err), 0);
	assert_string_equal(states(w), "web.1:stopped worker.1:started");
	world_end(w);
}

static void ports_never_collide(void **state)
{
	(void)state;
	next_pid = 1000;
	struct world *w = world_new(false, NULL, 0);
	offer(w, REL(1, "null", 150, 1)); /* web.101 would get worker.1's port */
	assert_int_equal(w->last_result, HS_OFFER_FAILED);
	assert_string_equal(
	    w->last_error,
	    "web=150 would need ports 5000-5149, but worker's start at 5100: dynos "
	    "sharing the host's network get PORT + 100 x the type's place in the "
	    "release + the dyno's offset, so a type other than the last runs at most "
	    "100");
	assert_string_equal(running(w), "");
	offer(w, REL(2, "null", 100, 1));
	assert_int_equal(w->last_result, HS_OFFER_APPLIED);
	cm_err err;
	assert_int_equal(hs_sup_scale(w->sup, "web", 101, &err), -1);
	assert_int_equal(hs_sup_scale(w->sup, "worker", 300, &err), 300); /* the last type */
	offer(w, REL(3, "{\"PORT\": \"65500\"}", 1, 1)); /* worker.300 would pass 65535 */
	assert_int_equal(w->last_result, HS_OFFER_FAILED);
	assert_string_equal(w->last_error,
	                    "worker=300 would need ports 65600-65899, past 65535 (PORT is 65500)");
	assert_int_equal(hs_sup_release(w->sup)->version, 2);
	settle(w);
	assert_non_null(hs_sup_find(w->sup, "worker.300"));
	assert_int_equal(hs_sup_find(w->sup, "worker.300")->port, 5399);
	world_end(w);
}

static void adopted_dynos_are_stopped_before_their_successors(void **state)
{
	(void)state;
	next_pid = 1000;
	struct world *w = world_new(false, NULL, 0);
	cm_err err;
	json_t *slow = json_pack("{s:i, s:b}", "pid", 77, "ignore-term", 1);
	json_t *gone = json_pack("{s:b}", "gone", 1);
	assert_int_equal(hs_sup_adopt(w->sup, w->driver, "web.1", slow, &err), 1);
	assert_int_equal(hs_sup_adopt(w->sup, w->driver, "web.2", gone, &err), 0);
	assert_int_equal(hs_sup_adopt(w->sup, w->driver, "web", gone, &err), -1);
	json_decref(slow);
	json_decref(gone);
	assert_string_equal(states(w), "web.1:retiring");
	/* web.1 ignores SIGTERM: the new web.1 waits for the stop timeout's SIGKILL */
	offer(w, REL(1, "null", 2, 0));
	assert_string_equal(running(w), "web.2:1000 web.1:1001");
	const struct hs_dyno *d = hs_sup_find(w->sup, "web.1");
	assert_int_equal(d->ex.restarts, 0);
	world_end(w);
}

static void slow_starts_are_waited_for(void **state)
{
	(void)state;
	next_pid = 1000;
	struct world *w = world_new(false, NULL, 0);
	struct hs_release *r;
	cm_err err;
	const char *doc = "{\"Processes\": [{\"Type\": \"web\", \"Quantity\": 2, \"Args\": "
	                  "[\"slow-start 60\"]}, {\"Type\": \"bad\", \"Quantity\": 1, \"Args\": "
	                  "[\"slow-fail 20\"]}]}";
	hs_release_parse(doc, strlen(doc), &r, &err);
	hs_sup_offer(w->sup, r, on_offer, w);
	hs_release_unref(r);
	while (w->offers_answered == 0)
		uv_run(&w->loop, UV_RUN_ONCE);
	assert_string_equal(states(w), "web.1:starting web.2:starting bad.1:starting");
	assert_string_equal(running(w), ""); /* nothing runs before the driver says so */
	assert_false(hs_dyno_running(hs_sup_find(w->sup, "web.1")));
	/* asked to stop while starting: stopped (and kept) once it runs */
	assert_int_equal(hs_sup_stop(w->sup, "web.2", NULL, NULL, &err), 1);
	settle(w);
	assert_string_equal(running(w), "web.1:1000");
	const struct hs_dyno *bad = hs_sup_find(w->sup, "bad.1");
	assert_true(bad->has_exit && bad->last_exit.start_failed);
	assert_string_equal(bad->last_exit.reason, "the container could not be made");
	assert_true(bad->ex.restarts >= 1); /* it backs off and tries again */
	assert_string_equal(hs_exec_state_name(hs_sup_find(w->sup, "web.2")->ex.state), "stopped");
	world_end(w);
}

static void builds_live_as_long_as_their_dynos(void **state)
{
	(void)state;
	struct world *w = world_new(false, NULL, 0);
	live_builds = 0;
	offer(w, "{\"Version\": 1, \"Processes\": [{\"Type\": \"s\", \"Quantity\": 1, \"Args\": "
	         "[\"ignore-term\"]}]}");
	assert_int_equal(live_builds, 1);
	/* a new release replaces the dyno; the old one ignores SIGTERM for the stop timeout, and
	 * the build it runs on lives until it is gone */
	offer(w, "{\"Version\": 2, \"Env\": {\"A\": \"2\"}, \"Processes\": [{\"Type\": \"s\", "
	         "\"Quantity\": 1, \"Args\": [\"ignore-term\"]}]}");
	assert_int_equal(live_builds, 1); /* v1's went with its dyno, v2's lives */
	assert_int_equal(hs_sup_release(w->sup)->version, 2);
	world_end(w);
	assert_int_equal(live_builds, 0);
}

static void crash_restarts_then_backs_off(void **state)
{
	(void)state;
	struct world *w = world_new(false, NULL, 0);
	offer(w,
	      "{\"Processes\": [{\"Type\": \"c\", \"Quantity\": 1, \"Args\": [\"exit-now 3\"]}]}");
	/* 120 ms of settling: immediate, +10, +20, +40, +40 ... a handful, not hundreds. */
	struct hs_dyno *d = hs_sup_find(w->sup, "c.1");
	assert_non_null(d);
	assert_true(d->ex.restarts >= 3 && d->ex.restarts <= 7);
	assert_int_equal(d->last_exit.status.code, 3);
	world_end(w);
}

static void oneshot_reports_first_failure(void **state)
{
	(void)state;
	struct world *w = world_new(true, NULL, 0);
	offer(w, "{\"Processes\": [{\"Type\": \"a\", \"Quantity\": 1, \"Args\": [\"exit-now 0\"]},"
	         "{\"Type\": \"b\", \"Quantity\": 1, \"Args\": [\"exit-now 4\"]}]}");
	while (!w->done)
		uv_run(&w->loop, UV_RUN_ONCE);
	assert_int_equal(w->done_code, 4);
	world_end(w);
}

static void many_dynos_start_in_batches(void **state)
{
	(void)state;
	struct world *w = world_new(false, NULL, 0);
	offer(w, "{\"Processes\": [{\"Type\": \"b\", \"Quantity\": 70, \"Args\": [\"y\"]},"
	         "{\"Type\": \"a\", \"Quantity\": 150, \"Args\": [\"x\"]}]}");
	int n = 0;
	for (struct hs_dyno *d = hs_sup_dynos(w->sup); d; d = d->next)
		n += d->proc != NULL;
	assert_int_equal(n, 220);
	assert_non_null(hs_sup_find(w->sup, "b.70"));
	world_end(w);
}

static void oneshot_batches_run_each_dyno_once(void **state)
{
	(void)state;
	struct world *w = world_new(true, NULL, 0);
	starts = 0;
	offer(w, "{\"Processes\": [{\"Type\": \"b\", \"Quantity\": 70, \"Args\": [\"exit-now 0\"]},"
	         "{\"Type\": \"a\", \"Quantity\": 150, \"Args\": [\"exit-now 0\"]}]}");
	while (!w->done && starts <= 300) /* a bug would start them over and over */
		uv_run(&w->loop, UV_RUN_ONCE);
	assert_int_equal(starts, 220);
	assert_int_equal(w->done_code, 0);
	world_end(w);
}

static void shutdown_kills_what_ignores_term(void **state)
{
	(void)state;
	struct world *w = world_new(false, NULL, 0);
	offer(w,
	      "{\"Processes\": [{\"Type\": \"s\", \"Quantity\": 1, \"Args\": [\"ignore-term\"]}]}");
	hs_sup_shutdown(w->sup);
	settle(w); /* the stop timeout is 50 ms */
	assert_true(w->done);
	assert_int_equal(w->done_code, 0);
	world_end(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(scale_only_keeps_dynos),
	    cmocka_unit_test(env_change_replaces_dynos),
	    cmocka_unit_test(failed_build_keeps_what_runs),
	    cmocka_unit_test(newer_release_supersedes_one_waiting),
	    cmocka_unit_test(explicit_formation_and_scale),
	    cmocka_unit_test(stopped_dynos_stay_stopped_until_restarted),
	    cmocka_unit_test(control_requests_are_checked_first),
	    cmocka_unit_test(ports_never_collide),
	    cmocka_unit_test(slow_starts_are_waited_for),
	    cmocka_unit_test(builds_live_as_long_as_their_dynos),
	    cmocka_unit_test(adopted_dynos_are_stopped_before_their_successors),
	    cmocka_unit_test(crash_restarts_then_backs_off),
	    cmocka_unit_test(oneshot_reports_first_failure),
	    cmocka_unit_test(shutdown_kills_what_ignores_term),
	    cmocka_unit_test(many_dynos_start_in_batches),
	    cmocka_unit_test(oneshot_batches_run_each_dyno_once),
	};
	return cmocka_run_group_tests_name("supervisor", tests, NULL, NULL);
}
