#define _GNU_SOURCE
#include "common/spawn.h"
#include "common/children.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* What the child reports when a step fails: which step, and errno. */
enum child_step {
	STEP_SIGNALS,
	STEP_PGROUP,
	STEP_TTY,
	STEP_STDIO,
	STEP_CWD,
	STEP_RLIMIT,
	STEP_CGROUP,
	STEP_EXEC
};
static const char *const step_names[] = {
    [STEP_SIGNALS] = "reset signals",
    [STEP_PGROUP] = "setpgid",
    [STEP_TTY] = "take the terminal",
    [STEP_STDIO] = "set up stdio",
    [STEP_CWD] = "chdir",
    [STEP_RLIMIT] = "set RLIMIT_NOFILE",
    [STEP_CGROUP] = "join its cgroup",
    [STEP_EXEC] = "exec",
};

struct child_report {
	int step;
	int errnum;
};

static __attribute__((noreturn)) void child_fail(int pipefd, int step)
{
	struct child_report r = {step, errno};
	ssize_t ignored = write(pipefd, &r, sizeof(r));
	(void)ignored;
	_exit(127);
}

int cm_child_reset_signals(void)
{
	struct sigaction sa = {.sa_handler = SIG_DFL};
	sigset_t none;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL); /* fails harmlessly for reserved signals */
	sigemptyset(&none);
	return sigprocmask(SIG_SETMASK, &none, NULL);
}

int cm_child_stdio(const int stdio[3])
{
	int src[3];
	for (int i = 0; i < 3; i++) {
		src[i] = stdio[i];
		if (src[i] >= 0 && src[i] < 3 && src[i] != i) {
			src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3);
			if (src[i] < 0)
				return -1;
		}
	}
	for (int i = 0; i < 3; i++) {
		if (src[i] < 0)
			continue;
		if (src[i] == i ? fcntl(i, F_SETFD, 0) < 0 : dup2(src[i], i) < 0)
			return -1;
	}
	return 0;
}

static __attribute__((noreturn)) void child_run(const struct cm_spawn_opts *o, int pipefd,
                                                bool in_cgroup)
{
	pid_t self = (pid_t)syscall(SYS_getpid);
	if (o->new_pgroup && setpgid(0, 0) < 0)
		child_fail(pipefd, STEP_PGROUP);
	/* SIGTTOU is still blocked here, so a background group may take the terminal. */
	if (o->foreground_tty >= 0 && ioctl(o->foreground_tty, TIOCSPGRP, &self) < 0)
		child_fail(pipefd, STEP_TTY);
	if (cm_child_reset_signals() < 0)
		child_fail(pipefd, STEP_SIGNALS);
	if (cm_child_stdio(o->stdio) < 0)
		child_fail(pipefd, STEP_STDIO);
	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	if (o->cwd && chdir(o->cwd) < 0)
		child_fail(pipefd, STEP_CWD);
	if (o->nofile && setrlimit(RLIMIT_NOFILE, o->nofile) < 0)
		child_fail(pipefd, STEP_RLIMIT);
	/* "0" is the writer itself */
	if (o->cgroup && !in_cgroup && write(o->cgroup->procs_fd, "0", 1) != 1)
		child_fail(pipefd, STEP_CGROUP);
	execve(o->path, o->argv, o->envp);
	child_fail(pipefd, STEP_EXEC);
}

static int wait_exec_report(int readfd, pid_t pid, int pidfd, const struct cm_spawn_opts *o,
                            cm_err *err)
{
	struct child_report r;
	ssize_t n;
	do
		n = read(readfd, &r, sizeof(r));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0; /* the pipe closed on exec */
	struct cm_exit ignored;
	while (cm_pidfd_reap(pidfd, &ignored, err) == 0)
		usleep(100);
	(void)pid;
	if (n != sizeof(r))
		return cm_err_set(err, EIO, "start %s: lost the child's report", o->path);
	const char *step = r.step >= 0 && r.step <= STEP_EXEC ? step_names[r.step] : "?";
	if (r.step == STEP_EXEC)
		return cm_err_errno(err, r.errnum, "exec %s", o->path);
	if (r.step == STEP_CWD)
		return cm_err_errno(err, r.errnum, "start %s: chdir %s", o->path, o->cwd);
	if (r.step == STEP_CGROUP && r.errnum == EBUSY)
		return cm_err_errno(err, r.errnum, "start %s: %s (it has controllers enabled)",
		                    o->path, step);
	return cm_err_errno(err, r.errnum, "start %s: %s", o->path, step);
}

