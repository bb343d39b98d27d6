#define _GNU_SOURCE
#include "common/proc.h"
#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cm_proc_stat(pid_t pid, unsigned long long *start_time, char *state)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		errno = errno == ENOENT ? ESRCH : errno;
		return -1;
	}
	ssize_t n;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return errno = ESRCH, -1;
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: fields start after the last ')' */
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return errno = EIO, -1;
	p += 2;
	*state = *p;
	/* field 3 is the state; start time is field 22 */
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return errno = EIO, -1;
		p++;
	}
	*start_time = strtoull(p, NULL, 10);
	return 0;
}

int cm_proc_alive(pid_t pid, unsigned long long start_time)
{
	unsigned long long st;
	char state;
	if (pid <= 0 || cm_proc_stat(pid, &st, &state) < 0)
		return 0;
	return st == start_time && state != 'Z' && state != 'X';
}
