/* hsup: supervises an application's processes the way Heroku runs dynos. */
#define _GNU_SOURCE
#include "control/api.h"
#include "control/client.h"
#include "control/ctldir.h"
#include "control/apidoc.h"
#include "control/poller.h"
#include "drivers/driver.h"
#include "hsupd/cli.h"
#include "hsupd/logplex.h"
#include "hsupd/logs.h"
#include "hsupd/release.h"
#include "hsupd/statedir.h"
#include "hsupd/supervisor.h"
#include "common/children.h"
#include "common/http.h"
#include "common/spawn.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef HSUP_VERSION
#define HSUP_VERSION "0.0.0"
#endif

#define BACKOFF_BASE_MS 1000
#define BACKOFF_MAX_MS  60000
#define STAYUP_MS       60000

struct daemon {
	uv_loop_t loop;
	const struct hs_cli *cli;
	struct hs_driver *driver;
	struct hs_driver_conf dconf;
	struct hs_driver *others[4]; /* drivers of dynos left by an earlier hsup, when not ours */
	size_t nothers;
	struct hs_statedir *statedir;
	char *owner; /* the state's key in its directory, for the drivers */
	struct hs_sup *sup;
	struct hs_ctldir *ctldir;
	struct hs_poller *poller;
	struct hs_api *api;
	struct hs_log_sink sink, errsink; /* dyno output; hsup's own messages */
	bool has_sink, has_errsink;
	struct hs_logplex *logplex; /* while dyno logs go to logplex */
	struct hs_logplex_conf lpconf;
	const char *fixed_logplex_url; /* --logplex-url, else $HSUP_LOGPLEX_URL */
	uv_signal_t sigs[6];
	size_t nsigs;
	int exit_code;
	int forced_exit; /* > 0: exit with this code whatever the dynos did */
	char *token;     /* HEROKU_ACCESS_TOKEN, taken out of the environment */
	bool first_release;
	struct rlimit child_nofile;
};

/* Supervising many dynos takes many descriptors; dynos get back the limit hsup was given. */
static void raise_nofile(struct rlimit *orig)
{
	struct rlimit r;
	getrlimit(RLIMIT_NOFILE, orig);
	r = *orig;
	r.rlim_cur = r.rlim_max;
	setrlimit(RLIMIT_NOFILE, &r);
}

static void logplex_tap(struct daemon *d, bool on);

static void on_done(struct hs_sup *sup, int code, void *data)
{
	struct daemon *d = data;
	(void)sup;
	d->exit_code = d->forced_exit ? d->forced_exit : code;
	for (size_t i = 0; i < d->nsigs; i++)
		uv_close((uv_handle_t *)&d->sigs[i], NULL);
	if (d->api)
		hs_api_close(d->api);
	if (d->ctldir)
		hs_ctldir_close(d->ctldir);
	if (d->poller)
		hs_poller_close(d->poller);
	if (d->logplex) { /* delivers what is buffered while the loop runs on */
		logplex_tap(d, false);
		hs_logplex_close(d->logplex);
		d->logplex = NULL;
	}
	if (d->has_sink)
		hs_log_sink_close(&d->sink);
	if (d->statedir)
		hs_statedir_close(d->statedir);
	hs_sup_free(d->sup);
	if (d->has_errsink)
		hs_log_sink_close(&d->errsink);
}

static void on_change(void *data, struct hs_dyno *dyno)
{
	struct daemon *d = data;
	if (d->statedir)
		hs_statedir_dyno_changed(d->statedir, dyno);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	switch (signum) {
	case SIGTERM:
	case SIGINT:
		hs_log_info("%s: stopping all dynos", strsignal(signum));
		hs_sup_shutdown(d->sup);
		break;
	case SIGHUP:
		if (d->ctldir)
			hs_ctldir_rescan(d->ctldir);
		break;
	case SIGUSR1:
		hs_sup_dump(d->sup);
		if (hs_sup_release_note(d->sup))
			hs_log_system("release: %s", hs_sup_release_note(d->sup));
		break;
	case SIGCHLD:
		cm_children_reap_orphans();
		break;
	}
}

