/* lc_config_validate: what the JSON shape alone cannot tell. Errors name the field. */
#define _GNU_SOURCE
#include "libcontainer/caps.h"
#include "libcontainer/config.h"
#include "libcontainer/seccomp.h"
#include "libcontainer/validate.h"
#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const struct {
	const char *name;
	int resource;
} rlimits[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},           {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},         {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},         {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},       {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},   {"RLIMIT_AS", RLIMIT_AS},
    {"RLIMIT_LOCKS", RLIMIT_LOCKS},       {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
    {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", RLIMIT_NICE},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},     {"RLIMIT_RTTIME", RLIMIT_RTTIME},
};

int lc_rlimit_resource(const char *name)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(rlimits); i++)
		if (strcmp(rlimits[i].name, name) == 0)
			return rlimits[i].resource;
	return -1;
}

static const struct {
	const char *name;
	unsigned long flags;
} propagations[] = {
    {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

unsigned long lc_propagation_flags(const char *name)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(propagations); i++)
		if (strcmp(propagations[i].name, name) == 0)
			return propagations[i].flags;
	return 0;
}

static int check_abs(const char *p, const char *field, size_t i, cm_err *err)
{
	if (!p || p[0] != '/')
		return cm_err_set(err, EINVAL, "field %s[%zu]: %s is not an absolute path", field,
		                  i, p ? p : "(none)");
	return 0;
}

static int check_paths(char *const *v, const char *field, cm_err *err)
{
	for (size_t i = 0; v && v[i]; i++)
		if (check_abs(v[i], field, i, err) < 0)
			return -1;
	return 0;
}

static int check_namespaces(const struct lc_config *c, cm_err *err)
{
	for (size_t i = 0; i < c->n_namespaces; i++)
		for (size_t j = 0; j < i; j++)
			if (c->namespaces[i].type == c->namespaces[j].type)
				return cm_err_set(err, EINVAL,
				                  "field linux.namespaces[%zu]: %s appears twice",
				                  i, lc_namespace_name(c->namespaces[i].type));
	bool userns = lc_config_has_namespace(c, CLONE_NEWUSER);
	if ((c->n_uid_mappings || c->n_gid_mappings) && !userns)
		return cm_err_set(err, EINVAL,
		                  "field linux.uidMappings: mappings need a user namespace");
	for (size_t i = 0; i < c->n_namespaces; i++)
		if (c->namespaces[i].type == CLONE_NEWUSER && !c->namespaces[i].path &&
		    (!c->n_uid_mappings || !c->n_gid_mappings))
			return cm_err_set(err, EINVAL,
			                  "field linux.uidMappings: a new user namespace "
			                  "needs uidMappings and gidMappings");
	if (c->hostname && *c->hostname && !lc_config_has_namespace(c, CLONE_NEWUTS))
		return cm_err_set(err, EINVAL, "field hostname: needs a uts namespace");
	if (c->domainname && *c->domainname && !lc_config_has_namespace(c, CLONE_NEWUTS))
		return cm_err_set(err, EINVAL, "field domainname: needs a uts namespace");
	return 0;
}

/* Without a mount namespace the container shares the host's mounts (the spec's rule for a
 * namespace not listed), and this runtime never changes the host's: it only chroots into
 * root.path. What would need a mount is refused, naming the field. */
static int check_no_mount_ns(const struct lc_config *c, cm_err *err)
{
	static const char why[] = "needs a mount namespace (linux.namespaces has none: the "
	                          "container shares the host's mounts, which are left alone)";
	const char *field = c->n_mounts                                 ? "mounts"
	                    : c->masked_paths && c->masked_paths[0]     ? "linux.maskedPaths"
	                    : c->readonly_paths && c->readonly_paths[0] ? "linux.readonlyPaths"
	                    : c->n_devices                              ? "linux.devices"
	                    : c->root_readonly                          ? "root.readonly"
	                    : c->rootfs_propagation                     ? "linux.rootfsPropagation"
	                    : c->n_sysctl                               ? "linux.sysctl"
	                                                                : NULL;
	if (lc_config_has_namespace(c, CLONE_NEWNS) || !field)
		return 0;
	return cm_err_set(err, EINVAL, "field %s: %s", field, why);
}

