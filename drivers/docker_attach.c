/* See docker_attach.h. */
#define _GNU_SOURCE
#include "drivers/docker_attach.h"
#include "common/cleanup.h"
#include "common/curl.h"
#include "common/pty.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_TIMEOUT_MS 30000 /* to connect, and for dockerd's answer to the request */
#define ANSWER_MAX        65536 /* of an error's body */
#define KEYS_MAX          16384 /* input read, not yet taken by the connection */
#define OUTPUT_MAX        65536 /* one read of the connection */

struct hs_docker_attach {
	uv_loop_t *loop;
	const struct hs_docker_conn *conn;
	struct hs_docker_attach_cbs cbs;
	void *data;
	char *path;
	/* set on the thread pool, read on the loop once it is done */
	uv_work_t work;
	CURL *curl;
	curl_socket_t sock;
	cm_err err;
	bool failed;
	char *first; /* output that came with the answer */
	size_t first_len, first_off;
	/* on the loop */
	bool connecting, closed, tty, raw, running;
	struct termios saved;
	int in;            /* our own description of the input, or -1 */
	bool in_pollable;  /* else a file: read when the connection has room */
	bool in_eof, shut; /* the input has ended; the writing half is shut */
	bool paused, out_eof;
	char keys[KEYS_MAX];
	size_t keys_len, keys_off;
	uv_poll_t sock_poll, in_poll;
	uv_signal_t winch;
	uv_timer_t kick; /* delivers output from the loop: what came first, or after a pause */
	int open_handles;
};

/* ---- the request and its answer, on the thread pool ---- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the connection can go on (ev: POLLIN or POLLOUT); false past the deadline. */
static bool wait_sock(curl_socket_t s, short ev, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return false;
		struct pollfd pfd = {.fd = s, .events = ev};
		int r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
	}
}

static int send_request(struct hs_docker_attach *a, const char *text, long long deadline)
{
	size_t n = strlen(text), off = 0;
	while (off < n) {
		size_t sent = 0;
		CURLcode rc = cu_curl_easy_send(a->curl, text + off, n - off, &sent);
		if (rc == CURLE_AGAIN) {
			if (!wait_sock(a->sock, POLLOUT, deadline))
				return cm_err_set(&a->err, ETIMEDOUT, "dockerd took no request");
			continue;
		}
		if (rc != CURLE_OK)
			return cm_err_set(&a->err, EIO, "%s", cu_curl_easy_strerror(rc));
		off += sent;
	}
	return 0;
}

struct answer {
	char *body;
	size_t len;
	bool complete;
};

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct answer *an = p->data;
	if (an->len + n > ANSWER_MAX)
		n = ANSWER_MAX - an->len;
	an->body = xrealloc(an->body, an->len + n + 1);
	memcpy(an->body + an->len, at, n);
	an->len += n;
	an->body[an->len] = '\0';
	return 0;
}

static int on_complete(http_parser *p)
{
	((struct answer *)p->data)->complete = true;
	return 0;
}

static const http_parser_settings answer_settings = {.on_body = on_body,
                                                     .on_message_complete = on_complete};

/* Reads dockerd's answer: 0 once the connection is upgraded (a->first holds what came after
 * the headers), else the error, in dockerd's words. */