static void watch_signals(struct daemon *d)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};
	for (size_t i = 0; i < CM_ARRAY_SIZE(sigs); i++) {
		uv_signal_init(&d->loop, &d->sigs[i]);
		d->sigs[i].data = d;
		uv_signal_start(&d->sigs[i], on_signal, sigs[i]);
	}
	d->nsigs = CM_ARRAY_SIZE(sigs);
	/* As PID 1 (in a container) or a subreaper, orphans of dynos become hsup's children: reap
	 * them, but never a dyno, whose exit status belongs to its own watcher. */
	if (cm_children_inherits_orphans()) {
		uv_signal_init(&d->loop, &d->sigs[d->nsigs]);
		d->sigs[d->nsigs].data = d;
		uv_signal_start(&d->sigs[d->nsigs++], on_signal, SIGCHLD);
		cm_children_reap_orphans();
	}
}

/* `start web worker=2` names types the release must have. */
static bool check_named_types(struct daemon *d, const struct hs_release *r)
{
	for (size_t i = 0; i < d->cli->nscale; i++) {
		if (hs_release_find(r, d->cli->scale[i].type))
			continue;
		_cleanup_free_ char *have = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&have, &len);
		for (size_t j = 0; j < r->nprocs; j++)
			fprintf(f, "%s%s", j ? ", " : "", r->procs[j].type);
		fclose(f);
		hs_log_system("start: the release has no process type \"%s\" (it has: %s)",
		              d->cli->scale[i].type, len ? have : "none");
		return false;
	}
	return true;
}

/* `start web=150 worker` asks for more dynos than the host's ports allow: the command line is
 * wrong, not the release. */
static bool check_named_counts(struct daemon *d, const struct hs_release *r)
{
	cm_err err;
	if (d->cli->nscale == 0 || hs_sup_check_release(d->sup, r, &err) == 0)
		return true;
	hs_log_system("start: %s", err.msg);
	return false;
}

static void on_note(const char *note, void *data)
{
	hs_sup_set_release_note(((struct daemon *)data)->sup, note);
}

/* A release from the control directory or the API; cb tells its source the outcome. */
static void take_release(struct daemon *d, struct hs_release *r, hs_offer_cb cb, void *ticket)
{
	if (!d->first_release && d->cli->cmd == HS_CMD_START && !check_named_types(d, r)) {
		d->forced_exit = 2;
		hs_sup_offer(d->sup, r, cb, ticket);
		hs_sup_shutdown(d->sup);
		return;
	}
	if (!d->first_release && d->cli->cmd == HS_CMD_START && !check_named_counts(d, r)) {
		d->forced_exit = 2;
		cb(HS_OFFER_ABANDONED, r, NULL, ticket); /* `new` stays as it is */
		hs_sup_shutdown(d->sup);
		return;
	}
	d->first_release = true;
	hs_sup_offer(d->sup, r, cb, ticket);
}

static void on_release(struct hs_release *r, void *ticket, void *data)
{
	take_release(data, r, hs_ctldir_offer_cb, ticket);
}

static void on_api_release(struct hs_release *r, void *data)
{
	struct daemon *d = data;
	take_release(d, r, hs_poller_offer_cb, d->poller);
	hs_release_unref(r);
}

static void offer_empty(struct daemon *d)
{
	struct hs_release *empty = hs_release_empty();
	hs_sup_offer(d->sup, empty, NULL, NULL);
	hs_release_unref(empty);
}

static char *data_dir(void);

