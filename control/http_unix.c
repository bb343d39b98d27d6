#define _GNU_SOURCE
#include "control/http_unix.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <http_parser.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#define MAX_RESPONSE (16 * 1024 * 1024)

struct reader {
	struct hs_http_response *out;
	bool complete;
};

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct reader *r = p->data;
	if (r->out->len + n > MAX_RESPONSE)
		return 1;
	r->out->body = xrealloc(r->out->body, r->out->len + n + 1);
	memcpy(r->out->body + r->out->len, at, n);
	r->out->len += n;
	r->out->body[r->out->len] = '\0';
	return 0;
}

static int on_complete(http_parser *p)
{
	((struct reader *)p->data)->complete = true;
	return 0;
}

static int connect_unix(const char *sock, cm_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock) >= sizeof(sa.sun_path))
		return cm_err_set(err, ENAMETOOLONG, "%s: the path is too long", sock);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return cm_err_sys(err, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		cm_err_sys(err, "connect to %s", sock);
		close(fd);
		return -1;
	}
	return fd;
}

/* MSG_NOSIGNAL: a server that closed early (hsup refusing a connection with 503) is an
 * error to report, not a SIGPIPE. */
static int send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

static int send_request(int fd, const char *method, const char *path, const char *body, cm_err *err)
{
	_cleanup_free_ char *req =
	    xasprintf("%s %s HTTP/1.1\r\nHost: hsup\r\nContent-Type: application/json\r\n"
	              "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
	              method, path, body ? strlen(body) : 0, body ? body : "");
	if (send_all(fd, req, strlen(req)) < 0)
		return cm_err_sys(err, "send %s %s", method, path);
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int read_response(int fd, int timeout_ms, struct hs_http_response *out, cm_err *err)
{
	http_parser_settings settings = {.on_body = on_body, .on_message_complete = on_complete};
	http_parser parser;
	struct reader r = {.out = out};
	http_parser_init(&parser, HTTP_RESPONSE);
	parser.data = &r;
	long long deadline = now_ms() + timeout_ms;
	char buf[16384];
	while (!r.complete) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long long left = deadline - now_ms();
		int pr = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return cm_err_set(err, ETIMEDOUT, "no answer within %d ms", timeout_ms);
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cm_err_sys(err, "read the answer");
		size_t done = http_parser_execute(&parser, &settings, buf, (size_t)n);
		if (HTTP_PARSER_ERRNO(&parser) != HPE_OK || done != (size_t)n)
			return cm_err_set(err, EPROTO, "not an HTTP answer (%s)",
			                  http_errno_description(HTTP_PARSER_ERRNO(&parser)));
		if (n == 0 && !r.complete)
			return cm_err_set(err, EPROTO, "the answer was cut short");
	}
	out->status = (int)parser.status_code;
	return 0;
}

/* A server that closed before reading the request (hsup refusing a connection with 503) may
 * have said why: its answer counts more than the failed send. */
static int exchange(int fd, const char *method, const char *path, const char *body, int timeout_ms,
                    struct hs_http_response *out, cm_err *err)
{
	cm_err send_err;
	int sent = send_request(fd, method, path, body, &send_err);
	if (sent < 0 && send_err.code != EPIPE && send_err.code != ECONNRESET) {
		*err = send_err;
		return -1;
	}
	if (read_response(fd, timeout_ms, out, err) < 0) {
		if (sent < 0)
			*err = send_err;
		return -1;
	}
	return 0;
}

int hs_http_unix(const char *sock, const char *method, const char *path, const char *body,
                 int timeout_ms, struct hs_http_response *out, cm_err *err)
{
	*out = (struct hs_http_response){.body = xstrdup("")};
	_cleanup_close_ int fd = connect_unix(sock, err);
	if (fd < 0 || exchange(fd, method, path, body, timeout_ms, out, err) < 0) {
		free(out->body);
		out->body = NULL;
		return -1;
	}
	return 0;
}
