/* The simple driver: a dyno is `bash -c "<command>"` on the host, leading its own process
 * group. Its exit is seen through a pidfd polled on the loop; the dyno ends when its main
 * process has exited and no process of its group is left (stragglers get SIGTERM, then SIGKILL
 * after the stop timeout). */
#define _GNU_SOURCE
#include "drivers/driver.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "common/xalloc.h"
#include "hsupd/logs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define DRAIN_POLL_MS 10
#define GIVE_UP_MS    5000

struct simple_driver {
	struct hs_driver base;
	char *bash;
};

struct simple_proc {
	struct hs_dyno_proc base;
	int pidfd;
	int tty; /* the terminal handed to the dyno, or -1 */
	bool reaped;
	struct hs_exit how;
	uint64_t kill_at;    /* loop time at which stragglers get SIGKILL */
	uint64_t give_up_at; /* loop time after which what resists SIGKILL is forgotten */
	hs_driver_exit_cb cb;
	void *data;
	uv_poll_t poll;
	uv_timer_t drain;
	int open_handles;
};

static int simple_create(const struct hs_driver_conf *conf, struct hs_driver **out, cm_err *err)
{
	char *bash = cm_find_program("bash", getenv("PATH"));
	if (!bash)
		bash = cm_find_program("bash", "/usr/local/bin:/usr/bin:/bin");
	if (!bash)
		return cm_err_set(err, ENOENT, "simple driver: bash not found in PATH");
	struct simple_driver *d = xcalloc(1, sizeof(*d));
	d->base.ops = &hs_driver_simple;
	d->base.conf = *conf;
	d->bash = bash;
	*out = &d->base;
	return 0;
}

static void simple_destroy(struct hs_driver *base)
{
	struct simple_driver *d = (struct simple_driver *)base;
	free(d->bash);
	free(d);
}

static int simple_build(struct hs_driver *d, const struct hs_release *r, cm_err *err)
{
	(void)d, (void)r, (void)err;
	return 0; /* the host already has everything a simple dyno runs */
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

static bool group_alive(pid_t pgid)
{
	return kill(-pgid, 0) == 0 || errno == EPERM;
}

static void finish(struct simple_proc *p)
{
	uv_timer_stop(&p->drain);
	p->cb(&p->base, &p->how, p->data);
}

static void on_drain_tick(uv_timer_t *t)
{
	struct simple_proc *p = t->data;
	uint64_t now = uv_now(t->loop);
	if (!group_alive(p->base.pid))
		return finish(p);
	if (p->kill_at && now >= p->kill_at) {
		kill(-p->base.pid, SIGKILL);
		p->kill_at = 0;
		p->give_up_at = now + GIVE_UP_MS;
	} else if (p->give_up_at && now >= p->give_up_at) {
		/* Only zombies nobody reaps can outlive SIGKILL (hsup as PID 1 without an init). */
		hs_log_system("process group %d outlived SIGKILL; treating the dyno as ended",
		              (int)p->base.pid);
		finish(p);
	}
}

static void on_pidfd(uv_poll_t *h, int status, int events)
{
	struct simple_proc *p = h->data;
	cm_err err;
	(void)events;
	int r = status < 0 ? -1 : cm_pidfd_reap(p->pidfd, &p->how.status, &err);
	if (r == 0)
		return;
	if (r < 0)
		p->how.status = (struct cm_exit){.code = 255};
	uv_poll_stop(h);
	p->reaped = true;
	if (p->tty >= 0)
		reclaim_tty(p->tty);
	if (!group_alive(p->base.pid))
		return finish(p);
	/* The main process is gone but others of its group are not: stop them too. */
	kill(-p->base.pid, SIGTERM);
	uint64_t grace = (uint64_t)(p->base.driver->conf.stop_timeout * 1000);
	p->kill_at = uv_now(h->loop) + (grace ? grace : 1);
	uv_timer_start(&p->drain, on_drain_tick, DRAIN_POLL_MS, DRAIN_POLL_MS);
}

static int simple_spawn(struct simple_driver *d, const struct hs_dyno_spec *spec,
                        struct simple_proc *p, cm_err *err)
{
	_cleanup_free_ char *cmd = cm_strv_join(spec->args, " ");
	char *argv[] = {"bash", "-c", cmd, NULL};
	struct cm_spawn_opts o = {
	    .path = d->bash,
	    .argv = argv,
	    .envp = spec->env,
	    .stdio = {spec->stdio[0], spec->stdio[1], spec->stdio[2]},
	    .new_pgroup = true,
	    .foreground_tty = spec->foreground ? spec->stdio[0] : -1,
	    .nofile = d->base.conf.child_nofile,
	};
	return cm_spawn(&o, &p->base.pid, &p->pidfd, err);
}

static int simple_start(struct hs_driver *base, const struct hs_dyno_spec *spec,
                        hs_driver_exit_cb cb, void *data, struct hs_dyno_proc **out, cm_err *err)
{
	struct simple_driver *d = (struct simple_driver *)base;
	struct simple_proc *p = xcalloc(1, sizeof(*p));
	p->base.driver = base;
	p->cb = cb;
	p->data = data;
	p->tty = spec->foreground ? spec->stdio[0] : -1;
	snprintf(p->base.ip, sizeof(p->base.ip), "127.0.0.1");
	if (simple_spawn(d, spec, p, err) < 0) {
		free(p);
		return -1;
	}
	int rc = uv_poll_init(base->conf.loop, &p->poll, p->pidfd);
	if (rc < 0) {
		kill(-p->base.pid, SIGKILL);
		struct cm_exit ignored;
		while (cm_pidfd_reap(p->pidfd, &ignored, err) == 0)
			usleep(1000);
		close(p->pidfd);
		free(p);
		return cm_err_errno(err, -rc, "%s: watch its pidfd", spec->name);
	}
	uv_timer_init(base->conf.loop, &p->drain);
	p->poll.data = p->drain.data = p;
	p->open_handles = 2;
	uv_poll_start(&p->poll, UV_READABLE, on_pidfd);
	*out = &p->base;
	return 0;
}

static int simple_signal(struct hs_dyno_proc *base, int sig, cm_err *err)
{
	struct simple_proc *p = (struct simple_proc *)base;
	if (kill(-base->pid, sig) == 0 || errno == ESRCH)
		return 0;
	if (!p->reaped && kill(base->pid, sig) == 0)
		return 0;
	return cm_err_sys(err, "signal %d to process group %d", sig, (int)base->pid);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct simple_proc *p = h->data;
	if (--p->open_handles > 0)
		return;
	close(p->pidfd);
	free(p);
}

static void simple_release(struct hs_dyno_proc *base)
{
	struct simple_proc *p = (struct simple_proc *)base;
	uv_close((uv_handle_t *)&p->poll, on_handle_closed);
	uv_close((uv_handle_t *)&p->drain, on_handle_closed);
}

const struct hs_driver_ops hs_driver_simple = {
    .name = "simple",
    .create = simple_create,
    .destroy = simple_destroy,
    .build = simple_build,
    .start = simple_start,
    .signal = simple_signal,
    .release = simple_release,
};
