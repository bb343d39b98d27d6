/* Splits a byte stream into lines. A line that does not fit in max bytes is passed on in
 * pieces of max bytes; a last line without a newline is passed on by hs_linebuf_flush(). */
#ifndef HS_LINEBUF_H
#define HS_LINEBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef void (*hs_line_fn)(void *ctx, const char *line, size_t len);

struct hs_linebuf {
	char *buf;
	size_t len, cap, max;
	bool spilled; /* part of the current line was already passed on */
};

void hs_linebuf_init(struct hs_linebuf *lb, size_t max);
void hs_linebuf_feed(struct hs_linebuf *lb, const char *data, size_t n, hs_line_fn fn, void *ctx);
void hs_linebuf_flush(struct hs_linebuf *lb, hs_line_fn fn, void *ctx);
void hs_linebuf_free(struct hs_linebuf *lb);

#endif
