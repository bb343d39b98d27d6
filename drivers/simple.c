/* The simple driver: a dyno is `bash -c "<command>"` on the host, leading its own process group,
 * in a cgroup of its own where hsup can make one (drivers/dyno_group.c). Its main process's exit
 * is seen through a pidfd polled on the loop; the dyno ends when that process has exited and no
 * other process of the dyno is left (those get SIGTERM, then SIGKILL after the stop timeout).
 * A cgroup v2 says through cgroup.events when it empties; v1 and process groups are checked on
 * a short timer while waiting for stragglers. */
#define _GNU_SOURCE
#include "drivers/driver.h"
#include "drivers/dyno_group.h"
#include "drivers/simple_int.h"
#include "common/cleanup.h"
#include "common/proc.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#define DRAIN_POLL_MS 10
#define GIVE_UP_MS    5000

struct simple_proc {
	struct hs_dyno_proc base;
	struct hs_dg group;
	int pidfd; /* the main process, or -1 (adopted after it was gone) */
	int tty;   /* the terminal handed to the dyno, or -1 */
	bool ours; /* our child: reaped by us, its status known */
	bool leader_done;
	struct hs_exit how;
	uint64_t kill_at;    /* loop time at which stragglers get SIGKILL; 0: not ours to do */
	uint64_t give_up_at; /* loop time after which what resists SIGKILL is forgotten */
	hs_driver_exit_cb cb;
	void *data;
	uv_poll_t poll, events;
	uv_timer_t drain;
	bool watching_events, finished;
	int open_handles;
};

int hs_simple_init(struct simple_driver *d, const struct hs_driver_conf *conf,
                   const struct hs_driver_ops *ops, cm_err *err)
{
	d->init_fd = -1;
	d->slugs.fd = -1;
	d->bash = cm_find_program("bash", getenv("PATH"));
	if (!d->bash)
		d->bash = cm_find_program("bash", "/usr/local/bin:/usr/bin:/bin");
	if (!d->bash)
		return cm_err_set(err, ENOENT, "%s driver: bash not found in PATH", ops->name);
	char why[1024];
	if (hs_dg_root_init(&d->root, conf->tracking ? conf->tracking : "auto", why, sizeof(why),
	                    err) < 0)
		return cm_err_wrap(err, "%s driver", ops->name);
	if (why[0] && conf->log)
		conf->log(
		    "dynos are tracked by process group: %s; a process that leaves its dyno's "
		    "process group is not stopped with it",
		    why);
	d->base.ops = ops;
	d->base.conf = *conf;
	return 0;
}

void hs_simple_fini(struct simple_driver *d)
{
	hs_slugstore_close(&d->slugs);
	hs_dg_root_free(&d->root);
	free(d->bash);
}

static int simple_create(const struct hs_driver_conf *conf, struct hs_driver **out, cm_err *err)
{
	struct simple_driver *d = xcalloc(1, sizeof(*d));
	if (hs_simple_init(d, conf, &hs_driver_simple, err) < 0) {
		hs_simple_fini(d);
		free(d);
		return -1;
	}
	*out = &d->base;
	return 0;
}

static void simple_destroy(struct hs_driver *base)
{
	struct simple_driver *d = (struct simple_driver *)base;
	hs_simple_fini(d);
	free(d);
}

static int open_slugs(struct simple_driver *d, cm_err *err)
{
	const char *data = d->base.conf.data_dir;
	if (d->slugs.fd >= 0)
		return 0;
	if (mkdir(data, 0755) < 0 && errno != EEXIST)
		return cm_err_sys(err, "make %s", data);
	_cleanup_free_ char *dir = xasprintf("%s/slugs", data);
	return hs_slugstore_open(&d->slugs, dir, err);
}

