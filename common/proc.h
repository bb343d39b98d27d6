/* Reading /proc/PID/stat: a process's state and start time, so a pid recorded earlier can be
 * told from a new process that reused it. */
#ifndef CM_PROC_H
#define CM_PROC_H

#include <sys/types.h>

struct cm_proc_info {
	char state; /* R, S, D, Z, ... */
	pid_t ppid, pgrp;
	unsigned long long start_time; /* clock ticks since boot */
};

/* Reads /proc/PID/stat. Returns -1 with errno ESRCH when the process does not exist. */
int cm_proc_info(pid_t pid, struct cm_proc_info *info);
/* Fills the start time (clock ticks since boot) and the state letter (R, S, Z, ...).
 * Returns -1 with errno ESRCH when the process does not exist. */
int cm_proc_stat(pid_t pid, unsigned long long *start_time, char *state);
/* 1 if pid is alive (not a zombie) and started at start_time, else 0. */
int cm_proc_alive(pid_t pid, unsigned long long start_time);

#endif
