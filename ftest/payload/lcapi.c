/* lcapi: drives libcontainer through its C API the way a dyno driver does: the config built
 * in memory (no JSON), a tmpfs with a data string, a network namespace made beforehand joined
 * by path, the init executable given as an fd from outside the rootfs, stdout as a pipe, and
 * the exit seen through the pidfd on the caller's own poll loop.
 *   lcapi STATE_ROOT ROOTFS INIT_BINARY [NETNS_PATH] */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/strv.h"
#include "common/xalloc.h"
#include "libcontainer/container.h"

static struct lc_config *make_config(const char *rootfs, const char *netns)
{
	struct lc_config *c = lc_spec_default();
	free(c->root_path);
	c->root_path = xstrdup(rootfs);
	free(c->hostname);
	c->hostname = xstrdup("api");
	char *args[] = {"lctest", "info", "cat", "/sys/class/net/lo/mtu", NULL};
	cm_strv_free(c->process.args);
	c->process.args = cm_strv_dup(args);
	c->mounts = xrealloc(c->mounts, (c->n_mounts + 1) * sizeof(*c->mounts));
	struct lc_mount *m = &c->mounts[c->n_mounts++];
	memset(m, 0, sizeof(*m));
	m->destination = xstrdup("/scratch");
	m->type = xstrdup("tmpfs");
	m->source = xstrdup("tmpfs");
	char *opts[] = {"nosuid", "size=1m", "mode=700", NULL};
	m->options = cm_strv_dup(opts);
	for (size_t i = 0; netns && i < c->n_namespaces; i++)
		if (c->namespaces[i].type == CLONE_NEWNET)
			c->namespaces[i].path = xstrdup(netns);
	c->resources.memory_limit = 64 << 20;
	/* as the libcontainer driver starts its dyno init: SIGTERM and SIGUSR1 blocked at exec */
	c->process.exec_blocked = 1ULL << (SIGTERM - 1) | 1ULL << (SIGUSR1 - 1);
	return c;
}

static int fail(const cm_err *err)
{
	fprintf(stderr, "lcapi: %s\n", err->msg);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: lcapi STATE_ROOT ROOTFS INIT_BINARY [NETNS_PATH]\n");
		return 2;
	}
	cm_err err;
	struct lc_factory *f;
	if (lc_factory_open(argv[1], &f, &err) < 0)
		return fail(&err);
	int out[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return perror("pipe2"), 1;
	int init_fd = open(argv[3], O_RDONLY | O_CLOEXEC);
	if (init_fd < 0)
		return perror(argv[3]), 1;
	struct lc_config *cfg = make_config(argv[2], argc > 4 ? argv[4] : NULL);
	struct lc_create_opts o = {.stdio = {-1, out[1], out[1]}, .init_fd = init_fd};
	char id[64];
	snprintf(id, sizeof(id), "api%d", (int)getpid());
	struct lc_container *c;
	int r = lc_container_create(f, id, cfg, &o, &c, &err);
	/* the container keeps nothing of the caller's: both may go now */
	lc_config_free(cfg);
	close(out[1]);
	close(init_fd);
	if (r < 0)
		return fail(&err);
	int pidfd = lc_container_pidfd(c, &err), oomfd = -1;
	if (pidfd < 0 || lc_container_oom_fd(c, &oomfd, &err) < 0 ||
	    lc_container_start(c, &err) < 0)
		return fail(&err);
	/* the caller's event loop: output, exit and OOM all arrive as readable fds */
	char buf[65536];
	size_t len = 0;
	int code = -1;
	bool out_open = true;
	while (out_open || code < 0) {
		struct pollfd p[3] = {{out_open ? out[0] : -1, POLLIN, 0},
		                      {code < 0 ? pidfd : -1, POLLIN, 0},
		                      {oomfd, POLLIN, 0}};
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			return perror("poll"), 1;
		if (p[0].revents) {
			ssize_t n = read(out[0], buf + len, sizeof(buf) - 1 - len);
			if (n <= 0)
				out_open = false;
			else
				len += (size_t)n;
		}
		if (p[1].revents && lc_container_reap(c, &code, &err) < 0)
			return fail(&err);
		if (p[2].revents)
			printf("oom notified\n");
	}
	buf[len] = '\0';
	/* the last line is lo's MTU, from the network namespace joined by path */
	char *last = len > 1 ? memrchr(buf, '\n', len - 1) : NULL;
	fputs(buf, stdout);
	printf("mtu=%s", last ? last + 1 : buf);
	printf("exit=%d\n", code);
	close(oomfd);
	if (lc_container_delete(c, false, &err) < 0)
		return fail(&err);
	lc_container_free(c);
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", argv[1], id);
	printf("state %s\n", access(path, F_OK) == 0 ? "left" : "removed");
	lc_factory_free(f);
	return 0;
}
