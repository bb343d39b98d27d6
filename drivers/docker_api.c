/* See docker_api.h. The build step's calls use libcurl's easy interface, blocking, through the
 * same loaded table as the loop's requests: the thread pool may block, an upload (a stack's or
 * a slug's tar, read from a pipe) is simplest as a read callback on that pipe, and no second
 * loop or helper process is needed. */
#define _GNU_SOURCE
#include "drivers/docker_api.h"
#include "common/cleanup.h"
#include "common/curl.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/var/run/docker.sock"
#define MAX_ANSWER     (8u << 20) /* image lists, inspections and build progress */
#define SYNC_TIMEOUT_S 3600L      /* an import of a large stack */

/* ---- where dockerd is ---- */

static char *cert_file(const char *dir, const char *name, cm_err *err)
{
	char *p = xasprintf("%s/%s", dir, name);
	if (access(p, R_OK) < 0) {
		cm_err_sys(err, "DOCKER_CERT_PATH: %s", p);
		free(p);
		return NULL;
	}
	return p;
}

int hs_docker_conn_from_env(struct hs_docker_conn *c, cm_err *err)
{
	const char *host = getenv("DOCKER_HOST"), *certs = getenv("DOCKER_CERT_PATH");
	memset(c, 0, sizeof(*c));
	if (!host || !*host)
		host = "unix://" DEFAULT_SOCKET;
	if (strncmp(host, "unix://", 7) == 0) {
		c->unix_socket = xstrdup(host + 7);
		c->base = xstrdup("http://docker");
		return 0;
	}
	if (strncmp(host, "tcp://", 6) != 0)
		return cm_err_set(err, EINVAL,
		                  "DOCKER_HOST \"%s\": unix://PATH or tcp://HOST:PORT expected",
		                  host);
	bool tls = certs && *certs;
	c->base = xasprintf("%s://%s", tls ? "https" : "http", host + 6);
	size_t n = strlen(c->base);
	if (n && c->base[n - 1] == '/')
		c->base[n - 1] = '\0';
	if (!tls)
		return 0;
	if (!(c->ca = cert_file(certs, "ca.pem", err)) ||
	    !(c->cert = cert_file(certs, "cert.pem", err)) ||
	    !(c->key = cert_file(certs, "key.pem", err))) {
		hs_docker_conn_free(c);
		return -1;
	}
	return 0;
}

void hs_docker_conn_free(struct hs_docker_conn *c)
{
	free(c->base);
	free(c->unix_socket);
	free(c->ca);
	free(c->cert);
	free(c->key);
	memset(c, 0, sizeof(*c));
}

/* ---- messages ---- */

int hs_docker_err(cm_err *err, const char *method, const char *path, long status, const char *body)
{
	size_t plen = strcspn(path, "?");
	json_t *j = body ? json_loads(body, JSON_DECODE_ANY, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(j, "message"));
	if (!msg)
		msg = body && *body ? body : "(no message)";
	size_t mlen = strlen(msg);
	while (mlen && msg[mlen - 1] == '\n')
		mlen--;
	cm_err_set(err, status == 404 ? ENOENT : EIO, "docker: %s %.*s: %ld: %.*s", method,
	           (int)plen, path, status, (int)mlen, msg);
	json_decref(j);
	return -1;
}

char *hs_docker_escape(const char *s)
{
	size_t n = strlen(s);
	char *out = xmalloc(3 * n + 1), *o = out;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch))
			*o++ = (char)ch;
		else
			o += sprintf(o, "%%%02X", ch);
	}
	*o = '\0';
	return out;
}

void hs_docker_where(const struct hs_docker_conn *c, cm_err *err)
{
	size_t n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, " (dockerd at %s%s)",
	         c->unix_socket ? "unix://" : "", c->unix_socket ? c->unix_socket : c->base);
}

/* ---- on the loop ---- */

struct hs_docker_req {
	struct cm_http_req *req;
	struct hs_docker_api *a;
	hs_docker_cb cb;
	void *data;
	char *method, *path, *url, *body;
	size_t (*on_data)(const char *p, size_t n, void *data);
	void (*on_headers)(void *data);
};

static void call_free(struct hs_docker_req *c)
{
	free(c->method);
	free(c->path);
	free(c->url);
	free(c->body);
	free(c);
}

