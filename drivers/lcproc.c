/* A container dyno of the libcontainer driver. Making and removing one blocks (a UID and a
 * subnet reserved under file locks, a network namespace and veth through netlink, an overlay
 * mounted, the runtime's clone and cgroups), so both run on the thread pool: the runtime
 * library is thread-safe and never waits on the caller's loop. The loop only watches: the
 * init's pidfd (its exit is the dyno's: a pid namespace dies with its PID 1), and the memory
 * cgroup's OOM and quota eventfds (R15, R14). */
#define _GNU_SOURCE
#include "drivers/lcdyno.h"
#include "drivers/libcontainer_int.h"
#include "drivers/lcterm.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/pty.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define R14 "Error R14 (Memory quota exceeded)\n"
#define R15 "Error R15 (Memory quota vastly exceeded)\n"

struct lcd_proc {
	struct hs_dyno_proc base;
	struct lcd_driver *d;
	struct hs_dyno_cbs cbs;
	void *data;
	/* what to make, copied from the spec (the work outlives it) */
	struct lcd_build *build;
	char *name;
	char **args, **env;
	int stdio[3];
	bool terminal; /* hsup run on a terminal: the dyno gets a pty, relayed by term */
	unsigned short rows, cols; /* the user's window when the dyno was started */
	uint64_t memory_quota, memory_limit;
	int64_t cpu_shares, pids_limit;
	int grace;
	/* what was made */
	uint32_t uid;
	bool reserved, net_made, dir_made;
	struct al_subnet sn;
	char *id, *dir, *netns;
	char veth[HS_NET_IFNAMSIZ];
	struct lc_container *c;
	int pidfd, oom_fd, quota_fd, log_fd, console_fd;
	int tty_in, tty_out; /* the user's terminal */
	struct lcd_term *term;
	/* the loop's side */
	uv_work_t work;
	int rc;
	cm_err err;
	uv_poll_t exit_poll, oom_poll, quota_poll;
	bool watched[3]; /* which of the three polls were made */
	int open_handles;
	bool oom_killed, ended;
	struct hs_exit how;
};

/* ---- on the thread pool ---- */

static int reserve(struct lcd_proc *p, cm_err *err)
{
	struct lcd_driver *d = p->d;
	if (al_reserve(d->alloc, &p->uid, err) < 0)
		return -1;
	p->reserved = true;
	if (al_subnet_for_uid(al_config_of(d->alloc), p->uid, &p->sn, err) < 0)
		return -1;
	p->id = xasprintf("%s.%u", p->name, p->uid);
	p->dir = xasprintf("%s/%s", d->dynos_dir, p->id);
	p->netns = xasprintf("%s/%s", d->netns_dir, p->id);
	hs_net_veth_name(p->uid, p->veth);
	/* named before they are made: a crash in between leaves them findable */
	const struct al_field fields[] = {{"dyno", p->name},
	                                  {"container", p->id},
	                                  {"dir", p->dir},
	                                  {"netns", p->netns},
	                                  {"veth", p->veth}};
	return al_record(d->alloc, p->uid, fields, CM_ARRAY_SIZE(fields), err);
}

static void dyno_of(const struct lcd_proc *p, struct lcd_dyno *dy)
{
	*dy = (struct lcd_dyno){
	    .id = p->id,
	    .name = p->name,
	    .uid = p->uid,
	    .rootfs = p->build->rootfs,
	    .slug_tree = p->build->tree.path,
	    .dir = p->dir,
	    .netns = p->netns,
	    .args = p->args,
	    .env = p->env,
	    .binds = p->d->base.conf.binds,
	    .memory_limit = p->memory_limit,
	    .cpu_shares = p->cpu_shares,
	    .pids_limit = p->pids_limit,
	    .grace = p->grace,
	    .terminal = p->terminal,
	    .rows = p->rows,
	    .cols = p->cols,
	};
}

