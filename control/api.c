#define _GNU_SOURCE
#include "control/api.h"
#include "control/api_http.h"
#include "control/http_unix.h"
#include "hsupd/supervisor.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_BUF   (16 * 1024)
#define IDLE_MS    30000 /* between requests */
#define REQUEST_MS 10000 /* from the first byte of a request to its end */
#define ANSWER_MS  30000 /* for the client to take an answer */
#define MAX_CONNS  64
/* a restart holds its output pipe, an exec report pipe, a pidfd, its cgroup's directory and
 * cgroup.procs, and cgroup.events while the dyno's last processes are waited for */
#define FDS_PER_DYNO 6
#define FD_MARGIN    32 /* the loop's, the control directory's, a release being written */
#define PROBE_MS     1000
#define SOCKET_MODE  0770

struct conn;

struct hs_api {
	uv_loop_t *loop;
	struct hs_sup *sup;
	char *path;
	dev_t dev; /* the socket file we bound: the only one we remove */
	ino_t ino;
	bool bound;
	uv_pipe_t server;
	DIR *fds; /* /proc/self/fd, to count the descriptors in use */
	struct conn *conns;
	int nconns;
};

/* What a connection waits for; each has its own time limit. */
enum phase {
	PHASE_IDLE,    /* the next request */
	PHASE_REQUEST, /* the end of a request that has begun */
	PHASE_ANSWER,  /* the client to take its answer */
};

static const uint64_t phase_ms[] = {IDLE_MS, REQUEST_MS, ANSWER_MS};

/* One request at a time: while an answer is written nothing more is read, so a connection
 * holds at most one read buffer and one answer however much the client sends. */
struct conn {
	struct hs_api *api;
	struct conn *next, *prev;
	uv_pipe_t pipe;
	uv_timer_t timer;
	enum phase phase;
	struct hs_api_http http;
	char *rbuf; /* the last read; [roff, rlen) is not parsed yet */
	size_t roff, rlen;
	bool reading, closing;
	int open_handles;
};

struct write_req {
	uv_write_t req;
	struct conn *c;
	struct hs_api_answer ans;
};

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	hs_api_http_free(&c->http);
	free(c->rbuf);
	free(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->api->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->api->nconns--;
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

static void on_timeout(uv_timer_t *t);

/* Each answer gets its own time; a phase that goes on keeps the time it began with. */
static void enter(struct conn *c, enum phase p)
{
	if (c->phase == p && p != PHASE_ANSWER)
		return;
	c->phase = p;
	uv_timer_start(&c->timer, on_timeout, phase_ms[p], 0);
}

/* Best effort, for a connection about to be closed: what does not fit at once is dropped. */
static void answer_now(uv_stream_t *s, int status, const char *msg)
{
	struct hs_api_answer ans;
	hs_api_http_refusal(status, msg, &ans);
	uv_buf_t buf = uv_buf_init(ans.data, (unsigned)ans.len);
	uv_try_write(s, &buf, 1);
	free(ans.data);
}

static void on_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;
	if (c->phase == PHASE_REQUEST)
		answer_now((uv_stream_t *)&c->pipe, 408, "the request was not complete in time");
	conn_close(c);
}

static void process(struct conn *c);

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->c;
	bool close_after = w->ans.close;
	free(w->ans.data);
	free(w);
	if (c->closing)
		return;
	if (status < 0 || close_after)
		conn_close(c);
	else
		process(c); /* the rest of what was read */
}

static void send_answer(struct conn *c, struct hs_api_answer *ans)
{
	if (c->reading)
		uv_read_stop((uv_stream_t *)&c->pipe);
	c->reading = false;
	struct write_req *w = xmalloc(sizeof(*w));
	w->c = c;
	w->ans = *ans;
	uv_buf_t buf = uv_buf_init(ans->data, (unsigned)ans->len);
	if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_written) < 0) {
		free(w->ans.data);
		free(w);
		conn_close(c);
		return;
	}
	enter(c, PHASE_ANSWER);
}

