/* The container's first process between clone and exec (and an exec'd process between clone
 * and exec): system calls only, errors reported to the parent as {step, errno, index}. */
#define _GNU_SOURCE
#include "libcontainer/init.h"
#include "libcontainer/inroot.h"
#include "common/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static __attribute__((noreturn)) void fail(const struct lc_plan *p, int step, int index)
{
	struct lc_report r = {step, errno, index};
	ssize_t ignored = send(p->sync_fd, &r, sizeof(r), MSG_NOSIGNAL);
	(void)ignored;
	_exit(127);
}

static void report(const struct lc_plan *p, int step)
{
	struct lc_report r = {step, 0, -1};
	ssize_t ignored = send(p->sync_fd, &r, sizeof(r), MSG_NOSIGNAL);
	(void)ignored;
}

static ssize_t read_retry(int fd, void *buf, size_t len)
{
	ssize_t n;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n;
}

int lc_init_wait_byte(const struct lc_plan *p, char want)
{
	char got = 0;
	while (got != want)
		if (read_retry(p->sync_fd, &got, 1) != 1)
			return errno = errno ? errno : EPIPE, -1;
	return 0;
}

/* The parent says 'g' once the id maps are written, 'k' once the cgroups exist, 'c' once we
 * are in them. */
static void wait_for_parent(const struct lc_plan *p, char want)
{
	if (lc_init_wait_byte(p, want) < 0)
		fail(p, LC_STEP_SYNC, -1);
}

/* The parent runs the hooks in step with us: it has put us in our cgroups before ('c'), so
 * the later wait for 'c' must not wait again. */
int lc_init_hook_point(const struct lc_plan *p)
{
	if (lc_init_wait_byte(p, 'c') < 0)
		return -1;
	report(p, LC_STEP_HOOKS);
	return lc_init_wait_byte(p, 'h');
}

/* No mount namespace: the host's mounts stay as they are, the process only enters the root. */
static void enter_root_shared(const struct lc_plan *p)
{
	if (p->hook_point && lc_init_hook_point(p) < 0)
		fail(p, LC_STEP_HOOKS, -1);
	if (chroot(p->rootfs) < 0 || chdir("/") < 0)
		fail(p, LC_STEP_CHROOT, -1);
}

/* personality, I/O priority and scheduler: the process's own, inherited across exec; set
 * before the capabilities are dropped (a real-time policy needs CAP_SYS_NICE). */
static void set_process_attrs(const struct lc_plan *p)
{
	if (p->personality >= 0 && syscall(SYS_personality, (unsigned long)p->personality) < 0)
		fail(p, LC_STEP_PERSONALITY, -1);
	if (p->ioprio >= 0 && syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, p->ioprio) < 0)
		fail(p, LC_STEP_IOPRIO, -1);
	if (p->sched_set && syscall(SYS_sched_setattr, 0, &p->sched, 0) < 0)
		fail(p, LC_STEP_SCHED, -1);
}

static int setup_stdio(const struct lc_plan *p)
{
	int src[3];
	if (p->pty_inside)
		return 0; /* the pty's slave, once opened in the container */
	for (int i = 0; i < 3; i++)
		src[i] = p->tty_slave >= 0 ? p->tty_slave : p->stdio[i];
	return cm_child_stdio(src);
}

/* Hands the pty's master to the parent: a report of LC_STEP_PTY with the fd attached. */
static int send_master(const struct lc_plan *p, int master)
{
	struct lc_report r = {LC_STEP_PTY, 0, -1};
	struct iovec iov = {.iov_base = &r, .iov_len = sizeof(r)};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl = {0};
	struct msghdr msg = {.msg_iov = &iov,
	                     .msg_iovlen = 1,
	                     .msg_control = ctl.buf,
	                     .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &master, sizeof(int));
	return sendmsg(p->sync_fd, &msg, MSG_NOSIGNAL) == (ssize_t)sizeof(r) ? 0 : -1;
}

