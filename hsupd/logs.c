#define _GNU_SOURCE
#include "hsupd/logs.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK       (64 * 1024)
#define MIN_TAP_READ     512
#define MAX_LINE         (1024 * 1024)
#define HIGH_WATER       (1024 * 1024)
#define LOW_WATER        (128 * 1024)
#define RETRY_MS         50
#define COLOR_RESET      "\033[0m"
#define SYSTEM_QUEUE_MAX (1024 * 1024) /* hsup's own messages waiting for a slow stderr */

static const char *const palette[] = {"\033[36m", "\033[33m", "\033[32m",
                                      "\033[35m", "\033[34m", "\033[31m"};
static bool system_color;

static int64_t now_sec(void)
{
	return (int64_t)time(NULL);
}

static void format_clock(int64_t sec, char *out, size_t n)
{
	time_t t = (time_t)sec;
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(out, n, "%H:%M:%S", &tm);
}

/* A pipe or a terminal may block, and its description may be shared with the shell or
 * another writer: write to our own non-blocking description of it, so the mode of the shared
 * one is left alone. */
static int reopen_nonblocking(int fd)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

/* Watches s->fd for room through an epoll set holding it: uv_poll_init on s->fd itself would
 * make its description, shared with other processes, non-blocking. Fails (EPERM) for a file
 * that is always ready: a regular file, /dev/null. */
static int watch_shared(struct hs_log_sink *s)
{
	struct epoll_event ev = {.events = EPOLLOUT};
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -1;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) < 0 ||
	    uv_poll_init(s->loop, &s->poll, ep) < 0) {
		close(ep);
		return -1;
	}
	s->epoll_fd = ep;
	s->has_poll = true;
	return 0;
}

static void choose_output(struct hs_log_sink *s, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
		return; /* HS_LOG_OUT_WRITE */
	int own = S_ISFIFO(st.st_mode) || isatty(fd) ? reopen_nonblocking(fd) : -1;
	if (own >= 0 && uv_poll_init(s->loop, &s->poll, own) == 0) {
		s->fd = own;
		s->own_fd = s->has_poll = true;
		s->out = HS_LOG_OUT_OWN;
	} else {
		if (own >= 0)
			close(own);
		s->out = S_ISSOCK(st.st_mode) ? HS_LOG_OUT_SEND : HS_LOG_OUT_CHECK;
		if (watch_shared(s) < 0 && s->out == HS_LOG_OUT_CHECK)
			s->out = HS_LOG_OUT_WRITE;
	}
	/* What may be shared with another writer gets whole lines in writes of at most PIPE_BUF
	 * bytes, which a pipe keeps whole; a check with poll covers no more. */
	if (s->has_poll)
		s->max_write = PIPE_BUF;
}

void hs_log_sink_init(struct hs_log_sink *s, uv_loop_t *loop, int fd, bool color)
{
	*s = (struct hs_log_sink){.loop = loop,
	                          .fd = fd,
	                          .epoll_fd = -1,
	                          .max_write = SIZE_MAX,
	                          .color = color,
	                          .ts_sec = -1};
	choose_output(s, fd);
	uv_timer_init(loop, &s->retry);
	s->poll.data = s->retry.data = s;
}

static void update_reading(struct hs_log_sink *s);

static void on_writable(uv_poll_t *h, int status, int events);

static void on_retry(uv_timer_t *t);

/* Waits for room, or stops waiting. */
static void set_waiting(struct hs_log_sink *s, bool on)
{
	if (on == s->waiting)
		return;
	s->waiting = on;
	int events = s->out == HS_LOG_OUT_OWN ? UV_WRITABLE : UV_READABLE; /* the epoll set */
	if (s->has_poll && on)
		uv_poll_start(&s->poll, events, on_writable);
	else if (s->has_poll)
		uv_poll_stop(&s->poll);
	else if (on) /* never seen: regular files do not say "not now" */
		uv_timer_start(&s->retry, on_retry, RETRY_MS, RETRY_MS);
	else
		uv_timer_stop(&s->retry);
}

