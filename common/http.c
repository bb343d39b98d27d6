/* See http.h. The multi handle tells us which sockets to watch (socket_cb) and when to call it
 * back (timer_cb); each readiness or timeout goes back into curl_multi_socket_action, after
 * which finished transfers are collected. curl is never re-entered from its own callbacks. */
#define _GNU_SOURCE
#include "common/http.h"
#include "common/cleanup.h"
#include "common/curl.h"
#include "common/xalloc.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_MAX_BODY   (1u << 20)
#define CONNECT_TIMEOUT_MS 30000
#define STALL_SECONDS      60 /* a transfer under 1 byte/s for this long fails */
#define MAX_REDIRECTS      5

#ifndef HSUP_VERSION
#define HSUP_VERSION "0"
#endif

struct cm_http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct sock *socks; /* watched sockets */
	struct cm_http_req *reqs;
	size_t nreqs;
	int open_handles;
	bool closing;
};

struct sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct cm_http *h;
	struct sock *next, *prev;
};

struct cm_http_req {
	struct cm_http *h;
	struct cm_http_req *next, *prev;
	CURL *easy;
	struct curl_slist *headers;
	cm_http_cb cb;
	void *data;
	char *body;
	size_t len, cap;
	uint64_t max_body;
	int fd;
	uint64_t off;
	size_t (*on_data)(const char *p, size_t n, void *data);
	void (*on_headers)(void *data);
	bool too_big;
	int write_errno;
	char errbuf[CURL_ERROR_SIZE];
};

#define LIST_ADD(head, x)                                                                          \
	do {                                                                                       \
		(x)->next = (head);                                                                \
		(x)->prev = NULL;                                                                  \
		if (head)                                                                          \
			(head)->prev = (x);                                                        \
		(head) = (x);                                                                      \
	} while (0)
#define LIST_DEL(head, x)                                                                          \
	do {                                                                                       \
		if ((x)->prev)                                                                     \
			(x)->prev->next = (x)->next;                                               \
		else                                                                               \
			(head) = (x)->next;                                                        \
		if ((x)->next)                                                                     \
			(x)->next->prev = (x)->prev;                                               \
	} while (0)

static void collect(struct cm_http *h);

/* ---- the loop side ---- */

static void on_handle_closed(uv_handle_t *hd)
{
	struct cm_http *h = hd->data;
	if (--h->open_handles == 0 && h->closing)
		free(h);
}

static void on_sock_closed(uv_handle_t *hd)
{
	struct sock *s = hd->data;
	struct cm_http *h = s->h;
	free(s);
	if (--h->open_handles == 0 && h->closing)
		free(h);
}

static void sock_close(struct sock *s)
{
	LIST_DEL(s->h->socks, s);
	uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sock *s = p->data;
	struct cm_http *h = s->h;
	int flags = 0, running;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else
		flags = (events & UV_READABLE ? CURL_CSELECT_IN : 0) |
		        (events & UV_WRITABLE ? CURL_CSELECT_OUT : 0);
	cu_curl_multi_socket_action(h->multi, s->fd, flags, &running);
	collect(h);
}

static void on_timer(uv_timer_t *t)
{
	struct cm_http *h = t->data;
	int running;
	cu_curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect(h);
}

/* ---- curl's callbacks: they only arrange what the loop watches ---- */

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct cm_http *h = userp;
	struct sock *s = sockp;
	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			cu_curl_multi_assign(h->multi, fd, NULL);
			sock_close(s);
		}
		return 0;
	}
	if (!s) {
		s = xcalloc(1, sizeof(*s));
		s->fd = fd;
		s->h = h;
		if (uv_poll_init_socket(h->loop, &s->poll, fd) < 0) {
			free(s);
			return -1;
		}
		s->poll.data = s;
		h->open_handles++;
		LIST_ADD(h->socks, s);
		cu_curl_multi_assign(h->multi, fd, s);
	}
	int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
	uv_poll_start(&s->poll, ev, on_poll);
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct cm_http *h = userp;
	(void)multi;
	if (timeout_ms < 0)
		uv_timer_stop(&h->timer);
	else /* 0 too goes through the loop: curl may not be called from its own callback */
		uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

