/* The config's Linux extras: memory and blockIO limits beyond the basics, resources.unified
 * and network, process.ioPriority and scheduler, linux.personality (parsed and written back). */
#define _GNU_SOURCE
#include "libcontainer/config_int.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/personality.h>

#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif

struct name_value {
	const char *name;
	int value;
};

static const struct name_value io_classes[] = {
    {"IOPRIO_CLASS_RT", 1}, {"IOPRIO_CLASS_BE", 2}, {"IOPRIO_CLASS_IDLE", 3}};

static const struct name_value sched_policies[] = {
    {"SCHED_OTHER", SCHED_OTHER}, {"SCHED_FIFO", SCHED_FIFO}, {"SCHED_RR", SCHED_RR},
    {"SCHED_BATCH", SCHED_BATCH}, {"SCHED_IDLE", SCHED_IDLE}, {"SCHED_DEADLINE", SCHED_DEADLINE}};

/* The flags of sched_setattr(2) (uapi/linux/sched.h). */
static const struct name_value sched_flags[] = {
    {"SCHED_FLAG_RESET_ON_FORK", 0x01}, {"SCHED_FLAG_RECLAIM", 0x02},
    {"SCHED_FLAG_DL_OVERRUN", 0x04},    {"SCHED_FLAG_KEEP_POLICY", 0x08},
    {"SCHED_FLAG_KEEP_PARAMS", 0x10},   {"SCHED_FLAG_UTIL_CLAMP_MIN", 0x20},
    {"SCHED_FLAG_UTIL_CLAMP_MAX", 0x40}};

static int by_name(const struct name_value *t, size_t n, json_t *v, const char *path, int *out,
                   cm_err *err)
{
	if (!json_is_string(v))
		return lc_cfg_wrong_type(err, path, "a string");
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, json_string_value(v)) == 0)
			return *out = t[i].value, 0;
	return cm_err_set(err, EINVAL, "field %s: unknown value %s", path, json_string_value(v));
}

static const char *name_of(const struct name_value *t, size_t n, int value)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].value == value)
			return t[i].name;
	return "?";
}

int lc_cfg_memory_extra(const char *key, json_t *v, const char *path, struct lc_resources *r,
                        cm_err *err)
{
	_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
	if (LC_FIELD("kernel"))
		return lc_cfg_i64(v, sub, &r->memory_kernel, err);
	if (LC_FIELD("kernelTCP"))
		return lc_cfg_i64(v, sub, &r->memory_kernel_tcp, err);
	if (LC_FIELD("swappiness")) {
		uint64_t n;
		if (lc_cfg_u64(v, sub, &n, err) < 0 || n > 100)
			return lc_cfg_wrong_type(err, sub, "an integer from 0 to 100");
		r->memory_swappiness = (int64_t)n;
		return 0;
	}
	if (LC_FIELD("disableOOMKiller")) {
		bool b;
		if (lc_cfg_bool(v, sub, &b, err) < 0)
			return -1;
		r->disable_oom_killer = b;
		return 0;
	}
	return lc_cfg_unknown(err, path, key, v);
}

static int parse_blkio_device(json_t *o, const char *path, struct lc_blkio_device *d,
                              const char *value_key, cm_err *err)
{
	const char *key;
	json_t *v;
	d->weight = LC_UNSET;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (LC_FIELD("major"))
			r = lc_cfg_i64(v, sub, &d->major, err);
		else if (LC_FIELD("minor"))
			r = lc_cfg_i64(v, sub, &d->minor, err);
		else if (LC_FIELD("rate") && strcmp(value_key, "rate") == 0)
			r = lc_cfg_u64(v, sub, &d->rate, err);
		else if (LC_FIELD("weight") && strcmp(value_key, "weight") == 0)
			r = lc_cfg_i64(v, sub, &d->weight, err);
		else if (LC_FIELD("leafWeight") && !json_is_null(v))
			r = cm_err_set(err, ENOTSUP,
			               "unsupported field %s: leaf weights are gone "
			               "from the kernel",
			               sub);
		else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	if (!json_object_get(o, "major"))
		return lc_cfg_missing(err, path, "major");
	if (!json_object_get(o, "minor"))
		return lc_cfg_missing(err, path, "minor");
	if (!json_object_get(o, value_key))
		return lc_cfg_missing(err, path, value_key);
	return 0;
}

