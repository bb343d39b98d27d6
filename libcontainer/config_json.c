/* struct lc_config → OCI JSON: what `nsinit config` prints and what state directories keep. */
#define _GNU_SOURCE
#include "libcontainer/config.h"
#include "libcontainer/config_int.h"
#include "common/xalloc.h"

#include <jansson.h>
#include <string.h>
#include <sys/personality.h>

static json_t *strv_json(char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; v && v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *u64_json(uint64_t v)
{
	/* jansson integers are signed: RLIM_INFINITY and other huge values go as reals */
	return v > INT64_MAX ? json_real((double)v) : json_integer((json_int_t)v);
}

static void set_i64(json_t *o, const char *key, int64_t v)
{
	if (v != LC_UNSET)
		json_object_set_new(o, key, json_integer(v));
}

static void set_str(json_t *o, const char *key, const char *v)
{
	if (v)
		json_object_set_new(o, key, json_string(v));
}

static json_t *idmaps_json(const struct lc_idmap *m, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:I,s:I,s:I}", "containerID",
		                                   (json_int_t)m[i].container_id, "hostID",
		                                   (json_int_t)m[i].host_id, "size",
		                                   (json_int_t)m[i].size));
	return a;
}

static json_t *mount_json(const struct lc_mount *m)
{
	json_t *o = json_object();
	set_str(o, "destination", m->destination);
	set_str(o, "type", m->type);
	set_str(o, "source", m->source);
	if (m->options)
		json_object_set_new(o, "options", strv_json(m->options));
	if (m->n_uid_mappings)
		json_object_set_new(o, "uidMappings",
		                    idmaps_json(m->uid_mappings, m->n_uid_mappings));
	if (m->n_gid_mappings)
		json_object_set_new(o, "gidMappings",
		                    idmaps_json(m->gid_mappings, m->n_gid_mappings));
	return o;
}

static json_t *process_json(const struct lc_process *p)
{
	static const char *const sets[LC_CAP_NSETS] = {"bounding", "effective", "inheritable",
	                                               "permitted", "ambient"};
	json_t *o = json_object();
	json_object_set_new(o, "terminal", json_boolean(p->terminal));
	if (p->console_rows && p->console_cols)
		json_object_set_new(
		    o, "consoleSize",
		    json_pack("{s:i,s:i}", "height", p->console_rows, "width", p->console_cols));
	json_t *user = json_pack("{s:I,s:I}", "uid", (json_int_t)p->uid, "gid", (json_int_t)p->gid);
	if (p->n_additional_gids) {
		json_t *g = json_array();
		for (size_t i = 0; i < p->n_additional_gids; i++)
			json_array_append_new(g, json_integer(p->additional_gids[i]));
		json_object_set_new(user, "additionalGids", g);
	}
	json_object_set_new(o, "user", user);
	json_object_set_new(o, "args", strv_json(p->args));
	json_object_set_new(o, "env", strv_json(p->env));
	set_str(o, "cwd", p->cwd ? p->cwd : "/");
	json_t *caps = json_object();
	for (int s = 0; s < LC_CAP_NSETS; s++)
		json_object_set_new(caps, sets[s], strv_json(p->caps[s]));
	json_object_set_new(o, "capabilities", caps);
	json_t *rl = json_array();
	for (size_t i = 0; i < p->n_rlimits; i++)
		json_array_append_new(rl, json_pack("{s:s,s:o,s:o}", "type", p->rlimits[i].type,
		                                    "hard", u64_json(p->rlimits[i].hard), "soft",
		                                    u64_json(p->rlimits[i].soft)));
	json_object_set_new(o, "rlimits", rl);
	json_object_set_new(o, "noNewPrivileges", json_boolean(p->no_new_privileges));
	set_i64(o, "oomScoreAdj", p->oom_score_adj);
	return lc_cfg_process_extra_json(p, o);
}

static json_t *resources_json(const struct lc_resources *r)
{
	json_t *o = json_object(), *mem = json_object(), *cpu = json_object();
	set_i64(mem, "limit", r->memory_limit);
	set_i64(mem, "reservation", r->memory_reservation);
	set_i64(mem, "swap", r->memory_swap);
	set_i64(cpu, "shares", r->cpu_shares);
	set_i64(cpu, "quota", r->cpu_quota);
	set_i64(cpu, "period", r->cpu_period);
	set_str(cpu, "cpus", r->cpu_cpus);
	set_str(cpu, "mems", r->cpu_mems);
	json_t *dev = json_array();
	for (size_t i = 0; i < r->n_devices; i++) {
		const struct lc_device_rule *d = &r->devices[i];
		char type[2] = {d->type, 0};
		json_t *e = json_pack("{s:b,s:s}", "allow", d->allow, "type", type);
		if (d->major >= 0)
			json_object_set_new(e, "major", json_integer(d->major));
		if (d->minor >= 0)
			json_object_set_new(e, "minor", json_integer(d->minor));
		set_str(e, "access", d->access);
		json_array_append_new(dev, e);
	}
	json_object_set_new(o, "devices", dev);
	if (r->n_hugepage_limits) {
		json_t *h = json_array();
		for (size_t i = 0; i < r->n_hugepage_limits; i++)
			json_array_append_new(h, json_pack("{s:s,s:o}", "pageSize",
			                                   r->hugepage_limits[i].page_size, "limit",
			                                   u64_json(r->hugepage_limits[i].limit)));
		json_object_set_new(o, "hugepageLimits", h);
	}
	json_object_size(mem) ? json_object_set_new(o, "memory", mem) : json_decref(mem);
	json_object_size(cpu) ? json_object_set_new(o, "cpu", cpu) : json_decref(cpu);
	if (r->pids_limit != LC_UNSET)
		json_object_set_new(o, "pids",
		                    json_pack("{s:I}", "limit", (json_int_t)r->pids_limit));
	return lc_cfg_resources_extra_json(r, o);
}

