/* OCI config.json → struct lc_config, with jansson. Every object is walked key by key so a
 * field this runtime does not support is an error naming it, never silently ignored. */
#define _GNU_SOURCE
#include "libcontainer/config.h"
#include "libcontainer/config_int.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <sched.h>
#include <string.h>

#define MAX_CONFIG_SIZE (4 << 20)

static const struct {
	const char *name;
	int type;
} ns_names[] = {
    {"mount", CLONE_NEWNS},      {"uts", CLONE_NEWUTS},     {"ipc", CLONE_NEWIPC},
    {"pid", CLONE_NEWPID},       {"network", CLONE_NEWNET}, {"user", CLONE_NEWUSER},
    {"cgroup", CLONE_NEWCGROUP},
};

int lc_namespace_type(const char *name)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(ns_names); i++)
		if (strcmp(ns_names[i].name, name) == 0)
			return ns_names[i].type;
	return -1;
}

const char *lc_namespace_name(int type)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(ns_names); i++)
		if (ns_names[i].type == type)
			return ns_names[i].name;
	return "?";
}

bool lc_config_has_namespace(const struct lc_config *c, int type)
{
	for (size_t i = 0; i < c->n_namespaces; i++)
		if (c->namespaces[i].type == type)
			return true;
	return false;
}

struct lc_config *lc_config_new(void)
{
	struct lc_config *c = xcalloc(1, sizeof(*c));
	c->process.oom_score_adj = c->process.umask = c->personality = LC_UNSET;
	struct lc_resources *r = &c->resources;
	r->memory_limit = r->memory_reservation = r->memory_swap = LC_UNSET;
	r->cpu_shares = r->cpu_quota = r->cpu_period = LC_UNSET;
	r->pids_limit = r->blkio_weight = r->blkio_leaf_weight = LC_UNSET;
	r->memory_kernel = r->memory_kernel_tcp = r->memory_swappiness = LC_UNSET;
	r->disable_oom_killer = -1;
	return c;
}

static void free_mount(struct lc_mount *m)
{
	free(m->destination);
	free(m->type);
	free(m->source);
	cm_strv_free(m->options);
	free(m->uid_mappings);
	free(m->gid_mappings);
}

static void free_seccomp(struct lc_seccomp *s)
{
	if (!s)
		return;
	free(s->default_action);
	cm_strv_free(s->architectures);
	for (size_t i = 0; i < s->n_syscalls; i++) {
		struct lc_seccomp_rule *r = &s->syscalls[i];
		cm_strv_free(r->names);
		free(r->action);
		for (size_t j = 0; j < r->n_args; j++)
			free(r->args[j].op);
		free(r->args);
	}
	free(s->syscalls);
	free(s);
}

static void free_process(struct lc_process *p)
{
	cm_strv_free(p->args);
	cm_strv_free(p->env);
	free(p->cwd);
	free(p->additional_gids);
	for (int i = 0; i < LC_CAP_NSETS; i++)
		cm_strv_free(p->caps[i]);
	for (size_t i = 0; i < p->n_rlimits; i++)
		free(p->rlimits[i].type);
	free(p->rlimits);
}

void lc_config_free(struct lc_config *c)
{
	if (!c)
		return;
	free(c->oci_version);
	free(c->root_path);
	for (size_t i = 0; i < c->n_mounts; i++)
		free_mount(&c->mounts[i]);
	free(c->mounts);
	free_process(&c->process);
	free(c->hostname);
	free(c->domainname);
	for (size_t i = 0; i < c->n_namespaces; i++)
		free(c->namespaces[i].path);
	free(c->namespaces);
	free(c->uid_mappings);
	free(c->gid_mappings);
	for (size_t i = 0; i < c->n_devices; i++)
		free(c->devices[i].path);
	free(c->devices);
	free(c->cgroups_path);
	free(c->resources.cpu_cpus);
	free(c->resources.cpu_mems);
	for (size_t i = 0; i < c->resources.n_devices; i++)
		free(c->resources.devices[i].access);
	free(c->resources.devices);
	for (size_t i = 0; i < c->resources.n_hugepage_limits; i++)
		free(c->resources.hugepage_limits[i].page_size);
	free(c->resources.hugepage_limits);
	free_seccomp(c->seccomp);
	cm_strv_free(c->masked_paths);
	cm_strv_free(c->readonly_paths);
	for (size_t i = 0; i < c->n_sysctl; i++) {
		free(c->sysctl[i].key);
		free(c->sysctl[i].value);
	}
	free(c->sysctl);
	free(c->rootfs_propagation);
	lc_cfg_free_extra(c);
	lc_cfg_free_hooks(c);
	free(c);
}