/* libcurl's handles go once nothing is in flight: the loop may end. */
static void maybe_close(struct hs_docker_api *a)
{
	if (a->http && cm_http_active(a->http) == 0) {
		cm_http_close(a->http);
		a->http = NULL;
	}
}

static void on_done(struct cm_http_req *req, const struct cm_http_resp *r, void *data)
{
	struct hs_docker_req *c = data;
	struct hs_docker_api *a = c->a;
	cm_err err;
	(void)req;
	json_t *body =
	    r->ok && r->body && r->len ? json_loads(r->body, JSON_DECODE_ANY, NULL) : NULL;
	if (!r->ok) {
		err = r->err;
		cm_err_wrap(&err, "docker: %s %.*s", c->method, (int)strcspn(c->path, "?"),
		            c->path);
		hs_docker_where(a->conn, &err);
	} else if (r->status >= 300) {
		hs_docker_err(&err, c->method, c->path, r->status, r->body);
	}
	c->cb(r->ok ? r->status : 0, body, !r->ok || r->status >= 300 ? &err : NULL, c->data);
	json_decref(body);
	call_free(c);
	maybe_close(a);
}

static void on_head(void *data)
{
	struct hs_docker_req *c = data;
	c->on_headers(c->data);
}

static size_t on_piece(const char *p, size_t n, void *data)
{
	struct hs_docker_req *c = data;
	return c->on_data(p, n, c->data);
}

int hs_docker_call(struct hs_docker_api *a, const struct hs_docker_call_opts *o, hs_docker_cb cb,
                   void *data, struct hs_docker_req **out, cm_err *err)
{
	if (!a->http && cm_http_new(a->loop, &a->http, err) < 0)
		return cm_err_wrap(err, "docker");
	struct hs_docker_req *c = xcalloc(1, sizeof(*c));
	*c = (struct hs_docker_req){
	    .a = a, .cb = cb, .data = data, .on_data = o->on_data, .on_headers = o->on_headers};
	c->method = xstrdup(o->method);
	c->path = xstrdup(o->path);
	c->url = xasprintf("%s%s", a->conn->base, o->path);
	c->body = o->body ? json_dumps(o->body, JSON_COMPACT) : NULL;
	const char *json_hdr[] = {"Content-Type: application/json", NULL};
	struct cm_http_opts ho = {
	    .method = c->method,
	    .url = c->url,
	    .headers = c->body ? json_hdr : NULL,
	    .body = c->body,
	    .body_len = c->body ? strlen(c->body) : 0,
	    .max_body = MAX_ANSWER,
	    .fd = -1,
	    /* a dyno's output and wait stay quiet while it runs; dockerd is slow under load */
	    .no_stall = true,
	    .unix_socket = a->conn->unix_socket,
	    .on_data = o->on_data ? on_piece : NULL,
	    .on_headers = o->on_headers ? on_head : NULL,
	    .ca_file = a->conn->ca,
	    .cert_file = a->conn->cert,
	    .key_file = a->conn->key,
	};
	if (cm_http_start(a->http, &ho, on_done, c, &c->req, err) < 0) {
		call_free(c);
		maybe_close(a);
		return cm_err_wrap(err, "docker: %s %s", o->method, o->path);
	}
	if (out)
		*out = c;
	return 0;
}

void hs_docker_cancel(struct hs_docker_req *c)
{
	struct hs_docker_api *a = c->a;
	cm_http_cancel(c->req);
	call_free(c);
	maybe_close(a);
}

int hs_docker_pause(struct hs_docker_req *c, bool pause, cm_err *err)
{
	return pause ? cm_http_pause(c->req, err) : cm_http_resume(c->req, err);
}

/* ---- blocking, on the thread pool ---- */

struct sync_io {
	char *buf;
	size_t len, cap;
	int fd;
	bool too_big;
};

static size_t sync_write(char *p, size_t size, size_t n, void *data)
{
	struct sync_io *io = data;
	size_t k = size * n;
	if (io->len + k > MAX_ANSWER) {
		io->too_big = true;
		return 0;
	}
	xgrow((void **)&io->buf, &io->cap, io->len + k + 1, 1);
	memcpy(io->buf + io->len, p, k);
	io->len += k;
	io->buf[io->len] = '\0';
	return k;
}

