/* See logplex.h. Lines are framed straight into the batch being filled (one contiguous
 * buffer, reused); closed batches wait in a queue, oldest first, and up to MAX_IN_FLIGHT of
 * them are POSTed at once. Every batch, filling, waiting or in flight, counts against the
 * buffer's size. */
#define _GNU_SOURCE
#include "hsupd/logplex.h"
#include "hsupd/logs.h"
#include "common/cleanup.h"
#include "common/http.h"
#include "common/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BATCH_LINES    500
#define BATCH_MS           250
#define MAX_IN_FLIGHT      4
#define BACKOFF_MIN_MS     100
#define BACKOFF_MAX_MS     10000
#define CONFIG_RETRY_MS    10000 /* 401, 403, 404: wrong URL or credentials */
#define RETRY_AFTER_MAX_MS 60000
#define CLOSING_RETRY_MS   500 /* backoff while flushing at exit */
#define REQUEST_TIMEOUT_MS 10000
#define MAX_RESPONSE       (64 * 1024)
#define STALL_MS           1000 /* dynos are held back only while the endpoint answers */
#define HOLD_CHECK_MS      100
#define DEFAULT_BUFFER     (8u << 20)
#define MIN_BUFFER         1024
#define MAX_BUFFER         (1ull << 30)
#define MAX_BATCH_BYTES    (1u << 20)
#define FIRST_CAP          (64u << 10) /* of a batch's buffer */
#define MAX_HOLD_AT        (1u << 20)  /* buffered bytes past which dynos are held back */
#define DEFAULT_FLUSH_MS   5000
#define SPARE_BATCHES      4
#define MAX_APP_NAME       48  /* RFC 5424 APP-NAME */
#define MAX_PROCID         128 /* RFC 5424 PROCID */
#define TS_LEN             32  /* 2015-06-01T12:00:00.123456+00:00 */

struct batch {
	struct hs_logplex *lp;
	struct batch *next;
	char *buf;
	size_t len, cap;
	unsigned lines;
	uint64_t seq;
	uint64_t first_ms; /* loop time of its first line */
	struct cm_http_req *req;
};

struct hs_logplex {
	uv_loop_t *loop;
	struct cm_http *http;
	char *url, *redacted;
	bool taking;
	char app_part[MAX_APP_NAME + 16]; /* " shuttle <app> " */
	size_t app_part_len;
	size_t limit, batch_cap, high, low;
	uint64_t flush_ms;
	struct hs_log_sink *sink;
	bool holding;
	struct batch *fill;        /* lines are framed into it */
	struct batch *head, *tail; /* closed, waiting, oldest first */
	struct batch *flight[MAX_IN_FLIGHT];
	size_t nflight;
	struct batch *spare;
	size_t nspare;
	size_t bytes;      /* of every batch: filling, waiting, in flight */
	uint64_t buffered; /* lines in them */
	uint64_t next_seq;
	uv_timer_t batch_timer, retry_timer, hold_timer, flush_timer;
	uv_signal_t sigs[2]; /* while flushing at exit: SIGTERM and SIGINT give up at once */
	int open_handles;
	unsigned failures; /* in a row */
	bool backing_off, failing_said, config_said, refused_said;
	uint64_t progress_ms; /* loop time of the last answer, or of a send into an idle pipe */
	/* lines dropped because the buffer was full, not yet told in an L10 line */
	uint64_t drop_pending;
	int64_t first_drop_us;
	uint64_t lines_dropped, overflow_reports;
	uint64_t lines_sent, batches_sent, batches_failed;
	char last_error[256];
	int64_t last_error_us;
	int64_t ts_sec, ts_us; /* what ts is for */
	char ts[TS_LEN + 1];
	bool closing, closed;
};

/* ---- time ---- */

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* "2015-06-01T12:00:00." is formatted once a second, the microseconds once per read (the
 * lines of one read share their time). */
static void write_ts(struct hs_logplex *lp, char *out, int64_t us)
{
	if (us != lp->ts_us) {
		int64_t sec = us / 1000000;
		unsigned frac = (unsigned)(us % 1000000);
		if (sec != lp->ts_sec) {
			time_t t = (time_t)sec;
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(lp->ts, sizeof(lp->ts), "%Y-%m-%dT%H:%M:%S.", &tm);
			memcpy(lp->ts + 26, "+00:00", 6);
			lp->ts_sec = sec;
		}
		for (int i = 25; i >= 20; i--, frac /= 10)
			lp->ts[i] = (char)('0' + frac % 10);
		lp->ts_us = us;
	}
	memcpy(out, lp->ts, TS_LEN);
}

