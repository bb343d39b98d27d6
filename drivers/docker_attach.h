/* The attach of a one-off docker dyno (hsup run): its output, and its stdin too, and a terminal
 * when the user has one. dockerd takes a container's input only on a hijacked connection: the
 * request POST /containers/ID/attach?stream=1&stdin=1&stdout=1&stderr=1 with "Upgrade: tcp",
 * answered "101 UPGRADED", after which the connection is a raw stream both ways (the output
 * multiplexed as on every attach, or raw when the container has a terminal). libcurl makes the
 * connection as for every other call (unix socket, TCP, TLS: CURLOPT_CONNECT_ONLY) and carries
 * the bytes (curl_easy_send, curl_easy_recv); the request and its answer (http_parser) go on
 * the thread pool, the stream on the loop.
 *
 * Input: the user's stdin is read through a description of its own (non-blocking), or, when it
 * cannot be watched (a file, /dev/null), as fast as the connection takes it. Its end shuts the
 * connection's writing half, and dockerd closes the container's stdin (StdinOnce); on a
 * terminal, its end is a hangup, told to the caller. Output goes to the caller, which may pause
 * it (hs_docker_attach_pause) while its own reader is slow. On a terminal, the user's is put
 * in raw mode (the container's pty does the line discipline, so ^C reaches the dyno, not
 * hsup), and its size goes to the caller at the start and on every SIGWINCH. */
#ifndef HS_DOCKER_ATTACH_H
#define HS_DOCKER_ATTACH_H

#include <stdbool.h>
#include <uv.h>

#include "common/err.h"
#include "drivers/docker_api.h"

struct hs_docker_attach;

struct hs_docker_attach_cbs {
	/* connected and upgraded (err NULL), or not: then it is gone (not to be closed), and
	 * nothing else is called */
	void (*ready)(const cm_err *err, void *data);
	/* a piece of output; returning less than n ends the stream (as a libcurl write callback) */
	size_t (*output)(const char *p, size_t n, void *data);
	/* the output has ended: the container's streams are closed (err NULL), or the
	 * connection failed */
	void (*ended)(const cm_err *err, void *data);
	/* on a terminal: its window, to be given to the container */
	void (*resize)(unsigned short rows, unsigned short cols, void *data);
	/* on a terminal: it hung up (the dyno should get SIGHUP) */
	void (*hangup)(void *data);
};

/* Attaches to container id with in as its stdin (borrowed; a terminal when tty). c must outlive
 * the attach. */
int hs_docker_attach_open(uv_loop_t *loop, const struct hs_docker_conn *c, const char *id, int in,
                          bool tty, const struct hs_docker_attach_cbs *cbs, void *data,
                          struct hs_docker_attach **out, cm_err *err);
/* The container runs: on a terminal, its size goes to resize now. */
void hs_docker_attach_running(struct hs_docker_attach *a);
/* Stops or starts the delivery of output (from within output too). */
void hs_docker_attach_pause(struct hs_docker_attach *a, bool pause);
/* Ends it (no callback runs after this; safe within one): the user's terminal gets its
 * settings back, the connection is closed. */
void hs_docker_attach_close(struct hs_docker_attach *a);

#endif
