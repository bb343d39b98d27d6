/* Pseudo-terminals: a new pair, and a terminal in raw mode while a program relays it. */
#ifndef CM_PTY_H
#define CM_PTY_H

#include <termios.h>

#include "common/err.h"

/* Opens a new pty pair, both ends O_CLOEXEC; the slave is not made anyone's controlling tty.
 * Its window is rows x cols when both are given (a program started on it sees its size at
 * once), else the kernel's 0 x 0. */
int cm_pty_open(int *master, int *slave, unsigned short rows, unsigned short cols, cm_err *err);
/* Puts fd in raw mode, saving the old settings in *saved. */
int cm_tty_raw(int fd, struct termios *saved);
/* The window of the terminal on fd; 0 x 0 when fd is not a terminal. */
void cm_tty_size(int fd, unsigned short *rows, unsigned short *cols);
/* Copies the window size of from onto to. */
void cm_tty_copy_size(int from, int to);

#endif