/* ---- one request ---- */

static size_t write_buf(struct cm_http_req *q, const char *p, size_t n)
{
	/* beside a download, only an error page or a redirect's body: a small one */
	uint64_t max =
	    q->fd >= 0 && q->max_body > DEFAULT_MAX_BODY ? DEFAULT_MAX_BODY : q->max_body;
	if (q->len + n > max) {
		q->too_big = true;
		return 0;
	}
	xgrow((void **)&q->body, &q->cap, q->len + n + 1, 1);
	memcpy(q->body + q->len, p, n);
	q->len += n;
	q->body[q->len] = 0;
	return n;
}

/* A download goes to a file on local disk: the page cache takes it without waiting. */
static size_t write_file(struct cm_http_req *q, const char *p, size_t n)
{
	if (q->off + n > q->max_body) {
		q->too_big = true;
		return 0;
	}
	for (size_t done = 0; done < n;) {
		ssize_t w = pwrite(q->fd, p + done, n - done, (off_t)q->off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			q->write_errno = errno;
			return 0;
		}
		done += (size_t)w;
		q->off += (uint64_t)w;
		q->len += (size_t)w;
	}
	return n;
}

static size_t write_cb(char *p, size_t size, size_t n, void *data)
{
	struct cm_http_req *q = data;
	long status = 0;
	cu_curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
	/* an error page is kept in memory for the message, never written over a download */
	if (q->on_data && status >= 200 && status < 300)
		return q->on_data(p, size * n, q->data);
	if (q->fd >= 0 && status >= 200 && status < 300)
		return write_file(q, p, size * n);
	return write_buf(q, p, size * n);
}

/* The blank line that ends a 2xx answer's headers tells on_headers. */
static size_t header_cb(char *p, size_t size, size_t n, void *data)
{
	struct cm_http_req *q = data;
	long status = 0;
	if (size * n <= 2 && (p[0] == '\r' || p[0] == '\n')) {
		cu_curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300 && q->on_headers)
			q->on_headers(q->data);
	}
	return size * n;
}

/* Takes the request out of h: from now on it is only memory. */
static void req_detach(struct cm_http_req *q)
{
	struct cm_http *h = q->h;
	LIST_DEL(h->reqs, q);
	h->nreqs--;
	cu_curl_multi_remove_handle(h->multi, q->easy);
}

static void req_destroy(struct cm_http_req *q)
{
	cu_curl_easy_cleanup(q->easy);
	cu_curl_slist_free_all(q->headers);
	free(q->body);
	free(q);
}

static void req_free(struct cm_http_req *q)
{
	req_detach(q);
	req_destroy(q);
}

void cm_http_cancel(struct cm_http_req *q)
{
	if (q)
		req_free(q);
}

