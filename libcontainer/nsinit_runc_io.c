/* What the runc command line writes beside its output: the log (--log, --log-format), the
 * init's pid file, and the console's master sent over --console-socket. */
#define _GNU_SOURCE
#include "libcontainer/nsinit_runc.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static struct {
	int fd; /* -1: no --log */
	bool json, debug;
} log_to = {-1, false, false};

void nr_log_open(const struct nr_args *a)
{
	log_to.json = a->log_format && !strcmp(a->log_format, "json");
	log_to.debug = a->debug;
	if (a->log)
		log_to.fd = open(a->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (a->log && log_to.fd < 0)
		fprintf(stderr, "nsinit: open the log %s: %s\n", a->log, strerror(errno));
}

/* One line as logrus writes it: time="..." level=... msg="..." or the same as JSON. */
static void log_line(const char *level, const char *msg)
{
	char when[64];
	struct tm tm;
	time_t now = time(NULL);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
	json_t *o = json_pack("{s:s,s:s,s:s}", "level", level, "msg", msg, "time", when);
	_cleanup_free_ char *line = NULL;
	if (log_to.json) {
		line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	} else {
		_cleanup_free_ char *quoted =
		    json_dumps(json_object_get(o, "msg"), JSON_ENCODE_ANY);
		line = xasprintf("time=\"%s\" level=%s msg=%s", when, level, quoted);
	}
	json_decref(o);
	_cleanup_free_ char *nl = xasprintf("%s\n", line);
	cm_write_all(log_to.fd, nl, strlen(nl));
}

void nr_log_debug(const char *fmt, ...)
{
	if (!log_to.debug || log_to.fd < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	log_line("debug", msg);
}

int nr_fail(const cm_err *err)
{
	if (log_to.fd >= 0)
		log_line("error", err->msg);
	fprintf(stderr, "nsinit: %s\n", err->msg);
	return 1;
}

int nr_send_console(const char *path, int fd, cm_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return cm_err_set(err, ENAMETOOLONG, "console socket %s: path too long", path);
	strcpy(sa.sun_path, path);
	_cleanup_close_ int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return cm_err_sys(err, "connect to the console socket %s", path);
	static const char name[] = "/dev/ptmx";
	struct iovec iov = {.iov_base = (void *)name, .iov_len = sizeof(name) - 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u = {0};
	struct msghdr m = {.msg_iov = &iov,
	                   .msg_iovlen = 1,
	                   .msg_control = u.buf,
	                   .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t n;
	do
		n = sendmsg(s, &m, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return cm_err_sys(err, "send the console to %s", path);
	return 0;
}

int nr_write_pid_file(const char *path, pid_t pid, cm_err *err)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%d", (int)pid);
	if (cm_write_file_replace_at(AT_FDCWD, path, text, (size_t)n, 0644, err) < 0)
		return cm_err_wrap(err, "pid file");
	return 0;
}

int nr_preserve_fds(int64_t preserve, cm_err *err)
{
	if (preserve < 0 || preserve > 1 << 20)
		return cm_err_set(err, EINVAL, "--preserve-fds %lld: out of range",
		                  (long long)preserve);
	if (syscall(SYS_close_range, 3 + (unsigned)preserve, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return cm_err_sys(err, "close_range");
	return 0;
}