static json_t *seccomp_json(const struct lc_seccomp *s)
{
	json_t *o = json_object();
	set_str(o, "defaultAction", s->default_action);
	set_i64(o, "defaultErrnoRet", s->default_errno_ret);
	json_object_set_new(o, "architectures", strv_json(s->architectures));
	json_t *rules = json_array();
	for (size_t i = 0; i < s->n_syscalls; i++) {
		const struct lc_seccomp_rule *r = &s->syscalls[i];
		json_t *e =
		    json_pack("{s:o,s:s}", "names", strv_json(r->names), "action", r->action);
		set_i64(e, "errnoRet", r->errno_ret);
		if (r->n_args) {
			json_t *args = json_array();
			for (size_t j = 0; j < r->n_args; j++)
				json_array_append_new(
				    args,
				    json_pack("{s:I,s:o,s:o,s:s}", "index",
				              (json_int_t)r->args[j].index, "value",
				              u64_json(r->args[j].value), "valueTwo",
				              u64_json(r->args[j].value_two), "op", r->args[j].op));
			json_object_set_new(e, "args", args);
		}
		json_array_append_new(rules, e);
	}
	json_object_set_new(o, "syscalls", rules);
	return o;
}

static json_t *devices_json(const struct lc_config *c)
{
	json_t *a = json_array();
	for (size_t i = 0; i < c->n_devices; i++) {
		const struct lc_device *d = &c->devices[i];
		char type[2] = {d->type, 0};
		json_array_append_new(a, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I}", "type", type,
		                                   "path", d->path, "major", (json_int_t)d->major,
		                                   "minor", (json_int_t)d->minor, "fileMode",
		                                   (json_int_t)d->file_mode, "uid",
		                                   (json_int_t)d->uid, "gid", (json_int_t)d->gid));
	}
	return a;
}

static json_t *linux_json(const struct lc_config *c)
{
	json_t *o = json_object(), *ns = json_array();
	for (size_t i = 0; i < c->n_namespaces; i++) {
		json_t *e = json_pack("{s:s}", "type", lc_namespace_name(c->namespaces[i].type));
		set_str(e, "path", c->namespaces[i].path);
		json_array_append_new(ns, e);
	}
	json_object_set_new(o, "namespaces", ns);
	if (c->n_uid_mappings)
		json_object_set_new(o, "uidMappings",
		                    idmaps_json(c->uid_mappings, c->n_uid_mappings));
	if (c->n_gid_mappings)
		json_object_set_new(o, "gidMappings",
		                    idmaps_json(c->gid_mappings, c->n_gid_mappings));
	if (c->n_devices)
		json_object_set_new(o, "devices", devices_json(c));
	set_str(o, "cgroupsPath", c->cgroups_path);
	json_object_set_new(o, "resources", resources_json(&c->resources));
	if (c->seccomp)
		json_object_set_new(o, "seccomp", seccomp_json(c->seccomp));
	json_object_set_new(o, "maskedPaths", strv_json(c->masked_paths));
	json_object_set_new(o, "readonlyPaths", strv_json(c->readonly_paths));
	if (c->n_sysctl) {
		json_t *s = json_object();
		for (size_t i = 0; i < c->n_sysctl; i++)
			json_object_set_new(s, c->sysctl[i].key, json_string(c->sysctl[i].value));
		json_object_set_new(o, "sysctl", s);
	}
	set_str(o, "rootfsPropagation", c->rootfs_propagation);
	set_str(o, "mountLabel", c->mount_label);
	if (c->personality != LC_UNSET)
		json_object_set_new(o, "personality",
		                    json_pack("{s:s}", "domain",
		                              c->personality == PER_LINUX ? "LINUX" : "LINUX32"));
	return o;
}

char *lc_config_to_json(const struct lc_config *c)
{
	json_t *o = json_object();
	set_str(o, "ociVersion", c->oci_version ? c->oci_version : "1.0.2");
	json_object_set_new(o, "process", process_json(&c->process));
	json_object_set_new(o, "root",
	                    json_pack("{s:s,s:b}", "path", c->root_path ? c->root_path : "",
	                              "readonly", c->root_readonly));
	set_str(o, "hostname", c->hostname);
	set_str(o, "domainname", c->domainname);
	json_t *mounts = json_array();
	for (size_t i = 0; i < c->n_mounts; i++)
		json_array_append_new(mounts, mount_json(&c->mounts[i]));
	json_object_set_new(o, "mounts", mounts);
	json_object_set_new(o, "linux", linux_json(c));
	json_t *hooks = lc_cfg_hooks_json(c);
	if (hooks)
		json_object_set_new(o, "hooks", hooks);
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		abort();
	char *out = xasprintf("%s\n", s);
	free(s);
	return out;
}