static void format_ts(struct hs_logplex *lp, int64_t us, char out[TS_LEN + 1])
{
	write_ts(lp, out, us);
	out[TS_LEN] = 0;
}

/* ---- batches ---- */

static struct batch *batch_get(struct hs_logplex *lp)
{
	struct batch *b = lp->spare;
	if (b) {
		lp->spare = b->next;
		lp->nspare--;
	} else {
		b = xcalloc(1, sizeof(*b));
		b->lp = lp;
	}
	b->next = NULL;
	b->len = 0;
	b->lines = 0;
	b->req = NULL;
	return b;
}

/* A batch that left the buffer (delivered or dropped): its memory is kept for the next. */
static void batch_put(struct hs_logplex *lp, struct batch *b)
{
	lp->bytes -= b->len;
	lp->buffered -= b->lines;
	if (lp->nspare >= SPARE_BATCHES || b->cap > lp->batch_cap) {
		free(b->buf);
		free(b);
		return;
	}
	b->next = lp->spare;
	lp->spare = b;
	lp->nspare++;
}

static void batch_free_list(struct batch *b)
{
	while (b) {
		struct batch *next = b->next;
		free(b->buf);
		free(b);
		b = next;
	}
}

/* Back into the queue in the order of its lines (a failed batch goes before later ones). */
static void enqueue(struct hs_logplex *lp, struct batch *b)
{
	struct batch **at = &lp->head;
	while (*at && (*at)->seq < b->seq)
		at = &(*at)->next;
	b->next = *at;
	*at = b;
	if (!b->next)
		lp->tail = b;
}

static struct batch *dequeue(struct hs_logplex *lp)
{
	struct batch *b = lp->head;
	lp->head = b->next;
	if (!lp->head)
		lp->tail = NULL;
	b->next = NULL;
	return b;
}

static void pump(struct hs_logplex *lp);

static void close_fill(struct hs_logplex *lp)
{
	struct batch *b = lp->fill;
	if (!b || b->lines == 0)
		return;
	lp->fill = NULL;
	b->seq = lp->next_seq++;
	b->next = NULL;
	if (lp->tail)
		lp->tail->next = b;
	else
		lp->head = b;
	lp->tail = b;
	pump(lp);
}

/* ---- dropping ---- */

static void note_drop(struct hs_logplex *lp, uint64_t lines)
{
	if (lines == 0)
		return;
	if (lp->drop_pending == 0) {
		lp->first_drop_us = now_us();
		hs_log_system("logplex: the buffer (%zu bytes) is full: dropping the oldest lines "
		              "until %s takes lines again",
		              lp->limit, lp->redacted);
	}
	lp->drop_pending += lines;
	lp->lines_dropped += lines;
}

/* Makes room for need more bytes by dropping the oldest lines not in flight. */
static bool make_room(struct hs_logplex *lp, size_t need)
{
	while (lp->bytes + need > lp->limit) {
		if (lp->head) {
			struct batch *b = dequeue(lp);
			note_drop(lp, b->lines);
			batch_put(lp, b);
		} else if (lp->fill && lp->fill->lines) {
			note_drop(lp, lp->fill->lines);
			lp->bytes -= lp->fill->len;
			lp->buffered -= lp->fill->lines;
			lp->fill->len = 0;
			lp->fill->lines = 0;
		} else {
			return false;
		}
	}
	return true;
}

/* ---- holding the dynos back ---- */

/* The endpoint takes batches: nothing failed, and what is in flight was answered lately. */
static bool healthy(const struct hs_logplex *lp)
{
	return lp->failures == 0 &&
	       (lp->nflight == 0 || uv_now(lp->loop) - lp->progress_ms < STALL_MS);
}

static void on_hold_check(uv_timer_t *t);

static void set_hold(struct hs_logplex *lp, bool on)
{
	if (on == lp->holding)
		return;
	lp->holding = on;
	if (lp->sink)
		hs_log_sink_hold(lp->sink, on);
	if (on)
		uv_timer_start(&lp->hold_timer, on_hold_check, HOLD_CHECK_MS, HOLD_CHECK_MS);
	else
		uv_timer_stop(&lp->hold_timer);
}

