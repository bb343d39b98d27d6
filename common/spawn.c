#define _GNU_SOURCE
#include "common/spawn.h"
#include "common/children.h"
#include "common/cleanup.h"
#include "common/clone_vm.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CM_ASAN 1
#endif
#endif
#ifdef CM_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* What the child reports when a step fails: which step, and errno. */
enum child_step {
	STEP_NONE = -1,
	STEP_FILES,
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
    [STEP_FILES] = "unshare its descriptor table",
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

/* The descriptors a child may need, each dup'ed for the time of a spawn into a slot: a low
 * descriptor of our own, kept open on /dev/null in between, so that the child can drop every
 * other descriptor at once, however many the parent has. */
enum {
	SLOT_STDIN,
	SLOT_STDOUT,
	SLOT_STDERR,
	SLOT_TTY,
	SLOT_PROCS,
	SLOT_EXEC,
	NSLOTS
};
#define CHILD_STACK (128 * 1024)

static struct {
	pthread_mutex_t lock; /* one spawn at a time uses the slots and the stack */
	bool tried;
	bool ready; /* slots and stack are there, and cm_clone3_call works here */
	int devnull;
	int slot[NSLOTS];
	int top; /* the highest of them */
	void *stack;
} sp = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* What the child works from. */
struct child_ctx {
	const struct cm_spawn_opts *o;
	const char *path;
	int stdio[3];
	int tty;
	int procs_fd;   /* -1: born in its cgroup, or none asked */
	int keep_below; /* > 0: the child shares the parent's table and keeps only fds below this */
	int report_fd;  /* >= 0: a pipe to report on (the child has memory of its own) */
	struct child_report report; /* else here, in the parent's memory */
	char path_buf[32];
};

static __attribute__((noreturn)) void child_fail(struct child_ctx *c, int step)
{
	struct child_report r = {step, errno};
	c->report = r;
	if (c->report_fd >= 0) {
		ssize_t ignored = write(c->report_fd, &r, sizeof(r));
		(void)ignored;
	}
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

/* The child, between clone and exec: raw system calls only, no allocation (it may share the
 * parent's memory, and runs with every signal blocked). */
static int child_main(void *arg)
{
	struct child_ctx *c = arg;
	const struct cm_spawn_opts *o = c->o;
	pid_t self = (pid_t)syscall(SYS_getpid);
	/* Shared, the table is the parent's: copy only the slots' end of it (Linux 5.9), or all. */
	if (c->keep_below > 0 &&
	    syscall(SYS_close_range, (unsigned)c->keep_below, ~0U, CLOSE_RANGE_UNSHARE) < 0 &&
	    unshare(CLONE_FILES) < 0)
		child_fail(c, STEP_FILES);
	if (o->new_pgroup && setpgid(0, 0) < 0)
		child_fail(c, STEP_PGROUP);
	/* SIGTTOU is still blocked here, so a background group may take the terminal. */
	if (c->tty >= 0 && ioctl(c->tty, TIOCSPGRP, &self) < 0)
		child_fail(c, STEP_TTY);
	if (cm_child_reset_signals() < 0)
		child_fail(c, STEP_SIGNALS);
	if (cm_child_stdio(c->stdio) < 0)
		child_fail(c, STEP_STDIO);
	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	if (o->cwd && chdir(o->cwd) < 0)
		child_fail(c, STEP_CWD);
	if (o->nofile && setrlimit(RLIMIT_NOFILE, o->nofile) < 0)
		child_fail(c, STEP_RLIMIT);
	/* "0" is the writer itself */
	if (c->procs_fd >= 0 && write(c->procs_fd, "0", 1) != 1)
		child_fail(c, STEP_CGROUP);
	execve(c->path, o->argv, o->envp);
	child_fail(c, STEP_EXEC);
}

static int report_error(const struct child_report *r, const struct cm_spawn_opts *o, cm_err *err)
{
	const char *step = r->step >= 0 && r->step <= STEP_EXEC ? step_names[r->step] : "?";
	if (r->step == STEP_EXEC)
		return cm_err_errno(err, r->errnum, "exec %s", o->path);
	if (r->step == STEP_CWD)
		return cm_err_errno(err, r->errnum, "start %s: chdir %s", o->path, o->cwd);
	if (r->step == STEP_CGROUP && r->errnum == EBUSY)
		return cm_err_errno(err, r->errnum, "start %s: %s (it has controllers enabled)",
		                    o->path, step);
	return cm_err_errno(err, r->errnum, "start %s: %s", o->path, step);
}

/* Reaps a child that failed before exec (it has exited, or is about to). */
static void reap_failed(int pidfd)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 && errno == EINTR) {
	}
	if (si.si_pid > 0)
		cm_children_forget(si.si_pid);
}

