/* The limits engines send beyond the basics: the memory controller's kernel limits,
 * swappiness and OOM killer (v1 only: v2 has no such files, so they are refused there), blockIO
 * per-device weights and throttles (v1 blkio, v2 io), and resources.unified (v2 files, refused
 * on v1). Each error names the config field. */
#define _GNU_SOURCE
#include "libcontainer/cgroups.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define RES "linux.resources."

static int write_field(const struct lc_cgroup *cg, const char *ctrl, const char *file,
                       const char *value, const char *field, cm_err *err)
{
	const char *dir = lc_cgroup_dir(cg, ctrl);
	if (!dir)
		return cm_err_set(err, ENOTSUP, "field %s: the %s controller is not available",
		                  field, ctrl);
	if (lc_cg_write(dir, file, value, err) < 0)
		return cm_err_wrap(err, "field %s", field);
	return 0;
}

static int write_num(const struct lc_cgroup *cg, const char *file, int64_t v, const char *field,
                     cm_err *err)
{
	char buf[32];
	if (v == LC_UNSET)
		return 0;
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	return write_field(cg, "memory", file, buf, field, err);
}

static int memory_v1(const struct lc_cgroup *cg, const struct lc_resources *r, cm_err *err)
{
	return write_num(cg, "memory.kmem.limit_in_bytes", r->memory_kernel, RES "memory.kernel",
	                 err) ?:
	       write_num(cg, "memory.kmem.tcp.limit_in_bytes", r->memory_kernel_tcp,
	                 RES "memory.kernelTCP", err) ?:
	       write_num(cg, "memory.swappiness", r->memory_swappiness, RES "memory.swappiness",
	                 err) ?:
	       write_num(cg, "memory.oom_control",
	                 r->disable_oom_killer < 0 ? LC_UNSET : r->disable_oom_killer,
	                 RES "memory.disableOOMKiller", err);
}

static int refuse_v2(const char *field, bool given, cm_err *err)
{
	return given ? cm_err_set(err, ENOTSUP, "field %s: cgroup v2 has no such limit", field) : 0;
}

static int memory_v2(const struct lc_resources *r, cm_err *err)
{
	return refuse_v2(RES "memory.kernel", r->memory_kernel != LC_UNSET, err) ?:
	       refuse_v2(RES "memory.kernelTCP", r->memory_kernel_tcp != LC_UNSET, err) ?:
	       refuse_v2(RES "memory.swappiness", r->memory_swappiness != LC_UNSET, err) ?:
	       refuse_v2(RES "memory.disableOOMKiller", r->disable_oom_killer == 1, err);
}

static const char *const v1_throttle[LC_THROTTLE_N] = {
    "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
    "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device"};
static const char *const v2_throttle[LC_THROTTLE_N] = {"rbps", "wbps", "riops", "wiops"};
static const char *const throttle_field[LC_THROTTLE_N] = {
    RES "blockIO.throttleReadBpsDevice", RES "blockIO.throttleWriteBpsDevice",
    RES "blockIO.throttleReadIOPSDevice", RES "blockIO.throttleWriteIOPSDevice"};

/* One "MAJ:MIN VALUE" line per device: v1 files and v2's io.weight take them so, io.max as
 * "MAJ:MIN rbps=VALUE". */
static int block_io(const struct lc_cgroup *cg, const struct lc_resources *r, cm_err *err)
{
	bool v2 = cg->version == 2;
	const char *ctrl = v2 ? "unified" : "blkio";
	for (size_t i = 0; i < r->n_blkio_weight_devices; i++) {
		const struct lc_blkio_device *d = &r->blkio_weight_devices[i];
		_cleanup_free_ char *line =
		    xasprintf("%" PRId64 ":%" PRId64 " %" PRId64, d->major, d->minor, d->weight);
		_cleanup_free_ char *field = xasprintf(RES "blockIO.weightDevice[%zu]", i);
		if (write_field(cg, ctrl, v2 ? "io.weight" : "blkio.weight_device", line, field,
		                err) < 0)
			return -1;
	}
	for (int t = 0; t < LC_THROTTLE_N; t++)
		for (size_t i = 0; i < r->n_blkio_throttle[t]; i++) {
			const struct lc_blkio_device *d = &r->blkio_throttle[t][i];
			_cleanup_free_ char *line =
			    v2 ? xasprintf("%" PRId64 ":%" PRId64 " %s=%" PRIu64, d->major,
			                   d->minor, v2_throttle[t], d->rate)
			       : xasprintf("%" PRId64 ":%" PRId64 " %" PRIu64, d->major, d->minor,
			                   d->rate);
			_cleanup_free_ char *field = xasprintf("%s[%zu]", throttle_field[t], i);
			if (write_field(cg, ctrl, v2 ? "io.max" : v1_throttle[t], line, field,
			                err) < 0)
				return -1;
		}
	return 0;
}

static int unified(const struct lc_cgroup *cg, const struct lc_resources *r, cm_err *err)
{
	if (r->n_unified && cg->version != 2)
		return cm_err_set(err, ENOTSUP,
		                  "field " RES "unified: needs cgroup v2, and this host's "
		                  "controllers are on v1");
	for (size_t i = 0; i < r->n_unified; i++) {
		_cleanup_free_ char *field = xasprintf(RES "unified.%s", r->unified[i].key);
		if (write_field(cg, "unified", r->unified[i].key, r->unified[i].value, field, err) <
		    0)
			return -1;
	}
	return 0;
}

int lc_cgroup_extra(const struct lc_cgroup *cg, const struct lc_resources *r, cm_err *err)
{
	return (cg->version == 2 ? memory_v2(r, err) : memory_v1(cg, r, err)) ?:
	       block_io(cg, r, err) ?: unified(cg, r, err);
}