static int follow_api(struct daemon *d, cm_err *err)
{
	const struct hs_cli *cli = d->cli;
	bool run = cli->cmd == HS_CMD_RUN;
	if (!cli->app || !*cli->app)
		return cm_err_set(err, EINVAL,
		                  "HEROKU_ACCESS_TOKEN is set: name the app to follow with -a APP");
	if (!hs_api_valid_app(cli->app))
		return cm_err_set(err, EINVAL,
		                  "-a \"%s\" is not an app name or id (letters, digits, '-', '_', "
		                  "'.')",
		                  cli->app);
	_cleanup_free_ char *cache = xasprintf("%s/api-slugs", data_dir());
	struct hs_poller_conf conf = {
	    .loop = &d->loop,
	    .api_url = cli->api_url,
	    .app = cli->app,
	    .token = d->token,
	    .interval_ms = (uint64_t)(cli->poll_interval * 1000),
	    .timeout_ms = (uint64_t)(cli->api_timeout * 1000),
	    .cache_dir = cache,
	    .watch = !(run || cli->oneshot),
	    .cb = on_api_release,
	    .data = d,
	};
	if (mkdir(data_dir(), 0755) < 0 && errno != EEXIST)
		return cm_err_sys(err, "make %s", data_dir());
	if (hs_poller_open(&conf, &d->poller, err) < 0)
		return -1;
	hs_sup_add_report(d->sup, "poller", hs_poller_report, d->poller);
	_cleanup_free_ char *shown = cm_http_redact(cli->api_url);
	hs_log_info("following app %s on %s every %gs", cli->app, shown, cli->poll_interval);
	hs_poller_start(d->poller);
	return 0;
}

static int open_release_source(struct daemon *d, cm_err *err)
{
	const char *dir = getenv("HSUP_CONTROL_DIR");
	bool run = d->cli->cmd == HS_CMD_RUN;
	if (dir && *dir) {
		if (d->token)
			hs_log_system("HEROKU_ACCESS_TOKEN is ignored: releases come from "
			              "HSUP_CONTROL_DIR (%s)",
			              dir);
		if (hs_ctldir_open(&d->loop, dir, on_release, on_note, d, &d->ctldir, err) < 0)
			return -1;
		/* A oneshot hsup runs one release: it need not watch for more. */
		int got = hs_ctldir_start(d->ctldir, !(run || d->cli->oneshot), err);
		if (got < 0)
			return -1;
		if (got == 0 && !run && d->cli->oneshot)
			return cm_err_set(err, EINVAL, "%s holds no release (new or loaded) to run",
			                  dir);
		if (got == 0 && !run)
			hs_log_info("waiting for a release: write it to %s/new", dir);
		if (got == 0 && run)
			offer_empty(d);
		return 0;
	}
	if (d->token)
		return follow_api(d, err);
	if (!run)
		return cm_err_set(err, EINVAL,
		                  "%s needs a release: set HSUP_CONTROL_DIR to a control directory "
		                  "holding one (see hsup help)",
		                  d->cli->cmd_name);
	offer_empty(d);
	return 0;
}

/* ---- logplex ---- */

static const char *app_name(struct daemon *d, const struct hs_release *r)
{
	if (d->cli->app && *d->cli->app)
		return d->cli->app;
	return r && r->name && *r->name ? r->name : "app";
}

/* --logplex-url, else $HSUP_LOGPLEX_URL: either wins over the release's LogplexURL. */
static int logplex_setup(struct daemon *d, cm_err *err)
{
	const char *env = getenv("HSUP_LOGPLEX_URL");
	d->fixed_logplex_url = d->cli->logplex_url;
	if (!d->fixed_logplex_url && env && *env) {
		if (hs_validate_url(env, "HSUP_LOGPLEX_URL", err) < 0)
			return -1;
		d->fixed_logplex_url = env;
	}
	return hs_logplex_conf_env(&d->lpconf, err);
}

/* Dyno lines go to the forwarder while there is a URL (and to stdout, unless --logplex-only);
 * without one, to stdout alone. */
static void logplex_tap(struct daemon *d, bool on)
{
	struct hs_log_tap tap = {
	    .line = hs_logplex_line, .room = hs_logplex_room, .data = d->logplex};
	hs_log_sink_tap(&d->sink, on ? &tap : NULL, d->cli->logplex_only);
	if (d->cli->cmd == HS_CMD_RUN) /* run's stderr */
		hs_log_sink_tap(&d->errsink, on ? &tap : NULL, d->cli->logplex_only);
}