static void update_hold(struct hs_logplex *lp)
{
	if (!lp->holding && lp->bytes >= lp->high && lp->sink && !lp->closing && healthy(lp))
		set_hold(lp, true);
	else if (lp->holding && (lp->bytes <= lp->low || !healthy(lp) || lp->closing))
		set_hold(lp, false);
}

static void on_hold_check(uv_timer_t *t)
{
	update_hold(t->data);
}

/* ---- framing ---- */

static size_t put_uint(char *out, uint64_t v)
{
	char tmp[24];
	size_t n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while (v /= 10);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static size_t digits(size_t v)
{
	size_t n = 1;
	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static void on_batch_timer(uv_timer_t *t);

/* The batch to frame need bytes into: the filling one, unless it is full. */
static struct batch *fill_for(struct hs_logplex *lp, size_t need)
{
	struct batch *b = lp->fill;
	if (b && b->lines && (b->lines >= MAX_BATCH_LINES || b->len + need > lp->batch_cap)) {
		close_fill(lp);
		b = NULL;
	}
	if (!b) {
		b = lp->fill = batch_get(lp);
		b->first_ms = uv_now(lp->loop);
		if (!uv_is_active((uv_handle_t *)&lp->batch_timer))
			uv_timer_start(&lp->batch_timer, on_batch_timer, BATCH_MS, 0);
	} else if (b->lines == 0) {
		b->first_ms = uv_now(lp->loop);
	}
	if (b->len + need > b->cap) /* 500 short lines take some 40 kB */
		xgrow((void **)&b->buf, &b->cap,
		      b->len + need > FIRST_CAP ? b->len + need : FIRST_CAP, 1);
	return b;
}

/* `<len> <pri>1 <time> shuttle <app> <procid> - - <msg>\n`, len counting what follows its
 * space. pri is "<190>1 " (local7.info) or "<172>1 " (local5.warning). */
static void frame(struct hs_logplex *lp, const char *pri, const char *app_part, size_t app_part_len,
                  const char *procid, size_t procid_len, const char *msg, size_t len, int64_t us)
{
	if (procid_len > MAX_PROCID)
		procid_len = MAX_PROCID;
	size_t body = 7 + TS_LEN + app_part_len + procid_len + 5 + len + 1;
	size_t need = digits(body) + 1 + body;
	if (!make_room(lp, need)) { /* larger than the whole buffer, or it is all in flight */
		note_drop(lp, 1);
		return;
	}
	struct batch *b = fill_for(lp, need);
	char *p = b->buf + b->len;
	p += put_uint(p, body);
	*p++ = ' ';
	memcpy(p, pri, 7);
	write_ts(lp, p + 7, us);
	p += 7 + TS_LEN;
	memcpy(p, app_part, app_part_len);
	p += app_part_len;
	memcpy(p, procid, procid_len);
	p += procid_len;
	memcpy(p, " - - ", 5);
	memcpy(p + 5, msg, len);
	p[5 + len] = '\n';
	b->len += need;
	b->lines++;
	lp->bytes += need;
	lp->buffered++;
	if (b->lines >= MAX_BATCH_LINES)
		close_fill(lp);
}

void hs_logplex_line(void *data, const char *dyno, size_t dyno_len, const char *line, size_t len,
                     int64_t read_us)
{
	struct hs_logplex *lp = data;
	if (!lp->taking)
		return;
	frame(lp, "<190>1 ", lp->app_part, lp->app_part_len, dyno, dyno_len, line, len, read_us);
	if (!lp->holding && lp->bytes >= lp->high)
		update_hold(lp);
}

/* An empty line makes the largest frame per byte read: what fits of those. */
size_t hs_logplex_room(void *data, size_t dyno_len)
{
	struct hs_logplex *lp = data;
	if (dyno_len > MAX_PROCID)
		dyno_len = MAX_PROCID;
	size_t per_byte = 8 + 7 + TS_LEN + lp->app_part_len + dyno_len + 5 + 1;
	return lp->bytes < lp->limit ? (lp->limit - lp->bytes) / per_byte : 0;
}

/* Heroku's own wording, as heroku[logplex] in the app's log; recovered: the endpoint took a
 * batch again (else hsup is exiting). */
static void report_drops(struct hs_logplex *lp, bool recovered)
{
	static const char app_part[] = " shuttle heroku ";
	char since[TS_LEN + 1], msg[160];
	if (lp->drop_pending == 0)
		return;
	uint64_t n = lp->drop_pending;
	format_ts(lp, lp->first_drop_us, since);
	int k = snprintf(
	    msg, sizeof(msg),
	    "Error L10 (output buffer overflow): %" PRIu64 " messages dropped since %s.", n, since);
	lp->drop_pending = 0;
	frame(lp, "<172>1 ", app_part, sizeof(app_part) - 1, "logplex", 7, msg, (size_t)k,
	      now_us());
	lp->overflow_reports++;
	hs_log_system("logplex: %" PRIu64 " lines were dropped since %s (the buffer was full)%s%s",
	              n, since, recovered ? "; sending again to " : "",
	              recovered ? lp->redacted : "");
}

/* ---- sending ---- */

static void note_error(struct hs_logplex *lp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note_error(struct hs_logplex *lp, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(lp->last_error, sizeof(lp->last_error), fmt, ap);
	va_end(ap);
	lp->last_error_us = now_us();
}

static void on_retry(uv_timer_t *t)
{
	struct hs_logplex *lp = t->data;
	lp->backing_off = false;
	pump(lp);
}

static bool config_status(long status)
{
	return status == 401 || status == 403 || status == 404 || status == 405 || status == 407;
}

/* The next try: 100 ms doubling to 10 s, with jitter; the server's Retry-After; slowly for
 * a URL that is wrong. The failures of batches in flight together count as one. */
static void back_off(struct hs_logplex *lp, const struct cm_http_resp *resp)
{
	if (lp->backing_off)
		return;
	unsigned shift = lp->failures < 10 ? lp->failures : 10;
	uint64_t ms = (uint64_t)BACKOFF_MIN_MS << shift;
	if (ms > BACKOFF_MAX_MS)
		ms = BACKOFF_MAX_MS;
	ms = ms / 2 + (uint64_t)random() % (ms / 2 + 1);
	if (resp->ok && config_status(resp->status))
		ms = CONFIG_RETRY_MS;
	if (resp->ok && resp->retry_after > 0)
		ms = (uint64_t)resp->retry_after * 1000 < RETRY_AFTER_MAX_MS
		         ? (uint64_t)resp->retry_after * 1000
		         : RETRY_AFTER_MAX_MS;
	if (lp->closing && ms > CLOSING_RETRY_MS)
		ms = CLOSING_RETRY_MS;
	lp->failures++;
	lp->backing_off = true;
	uv_timer_start(&lp->retry_timer, on_retry, ms, 0);
}

static void say_failure(struct hs_logplex *lp, const struct cm_http_resp *resp)
{
	if (resp->ok && config_status(resp->status)) {
		note_error(lp, "HTTP %ld", resp->status);
		if (!lp->config_said)
			hs_log_system(
			    "logplex: %s answered %ld: the URL or its credentials are "
			    "wrong; trying again every %d s (once the buffer is full, the "
			    "oldest lines are dropped)",
			    lp->redacted, resp->status, CONFIG_RETRY_MS / 1000);
		lp->config_said = lp->failing_said = true;
		return;
	}
	if (resp->ok)
		note_error(lp, "HTTP %ld", resp->status);
	else
		note_error(lp, "%s", resp->err.msg);
	if (!lp->failing_said)
		hs_log_system("logplex: cannot deliver to %s: %s; trying again", lp->redacted,
		              lp->last_error);
	lp->failing_said = true;
}

static void check_flushed(struct hs_logplex *lp);

static void take_out_of_flight(struct hs_logplex *lp, struct batch *b)
{
	for (size_t i = 0; i < lp->nflight; i++)
		if (lp->flight[i] == b) {
			lp->flight[i] = lp->flight[--lp->nflight];
			break;
		}
	b->req = NULL;
}

static void delivered(struct hs_logplex *lp, struct batch *b)
{
	lp->lines_sent += b->lines;
	lp->batches_sent++;
	batch_put(lp, b);
	if (lp->failing_said)
		hs_log_system("logplex: delivering to %s again", lp->redacted);
	lp->failures = 0;
	lp->failing_said = lp->config_said = lp->refused_said = false;
	report_drops(lp, true);
}

/* 400, 413, 422...: the endpoint refuses this request; sending it again cannot help. */
static void refused(struct hs_logplex *lp, struct batch *b, long status)
{
	note_error(lp, "HTTP %ld: a batch of %u lines was refused and dropped", status, b->lines);
	if (!lp->refused_said)
		hs_log_system("logplex: %s refused a batch of %u lines with %ld: dropped (and "
		              "any other it refuses, until one is taken)",
		              lp->redacted, b->lines, status);
	lp->refused_said = true;
	lp->lines_dropped += b->lines;
	batch_put(lp, b);
}

static void on_sent(struct cm_http_req *req, const struct cm_http_resp *resp, void *data)
{
	struct batch *b = data;
	struct hs_logplex *lp = b->lp;
	(void)req;
	take_out_of_flight(lp, b);
	lp->progress_ms = uv_now(lp->loop);
	/* a 2xx counts whatever came after it (a body too large, or one that never ends) */
	if (resp->status >= 200 && resp->status < 300) {
		delivered(lp, b);
	} else if (resp->ok && resp->status >= 400 && resp->status < 500 &&
	           !config_status(resp->status) && resp->status != 408 && resp->status != 429) {
		refused(lp, b, resp->status);
	} else {
		lp->batches_failed++;
		say_failure(lp, resp);
		enqueue(lp, b);
		back_off(lp, resp);
	}
	pump(lp);
	update_hold(lp);
	check_flushed(lp);
}

static void send_batch(struct hs_logplex *lp, struct batch *b)
{
	char count[48];
	snprintf(count, sizeof(count), "Logplex-Msg-Count: %u", b->lines);
	const char *headers[] = {"Content-Type: application/logplex-1", count, NULL};
	struct cm_http_opts o = {
	    .method = "POST",
	    .url = lp->url,
	    .headers = headers,
	    .body = b->buf,
	    .body_len = b->len,
	    .timeout_ms = REQUEST_TIMEOUT_MS,
	    .max_body = MAX_RESPONSE,
	    .fd = -1,
	};
	cm_err err;
	if (lp->nflight == 0)
		lp->progress_ms = uv_now(lp->loop);
	if (cm_http_start(lp->http, &o, on_sent, b, &b->req, &err) < 0) {
		struct cm_http_resp resp = {.err = err};
		lp->batches_failed++;
		say_failure(lp, &resp);
		enqueue(lp, b);
		back_off(lp, &resp);
		return;
	}
	lp->flight[lp->nflight++] = b;
}

/* Sends waiting batches, oldest first. One at a time, so that the endpoint gets the lines in
 * order, while it keeps up; when more than one batch waits, up to MAX_IN_FLIGHT at once (the
 * endpoint may then take them out of order; each keeps its own, and the timestamps tell). After
 * a failure, one at a time until one is delivered. */
static void pump(struct hs_logplex *lp)
{
	while (lp->head && !lp->backing_off && !lp->closed) {
		size_t max = lp->failures || !lp->head->next ? 1 : MAX_IN_FLIGHT;
		if (lp->nflight >= max)
			break;
		send_batch(lp, dequeue(lp));
	}
}

static void on_batch_timer(uv_timer_t *t)
{
	struct hs_logplex *lp = t->data;
	struct batch *b = lp->fill;
	if (!b || b->lines == 0)
		return;
	uint64_t age = uv_now(lp->loop) - b->first_ms;
	if (age + 1 >= BATCH_MS)
		close_fill(lp);
	else
		uv_timer_start(&lp->batch_timer, on_batch_timer, BATCH_MS - age, 0);
}

/* ---- configuration ---- */

static int parse_size(const char *s, size_t *out, cm_err *err)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned long long mult = 1;
	if (end != s && (*end == 'k' || *end == 'K'))
		mult = 1024, end++;
	else if (end != s && (*end == 'm' || *end == 'M'))
		mult = 1024 * 1024, end++;
	if (end == s || *end || errno || *s == '-' || v > MAX_BUFFER / mult ||
	    v * mult < MIN_BUFFER)
		return cm_err_set(err, EINVAL,
		                  "HSUP_LOGPLEX_BUFFER \"%s\" must be a size in bytes from %d to "
		                  "1G, with an optional k or M suffix (8M)",
		                  s, MIN_BUFFER);
	*out = (size_t)(v * mult);
	return 0;
}

static int parse_timeout(const char *s, uint64_t *out, cm_err *err)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= 0 && v <= 3600))
		return cm_err_set(err, EINVAL,
		                  "HSUP_LOGPLEX_FLUSH_TIMEOUT \"%s\" must be a number of seconds "
		                  "from 0 to 3600",
		                  s);
	*out = (uint64_t)(v * 1000 + 0.5);
	return 0;
}