static int read_answer(struct hs_docker_attach *a, long long deadline)
{
	struct answer an = {0};
	http_parser hp;
	http_parser_init(&hp, HTTP_RESPONSE);
	hp.data = &an;
	char buf[4096];
	int r = -1;
	for (;;) {
		size_t n = 0;
		CURLcode rc = cu_curl_easy_recv(a->curl, buf, sizeof(buf), &n);
		if (rc == CURLE_AGAIN) {
			if (wait_sock(a->sock, POLLIN, deadline))
				continue;
			cm_err_set(&a->err, ETIMEDOUT, "dockerd did not answer in %d s",
			           ANSWER_TIMEOUT_MS / 1000);
			break;
		}
		if (rc != CURLE_OK) {
			cm_err_set(&a->err, EIO, "%s", cu_curl_easy_strerror(rc));
			break;
		}
		size_t took = http_parser_execute(&hp, &answer_settings, buf, n);
		if (hp.upgrade) {
			a->first_len = n - took;
			a->first = xmalloc(a->first_len + 1);
			memcpy(a->first, buf + took, a->first_len);
			r = 0;
			break;
		}
		if (HTTP_PARSER_ERRNO(&hp) != HPE_OK) {
			cm_err_set(&a->err, EPROTO, "a bad answer: %s",
			           http_errno_description(HTTP_PARSER_ERRNO(&hp)));
			break;
		}
		if (an.complete || n == 0) { /* an answer that is not an upgrade: an error */
			hs_docker_err(&a->err, "POST", a->path,
			              hp.status_code ? hp.status_code : 500,
			              an.body ? an.body : "the connection was not upgraded");
			break;
		}
	}
	free(an.body);
	return r;
}

static void do_connect(uv_work_t *w)
{
	struct hs_docker_attach *a = w->data;
	char errbuf[CURL_ERROR_SIZE] = "";
	long long deadline = now_ms() + ANSWER_TIMEOUT_MS;
	_cleanup_free_ char *url = xasprintf("%s/", a->conn->base);
	if (cm_curl_load(&a->err) < 0 || !(a->curl = cu_curl_easy_init())) {
		if (!a->curl && !a->err.msg[0])
			cm_err_set(&a->err, ENOMEM, "curl_easy_init failed");
		a->failed = true;
		return;
	}
	hs_docker_easy_conn(a->curl, a->conn, url, errbuf);
	cu_curl_easy_setopt(a->curl, CURLOPT_CONNECT_ONLY, 1L);
	cu_curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)ANSWER_TIMEOUT_MS);
	CURLcode rc = cu_curl_easy_perform(a->curl);
	if (rc != CURLE_OK) {
		cm_err_set(&a->err, rc == CURLE_COULDNT_CONNECT ? ECONNREFUSED : EIO, "%s",
		           errbuf[0] ? errbuf : cu_curl_easy_strerror(rc));
		a->failed = true;
		return;
	}
	cu_curl_easy_getinfo(a->curl, CURLINFO_ACTIVESOCKET, &a->sock);
	const char *host = strstr(a->conn->base, "://");
	_cleanup_free_ char *req = xasprintf("POST %s HTTP/1.1\r\nHost: %s\r\n"
	                                     "Content-Type: text/plain\r\nConnection: Upgrade\r\n"
	                                     "Upgrade: tcp\r\n\r\n",
	                                     a->path, host ? host + 3 : a->conn->base);
	a->failed = send_request(a, req, deadline) < 0 || read_answer(a, deadline) < 0;
}

/* ---- the stream, on the loop ---- */

static void on_sock(uv_poll_t *h, int status, int events);
static void on_in(uv_poll_t *h, int status, int events);

static void arm(struct hs_docker_attach *a)
{
	if (a->closed)
		return;
	bool waiting = a->keys_off < a->keys_len;
	int ev = (a->paused || a->out_eof ? 0 : UV_READABLE) | (waiting ? UV_WRITABLE : 0);
	if (ev)
		uv_poll_start(&a->sock_poll, ev, on_sock);
	else
		uv_poll_stop(&a->sock_poll);
	if (!a->in_pollable)
		return;
	if (!a->in_eof && !waiting)
		uv_poll_start(&a->in_poll, UV_READABLE, on_in);
	else
		uv_poll_stop(&a->in_poll);
}

