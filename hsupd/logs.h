/* Dyno output: each dyno's pipe is read on the loop, split into lines and written to hsup's
 * stdout as "HH:MM:SS web.1 | line" (coloured per dyno on a terminal). The sink never blocks
 * the loop on a slow reader, whatever stdout is (file, pipe, FIFO, terminal, socket, shared
 * with other processes or not, blocking or not): output queues, and past a high-water mark the
 * dyno pipes stop being read until it drains, so dynos slow down instead of hsup growing
 * without bound. */
#ifndef HS_LOGS_H
#define HS_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "hsupd/linebuf.h"

struct hs_log_src;

/* Something else that takes every dyno line as it is read (the logplex forwarder): the dyno's
 * name, the line without its newline, and when hsup read it (µs since the epoch). */
struct hs_log_tap {
	void (*line)(void *data, const char *dyno, size_t dyno_len, const char *line, size_t len,
	             int64_t read_us);
	/* How many bytes of a dyno's output it can take now without dropping any: a read takes
	 * no more (but at least 512 bytes). NULL: any. */
	size_t (*room)(void *data, size_t dyno_len);
	void *data;
};

/* How the sink writes without waiting (see logs.c). */
enum hs_log_out {
	HS_LOG_OUT_WRITE, /* a file, /dev/null: writes never wait */
	HS_LOG_OUT_OWN,   /* a pipe or terminal reopened as our own non-blocking description */
	HS_LOG_OUT_SEND,  /* a socket: send(MSG_DONTWAIT), whatever the shared description says */
	HS_LOG_OUT_CHECK, /* anything else: at most PIPE_BUF bytes, once poll says they fit */
};

struct hs_log_sink {
	uv_loop_t *loop;
	int fd; /* what is written to */
	enum hs_log_out out;
	bool own_fd;      /* fd was reopened non-blocking and is ours to close */
	int epoll_fd;     /* an epoll set holding fd: it says when fd has room, or -1 */
	size_t max_write; /* bytes per write */
	bool color;
	char *buf;
	size_t len, off, cap;
	uv_poll_t poll;   /* on our own fd, or on epoll_fd */
	uv_timer_t retry; /* for a file that cannot be polled and yet said "not now" */
	bool has_poll, waiting, failing;
	bool paused;   /* the dyno pipes are not being read... */
	bool out_full; /* ...because the output has too much queued... */
	bool held;     /* ...or because the tap asked */
	struct hs_log_tap tap;
	bool tap_only;    /* lines go to the tap alone, not to fd */
	int64_t read_us;  /* when the chunk being split was read */
	uint64_t dropped; /* bytes lost to write errors since the last report */
	struct hs_log_src *sources;
	int width;      /* width of the dyno-name column */
	int64_t ts_sec; /* second the cached timestamp is for */
	char ts[16];
	uint64_t lines;
};

struct hs_log_src {
	struct hs_log_sink *sink;
	struct hs_log_src *next, *prev;
	char *name;
	size_t name_len;
	int color;
	int fd;
	bool eof;
	uv_poll_t poll;
	struct hs_linebuf lines;
	char prefix[192];
	size_t prefix_len;
	int64_t prefix_sec;
	bool raw;
};

/* fd is hsup's output (normally 1); color selects ANSI colours. */
void hs_log_sink_init(struct hs_log_sink *s, uv_loop_t *loop, int fd, bool color);
/* Writes out what is queued, waiting as long as the reader keeps taking it (giving up after
 * 1 s without progress, and saying how much was left), and releases the sink's handles. */
void hs_log_sink_close(struct hs_log_sink *s);

/* From now on every line also goes to tap (NULL: no longer); with only, it goes to the tap
 * alone. */
void hs_log_sink_tap(struct hs_log_sink *s, const struct hs_log_tap *tap, bool only);
/* The tap's back-pressure: while held, the dyno pipes are not read (dynos writing to a full
 * pipe wait), as when the output has too much queued. */
void hs_log_sink_hold(struct hs_log_sink *s, bool hold);

/* Starts reading fd (the read end of a dyno's output pipe; taken over). */
struct hs_log_src *hs_log_src_open(struct hs_log_sink *s, const char *name, int color, int fd);
/* The same for output passed on as it was written: no prefix, no colour. */
struct hs_log_src *hs_log_src_open_raw(struct hs_log_sink *s, const char *name, int fd);
/* Reads what is left in the pipe, passes on a last line without a newline, and frees the
 * source. Call once, when every process of the dyno is gone. */
void hs_log_src_finish(struct hs_log_src *src);

/* A message of hsup's own on stderr, in the same format, as "hsup". hs_log_info() is for
 * routine events and is silent when quiet (hsup run); hs_log_system() always speaks. */
void hs_log_system(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hs_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hs_log_system_init(bool color, bool quiet);
/* From now on, hsup's own messages on the loop's thread go through s (a sink on stderr), so a
 * stalled stderr never stalls the loop; NULL goes back to writing stderr directly. */
void hs_log_system_attach(struct hs_log_sink *s);

#endif