int hs_simple_slug_build(struct simple_driver *d, const char *slug, struct hs_slug_build **out,
                         cm_err *err)
{
	if (open_slugs(d, err) < 0)
		return -1;
	struct hs_slug_build *b = xcalloc(1, sizeof(*b));
	b->base.refs = 1;
	b->base.driver = &d->base;
	if (hs_slugstore_take(&d->slugs, slug, &b->tree, err) < 0) {
		free(b);
		return -1;
	}
	hs_slugstore_collect(&d->slugs, d->base.conf.log);
	*out = b;
	return 0;
}

void hs_simple_free_build(struct hs_build *base)
{
	struct hs_slug_build *b = (struct hs_slug_build *)base;
	hs_slugstore_release(&b->tree);
	free(b);
}

/* A release without a slug runs its commands where hsup was started; one with a slug, in the
 * slug's unpacked tree. */
static int simple_build(struct hs_driver *base, const struct hs_release_info *r,
                        const volatile bool *cancel, struct hs_build **out, cm_err *err)
{
	(void)cancel;
	*out = NULL;
	if (!*r->slug)
		return 0;
	struct hs_slug_build *b;
	if (hs_simple_slug_build((struct simple_driver *)base, r->slug, &b, err) < 0)
		return -1;
	*out = &b->base;
	return 0;
}

