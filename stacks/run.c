/* Running a helper program (mkfs.ext4, ldd) from a process that may have threads: cm_spawn,
 * its output read from a pipe, its exit awaited on its pidfd. */
#define _GNU_SOURCE
#include "stacks/build.h"
#include "common/cleanup.h"
#include "common/spawn.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#define RUN_OUTPUT_MAX (1 << 20)

static char *const run_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};

/* Reads fd to its end; keeps the first RUN_OUTPUT_MAX bytes. */
static char *read_output(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = xmalloc(cap + 1);
	for (;;) {
		char chunk[4096];
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t take = len + (size_t)n > RUN_OUTPUT_MAX ? RUN_OUTPUT_MAX - len : (size_t)n;
		xgrow((void **)&buf, &cap, len + take + 1, 1);
		memcpy(buf + len, chunk, take);
		len += take;
	}
	buf[len] = '\0';
	return buf;
}

static int wait_exit(int pidfd, const char *path, cm_err *err)
{
	struct cm_exit status;
	for (;;) {
		int r = cm_pidfd_reap(pidfd, &status, err);
		if (r < 0)
			return cm_err_wrap(err, "wait for %s", path);
		if (r > 0)
			return status.code;
		struct pollfd p = {.fd = pidfd, .events = POLLIN};
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return cm_err_sys(err, "wait for %s", path);
	}
}

int st_run(char *const argv[], char **out, cm_err *err)
{
	_cleanup_close_ int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	int pipefd[2] = {-1, -1};
	if (devnull < 0)
		return cm_err_sys(err, "open /dev/null");
	if (out && pipe2(pipefd, O_CLOEXEC) < 0)
		return cm_err_sys(err, "pipe");
	_cleanup_close_ int rd = pipefd[0];
	struct cm_spawn_opts o = {
	    .path = argv[0],
	    .argv = argv,
	    .envp = run_env,
	    .stdio = {devnull, out ? pipefd[1] : -1, out ? pipefd[1] : -1},
	    .foreground_tty = -1,
	};
	pid_t pid;
	int pidfd;
	int r = cm_spawn(&o, &pid, &pidfd, err);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (r < 0)
		return -1;
	if (out)
		*out = read_output(rd);
	r = wait_exit(pidfd, argv[0], err);
	close(pidfd);
	if (r < 0 && out) {
		free(*out);
		*out = NULL;
	}
	return r;
}
