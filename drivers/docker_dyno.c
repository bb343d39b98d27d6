/* A docker dyno, on the loop: create the container (labelled, the dyno init as its entrypoint,
 * bound read-only), attach to its output (with logs=1: what it wrote before the attach came is
 * sent too), start it, inspect it (its address), wait for its exit; once both the wait and the
 * output have ended, remove it, then tell the supervisor. Every step is a request on the loop.
 *
 * Output comes multiplexed (8-byte headers: stream, 0, 0, 0, big-endian length) and goes to
 * the dyno's stdout and stderr fds, opened anew without blocking (/proc/self/fd/N: a
 * description of our own, so that its O_NONBLOCK touches nobody else's). When a pipe is full
 * the transfer is paused, what is left of the piece kept, and a uv_poll waits for room. */
#define _GNU_SOURCE
#include "drivers/docker_int.h"
#include "drivers/docker_attach.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOFILE_LIMIT 10000
#define R15          "Error R15 (Memory quota vastly exceeded)\n"
#define TMP_OPTS     "rw,nosuid,nodev,size=536870912"

struct dk_proc {
	struct hs_dyno_proc base;
	struct hs_docker_driver *d;
	struct hs_dyno_cbs cbs;
	hs_driver_exit_cb exited;
	void *data;
	char *id;
	bool adopted, running, released;
	/* the one step in flight (create, start, inspect, remove), the output and the wait */
	struct hs_docker_req *step, *attach, *wait;
	/* hsup run: the attach carries stdin too (a hijacked connection), on a terminal when the
	 * user has one; instead of attach */
	struct hs_docker_attach *io;
	bool interactive, tty;
	int in; /* the user's stdin (borrowed) */
	bool attach_done, wait_done;
	bool exit_known; /* the container's state after its end is read (OOMKilled) */
	bool start_sent;
	uv_timer_t go; /* sends the start from the loop once the attach is set up */
	bool go_made;
	cm_err start_err;
	bool start_failed;
	struct hs_exit how;
	/* the output */
	int fds[3];   /* [1], [2]: where stdout and stderr go (one pipe under hsup start) */
	bool dead[3]; /* that fd's reader is gone, or it cannot be watched: output dropped */
	unsigned char hdr[8];
	size_t hdr_len;
	uint32_t left; /* of the current frame's payload */
	int stream;
	char *held; /* bytes not yet demultiplexed, while a pipe is full */
	size_t held_len, held_off;
	uv_poll_t polls[3];
	bool poll_made[3];
	int blocked; /* the fd index a write waits on, or 0 */
	int open_handles;
};

static void step_remove(struct dk_proc *p);
static void maybe_done(struct dk_proc *p);
static void start_failed(struct dk_proc *p, const cm_err *err);

static void proc_free(struct dk_proc *p)
{
	free(p->id);
	free(p->held);
	free(p);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct dk_proc *p = h->data;
	if (--p->open_handles == 0 && p->released)
		proc_free(p);
}

/* ---- the output ---- */

/* Which of fds[1], fds[2] the current frame goes to (1 when both are one pipe). */
static int out_index(const struct dk_proc *p)
{
	return p->stream == 2 && p->fds[2] != p->fds[1] ? 2 : 1;
}

/* Demultiplexes what it can of buf; returns the bytes taken (fewer when a pipe is full, and
 * p->blocked says which). */
