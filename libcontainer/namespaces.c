#define _GNU_SOURCE
#include "libcontainer/namespaces.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

const char *lc_ns_proc_name(int type)
{
	switch (type) {
	case CLONE_NEWNS:
		return "mnt";
	case CLONE_NEWUTS:
		return "uts";
	case CLONE_NEWIPC:
		return "ipc";
	case CLONE_NEWPID:
		return "pid";
	case CLONE_NEWNET:
		return "net";
	case CLONE_NEWUSER:
		return "user";
	case CLONE_NEWCGROUP:
		return "cgroup";
	}
	return "?";
}

static char *format_map(const struct lc_idmap *m, size_t n)
{
	char *s = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		char *t = xasprintf("%s%u %u %u\n", s, m[i].container_id, m[i].host_id, m[i].size);
		free(s);
		s = t;
	}
	return s;
}

static int write_map(pid_t pid, const char *file, const struct lc_idmap *m, size_t n, cm_err *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	_cleanup_free_ char *text = format_map(m, n);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || cm_write_all(fd, text, strlen(text)) < 0)
		return cm_err_sys(err, "write %s", path);
	return 0;
}

int lc_write_idmaps(pid_t pid, const struct lc_idmap *uid, size_t n_uid, const struct lc_idmap *gid,
                    size_t n_gid, cm_err *err)
{
	if (write_map(pid, "uid_map", uid, n_uid, err) < 0 ||
	    write_map(pid, "gid_map", gid, n_gid, err) < 0)
		return -1;
	return 0;
}

int lc_userns_for_mapping(const struct lc_idmap *uid, size_t n_uid, const struct lc_idmap *gid,
                          size_t n_gid, int *out, cm_err *err)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int pidfd = -1;
	pid_t parent = getpid();
	struct clone_args args = {.flags = CLONE_NEWUSER | CLONE_PIDFD,
	                          .pidfd = (uint64_t)(uintptr_t)&pidfd,
	                          .exit_signal = SIGCHLD};
	long pid = lc_clone(&args);
	if (pid == 0) {
		/* only a holder of the namespace until killed; and if the parent is killed first
		 * (nobody else knows of this process), with it */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(1);
		for (;;)
			pause();
	}
	int saved = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return cm_err_errno(err, saved, "clone a user namespace for an idmapped mount");
	_cleanup_close_ int pfd = pidfd;
	int r = lc_write_idmaps((pid_t)pid, uid, n_uid, gid, n_gid, err);
	if (r == 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%ld/ns/user", pid);
		*out = open(path, O_RDONLY | O_CLOEXEC);
		if (*out < 0)
			r = cm_err_sys(err, "open %s", path);
	}
	syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
	siginfo_t si;
	while (waitid((idtype_t)P_PIDFD, (id_t)pfd, &si, WEXITED) < 0 && errno == EINTR)
		;
	return r;
}

long lc_clone(struct clone_args *args)
{
	long pid = syscall(SYS_clone3, args, sizeof(*args));
	if (pid >= 0 || errno != ENOSYS)
		return pid;
	/* kernels before 5.3 and valgrind: clone(2) takes the same flags (all below 2^32 here)
	 * and returns the pidfd through the parent tid pointer */
	return syscall(SYS_clone, (unsigned long)args->flags | (unsigned long)args->exit_signal,
	               NULL, (void *)(uintptr_t)args->pidfd, NULL, 0UL);
}

int lc_ns_open(const char *path, int type, int *out, cm_err *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cm_err_sys(err, "open namespace %s", path);
	int actual = ioctl(fd, NS_GET_NSTYPE);
	if (actual >= 0 && actual != type)
		return cm_err_set(err, EINVAL, "%s is a %s namespace, not %s", path,
		                  lc_ns_proc_name(actual), lc_ns_proc_name(type));
	*out = cm_steal_fd(fd);
	return 0;
}