static int run_container(struct lcd_proc *p, cm_err *err)
{
	struct lcd_dyno dy;
	dyno_of(p, &dy);
	struct lc_config *cfg = lcd_config(&dy);
	struct lc_create_opts o = {.init_fd = p->d->init_fd, .console_fd = -1};
	memcpy(o.stdio, p->stdio, sizeof(o.stdio));
	int r = lc_container_run(p->d->factory, p->id, cfg, &o, &p->c, err);
	lc_config_free(cfg);
	p->console_fd = o.console_fd;
	if (r < 0)
		return -1;
	p->pidfd = lc_container_pidfd(p->c, err);
	if (p->pidfd < 0)
		return -1;
	/* OOM kills and the quota: best effort (a host without the memory controller) */
	cm_err ignored;
	if (lc_container_oom_fd(p->c, &p->oom_fd, &ignored) < 0)
		p->oom_fd = -1;
	if (!p->memory_quota ||
	    lc_container_threshold_fd(p->c, p->memory_quota, &p->quota_fd, &ignored) < 0)
		p->quota_fd = -1;
	return 0;
}

/* Removes what was made, in the reverse order; each step skips what is not there. */
static void unmake(struct lcd_proc *p)
{
	cm_err err;
	if (p->c) {
		if (lc_container_delete(p->c, true, &err) < 0)
			lcd_log(p->d, "%s: %s", p->name, err.msg);
		lc_container_free(p->c);
		p->c = NULL;
	}
	if (p->dir_made && lcd_unprepare(p->dir, &err) < 0)
		lcd_log(p->d, "%s: %s", p->name, err.msg);
	if (p->net_made && hs_net_dyno_destroy(p->veth, p->netns, &err) < 0)
		lcd_log(p->d, "%s: %s", p->name, err.msg);
	if (p->reserved && al_release(p->d->alloc, p->uid, &err) < 0)
		lcd_log(p->d, "%s: %s", p->name, err.msg);
	p->reserved = p->net_made = p->dir_made = false;
}

static void start_work(uv_work_t *w)
{
	struct lcd_proc *p = w->data;
	struct lcd_driver *d = p->d;
	struct lcd_dyno dy;
	struct hs_net_dyno net;
	cm_err_clear(&p->err);
	p->rc = reserve(p, &p->err);
	if (p->rc == 0) {
		p->rc = hs_net_dyno_create(&d->net, p->uid, &p->sn, p->netns, &net, &p->err);
		p->net_made = p->rc == 0;
	}
	if (p->rc == 0) {
		dyno_of(p, &dy);
		p->rc = lcd_prepare(&dy, &p->err);
		p->dir_made = p->rc == 0;
	}
	if (p->rc == 0)
		p->rc = run_container(p, &p->err);
	if (p->rc < 0)
		unmake(p);
}

static void teardown_work(uv_work_t *w)
{
	unmake(w->data);
}

/* ---- on the loop ---- */

static void proc_free(struct lcd_proc *p)
{
	for (int i = 0; i < 3; i++)
		if (p->stdio[i] >= 0)
			close(p->stdio[i]);
	if (p->log_fd >= 0)
		close(p->log_fd);
	if (p->oom_fd >= 0)
		close(p->oom_fd);
	if (p->quota_fd >= 0)
		close(p->quota_fd);
	if (p->console_fd >= 0)
		close(p->console_fd);
	if (p->tty_in >= 0)
		close(p->tty_in);
	if (p->tty_out >= 0)
		close(p->tty_out);
	hs_build_unref(&p->build->base);
	cm_strv_free(p->args);
	cm_strv_free(p->env);
	free(p->name);
	free(p->id);
	free(p->dir);
	free(p->netns);
	free(p);
}

static void say(struct lcd_proc *p, const char *line)
{
	if (p->log_fd >= 0)
		cm_write_all(p->log_fd, line, strlen(line));
}

static void on_exit_poll(uv_poll_t *h, int status, int events);

static void drain_eventfd(int fd)
{
	uint64_t n;
	ssize_t ignored = read(fd, &n, sizeof(n));
	(void)ignored;
}

static void on_oom(uv_poll_t *h, int status, int events)
{
	struct lcd_proc *p = h->data;
	(void)status, (void)events;
	drain_eventfd(p->oom_fd);
	p->oom_killed = true;
	say(p, R15);
}

static void on_quota(uv_poll_t *h, int status, int events)
{
	struct lcd_proc *p = h->data;
	(void)status, (void)events;
	drain_eventfd(p->quota_fd);
	say(p, R14);
}

static void watch(struct lcd_proc *p, int which, uv_poll_t *h, int fd, uv_poll_cb cb)
{
	if (fd < 0 || uv_poll_init(p->d->base.conf.loop, h, fd) < 0)
		return;
	h->data = p;
	p->watched[which] = true;
	p->open_handles++;
	uv_poll_start(h, UV_READABLE, cb);
}

