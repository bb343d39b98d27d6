#define _GNU_SOURCE
#include "common/children.h"
#include "common/cleanup.h"
#include "common/proc.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t *watched;
static size_t n_watched, cap_watched;

void cm_children_lock(void)
{
	pthread_mutex_lock(&lock);
}

void cm_children_unlock(void)
{
	pthread_mutex_unlock(&lock);
}

void cm_children_add(pid_t pid)
{
	xgrow((void **)&watched, &cap_watched, n_watched + 1, sizeof(*watched));
	watched[n_watched++] = pid;
}

static ssize_t find(pid_t pid)
{
	for (size_t i = 0; i < n_watched; i++)
		if (watched[i] == pid)
			return (ssize_t)i;
	return -1;
}

void cm_children_forget(pid_t pid)
{
	pthread_mutex_lock(&lock);
	ssize_t i = find(pid);
	if (i >= 0)
		watched[i] = watched[--n_watched];
	if (n_watched == 0) { /* nothing watched: give the memory back (and leak checkers peace) */
		free(watched);
		watched = NULL;
		cap_watched = 0;
	}
	pthread_mutex_unlock(&lock);
}

bool cm_children_watched(pid_t pid)
{
	pthread_mutex_lock(&lock);
	bool r = find(pid) >= 0;
	pthread_mutex_unlock(&lock);
	return r;
}

bool cm_children_inherits_orphans(void)
{
	int sub = 0;
	return getpid() == 1 || (prctl(PR_GET_CHILD_SUBREAPER, &sub, 0, 0, 0) == 0 && sub);
}

/* Reaps pid if it is a zombie nobody watches: 1 if reaped. */
static int reap_one(pid_t pid)
{
	if (find(pid) >= 0)
		return 0;
	siginfo_t si = {0};
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG) < 0)
		return 0;
	return si.si_pid == pid;
}

/* The children of one of our threads, from /proc/self/task/TID/children; -1 if the kernel
 * has no such file. */
static int reap_children_of(const char *tid)
{
	char path[96];
	snprintf(path, sizeof(path), "/proc/self/task/%s/children", tid);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	int n = 0;
	long pid;
	while (fscanf(f, "%ld", &pid) == 1)
		n += reap_one((pid_t)pid);
	return n;
}

static bool numeric(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

/* Without CONFIG_PROC_CHILDREN: every process whose parent we are. */
static int reap_by_scanning_proc(void)
{
	_cleanup_closedir_ DIR *d = opendir("/proc");
	int n = 0;
	struct dirent *e;
	pid_t self = getpid();
	while (d && (e = readdir(d))) {
		struct cm_proc_info info;
		if (numeric(e->d_name) && cm_proc_info((pid_t)atoi(e->d_name), &info) == 0 &&
		    info.ppid == self && info.state == 'Z')
			n += reap_one((pid_t)atoi(e->d_name));
	}
	return n;
}

int cm_children_reap_orphans(void)
{
	_cleanup_closedir_ DIR *d = opendir("/proc/self/task");
	if (!d)
		return 0;
	int n = 0, r = 0;
	struct dirent *e;
	pthread_mutex_lock(&lock);
	while (r >= 0 && (e = readdir(d)))
		if (e->d_name[0] != '.')
			n += (r = reap_children_of(e->d_name)) > 0 ? r : 0;
	if (r < 0)
		n = reap_by_scanning_proc();
	pthread_mutex_unlock(&lock);
	return n;
}