static void alloc_buf(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	(void)suggested;
	if (!c->rbuf)
		c->rbuf = xmalloc(READ_BUF);
	*buf = uv_buf_init(c->rbuf, READ_BUF);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	(void)buf;
	if (n < 0) { /* the end, or an error: nothing is left to answer */
		conn_close(c);
	} else if (n > 0) {
		c->roff = 0;
		c->rlen = (size_t)n;
		process(c);
	}
}

/* Parses what was read up to the end of a request and sends its answer; the rest waits for
 * the answer to be written. Once everything was parsed, reads again. */
static void process(struct conn *c)
{
	while (c->roff < c->rlen) {
		struct hs_api_answer ans;
		c->roff += hs_api_http_feed(&c->http, c->rbuf + c->roff, c->rlen - c->roff, &ans);
		if (ans.data)
			return send_answer(c, &ans);
	}
	enter(c, c->http.in_request ? PHASE_REQUEST : PHASE_IDLE);
	if (!c->reading && uv_read_start((uv_stream_t *)&c->pipe, alloc_buf, on_read) < 0)
		return conn_close(c);
	c->reading = true;
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

/* Accepts the pending connection only to answer 503 and close it. */
static void refuse(struct hs_api *api, const char *why)
{
	uv_pipe_t *p = xmalloc(sizeof(*p));
	uv_pipe_init(api->loop, p, 0);
	if (uv_accept((uv_stream_t *)&api->server, (uv_stream_t *)p) == 0)
		answer_now((uv_stream_t *)p, 503, why);
	uv_close((uv_handle_t *)p, free_handle);
}

static long count_open_fds(struct hs_api *api)
{
	long n = 0;
	struct dirent *e;
	rewinddir(api->fds);
	while ((e = readdir(api->fds)))
		n += e->d_name[0] != '.';
	return n;
}

/* Descriptors left once the pending connection is accepted (libuv already holds it). */
static long free_fds(struct hs_api *api)
{
	struct rlimit rl;
	if (!api->fds || getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return LONG_MAX;
	return (long)rl.rlim_cur - count_open_fds(api);
}

/* What restarting every dyno takes, so that no connection can starve them. */
static long fd_reserve(struct hs_api *api)
{
	long n = 0;
	for (struct hs_dyno *d = hs_sup_dynos(api->sup); d; d = d->next)
		n++;
	return n * FDS_PER_DYNO + FD_MARGIN;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct hs_api *api = server->data;
	if (status < 0)
		return;
	if (api->nconns >= MAX_CONNS)
		return refuse(api, "too many connections to the control API; try again later");
	/* One connection is always served: a formation too big for the fd limit must not lock
	 * out the operator who would scale it down. */
	if (api->nconns > 0 && free_fds(api) < fd_reserve(api))
		return refuse(api,
		              "too few file descriptors are left: they are kept for the dynos");
	struct conn *c = xcalloc(1, sizeof(*c));
	c->api = api;
	uv_pipe_init(api->loop, &c->pipe, 0);
	uv_timer_init(api->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->open_handles = 2;
	c->next = api->conns;
	if (api->conns)
		api->conns->prev = c;
	api->conns = c;
	api->nconns++;
	hs_api_http_init(&c->http, api->sup);
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0)
		return conn_close(c);
	c->phase = PHASE_IDLE;
	uv_timer_start(&c->timer, on_timeout, IDLE_MS, 0);
	process(c);
}

/* Asks whatever listens on path for /health: 1 if an hsup answers (or says it is too busy
 * to), 0 if nothing listens (a dead socket file), -1 if something else is there. */
static int probe(const char *path)
{
	struct hs_http_response r;
	cm_err err;
	if (hs_http_unix(path, "GET", "/health", NULL, PROBE_MS, &r, &err) < 0)
		return err.code == ECONNREFUSED ? 0 : -1;
	int live = (r.status == 200 && strcmp(r.body, "OK") == 0) || r.status == 503;
	free(r.body);
	return live ? 1 : -1;
}

static int clear_stale_socket(const char *path, cm_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : cm_err_sys(err, "control socket %s", path);
	if (!S_ISSOCK(st.st_mode))
		return cm_err_set(err, EEXIST, "control socket %s: exists and is not a socket",
		                  path);
	switch (probe(path)) {
	case 1:
		return cm_err_set(err, EADDRINUSE,
		                  "control socket %s: another hsup is running and listening there",
		                  path);
	case 0:
		if (unlink(path) < 0)
			return cm_err_sys(err, "control socket %s: remove the stale socket", path);
		return 0;
	default:
		return cm_err_set(err, EADDRINUSE, "control socket %s: in use by another program",
		                  path);
	}
}

/* Removes the socket file if it is still the one we bound: another hsup may have replaced
 * it since (after ours was moved away or deemed stale), and its socket is not ours to take. */
static void remove_own_socket(struct hs_api *api)
{
	struct stat st;
	if (api->bound && lstat(api->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == api->dev && st.st_ino == api->ino)
		unlink(api->path);
	api->bound = false;
}

/* Notes which file the bind made, and gives it its mode through that very file: the path
 * may have been replaced meanwhile (by a symlink, say) in a directory others can write. */
static int own_socket_file(struct hs_api *api, const char *path, cm_err *err)
{
	struct stat st;
	_cleanup_close_ int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return cm_err_sys(err, "control socket %s", path);
	if (!S_ISSOCK(st.st_mode))
		return cm_err_set(err, EEXIST, "control socket %s: replaced after bind", path);
	api->dev = st.st_dev;
	api->ino = st.st_ino;
	api->bound = true;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (chmod(proc, SOCKET_MODE) < 0)
		return cm_err_sys(err, "control socket %s: chmod", path);
	return 0;
}

/* Takes over fd, a bound socket. */
static int listen_on(struct hs_api *api, int fd, cm_err *err)
{
	int rc = uv_pipe_open(&api->server, fd);
	if (rc < 0) {
		close(fd);
		return cm_err_errno(err, -rc, "control socket %s: watch it", api->path);
	}
	if ((rc = uv_listen((uv_stream_t *)&api->server, 128, on_connection)) < 0)
		return cm_err_errno(err, -rc, "control socket %s: listen", api->path);
	return 0;
}

/* Binds the socket itself: libuv unlinks a path it bound when the handle closes, whoever's
 * socket is there by then. */
static int bind_socket(struct hs_api *api, const char *path, cm_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	uv_pipe_init(api->loop, &api->server, 0);
	api->server.data = api;
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cm_err_sys(err, "control socket %s: socket", path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return cm_err_sys(err, "control socket %s: bind", path);
	if (own_socket_file(api, path, err) < 0 || listen_on(api, cm_steal_fd(fd), err) < 0) {
		remove_own_socket(api);
		return -1;
	}
	return 0;
}

static void on_server_closed(uv_handle_t *h)
{
	struct hs_api *api = h->data;
	free(api->path);
	free(api);
}

int hs_api_listen(uv_loop_t *loop, const char *path, struct hs_sup *sup, struct hs_api **out,
                  cm_err *err)
{
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return cm_err_set(err, ENAMETOOLONG, "control socket %s: the path is too long",
		                  path);
	if (clear_stale_socket(path, err) < 0)
		return -1;
	struct hs_api *api = xcalloc(1, sizeof(*api));
	api->loop = loop;
	api->sup = sup;
	api->path = xstrdup(path);
	if (bind_socket(api, path, err) < 0) {
		uv_close((uv_handle_t *)&api->server, on_server_closed);
		return -1;
	}
	/* Without /proc the descriptors cannot be counted, and none are held back. */
	api->fds = opendir("/proc/self/fd");
	*out = api;
	return 0;
}

void hs_api_close(struct hs_api *api)
{
	while (api->conns)
		conn_close(api->conns);
	remove_own_socket(api);
	if (api->fds)
		closedir(api->fds);
	uv_close((uv_handle_t *)&api->server, on_server_closed);
}