static size_t sync_read(char *p, size_t size, size_t n, void *data)
{
	struct sync_io *io = data;
	for (;;) {
		ssize_t r = read(io->fd, p, size * n);
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? CURL_READFUNC_ABORT : (size_t)r;
	}
}

void hs_docker_easy_conn(void *handle, const struct hs_docker_conn *c, const char *url,
                         char *errbuf)
{
	CURL *e = handle;
	cu_curl_easy_setopt(e, CURLOPT_URL, url);
	cu_curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	cu_curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	cu_curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->unix_socket)
		cu_curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, c->unix_socket);
	if (c->ca)
		cu_curl_easy_setopt(e, CURLOPT_CAINFO, c->ca);
	if (c->cert)
		cu_curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert);
	if (c->key)
		cu_curl_easy_setopt(e, CURLOPT_SSLKEY, c->key);
}

static void easy_setup(CURL *e, const struct hs_docker_conn *c, const char *url, const char *method,
                       struct sync_io *io, char *errbuf)
{
	hs_docker_easy_conn(e, c, url, errbuf);
	cu_curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	cu_curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sync_write);
	cu_curl_easy_setopt(e, CURLOPT_WRITEDATA, io);
	cu_curl_easy_setopt(e, CURLOPT_TIMEOUT, SYNC_TIMEOUT_S);
}

int hs_docker_call_sync(const struct hs_docker_conn *c, const char *method, const char *path,
                        json_t *body, int upload_fd, long *status, json_t **out, cm_err *err)
{
	if (cm_curl_load(err) < 0)
		return cm_err_wrap(err, "docker");
	CURL *e = cu_curl_easy_init();
	if (!e)
		return cm_err_set(err, ENOMEM, "curl_easy_init failed");
	char errbuf[CURL_ERROR_SIZE] = "";
	struct sync_io io = {.fd = upload_fd};
	_cleanup_free_ char *url = xasprintf("%s%s", c->base, path);
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct curl_slist *hdrs = cu_curl_slist_append(NULL, "Expect:");
	hdrs = cu_curl_slist_append(hdrs, upload_fd >= 0 ? "Content-Type: application/x-tar"
	                                                 : "Content-Type: application/json");
	easy_setup(e, c, url, method, &io, errbuf);
	cu_curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	if (upload_fd >= 0) {
		cu_curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		cu_curl_easy_setopt(e, CURLOPT_READFUNCTION, sync_read);
		cu_curl_easy_setopt(e, CURLOPT_READDATA, &io);
	} else if (text) {
		cu_curl_easy_setopt(e, CURLOPT_POSTFIELDS, text);
	}
	CURLcode rc = cu_curl_easy_perform(e);
	*status = 0;
	cu_curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	cu_curl_easy_cleanup(e);
	cu_curl_slist_free_all(hdrs);
	int r = 0;
	if (rc != CURLE_OK || *status == 0) {
		r = cm_err_set(err, rc == CURLE_COULDNT_CONNECT ? ECONNREFUSED : EIO,
		               "docker: %s %.*s: %s", method, (int)strcspn(path, "?"), path,
		               io.too_big  ? "the answer is too large"
		               : errbuf[0] ? errbuf
		                           : cu_curl_easy_strerror(rc));
		hs_docker_where(c, err);
	} else if (out) {
		*out = io.buf ? json_loads(io.buf, JSON_DECODE_ANY, NULL) : NULL;
		/* a stream of JSON objects (progress): keep the raw text as a string */
		if (!*out && io.buf)
			*out = json_string(io.buf);
		if (*status >= 300 && *out && json_is_string(*out)) {
			json_decref(*out);
			*out = json_pack("{s:s}", "message", io.buf);
		}
	}
	free(io.buf);
	return r;
}

int hs_docker_sync_ok(const struct hs_docker_conn *c, const char *method, const char *path,
                      json_t *body, int upload_fd, long ok_status, json_t **out, cm_err *err)
{
	long status;
	json_t *j = NULL;
	if (hs_docker_call_sync(c, method, path, body, upload_fd, &status, &j, err) < 0)
		return -1;
	if (status >= 300 && status != ok_status) {
		_cleanup_free_ char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
		json_decref(j);
		return hs_docker_err(err, method, path, status, text);
	}
	if (out)
		*out = j;
	else
		json_decref(j);
	return 0;
}
