/* Pseudo-terminals: a new pair, and a terminal in raw mode while a program relays it. */
#ifndef CM_PTY_H
#define CM_PTY_H

#include <termios.h>

#include "common/err.h"

/* Opens a new pty pair, both ends O_CLOEXEC; the slave is not made anyone's controlling tty. */
int cm_pty_open(int *master, int *slave, cm_err *err);
/* Puts fd in raw mode, saving the old settings in *saved. */
int cm_tty_raw(int fd, struct termios *saved);
/* Copies the window size of from onto to. */
void cm_tty_copy_size(int from, int to);

#endif