static const char *header(CURL *easy, const char *name)
{
	struct curl_header *hd;
	if (cu_curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
		return NULL;
	return hd->value;
}

static long header_long(CURL *easy, const char *name)
{
	const char *v = header(easy, name);
	char *end;
	if (!v)
		return -1;
	errno = 0;
	long n = strtol(v, &end, 10);
	return errno || end == v || n < 0 ? -1 : n;
}

static void fail_message(struct cm_http_req *q, CURLcode rc, cm_err *err)
{
	if (q->too_big)
		cm_err_set(err, EFBIG, "the response is larger than %llu bytes",
		           (unsigned long long)q->max_body);
	else if (q->write_errno)
		cm_err_errno(err, q->write_errno, "writing the download");
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		cm_err_set(err, ETIMEDOUT, "%s", q->errbuf[0] ? q->errbuf : "timed out");
	else
		cm_err_set(err, rc == CURLE_COULDNT_CONNECT ? ECONNREFUSED : EIO, "%s",
		           q->errbuf[0] ? q->errbuf : cu_curl_easy_strerror(rc));
}

static void finish(struct cm_http_req *q, CURLcode rc)
{
	struct cm_http_resp r = {
	    .ratelimit = -1, .retry_after = -1, .body = q->body, .len = q->len};
	long conns = -1;
	curl_off_t after = -1;
	cm_err_clear(&r.err);
	cu_curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &r.status);
	r.ok = rc == CURLE_OK && r.status > 0;
	if (!r.ok)
		fail_message(q, rc, &r.err);
	if (r.ok) {
		r.etag = header(q->easy, "ETag");
		r.ratelimit = header_long(q->easy, "RateLimit-Remaining");
		if (cu_curl_easy_getinfo(q->easy, CURLINFO_RETRY_AFTER, &after) == CURLE_OK &&
		    after > 0)
			r.retry_after = (long)after;
		cu_curl_easy_getinfo(q->easy, CURLINFO_NUM_CONNECTS, &conns);
		r.reused = conns == 0;
	}
	/* the callback may start, cancel or close anything but this request */
	req_detach(q);
	q->cb(q, &r, q->data);
	req_destroy(q);
}

/* Ends every transfer curl has finished. A callback may start or cancel requests. */
static void collect(struct cm_http *h)
{
	CURLMsg *m;
	int left;
	while ((m = cu_curl_multi_info_read(h->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct cm_http_req *q = NULL;
		cu_curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		finish(q, m->data.result);
		if (h->closing)
			return;
	}
}

#define SET(opt, val)                                                                              \
	do {                                                                                       \
		CURLcode _rc = cu_curl_easy_setopt(q->easy, opt, val);                             \
		if (_rc != CURLE_OK)                                                               \
			return cm_err_set(err, EINVAL, "%s: %s", #opt,                             \
			                  cu_curl_easy_strerror(_rc));                             \
	} while (0)

static int set_common(struct cm_http_req *q, cm_err *err)
{
	SET(CURLOPT_PRIVATE, q);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, q->errbuf);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, q);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, (long)STALL_SECONDS);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_USERAGENT, "hsup/" HSUP_VERSION);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	return 0;
}

