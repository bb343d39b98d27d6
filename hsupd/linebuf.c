#include "hsupd/linebuf.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

void hs_linebuf_init(struct hs_linebuf *lb, size_t max)
{
	*lb = (struct hs_linebuf){.max = max};
}

static void hold(struct hs_linebuf *lb, const char *data, size_t n)
{
	xgrow((void **)&lb->buf, &lb->cap, lb->len + n, 1);
	memcpy(lb->buf + lb->len, data, n);
	lb->len += n;
}

/* Emits whole pieces of max bytes from the held partial line. */
static void spill(struct hs_linebuf *lb, hs_line_fn fn, void *ctx)
{
	size_t off = 0;
	while (lb->len - off >= lb->max) {
		fn(ctx, lb->buf + off, lb->max);
		off += lb->max;
		lb->spilled = true;
	}
	memmove(lb->buf, lb->buf + off, lb->len - off);
	lb->len -= off;
}

static void end_line(struct hs_linebuf *lb, hs_line_fn fn, void *ctx)
{
	/* A line that ended exactly on a piece boundary has nothing left to say. */
	if (lb->len > 0 || !lb->spilled)
		fn(ctx, lb->buf, lb->len);
	lb->len = 0;
	lb->spilled = false;
}

void hs_linebuf_feed(struct hs_linebuf *lb, const char *data, size_t n, hs_line_fn fn, void *ctx)
{
	while (n > 0) {
		const char *nl = memchr(data, '\n', n);
		size_t seg = nl ? (size_t)(nl - data) : n;
		if (nl && lb->len == 0 && !lb->spilled && seg <= lb->max) {
			fn(ctx, data, seg); /* the common case: a whole line, no copy */
		} else {
			hold(lb, data, seg);
			spill(lb, fn, ctx);
			if (nl)
				end_line(lb, fn, ctx);
		}
		if (!nl)
			break;
		data += seg + 1;
		n -= seg + 1;
	}
}

void hs_linebuf_flush(struct hs_linebuf *lb, hs_line_fn fn, void *ctx)
{
	if (lb->len > 0)
		fn(ctx, lb->buf, lb->len);
	lb->len = 0;
	lb->spilled = false;
}

void hs_linebuf_free(struct hs_linebuf *lb)
{
	free(lb->buf);
	*lb = (struct hs_linebuf){.max = lb->max};
}