/* Without a pidfd the child cannot be watched: stop it before it runs anything. */
static int abandon_child(int pipefd[2], pid_t pid, const sigset_t *old,
                         const struct cm_spawn_opts *o, cm_err *err)
{
	int saved = errno;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
	}
	cm_children_forget(pid);
	pthread_sigmask(SIG_SETMASK, old, NULL);
	close(pipefd[0]);
	close(pipefd[1]);
	return cm_err_errno(err, saved, "start %s: pidfd_open (Linux 5.3 or later is needed)",
	                    o->path);
}

/* clone3 with a pidfd, into the cgroup if one is given; a kernel without CLONE_INTO_CGROUP
 * (before 5.7) refuses it with E2BIG or EINVAL: then the child joins by itself. */
static long clone_child(const struct cm_spawn_opts *o, int *pidfd, bool *in_cgroup)
{
	struct clone_args args = {
	    .flags = CLONE_PIDFD,
	    .pidfd = (uint64_t)(uintptr_t)pidfd,
	    .exit_signal = SIGCHLD,
	};
	*in_cgroup = o->cgroup && o->cgroup->dir_fd >= 0;
	if (*in_cgroup) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)o->cgroup->dir_fd;
	}
	long pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0 && *in_cgroup && (errno == E2BIG || errno == EINVAL)) {
		*in_cgroup = false;
		args.flags &= ~(uint64_t)CLONE_INTO_CGROUP;
		args.cgroup = 0;
		pid = syscall(SYS_clone3, &args, sizeof(args));
	}
	if (pid < 0 && errno == ENOSYS) { /* no clone3 (old kernel, valgrind): fork + pidfd_open */
		*in_cgroup = false;
		pid = fork();
	}
	return pid;
}

int cm_spawn(const struct cm_spawn_opts *o, pid_t *pid_out, int *pidfd_out, cm_err *err)
{
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return cm_err_sys(err, "start %s: pipe", o->path);
	sigset_t all, old;
	sigfillset(&all);
	/* No signal handler of ours may run in the child before it resets them. */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int pidfd = -1;
	bool in_cgroup;
	cm_children_lock(); /* an orphan reaper must not take this child before it is known */
	long pid = clone_child(o, &pidfd, &in_cgroup);
	if (pid == 0) {
		close(pipefd[0]);
		child_run(o, pipefd[1], in_cgroup);
	}
	int saved = errno;
	if (pid > 0)
		cm_children_add((pid_t)pid);
	cm_children_unlock();
	if (pid > 0 && pidfd < 0) { /* safe: nobody but us reaps this child */
		pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
		if (pidfd < 0)
			return abandon_child(pipefd, (pid_t)pid, &old, o, err);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(pipefd[1]);
	_cleanup_close_ int readfd = pipefd[0];
	if (pid < 0)
		return cm_err_errno(err, saved, "start %s: clone3", o->path);
	if (o->new_pgroup)
		setpgid((pid_t)pid, (pid_t)pid); /* both sides set it: no window for signals */
	if (wait_exec_report(readfd, (pid_t)pid, pidfd, o, err) < 0) {
		close(pidfd);
		return -1;
	}
	*pid_out = (pid_t)pid;
	*pidfd_out = pidfd;
	return 0;
}

int cm_pidfd_reap(int pidfd, struct cm_exit *status, cm_err *err)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	int r;
	do
		r = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return cm_err_sys(err, "waitid");
	if (si.si_pid == 0)
		return 0;
	cm_children_forget(si.si_pid);
	if (si.si_code == CLD_EXITED) {
		status->code = si.si_status;
		status->signal = 0;
	} else {
		status->signal = si.si_status;
		status->code = 128 + si.si_status;
	}
	return 1;
}

char *cm_find_program(const char *name, const char *path_env)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
	_cleanup_free_ char *path = xstrdup(path_env && *path_env ? path_env : "/usr/bin:/bin");
	char *save = NULL;
	for (char *dir = strtok_r(path, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		char *full = xasprintf("%s/%s", dir, name);
		if (access(full, X_OK) == 0)
			return full;
		free(full);
	}
	return NULL;
}