int hs_logplex_conf_env(struct hs_logplex_conf *c, cm_err *err)
{
	const char *buf = getenv("HSUP_LOGPLEX_BUFFER");
	const char *flush = getenv("HSUP_LOGPLEX_FLUSH_TIMEOUT");
	c->buffer_bytes = DEFAULT_BUFFER;
	c->flush_timeout_ms = DEFAULT_FLUSH_MS;
	if (buf && *buf && parse_size(buf, &c->buffer_bytes, err) < 0)
		return -1;
	if (flush && *flush && parse_timeout(flush, &c->flush_timeout_ms, err) < 0)
		return -1;
	return 0;
}

/* The app's name as RFC 5424 allows: printable ASCII without spaces, 48 at most. */
void hs_logplex_set_app(struct hs_logplex *lp, const char *app)
{
	char name[MAX_APP_NAME + 1];
	size_t n = 0;
	for (; app[n] && n < MAX_APP_NAME; n++)
		name[n] = app[n] > ' ' && app[n] < 127 ? app[n] : '_';
	name[n] = 0;
	if (n == 0)
		snprintf(name, sizeof(name), "app");
	int k = snprintf(lp->app_part, sizeof(lp->app_part), " shuttle %s ", name);
	lp->app_part_len = (size_t)k;
}