static size_t demux(struct dk_proc *p, const char *buf, size_t n)
{
	size_t i = 0;
	while (i < n) {
		if (p->tty) { /* a terminal's stream is not multiplexed: all of it is stdout */
			p->stream = 1;
			p->left = UINT32_MAX;
		}
		if (p->left == 0) {
			p->hdr[p->hdr_len++] = (unsigned char)buf[i++];
			if (p->hdr_len == 8) {
				p->stream = p->hdr[0];
				p->left = (uint32_t)p->hdr[4] << 24 | (uint32_t)p->hdr[5] << 16 |
				          (uint32_t)p->hdr[6] << 8 | p->hdr[7];
				p->hdr_len = 0;
			}
			continue;
		}
		size_t k = n - i < p->left ? n - i : p->left;
		int o = out_index(p);
		ssize_t w = p->dead[o] ? (ssize_t)k : write(p->fds[o], buf + i, k);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			p->blocked = o;
			return i;
		}
		if (w < 0) /* the reader is gone: what is left goes nowhere */
			w = (ssize_t)k;
		i += (size_t)w;
		p->left -= (uint32_t)w;
	}
	return i;
}

static void on_writable(uv_poll_t *h, int status, int events);

/* ---- the stream: an attach on the loop's HTTP, or, for hsup run, a hijacked one ---- */

static bool stream_open(const struct dk_proc *p)
{
	return p->attach || p->io;
}

static int stream_pause(struct dk_proc *p, bool pause, cm_err *err)
{
	if (p->io) {
		hs_docker_attach_pause(p->io, pause);
		return 0;
	}
	return p->attach ? hs_docker_pause(p->attach, pause, err) : 0;
}

static void stream_cancel(struct dk_proc *p)
{
	if (p->attach)
		hs_docker_cancel(p->attach);
	hs_docker_attach_close(p->io);
	p->attach = NULL;
	p->io = NULL;
}

/* Watches the blocked pipe for room; false when it cannot be watched (its output is dropped
 * from then on). */
static bool wait_room(struct dk_proc *p)
{
	int i = p->blocked;
	if (!p->poll_made[i]) {
		if (uv_poll_init(p->d->base.conf.loop, &p->polls[i], p->fds[i]) < 0) {
			p->dead[i] = true;
			return false;
		}
		p->polls[i].data = p;
		p->poll_made[i] = true;
		p->open_handles++;
	}
	uv_poll_start(&p->polls[i], UV_WRITABLE, on_writable);
	return true;
}

/* Takes what it can of buf; the rest is held and the stream paused until there is room. */
static size_t on_output(const char *buf, size_t n, void *data)
{
	struct dk_proc *p = data;
	cm_err err;
	size_t took = 0;
	for (;;) {
		p->blocked = 0;
		took += demux(p, buf + took, n - took);
		if (took == n)
			return n;
		if (wait_room(p))
			break;
	}
	p->held = xrealloc(p->held, n - took);
	memcpy(p->held, buf + took, n - took);
	p->held_len = n - took;
	p->held_off = 0;
	if (stream_pause(p, true, &err) < 0)
		return 0; /* ends the transfer */
	return n;
}

static void on_writable(uv_poll_t *h, int status, int events)
{
	struct dk_proc *p = h->data;
	cm_err err;
	(void)events;
	uv_poll_stop(h);
	if (status < 0)
		p->dead[h - p->polls] = true;
	for (;;) {
		p->blocked = 0;
		p->held_off += demux(p, p->held + p->held_off, p->held_len - p->held_off);
		if (!p->blocked)
			break;
		if (wait_room(p))
			return;
	}
	p->held_len = p->held_off = 0;
	if (stream_pause(p, false, &err) < 0)
		hs_docker_log(p->d, "%s", err.msg);
	if (!stream_open(p) && !p->attach_done) { /* the stream ended while its last piece waited */
		p->attach_done = true;
		maybe_done(p);
	}
}