/* "1.0.2", "1.2.0-rc.1", "1.0.2-dev": the spec's SemVer 2.0.0. */
static int check_oci_version(const char *v, cm_err *err)
{
	const char *s = v;
	for (int part = 0; v && part < 3; part++) {
		size_t n = strspn(s, "0123456789");
		if (n == 0 || (n > 1 && s[0] == '0') || (part < 2 && s[n] != '.'))
			return cm_err_set(err, EINVAL, "field ociVersion: %s is not a version", v);
		s += n + (part < 2);
	}
	if (v && *s && *s != '-' && *s != '+')
		return cm_err_set(err, EINVAL, "field ociVersion: %s is not a version", v);
	return 0;
}

static bool host_flag(const char *path)
{
	char c = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool on = read(fd, &c, 1) == 1 && (c == 'Y' || c == '1');
	close(fd);
	return on;
}

/* Labels and profiles this runtime cannot apply: harmless where the host has no SELinux or
 * AppArmor to enforce them (a label asks for confinement nobody would enforce anyway), an
 * error where it does, since the container would run unconfined. */
static int check_security_labels(const struct lc_config *c, cm_err *err)
{
	bool selinux = access("/sys/fs/selinux/enforce", F_OK) == 0;
	const struct lc_process *p = &c->process;
	if (selinux && p->selinux_label && *p->selinux_label)
		return cm_err_set(err, ENOTSUP,
		                  "field process.selinuxLabel: SELinux is enabled on this "
		                  "host and this runtime cannot apply labels");
	if (selinux && c->mount_label && *c->mount_label)
		return cm_err_set(err, ENOTSUP,
		                  "field linux.mountLabel: SELinux is enabled on this host and "
		                  "this runtime cannot apply labels");
	if (p->apparmor_profile && *p->apparmor_profile &&
	    strcmp(p->apparmor_profile, "unconfined") != 0 &&
	    host_flag("/sys/module/apparmor/parameters/enabled"))
		return cm_err_set(err, ENOTSUP,
		                  "field process.apparmorProfile: AppArmor is enabled on this "
		                  "host and this runtime cannot apply profiles");
	return 0;
}

static bool ipc_sysctl(const char *k)
{
	return strncmp(k, "fs.mqueue.", 10) == 0 || strcmp(k, "kernel.msgmax") == 0 ||
	       strcmp(k, "kernel.msgmnb") == 0 || strcmp(k, "kernel.msgmni") == 0 ||
	       strcmp(k, "kernel.sem") == 0 || strcmp(k, "kernel.shmall") == 0 ||
	       strcmp(k, "kernel.shmmax") == 0 || strcmp(k, "kernel.shmmni") == 0 ||
	       strcmp(k, "kernel.shm_rmid_forced") == 0;
}

static int check_sysctl(const struct lc_config *c, cm_err *err)
{
	for (size_t i = 0; i < c->n_sysctl; i++) {
		const char *k = c->sysctl[i].key;
		bool ok =
		    (ipc_sysctl(k) && lc_config_has_namespace(c, CLONE_NEWIPC)) ||
		    (strncmp(k, "net.", 4) == 0 && lc_config_has_namespace(c, CLONE_NEWNET)) ||
		    ((strcmp(k, "kernel.hostname") == 0 || strcmp(k, "kernel.domainname") == 0) &&
		     lc_config_has_namespace(c, CLONE_NEWUTS));
		if (!ok || strstr(k, "..") || strchr(k, '/'))
			return cm_err_set(
			    err, EINVAL,
			    "field linux.sysctl.%s: not in a namespace the container owns", k);
	}
	return 0;
}

static int check_process(const struct lc_process *p, cm_err *err)
{
	if (!p->args || !p->args[0])
		return cm_err_set(err, EINVAL, "field process.args: missing");
	if (p->cwd && p->cwd[0] != '/')
		return cm_err_set(err, EINVAL, "field process.cwd: %s is not an absolute path",
		                  p->cwd);
	struct lc_caps caps;
	if (lc_caps_from_process(p, &caps, err) < 0)
		return -1;
	for (size_t i = 0; i < p->n_rlimits; i++) {
		if (lc_rlimit_resource(p->rlimits[i].type) < 0)
			return cm_err_set(err, EINVAL,
			                  "field process.rlimits[%zu].type: unknown %s", i,
			                  p->rlimits[i].type);
		if (p->rlimits[i].soft > p->rlimits[i].hard)
			return cm_err_set(err, EINVAL,
			                  "field process.rlimits[%zu]: soft above hard", i);
	}
	if (p->oom_score_adj != LC_UNSET && (p->oom_score_adj < -1000 || p->oom_score_adj > 1000))
		return cm_err_set(err, EINVAL, "field process.oomScoreAdj: not in -1000..1000");
	return 0;
}