/* The user's terminal hung up: SIGHUP to the init, which passes it to the command's group. */
static void hung_up(void *data)
{
	struct lcd_proc *p = data;
	cm_err err;
	if (!p->ended && lc_container_kill(p->c, SIGHUP, false, &err) < 0)
		lcd_log(p->d, "%s: %s", p->name, err.msg);
}

/* A dyno whose terminal cannot be relayed would run deaf and mute: it is told why and killed. */
static void start_relay(struct lcd_proc *p)
{
	cm_err err;
	int master = cm_steal_fd(p->console_fd);
	if (lcd_term_start(p->d->base.conf.loop, p->tty_in, p->tty_out, master, hung_up, p,
	                   &p->term, &err) == 0)
		return;
	char line[sizeof(err.msg) + 64];
	snprintf(line, sizeof(line), "%s: %s\n", p->name, err.msg);
	say(p, line);
	if (lc_container_kill(p->c, SIGKILL, false, &err) < 0)
		lcd_log(p->d, "%s: %s", p->name, err.msg);
}

static void start_done(uv_work_t *w, int status)
{
	struct lcd_proc *p = w->data;
	if (status < 0 && p->rc == 0)
		p->rc = cm_err_errno(&p->err, -status, "start cancelled");
	if (p->terminal) { /* kept for the relay */
		p->tty_in = cm_steal_fd(p->stdio[0]);
		p->tty_out = cm_steal_fd(p->stdio[1]);
	}
	for (int i = 0; i < 3; i++) { /* the container has its own copies now */
		if (p->stdio[i] >= 0)
			close(p->stdio[i]);
		p->stdio[i] = -1;
	}
	if (p->rc < 0) {
		p->cbs.started(&p->base, &p->err, p->data);
		return;
	}
	p->base.pid = lc_container_pid(p->c);
	char addr[AL_ADDR_LEN];
	snprintf(p->base.ip, sizeof(p->base.ip), "%s", al_addr_str(p->sn.host, addr));
	watch(p, 0, &p->exit_poll, p->pidfd, on_exit_poll);
	watch(p, 1, &p->oom_poll, p->oom_fd, on_oom);
	watch(p, 2, &p->quota_poll, p->quota_fd, on_quota);
	if (p->console_fd >= 0)
		start_relay(p);
	p->cbs.started(&p->base, NULL, p->data);
}

/* The init's status is the command's: 128+N when signal N killed it. */
static void exit_status(struct lcd_proc *p, int code)
{
	p->how.status.code = code;
	p->how.status.signal = code > 128 && code < 128 + 65 ? code - 128 : 0;
	p->how.oom = p->oom_killed;
}

static void on_exit_poll(uv_poll_t *h, int status, int events)
{
	struct lcd_proc *p = h->data;
	cm_err err;
	int code = 0;
	(void)status, (void)events;
	if (lc_container_reap(p->c, &code, &err) == 0)
		return;
	uv_poll_stop(h);
	if (p->watched[1])
		uv_poll_stop(&p->oom_poll);
	if (p->watched[2])
		uv_poll_stop(&p->quota_poll);
	exit_status(p, code);
	lcd_term_end(p->term);
	p->term = NULL;
	if (p->log_fd >= 0) /* the log pipe's last writer: the dyno's output ends here */
		close(p->log_fd);
	p->log_fd = -1;
	p->ended = true;
	p->cbs.exited(&p->base, &p->how, p->data);
}

/* The kernel's cgroup migration lock, taken on another worker while this dyno's network and
 * /app are made (lc_cgroup_warm): its container's move into its cgroups then does not wait for
 * an RCU grace period. One at a time; static, since it may outlive the driver. */
static uv_work_t warm_req;
static bool warming;

static void warm_work(uv_work_t *w)
{
	(void)w;
	lc_cgroup_warm();
}

static void warm_done(uv_work_t *w, int status)
{
	(void)w, (void)status;
	warming = false;
}

static void warm_cgroup_lock(uv_loop_t *loop)
{
	if (!warming && uv_queue_work(loop, &warm_req, warm_work, warm_done) == 0)
		warming = true;
}

