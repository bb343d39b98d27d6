/* Operations on a container that exists: processes, pause/resume, stats, update, OOM. */
#define _GNU_SOURCE
#include "libcontainer/container.h"
#include "libcontainer/container_int.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

int lc_container_processes(struct lc_container *c, pid_t **pids, size_t *n, cm_err *err)
{
	return lc_cgroup_pids(&c->state.cgroup, pids, n, err);
}

int lc_container_pause(struct lc_container *c, cm_err *err)
{
	enum lc_status st = lc_container_status(c);
	if (st != LC_RUNNING && st != LC_CREATED)
		return cm_err_set(err, EINVAL, "container %s is %s", c->state.id,
		                  lc_status_name(st));
	return lc_cgroup_freeze(&c->state.cgroup, true, err);
}

int lc_container_resume(struct lc_container *c, cm_err *err)
{
	if (lc_container_status(c) != LC_PAUSED)
		return cm_err_set(err, EINVAL, "container %s is not paused", c->state.id);
	return lc_cgroup_freeze(&c->state.cgroup, false, err);
}

/* /proc/PID/net/dev shows the interfaces of PID's network namespace. */
static int net_stats(pid_t pid, struct lc_stats *st, cm_err *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/net/dev", (int)pid);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	if (!f)
		return cm_err_sys(err, "open %s", path);
	char line[512];
	for (int i = 0; fgets(line, sizeof(line), f); i++) {
		char *colon = strchr(line, ':');
		if (i < 2 || !colon || st->n_net >= CM_ARRAY_SIZE(st->net))
			continue;
		*colon = '\0';
		struct lc_net_stats *n = &st->net[st->n_net];
		char *name = line + strspn(line, " ");
		snprintf(n->name, sizeof(n->name), "%s", name);
		unsigned long long v[16] = {0};
		if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
		           &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9],
		           &v[10], &v[11]) < 12)
			continue;
		n->rx_bytes = v[0], n->rx_packets = v[1], n->rx_errors = v[2], n->rx_dropped = v[3];
		n->tx_bytes = v[8], n->tx_packets = v[9], n->tx_errors = v[10],
		n->tx_dropped = v[11];
		st->n_net++;
	}
	return 0;
}

int lc_container_stats(struct lc_container *c, struct lc_stats *st, cm_err *err)
{
	memset(st, 0, sizeof(*st));
	if (lc_cgroup_stats(&c->state.cgroup, &st->cg, err) < 0)
		return -1;
	if (lc_container_status(c) != LC_STOPPED && net_stats(c->state.pid, st, err) < 0)
		return -1;
	return 0;
}

static void merge(int64_t *dst, int64_t v)
{
	if (v != LC_UNSET)
		*dst = v;
}

int lc_container_update(struct lc_container *c, const struct lc_resources *r, cm_err *err)
{
	if (lc_container_load_config(c, err) < 0)
		return -1;
	if (lc_cgroup_update(&c->state.cgroup, r, err) < 0)
		return cm_err_wrap(err, "update container %s", c->state.id);
	struct lc_resources *cur = &c->cfg->resources;
	merge(&cur->memory_limit, r->memory_limit);
	merge(&cur->memory_reservation, r->memory_reservation);
	merge(&cur->memory_swap, r->memory_swap);
	merge(&cur->cpu_shares, r->cpu_shares);
	merge(&cur->cpu_quota, r->cpu_quota);
	merge(&cur->cpu_period, r->cpu_period);
	merge(&cur->pids_limit, r->pids_limit);
	merge(&cur->blkio_weight, r->blkio_weight);
	if (r->cpu_cpus) {
		free(cur->cpu_cpus);
		cur->cpu_cpus = xstrdup(r->cpu_cpus);
	}
	if (r->cpu_mems) {
		free(cur->cpu_mems);
		cur->cpu_mems = xstrdup(r->cpu_mems);
	}
	_cleanup_free_ char *text = lc_config_to_json(c->cfg);
	return cm_write_file_replace_at(c->dirfd, "config.json", text, strlen(text), 0600, err);
}

int lc_container_oom_fd(struct lc_container *c, int *fd, cm_err *err)
{
	int version;
	return lc_cgroup_oom_fd(&c->state.cgroup, fd, &version, err);
}

int lc_container_threshold_fd(struct lc_container *c, uint64_t bytes, int *fd, cm_err *err)
{
	return lc_cgroup_threshold_fd(&c->state.cgroup, bytes, fd, err);
}