void hs_logplex_set_url(struct hs_logplex *lp, const char *url)
{
	if (!url || !*url) {
		if (lp->taking)
			hs_log_info("logplex: the release has no LogplexURL: dyno logs are no "
			            "longer sent to %s",
			            lp->redacted);
		lp->taking = false;
		return;
	}
	lp->taking = true;
	if (lp->url && strcmp(url, lp->url) == 0)
		return;
	free(lp->url);
	free(lp->redacted);
	lp->url = xstrdup(url);
	lp->redacted = cm_http_redact(url);
	hs_log_info("logplex: sending dyno logs to %s", lp->redacted);
	/* a new URL is tried at once */
	lp->failures = 0;
	lp->failing_said = lp->config_said = false;
	if (lp->backing_off) {
		uv_timer_stop(&lp->retry_timer);
		lp->backing_off = false;
	}
	pump(lp);
}

static void init_timer(struct hs_logplex *lp, uv_timer_t *t)
{
	uv_timer_init(lp->loop, t);
	t->data = lp;
	lp->open_handles++;
}

int hs_logplex_new(const struct hs_logplex_conf *c, struct hs_logplex **out, cm_err *err)
{
	struct cm_http *http;
	if (cm_http_new(c->loop, &http, err) < 0)
		return cm_err_wrap(err, "logplex");
	struct hs_logplex *lp = xcalloc(1, sizeof(*lp));
	lp->loop = c->loop;
	lp->http = http;
	lp->limit = c->buffer_bytes;
	lp->batch_cap =
	    c->buffer_bytes / 8 < MAX_BATCH_BYTES ? c->buffer_bytes / 8 : MAX_BATCH_BYTES;
	lp->high = c->buffer_bytes / 2 < MAX_HOLD_AT ? c->buffer_bytes / 2 : MAX_HOLD_AT;
	lp->low = lp->high / 2;
	lp->flush_ms = c->flush_timeout_ms;
	lp->sink = c->sink;
	lp->ts_sec = lp->ts_us = -1;
	init_timer(lp, &lp->batch_timer);
	init_timer(lp, &lp->retry_timer);
	init_timer(lp, &lp->hold_timer);
	init_timer(lp, &lp->flush_timer);
	for (size_t i = 0; i < CM_ARRAY_SIZE(lp->sigs); i++) {
		uv_signal_init(lp->loop, &lp->sigs[i]);
		lp->sigs[i].data = lp;
		lp->open_handles++;
	}
	srandom((unsigned)now_us());
	hs_logplex_set_app(lp, c->app ? c->app : "app");
	hs_logplex_set_url(lp, c->url);
	*out = lp;
	return 0;
}