static int logplex_start(struct daemon *d, const char *url, const struct hs_release *r, cm_err *err)
{
	struct hs_logplex_conf c = d->lpconf;
	bool run = d->cli->cmd == HS_CMD_RUN;
	if (run && !d->has_sink) { /* run's output passes through hsup from now on */
		hs_log_sink_init(&d->sink, &d->loop, 1, false);
		d->has_sink = true;
	}
	c.loop = &d->loop;
	c.url = url;
	c.app = app_name(d, r);
	c.sink = &d->sink;
	if (hs_logplex_new(&c, &d->logplex, err) < 0)
		return -1;
	logplex_tap(d, true);
	if (run)
		hs_sup_pipe_run(d->sup, &d->sink, &d->errsink);
	hs_sup_add_report(d->sup, "logplex", hs_logplex_report, d->logplex);
	return 0;
}

/* A release names the app and may name its own LogplexURL. */
static void on_apply(const struct hs_release *r, void *data)
{
	struct daemon *d = data;
	const char *url = d->fixed_logplex_url;
	cm_err err;
	if (!url && r->logplex_url && *r->logplex_url)
		url = r->logplex_url;
	if (d->logplex) {
		hs_logplex_set_app(d->logplex, app_name(d, r));
		hs_logplex_set_url(d->logplex, url);
		logplex_tap(d, url != NULL);
	} else if (url && logplex_start(d, url, r, &err) < 0) {
		hs_log_system("release v%lld: %s; dyno logs are not forwarded", r->version,
		              err.msg);
	}
}

static void make_supervisor(struct daemon *d)
{
	const struct hs_cli *cli = d->cli;
	bool run = cli->cmd == HS_CMD_RUN;
	struct hs_sup_conf conf = {
	    .loop = &d->loop,
	    .driver = d->driver,
	    .policy = {.stop_timeout_ms = (uint64_t)(cli->stop_timeout * 1000),
	               .backoff_base_ms = BACKOFF_BASE_MS,
	               .backoff_max_ms = BACKOFF_MAX_MS,
	               .stayup_ms = STAYUP_MS},
	    .run_mode = run,
	    .run_args = cli->args,
	    .oneshot = run || cli->oneshot,
	    .start_number = cli->start_number,
	    .host_network = !d->driver->ops->own_address,
	    .explicit_formation = cli->nscale > 0,
	    .scale = cli->scale,
	    .nscale = cli->nscale,
	    .sink = d->has_sink ? &d->sink : NULL,
	    .on_done = on_done,
	    .on_change = on_change,
	    .on_apply = on_apply,
	    .data = d,
	};
	d->sup = hs_sup_new(&conf);
}

static void note_unused_flags(const struct hs_cli *cli)
{
	if (cli->nbinds && strcmp(cli->driver, "simple") == 0)
		hs_log_system("--bind has no effect with the simple driver (dynos see the host)");
}

static char *state_dir; /* $HSUP_STATE_DIR or its default, for the drivers */

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

static char *data_dir(void)
{
	return (char *)env_or("HSUP_DATA_DIR", "/var/lib/hsup");
}

/* What every driver is told, from the command line and the environment. */
static struct hs_driver_conf driver_conf(const struct hs_cli *cli, uv_loop_t *loop)
{
	if (!state_dir)
		state_dir = hs_statedir_path();
	return (struct hs_driver_conf){
	    .loop = loop,
	    .stop_timeout = cli->stop_timeout,
	    .binds = cli->binds,
	    .tracking = env_or("HSUP_DYNO_TRACKING", "auto"),
	    .state_dir = state_dir,
	    .data_dir = data_dir(),
	    .stack_manifest = env_or("HSUP_STACK_MANIFEST", NULL),
	    .app_path = env_or("HSUP_APP_PATH", "/app"),
	    .log = hs_log_system,
	};
}