int lcd_start(struct hs_driver *base, const struct hs_dyno_spec *spec,
              const struct hs_dyno_cbs *cbs, void *data, struct hs_dyno_proc **out, cm_err *err)
{
	struct lcd_driver *d = (struct lcd_driver *)base;
	if (!spec->build)
		return cm_err_set(err, EINVAL, "%s: the release was not built", spec->name);
	struct lcd_proc *p = xcalloc(1, sizeof(*p));
	p->base.driver = base;
	p->d = d;
	p->cbs = *cbs;
	p->data = data;
	p->build = (struct lcd_build *)hs_build_ref(spec->build);
	p->name = xstrdup(spec->name);
	p->args = cm_strv_dup(spec->args);
	p->env = cm_strv_dup(spec->env);
	p->memory_quota = spec->memory_quota;
	p->memory_limit = spec->memory_limit;
	p->cpu_shares = spec->cpu_shares;
	p->pids_limit = spec->pids_limit;
	p->grace = (int)(base->conf.stop_timeout + 0.999);
	p->pidfd = p->oom_fd = p->quota_fd = p->console_fd = p->tty_in = p->tty_out = -1;
	p->terminal = spec->foreground && isatty(spec->stdio[0]) && isatty(spec->stdio[1]);
	if (p->terminal)
		cm_tty_size(spec->stdio[0], &p->rows, &p->cols);
	/* the caller closes its fds once this returns: the work and the R14/R15 lines need ours */
	for (int i = 0; i < 3; i++)
		p->stdio[i] = spec->stdio[i] >= 0 ? fcntl(spec->stdio[i], F_DUPFD_CLOEXEC, 3) : -1;
	p->log_fd = spec->stdio[2] >= 0 ? fcntl(spec->stdio[2], F_DUPFD_CLOEXEC, 3) : -1;
	p->work.data = p;
	uv_queue_work(base->conf.loop, &p->work, start_work, start_done);
	warm_cgroup_lock(base->conf.loop);
	*out = &p->base;
	return 1;
}

int lcd_signal(struct hs_dyno_proc *base, int sig, cm_err *err)
{
	struct lcd_proc *p = (struct lcd_proc *)base;
	if (!p->c || p->ended)
		return 0;
	/* the init forwards it to the command; SIGKILL of the init ends the pid namespace, and
	 * with it every process in it: no fork escapes that */
	return lc_container_kill(p->c, sig, false, err);
}

static void on_closed(uv_handle_t *h)
{
	struct lcd_proc *p = h->data;
	if (--p->open_handles == 0)
		proc_free(p);
}

static void teardown_done(uv_work_t *w, int status)
{
	struct lcd_proc *p = w->data;
	(void)status;
	if (--p->open_handles == 0)
		proc_free(p);
}

void lcd_release(struct hs_dyno_proc *base)
{
	struct lcd_proc *p = (struct lcd_proc *)base;
	p->open_handles++; /* the release itself, until everything below is done */
	lcd_term_end(p->term);
	p->term = NULL;
	uv_poll_t *polls[] = {&p->exit_poll, &p->oom_poll, &p->quota_poll};
	for (size_t i = 0; i < CM_ARRAY_SIZE(polls); i++)
		if (p->watched[i])
			uv_close((uv_handle_t *)polls[i], on_closed);
	if (p->c) { /* started: the container and all it had go, off the loop */
		p->work.data = p;
		uv_queue_work(p->d->base.conf.loop, &p->work, teardown_work, teardown_done);
		return;
	}
	teardown_done(&p->work, 0);
}

/* ---- what a dead hsup left ---- */

void lcd_reclaim(struct lcd_driver *d, const struct al_reservation *r)
{
	const char *id = al_field(r, "container"), *dir = al_field(r, "dir");
	const char *veth = al_field(r, "veth"), *netns = al_field(r, "netns");
	cm_err err;
	struct lc_container *c = NULL;
	if (id && lc_container_load(d->factory, id, &c, &err) == 0) {
		if (lc_container_delete(c, true, &err) < 0)
			lcd_log(d, "container %s: %s", id, err.msg);
		lc_container_free(c);
	}
	if (dir && lcd_unprepare(dir, &err) < 0)
		lcd_log(d, "%s", err.msg);
	if (veth && hs_net_dyno_destroy(veth, netns, &err) < 0)
		lcd_log(d, "%s", err.msg);
}