static int open_output(struct dk_proc *p, const struct hs_dyno_spec *spec, cm_err *err)
{
	p->fds[0] = -1;
	for (int i = 1; i <= 2; i++) {
		char path[64];
		if (i == 2 && spec->stdio[2] == spec->stdio[1]) {
			p->fds[2] = p->fds[1];
			break;
		}
		struct stat st;
		if (fstat(spec->stdio[i], &st) < 0)
			return cm_err_sys(err, "the dyno's output (fd %d)", spec->stdio[i]);
		/* a file never blocks, and reopened it would lose its offset and O_APPEND */
		if (S_ISREG(st.st_mode)) {
			p->fds[i] = fcntl(spec->stdio[i], F_DUPFD_CLOEXEC, 3);
			if (p->fds[i] < 0)
				return cm_err_sys(err, "dup the dyno's output (fd %d)",
				                  spec->stdio[i]);
			continue;
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", spec->stdio[i]);
		p->fds[i] = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (p->fds[i] < 0)
			return cm_err_sys(err, "open the dyno's output %s", path);
	}
	return 0;
}

static void close_output(struct dk_proc *p)
{
	for (int i = 1; i <= 2; i++) {
		if (p->poll_made[i]) {
			p->poll_made[i] = false;
			uv_close((uv_handle_t *)&p->polls[i], on_handle_closed);
		}
	}
	if (p->fds[1] >= 0)
		close(p->fds[1]);
	if (p->fds[2] >= 0 && p->fds[2] != p->fds[1])
		close(p->fds[2]);
	p->fds[1] = p->fds[2] = -1;
}

/* ---- the end ---- */

/* The callbacks release p: what they are given lives on the stack. */
static void ended(struct dk_proc *p)
{
	if (p->start_failed) {
		cm_err err = p->start_err;
		p->cbs.started(&p->base, &err, p->data);
		return;
	}
	struct hs_exit how = p->how;
	p->exited(&p->base, &how, p->data);
}

static void on_removed(long status, json_t *body, const cm_err *err, void *data)
{
	struct dk_proc *p = data;
	(void)body;
	p->step = NULL;
	if (err && status != 404)
		hs_docker_log(p->d, "%s", err->msg);
	ended(p);
}

static void step_remove(struct dk_proc *p)
{
	cm_err err;
	if (!p->id) {
		ended(p);
		return;
	}
	_cleanup_free_ char *path = xasprintf("/containers/%s?force=1&v=1", p->id);
	struct hs_docker_call_opts o = {.method = "DELETE", .path = path};
	if (hs_docker_call(&p->d->api, &o, on_removed, p, &p->step, &err) < 0) {
		hs_docker_log(p->d, "%s", err.msg);
		ended(p);
	}
}

static void maybe_done(struct dk_proc *p)
{
	if (p->attach_done && p->wait_done && p->exit_known)
		step_remove(p);
}

/* Killed by the kernel for passing its memory limit: said in its output (R15), and the status
 * (128 + 9 from the init) is a SIGKILL. */
static void on_exit_state(long status, json_t *body, const cm_err *err, void *data)
{
	struct dk_proc *p = data;
	(void)status;
	p->step = NULL;
	p->exit_known = true;
	json_t *st = json_object_get(body, "State");
	if (!err && json_is_true(json_object_get(st, "OOMKilled"))) {
		p->how.oom = true;
		if (p->how.status.code == 128 + SIGKILL)
			p->how.status = (struct cm_exit){.signal = SIGKILL};
		if (p->fds[2] >= 0)
			(void)cm_write_all(p->fds[2], R15, strlen(R15));
	}
	maybe_done(p);
}

static void step_exit_state(struct dk_proc *p)
{
	cm_err err;
	_cleanup_free_ char *path = xasprintf("/containers/%s/json", p->id);
	struct hs_docker_call_opts o = {.method = "GET", .path = path};
	if (hs_docker_call(&p->d->api, &o, on_exit_state, p, &p->step, &err) < 0) {
		hs_docker_log(p->d, "%s", err.msg);
		p->exit_known = true;
	}
}

/* The output has ended (the attach's answer, or the hijacked connection, is done). */
static void attach_ended(struct dk_proc *p, const cm_err *err)
{
	/* once started, the wait says how the dyno ended */
	if (!p->start_sent) {
		cm_err e;
		if (!err)
			cm_err_set(&e, EIO, "docker: the attach to %.12s ended before it started",
			           p->id);
		uv_timer_stop(&p->go);
		start_failed(p, err ? err : &e);
		return;
	}
	if (p->held_len > p->held_off)
		return; /* done once what is held is written (on_writable) */
	p->attach_done = true;
	maybe_done(p);
}

static void on_attach_end(long status, json_t *body, const cm_err *err, void *data)
{
	struct dk_proc *p = data;
	(void)status;
	(void)body;
	p->attach = NULL;
	attach_ended(p, err);
}

static void on_io_ended(const cm_err *err, void *data)
{
	struct dk_proc *p = data;
	hs_docker_attach_close(p->io);
	p->io = NULL;
	attach_ended(p, err);
}

static void on_wait(long status, json_t *body, const cm_err *err, void *data)
{
	struct dk_proc *p = data;
	p->wait = NULL;
	p->wait_done = true;
	if (err) {
		p->how.status.code = 255;
		p->how.status_unknown = p->adopted || status != 404;
		snprintf(p->how.reason, sizeof(p->how.reason), "%s", err->msg);
		if (status != 404)
			hs_docker_log(p->d, "%s", err->msg);
	} else {
		p->how.status.code = (int)json_integer_value(json_object_get(body, "StatusCode"));
		p->how.status_unknown = p->adopted;
	}
	p->exit_known = true;
	if (!err && !p->adopted && !p->step) {
		p->exit_known = false;
		step_exit_state(p);
	}
	/* dockerd gone: the output ends with it, or never */
	if (err && stream_open(p)) {
		stream_cancel(p);
		p->attach_done = true;
	}
	maybe_done(p);
}

static int start_wait(struct dk_proc *p, cm_err *err)
{
	_cleanup_free_ char *path = xasprintf("/containers/%s/wait", p->id);
	struct hs_docker_call_opts o = {.method = "POST", .path = path};
	return hs_docker_call(&p->d->api, &o, on_wait, p, &p->wait, err);
}

/* ---- starting ---- */

static void start_failed(struct dk_proc *p, const cm_err *err)
{
	if (p->go_made)
		uv_timer_stop(&p->go);
	p->start_failed = true;
	p->start_err = *err;
	stream_cancel(p);
	step_remove(p);
}

static void address_of(struct dk_proc *p, json_t *c)
{
	json_t *ns = json_object_get(c, "NetworkSettings"), *net;
	const char *ip = json_string_value(json_object_get(ns, "IPAddress")), *name;
	json_object_foreach (json_object_get(ns, "Networks"), name, net) {
		if (ip && *ip)
			break;
		ip = json_string_value(json_object_get(net, "IPAddress"));
	}
	snprintf(p->base.ip, sizeof(p->base.ip), "%s", ip ? ip : "");
	p->base.pid =
	    (pid_t)json_integer_value(json_object_get(json_object_get(c, "State"), "Pid"));
}

static void on_inspect(long status, json_t *body, const cm_err *err, void *data)
{
	struct dk_proc *p = data;
	cm_err e;
	(void)status;
	p->step = NULL;
	if (!err)
		address_of(p, body);
	if (start_wait(p, &e) < 0) {
		start_failed(p, &e);
		return;
	}
	p->running = true;
	if (p->io)
		hs_docker_attach_running(p->io);
	p->cbs.started(&p->base, NULL, p->data);
}

static void on_started(long status, json_t *body, const cm_err *err, void *data)
{
	struct dk_proc *p = data;
	cm_err e;
	(void)status;
	(void)body;
	p->step = NULL;
	if (err) {
		start_failed(p, err);
		return;
	}
	_cleanup_free_ char *path = xasprintf("/containers/%s/json", p->id);
	struct hs_docker_call_opts o = {.method = "GET", .path = path};
	if (hs_docker_call(&p->d->api, &o, on_inspect, p, &p->step, &e) < 0)
		start_failed(p, &e);
}

static void on_go(uv_timer_t *t)
{
	struct dk_proc *p = t->data;
	cm_err e;
	_cleanup_free_ char *start = xasprintf("/containers/%s/start", p->id);
	struct hs_docker_call_opts so = {.method = "POST", .path = start};
	p->start_sent = true;
	if (hs_docker_call(&p->d->api, &so, on_started, p, &p->step, &e) < 0)
		start_failed(p, &e);
}

/* The attach is set up: the start may go (from the loop, not from within curl). */
static void on_attached(void *data)
{
	struct dk_proc *p = data;
	if (!p->start_sent)
		uv_timer_start(&p->go, on_go, 0, 0);
}

static void on_io_ready(const cm_err *err, void *data)
{
	struct dk_proc *p = data;
	if (err) {
		p->io = NULL; /* gone with the error */
		start_failed(p, err);
		return;
	}
	on_attached(p);
}

static void on_aside(long status, json_t *body, const cm_err *err, void *data);

static void on_io_resize(unsigned short rows, unsigned short cols, void *data)
{
	struct dk_proc *p = data;
	cm_err err;
	_cleanup_free_ char *path = xasprintf("/containers/%s/resize?h=%u&w=%u", p->id, rows, cols);
	struct hs_docker_call_opts o = {.method = "POST", .path = path};
	if (hs_docker_call(&p->d->api, &o, on_aside, p->d, NULL, &err) < 0)
		hs_docker_log(p->d, "%s", err.msg);
}

static void on_io_hangup(void *data)
{
	struct dk_proc *p = data;
	cm_err err;
	if (hs_docker_signal(&p->base, SIGHUP, &err) < 0)
		hs_docker_log(p->d, "%s", err.msg);
}

static const struct hs_docker_attach_cbs io_cbs = {
    .ready = on_io_ready,
    .output = on_output,
    .ended = on_io_ended,
    .resize = on_io_resize,
    .hangup = on_io_hangup,
};

/* The output first, then the start, once the attach is set up: nothing the dyno writes is lost
 * (an attach with logs=1 instead would replay the log and could repeat or skip lines). */
static void on_created(long status, json_t *body, const cm_err *err, void *data)
{
	struct dk_proc *p = data;
	cm_err e;
	(void)status;
	p->step = NULL;
	const char *id = json_string_value(json_object_get(body, "Id"));
	if (!err && !id)
		cm_err_set(&e, EIO, "docker: POST /containers/create: no Id in the answer");
	if (err || !id) {
		start_failed(p, err ? err : &e);
		return;
	}
	p->id = xstrdup(id);
	if (p->interactive) {
		if (hs_docker_attach_open(p->d->base.conf.loop, &p->d->conn, id, p->in, p->tty,
		                          &io_cbs, p, &p->io, &e) < 0)
			start_failed(p, &e);
		return;
	}
	_cleanup_free_ char *attach =
	    xasprintf("/containers/%s/attach?stream=1&stdout=1&stderr=1", id);
	struct hs_docker_call_opts ao = {
	    .method = "POST", .path = attach, .on_data = on_output, .on_headers = on_attached};
	if (hs_docker_call(&p->d->api, &ao, on_attach_end, p, &p->attach, &e) < 0)
		start_failed(p, &e);
}

static json_t *host_config(struct dk_proc *p, const struct hs_dyno_spec *spec)
{
	const struct hs_driver_conf *conf = &p->d->base.conf;
	json_t *binds = json_array();
	json_array_append_new(binds, json_sprintf("%s:" HS_DOCKER_INIT ":ro", p->d->init_path));
	for (size_t i = 0; conf->binds && conf->binds[i]; i++) {
		const char *b = conf->binds[i];
		json_array_append_new(binds, strchr(b, ':') ? json_sprintf("%s:ro", b)
		                                            : json_sprintf("%s:%s:ro", b, b));
	}
	json_t *hc = json_pack(
	    "{s:o, s:[s], s:[s], s:[{s:s, s:i, s:i}], s:{s:s, s:s}, s:{s:s, s:{s:s, s:s}}}",
	    "Binds", binds, "CapDrop", "ALL", "SecurityOpt", "no-new-privileges", "Ulimits", "Name",
	    "nofile", "Soft", NOFILE_LIMIT, "Hard", NOFILE_LIMIT, "Tmpfs", "/tmp", TMP_OPTS,
	    "/var/tmp", TMP_OPTS, "LogConfig", "Type", "json-file", "Config", "max-size", "1m",
	    "max-file", "1");
	if (spec->memory_limit) {
		json_object_set_new(hc, "Memory", json_integer((json_int_t)spec->memory_limit));
		json_object_set_new(hc, "MemorySwap", json_integer((json_int_t)spec->memory_limit));
	}
	if (spec->cpu_shares > 0)
		json_object_set_new(hc, "CpuShares", json_integer(spec->cpu_shares));
	if (spec->pids_limit > 0)
		json_object_set_new(hc, "PidsLimit", json_integer(spec->pids_limit));
	return hc;
}

static json_t *container_config(struct dk_proc *p, const struct hs_dyno_spec *spec,
                                const struct hs_docker_build *b)
{
	char user[32];
	snprintf(user, sizeof(user), "%d:%d", HS_DOCKER_DYNO_UID, HS_DOCKER_DYNO_UID);
	json_t *cmd = json_array(), *env = json_array();
	json_array_append_new(cmd, json_string("--grace"));
	json_array_append_new(cmd, json_sprintf("%d", (int)(p->d->base.conf.stop_timeout + 0.999)));
	json_array_append_new(cmd, json_string("--"));
	for (size_t i = 0; spec->args[i]; i++)
		json_array_append_new(cmd, json_string(spec->args[i]));
	for (size_t i = 0; spec->env[i]; i++)
		json_array_append_new(env, json_string(spec->env[i]));
	json_t *labels = hs_docker_labels(p->d);
	json_object_set_new(labels, HS_DOCKER_L_APP, json_string(b->app));
	json_object_set_new(labels, HS_DOCKER_L_RELEASE, json_sprintf("v%lld", b->version));
	json_object_set_new(labels, HS_DOCKER_L_DYNO, json_string(spec->name));
	json_t *c =
	    json_pack("{s:s, s:s, s:[s], s:o, s:o, s:s, s:s, s:o, s:b, s:b, s:o}", "Image",
	              b->image, "Hostname", spec->name, "Entrypoint", HS_DOCKER_INIT, "Cmd", cmd,
	              "Env", env, "User", user, "WorkingDir", "/app", "Labels", labels,
	              "AttachStdout", 1, "AttachStderr", 1, "HostConfig", host_config(p, spec));
	if (p->interactive) { /* its stdin is closed once the attach's input ends */
		json_object_set_new(c, "OpenStdin", json_true());
		json_object_set_new(c, "StdinOnce", json_true());
		json_object_set_new(c, "AttachStdin", json_true());
		json_object_set_new(c, "Tty", json_boolean(p->tty));
	}
	return c;
}

int hs_docker_start(struct hs_driver *base, const struct hs_dyno_spec *spec,
                    const struct hs_dyno_cbs *cbs, void *data, struct hs_dyno_proc **out,
                    cm_err *err)
{
	struct hs_docker_driver *d = (struct hs_docker_driver *)base;
	const struct hs_docker_build *b = (const struct hs_docker_build *)spec->build;
	if (!b)
		return cm_err_set(err, EINVAL, "docker: the release was not built");
	struct dk_proc *p = xcalloc(1, sizeof(*p));
	p->base.driver = base;
	p->d = d;
	p->cbs = *cbs;
	p->exited = cbs->exited;
	p->data = data;
	p->fds[1] = p->fds[2] = -1;
	/* hsup run: the user's stdin, and a terminal of the dyno's own when the user has one */
	p->interactive = spec->user_stdin;
	p->tty = spec->foreground && isatty(spec->stdio[0]) && isatty(spec->stdio[1]);
	p->in = spec->stdio[0];
	if (open_output(p, spec, err) < 0) {
		close_output(p);
		proc_free(p);
		return cm_err_wrap(err, "docker");
	}
	uv_timer_init(base->conf.loop, &p->go);
	p->go.data = p;
	p->go_made = true;
	p->open_handles++;
	json_t *cfg = container_config(p, spec, b);
	struct hs_docker_call_opts o = {
	    .method = "POST", .path = "/containers/create", .body = cfg};
	int r = hs_docker_call(&d->api, &o, on_created, p, &p->step, err);
	json_decref(cfg);
	if (r < 0) {
		p->step = NULL;
		hs_docker_release(&p->base);
		return -1;
	}
	*out = &p->base;
	return 1;
}

/* ---- signals, records, adoption ---- */

/* A call on the side of a dyno's life (a signal, a terminal's size): only its failure is said. */
static void on_aside(long status, json_t *body, const cm_err *err, void *data)
{
	struct hs_docker_driver *d = data;
	(void)body;
	/* 409: it is not running (any more); 404: removed meanwhile */
	if (err && status != 409 && status != 404)
		hs_docker_log(d, "%s", err->msg);
}

int hs_docker_signal(struct hs_dyno_proc *base, int sig, cm_err *err)
{
	struct dk_proc *p = (struct dk_proc *)base;
	if (!p->id || p->wait_done)
		return 0;
	_cleanup_free_ char *path = xasprintf("/containers/%s/kill?signal=%d", p->id, sig);
	struct hs_docker_call_opts o = {.method = "POST", .path = path};
	return hs_docker_call(&p->d->api, &o, on_aside, p->d, NULL, err);
}

void hs_docker_release(struct hs_dyno_proc *base)
{
	struct dk_proc *p = (struct dk_proc *)base;
	struct hs_docker_req **reqs[] = {&p->step, &p->wait};
	for (size_t i = 0; i < CM_ARRAY_SIZE(reqs); i++)
		if (*reqs[i]) {
			hs_docker_cancel(*reqs[i]);
			*reqs[i] = NULL;
		}
	stream_cancel(p);
	close_output(p);
	if (p->go_made) {
		p->go_made = false;
		uv_close((uv_handle_t *)&p->go, on_handle_closed);
	}
	p->released = true;
	if (p->open_handles == 0)
		proc_free(p);
}

json_t *hs_docker_record(struct hs_dyno_proc *base)
{
	struct dk_proc *p = (struct dk_proc *)base;
	return p->id ? json_pack("{s:s}", "container", p->id) : NULL;
}

/* Watched until it ends (the supervisor stops it), then removed; its output went to the hsup
 * that died, and its status is dockerd's. */
int hs_docker_adopt(struct hs_driver *base, json_t *record, hs_driver_exit_cb cb, void *data,
                    struct hs_dyno_proc **out, cm_err *err)
{
	const char *id = json_string_value(json_object_get(record, "container"));
	if (!id)
		return cm_err_set(err, EINVAL, "docker: the record names no container");
	struct dk_proc *p = xcalloc(1, sizeof(*p));
	p->base.driver = base;
	p->d = (struct hs_docker_driver *)base;
	p->exited = cb;
	p->data = data;
	p->id = xstrdup(id);
	p->adopted = p->running = p->attach_done = true;
	p->fds[1] = p->fds[2] = -1;
	if (start_wait(p, err) < 0) {
		proc_free(p);
		return -1;
	}
	*out = &p->base;
	return 1;
}