/* The driver that started a dyno of an earlier hsup: ours, or one made for it. */
static struct hs_driver *driver_named(struct daemon *d, const char *name, cm_err *err)
{
	if (strcmp(name, d->driver->ops->name) == 0)
		return d->driver;
	for (size_t i = 0; i < d->nothers; i++)
		if (strcmp(name, d->others[i]->ops->name) == 0)
			return d->others[i];
	const struct hs_driver_ops *ops = hs_driver_lookup(name);
	if (!ops)
		return cm_err_set(err, ENOENT, "unknown dyno driver \"%s\"", name), NULL;
	if (d->nothers == CM_ARRAY_SIZE(d->others) ||
	    ops->create(&d->dconf, &d->others[d->nothers], err) < 0)
		return NULL;
	return d->others[d->nothers++];
}

/* Dynos an hsup that died left running cannot be kept as they were: their output went to it,
 * and their next write would fail. They are stopped (SIGTERM, SIGKILL after the stop timeout)
 * and each dyno starts again once its predecessor is gone. */
static void stop_leftovers(struct daemon *d)
{
	json_t *left = hs_statedir_leftovers(d->statedir);
	json_t *dynos = json_object_get(left, "dynos"), *v;
	size_t i, n = 0;
	cm_err err;
	json_array_foreach (dynos, i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		const char *drv = json_string_value(json_object_get(v, "driver"));
		struct hs_driver *driver = name && drv ? driver_named(d, drv, &err) : NULL;
		int r = driver
		            ? hs_sup_adopt(d->sup, driver, name, json_object_get(v, "record"), &err)
		            : -1;
		if (r < 0)
			hs_log_system("dyno %s left by an earlier hsup: %s", name ? name : "?",
			              err.msg);
		n += r > 0;
	}
	if (n)
		hs_log_system("the hsup before this one (pid %lld) died leaving %zu dynos running; "
		              "stopping them (their output went to it), then starting this one's",
		              json_integer_value(json_object_get(left, "pid")), n);
}

/* One hsup at a time per release source: a control directory, or an app on an API. */
static int open_statedir(struct daemon *d, cm_err *err)
{
	const struct hs_cli *cli = d->cli;
	const char *dir = getenv("HSUP_CONTROL_DIR");
	_cleanup_free_ char *key = NULL, *source = NULL;
	if (cli->cmd != HS_CMD_START)
		return 0;
	if (dir && *dir) {
		if (!(key = hs_statedir_ctl_key(dir, err)))
			return -1;
		source = xasprintf("the control directory %s", dir);
	} else if (d->token && cli->app && *cli->app) {
		_cleanup_free_ char *shown = cm_http_redact(cli->api_url);
		key = hs_statedir_api_key(cli->api_url, cli->app);
		source = xasprintf("app %s of %s", cli->app, shown);
	} else {
		return 0;
	}
	if (hs_statedir_open(&d->loop, key, source, &d->statedir, err) < 0)
		return -1;
	d->owner = xasprintf("%s/%s", d->dconf.state_dir, key);
	d->dconf.owner = d->owner;
	return 0;
}

