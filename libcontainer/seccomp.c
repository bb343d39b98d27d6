#define _GNU_SOURCE
#include "libcontainer/seccomp.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const struct {
	const char *name;
	enum scmp_compare op;
} ops[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE},
    {"SCMP_CMP_LT", SCMP_CMP_LT},
    {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ},
    {"SCMP_CMP_GE", SCMP_CMP_GE},
    {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

static int op_value(const char *name)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(ops); i++)
		if (strcmp(ops[i].name, name) == 0)
			return (int)ops[i].op;
	return -1;
}

/* Returns 0 and the libseccomp action, or -1 for an unknown name. */
static int action_value(const char *name, int64_t errno_ret, uint32_t *out)
{
	uint16_t e = errno_ret == LC_UNSET ? EPERM : (uint16_t)errno_ret;
	if (strcmp(name, "SCMP_ACT_ALLOW") == 0)
		*out = SCMP_ACT_ALLOW;
	else if (strcmp(name, "SCMP_ACT_ERRNO") == 0)
		*out = SCMP_ACT_ERRNO(e);
	else if (strcmp(name, "SCMP_ACT_KILL") == 0 || strcmp(name, "SCMP_ACT_KILL_THREAD") == 0)
		*out = SCMP_ACT_KILL;
	else if (strcmp(name, "SCMP_ACT_KILL_PROCESS") == 0)
		*out = SCMP_ACT_KILL_PROCESS;
	else if (strcmp(name, "SCMP_ACT_TRAP") == 0)
		*out = SCMP_ACT_TRAP;
	else if (strcmp(name, "SCMP_ACT_TRACE") == 0)
		*out = SCMP_ACT_TRACE(e);
	else if (strcmp(name, "SCMP_ACT_LOG") == 0)
		*out = SCMP_ACT_LOG;
	else
		return -1;
	return 0;
}

static uint32_t arch_value(const char *name)
{
	if (strncmp(name, "SCMP_ARCH_", 10) != 0)
		return 0;
	char lower[32];
	size_t i;
	for (i = 0; name[10 + i] && i < sizeof(lower) - 1; i++)
		lower[i] = (char)(name[10 + i] >= 'A' && name[10 + i] <= 'Z' ? name[10 + i] + 32
		                                                             : name[10 + i]);
	lower[i] = '\0';
	return seccomp_arch_resolve_name(lower);
}

int lc_seccomp_validate(const struct lc_seccomp *s, cm_err *err)
{
	uint32_t a;
	if (action_value(s->default_action, s->default_errno_ret, &a) < 0)
		return cm_err_set(err, EINVAL,
		                  "field linux.seccomp.defaultAction: unknown action %s",
		                  s->default_action);
	for (size_t i = 0; s->architectures && s->architectures[i]; i++)
		if (arch_value(s->architectures[i]) == 0)
			return cm_err_set(err, EINVAL,
			                  "field linux.seccomp.architectures[%zu]: unknown %s", i,
			                  s->architectures[i]);
	for (size_t i = 0; i < s->n_syscalls; i++) {
		const struct lc_seccomp_rule *r = &s->syscalls[i];
		if (action_value(r->action, r->errno_ret, &a) < 0)
			return cm_err_set(
			    err, EINVAL,
			    "field linux.seccomp.syscalls[%zu].action: unknown action %s", i,
			    r->action);
		if (r->n_args > 6)
			return cm_err_set(err, EINVAL,
			                  "field linux.seccomp.syscalls[%zu].args: more than 6", i);
		for (size_t j = 0; j < r->n_args; j++)
			if (op_value(r->args[j].op) < 0 || r->args[j].index > 5)
				return cm_err_set(
				    err, EINVAL,
				    "field linux.seccomp.syscalls[%zu].args[%zu]: bad "
				    "op %s or index %u",
				    i, j, r->args[j].op, r->args[j].index);
	}
	return 0;
}