/* ---- the report ---- */

static json_t *ts_or_null(struct hs_logplex *lp, int64_t us)
{
	char ts[TS_LEN + 1];
	if (!us)
		return json_null();
	format_ts(lp, us, ts);
	return json_string(ts);
}

json_t *hs_logplex_report(void *data)
{
	struct hs_logplex *lp = data;
	return json_pack(
	    "{s:s?, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s?, s:o, s:I, s:I, s:b}", "url",
	    lp->redacted, "forwarding", lp->taking, "lines_sent", (json_int_t)lp->lines_sent,
	    "batches_sent", (json_int_t)lp->batches_sent, "batches_failed",
	    (json_int_t)lp->batches_failed, "lines_buffered", (json_int_t)lp->buffered,
	    "bytes_buffered", (json_int_t)lp->bytes, "buffer_limit", (json_int_t)lp->limit,
	    "lines_dropped", (json_int_t)lp->lines_dropped, "overflow_reports",
	    (json_int_t)lp->overflow_reports, "last_error",
	    lp->last_error[0] ? lp->last_error : NULL, "last_error_at",
	    ts_or_null(lp, lp->last_error_us), "in_flight", (json_int_t)lp->nflight,
	    "failures_in_a_row", (json_int_t)lp->failures, "holding_dynos", lp->holding);
}