/* hsup takes the terminal back once the dyno that held it is gone. */
static void reclaim_tty(int tty)
{
	sigset_t ttou, old;
	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	pthread_sigmask(SIG_BLOCK, &ttou, &old);
	tcsetpgrp(tty, getpgrp());
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void finish(struct simple_proc *p)
{
	if (p->finished)
		return;
	p->finished = true;
	uv_timer_stop(&p->drain);
	if (p->watching_events)
		uv_poll_stop(&p->events);
	p->cb(&p->base, &p->how, p->data);
}

static void arm_drain(struct simple_proc *p);

static void on_drain(uv_timer_t *t)
{
	struct simple_proc *p = t->data;
	uint64_t now = uv_now(t->loop);
	cm_err err;
	if (!hs_dg_alive(&p->group))
		return finish(p);
	if (p->kill_at && now >= p->kill_at) {
		hs_dg_signal(&p->group, SIGKILL, &err);
		p->kill_at = 0;
		p->give_up_at = now + GIVE_UP_MS;
	} else if (p->give_up_at && now >= p->give_up_at) {
		/* Only zombies nobody reaps, or a process stuck in the kernel, outlive SIGKILL. */
		if (p->base.driver->conf.log)
			p->base.driver->conf.log("processes of a dyno (pid %d) outlived SIGKILL; "
			                         "treating the dyno as ended",
			                         (int)p->base.pid);
		return finish(p);
	}
	arm_drain(p);
}

/* v2 says when the group empties: the timer is only for the deadlines. Otherwise, check. */
static void arm_drain(struct simple_proc *p)
{
	uint64_t now = uv_now(p->drain.loop), due = p->kill_at ? p->kill_at : p->give_up_at;
	uint64_t ms = DRAIN_POLL_MS;
	if (p->watching_events)
		ms = due > now ? due - now : (due ? 0 : GIVE_UP_MS);
	uv_timer_start(&p->drain, on_drain, ms, 0);
}

static void on_events(uv_poll_t *h, int status, int events)
{
	struct simple_proc *p = h->data;
	(void)status, (void)events;
	if (!hs_dg_alive(&p->group))
		finish(p);
}

/* The main process is gone; wait for the rest of the dyno (with_deadline: SIGTERM them and
 * SIGKILL at the stop timeout; else the executor's own stop does that). Never finishes before
 * returning: the first check runs on the loop. */
static void wait_for_rest(struct simple_proc *p, bool with_deadline)
{
	cm_err err;
	if (with_deadline) {
		hs_dg_signal(&p->group, SIGTERM, &err);
		uint64_t grace = (uint64_t)(p->base.driver->conf.stop_timeout * 1000);
		p->kill_at = uv_now(p->drain.loop) + (grace ? grace : 1);
	}
	int efd = hs_dg_events_fd(&p->group);
	if (efd >= 0 && uv_poll_init(p->drain.loop, &p->events, efd) == 0) {
		p->events.data = p;
		p->open_handles++;
		p->watching_events = true;
		uv_poll_start(&p->events, UV_PRIORITIZED, on_events);
	}
	arm_drain(p);
}

static void on_pidfd(uv_poll_t *h, int status, int events)
{
	struct simple_proc *p = h->data;
	cm_err err;
	(void)events;
	if (p->ours) {
		int r = status < 0 ? -1 : cm_pidfd_reap(p->pidfd, &p->how.status, &err);
		if (r == 0)
			return;
		if (r < 0)
			p->how.status = (struct cm_exit){.code = 255};
	}
	uv_poll_stop(h);
	p->leader_done = true;
	p->group.leader_gone = true;
	if (p->tty >= 0)
		reclaim_tty(p->tty);
	if (!hs_dg_alive(&p->group))
		return finish(p);
	wait_for_rest(p, p->ours);
}

/* abspath: the dyno init runs the command in the app's directory, after the profile scripts. */
static char **init_argv(const struct simple_driver *d, const struct hs_dyno_spec *spec)
{
	char **v = NULL;
	size_t n = 0;
	cm_strv_push(&v, &n, xstrdup("dyno-init"));
	cm_strv_push(&v, &n, xstrdup("--grace"));
	cm_strv_push(&v, &n, xasprintf("%d", (int)(d->base.conf.stop_timeout + 0.999)));
	cm_strv_push(&v, &n, xstrdup("--app"));
	cm_strv_push(&v, &n, xstrdup(d->app_path));
	cm_strv_push(&v, &n, xstrdup("--"));
	for (size_t i = 0; spec->args[i]; i++)
		cm_strv_push(&v, &n, xstrdup(spec->args[i]));
	return v;
}

static int simple_spawn(struct simple_driver *d, const struct hs_dyno_spec *spec,
                        struct simple_proc *p, cm_err *err)
{
	_cleanup_free_ char *cmd = cm_strv_join(spec->args, " ");
	char *bash_argv[] = {"bash", "-c", cmd, NULL};
	_cleanup_strv_ char **argv = d->init_fd >= 0 ? init_argv(d, spec) : NULL;
	char init_path[32];
	snprintf(init_path, sizeof(init_path), "/proc/self/fd/%d", d->init_fd);
	struct cm_spawn_cgroup cg;
	struct cm_spawn_opts o = {
	    .path = d->init_fd >= 0 ? init_path : d->bash,
	    .argv = argv ? argv : bash_argv,
	    .envp = spec->env,
	    .cwd = d->init_fd < 0 && spec->build ? ((struct hs_slug_build *)spec->build)->tree.path
	                                         : NULL,
	    .stdio = {spec->stdio[0], spec->stdio[1], spec->stdio[2]},
	    .new_pgroup = true,
	    .foreground_tty = spec->foreground ? spec->stdio[0] : -1,
	    .nofile = d->base.conf.child_nofile,
	    .cgroup = hs_dg_spawn_cgroup(&p->group, &cg),
	};
	if (cm_spawn(&o, &p->base.pid, &p->pidfd, err) < 0)
		return -1;
	hs_dg_started(&p->group, p->base.pid);
	return 0;
}

static struct simple_proc *proc_new(struct hs_driver *base, hs_driver_exit_cb cb, void *data)
{
	struct simple_proc *p = xcalloc(1, sizeof(*p));
	p->base.driver = base;
	p->cb = cb;
	p->data = data;
	p->pidfd = p->tty = -1;
	snprintf(p->base.ip, sizeof(p->base.ip), "127.0.0.1");
	return p;
}

/* Starts watching: the main process through its pidfd, if there is one, else the rest. */
static void proc_watch(struct simple_proc *p)
{
	uv_loop_t *loop = p->base.driver->conf.loop;
	uv_timer_init(loop, &p->drain);
	p->drain.data = p;
	p->open_handles = 1;
	if (p->pidfd >= 0) {
		uv_poll_init(loop, &p->poll, p->pidfd);
		p->poll.data = p;
		p->open_handles++;
		uv_poll_start(&p->poll, UV_READABLE, on_pidfd);
	} else {
		p->leader_done = true;
		wait_for_rest(p, false);
	}
}

static void proc_free(struct simple_proc *p)
{
	if (p->pidfd >= 0)
		close(p->pidfd);
	hs_dg_destroy(&p->group);
	free(p);
}

/* A host process starts at once: the dyno runs when this returns 0. */
int hs_simple_start(struct hs_driver *base, const struct hs_dyno_spec *spec,
                    const struct hs_dyno_cbs *cbs, void *data, struct hs_dyno_proc **out,
                    cm_err *err)
{
	struct simple_driver *d = (struct simple_driver *)base;
	struct simple_proc *p = proc_new(base, cbs->exited, data);
	p->ours = true;
	p->tty = spec->foreground ? spec->stdio[0] : -1;
	if (hs_dg_create(&d->root, spec->name, &p->group, err) < 0) {
		free(p);
		return cm_err_wrap(err, "%s", spec->name);
	}
	if (simple_spawn(d, spec, p, err) < 0) {
		proc_free(p);
		return -1;
	}
	proc_watch(p);
	*out = &p->base;
	return 0;
}

int hs_simple_signal(struct hs_dyno_proc *base, int sig, cm_err *err)
{
	struct simple_proc *p = (struct simple_proc *)base;
	if (sig == SIGKILL && p->leader_done && !p->give_up_at && !p->finished) {
		p->give_up_at = uv_now(p->drain.loop) + GIVE_UP_MS;
		arm_drain(p);
	}
	if (hs_dg_signal(&p->group, sig, err) == 0)
		return 0;
	/* the main process, at least, if it still runs */
	if (!p->leader_done && p->pidfd >= 0 &&
	    syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) == 0)
		return 0;
	return -1;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct simple_proc *p = h->data;
	if (--p->open_handles == 0)
		proc_free(p);
}

