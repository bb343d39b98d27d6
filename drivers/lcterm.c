#define _GNU_SOURCE
#include "drivers/lcterm.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/pty.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <termios.h>
#include <unistd.h>

#define KEYS_MAX   4096  /* keystrokes read from the terminal, not yet taken by the pty */
#define OUTPUT_MAX 16384 /* one read of the dyno's output */

struct lcd_term {
	uv_poll_t in_poll, master_poll;
	uv_signal_t winch;
	int in, out, master; /* in: a description of the terminal of our own; out: the user's */
	struct termios saved;
	bool raw, in_eof, master_eof;
	char keys[KEYS_MAX];
	size_t keys_len, keys_off;
	int open_handles;
	void (*on_hangup)(void *data);
	void *data;
};

static void on_in(uv_poll_t *h, int status, int events);
static void on_master(uv_poll_t *h, int status, int events);

/* Reading the terminal while the pty's buffer is full would lose keystrokes: reading waits
 * until the pty has taken what was read before. */
static void arm(struct lcd_term *t)
{
	bool waiting = t->keys_off < t->keys_len;
	if (!t->in_eof && !waiting)
		uv_poll_start(&t->in_poll, UV_READABLE, on_in);
	else
		uv_poll_stop(&t->in_poll);
	int ev = (t->master_eof ? 0 : UV_READABLE) | (waiting ? UV_WRITABLE : 0);
	if (ev)
		uv_poll_start(&t->master_poll, ev, on_master);
	else
		uv_poll_stop(&t->master_poll);
}

static void push_keys(struct lcd_term *t)
{
	while (t->keys_off < t->keys_len) {
		ssize_t n = write(t->master, t->keys + t->keys_off, t->keys_len - t->keys_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) { /* the pty is gone: the keystrokes have nobody to go to */
			t->keys_off = t->keys_len;
			break;
		}
		t->keys_off += (size_t)n;
	}
	t->keys_off = t->keys_len = 0;
}

static void on_in(uv_poll_t *h, int status, int events)
{
	struct lcd_term *t = h->data;
	(void)events;
	ssize_t n = -1; /* a failed poll is a hangup, whatever errno holds from before */
	if (status == 0) {
		n = read(t->in, t->keys, sizeof(t->keys));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			return;
	}
	if (n <= 0) { /* the user's terminal hung up: the dyno is told, as on a terminal */
		t->in_eof = true;
		if (t->on_hangup)
			t->on_hangup(t->data);
	} else
		t->keys_len = (size_t)n, t->keys_off = 0;
	push_keys(t);
	arm(t);
}

/* Copies what the pty has to the user; false once it has no more (EIO: every holder of its
 * other side is gone). The user's terminal is written blocking, as any program writes it. */
static bool copy_output(struct lcd_term *t)
{
	char buf[OUTPUT_MAX];
	ssize_t n = read(t->master, buf, sizeof(buf));
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0) {
		if (n == 0 || errno != EAGAIN)
			t->master_eof = true;
		return false;
	}
	(void)cm_write_all(t->out, buf, (size_t)n);
	return true;
}

static void on_master(uv_poll_t *h, int status, int events)
{
	struct lcd_term *t = h->data;
	if (status < 0)
		t->master_eof = true;
	else if (events & UV_READABLE)
		copy_output(t);
	if (events & UV_WRITABLE)
		push_keys(t);
	arm(t);
}

static void on_winch(uv_signal_t *h, int sig)
{
	struct lcd_term *t = h->data;
	(void)sig;
	cm_tty_copy_size(t->in, t->master);
}

static void on_closed(uv_handle_t *h)
{
	struct lcd_term *t = h->data;
	if (--t->open_handles > 0)
		return;
	close(t->in);
	close(t->master);
	free(t);
}

static void add_handle(struct lcd_term *t, uv_handle_t *h)
{
	h->data = t;
	t->open_handles++;
}

int lcd_term_start(uv_loop_t *loop, int in, int out, int master, void (*on_hangup)(void *data),
                   void *data, struct lcd_term **out_term, cm_err *err)
{
	_cleanup_close_ int m = master;
	/* a new open of the terminal: O_NONBLOCK, which the poll sets, stays on our description */
	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", in);
	_cleanup_close_ int own = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (own < 0)
		return cm_err_sys(err, "reopen the terminal on fd %d", in);
	if (fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK) < 0)
		return cm_err_sys(err, "make the pty non-blocking");
	struct lcd_term *t = xcalloc(1, sizeof(*t));
	t->out = out;
	t->on_hangup = on_hangup;
	t->data = data;
	int r = uv_poll_init(loop, &t->in_poll, own);
	if (r == 0 && (r = uv_poll_init(loop, &t->master_poll, m)) < 0)
		uv_close((uv_handle_t *)&t->in_poll, NULL);
	if (r < 0) {
		free(t);
		return cm_err_errno(err, -r, "watch the terminal");
	}
	t->in = cm_steal_fd(own);
	t->master = cm_steal_fd(m);
	add_handle(t, (uv_handle_t *)&t->in_poll);
	add_handle(t, (uv_handle_t *)&t->master_poll);
	uv_signal_init(loop, &t->winch);
	add_handle(t, (uv_handle_t *)&t->winch);
	uv_signal_start(&t->winch, on_winch, SIGWINCH);
	cm_tty_copy_size(t->in, t->master);
	t->raw = cm_tty_raw(t->in, &t->saved) == 0;
	arm(t);
	*out_term = t;
	return 0;
}

void lcd_term_end(struct lcd_term *t)
{
	if (!t)
		return;
	/* the dyno is dead, its last words are in the pty's buffer */
	while (!t->master_eof && copy_output(t))
		;
	if (t->raw)
		tcsetattr(t->in, TCSADRAIN, &t->saved);
	uv_close((uv_handle_t *)&t->in_poll, on_closed);
	uv_close((uv_handle_t *)&t->master_poll, on_closed);
	uv_close((uv_handle_t *)&t->winch, on_closed);
}
