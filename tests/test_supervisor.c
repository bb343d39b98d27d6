/* The supervisor against a fake driver (no processes): which dynos it keeps, replaces, starts
 * and stops as releases, builds, scaling and control requests come. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
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
	void *data;
	uv_timer_t exit_timer;
	struct hs_exit how;
	bool ignore_term;
};

static int next_pid = 1000;
static int builds, starts;

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

static int fake_build(struct hs_driver *d, const struct hs_release *r, cm_err *err)
{
	(void)d;
	builds++;
	if (strcmp(r->name, "fail-build") == 0)
		return cm_err_set(err, EIO, "the slug could not be fetched");
	return 0;
}

static void on_fake_exit(uv_timer_t *t)
{
	struct fake_proc *p = t->data;
	p->cb(&p->base, &p->how, p->data);
}

/* Makes the dyno end on the next loop iteration, as a real exit would arrive. */
static void fake_end(struct fake_proc *p, int code)
{
	p->how = (struct hs_exit){.status = {.code = code, .signal = code > 128 ? code - 128 : 0}};
	uv_timer_start(&p->exit_timer, on_fake_exit, 0, 0);
}

static int fake_start(struct hs_driver *d, const struct hs_dyno_spec *spec, hs_driver_exit_cb cb,
                      void *data, struct hs_dyno_proc **out, cm_err *err)
{
	(void)err;
	struct fake_proc *p = xcalloc(1, sizeof(*p));
	p->base.driver = d;
	p->base.pid = next_pid++;
	p->cb = cb;
	p->data = data;
	p->ignore_term = strstr(spec->args[0], "ignore-term") != NULL;
	uv_timer_init(d->conf.loop, &p->exit_timer);
	p->exit_timer.data = p;
	starts++;
	if (strstr(spec->args[0], "exit-now"))
		fake_end(p, atoi(strstr(spec->args[0], "exit-now") + 9));
	*out = &p->base;
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

static const struct hs_driver_ops fake_ops = {"fake",     fake_create, fake_destroy, fake_build,
                                              fake_start, fake_signal, fake_release};

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
	int offers_answered;
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

/* "web.1:1000 worker.1:1002" for the dynos that run. */
static const char *running(struct world *w)
{
	static char buf[1024];
	buf[0] = '\0';
	for (struct hs_dyno *d = hs_sup_dynos(w->sup); d; d = d->next)
		if (d->proc)
			snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s:%d",
			         buf[0] ? " " : "", d->name, (int)d->proc->pid);
	return buf;
}

static char *names(struct world *w)
{
	static char buf[1024];
	buf[0] = '\0';
	for (struct hs_dyno *d = hs_sup_dynos(w->sup); d; d = d->next)
		if (d->proc)
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
	settle(w);
	assert_string_equal(names(w), "web.1");
	offer(w, REL(2, "null", 2, 1)); /* a new release does not bring them back */
	assert_string_equal(names(w), "web.1");
	assert_int_equal(hs_sup_restart(w->sup, "web.2", &err), 1);
	assert_int_equal(hs_sup_restart(w->sup, "worker", &err), 1);
	assert_int_equal(hs_sup_restart(w->sup, "db", &err), -1);
	settle(w);
	assert_string_equal(names(w), "web.1 web.2 worker.1");
	world_end(w);
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
	offer(w, "{\"Processes\": [{\"Type\": \"a\", \"Quantity\": 150, \"Args\": [\"x\"]},"
	         "{\"Type\": \"b\", \"Quantity\": 70, \"Args\": [\"y\"]}]}");
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
	offer(w,
	      "{\"Processes\": [{\"Type\": \"a\", \"Quantity\": 150, \"Args\": [\"exit-now 0\"]},"
	      "{\"Type\": \"b\", \"Quantity\": 70, \"Args\": [\"exit-now 0\"]}]}");
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
	    cmocka_unit_test(crash_restarts_then_backs_off),
	    cmocka_unit_test(oneshot_reports_first_failure),
	    cmocka_unit_test(shutdown_kills_what_ignores_term),
	    cmocka_unit_test(many_dynos_start_in_batches),
	    cmocka_unit_test(oneshot_batches_run_each_dyno_once),
	};
	return cmocka_run_group_tests_name("supervisor", tests, NULL, NULL);
}