/* Gives out what the connection has, until it has no more, the caller pauses, or it ends. */
static void pump_out(struct hs_docker_attach *a)
{
	char buf[OUTPUT_MAX];
	cm_err err;
	bool failed = false;
	while (!a->closed && !a->paused && !a->out_eof) {
		const char *p = buf;
		size_t n = 0;
		if (a->first_off < a->first_len) {
			p = a->first + a->first_off;
			n = a->first_len - a->first_off;
			a->first_off = a->first_len;
		} else {
			CURLcode rc = cu_curl_easy_recv(a->curl, buf, sizeof(buf), &n);
			if (rc == CURLE_AGAIN)
				break;
			if (rc != CURLE_OK) {
				cm_err_set(&err, EIO, "docker: the attach: %s",
				           cu_curl_easy_strerror(rc));
				failed = a->out_eof = true;
				break;
			}
			if (n == 0) {
				a->out_eof = true;
				break;
			}
		}
		if (a->cbs.output(p, n, a->data) < n)
			a->out_eof = true;
	}
	if (a->out_eof && !a->closed) {
		a->cbs.ended(failed ? &err : NULL, a->data);
		return;
	}
	arm(a);
}

static void hung_up(struct hs_docker_attach *a)
{
	a->in_eof = true;
	if (a->tty) {
		if (a->cbs.hangup)
			a->cbs.hangup(a->data);
	} else if (!a->shut) { /* dockerd closes the container's stdin */
		a->shut = true;
		shutdown(a->sock, SHUT_WR);
	}
}

/* Sends what was read, and reads more while the connection takes it. */
static void pump_in(struct hs_docker_attach *a)
{
	while (!a->closed) {
		if (a->keys_off < a->keys_len) {
			size_t sent = 0;
			CURLcode rc = cu_curl_easy_send(a->curl, a->keys + a->keys_off,
			                                a->keys_len - a->keys_off, &sent);
			if (rc == CURLE_AGAIN)
				break;
			if (rc != CURLE_OK) { /* the other side is gone: the input has nobody */
				a->keys_off = a->keys_len = 0;
				a->in_eof = true;
				break;
			}
			a->keys_off += sent;
			continue;
		}
		a->keys_off = a->keys_len = 0;
		if (a->in_eof)
			break;
		if (a->in < 0) { /* no input: it has ended */
			hung_up(a);
			break;
		}
		ssize_t n = read(a->in, a->keys, sizeof(a->keys));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			hung_up(a);
			break;
		}
		a->keys_len = (size_t)n;
	}
	arm(a);
}

static void on_sock(uv_poll_t *h, int status, int events)
{
	struct hs_docker_attach *a = h->data;
	if (status < 0 || (events & UV_WRITABLE))
		pump_in(a);
	if (status < 0 || (events & UV_READABLE))
		pump_out(a);
}

static void on_in(uv_poll_t *h, int status, int events)
{
	struct hs_docker_attach *a = h->data;
	(void)status;
	(void)events;
	pump_in(a);
}

static void on_kick(uv_timer_t *t)
{
	struct hs_docker_attach *a = t->data;
	pump_out(a);
}

static void send_size(struct hs_docker_attach *a);

static void on_winch(uv_signal_t *h, int sig)
{
	(void)sig;
	send_size(h->data);
}

static void attach_free(struct hs_docker_attach *a)
{
	if (a->curl)
		cu_curl_easy_cleanup(a->curl);
	if (a->in >= 0)
		close(a->in);
	free(a->first);
	free(a->path);
	free(a);
}

static void on_closed(uv_handle_t *h)
{
	struct hs_docker_attach *a = h->data;
	if (--a->open_handles == 0)
		attach_free(a);
}

static void add_handle(struct hs_docker_attach *a, uv_handle_t *h)
{
	h->data = a;
	a->open_handles++;
}

/* The input through a description of our own, so that its O_NONBLOCK touches nobody else's;
 * one that cannot be watched (a file) is read as it is. */
static void open_input(struct hs_docker_attach *a, int in)
{
	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", in);
	a->in = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (a->in < 0) /* a socket: no path to open again; read through the fd as it is */
		a->in = fcntl(in, F_DUPFD_CLOEXEC, 3);
}

static void watch_input(struct hs_docker_attach *a)
{
	a->in_pollable = a->in >= 0 && uv_poll_init(a->loop, &a->in_poll, a->in) == 0;
	if (a->in_pollable)
		add_handle(a, (uv_handle_t *)&a->in_poll);
}