static ssize_t out_write(struct hs_log_sink *s, const char *p, size_t n)
{
	struct pollfd pfd = {.fd = s->fd, .events = POLLOUT};
	int ready;
	switch (s->out) {
	case HS_LOG_OUT_SEND:
		return send(s->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	case HS_LOG_OUT_CHECK:
		if ((ready = poll(&pfd, 1, 0)) <= 0) {
			if (ready == 0)
				errno = EAGAIN;
			return -1;
		}
		return write(s->fd, p, n); /* at most PIPE_BUF, and poll said there is room */
	default:
		return write(s->fd, p, n);
	}
}

/* The next write: everything to a file; elsewhere, at most max_write bytes, ending with a line
 * when one ends in them. */
static size_t next_piece(const struct hs_log_sink *s)
{
	size_t n = s->len - s->off;
	if (n <= s->max_write)
		return n;
	const char *nl = memrchr(s->buf + s->off, '\n', s->max_write);
	return nl ? (size_t)(nl - (s->buf + s->off)) + 1 : s->max_write;
}

/* Nobody reads our output any more, or the disk is full: drop what is queued and keep
 * supervising, and say so once (and again when writes work again). */
static void drop_queued(struct hs_log_sink *s, int err)
{
	if (!s->failing)
		hs_log_system("cannot write the dynos' output: %s; dropping it until writes work",
		              strerror(err));
	s->failing = true;
	s->dropped += s->len - s->off;
	s->off = s->len;
}

static void wrote(struct hs_log_sink *s, size_t n)
{
	s->off += n;
	if (s->failing)
		hs_log_system("writing the dynos' output again; %" PRIu64 " bytes were dropped",
		              s->dropped);
	s->failing = false;
	s->dropped = 0;
}

static void sink_flush(struct hs_log_sink *s)
{
	while (s->off < s->len) {
		ssize_t w = out_write(s, s->buf + s->off, next_piece(s));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			drop_queued(s, w < 0 ? errno : EIO);
			break;
		}
		wrote(s, (size_t)w);
	}
	if (s->off == s->len)
		s->off = s->len = 0;
	size_t pending = s->len - s->off;
	set_waiting(s, pending > 0);
	if (pending > HIGH_WATER && !s->out_full)
		s->out_full = true;
	else if (pending < LOW_WATER && s->out_full)
		s->out_full = false;
	update_reading(s);
}

static void on_writable(uv_poll_t *h, int status, int events)
{
	(void)status, (void)events;
	sink_flush(h->data);
}

static void on_retry(uv_timer_t *t)
{
	sink_flush(t->data);
}

/* Room for n more bytes at the end of the queue; the caller fills it. */
static char *sink_reserve(struct hs_log_sink *s, size_t n)
{
	if (s->off && s->len + n > s->cap) { /* reuse the room of what was written */
		memmove(s->buf, s->buf + s->off, s->len - s->off);
		s->len -= s->off;
		s->off = 0;
	}
	if (s->len + n > s->cap)
		xgrow((void **)&s->buf, &s->cap, s->len + n, 1);
	char *at = s->buf + s->len;
	s->len += n;
	return at;
}

static void refresh_prefix(struct hs_log_src *src)
{
	struct hs_log_sink *s = src->sink;
	int64_t sec = now_sec();
	if (sec == src->prefix_sec || src->raw)
		return;
	if (sec != s->ts_sec) {
		format_clock(sec, s->ts, sizeof(s->ts));
		s->ts_sec = sec;
	}
	const char *on = s->color ? palette[src->color % 6] : "",
	           *off = s->color ? COLOR_RESET : "";
	int n = snprintf(src->prefix, sizeof(src->prefix), "%s%s %-*s |%s ", on, s->ts, s->width,
	                 src->name, off);
	src->prefix_len = n < 0                              ? 0
	                  : (size_t)n >= sizeof(src->prefix) ? sizeof(src->prefix) - 1
	                                                     : (size_t)n;
	src->prefix_sec = sec;
}