static int check_idmaps(const struct lc_idmap *m, size_t n, const char *field, cm_err *err)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t last_c = (uint64_t)m[i].container_id + m[i].size - 1;
		uint64_t last_h = (uint64_t)m[i].host_id + m[i].size - 1;
		if (m[i].size == 0 || last_c > LC_ID_MAX || last_h > LC_ID_MAX)
			return cm_err_set(
			    err, EINVAL,
			    "field %s[%zu]: ids %u to %llu and %u to %llu: a size of 1 "
			    "or more, and ids up to 4294967294",
			    field, i, m[i].container_id, (unsigned long long)last_c, m[i].host_id,
			    (unsigned long long)last_h);
	}
	return 0;
}

static int check_id(uint32_t id, const char *field, cm_err *err)
{
	if (id > LC_ID_MAX)
		return cm_err_set(err, EINVAL, "field %s: expected an id from 0 to 4294967294",
		                  field);
	return 0;
}

/* Every uid and gid the config gives: (uid_t)-1 would mean "unchanged" to the kernel. */
static int check_ids(const struct lc_config *c, cm_err *err)
{
	char field[64];
	if (check_id(c->process.uid, "process.user.uid", err) < 0 ||
	    check_id(c->process.gid, "process.user.gid", err) < 0)
		return -1;
	for (size_t i = 0; i < c->process.n_additional_gids; i++) {
		snprintf(field, sizeof(field), "process.user.additionalGids[%zu]", i);
		if (check_id(c->process.additional_gids[i], field, err) < 0)
			return -1;
	}
	for (size_t i = 0; i < c->n_devices; i++) {
		snprintf(field, sizeof(field), "linux.devices[%zu].uid", i);
		if (check_id(c->devices[i].uid, field, err) < 0)
			return -1;
		snprintf(field, sizeof(field), "linux.devices[%zu].gid", i);
		if (check_id(c->devices[i].gid, field, err) < 0)
			return -1;
	}
	if (check_idmaps(c->uid_mappings, c->n_uid_mappings, "linux.uidMappings", err) < 0 ||
	    check_idmaps(c->gid_mappings, c->n_gid_mappings, "linux.gidMappings", err) < 0)
		return -1;
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct lc_mount *m = &c->mounts[i];
		snprintf(field, sizeof(field), "mounts[%zu].uidMappings", i);
		if (check_idmaps(m->uid_mappings, m->n_uid_mappings, field, err) < 0)
			return -1;
		snprintf(field, sizeof(field), "mounts[%zu].gidMappings", i);
		if (check_idmaps(m->gid_mappings, m->n_gid_mappings, field, err) < 0)
			return -1;
	}
	return 0;
}

/* The container's own group, relative to the caller's or absolute in the hierarchy: never
 * the root or the caller's own group (delete kills what is in it), never out of the hierarchy
 * through "..". */
static int check_cgroups_path(const char *p, cm_err *err)
{
	if (!p)
		return 0;
	size_t n = strlen(p);
	if (n == 0 || strspn(p, "/") == n)
		return cm_err_set(
		    err, EINVAL,
		    "field linux.cgroupsPath: \"%s\" names no group of the container's "
		    "own",
		    p);
	for (const char *c = p; *c; c += strcspn(c, "/")) {
		c += strspn(c, "/");
		size_t len = strcspn(c, "/");
		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return cm_err_set(err, EINVAL,
			                  "field linux.cgroupsPath: %s: \".\" and \"..\" are not "
			                  "allowed in it",
			                  p);
	}
	if (strchr(p, '\n'))
		return cm_err_set(err, EINVAL, "field linux.cgroupsPath: a newline in it");
	return 0;
}