static int run_daemon(struct daemon *d, cm_err *err)
{
	const struct hs_cli *cli = d->cli;
	const struct hs_driver_ops *ops = hs_driver_lookup(cli->driver);
	raise_nofile(&d->child_nofile);
	cm_spawn_init(); /* its few descriptors before the many of dynos */
	uv_loop_init(&d->loop);
	if (logplex_setup(d, err) < 0)
		return -1;
	d->dconf = driver_conf(cli, &d->loop);
	d->dconf.child_nofile = &d->child_nofile;
	if (open_statedir(d, err) < 0)
		return -1;
	if (ops->create(&d->dconf, &d->driver, err) < 0) {
		if (d->statedir)
			hs_statedir_close(d->statedir);
		d->statedir = NULL;
		return -1;
	}
	if (cli->cmd == HS_CMD_START) {
		hs_log_sink_init(&d->sink, &d->loop, 1, isatty(1));
		d->has_sink = true;
	}
	/* stderr may be a socket that stalls (journald): hsup's messages must not stall the loop */
	hs_log_sink_init(&d->errsink, &d->loop, 2, false);
	hs_log_system_attach(&d->errsink);
	d->has_errsink = true;
	note_unused_flags(cli);
	make_supervisor(d);
	/* a URL of the command line or the environment is used from the start: a failure to
	 * load libcurl is said at once */
	if (d->fixed_logplex_url && logplex_start(d, d->fixed_logplex_url, NULL, err) < 0) {
		hs_sup_shutdown(d->sup);
		uv_run(&d->loop, UV_RUN_DEFAULT);
		return -1;
	}
	watch_signals(d);
	if (d->statedir) {
		stop_leftovers(d);
		hs_statedir_track(d->statedir, d->sup, ops->name);
	}
	if (cli->socket && hs_api_listen(&d->loop, cli->socket, d->sup, &d->api, err) < 0) {
		hs_sup_shutdown(d->sup);
		uv_run(&d->loop, UV_RUN_DEFAULT);
		return -1;
	}
	if (open_release_source(d, err) < 0) {
		hs_sup_shutdown(d->sup);
		uv_run(&d->loop, UV_RUN_DEFAULT);
		return -1;
	}
	uv_run(&d->loop, UV_RUN_DEFAULT);
	return 0;
}

static int close_daemon(struct daemon *d)
{
	uv_run(&d->loop, UV_RUN_DEFAULT); /* let close callbacks run */
	if (uv_loop_close(&d->loop) != 0)
		hs_log_system("internal: event loop still had open handles at exit");
	for (size_t i = 0; i < d->nothers; i++)
		d->others[i]->ops->destroy(d->others[i]);
	if (d->driver)
		d->driver->ops->destroy(d->driver);
	free(d->owner);
	return d->exit_code;
}

/* The token is for the API poller alone: out of the environment (dynos and any program hsup
 * starts inherit it) and wiped from the memory /proc/PID/environ shows. */
static char *take_token(void)
{
	char *v = getenv("HEROKU_ACCESS_TOKEN");
	if (!v)
		return NULL;
	char *copy = *v ? xstrdup(v) : NULL;
	explicit_bzero(v, strlen(v));
	unsetenv("HEROKU_ACCESS_TOKEN");
	return copy;
}

static void token_freep(char **token)
{
	if (*token) {
		explicit_bzero(*token, strlen(*token));
		free(*token);
	}
}

static int daemon_main(const struct hs_cli *cli)
{
	struct daemon d = {.cli = cli, .token = take_token()};
	cm_err err;
	hs_log_system_init(isatty(2), cli->cmd == HS_CMD_RUN);
	signal(SIGPIPE, SIG_IGN);
	int rc = run_daemon(&d, &err);
	int code = close_daemon(&d);
	token_freep(&d.token);
	if (rc < 0) {
		fprintf(stderr, "hsup: %s\n", err.msg);
		return err.code == EINVAL || err.code == ENOTSUP ? 2 : 1;
	}
	return code;
}

/* hsup build -a APP: the app's current release, from the API, once. */
struct api_once {
	struct hs_poller *poller;
	struct hs_release *r;
	cm_err err;
};

static void once_release(struct hs_release *r, void *data)
{
	struct api_once *o = data;
	o->r = r;
	hs_poller_close(o->poller);
}

static void once_failed(const char *why, void *data)
{
	struct api_once *o = data;
	cm_err_set(&o->err, EIO, "%s", why);
	hs_poller_close(o->poller);
}