static void emit_line(void *ctx, const char *line, size_t len)
{
	struct hs_log_src *src = ctx;
	struct hs_log_sink *s = src->sink;
	if (s->tap.line) {
		s->tap.line(s->tap.data, src->name, src->name_len, line, len, s->read_us);
		if (s->tap_only)
			return;
	}
	char *at = sink_reserve(src->sink, src->prefix_len + len + 1);
	memcpy(at, src->prefix, src->prefix_len);
	memcpy(at + src->prefix_len, line, len);
	at[src->prefix_len + len] = '\n';
	src->sink->lines++;
}

/* The tap learns when each line was read: once per read, not per line. */
static void stamp_read(struct hs_log_sink *s)
{
	struct timespec ts;
	if (!s->tap.line)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	s->read_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

enum read_result {
	READ_DATA,
	READ_AGAIN,
	READ_END
};

/* A read's size: the tap's room, when it has one. */
static size_t read_size(struct hs_log_src *src)
{
	struct hs_log_sink *s = src->sink;
	size_t n = READ_CHUNK;
	if (s->tap.room) {
		size_t room = s->tap.room(s->tap.data, src->name_len);
		n = room < MIN_TAP_READ ? MIN_TAP_READ : room < n ? room : n;
	}
	return n;
}

static enum read_result read_some(struct hs_log_src *src)
{
	static char chunk[READ_CHUNK];
	size_t n = read_size(src);
	ssize_t r;
	do
		r = read(src->fd, chunk, n);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EAGAIN)
		return READ_AGAIN;
	if (r <= 0)
		return READ_END;
	stamp_read(src->sink);
	refresh_prefix(src);
	hs_linebuf_feed(&src->lines, chunk, (size_t)r, emit_line, src);
	return READ_DATA;
}

static void src_eof(struct hs_log_src *src)
{
	stamp_read(src->sink);
	refresh_prefix(src);
	hs_linebuf_flush(&src->lines, emit_line, src);
	src->eof = true;
	uv_poll_stop(&src->poll);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct hs_log_src *src = h->data;
	(void)events;
	if (status < 0 || read_some(src) == READ_END)
		src_eof(src);
	sink_flush(src->sink);
}

/* The pipes are read unless the output or the tap has too much waiting. */
static void update_reading(struct hs_log_sink *s)
{
	bool on = !s->out_full && !s->held;
	if (on != s->paused)
		return;
	s->paused = !on;
	for (struct hs_log_src *src = s->sources; src; src = src->next)
		if (!src->eof) {
			if (on)
				uv_poll_start(&src->poll, UV_READABLE, on_readable);
			else
				uv_poll_stop(&src->poll);
		}
}

void hs_log_sink_tap(struct hs_log_sink *s, const struct hs_log_tap *tap, bool only)
{
	s->tap = tap ? *tap : (struct hs_log_tap){0};
	s->tap_only = tap && only;
	if (!tap && s->held) {
		s->held = false;
		update_reading(s);
	}
}

void hs_log_sink_hold(struct hs_log_sink *s, bool hold)
{
	if (hold == s->held)
		return;
	s->held = hold;
	update_reading(s);
}

struct hs_log_src *hs_log_src_open(struct hs_log_sink *s, const char *name, int color, int fd)
{
	struct hs_log_src *src = xcalloc(1, sizeof(*src));
	src->sink = s;
	src->name = xstrdup(name);
	src->name_len = strlen(name);
	src->color = color;
	src->fd = fd;
	src->prefix_sec = -1;
	int w = (int)strlen(name);
	if (w > s->width && w < 64)
		s->width = w;
	hs_linebuf_init(&src->lines, MAX_LINE);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	uv_poll_init(s->loop, &src->poll, fd);
	src->poll.data = src;
	src->next = s->sources;
	if (s->sources)
		s->sources->prev = src;
	s->sources = src;
	if (!s->paused)
		uv_poll_start(&src->poll, UV_READABLE, on_readable);
	return src;
}