/* On a terminal: its window goes to the container. */
static void send_size(struct hs_docker_attach *a)
{
	unsigned short rows, cols;
	cm_tty_size(a->in, &rows, &cols);
	if (rows && cols && a->running && !a->closed)
		a->cbs.resize(rows, cols, a->data);
}

static void after_connect(uv_work_t *w, int status)
{
	struct hs_docker_attach *a = w->data;
	a->connecting = false;
	if (a->closed) {
		attach_free(a);
		return;
	}
	cm_err err = a->err;
	if (status < 0)
		a->failed = true, cm_err_errno(&err, -status, "the thread pool");
	if (!a->failed && uv_poll_init_socket(a->loop, &a->sock_poll, a->sock) < 0)
		a->failed = true, cm_err_set(&err, EIO, "watch the connection");
	if (a->failed) {
		cm_err_wrap(&err, "docker: POST %.*s", (int)strcspn(a->path, "?"), a->path);
		hs_docker_where(a->conn, &err);
		a->closed = true;
		a->cbs.ready(&err, a->data);
		attach_free(a);
		return;
	}
	add_handle(a, (uv_handle_t *)&a->sock_poll);
	watch_input(a);
	uv_timer_init(a->loop, &a->kick);
	add_handle(a, (uv_handle_t *)&a->kick);
	if (a->tty) {
		uv_signal_init(a->loop, &a->winch);
		add_handle(a, (uv_handle_t *)&a->winch);
		uv_signal_start(&a->winch, on_winch, SIGWINCH);
		a->raw = cm_tty_raw(a->in, &a->saved) == 0;
	}
	a->cbs.ready(NULL, a->data);
	if (a->closed)
		return;
	uv_timer_start(&a->kick, on_kick, 0, 0);
	pump_in(a);
}

int hs_docker_attach_open(uv_loop_t *loop, const struct hs_docker_conn *c, const char *id, int in,
                          bool tty, const struct hs_docker_attach_cbs *cbs, void *data,
                          struct hs_docker_attach **out, cm_err *err)
{
	struct hs_docker_attach *a = xcalloc(1, sizeof(*a));
	a->loop = loop;
	a->conn = c;
	a->cbs = *cbs;
	a->data = data;
	a->tty = tty;
	a->sock = CURL_SOCKET_BAD;
	a->path = xasprintf("/containers/%s/attach?stream=1&stdin=1&stdout=1&stderr=1", id);
	open_input(a, in);
	a->work.data = a;
	a->connecting = true;
	int r = uv_queue_work(loop, &a->work, do_connect, after_connect);
	if (r < 0) {
		a->connecting = false;
		hs_docker_attach_close(a);
		return cm_err_errno(err, -r, "docker: attach to %.12s", id);
	}
	*out = a;
	return 0;
}

void hs_docker_attach_running(struct hs_docker_attach *a)
{
	a->running = true;
	if (a->tty)
		send_size(a);
}

void hs_docker_attach_pause(struct hs_docker_attach *a, bool pause)
{
	if (a->closed || a->connecting || a->paused == pause)
		return;
	a->paused = pause;
	if (!pause) /* what the connection holds may be buffered already (TLS): read it now */
		uv_timer_start(&a->kick, on_kick, 0, 0);
	arm(a);
}

void hs_docker_attach_close(struct hs_docker_attach *a)
{
	if (!a || a->closed)
		return;
	a->closed = true;
	if (a->connecting)
		return; /* after_connect frees it */
	if (a->raw)
		tcsetattr(a->in, TCSADRAIN, &a->saved);
	uv_handle_t *hs[] = {(uv_handle_t *)&a->sock_poll, (uv_handle_t *)&a->in_poll,
	                     (uv_handle_t *)&a->winch, (uv_handle_t *)&a->kick};
	int n = a->open_handles;
	for (size_t i = 0; i < CM_ARRAY_SIZE(hs); i++)
		if (hs[i]->data == a && !uv_is_closing(hs[i]))
			uv_close(hs[i], on_closed);
	if (n == 0)
		attach_free(a);
}