/* ---- typed getters: each names the field on error ---- */

/* Features of the spec this runtime cannot honour: refused by name rather than ignored, since
 * a container without them is not the one asked for. An empty value asks for nothing. */
static const struct {
	const char *field;
	const char *why;
} refused[] = {
    {"vm", "virtual-machine containers are not supported"},
    {"process.execCPUAffinity", "CPU affinity at exec is not supported"},
    {"linux.intelRdt", "Intel RDT is not supported"},
    {"linux.timeOffsets", "time namespaces are not supported"},
    {"linux.netDevices", "moving network devices into the container is not supported"},
    {"linux.memoryPolicy", "NUMA memory policies are not supported"},
    {"linux.seccomp.listenerPath", "seccomp user notification is not supported"},
    {"linux.seccomp.listenerMetadata", "seccomp user notification is not supported"},
    {"linux.seccomp.flags", "seccomp filter flags are not supported"},
    {"linux.resources.rdma", "the rdma controller is not supported"},
    {"linux.resources.cpu.realtimeRuntime", "real-time CPU limits are not supported"},
    {"linux.resources.cpu.realtimePeriod", "real-time CPU limits are not supported"},
    {"linux.resources.cpu.idle", "cpu.idle is not supported"},
    {"linux.resources.cpu.burst", "cpu.burst is not supported"},
    {"linux.resources.memory.useHierarchy", "memory.use_hierarchy is not supported"},
    {"linux.resources.memory.checkBeforeUpdate", "checkBeforeUpdate is not supported"},
};

static bool asks_nothing(json_t *v)
{
	return json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0) ||
	       (json_is_object(v) && json_object_size(v) == 0) ||
	       (json_is_string(v) && !*json_string_value(v));
}

int lc_cfg_unknown(cm_err *err, const char *path, const char *key, json_t *v)
{
	_cleanup_free_ char *field = xasprintf("%s%s%s", path, *path ? "." : "", key);
	for (size_t i = 0; i < CM_ARRAY_SIZE(refused); i++)
		if (strcmp(refused[i].field, field) == 0 && !asks_nothing(v))
			return cm_err_set(err, ENOTSUP, "unsupported field %s: %s", field,
			                  refused[i].why);
	return 0; /* the spec: unknown properties MUST NOT be an error */
}

int lc_cfg_wrong_type(cm_err *err, const char *path, const char *want)
{
	return cm_err_set(err, EINVAL, "field %s: expected %s", path, want);
}

int lc_cfg_str(json_t *v, const char *path, char **out, cm_err *err)
{
	if (!json_is_string(v))
		return lc_cfg_wrong_type(err, path, "a string");
	free(*out);
	*out = xstrdup(json_string_value(v));
	return 0;
}

int lc_cfg_bool(json_t *v, const char *path, bool *out, cm_err *err)
{
	if (!json_is_boolean(v))
		return lc_cfg_wrong_type(err, path, "true or false");
	*out = json_is_true(v);
	return 0;
}

/* Integers come as jansson integers, or as reals when the text held one too big for int64
 * (the parse is then retried with JSON_DECODE_INT_AS_REAL): accept whole reals too. */
static bool whole_number(json_t *v, double *out)
{
	if (json_is_integer(v)) {
		*out = (double)json_integer_value(v);
		return true;
	}
	if (!json_is_real(v))
		return false;
	double d = json_real_value(v);
	/* in int64's range before the cast: converting a real outside it is undefined */
	if (d >= -0x1p63 && d < 0x1p63 && d == (double)(int64_t)d) {
		*out = d;
		return true;
	}
	if (d >= 9.2e18 && d <= 1.9e19) {
		*out = d; /* beyond int64: only meaningful as uint64 */
		return true;
	}
	return false;
}

int lc_cfg_i64(json_t *v, const char *path, int64_t *out, cm_err *err)
{
	double d;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!whole_number(v, &d) || d > 9.2e18)
		return lc_cfg_wrong_type(err, path, "an integer");
	*out = (int64_t)d;
	return 0;
}

int lc_cfg_u64(json_t *v, const char *path, uint64_t *out, cm_err *err)
{
	double d;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!whole_number(v, &d) || d < 0)
		return lc_cfg_wrong_type(err, path, "a non-negative integer");
	*out = d >= 1.8446744073709552e19 ? UINT64_MAX : (uint64_t)d;
	return 0;
}

