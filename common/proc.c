#define _GNU_SOURCE
#include "common/proc.h"
#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The fields after comm, whose end is the last ')': comm may hold spaces and parentheses. */
static char *stat_fields(pid_t pid, char *buf, size_t size)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		errno = errno == ENOENT ? ESRCH : errno;
		return NULL;
	}
	ssize_t n;
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return errno = ESRCH, NULL;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p || p[1] != ' ')
		return errno = EIO, NULL;
	return p + 2;
}

int cm_proc_info(pid_t pid, struct cm_proc_info *info)
{
	char buf[1024];
	char *p = stat_fields(pid, buf, sizeof(buf));
	if (!p)
		return -1;
	/* field 3 is the state, 4 the parent, 5 the process group, 22 the start time */
	unsigned long long v[20];
	info->state = *p;
	for (int field = 4; field <= 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return errno = EIO, -1;
		v[field - 4] = strtoull(++p, NULL, 10);
	}
	info->ppid = (pid_t)v[0];
	info->pgrp = (pid_t)v[1];
	info->start_time = v[22 - 4];
	return 0;
}

int cm_proc_stat(pid_t pid, unsigned long long *start_time, char *state)
{
	struct cm_proc_info info;
	if (cm_proc_info(pid, &info) < 0)
		return -1;
	*start_time = info.start_time;
	*state = info.state;
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
