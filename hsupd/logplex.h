/* Dyno logs to logplex, as Heroku's log-shuttle sends them: each line framed as octet-counted
 * RFC 5424 (`<len> <190>1 <time> shuttle <app> <dyno> - - <line>\n`) and POSTed in batches of
 * at most 500 lines or 250 ms (Content-Type application/logplex-1, Logplex-Msg-Count, basic
 * auth from the URL's userinfo), over libcurl on the daemon's loop.
 *
 * Lines wait in one bounded buffer (by bytes). A batch that fails is sent again, with
 * exponential backoff and jitter, before any later one. While the endpoint takes batches, dynos
 * that write faster than it takes them are held back (their pipes are not read) once half the
 * buffer is used; while it fails, or stops answering for a second, they are not, and when the
 * buffer is full the oldest lines are dropped: counted, said on stderr, and reported in the
 * stream itself by an L10 line once the endpoint takes lines again. */
#ifndef HS_LOGPLEX_H
#define HS_LOGPLEX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"

struct hs_log_sink;
struct hs_logplex;

struct hs_logplex_conf {
	uv_loop_t *loop;
	const char *url; /* http(s), credentials as user:password@ */
	const char *app; /* the app's name in every frame */
	size_t buffer_bytes;
	uint64_t flush_timeout_ms;
	/* Held back while the endpoint takes lines more slowly than the dynos write them; may be
	 * NULL. */
	struct hs_log_sink *sink;
};

/* The buffer's size and the flush timeout from the environment (HSUP_LOGPLEX_BUFFER: bytes, or
 * with a k or M suffix; HSUP_LOGPLEX_FLUSH_TIMEOUT: seconds), or their defaults. */
int hs_logplex_conf_env(struct hs_logplex_conf *c, cm_err *err);

/* Loads libcurl and starts forwarding to c->url. */
int hs_logplex_new(const struct hs_logplex_conf *c, struct hs_logplex **out, cm_err *err);
/* Lines from now on go to url; NULL: no line is taken any more (what is buffered still goes
 * to the last URL). */
void hs_logplex_set_url(struct hs_logplex *lp, const char *url);
void hs_logplex_set_app(struct hs_logplex *lp, const char *app);

/* One dyno line (without its newline), read at read_us (µs since the epoch). */
void hs_logplex_line(void *lp, const char *dyno, size_t dyno_len, const char *line, size_t len,
                     int64_t read_us);

/* How many bytes of a dyno's output fit in the buffer, however short its lines. */
size_t hs_logplex_room(void *lp, size_t dyno_len);

/* GET /logplex: {"url" (without credentials), "lines_sent", "batches_sent", ...}. */
json_t *hs_logplex_report(void *lp);

/* Sends what is buffered, for at most the flush timeout, says how many lines were not
 * delivered if any, and frees lp once its handles have closed. */
void hs_logplex_close(struct hs_logplex *lp);

#endif
