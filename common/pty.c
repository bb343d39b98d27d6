#define _GNU_SOURCE
#include "common/pty.h"
#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

int cm_pty_open(int *master_out, int *slave_out, unsigned short rows, unsigned short cols,
                cm_err *err)
{
	_cleanup_close_ int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return cm_err_sys(err, "open /dev/ptmx");
	char name[128];
	if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)))
		return cm_err_sys(err, "unlock the pty");
	struct winsize ws = {.ws_row = rows, .ws_col = cols};
	if (rows && cols && ioctl(master, TIOCSWINSZ, &ws) < 0)
		return cm_err_sys(err, "set the pty's window size");
	int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return cm_err_sys(err, "open %s", name);
	*master_out = cm_steal_fd(master);
	*slave_out = slave;
	return 0;
}

int cm_tty_raw(int fd, struct termios *saved)
{
	struct termios t;
	if (tcgetattr(fd, saved) < 0)
		return -1;
	t = *saved;
	cfmakeraw(&t);
	return tcsetattr(fd, TCSANOW, &t);
}

void cm_tty_size(int fd, unsigned short *rows, unsigned short *cols)
{
	struct winsize ws = {0};
	if (ioctl(fd, TIOCGWINSZ, &ws) < 0)
		ws.ws_row = ws.ws_col = 0;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
}

void cm_tty_copy_size(int from, int to)
{
	struct winsize ws;
	if (ioctl(from, TIOCGWINSZ, &ws) == 0)
		ioctl(to, TIOCSWINSZ, &ws);
}
