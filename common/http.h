/* HTTP on the daemon's event loop: libcurl's multi interface driven by libuv (curl's sockets
 * on uv_poll_t, its timer on a uv_timer_t). Nothing blocks the loop and no thread is made per
 * request; connections are kept alive between requests to a host, TLS is verified against the
 * system's CA bundle, and the usual proxy variables (http_proxy, https_proxy, no_proxy) apply.
 * libcurl is loaded by cm_http_new(), so hsup pays for it only when it speaks HTTP. */
#ifndef CM_HTTP_H
#define CM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "common/err.h"

struct cm_http;
struct cm_http_req;

struct cm_http_opts {
	const char *method;         /* NULL: GET, or POST when there is a body */
	const char *url;            /* credentials in it (user:password@) are sent as basic auth */
	const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
	const char *body;           /* not copied: must live until the request ends */
	size_t body_len;
	uint64_t timeout_ms; /* the whole exchange; 0: none */
	/* No floor on the transfer's speed (by default one under 1 byte/s for 60 s fails): for a
	 * stream that may stay quiet for as long as it likes (a container's output, its wait) and
	 * a local daemon that may be slow to answer under load (dockerd starting 100 containers) */
	bool no_stall;
	/* Where the response body goes: a buffer of at most max_body bytes (0: 1 MiB; a larger
	 * body fails the request), or, when fd >= 0, the file, written from offset resume_from
	 * (asked of the server with a Range header when > 0), at most max_body bytes in all. */
	uint64_t max_body;
	int fd;
	uint64_t resume_from;
	bool follow_redirects; /* at most 5, http and https only */
	/* Talks HTTP over this unix socket instead of connecting to the URL's host (the Docker
	 * Engine's /var/run/docker.sock); the URL still gives the path. */
	const char *unix_socket;
	/* A body read as it arrives (a stream: a container's logs, events): each piece of a 2xx
	 * answer goes to on_data, not into the buffer (an error answer's still does); a return
	 * other than n ends the request (an error). NULL: buffered as above. */
	size_t (*on_data)(const char *p, size_t n, void *data);
	/* Called once the headers of a 2xx answer have come, before its body (a stream that
	 * is set up, such as a container's attach). NULL: not called. */
	void (*on_headers)(void *data);
	/* TLS client authentication and the CA that signs the server (the Docker Engine's
	 * DOCKER_CERT_PATH): PEM files, or NULL for none and the system's CA bundle. */
	const char *ca_file, *cert_file, *key_file;
};

struct cm_http_resp {
	bool ok;          /* an HTTP response came; else err says why */
	long status;      /* its status */
	char *body;       /* NUL-terminated; NULL when written to a file */
	size_t len;       /* bytes of body received (in the buffer, or written to the file) */
	const char *etag; /* response headers hsup needs, or NULL */
	long ratelimit;   /* RateLimit-Remaining, or -1 */
	long retry_after; /* Retry-After in seconds, or -1 */
	bool reused;      /* the request went over a connection kept from an earlier one */
	cm_err err;       /* when !ok: "connect to 127.0.0.1 port 9: Connection refused" */
};

/* Called once per request, unless it was cancelled; the request ends when it returns (do not
 * cancel it there). It may start other requests, cancel them, or close h. resp lives until it
 * returns. */
typedef void (*cm_http_cb)(struct cm_http_req *req, const struct cm_http_resp *resp, void *data);

/* Loads libcurl and sets up the multi handle on loop. */
int cm_http_new(uv_loop_t *loop, struct cm_http **out, cm_err *err);
/* Cancels what is in flight (without callbacks), closes the kept connections and frees h once
 * its handles have closed. */
void cm_http_close(struct cm_http *h);

/* Starts a request; *out (may be NULL) names it for cm_http_cancel. Fails only on bad
 * options. */
int cm_http_start(struct cm_http *h, const struct cm_http_opts *o, cm_http_cb cb, void *data,
                  struct cm_http_req **out, cm_err *err);
/* Ends a request early; its callback is not called. */
void cm_http_cancel(struct cm_http_req *req);
/* Stops delivering a streamed body (on_data may return CURL_WRITEFUNC_PAUSE for the same
 * effect, the piece it was given coming again after resume), and goes on with it. */
int cm_http_pause(struct cm_http_req *req, cm_err *err);
int cm_http_resume(struct cm_http_req *req, cm_err *err);
/* Requests in flight. */
size_t cm_http_active(const struct cm_http *h);

/* url for messages: its user:password@ becomes ***@ and its query ?... (a signed URL's
 * signature is one), so a credential is never printed. Free it. */
char *cm_http_redact(const char *url);

#endif
