/* The terminal of a one-off container dyno (hsup run on a terminal). The container gets a pty
 * of its own, never the user's terminal: a process in it holding the user's terminal could
 * push input into the user's shell (TIOCSTI) or change its settings. hsup relays between the
 * two on its loop: the user's terminal in raw mode (the container's pty does the line
 * discipline, so ^C reaches the dyno's foreground group, not hsup), keystrokes to the pty, its
 * output to the user, the window size on every SIGWINCH, and a hangup of the user's terminal
 * as SIGHUP to the dyno. */
#ifndef HS_LCTERM_H
#define HS_LCTERM_H

#include <uv.h>

#include "common/err.h"

struct lcd_term;

/* Relays between the terminal on in/out and the pty master (taken; closed by lcd_term_end).
 * Reading the terminal goes through a description of its own, so the user's shell never finds
 * its terminal non-blocking. When the user's terminal hangs up, on_hangup(data) is called once:
 * the dyno should get SIGHUP, as a program on a terminal that hangs up does. */
int lcd_term_start(uv_loop_t *loop, int in, int out, int master, void (*on_hangup)(void *data),
                   void *data, struct lcd_term **t, cm_err *err);
/* The dyno is gone: what is left in the pty goes out, the terminal gets its settings back, and
 * the relay frees itself once its handles are closed. */
void lcd_term_end(struct lcd_term *t);

#endif