static int parse_weight_device(json_t *o, const char *path, void *arr, size_t i, cm_err *err)
{
	return parse_blkio_device(o, path, (struct lc_blkio_device *)arr + i, "weight", err);
}

static int parse_throttle(json_t *o, const char *path, void *arr, size_t i, cm_err *err)
{
	return parse_blkio_device(o, path, (struct lc_blkio_device *)arr + i, "rate", err);
}

static const char *const throttle_names[LC_THROTTLE_N] = {
    [LC_THROTTLE_READ_BPS] = "throttleReadBpsDevice",
    [LC_THROTTLE_WRITE_BPS] = "throttleWriteBpsDevice",
    [LC_THROTTLE_READ_IOPS] = "throttleReadIOPSDevice",
    [LC_THROTTLE_WRITE_IOPS] = "throttleWriteIOPSDevice",
};

static int block_io_field(const char *key, json_t *v, const char *path, struct lc_resources *r,
                          cm_err *err)
{
	_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
	if (LC_FIELD("weight"))
		return lc_cfg_i64(v, sub, &r->blkio_weight, err);
	if (LC_FIELD("leafWeight"))
		return json_is_null(v) ? 0
		                       : cm_err_set(err, ENOTSUP,
		                                    "unsupported field %s: leaf weights are gone "
		                                    "from the kernel",
		                                    sub);
	if (LC_FIELD("weightDevice"))
		return lc_cfg_array(v, sub, (void **)&r->blkio_weight_devices,
		                    &r->n_blkio_weight_devices, sizeof(struct lc_blkio_device),
		                    parse_weight_device, err);
	for (int t = 0; t < LC_THROTTLE_N; t++)
		if (LC_FIELD(throttle_names[t]))
			return lc_cfg_array(v, sub, (void **)&r->blkio_throttle[t],
			                    &r->n_blkio_throttle[t], sizeof(struct lc_blkio_device),
			                    parse_throttle, err);
	return lc_cfg_unknown(err, path, key, v);
}

int lc_cfg_block_io(json_t *o, const char *path, struct lc_resources *r, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v)
		if (block_io_field(key, v, path, r, err) < 0)
			return -1;
	return 0;
}

int lc_cfg_unified(json_t *o, const char *path, struct lc_resources *r, cm_err *err)
{
	const char *key;
	json_t *v;
	r->unified = xcalloc(json_object_size(o) + 1, sizeof(*r->unified));
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		struct lc_sysctl *u = &r->unified[r->n_unified++];
		u->key = xstrdup(key);
		if (lc_cfg_str(v, sub, &u->value, err) < 0)
			return -1;
		/* a file of the container's own group: no path, no hidden or cgroup.* file */
		if (!*key || strchr(key, '/') || key[0] == '.' || strncmp(key, "cgroup.", 7) == 0)
			return cm_err_set(err, EINVAL, "field %s: not a cgroup v2 interface file",
			                  sub);
	}
	return 0;
}

/* net_cls and net_prio: mounted on no host this runtime knows (and gone in cgroup v2). */
int lc_cfg_network(json_t *o, const char *path, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v)
		if ((LC_FIELD("classID") || LC_FIELD("priorities")) && !json_is_null(v) &&
		    !(json_is_array(v) && json_array_size(v) == 0))
			return cm_err_set(err, ENOTSUP,
			                  "unsupported field %s.%s: the net_cls and net_prio "
			                  "controllers are not supported",
			                  path, key);
	return 0;
}

int lc_cfg_io_priority(json_t *o, const char *path, struct lc_process *p, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		int64_t level;
		if (LC_FIELD("class"))
			r = by_name(io_classes, CM_ARRAY_SIZE(io_classes), v, sub,
			            &p->io_prio_class, err);
		else if (LC_FIELD("priority")) {
			r = lc_cfg_i64(v, sub, &level, err);
			if (r == 0 && (level < 0 || level > 7))
				r = lc_cfg_wrong_type(err, sub, "an integer from 0 to 7");
			p->io_prio_level = (int)level;
		} else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	if (!p->io_prio_class)
		return lc_cfg_missing(err, path, "class");
	return 0;
}