/* The slave of master, opened through the master itself (TIOCGPTPEER, 4.13): no path to
 * resolve. */
static int open_slave(int master)
{
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
		return -1;
	return ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
}

/* A new pty from the container's own devpts instance (its /dev/ptmx, in its root by now), so
 * that the process's terminal is one of the container's /dev/pts; a pty of the host's would
 * be "not a tty" inside. It becomes the controlling terminal of a new session and stdio, and
 * its master goes to the parent. */
static void take_container_pty(const struct lc_plan *p)
{
	int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		fail(p, LC_STEP_PTY, -1);
	struct winsize ws = {.ws_row = p->pty_rows, .ws_col = p->pty_cols};
	if (ws.ws_row && ws.ws_col && ioctl(master, TIOCSWINSZ, &ws) < 0)
		fail(p, LC_STEP_PTY, -1);
	int slave = open_slave(master);
	if (slave < 0)
		fail(p, LC_STEP_PTY, -1);
	if (send_master(p, master) < 0)
		fail(p, LC_STEP_SYNC, -1);
	close(master);
	if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
		fail(p, LC_STEP_SETSID, -1);
	int src[3] = {slave, slave, slave};
	if (cm_child_stdio(src) < 0)
		fail(p, LC_STEP_STDIO, -1);
	if (slave > 2)
		close(slave);
}

static void join_namespaces(const struct lc_plan *p)
{
	/* the user namespace first: it grants the rights to join the others */
	for (size_t pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < p->n_joins; i++) {
			bool user = p->joins[i].type == CLONE_NEWUSER;
			if ((pass == 0) == user && setns(p->joins[i].fd, p->joins[i].type) < 0)
				fail(p, LC_STEP_SETNS, (int)i);
		}
}

/* The credentials by raw system calls: glibc's setgroups and setres[ug]id first ask every
 * other thread of the process to change too, and this child of a raw clone3 still has the
 * caller's thread list, not its threads: it would wait for ever for one that the caller was
 * creating at the time of the clone. The child has one thread, so the call itself suffices. */
static int set_groups(size_t n, const gid_t *groups)
{
	return (int)syscall(SYS_setgroups, n, groups);
}

static int set_gid(gid_t gid)
{
	return (int)syscall(SYS_setresgid, gid, gid, gid);
}

static int set_uid(uid_t uid)
{
	return (int)syscall(SYS_setresuid, uid, uid, uid);
}

static void become_root(const struct lc_plan *p)
{
	if (set_gid(0) < 0 || set_uid(0) < 0)
		fail(p, LC_STEP_BECOME_ROOT, -1);
}