static int set_request(struct cm_http_req *q, const struct cm_http_opts *o, cm_err *err)
{
	SET(CURLOPT_URL, o->url);
	/* Both: libcurl checks the speed, and so wakes the loop, every second of a transfer
	 * while a speed limit is set, whatever the time allowed. */
	if (o->no_stall) {
		SET(CURLOPT_LOW_SPEED_LIMIT, 0L);
		SET(CURLOPT_LOW_SPEED_TIME, 0L);
	}
	if (o->timeout_ms)
		SET(CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	if (o->body) {
		SET(CURLOPT_POSTFIELDS, o->body);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
	}
	if (o->method)
		SET(CURLOPT_CUSTOMREQUEST, o->method);
	if (o->follow_redirects) {
		SET(CURLOPT_FOLLOWLOCATION, 1L);
		SET(CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
	}
	if (o->unix_socket)
		SET(CURLOPT_UNIX_SOCKET_PATH, o->unix_socket);
	if (o->on_headers) {
		SET(CURLOPT_HEADERFUNCTION, header_cb);
		SET(CURLOPT_HEADERDATA, q);
	}
	if (o->ca_file)
		SET(CURLOPT_CAINFO, o->ca_file);
	if (o->cert_file)
		SET(CURLOPT_SSLCERT, o->cert_file);
	if (o->key_file)
		SET(CURLOPT_SSLKEY, o->key_file);
	if (o->fd >= 0 && o->resume_from)
		SET(CURLOPT_RESUME_FROM_LARGE, (curl_off_t)o->resume_from);
	for (size_t i = 0; o->headers && o->headers[i]; i++) {
		struct curl_slist *l = cu_curl_slist_append(q->headers, o->headers[i]);
		if (!l)
			return cm_err_set(err, ENOMEM, "out of memory for a request header");
		q->headers = l;
	}
	/* curl would send "Expect: 100-continue" before a large body and wait for an answer */
	struct curl_slist *l = cu_curl_slist_append(q->headers, "Expect:");
	if (!l)
		return cm_err_set(err, ENOMEM, "out of memory for a request header");
	q->headers = l;
	SET(CURLOPT_HTTPHEADER, q->headers);
	return 0;
}

int cm_http_start(struct cm_http *h, const struct cm_http_opts *o, cm_http_cb cb, void *data,
                  struct cm_http_req **out, cm_err *err)
{
	struct cm_http_req *q = xcalloc(1, sizeof(*q));
	q->h = h;
	q->cb = cb;
	q->data = data;
	q->fd = o->fd;
	q->on_data = o->on_data;
	q->on_headers = o->on_headers;
	q->off = o->fd >= 0 ? o->resume_from : 0;
	q->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
	q->easy = cu_curl_easy_init();
	if (!q->easy) {
		free(q);
		return cm_err_set(err, ENOMEM, "curl_easy_init failed");
	}
	LIST_ADD(h->reqs, q);
	h->nreqs++;
	CURLMcode mc;
	if (set_common(q, err) < 0 || set_request(q, o, err) < 0)
		goto fail;
	if ((mc = cu_curl_multi_add_handle(h->multi, q->easy)) != CURLM_OK) {
		cm_err_set(err, EIO, "curl_multi_add_handle: %s", cu_curl_multi_strerror(mc));
		goto fail;
	}
	if (out)
		*out = q;
	return 0;
fail:
	req_free(q);
	return -1;
}

static int pause_set(struct cm_http_req *q, int bits, cm_err *err)
{
	CURLcode rc = cu_curl_easy_pause(q->easy, bits);
	if (rc != CURLE_OK)
		return cm_err_set(err, EIO, "curl_easy_pause: %s", cu_curl_easy_strerror(rc));
	return 0;
}

int cm_http_pause(struct cm_http_req *q, cm_err *err)
{
	return pause_set(q, CURLPAUSE_RECV, err);
}

int cm_http_resume(struct cm_http_req *q, cm_err *err)
{
	/* curl asks for its timer at 0 and goes on from the loop */
	return pause_set(q, CURLPAUSE_CONT, err);
}

size_t cm_http_active(const struct cm_http *h)
{
	return h->nreqs;
}

int cm_http_new(uv_loop_t *loop, struct cm_http **out, cm_err *err)
{
	if (cm_curl_load(err) < 0)
		return -1;
	struct cm_http *h = xcalloc(1, sizeof(*h));
	h->loop = loop;
	h->multi = cu_curl_multi_init();
	if (!h->multi) {
		free(h);
		return cm_err_set(err, ENOMEM, "curl_multi_init failed");
	}
	cu_curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	cu_curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	cu_curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	cu_curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->open_handles = 1;
	*out = h;
	return 0;
}

void cm_http_close(struct cm_http *h)
{
	if (!h)
		return;
	while (h->reqs)
		req_free(h->reqs);
	cu_curl_multi_cleanup(h->multi); /* closes the kept connections */
	while (h->socks)
		sock_close(h->socks);
	h->closing = true;
	uv_close((uv_handle_t *)&h->timer, on_handle_closed);
}

char *cm_http_redact(const char *url)
{
	const char *sep = strstr(url, "://");
	if (!sep)
		return xstrdup(url);
	const char *auth = sep + 3;
	size_t auth_len = strcspn(auth, "/?#");
	const char *at = memrchr(auth, '@', auth_len);
	const char *host = at ? at + 1 : auth;
	size_t rest = strcspn(host, "?#");
	return xasprintf("%.*s%s%.*s%s", (int)(auth - url), url, at ? "***@" : "", (int)rest, host,
	                 host[rest] ? "?..." : "");
}
