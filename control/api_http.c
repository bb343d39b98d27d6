#define _GNU_SOURCE
#include "control/api_http.h"
#include "control/api_routes.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_URL 4096
/* Far more than any request needs, and 64 connections hold no more than 4 MiB of bodies. */
#define MAX_BODY (64 * 1024)

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
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 503:
		return "Service Unavailable";
	default:
		return "Internal Server Error";
	}
}

static void format_answer(const struct hs_reply *r, bool close, struct hs_api_answer *ans)
{
	const char *body = r->body ? r->body : "";
	ans->data =
	    xasprintf("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s"
	              "Connection: %s\r\n\r\n%s",
	              r->status, reason(r->status), r->ctype ? r->ctype : "application/json",
	              strlen(body), r->allow ? "Allow: " : "", r->allow ? r->allow : "",
	              r->allow ? "\r\n" : "", close ? "close" : "keep-alive", body);
	ans->len = strlen(ans->data);
	ans->close = close;
}

void hs_api_http_refusal(int status, const char *msg, struct hs_api_answer *ans)
{
	struct hs_reply r = {0};
	hs_reply_error(&r, status, msg);
	format_answer(&r, true, ans);
	free(r.body);
}

/* Forgets the request just answered: an idle connection holds no buffer. */
static void reset_request(struct hs_api_http *h)
{
	free(h->url);
	free(h->body);
	h->url = h->body = NULL;
	h->url_len = h->body_len = 0;
	h->in_request = false;
}

static int on_message_begin(http_parser *p)
{
	struct hs_api_http *h = p->data;
	reset_request(h);
	h->in_request = true;
	return 0;
}

/* Keeps n more bytes of a part of the request, or stops the parser when they pass max. */
static int append(struct hs_api_http *h, char **buf, size_t *len, const char *at, size_t n,
                  size_t max, int refuse)
{
	if (n > max - *len) {
		h->refuse = refuse;
		return -1;
	}
	*buf = xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, at, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct hs_api_http *h = p->data;
	return append(h, &h->url, &h->url_len, at, n, MAX_URL, 414);
}

/* A body announced too large is refused before a byte of it is read. */
static int on_headers_complete(http_parser *p)
{
	struct hs_api_http *h = p->data;
	if (p->content_length != ULLONG_MAX && p->content_length > MAX_BODY) {
		h->refuse = 413;
		return -1;
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct hs_api_http *h = p->data;
	return append(h, &h->body, &h->body_len, at, n, MAX_BODY, 413);
}

/* Every resource is named in printable ASCII (dyno names and types are letters, digits, '_',
 * '-' and '.'); other bytes, such as invalid UTF-8, could not even be quoted back in JSON. */
static bool printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

/* The path part of the request target, without query. */
static char *request_path(const struct hs_api_http *h)
{
	struct http_parser_url u;
	http_parser_url_init(&u);
	if (!h->url || http_parser_parse_url(h->url, h->url_len, 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_PATH)))
		return NULL;
	const char *path = h->url + u.field_data[UF_PATH].off;
	size_t len = u.field_data[UF_PATH].len;
	return printable(path, len) ? xstrndup(path, len) : NULL;
}

/* Answers the request, then pauses the parser: the next request waits until this answer is
 * written, so a client that sends without reading cannot make answers pile up. */
static int on_message_complete(http_parser *p)
{
	struct hs_api_http *h = p->data;
	struct hs_reply r = {0};
	_cleanup_free_ char *path = request_path(h);
	if (!path)
		hs_reply_error(&r, 400, "the request target is not a valid path");
	else
		hs_api_route(h->sup, http_method_str(p->method), path, h->body ? h->body : "",
		             h->body_len, &r);
	/* An upgrade would switch protocols after this request: there is none to switch to. */
	format_answer(&r, !http_should_keep_alive(p) || p->upgrade, &h->answer);
	free(r.body);
	reset_request(h);
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void hs_api_http_init(struct hs_api_http *h, struct hs_sup *sup)
{
	*h = (struct hs_api_http){.sup = sup};
	http_parser_init(&h->parser, HTTP_REQUEST);
	h->parser.data = h;
}

void hs_api_http_free(struct hs_api_http *h)
{
	reset_request(h);
	free(h->answer.data);
	h->answer.data = NULL;
}

static void fail(struct hs_api_http *h, enum http_errno e, struct hs_api_answer *ans)
{
	_cleanup_free_ char *msg = NULL;
	int status = h->refuse ? h->refuse : e == HPE_HEADER_OVERFLOW ? 431 : 400;
	switch (status) {
	case 413:
		msg = xasprintf("the request body is larger than %d bytes", MAX_BODY);
		break;
	case 414:
		msg = xasprintf("the request target is longer than %d bytes", MAX_URL);
		break;
	default:
		msg = xasprintf("malformed HTTP request: %s",
		                e == HPE_OK ? "data after the request" : http_errno_description(e));
	}
	hs_api_http_refusal(status, msg, ans);
	reset_request(h);
	h->failed = true;
}

size_t hs_api_http_feed(struct hs_api_http *h, const char *data, size_t n,
                        struct hs_api_answer *ans)
{
	*ans = (struct hs_api_answer){0};
	if (h->failed || n == 0)
		return n;
	size_t used = http_parser_execute(&h->parser, &settings, data, n);
	enum http_errno e = HTTP_PARSER_ERRNO(&h->parser);
	if (e == HPE_PAUSED) {
		http_parser_pause(&h->parser, 0);
		*ans = h->answer;
		h->answer = (struct hs_api_answer){0};
		return used;
	}
	if (e != HPE_OK || used != n)
		fail(h, e, ans);
	return n;
}