static size_t str_len(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

static void set_limits(const struct lc_plan *p)
{
	for (int r = 0; r < RLIM_NLIMITS; r++)
		if (p->rlimit_set[r] && setrlimit((__rlimit_resource_t)r, &p->rlimits[r]) < 0)
			fail(p, LC_STEP_RLIMIT, r);
}

/* "/" of this process, to resolve its paths inside: after pivot_root (or setns into the
 * container's mount namespace) that is the container's root, and its /proc magic links
 * (/proc/self/fd/N, /proc/self/exe) could still lead to what the runtime holds open. */
static int open_root(const struct lc_plan *p, int step)
{
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fail(p, step, -1);
	return fd;
}

static void enter_cwd(const struct lc_plan *p)
{
	int root = open_root(p, LC_STEP_CWD);
	int fd = lc_inroot_open(root, p->cwd, O_PATH | O_DIRECTORY, LC_IN_ROOT);
	if (fd < 0 || fchdir(fd) < 0)
		fail(p, LC_STEP_CWD, -1);
	close(fd);
	close(root);
}

static void change_user(const struct lc_plan *p)
{
	if (p->uid != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail(p, LC_STEP_SETUID, -1);
	if (set_groups(p->n_groups, p->groups) < 0 && !(errno == EPERM && p->n_groups == 0))
		fail(p, LC_STEP_GROUPS, -1);
	if (set_gid(p->gid) < 0)
		fail(p, LC_STEP_SETGID, -1);
	if (set_uid(p->uid) < 0)
		fail(p, LC_STEP_SETUID, -1);
}

static bool may_execute(int fd, const char *path)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return false;
	if (!S_ISREG(st.st_mode))
		return errno = EACCES, false;
	if (faccessat(fd, "", X_OK, AT_EMPTY_PATH) == 0)
		return true;
	/* faccessat2 (5.8) takes AT_EMPTY_PATH; before it (or forbidden by a seccomp filter
	 * loaded earlier), the path itself, just resolved inside the root */
	return (errno == EINVAL || errno == ENOSYS || errno == EPERM) && access(path, X_OK) == 0;
}

/* Follows a script's "#!" interpreter, and the interpreter's if it is a script too, as deep
 * as the kernel does: each is resolved inside the root, so that "#!/proc/self/exe" (or an
 * interpreter that is a symlink to it) is refused. Run, it would be the runtime's own binary
 * on the host, which the container's root could then rewrite. What cannot be read or found
 * is left for exec to report. -1 with errno ELOOP for a magic link. */
static int check_interpreters(int root, const char *path)
{
	char buf[256], next[256];
	const char *cur = path;
	for (int depth = 0; depth < 5; depth++) {
		int fd = lc_inroot_open(root, cur, O_RDONLY | O_NONBLOCK | O_NOCTTY, LC_IN_ROOT);
		if (fd < 0)
			return errno == ELOOP ? -1 : 0;
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		close(fd);
		if (n < 2 || buf[0] != '#' || buf[1] != '!')
			return 0;
		buf[n] = '\0';
		const char *s = buf + 2 + strspn(buf + 2, " \t");
		size_t len = strcspn(s, " \t\n");
		if (len == 0 || len >= sizeof(next))
			return 0;
		memcpy(next, s, len);
		next[len] = '\0';
		fd = lc_inroot_open(root, next, O_PATH, LC_IN_ROOT);
		if (fd < 0)
			return errno == ELOOP ? -1 : 0;
		close(fd);
		cur = next;
	}
	return 0;
}

/* The first candidate that exists inside the root and may be executed, opened: known before
 * the start signal so that create reports a missing command. The fd is what gets exec'd, so
 * a symlink in the rootfs to /proc/self/exe (the runtime's own binary on the host) or to
 * an fd the runtime holds is refused, not run. */
static int find_exec(const struct lc_plan *p, int *which)
{
	if (p->exec_fd >= 0)
		return p->exec_fd;
	int last = ENOENT, root = open_root(p, LC_STEP_FIND_EXEC);
	for (int i = 0; p->exec_candidates[i]; i++) {
		int fd = lc_inroot_open(root, p->exec_candidates[i], O_PATH, LC_IN_ROOT);
		if (fd >= 0 && may_execute(fd, p->exec_candidates[i])) {
			if (check_interpreters(root, p->exec_candidates[i]) < 0)
				fail(p, LC_STEP_INTERPRETER, i);
			close(root);
			*which = i;
			return fd;
		}
		if (errno != ENOENT && errno != ENOTDIR)
			last = errno;
		if (fd >= 0)
			close(fd);
	}
	errno = last;
	fail(p, LC_STEP_FIND_EXEC, -1);
}

/* The signals the process is to start with blocked: queued from the exec on, never dropped. */
static void block_at_exec(const struct lc_plan *p)
{
	sigset_t set;
	if (!p->exec_blocked)
		return;
	sigemptyset(&set);
	for (int sig = 1; sig <= 64 && sig < NSIG; sig++)
		if (p->exec_blocked & (1ULL << (sig - 1)))
			sigaddset(&set, sig);
	sigprocmask(SIG_SETMASK, &set, NULL);
}

static void exec_fd(const struct lc_plan *p, int fd, int which)
{
	syscall(SYS_execveat, fd, "", p->argv, p->envp, AT_EMPTY_PATH);
	if (fd == p->exec_fd)
		return;
	/* ENOENT: a script, whose interpreter would be handed /dev/fd/N, closed by then (and a
	 * $0 it does not expect); ENOSYS or EPERM: no execveat (valgrind), or a seccomp filter
	 * forbids it. Then by the path, resolved inside the root a moment ago. */
	if (errno == ENOENT || errno == ENOSYS || errno == EPERM)
		execve(p->exec_candidates[which], p->argv, p->envp);
}

/* Drops what the process may do, in the order the kernel allows it; the executable is found
 * as the user it runs as (its permissions count), before a seccomp filter that might forbid
 * the calls the safe lookup makes. Returns the executable's fd. */
static int lock_down(const struct lc_plan *p, int *which)
{
	if (lc_caps_drop_bounding(&p->caps) < 0)
		fail(p, LC_STEP_BOUNDING, -1);
	/* without no_new_privs only CAP_SYS_ADMIN may load a filter: do it while we hold it */
	if (!p->no_new_privs && lc_bpf_load(&p->bpf) < 0)
		fail(p, LC_STEP_SECCOMP, -1);
	change_user(p);
	if (lc_caps_apply(&p->caps) < 0)
		fail(p, LC_STEP_CAPS, -1);
	if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail(p, LC_STEP_NO_NEW_PRIVS, -1);
	int fd = find_exec(p, which);
	if (p->no_new_privs && lc_bpf_load(&p->bpf) < 0)
		fail(p, LC_STEP_SECCOMP, -1);
	return fd;
}

static void wait_for_start(const struct lc_plan *p)
{
	char c;
	if (p->start_fd < 0)
		return;
	if (read_retry(p->start_fd, &c, 1) != 1)
		_exit(127); /* deleted before it was started */
	close(p->start_fd);
}

void lc_init_run(const struct lc_plan *p)
{
	if (cm_child_reset_signals() < 0)
		fail(p, LC_STEP_SIGNALS, -1);
	wait_for_parent(p, 'g');
	join_namespaces(p);
	if (p->userns)
		become_root(p);
	if (p->tty_slave >= 0 && (setsid() < 0 || ioctl(p->tty_slave, TIOCSCTTY, 0) < 0))
		fail(p, LC_STEP_SETSID, -1);
	if (setup_stdio(p) < 0)
		fail(p, LC_STEP_STDIO, -1);
	/* nothing the caller left open without O_CLOEXEC reaches the container */
	syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	if (p->hostname && sethostname(p->hostname, str_len(p->hostname)) < 0)
		fail(p, LC_STEP_HOSTNAME, -1);
	if (p->domainname && setdomainname(p->domainname, str_len(p->domainname)) < 0)
		fail(p, LC_STEP_DOMAINNAME, -1);
	int step = 0, index = -1;
	if (p->no_mntns)
		enter_root_shared(p);
	else if (!p->join_only && (lc_rootfs_prepare(p, &step, &index) < 0 ||
	                           lc_rootfs_finish(p, &step, &index) < 0))
		fail(p, step, index);
	if (p->pty_inside)
		take_container_pty(p);
	set_limits(p);
	set_process_attrs(p);
	if (p->cwd)
		enter_cwd(p);
	int which = -1, fd = lock_down(p, &which);
	if (!p->hook_point)
		wait_for_parent(p, 'c'); /* the parent has put us in the container's cgroups */
	report(p, LC_STEP_READY);
	wait_for_start(p);
	if (p->umask >= 0)
		umask((mode_t)p->umask);
	block_at_exec(p);
	exec_fd(p, fd, which);
	fail(p, LC_STEP_EXEC, which);
}