static int api_release(const struct hs_cli *cli, const char *token, struct hs_release **out,
                       cm_err *err)
{
	struct api_once o = {0};
	uv_loop_t loop;
	_cleanup_free_ char *cache = xasprintf("%s/api-slugs", data_dir());
	if (!hs_api_valid_app(cli->app))
		return cm_err_set(err, EINVAL, "-a \"%s\" is not an app name or id", cli->app);
	if (mkdir(data_dir(), 0755) < 0 && errno != EEXIST)
		return cm_err_sys(err, "make %s", data_dir());
	uv_loop_init(&loop);
	struct hs_poller_conf conf = {
	    .loop = &loop,
	    .api_url = cli->api_url,
	    .app = cli->app,
	    .token = token,
	    .interval_ms = (uint64_t)(cli->poll_interval * 1000),
	    .timeout_ms = (uint64_t)(cli->api_timeout * 1000),
	    .cache_dir = cache,
	    .cb = once_release,
	    .give_up_after = 3,
	    .failed = once_failed,
	    .data = &o,
	};
	int rc = hs_poller_open(&conf, &o.poller, err);
	if (rc == 0) {
		hs_poller_start(o.poller);
		uv_run(&loop, UV_RUN_DEFAULT);
		if (!o.r)
			rc = (*err = o.err, -1);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	*out = o.r;
	return rc;
}

static int build_main(const struct hs_cli *cli)
{
	cm_err err;
	struct hs_release *r = NULL;
	const char *dir = getenv("HSUP_CONTROL_DIR");
	__attribute__((cleanup(token_freep))) char *token = take_token();
	int got = dir && *dir ? hs_ctldir_read(dir, &r, &err) : 0;
	if (got == 0 && !(dir && *dir) && token && cli->app && *cli->app)
		got = api_release(cli, token, &r, &err);
	if (got < 0) {
		fprintf(stderr, "hsup: build: %s\n", err.msg);
		return 1;
	}
	if (!r)
		r = hs_release_empty();
	const struct hs_driver_ops *ops = hs_driver_lookup(cli->driver);
	struct hs_driver *drv = NULL;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct hs_driver_conf conf = driver_conf(cli, &loop);
	int rc = ops->create(&conf, &drv, &err);
	bool cancel = false;
	struct hs_build *built = NULL;
	struct hs_release_info info = {
	    .version = r->version, .app = r->name, .slug = r->slug, .stack = r->stack};
	if (rc == 0)
		rc = ops->build(drv, &info, &cancel, &built, &err);
	hs_build_unref(built);
	if (drv)
		ops->destroy(drv);
	uv_loop_close(&loop);
	if (rc < 0)
		fprintf(stderr, "hsup: build of release v%lld failed: %s\n", r->version, err.msg);
	else
		printf("built release v%lld with the %s driver\n", r->version, cli->driver);
	hs_release_unref(r);
	return rc < 0 ? 1 : 0;
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "hsup: %s\n%s", msg, hs_cli_usage);
	return 2;
}

/* Started with 0, 1 or 2 closed, hsup's own files would take those numbers, and a dyno's
 * output or a log line could land in a control connection: give them /dev/null. */
static void fill_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) != fd)
			abort();
}

int main(int argc, char **argv)
{
	struct hs_cli cli;
	cm_err err;
	int code;
	fill_std_fds();
	if (hs_cli_parse(argc, argv, &cli, &err) < 0) {
		code = usage_error(err.msg);
	} else if (!hs_driver_lookup(cli.driver)) {
		_cleanup_free_ char *msg = xasprintf("unknown dyno driver \"%s\" (available: %s)",
		                                     cli.driver, hs_driver_names());
		code = usage_error(msg);
	} else {
		switch (cli.cmd) {
		case HS_CMD_HELP:
			fputs(hs_cli_usage, stdout);
			code = 0;
			break;
		case HS_CMD_VERSION:
			printf("hsup %s\n", HSUP_VERSION);
			code = 0;
			break;
		case HS_CMD_BUILD:
			code = build_main(&cli);
			break;
		case HS_CMD_RUN:
		case HS_CMD_START:
			code = daemon_main(&cli);
			break;
		default:
			code = hs_client_main(&cli);
			break;
		}
	}
	hs_cli_free(&cli);
	free(state_dir);
	return code;
}