static int wait_exec_report(struct child_ctx *c, int readfd, int pidfd, cm_err *err)
{
	ssize_t n;
	do
		n = read(readfd, &c->report, sizeof(c->report));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0; /* the pipe closed on exec */
	reap_failed(pidfd);
	if (n != sizeof(c->report))
		return cm_err_set(err, EIO, "start %s: lost the child's report", c->o->path);
	return report_error(&c->report, c->o, err);
}

/* Without a pidfd the child cannot be watched: stop it before it runs anything. */
static int abandon_child(pid_t pid, const struct cm_spawn_opts *o, cm_err *err)
{
	int saved = errno;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
	}
	cm_children_forget(pid);
	return cm_err_errno(err, saved, "start %s: pidfd_open (Linux 5.3 or later is needed)",
	                    o->path);
}

/* The slots and the child's stack, made once; false where a child cannot share our memory. */
static bool slots_ready(void)
{
	if (sp.tried)
		return sp.ready;
	sp.tried = true;
	if (!cm_clone3_call_supported())
		return false;
	sp.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (sp.devnull < 0)
		return false;
	sp.top = sp.devnull;
	for (int i = 0; i < NSLOTS; i++) {
		sp.slot[i] = fcntl(sp.devnull, F_DUPFD_CLOEXEC, 3);
		if (sp.slot[i] < 0)
			return false;
		if (sp.slot[i] > sp.top)
			sp.top = sp.slot[i];
	}
	long page = sysconf(_SC_PAGESIZE);
	/* the lowest page stays unmapped: an overflow faults instead of writing below */
	char *m = mmap(NULL, CHILD_STACK + (size_t)page, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (m == MAP_FAILED)
		return false;
	mprotect(m, (size_t)page, PROT_NONE);
	sp.stack = m + page;
	sp.ready = true;
	return true;
}

void cm_spawn_init(void)
{
	pthread_mutex_lock(&sp.lock);
	slots_ready();
	pthread_mutex_unlock(&sp.lock);
}

/* Puts fd in slot i for this spawn; returns the slot's number, or -1 for fd -1. */
static int use_slot(int i, int fd, unsigned *used)
{
	if (fd < 0)
		return -1;
	if (dup3(fd, sp.slot[i], O_CLOEXEC) < 0)
		return -2;
	*used |= 1U << i;
	return sp.slot[i];
}

/* Back to /dev/null: a slot must not hold a pipe's end open after the spawn. */
static void release_slots(unsigned used)
{
	for (int i = 0; i < NSLOTS; i++)
		if (used & (1U << i))
			dup3(sp.devnull, sp.slot[i], O_CLOEXEC);
}

/* The slots the child will read; the exec path "/proc/self/fd/N" is moved to one too. */
static int fill_slots(struct child_ctx *c, unsigned *used, bool in_cgroup)
{
	const struct cm_spawn_opts *o = c->o;
	for (int i = 0; i < 3; i++)
		if ((c->stdio[i] = use_slot(SLOT_STDIN + i, o->stdio[i], used)) == -2)
			return -1;
	if ((c->tty = use_slot(SLOT_TTY, o->foreground_tty, used)) == -2)
		return -1;
	c->procs_fd =
	    o->cgroup && !in_cgroup ? use_slot(SLOT_PROCS, o->cgroup->procs_fd, used) : -1;
	if (c->procs_fd == -2)
		return -1;
	const char *prefix = "/proc/self/fd/";
	const char *num =
	    strncmp(o->path, prefix, strlen(prefix)) == 0 ? o->path + strlen(prefix) : NULL;
	if (num && *num && strspn(num, "0123456789") == strlen(num)) {
		int slot = use_slot(SLOT_EXEC, atoi(num), used);
		if (slot < 0)
			return -1;
		snprintf(c->path_buf, sizeof(c->path_buf), "%s%d", prefix, slot);
		c->path = c->path_buf;
	}
	c->keep_below = sp.top + 1;
	return 0;
}

static void child_ctx_init(struct child_ctx *c, const struct cm_spawn_opts *o)
{
	*c = (struct child_ctx){
	    .o = o,
	    .path = o->path,
	    .stdio = {o->stdio[0], o->stdio[1], o->stdio[2]},
	    .tty = o->foreground_tty,
	    .procs_fd = -1,
	    .report_fd = -1,
	    .report = {.step = STEP_NONE},
	};
}

static void cgroup_args(struct clone_args *args, const struct cm_spawn_opts *o, bool *in_cgroup)
{
	*in_cgroup = o->cgroup && o->cgroup->dir_fd >= 0;
	if (*in_cgroup) {
		args->flags |= CLONE_INTO_CGROUP;
		args->cgroup = (uint64_t)o->cgroup->dir_fd;
	}
}

/* A kernel without CLONE_INTO_CGROUP (before 5.7) refuses it with E2BIG or EINVAL: the
 * child then joins by itself. */
static bool retry_outside_cgroup(long pid, struct clone_args *args, bool *in_cgroup)
{
	if (pid >= 0 || !*in_cgroup || (errno != E2BIG && errno != EINVAL))
		return false;
	*in_cgroup = false;
	args->flags &= ~(uint64_t)CLONE_INTO_CGROUP;
	args->cgroup = 0;
	return true;
}

/* The child shares our memory and, until it unshares it, our descriptor table; we sleep until
 * it has exec'd or exited (CLONE_VFORK), so it can use our memory and report there. */
static long spawn_shared(struct child_ctx *c, int *pidfd, unsigned *used)
{
	struct clone_args args = {
	    .flags = CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PIDFD,
	    .pidfd = (uint64_t)(uintptr_t)pidfd,
	    .exit_signal = SIGCHLD,
	    .stack = (uint64_t)(uintptr_t)sp.stack,
	    .stack_size = CHILD_STACK,
	};
	bool in_cgroup;
	cgroup_args(&args, c->o, &in_cgroup);
	long pid;
	do {
		if (fill_slots(c, used, in_cgroup) < 0)
			return -1;
#ifdef CM_ASAN
		/* The last child's frames left their redzones poisoned. */
		__asan_unpoison_memory_region(sp.stack, CHILD_STACK);
#endif
		c->report.step = STEP_NONE;
		pid = cm_clone3_call(&args, child_main, c);
	} while (retry_outside_cgroup(pid, &args, &in_cgroup));
	return pid;
}

/* The child has memory of its own (clone3 without CLONE_VM, or fork where clone3 is not
 * there, as under valgrind): it runs on our stack's copy and reports through a pipe. */
static long spawn_copied(struct child_ctx *c, int *pidfd, int pipefd[2])
{
	struct clone_args args = {
	    .flags = CLONE_PIDFD,
	    .pidfd = (uint64_t)(uintptr_t)pidfd,
	    .exit_signal = SIGCHLD,
	};
	bool in_cgroup;
	cgroup_args(&args, c->o, &in_cgroup);
	long pid;
	do
		pid = syscall(SYS_clone3, &args, sizeof(args));
	while (retry_outside_cgroup(pid, &args, &in_cgroup));
	if (pid < 0 && errno == ENOSYS) {
		in_cgroup = false;
		pid = fork();
	}
	if (pid == 0) {
		close(pipefd[0]);
		c->report_fd = pipefd[1];
		c->procs_fd = c->o->cgroup && !in_cgroup ? c->o->cgroup->procs_fd : -1;
		child_main(c);
	}
	return pid;
}

int cm_spawn(const struct cm_spawn_opts *o, pid_t *pid_out, int *pidfd_out, cm_err *err)
{
	struct child_ctx c;
	pthread_mutex_lock(&sp.lock);
	bool shared = slots_ready();
	sigset_t all, old;
	sigfillset(&all);
	/* No signal handler of ours may run in the child before it resets them. */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int pidfd = -1, pipefd[2] = {-1, -1};
	unsigned used = 0;
	long pid = -1;
	cm_children_lock(); /* an orphan reaper must not take this child before it is known */
	child_ctx_init(&c, o);
	if (shared && (pid = spawn_shared(&c, &pidfd, &used)) < 0 && errno == ENOSYS) {
		sp.ready = shared = false; /* no clone3 (an old kernel, valgrind) */
		release_slots(used);
		used = 0;
		child_ctx_init(&c, o);
	}
	if (!shared && (pid = pipe2(pipefd, O_CLOEXEC)) == 0)
		pid = spawn_copied(&c, &pidfd, pipefd);
	int saved = errno;
	if (pid > 0)
		cm_children_add((pid_t)pid);
	cm_children_unlock();
	release_slots(used);
	pthread_mutex_unlock(&sp.lock);
	if (pid > 0 && pidfd < 0) /* fork: safe, nobody but us reaps this child */
		pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	_cleanup_close_ int readfd = pipefd[0];
	if (pid < 0)
		return cm_err_errno(err, saved, "start %s: clone3", o->path);
	if (pidfd < 0)
		return abandon_child((pid_t)pid, o, err);
	if (o->new_pgroup)
		setpgid((pid_t)pid, (pid_t)pid); /* both sides set it: no window for signals */
	int r = 0;
	if (!shared)
		r = wait_exec_report(&c, readfd, pidfd, err);
	else if (c.report.step != STEP_NONE) {
		reap_failed(pidfd);
		r = report_error(&c.report, o, err);
	}
	if (r < 0) {
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
