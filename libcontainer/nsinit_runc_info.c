/* runc's commands that speak JSON beyond the state: features (what this runtime supports),
 * events (the cgroup's counters as runc's stats event, and OOM kills), update --resources
 * (the spec's linux.resources object) and --version. */
#define _GNU_SOURCE
#include "libcontainer/nsinit_runc.h"
#include "libcontainer/nsinit_signals.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <unistd.h>

#ifndef HSUP_VERSION
#define HSUP_VERSION "unknown"
#endif

static json_t *string_array(const char *const *v)
{
	json_t *a = json_array();
	for (size_t i = 0; v[i]; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *capability_names(void)
{
	json_t *a = json_array();
	for (int i = 0; i <= CAP_LAST_CAP; i++) {
		char *name = cap_to_name((cap_value_t)i);
		if (!name)
			continue;
		_cleanup_free_ char *upper = xstrdup(name);
		for (char *p = upper; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		cap_free(name);
		json_array_append_new(a, json_string(upper));
	}
	return a;
}

static json_t *seccomp_features(void)
{
	static const char *const actions[] = {
	    "SCMP_ACT_ALLOW",        "SCMP_ACT_ERRNO",       "SCMP_ACT_KILL",
	    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
	    "SCMP_ACT_TRACE",        "SCMP_ACT_TRAP",        NULL};
	static const char *const operators[] = {"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
	                                        "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ",
	                                        "SCMP_CMP_NE", NULL};
	static const char *const archs[] = {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64",  "SCMP_ARCH_X32",
	                                    "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64", NULL};
	return json_pack("{s:b,s:o,s:o,s:o}", "enabled", 1, "actions", string_array(actions),
	                 "operators", string_array(operators), "archs", string_array(archs));
}

int nr_cmd_features(void)
{
	static const char *const mount_options[] = {
	    "async",       "atime",   "bind",       "dev",
	    "diratime",    "dirsync", "exec",       "lazytime",
	    "mand",        "noatime", "nodev",      "nodiratime",
	    "noexec",      "nomand",  "norelatime", "nostrictatime",
	    "nosuid",      "private", "rbind",      "relatime",
	    "rprivate",    "ro",      "rshared",    "rslave",
	    "runbindable", "rw",      "shared",     "slave",
	    "strictatime", "suid",    "sync",       "unbindable",
	    NULL};
	static const char *const namespaces[] = {"cgroup", "ipc",  "mount", "network",
	                                         "pid",    "user", "uts",   NULL};
	static const char *const hooks[] = {"prestart",
	                                    "createRuntime",
	                                    "createContainer",
	                                    "startContainer",
	                                    "poststart",
	                                    "poststop",
	                                    NULL};
	const struct scmp_version *v = seccomp_version();
	_cleanup_free_ char *libseccomp = xasprintf("%u.%u.%u", v->major, v->minor, v->micro);
	json_t *o = json_pack(
	    "{s:s,s:s,s:o,s:o,s:{s:o,s:o,s:{s:b,s:b,s:b,s:b},s:o,s:{s:b},s:{s:b}},s:{s:s,s:s}}",
	    "ociVersionMin", "1.0.0", "ociVersionMax", NR_OCI_VERSION, "hooks", string_array(hooks),
	    "mountOptions", string_array(mount_options), "linux", "namespaces",
	    string_array(namespaces), "capabilities", capability_names(), "cgroup", "v1", 1, "v2",
	    1, "systemd", 0, "systemdUser", 0, "seccomp", seccomp_features(), "apparmor", "enabled",
	    0, "selinux", "enabled", 0, "annotations", "io.github.seccomp.libseccomp.version",
	    libseccomp, "org.hsup.nsinit.version", HSUP_VERSION);
	char *s = json_dumps(o, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
	json_decref(o);
	puts(s);
	free(s);
	return 0;
}

void nr_print_version(void)
{
	printf("nsinit version %s (hsup's libcontainer)\nspec: %s\n", HSUP_VERSION, NR_OCI_VERSION);
}

/* ---- events ---- */

static json_t *stats_data(const struct lc_stats *st)
{
	const struct lc_cgroup_stats *g = &st->cg;
	json_t *net = ns_net_stats_json(st);
	return json_pack(
	    "{s:{s:{s:I,s:I,s:I}},s:{s:I,s:{s:I,s:I,s:I,s:I},s:{s:I,s:I}},s:{s:I,s:I},"
	    "s:{s:[{s:s,s:I},{s:s,s:I}]},s:o}",
	    "cpu", "usage", "total", (json_int_t)g->cpu_usage_ns, "kernel",
	    (json_int_t)g->cpu_system_ns, "user", (json_int_t)g->cpu_user_ns, "memory", "cache",
	    (json_int_t)g->memory_cache, "usage", "usage", (json_int_t)g->memory_usage, "max",
	    (json_int_t)g->memory_max_usage, "limit", (json_int_t)g->memory_limit, "failcnt",
	    (json_int_t)g->memory_failcnt, "raw", "cache", (json_int_t)g->memory_cache, "rss",
	    (json_int_t)g->memory_rss, "pids", "current", (json_int_t)g->pids_current, "limit",
	    (json_int_t)g->pids_limit, "blkio", "ioServiceBytesRecursive", "op", "Read", "value",
	    (json_int_t)g->blkio_read_bytes, "op", "Write", "value",
	    (json_int_t)g->blkio_write_bytes, "network_interfaces", net);
}

static void print_event(const char *type, const char *id, json_t *data)
{
	json_t *o = json_pack("{s:s,s:s}", "type", type, "id", id);
	if (data)
		json_object_set_new(o, "data", data);
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	puts(s);
	fflush(stdout);
	free(s);
}

static int print_stats(struct lc_container *c, cm_err *err)
{
	struct lc_stats st;
	if (lc_container_stats(c, &st, err) < 0)
		return -1;
	print_event("stats", lc_container_id(c), stats_data(&st));
	return 0;
}

/* A Go duration as runc takes it: 5s, 500ms, 1m. */
static int parse_interval(const char *s, int *ms, cm_err *err)
{
	char *unit;
	double n = strtod(s ? s : "5s", &unit);
	double scale = !strcmp(unit, "ms")  ? 1
	               : !strcmp(unit, "s") ? 1000
	               : !strcmp(unit, "m") ? 60000
	                                    : 0;
	if (scale == 0 || n <= 0 || n * scale > 86400000.0)
		return cm_err_set(err, EINVAL, "invalid interval %s", s);
	*ms = (int)(n * scale);
	return *ms > 0 ? 0 : cm_err_set(err, EINVAL, "invalid interval %s", s);
}

/* Until the init exits: a stats event every interval, an oom event on each OOM kill. */
static int stream_events(struct lc_container *c, int interval_ms, cm_err *err)
{
	int oom = -1, pidfd = lc_container_pidfd(c, err);
	if (pidfd < 0)
		return -1;
	if (lc_container_oom_fd(c, &oom, err) < 0)
		oom = -1;
	for (;;) {
		struct pollfd p[2] = {{pidfd, POLLIN, 0}, {oom, POLLIN, 0}};
		int n = poll(p, 2, interval_ms);
		char buf[4096];
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && (p[1].revents & POLLIN) && read(oom, buf, sizeof(buf)) > 0)
			print_event("oom", lc_container_id(c), NULL);
		if (n > 0 && (p[0].revents & POLLIN))
			break;
		if (n == 0 && print_stats(c, err) < 0)
			break;
	}
	if (oom >= 0)
		close(oom);
	return 0;
}

int nr_cmd_events(struct nr_args *a, struct lc_container *c, cm_err *err)
{
	int ms = 0;
	if (parse_interval(a->interval, &ms, err) < 0)
		return -1;
	enum lc_status st = lc_container_status(c);
	if (st == LC_STOPPED)
		return cm_err_set(err, ESRCH, "container %s is not running", a->id);
	if (a->stats)
		return print_stats(c, err);
	return stream_events(c, ms, err);
}

/* ---- update ---- */

static void set_limit(json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);
	if (json_is_integer(v))
		*out = json_integer_value(v);
}

static void set_string(json_t *o, const char *key, char **out)
{
	json_t *v = json_object_get(o, key);
	if (json_is_string(v) && json_string_length(v)) {
		free(*out);
		*out = xstrdup(json_string_value(v));
	}
}

/* The spec's linux.resources: what nsinit can change of it; other fields are left alone, as
 * runc leaves those it cannot update. */
static void resources_from_json(json_t *r, struct lc_resources *u)
{
	json_t *mem = json_object_get(r, "memory"), *cpu = json_object_get(r, "cpu");
	set_limit(mem, "limit", &u->memory_limit);
	set_limit(mem, "reservation", &u->memory_reservation);
	set_limit(mem, "swap", &u->memory_swap);
	set_limit(cpu, "shares", &u->cpu_shares);
	set_limit(cpu, "quota", &u->cpu_quota);
	set_limit(cpu, "period", &u->cpu_period);
	set_string(cpu, "cpus", &u->cpu_cpus);
	set_string(cpu, "mems", &u->cpu_mems);
	set_limit(json_object_get(r, "pids"), "limit", &u->pids_limit);
	set_limit(json_object_get(r, "blockIO"), "weight", &u->blkio_weight);
}

int nr_cmd_update(struct nr_args *a, struct lc_container *c, cm_err *err)
{
	if (a->resources) {
		json_error_t jerr;
		json_t *r = !strcmp(a->resources, "-") ? json_loadf(stdin, 0, &jerr)
		                                       : json_load_file(a->resources, 0, &jerr);
		if (!json_is_object(r)) {
			json_decref(r);
			return cm_err_set(err, EINVAL, "resources %s: %s", a->resources,
			                  r ? "not an object" : jerr.text);
		}
		resources_from_json(r, &a->update);
		json_decref(r);
	} else if (!a->has_update) {
		return cm_err_set(err, EINVAL, "update: no resource given (--resources or a flag)");
	}
	return lc_container_update(c, &a->update, err);
}