static void ctx_release(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

static int add_rule(scmp_filter_ctx ctx, const struct lc_seccomp_rule *r, size_t idx, cm_err *err)
{
	uint32_t action;
	action_value(r->action, r->errno_ret, &action);
	struct scmp_arg_cmp cmp[6];
	for (size_t j = 0; j < r->n_args; j++)
		cmp[j] = (struct scmp_arg_cmp){.arg = r->args[j].index,
		                               .op = (enum scmp_compare)op_value(r->args[j].op),
		                               .datum_a = r->args[j].value,
		                               .datum_b = r->args[j].value_two};
	for (size_t k = 0; r->names[k]; k++) {
		int nr = seccomp_syscall_resolve_name(r->names[k]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* a syscall this libseccomp does not know: profiles list future
			             ones */
		int rc = seccomp_rule_add_array(ctx, action, nr, (unsigned)r->n_args, cmp);
		/* the default action already covers it */
		if (rc == -EACCES || rc == -EEXIST)
			continue;
		if (rc < 0)
			return cm_err_errno(err, -rc, "seccomp rule syscalls[%zu] %s", idx,
			                    r->names[k]);
	}
	return 0;
}

static int export_bpf(scmp_filter_ctx ctx, struct lc_bpf *out, cm_err *err)
{
	_cleanup_close_ int fd = memfd_create("lc-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return cm_err_sys(err, "memfd_create");
	int rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		return cm_err_errno(err, -rc, "seccomp_export_bpf");
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cm_err_sys(err, "fstat seccomp program");
	size_t len = (size_t)st.st_size;
	struct sock_filter *f = xmalloc(len ? len : 1);
	if (pread(fd, f, len, 0) != (ssize_t)len) {
		free(f);
		return cm_err_sys(err, "read seccomp program");
	}
	out->prog.filter = f;
	out->prog.len = (unsigned short)(len / sizeof(struct sock_filter));
	return 0;
}

int lc_seccomp_build(const struct lc_seccomp *s, struct lc_bpf *out, cm_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!s)
		return 0;
	if (lc_seccomp_validate(s, err) < 0)
		return -1;
	uint32_t def;
	action_value(s->default_action, s->default_errno_ret, &def);
	__attribute__((cleanup(ctx_release))) scmp_filter_ctx ctx = seccomp_init(def);
	if (!ctx)
		return cm_err_set(err, ENOMEM, "seccomp_init");
	/* The child loads the program itself: no_new_privs is its own decision. */
	seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	for (size_t i = 0; s->architectures && s->architectures[i]; i++) {
		int rc = seccomp_arch_add(ctx, arch_value(s->architectures[i]));
		if (rc < 0 && rc != -EEXIST)
			return cm_err_errno(err, -rc, "seccomp architecture %s",
			                    s->architectures[i]);
	}
	for (size_t i = 0; i < s->n_syscalls; i++)
		if (add_rule(ctx, &s->syscalls[i], i, err) < 0)
			return -1;
	return export_bpf(ctx, out, err);
}

/* FNV-1a over every field, and the library's version: the name of a cached program. */
static void hash_str(uint64_t *h, const char *s)
{
	for (; s && *s; s++)
		*h = (*h ^ (unsigned char)*s) * 1099511628211ULL;
	*h = (*h ^ 0xff) * 1099511628211ULL; /* a separator: "ab","c" differs from "a","bc" */
}

static void hash_u64(uint64_t *h, uint64_t v)
{
	char buf[24];
	snprintf(buf, sizeof(buf), "%llx", (unsigned long long)v);
	hash_str(h, buf);
}

static uint64_t seccomp_key(const struct lc_seccomp *s)
{
	uint64_t h = 14695981039346656037ULL;
	const struct scmp_version *v = seccomp_version();
	hash_u64(&h, ((uint64_t)v->major << 32) | (v->minor << 16) | v->micro);
	hash_str(&h, s->default_action);
	hash_u64(&h, (uint64_t)s->default_errno_ret);
	for (size_t i = 0; s->architectures && s->architectures[i]; i++)
		hash_str(&h, s->architectures[i]);
	for (size_t i = 0; i < s->n_syscalls; i++) {
		const struct lc_seccomp_rule *r = &s->syscalls[i];
		hash_str(&h, "rule");
		for (size_t k = 0; r->names[k]; k++)
			hash_str(&h, r->names[k]);
		hash_str(&h, r->action);
		hash_u64(&h, (uint64_t)r->errno_ret);
		for (size_t j = 0; j < r->n_args; j++) {
			hash_u64(&h, r->args[j].index);
			hash_u64(&h, r->args[j].value);
			hash_u64(&h, r->args[j].value_two);
			hash_str(&h, r->args[j].op);
		}
	}
	return h;
}

static int read_cached(int dirfd, const char *name, struct lc_bpf *out)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	cm_err ignored;
	if (cm_read_file_at(dirfd, name, 1 << 20, &data, &len, &ignored) < 0 || len == 0 ||
	    len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > 0xffff)
		return -1;
	out->prog.filter = (struct sock_filter *)cm_steal_ptr(data);
	out->prog.len = (unsigned short)(len / sizeof(struct sock_filter));
	return 0;
}

int lc_seccomp_build_cached(const struct lc_seccomp *s, int cache_dirfd, struct lc_bpf *out,
                            cm_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!s || cache_dirfd < 0)
		return lc_seccomp_build(s, out, err);
	char name[64];
	snprintf(name, sizeof(name), "seccomp-%016llx.bpf", (unsigned long long)seccomp_key(s));
	if (read_cached(cache_dirfd, name, out) == 0)
		return 0;
	if (lc_seccomp_build(s, out, err) < 0)
		return -1;
	cm_err ignored; /* a cache that cannot be written only costs time */
	cm_write_file_replace_at(cache_dirfd, name, out->prog.filter,
	                         out->prog.len * sizeof(struct sock_filter), 0600, &ignored);
	return 0;
}

void lc_bpf_free(struct lc_bpf *b)
{
	free(b->prog.filter);
	b->prog.filter = NULL;
	b->prog.len = 0;
}

int lc_bpf_load(const struct lc_bpf *b)
{
	if (b->prog.len == 0)
		return 0;
	int r = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &b->prog);
	if (r < 0 && errno == ENOSYS) /* before 3.17, and under valgrind */
		r = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &b->prog, 0, 0);
	return r;
}