static int sched_flag_list(json_t *v, const char *path, uint64_t *out, cm_err *err)
{
	_cleanup_strv_ char **names = NULL;
	if (lc_cfg_strv(v, path, &names, err) < 0)
		return -1;
	for (size_t i = 0; names && names[i]; i++) {
		_cleanup_free_ char *e = xasprintf("%s[%zu]", path, i);
		json_t *s = json_string(names[i]);
		int f = 0, r = by_name(sched_flags, CM_ARRAY_SIZE(sched_flags), s, e, &f, err);
		json_decref(s);
		if (r < 0)
			return -1;
		*out |= (uint64_t)f;
	}
	return 0;
}

static int sched_field(const char *key, json_t *v, const char *path, struct lc_scheduler *s,
                       cm_err *err)
{
	_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
	int64_t n;
	if (LC_FIELD("policy"))
		return by_name(sched_policies, CM_ARRAY_SIZE(sched_policies), v, sub, &s->policy,
		               err);
	if (LC_FIELD("nice")) {
		if (lc_cfg_i64(v, sub, &n, err) < 0 || n < -20 || n > 19)
			return lc_cfg_wrong_type(err, sub, "an integer from -20 to 19");
		return s->nice = (int)n, 0;
	}
	if (LC_FIELD("priority")) {
		if (lc_cfg_i64(v, sub, &n, err) < 0 || n < 0 || n > 99)
			return lc_cfg_wrong_type(err, sub, "an integer from 0 to 99");
		return s->priority = (int)n, 0;
	}
	if (LC_FIELD("flags"))
		return sched_flag_list(v, sub, &s->flags, err);
	if (LC_FIELD("runtime"))
		return lc_cfg_u64(v, sub, &s->runtime, err);
	if (LC_FIELD("deadline"))
		return lc_cfg_u64(v, sub, &s->deadline, err);
	if (LC_FIELD("period"))
		return lc_cfg_u64(v, sub, &s->period, err);
	return lc_cfg_unknown(err, path, key, v);
}

int lc_cfg_scheduler(json_t *o, const char *path, struct lc_process *p, cm_err *err)
{
	const char *key;
	json_t *v;
	if (!json_object_get(o, "policy"))
		return lc_cfg_missing(err, path, "policy");
	free(p->scheduler);
	p->scheduler = xcalloc(1, sizeof(*p->scheduler));
	json_object_foreach (o, key, v)
		if (sched_field(key, v, path, p->scheduler, err) < 0)
			return -1;
	return 0;
}

int lc_cfg_personality(json_t *o, const char *path, struct lc_config *c, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		if (LC_FIELD("domain")) {
			const char *d = json_is_string(v) ? json_string_value(v) : "";
			if (strcmp(d, "LINUX") != 0 && strcmp(d, "LINUX32") != 0)
				return lc_cfg_wrong_type(err, sub, "LINUX or LINUX32");
			c->personality = strcmp(d, "LINUX") == 0 ? PER_LINUX : PER_LINUX32;
		} else if (LC_FIELD("flags")) {
			if (!json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0))
				return cm_err_set(err, ENOTSUP,
				                  "unsupported field %s: no personality flag is "
				                  "supported",
				                  sub);
		} else if (lc_cfg_unknown(err, path, key, v) < 0)
			return -1;
	}
	if (c->personality == LC_UNSET)
		return lc_cfg_missing(err, path, "domain");
	return 0;
}

void lc_cfg_free_extra(struct lc_config *c)
{
	struct lc_resources *r = &c->resources;
	free(r->blkio_weight_devices);
	for (int t = 0; t < LC_THROTTLE_N; t++)
		free(r->blkio_throttle[t]);
	for (size_t i = 0; i < r->n_unified; i++) {
		free(r->unified[i].key);
		free(r->unified[i].value);
	}
	free(r->unified);
	free(c->process.selinux_label);
	free(c->process.apparmor_profile);
	free(c->process.scheduler);
	free(c->mount_label);
}