void hs_simple_release(struct hs_dyno_proc *base)
{
	struct simple_proc *p = (struct simple_proc *)base;
	if (p->pidfd >= 0)
		uv_close((uv_handle_t *)&p->poll, on_handle_closed);
	if (p->watching_events)
		uv_close((uv_handle_t *)&p->events, on_handle_closed);
	uv_close((uv_handle_t *)&p->drain, on_handle_closed);
}

json_t *hs_simple_record(struct hs_dyno_proc *base)
{
	return hs_dg_record(&((struct simple_proc *)base)->group);
}

/* The main process of an adopted dyno, if it still runs: a pidfd checked after it is opened,
 * so a reused pid is never taken for it. */
static int open_leader(struct simple_proc *p)
{
	struct hs_dg *g = &p->group;
	if (g->leader_gone)
		return -1;
	int fd = (int)syscall(SYS_pidfd_open, g->pgid, 0);
	if (fd >= 0 && !cm_proc_alive(g->pgid, g->start_time)) {
		close(fd);
		return -1;
	}
	return fd;
}

int hs_simple_adopt(struct hs_driver *base, json_t *record, hs_driver_exit_cb cb, void *data,
                    struct hs_dyno_proc **out, cm_err *err)
{
	struct simple_proc *p = proc_new(base, cb, data);
	int r = hs_dg_from_record(record, &p->group, err);
	if (r <= 0) {
		free(p);
		return r;
	}
	p->how.status_unknown = true;
	p->pidfd = open_leader(p);
	p->group.leader_gone = p->pidfd < 0;
	p->base.pid = p->pidfd >= 0 ? p->group.pgid : 0;
	proc_watch(p);
	*out = &p->base;
	return 1;
}

const struct hs_driver_ops hs_driver_simple = {
    .name = "simple",
    .create = simple_create,
    .destroy = simple_destroy,
    .build = simple_build,
    .free_build = hs_simple_free_build,
    .start = hs_simple_start,
    .signal = hs_simple_signal,
    .release = hs_simple_release,
    .record = hs_simple_record,
    .adopt = hs_simple_adopt,
};