/* "2MB": the page size names a file (hugetlb.2MB.limit_in_bytes), so nothing else. */
static int check_hugepages(const struct lc_resources *r, cm_err *err)
{
	for (size_t i = 0; i < r->n_hugepage_limits; i++) {
		const char *s = r->hugepage_limits[i].page_size;
		size_t digits = s ? strspn(s, "0123456789") : 0;
		if (!s || digits == 0 || s[0] == '0' ||
		    !strchr("KMGT", s[digits] ? s[digits] : '-') ||
		    strcmp(s + digits + 1, "B") != 0)
			return cm_err_set(
			    err, EINVAL,
			    "field linux.resources.hugepageLimits[%zu].pageSize: %s is "
			    "not a page size like 2MB, 1GB or 64KB",
			    i, s ? s : "(none)");
	}
	return 0;
}

static int check_mounts(const struct lc_config *c, cm_err *err)
{
	for (size_t i = 0; i < c->n_mounts; i++) {
		const struct lc_mount *m = &c->mounts[i];
		if (!m->destination)
			return cm_err_set(err, EINVAL, "field mounts[%zu].destination: missing", i);
		if (m->destination[0] != '/')
			return cm_err_set(
			    err, EINVAL,
			    "field mounts[%zu].destination: %s is not an absolute path", i,
			    m->destination);
		if ((m->n_uid_mappings > 0) != (m->n_gid_mappings > 0))
			return cm_err_set(err, EINVAL,
			                  "field mounts[%zu]: an idmapped mount needs "
			                  "uidMappings and gidMappings",
			                  i);
		if (m->n_uid_mappings && !lc_mount_is_bind(m))
			return cm_err_set(
			    err, EINVAL,
			    "field mounts[%zu].uidMappings: only bind mounts can be idmapped", i);
		if (!m->type && !lc_mount_is_bind(m))
			return cm_err_set(err, EINVAL, "field mounts[%zu].type: missing", i);
	}
	return 0;
}

bool lc_mount_is_bind(const struct lc_mount *m)
{
	if (m->type && strcmp(m->type, "bind") == 0)
		return true;
	for (size_t i = 0; m->options && m->options[i]; i++)
		if (strcmp(m->options[i], "bind") == 0 || strcmp(m->options[i], "rbind") == 0)
			return true;
	return false;
}

int lc_config_validate(const struct lc_config *c, cm_err *err)
{
	if (!c->root_path || !*c->root_path)
		return cm_err_set(err, EINVAL, "field root.path: missing");
	if (check_process(&c->process, err) < 0 || check_namespaces(c, err) < 0 ||
	    check_mounts(c, err) < 0 || check_sysctl(c, err) < 0 || check_ids(c, err) < 0 ||
	    check_cgroups_path(c->cgroups_path, err) < 0 ||
	    check_hugepages(&c->resources, err) < 0 || check_no_mount_ns(c, err) < 0 ||
	    check_oci_version(c->oci_version, err) < 0 || check_security_labels(c, err) < 0)
		return -1;
	if (check_paths(c->masked_paths, "linux.maskedPaths", err) < 0 ||
	    check_paths(c->readonly_paths, "linux.readonlyPaths", err) < 0)
		return -1;
	for (size_t i = 0; i < c->n_devices; i++) {
		const char *d = c->devices[i].path;
		if (!d)
			return cm_err_set(err, EINVAL, "field linux.devices[%zu].path: missing", i);
		if (d[0] != '/')
			return cm_err_set(
			    err, EINVAL,
			    "field linux.devices[%zu].path: %s is not an absolute path", i, d);
	}
	if (c->rootfs_propagation && !lc_propagation_flags(c->rootfs_propagation))
		return cm_err_set(err, EINVAL, "field linux.rootfsPropagation: unknown %s",
		                  c->rootfs_propagation);
	if (c->seccomp && lc_seccomp_validate(c->seccomp, err) < 0)
		return -1;
	for (size_t i = 0; i < c->resources.n_devices; i++) {
		const char *a = c->resources.devices[i].access;
		if (a && (strspn(a, "rwm") != strlen(a) || !*a))
			return cm_err_set(
			    err, EINVAL, "field linux.resources.devices[%zu].access: %s is not rwm",
			    i, a);
	}
	return 0;
}