/* ---- back to JSON ---- */

static void set_if(json_t *o, const char *key, int64_t v)
{
	if (v != LC_UNSET)
		json_object_set_new(o, key, json_integer(v));
}

static json_t *blkio_devices_json(const struct lc_blkio_device *d, size_t n, bool weight)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_pack("{s:I,s:I}", "major", (json_int_t)d[i].major, "minor",
		                      (json_int_t)d[i].minor);
		json_object_set_new(e, weight ? "weight" : "rate",
		                    json_integer(weight ? d[i].weight : (json_int_t)d[i].rate));
		json_array_append_new(a, e);
	}
	return a;
}

static json_t *block_io_json(const struct lc_resources *r)
{
	json_t *o = json_object();
	set_if(o, "weight", r->blkio_weight);
	if (r->n_blkio_weight_devices)
		json_object_set_new(
		    o, "weightDevice",
		    blkio_devices_json(r->blkio_weight_devices, r->n_blkio_weight_devices, true));
	for (int t = 0; t < LC_THROTTLE_N; t++)
		if (r->n_blkio_throttle[t])
			json_object_set_new(o, throttle_names[t],
			                    blkio_devices_json(r->blkio_throttle[t],
			                                       r->n_blkio_throttle[t], false));
	return o;
}

json_t *lc_cfg_resources_extra_json(const struct lc_resources *r, json_t *res)
{
	json_t *mem = json_object_get(res, "memory");
	if (!mem) {
		mem = json_object();
		json_object_set_new(res, "memory", mem);
	}
	set_if(mem, "kernel", r->memory_kernel);
	set_if(mem, "kernelTCP", r->memory_kernel_tcp);
	set_if(mem, "swappiness", r->memory_swappiness);
	if (r->disable_oom_killer >= 0)
		json_object_set_new(mem, "disableOOMKiller", json_boolean(r->disable_oom_killer));
	if (!json_object_size(mem))
		json_object_del(res, "memory");
	json_t *bio = block_io_json(r);
	json_object_size(bio) ? json_object_set_new(res, "blockIO", bio) : json_decref(bio);
	if (r->n_unified) {
		json_t *u = json_object();
		for (size_t i = 0; i < r->n_unified; i++)
			json_object_set_new(u, r->unified[i].key, json_string(r->unified[i].value));
		json_object_set_new(res, "unified", u);
	}
	return res;
}

static json_t *scheduler_json(const struct lc_scheduler *s)
{
	json_t *o = json_pack("{s:s,s:i,s:i}", "policy",
	                      name_of(sched_policies, CM_ARRAY_SIZE(sched_policies), s->policy),
	                      "nice", s->nice, "priority", s->priority);
	json_t *flags = json_array();
	for (size_t i = 0; i < CM_ARRAY_SIZE(sched_flags); i++)
		if (s->flags & (uint64_t)sched_flags[i].value)
			json_array_append_new(flags, json_string(sched_flags[i].name));
	json_object_set_new(o, "flags", flags);
	json_object_set_new(o, "runtime", json_integer((json_int_t)s->runtime));
	json_object_set_new(o, "deadline", json_integer((json_int_t)s->deadline));
	json_object_set_new(o, "period", json_integer((json_int_t)s->period));
	return o;
}

json_t *lc_cfg_process_extra_json(const struct lc_process *p, json_t *proc)
{
	json_t *user = json_object_get(proc, "user");
	if (user && p->umask != LC_UNSET)
		json_object_set_new(user, "umask", json_integer(p->umask));
	if (p->selinux_label)
		json_object_set_new(proc, "selinuxLabel", json_string(p->selinux_label));
	if (p->apparmor_profile)
		json_object_set_new(proc, "apparmorProfile", json_string(p->apparmor_profile));
	if (p->io_prio_class)
		json_object_set_new(
		    proc, "ioPriority",
		    json_pack("{s:s,s:i}", "class",
		              name_of(io_classes, CM_ARRAY_SIZE(io_classes), p->io_prio_class),
		              "priority", p->io_prio_level));
	if (p->scheduler)
		json_object_set_new(proc, "scheduler", scheduler_json(p->scheduler));
	return proc;
}
