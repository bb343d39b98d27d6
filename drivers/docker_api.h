/* The Docker Engine API as the docker driver speaks it: where dockerd is ($DOCKER_HOST: a unix
 * socket, by default /var/run/docker.sock, or tcp://HOST:PORT, with TLS when $DOCKER_CERT_PATH
 * holds ca.pem, cert.pem and key.pem), requests on the daemon's loop (common/http.h) for
 * everything a dyno's life does, and blocking ones for the build step, which runs on the
 * thread pool. Bodies are JSON (jansson). A failed call is said as dockerd said it, with the
 * call: "docker: POST /containers/create: 404: No such image: hsup-stack/x:1". */
#ifndef HS_DOCKER_API_H
#define HS_DOCKER_API_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "common/err.h"
#include "common/http.h"

struct hs_docker_conn {
	char *base;        /* "http://docker" (a unix socket) or "http(s)://HOST:PORT" */
	char *unix_socket; /* or NULL */
	char *ca, *cert, *key;
};

/* From $DOCKER_HOST and $DOCKER_CERT_PATH. */
int hs_docker_conn_from_env(struct hs_docker_conn *c, cm_err *err);
void hs_docker_conn_free(struct hs_docker_conn *c);

/* Requests on the loop. libcurl's handle is made for the first and closed once none is in
 * flight, so that nothing of it keeps the loop alive after the last dyno. */
struct hs_docker_api {
	uv_loop_t *loop;
	const struct hs_docker_conn *conn;
	struct cm_http *http;
};

/* status: the HTTP status (0 when no answer came); body: the answer parsed, or NULL; err set
 * when the call failed (no answer, or a status >= 300). */
typedef void (*hs_docker_cb)(long status, json_t *body, const cm_err *err, void *data);

struct hs_docker_call_opts {
	const char *method;
	const char *path; /* "/containers/create?name=x" */
	json_t *body;     /* sent as JSON (borrowed), or NULL */
	/* a stream: each piece of the 2xx answer goes here (see cm_http_opts.on_data) */
	size_t (*on_data)(const char *p, size_t n, void *data);
	void (*on_headers)(void *data); /* the stream is set up (cm_http_opts.on_headers) */
};

struct hs_docker_req;

/* *out (may be NULL) names the call until its callback has run. */
int hs_docker_call(struct hs_docker_api *a, const struct hs_docker_call_opts *o, hs_docker_cb cb,
                   void *data, struct hs_docker_req **out, cm_err *err);
/* Cancels a call (its callback does not run). */
void hs_docker_cancel(struct hs_docker_req *req);
/* Pauses or resumes a stream's delivery (cm_http_pause). */
int hs_docker_pause(struct hs_docker_req *req, bool pause, cm_err *err);

/* A blocking call (the thread pool): 0 with *status and *body (may be NULL; free it) when an
 * answer came, whatever its status; upload_fd >= 0: the body is read from that fd to its end
 * (a tar stream) instead of from body. */
int hs_docker_call_sync(const struct hs_docker_conn *c, const char *method, const char *path,
                        json_t *body, int upload_fd, long *status, json_t **out, cm_err *err);
/* The same, and a status >= 300 (other than ok_status, when not 0) is an error. */
int hs_docker_sync_ok(const struct hs_docker_conn *c, const char *method, const char *path,
                      json_t *body, int upload_fd, long ok_status, json_t **out, cm_err *err);

/* The message of a failed call: "docker: METHOD PATH: STATUS: what dockerd said". */
int hs_docker_err(cm_err *err, const char *method, const char *path, long status, const char *body);

/* A call that got no answer says where dockerd was looked for: " (dockerd at unix:///...)" is
 * added to err. */
void hs_docker_where(const struct hs_docker_conn *c, cm_err *err);

/* Sets a libcurl easy handle (CURL *) to reach dockerd at url (c->base and a path): the unix
 * socket, TLS files, http(s) only, no signals, errors into errbuf (CURL_ERROR_SIZE). */
void hs_docker_easy_conn(void *handle, const struct hs_docker_conn *c, const char *url,
                         char *errbuf);

/* Percent-encodes s for a URL's query (owned). */
char *hs_docker_escape(const char *s);

#endif