struct hs_log_src *hs_log_src_open_raw(struct hs_log_sink *s, const char *name, int fd)
{
	struct hs_log_src *src = hs_log_src_open(s, name, 0, fd);
	src->raw = true;
	src->prefix_len = 0;
	return src;
}

static void on_src_closed(uv_handle_t *h)
{
	struct hs_log_src *src = h->data;
	close(src->fd);
	hs_linebuf_free(&src->lines);
	free(src->name);
	free(src);
}

void hs_log_src_finish(struct hs_log_src *src)
{
	struct hs_log_sink *s = src->sink;
	if (!src->eof) {
		while (read_some(src) == READ_DATA) {
		}
		src_eof(src);
	}
	if (src->prev)
		src->prev->next = src->next;
	else
		s->sources = src->next;
	if (src->next)
		src->next->prev = src->prev;
	uv_close((uv_handle_t *)&src->poll, on_src_closed);
	sink_flush(s);
}

static struct hs_log_sink *system_sink;
static pthread_t system_thread;
static uint64_t system_dropped;

void hs_log_system_attach(struct hs_log_sink *s)
{
	system_sink = s;
	system_thread = pthread_self();
}

void hs_log_sink_close(struct hs_log_sink *s)
{
	if (system_sink == s)
		system_sink = NULL;
	while (s->off < s->len) {
		struct pollfd p = {.fd = s->fd, .events = POLLOUT};
		size_t before = s->off;
		sink_flush(s);
		if (s->off == before && s->len && poll(&p, 1, 1000) <= 0)
			break;
	}
	if (s->len > s->off)
		hs_log_system("exiting with %zu bytes of the dynos' output not taken by its reader",
		              s->len - s->off);
	if (s->has_poll)
		uv_close((uv_handle_t *)&s->poll, NULL);
	uv_close((uv_handle_t *)&s->retry, NULL);
	if (s->own_fd)
		close(s->fd);
	if (s->epoll_fd >= 0)
		close(s->epoll_fd);
	free(s->buf);
	s->buf = NULL;
}

static bool system_quiet;

void hs_log_system_init(bool color, bool quiet)
{
	system_color = color;
	system_quiet = quiet;
}

/* Queues a line on the attached sink, unless a stalled reader has let too much pile up. */
static void system_queue(struct hs_log_sink *s, const char *line, size_t n)
{
	if (s->len - s->off + n > SYSTEM_QUEUE_MAX) {
		system_dropped++;
		return;
	}
	if (system_dropped) {
		char note[96];
		int k = snprintf(note, sizeof(note),
		                 "(%llu messages of hsup's dropped: stderr was "
		                 "not being read)\n",
		                 (unsigned long long)system_dropped);
		memcpy(sink_reserve(s, (size_t)k), note, (size_t)k);
		system_dropped = 0;
	}
	memcpy(sink_reserve(s, n), line, n);
	sink_flush(s);
}

static void system_line(const char *fmt, va_list ap)
{
	char ts[16], msg[2048], line[2200];
	format_clock(now_sec(), ts, sizeof(ts));
	vsnprintf(msg, sizeof(msg), fmt, ap);
	int n = snprintf(line, sizeof(line), "%s%s hsup |%s %s\n", system_color ? "\033[1m" : "",
	                 ts, system_color ? COLOR_RESET : "", msg);
	if (n >= (int)sizeof(line))
		n = (int)sizeof(line) - 1;
	/* on the loop, through a sink that never waits; elsewhere (a worker thread, before the
	 * loop or after it) straight to stderr */
	if (system_sink && pthread_equal(pthread_self(), system_thread))
		system_queue(system_sink, line, (size_t)n);
	else
		fputs(line, stderr);
}

void hs_log_system(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	system_line(fmt, ap);
	va_end(ap);
}

void hs_log_info(const char *fmt, ...)
{
	va_list ap;
	if (system_quiet)
		return;
	va_start(ap, fmt);
	system_line(fmt, ap);
	va_end(ap);
}