/* ---- closing ---- */

static void on_closed(uv_handle_t *h)
{
	struct hs_logplex *lp = h->data;
	if (--lp->open_handles == 0)
		free(lp);
}

static void finish_close(struct hs_logplex *lp)
{
	lp->closed = true;
	cm_http_close(lp->http); /* what is in flight is cancelled */
	lp->http = NULL;
	for (size_t i = 0; i < lp->nflight; i++)
		batch_free_list(lp->flight[i]);
	lp->nflight = 0;
	batch_free_list(lp->fill);
	batch_free_list(lp->head);
	batch_free_list(lp->spare);
	lp->fill = lp->head = lp->tail = lp->spare = NULL;
	free(lp->url);
	free(lp->redacted);
	uv_close((uv_handle_t *)&lp->batch_timer, on_closed);
	uv_close((uv_handle_t *)&lp->retry_timer, on_closed);
	uv_close((uv_handle_t *)&lp->hold_timer, on_closed);
	uv_close((uv_handle_t *)&lp->flush_timer, on_closed);
	for (size_t i = 0; i < CM_ARRAY_SIZE(lp->sigs); i++)
		uv_close((uv_handle_t *)&lp->sigs[i], on_closed);
}

static void check_flushed(struct hs_logplex *lp)
{
	if (lp->closing && !lp->closed && lp->buffered == 0 && lp->nflight == 0)
		finish_close(lp);
}

static void give_up(struct hs_logplex *lp, const char *why)
{
	hs_log_system("logplex: exiting with %" PRIu64 " lines not delivered to %s%s%s (%s)",
	              lp->buffered, lp->redacted, lp->last_error[0] ? ": " : "", lp->last_error,
	              why);
	finish_close(lp);
}

static void on_flush_timeout(uv_timer_t *t)
{
	struct hs_logplex *lp = t->data;
	char why[64];
	snprintf(why, sizeof(why), "HSUP_LOGPLEX_FLUSH_TIMEOUT: %.1f s",
	         (double)lp->flush_ms / 1000);
	give_up(lp, why);
}

static void on_signal(uv_signal_t *h, int signum)
{
	give_up(h->data, strsignal(signum));
}

void hs_logplex_close(struct hs_logplex *lp)
{
	lp->closing = true;
	set_hold(lp, false);
	lp->sink = NULL;
	lp->taking = false;
	report_drops(lp, false);
	close_fill(lp);
	if (lp->backing_off) { /* the last tries come sooner */
		uint64_t due = uv_timer_get_due_in(&lp->retry_timer);
		if (due > CLOSING_RETRY_MS)
			uv_timer_start(&lp->retry_timer, on_retry, CLOSING_RETRY_MS, 0);
	}
	if (lp->buffered == 0 && lp->nflight == 0)
		return finish_close(lp);
	uv_timer_start(&lp->flush_timer, on_flush_timeout, lp->flush_ms, 0);
	uv_signal_start(&lp->sigs[0], on_signal, SIGTERM);
	uv_signal_start(&lp->sigs[1], on_signal, SIGINT);
}