int lc_cfg_u32(json_t *v, const char *path, uint32_t *out, cm_err *err)
{
	int64_t n;
	if (lc_cfg_i64(v, path, &n, err) < 0 || n < 0 || n > UINT32_MAX)
		return lc_cfg_wrong_type(err, path, "an integer from 0 to 4294967295");
	*out = (uint32_t)n;
	return 0;
}

/* A uid or gid: 4294967295 is (uid_t)-1, which setresuid takes as "leave unchanged". */
static int get_id(json_t *v, const char *path, uint32_t *out, cm_err *err)
{
	int64_t n;
	if (lc_cfg_i64(v, path, &n, err) < 0 || n < 0 || n > LC_ID_MAX)
		return lc_cfg_wrong_type(err, path, "an id from 0 to 4294967294");
	*out = (uint32_t)n;
	return 0;
}

int lc_cfg_missing(cm_err *err, const char *path, const char *field)
{
	return cm_err_set(err, EINVAL, "field %s.%s: missing", path, field);
}

int lc_cfg_strv(json_t *v, const char *path, char ***out, cm_err *err)
{
	if (json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return lc_cfg_wrong_type(err, path, "an array of strings");
	size_t i, n = 0;
	json_t *e;
	char **list = xcalloc(1, sizeof(char *));
	json_array_foreach (v, i, e) {
		if (!json_is_string(e)) {
			cm_strv_free(list);
			return cm_err_set(err, EINVAL, "field %s[%zu]: expected a string", path, i);
		}
		cm_strv_push(&list, &n, xstrdup(json_string_value(e)));
	}
	cm_strv_free(*out);
	*out = list;
	return 0;
}

int lc_cfg_object(json_t *v, const char *path, cm_err *err)
{
	return json_is_object(v) ? 0 : lc_cfg_wrong_type(err, path, "an object");
}

/* Walks an array of objects, calling each(elem, "path[i]", i). */

int lc_cfg_array(json_t *v, const char *path, void **arr, size_t *n, size_t elsize,
                 lc_cfg_elem_fn each, cm_err *err)
{
	if (json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return lc_cfg_wrong_type(err, path, "an array");
	size_t count = json_array_size(v);
	char *items = xcalloc(count ? count : 1, elsize);
	*arr = items;
	*n = 0;
	for (size_t i = 0; i < count; i++) {
		_cleanup_free_ char *p = xasprintf("%s[%zu]", path, i);
		json_t *e = json_array_get(v, i);
		if (lc_cfg_object(e, p, err) < 0)
			return -1;
		*n = i + 1; /* counted before filling so a failure frees what it filled */
		if (each(e, p, items, i, err) < 0)
			return -1;
	}
	return 0;
}

#define FIELD(name) LC_FIELD(name)
#define SUB(name)   _cleanup_free_ char *sub = xasprintf("%s.%s", path, key)

/* ---- sections ---- */

static int parse_idmap(json_t *o, const char *path, void *arr, size_t i, cm_err *err)
{
	struct lc_idmap *m = (struct lc_idmap *)arr + i;
	const char *key;
	json_t *v;
	bool have[3] = {false, false, false};
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (FIELD("containerID"))
			r = get_id(v, sub, &m->container_id, err), have[0] = true;
		else if (FIELD("hostID"))
			r = get_id(v, sub, &m->host_id, err), have[1] = true;
		else if (FIELD("size"))
			r = lc_cfg_u32(v, sub, &m->size, err), have[2] = true;
		else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	static const char *const names[] = {"containerID", "hostID", "size"};
	for (size_t k = 0; k < 3; k++)
		if (!have[k])
			return lc_cfg_missing(err, path, names[k]);
	return 0;
}

static int parse_mount(json_t *o, const char *path, void *arr, size_t i, cm_err *err)
{
	struct lc_mount *m = (struct lc_mount *)arr + i;
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (FIELD("destination"))
			r = lc_cfg_str(v, sub, &m->destination, err);
		else if (FIELD("type"))
			r = lc_cfg_str(v, sub, &m->type, err);
		else if (FIELD("source"))
			r = lc_cfg_str(v, sub, &m->source, err);
		else if (FIELD("options"))
			r = lc_cfg_strv(v, sub, &m->options, err);
		else if (FIELD("uidMappings"))
			r = lc_cfg_array(v, sub, (void **)&m->uid_mappings, &m->n_uid_mappings,
			                 sizeof(struct lc_idmap), parse_idmap, err);
		else if (FIELD("gidMappings"))
			r = lc_cfg_array(v, sub, (void **)&m->gid_mappings, &m->n_gid_mappings,
			                 sizeof(struct lc_idmap), parse_idmap, err);
		else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	if (!m->destination)
		return lc_cfg_missing(err, path, "destination");
	return 0;
}

static int parse_user(json_t *o, const char *path, struct lc_process *p, cm_err *err)
{
	const char *key;
	json_t *v;
	if (!json_object_get(o, "uid"))
		return lc_cfg_missing(err, path, "uid");
	if (!json_object_get(o, "gid"))
		return lc_cfg_missing(err, path, "gid");
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (FIELD("uid"))
			r = get_id(v, sub, &p->uid, err);
		else if (FIELD("gid"))
			r = get_id(v, sub, &p->gid, err);
		else if (FIELD("umask") && json_is_null(v))
			r = 0;
		else if (FIELD("additionalGids")) {
			if (!json_is_array(v))
				return lc_cfg_wrong_type(err, sub, "an array of integers");
			p->n_additional_gids = json_array_size(v);
			p->additional_gids = xcalloc(p->n_additional_gids + 1, sizeof(uint32_t));
			r = 0;
			for (size_t j = 0; r == 0 && j < p->n_additional_gids; j++) {
				_cleanup_free_ char *e = xasprintf("%s[%zu]", sub, j);
				r = get_id(json_array_get(v, j), e, &p->additional_gids[j], err);
			}
		} else if (FIELD("umask")) {
			uint32_t m = 0;
			r = lc_cfg_u32(v, sub, &m, err);
			if (r == 0 && m > 0777)
				r = lc_cfg_wrong_type(err, sub, "a mode from 0 to 0777");
			p->umask = m;
		} else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	return 0;
}

static const char *const cap_set_names[LC_CAP_NSETS] = {
    [LC_CAP_BOUNDING] = "bounding",       [LC_CAP_EFFECTIVE] = "effective",
    [LC_CAP_INHERITABLE] = "inheritable", [LC_CAP_PERMITTED] = "permitted",
    [LC_CAP_AMBIENT] = "ambient",
};

static int parse_caps(json_t *o, const char *path, struct lc_process *p, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int set = -1;
		for (int s = 0; s < LC_CAP_NSETS; s++)
			if (FIELD(cap_set_names[s]))
				set = s;
		if (set < 0 ? lc_cfg_unknown(err, path, key, v)
		            : lc_cfg_strv(v, sub, &p->caps[set], err) < 0)
			return -1;
	}
	return 0;
}

static int parse_rlimit(json_t *o, const char *path, void *arr, size_t i, cm_err *err)
{
	struct lc_rlimit *rl = (struct lc_rlimit *)arr + i;
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (FIELD("type"))
			r = lc_cfg_str(v, sub, &rl->type, err);
		else if (FIELD("soft"))
			r = lc_cfg_u64(v, sub, &rl->soft, err);
		else if (FIELD("hard"))
			r = lc_cfg_u64(v, sub, &rl->hard, err);
		else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	if (!rl->type)
		return lc_cfg_missing(err, path, "type");
	if (!json_object_get(o, "soft"))
		return lc_cfg_missing(err, path, "soft");
	if (!json_object_get(o, "hard"))
		return lc_cfg_missing(err, path, "hard");
	return 0;
}

/* A terminal's window is counted in unsigned shorts (struct winsize). */
static int get_window_side(json_t *v, const char *path, unsigned short *out, cm_err *err)
{
	uint64_t n;
	if (lc_cfg_u64(v, path, &n, err) < 0 || n > USHRT_MAX)
		return lc_cfg_wrong_type(err, path, "an integer from 0 to 65535");
	*out = (unsigned short)n;
	return 0;
}

static int parse_console_size(json_t *o, const char *path, struct lc_process *p, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (FIELD("height"))
			r = get_window_side(v, sub, &p->console_rows, err);
		else if (FIELD("width"))
			r = get_window_side(v, sub, &p->console_cols, err);
		else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	if (!json_object_get(o, "height"))
		return lc_cfg_missing(err, path, "height");
	if (!json_object_get(o, "width"))
		return lc_cfg_missing(err, path, "width");
	return 0;
}

static int parse_process(json_t *o, const char *path, struct lc_process *p, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (FIELD("args"))
			r = lc_cfg_strv(v, sub, &p->args, err);
		else if (FIELD("env"))
			r = lc_cfg_strv(v, sub, &p->env, err);
		else if (FIELD("cwd"))
			r = lc_cfg_str(v, sub, &p->cwd, err);
		else if (FIELD("terminal"))
			r = lc_cfg_bool(v, sub, &p->terminal, err);
		else if (FIELD("consoleSize"))
			r = lc_cfg_object(v, sub, err) ?: parse_console_size(v, sub, p, err);
		else if (FIELD("noNewPrivileges"))
			r = lc_cfg_bool(v, sub, &p->no_new_privileges, err);
		else if (FIELD("oomScoreAdj"))
			r = lc_cfg_i64(v, sub, &p->oom_score_adj, err);
		else if (FIELD("user"))
			r = lc_cfg_object(v, sub, err) ?: parse_user(v, sub, p, err);
		else if (FIELD("capabilities"))
			r = lc_cfg_object(v, sub, err) ?: parse_caps(v, sub, p, err);
		else if (FIELD("rlimits"))
			r = lc_cfg_array(v, sub, (void **)&p->rlimits, &p->n_rlimits,
			                 sizeof(struct lc_rlimit), parse_rlimit, err);
		else if (FIELD("selinuxLabel"))
			r = lc_cfg_str(v, sub, &p->selinux_label, err);
		else if (FIELD("apparmorProfile"))
			r = lc_cfg_str(v, sub, &p->apparmor_profile, err);
		else if (FIELD("ioPriority"))
			r = lc_cfg_object(v, sub, err) ?: lc_cfg_io_priority(v, sub, p, err);
		else if (FIELD("scheduler"))
			r = lc_cfg_object(v, sub, err) ?: lc_cfg_scheduler(v, sub, p, err);
		else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int parse_root(json_t *o, const char *path, struct lc_config *c, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (FIELD("path"))
			r = lc_cfg_str(v, sub, &c->root_path, err);
		else if (FIELD("readonly"))
			r = lc_cfg_bool(v, sub, &c->root_readonly, err);
		else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int parse_namespace(json_t *o, const char *path, void *arr, size_t i, cm_err *err)
{
	struct lc_namespace *ns = (struct lc_namespace *)arr + i;
	const char *key;
	json_t *v;
	ns->type = -1;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		if (FIELD("type")) {
			if (!json_is_string(v))
				return lc_cfg_wrong_type(err, sub, "a string");
			ns->type = lc_namespace_type(json_string_value(v));
			if (ns->type < 0 && strcmp(json_string_value(v), "time") == 0)
				return cm_err_set(err, ENOTSUP,
				                  "unsupported field %s: time namespaces are not "
				                  "supported",
				                  sub);
			if (ns->type < 0)
				return cm_err_set(err, EINVAL, "field %s: unknown namespace %s",
				                  sub, json_string_value(v));
		} else if (FIELD("path")) {
			if (lc_cfg_str(v, sub, &ns->path, err) < 0)
				return -1;
		} else if (lc_cfg_unknown(err, path, key, v) < 0)
			return -1;
	}
	if (ns->type < 0)
		return lc_cfg_missing(err, path, "type");
	return 0;
}

static int parse_device(json_t *o, const char *path, void *arr, size_t i, cm_err *err)
{
	struct lc_device *d = (struct lc_device *)arr + i;
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (FIELD("type")) {
			if (!json_is_string(v) || strlen(json_string_value(v)) != 1 ||
			    !strchr("cbup", json_string_value(v)[0]))
				return lc_cfg_wrong_type(err, sub, "one of c, b, u, p");
			d->type = json_string_value(v)[0];
			r = 0;
		} else if (FIELD("path"))
			r = lc_cfg_str(v, sub, &d->path, err);
		else if (FIELD("major"))
			r = lc_cfg_i64(v, sub, &d->major, err);
		else if (FIELD("minor"))
			r = lc_cfg_i64(v, sub, &d->minor, err);
		else if (FIELD("fileMode"))
			r = lc_cfg_u32(v, sub, &d->file_mode, err);
		else if (FIELD("uid"))
			r = get_id(v, sub, &d->uid, err);
		else if (FIELD("gid"))
			r = get_id(v, sub, &d->gid, err);
		else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	if (!d->type)
		return lc_cfg_missing(err, path, "type");
	if (!d->path)
		return lc_cfg_missing(err, path, "path");
	/* a fifo is no device: only the others need their numbers */
	if (d->type != 'p' && !json_object_get(o, "major"))
		return lc_cfg_missing(err, path, "major");
	if (d->type != 'p' && !json_object_get(o, "minor"))
		return lc_cfg_missing(err, path, "minor");
	return 0;
}

static int parse_device_rule(json_t *o, const char *path, void *arr, size_t i, cm_err *err)
{
	struct lc_device_rule *d = (struct lc_device_rule *)arr + i;
	const char *key;
	json_t *v;
	d->type = 'a';
	d->major = d->minor = -1;
	if (!json_object_get(o, "allow"))
		return lc_cfg_missing(err, path, "allow");
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (FIELD("allow"))
			r = lc_cfg_bool(v, sub, &d->allow, err);
		else if (FIELD("type")) {
			if (!json_is_string(v) || strlen(json_string_value(v)) != 1 ||
			    !strchr("acb", json_string_value(v)[0]))
				return lc_cfg_wrong_type(err, sub, "one of a, c, b");
			d->type = json_string_value(v)[0];
			r = 0;
		} else if (FIELD("major"))
			r = json_is_null(v) ? 0 : lc_cfg_i64(v, sub, &d->major, err);
		else if (FIELD("minor"))
			r = json_is_null(v) ? 0 : lc_cfg_i64(v, sub, &d->minor, err);
		else if (FIELD("access"))
			r = lc_cfg_str(v, sub, &d->access, err);
		else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* {"memory": {"limit": 1}, ...}: one function per controller keeps the field names exact. */
static int parse_memory(json_t *o, const char *path, struct lc_resources *r, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int rc;
		if (FIELD("limit"))
			rc = lc_cfg_i64(v, sub, &r->memory_limit, err);
		else if (FIELD("reservation"))
			rc = lc_cfg_i64(v, sub, &r->memory_reservation, err);
		else if (FIELD("swap"))
			rc = lc_cfg_i64(v, sub, &r->memory_swap, err);
		else
			rc = lc_cfg_memory_extra(key, v, path, r, err);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int parse_cpu(json_t *o, const char *path, struct lc_resources *r, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int rc;
		if (FIELD("shares"))
			rc = lc_cfg_i64(v, sub, &r->cpu_shares, err);
		else if (FIELD("quota"))
			rc = lc_cfg_i64(v, sub, &r->cpu_quota, err);
		else if (FIELD("period"))
			rc = lc_cfg_i64(v, sub, &r->cpu_period, err);
		else if (FIELD("cpus"))
			rc = lc_cfg_str(v, sub, &r->cpu_cpus, err);
		else if (FIELD("mems"))
			rc = lc_cfg_str(v, sub, &r->cpu_mems, err);
		else
			rc = lc_cfg_unknown(err, path, key, v);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int parse_single(json_t *o, const char *path, const char *field, int64_t *out, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		if (!FIELD(field) ? lc_cfg_unknown(err, path, key, v)
		                  : lc_cfg_i64(v, sub, out, err) < 0)
			return -1;
	}
	return 0;
}

/* {"pageSize": "2MB", "limit": 209715200}: an array of these, as the OCI spec has it. */
static int parse_hugepage(json_t *o, const char *path, void *arr, size_t i, cm_err *err)
{
	struct lc_hugepage_limit *h = (struct lc_hugepage_limit *)arr + i;
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (FIELD("pageSize"))
			r = lc_cfg_str(v, sub, &h->page_size, err);
		else if (FIELD("limit"))
			r = lc_cfg_u64(v, sub, &h->limit, err);
		else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	if (!h->page_size)
		return lc_cfg_missing(err, path, "pageSize");
	if (!json_object_get(o, "limit"))
		return lc_cfg_missing(err, path, "limit");
	return 0;
}

static int parse_resources(json_t *o, const char *path, struct lc_resources *r, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		if ((FIELD("memory") || FIELD("cpu") || FIELD("pids") || FIELD("blockIO") ||
		     FIELD("unified") || FIELD("network")) &&
		    lc_cfg_object(v, sub, err) < 0)
			return -1;
		int rc;
		if (FIELD("memory"))
			rc = parse_memory(v, sub, r, err);
		else if (FIELD("cpu"))
			rc = parse_cpu(v, sub, r, err);
		else if (FIELD("pids"))
			rc = parse_single(v, sub, "limit", &r->pids_limit, err);
		else if (FIELD("blockIO"))
			rc = lc_cfg_block_io(v, sub, r, err);
		else if (FIELD("unified"))
			rc = lc_cfg_unified(v, sub, r, err);
		else if (FIELD("network"))
			rc = lc_cfg_network(v, sub, err);
		else if (FIELD("devices"))
			rc = lc_cfg_array(v, sub, (void **)&r->devices, &r->n_devices,
			                  sizeof(struct lc_device_rule), parse_device_rule, err);
		else if (FIELD("hugepageLimits"))
			rc = lc_cfg_array(v, sub, (void **)&r->hugepage_limits,
			                  &r->n_hugepage_limits, sizeof(struct lc_hugepage_limit),
			                  parse_hugepage, err);
		else
			rc = lc_cfg_unknown(err, path, key, v);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int parse_seccomp_arg(json_t *o, const char *path, void *arr, size_t i, cm_err *err)
{
	struct lc_seccomp_arg *a = (struct lc_seccomp_arg *)arr + i;
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (FIELD("index"))
			r = lc_cfg_u32(v, sub, &a->index, err);
		else if (FIELD("value"))
			r = lc_cfg_u64(v, sub, &a->value, err);
		else if (FIELD("valueTwo"))
			r = lc_cfg_u64(v, sub, &a->value_two, err);
		else if (FIELD("op"))
			r = lc_cfg_str(v, sub, &a->op, err);
		else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	if (!json_object_get(o, "index"))
		return lc_cfg_missing(err, path, "index");
	if (!json_object_get(o, "value"))
		return lc_cfg_missing(err, path, "value");
	if (!a->op)
		return lc_cfg_missing(err, path, "op");
	return 0;
}

static int parse_seccomp_rule(json_t *o, const char *path, void *arr, size_t i, cm_err *err)
{
	struct lc_seccomp_rule *s = (struct lc_seccomp_rule *)arr + i;
	const char *key;
	json_t *v;
	s->errno_ret = LC_UNSET;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (FIELD("names"))
			r = lc_cfg_strv(v, sub, &s->names, err);
		else if (FIELD("action"))
			r = lc_cfg_str(v, sub, &s->action, err);
		else if (FIELD("errnoRet"))
			r = lc_cfg_i64(v, sub, &s->errno_ret, err);
		else if (FIELD("args"))
			r = lc_cfg_array(v, sub, (void **)&s->args, &s->n_args,
			                 sizeof(struct lc_seccomp_arg), parse_seccomp_arg, err);
		else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	if (!s->names)
		return lc_cfg_missing(err, path, "names");
	if (!s->action)
		return lc_cfg_missing(err, path, "action");
	return 0;
}

static int parse_seccomp(json_t *o, const char *path, struct lc_config *c, cm_err *err)
{
	struct lc_seccomp *s = c->seccomp = xcalloc(1, sizeof(*s));
	const char *key;
	json_t *v;
	s->default_errno_ret = LC_UNSET;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (FIELD("defaultAction"))
			r = lc_cfg_str(v, sub, &s->default_action, err);
		else if (FIELD("defaultErrnoRet"))
			r = lc_cfg_i64(v, sub, &s->default_errno_ret, err);
		else if (FIELD("architectures"))
			r = lc_cfg_strv(v, sub, &s->architectures, err);
		else if (FIELD("syscalls"))
			r = lc_cfg_array(v, sub, (void **)&s->syscalls, &s->n_syscalls,
			                 sizeof(struct lc_seccomp_rule), parse_seccomp_rule, err);
		else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	if (!s->default_action)
		return lc_cfg_missing(err, path, "defaultAction");
	return 0;
}

static int parse_sysctl(json_t *o, const char *path, struct lc_config *c, cm_err *err)
{
	const char *key;
	json_t *v;
	c->sysctl = xcalloc(json_object_size(o) + 1, sizeof(*c->sysctl));
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		struct lc_sysctl *s = &c->sysctl[c->n_sysctl++];
		s->key = xstrdup(key);
		if (lc_cfg_str(v, sub, &s->value, err) < 0)
			return -1;
	}
	return 0;
}

static int parse_linux(json_t *o, const char *path, struct lc_config *c, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		_cleanup_free_ char *sub = xasprintf("%s.%s", path, key);
		int r;
		if (FIELD("namespaces"))
			r = lc_cfg_array(v, sub, (void **)&c->namespaces, &c->n_namespaces,
			                 sizeof(struct lc_namespace), parse_namespace, err);
		else if (FIELD("uidMappings"))
			r = lc_cfg_array(v, sub, (void **)&c->uid_mappings, &c->n_uid_mappings,
			                 sizeof(struct lc_idmap), parse_idmap, err);
		else if (FIELD("gidMappings"))
			r = lc_cfg_array(v, sub, (void **)&c->gid_mappings, &c->n_gid_mappings,
			                 sizeof(struct lc_idmap), parse_idmap, err);
		else if (FIELD("devices"))
			r = lc_cfg_array(v, sub, (void **)&c->devices, &c->n_devices,
			                 sizeof(struct lc_device), parse_device, err);
		else if (FIELD("cgroupsPath"))
			r = lc_cfg_str(v, sub, &c->cgroups_path, err);
		else if (FIELD("resources"))
			r = lc_cfg_object(v, sub, err)
			        ?: parse_resources(v, sub, &c->resources, err);
		else if (FIELD("seccomp"))
			r = lc_cfg_object(v, sub, err) ?: parse_seccomp(v, sub, c, err);
		else if (FIELD("maskedPaths"))
			r = lc_cfg_strv(v, sub, &c->masked_paths, err);
		else if (FIELD("readonlyPaths"))
			r = lc_cfg_strv(v, sub, &c->readonly_paths, err);
		else if (FIELD("sysctl"))
			r = lc_cfg_object(v, sub, err) ?: parse_sysctl(v, sub, c, err);
		else if (FIELD("rootfsPropagation"))
			r = lc_cfg_str(v, sub, &c->rootfs_propagation, err);
		else if (FIELD("mountLabel"))
			r = lc_cfg_str(v, sub, &c->mount_label, err);
		else if (FIELD("personality"))
			r = lc_cfg_object(v, sub, err) ?: lc_cfg_personality(v, sub, c, err);
		else
			r = lc_cfg_unknown(err, path, key, v);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int parse_top(json_t *o, struct lc_config *c, cm_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach (o, key, v) {
		const char *sub = key;
		int r;
		if (FIELD("ociVersion"))
			r = lc_cfg_str(v, sub, &c->oci_version, err);
		else if (FIELD("root"))
			r = lc_cfg_object(v, sub, err) ?: parse_root(v, sub, c, err);
		else if (FIELD("mounts"))
			r = lc_cfg_array(v, sub, (void **)&c->mounts, &c->n_mounts,
			                 sizeof(struct lc_mount), parse_mount, err);
		else if (FIELD("process"))
			r = lc_cfg_object(v, sub, err) ?: parse_process(v, sub, &c->process, err);
		else if (FIELD("hostname"))
			r = lc_cfg_str(v, sub, &c->hostname, err);
		else if (FIELD("domainname"))
			r = lc_cfg_str(v, sub, &c->domainname, err);
		else if (FIELD("linux"))
			r = lc_cfg_object(v, sub, err) ?: parse_linux(v, sub, c, err);
		else if (FIELD("hooks"))
			r = lc_cfg_object(v, sub, err) ?: lc_cfg_hooks(v, sub, c, err);
		else if (FIELD("annotations"))
			r = lc_cfg_object(v, sub, err); /* metadata for others: no effect here */
		else
			r = lc_cfg_unknown(err, "", key, v);
		if (r < 0)
			return -1;
	}
	return 0;
}

int lc_config_parse(const char *text, struct lc_config **out, cm_err *err)
{
	json_error_t jerr;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!root && strstr(jerr.text, "too big"))
		root = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
	if (!root)
		return cm_err_set(err, EINVAL, "config: line %d column %d: %s", jerr.line,
		                  jerr.column, jerr.text);
	struct lc_config *c = lc_config_new();
	int r = json_is_object(root) ? parse_top(root, c, err)
	                             : cm_err_set(err, EINVAL, "config: expected a JSON object");
	json_decref(root);
	if (r == 0)
		r = lc_config_validate(c, err);
	if (r < 0) {
		lc_config_free(c);
		return -1;
	}
	*out = c;
	return 0;
}

int lc_config_load(const char *path, struct lc_config **out, cm_err *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	if (cm_read_file_at(AT_FDCWD, path, MAX_CONFIG_SIZE, &text, &len, err) < 0)
		return -1;
	if (lc_config_parse(text, out, err) < 0)
		return cm_err_wrap(err, "%s", path);
	return 0;
}
