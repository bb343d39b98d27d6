#define _GNU_SOURCE
#include "control/api.h"
#include "control/api_routes.h"
#include "control/http_unix.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <http_parser.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_URL     4096
#define MAX_BODY    (1024 * 1024)
#define IDLE_MS     30000
#define PROBE_MS    1000
#define SOCKET_MODE 0770

struct conn;

struct hs_api {
	uv_loop_t *loop;
	struct hs_sup *sup;
	char *path;
	uv_pipe_t server;
	struct conn *conns;
};

struct conn {
	struct hs_api *api;
	struct conn *next, *prev;
	uv_pipe_t pipe;
	uv_timer_t idle;
	http_parser parser;
	char *url, *body;
	size_t url_len, body_len;
	bool too_big, closing;
	int open_handles;
};

struct write_req {
	uv_write_t req;
	struct conn *c;
	bool close_after;
	char data[];
};

static http_parser_settings settings;

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	free(c->url);
	free(c->body);
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
	uv_close((uv_handle_t *)&c->idle, on_conn_closed);
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	if (status < 0 || w->close_after)
		conn_close(w->c);
	free(w);
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	default:
		return "Internal Server Error";
	}
}

static void send_reply(struct conn *c, const struct hs_reply *r, bool close_after)
{
	if (c->closing)
		return;
	const char *body = r->body ? r->body : "";
	size_t blen = strlen(body);
	char head[512];
	int hl = snprintf(head, sizeof(head),
	                  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s"
	                  "Connection: %s\r\n\r\n",
	                  r->status, reason(r->status), r->ctype ? r->ctype : "application/json",
	                  blen, r->allow ? "Allow: " : "", r->allow ? r->allow : "",
	                  r->allow ? "\r\n" : "", close_after ? "close" : "keep-alive");
	struct write_req *w = xmalloc(sizeof(*w) + (size_t)hl + blen);
	memcpy(w->data, head, (size_t)hl);
	memcpy(w->data + hl, body, blen);
	w->c = c;
	w->close_after = close_after;
	uv_buf_t buf = uv_buf_init(w->data, (unsigned)((size_t)hl + blen));
	if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_written) < 0) {
		free(w);
		conn_close(c);
	}
}

static int on_message_begin(http_parser *p)
{
	struct conn *c = p->data;
	c->url_len = c->body_len = 0;
	c->too_big = false;
	return 0;
}

static int append(char **buf, size_t *len, const char *at, size_t n, size_t max, bool *too_big)
{
	if (*len + n > max) {
		*too_big = true;
		return 0;
	}
	*buf = xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, at, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	return append(&c->url, &c->url_len, at, n, MAX_URL, &c->too_big);
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	return append(&c->body, &c->body_len, at, n, MAX_BODY, &c->too_big);
}

/* The path part of the request target, without query. */
static char *request_path(const struct conn *c)
{
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (!c->url || http_parser_parse_url(c->url, c->url_len, 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_PATH)))
		return NULL;
	return xstrndup(c->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
}

static int on_message_complete(http_parser *p)
{
	struct conn *c = p->data;
	struct hs_reply r = {0};
	_cleanup_free_ char *path = request_path(c);
	if (c->too_big)
		hs_reply_error(&r, 413, "the request is too large");
	else if (!path)
		hs_reply_error(&r, 400, "the request target is not a valid path");
	else
		hs_api_route(c->api->sup, http_method_str(p->method), path, c->body ? c->body : "",
		             c->body_len, &r);
	send_reply(c, &r, !http_should_keep_alive(p));
	free(r.body);
	return 0;
}

static void alloc_buf(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	buf->base = xmalloc(suggested);
	buf->len = suggested;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = s->data;
	if (n < 0) {
		conn_close(c);
	} else if (n > 0) {
		uv_timer_again(&c->idle);
		size_t done = http_parser_execute(&c->parser, &settings, buf->base, (size_t)n);
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
		if (e != HPE_OK || done != (size_t)n) {
			_cleanup_free_ char *msg =
			    xasprintf("malformed HTTP request: %s", http_errno_description(e));
			struct hs_reply r = {0};
			hs_reply_error(&r, 400, msg);
			send_reply(c, &r, true);
			free(r.body);
			uv_read_stop(s);
		}
	}
	free(buf->base);
}

static void on_idle(uv_timer_t *t)
{
	conn_close(t->data);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct hs_api *api = server->data;
	if (status < 0)
		return;
	struct conn *c = xcalloc(1, sizeof(*c));
	c->api = api;
	uv_pipe_init(api->loop, &c->pipe, 0);
	uv_timer_init(api->loop, &c->idle);
	c->pipe.data = c->idle.data = c;
	c->open_handles = 2;
	c->next = api->conns;
	if (api->conns)
		api->conns->prev = c;
	api->conns = c;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		conn_close(c);
		return;
	}
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	uv_timer_start(&c->idle, on_idle, IDLE_MS, IDLE_MS);
	uv_read_start((uv_stream_t *)&c->pipe, alloc_buf, on_read);
}

/* Asks whatever listens on path for /health: 1 if an hsup answers, 0 if nothing listens
 * (a dead socket file), -1 if something else is there. */
static int probe(const char *path)
{
	struct hs_http_response r;
	cm_err err;
	if (hs_http_unix(path, "GET", "/health", NULL, PROBE_MS, &r, &err) < 0)
		return err.code == ECONNREFUSED ? 0 : -1;
	int live = r.status == 200 && strcmp(r.body, "OK") == 0;
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

static int bind_socket(struct hs_api *api, const char *path, cm_err *err)
{
	int rc;
	uv_pipe_init(api->loop, &api->server, 0);
	api->server.data = api;
	if ((rc = uv_pipe_bind(&api->server, path)) < 0)
		return cm_err_errno(err, -rc, "control socket %s: bind", path);
	if (chmod(path, SOCKET_MODE) < 0) {
		cm_err_sys(err, "control socket %s: chmod", path);
		unlink(path);
		return -1;
	}
	if ((rc = uv_listen((uv_stream_t *)&api->server, 128, on_connection)) < 0) {
		cm_err_errno(err, -rc, "control socket %s: listen", path);
		unlink(path);
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
	settings = (http_parser_settings){.on_message_begin = on_message_begin,
	                                  .on_url = on_url,
	                                  .on_body = on_body,
	                                  .on_message_complete = on_message_complete};
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
	*out = api;
	return 0;
}

void hs_api_close(struct hs_api *api)
{
	while (api->conns)
		conn_close(api->conns);
	unlink(api->path);
	uv_close((uv_handle_t *)&api->server, on_server_closed);
}
