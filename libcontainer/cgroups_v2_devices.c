/* cgroup v2 has no devices.allow: device access is decided by an eBPF program of type
 * BPF_PROG_TYPE_CGROUP_DEVICE attached to the group. This writes that program from the rules:
 * the last rule that matches decides, and nothing matching means deny. */
#define _GNU_SOURCE
#include "libcontainer/cgroups.h"
#include "common/cleanup.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define INSN(c, d, s, o, i)                                                                        \
	((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

struct prog {
	struct bpf_insn *insns;
	size_t n, cap;
};

static void emit(struct prog *p, struct bpf_insn insn)
{
	xgrow((void **)&p->insns, &p->cap, p->n + 1, sizeof(*p->insns));
	p->insns[p->n++] = insn;
}

static int access_bits(const char *access)
{
	int bits = 0;
	for (const char *a = access && *access ? access : "rwm"; *a; a++)
		bits |= *a == 'm'   ? BPF_DEVCG_ACC_MKNOD
		        : *a == 'r' ? BPF_DEVCG_ACC_READ
		                    : BPF_DEVCG_ACC_WRITE;
	return bits;
}

/* One rule: each test that fails jumps past the rule's final "return allow/deny". The number of
 * instructions left in the block is known as it is written, so the offsets are exact. Returns
 * whether the rule matches everything (what follows it could never run). */
static bool emit_rule(struct prog *p, const struct lc_device_rule *r)
{
	int type = r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
	int bits = access_bits(r->access);
	bool check_type = r->type != 'a', check_access = bits != 7;
	bool check_major = r->type != 'a' && r->major >= 0,
	     check_minor = r->type != 'a' && r->minor >= 0;
	int left = check_type + (check_access ? 3 : 0) + check_major + check_minor + 2;
	if (check_type)
		emit(p, INSN(BPF_JMP | BPF_JNE | BPF_K, 2, 0, (short)--left, type));
	if (check_access) {
		left -= 3;
		emit(p, INSN(BPF_ALU | BPF_MOV | BPF_X, 1, 3, 0, 0));
		emit(p, INSN(BPF_ALU | BPF_AND | BPF_K, 1, 0, 0, ~bits));
		emit(p, INSN(BPF_JMP | BPF_JNE | BPF_K, 1, 0, (short)left, 0));
	}
	if (check_major)
		emit(p, INSN(BPF_JMP | BPF_JNE | BPF_K, 4, 0, (short)--left, (int)r->major));
	if (check_minor)
		emit(p, INSN(BPF_JMP | BPF_JNE | BPF_K, 5, 0, (short)--left, (int)r->minor));
	emit(p, INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, r->allow ? 1 : 0));
	emit(p, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
	return !check_type && !check_access && !check_major && !check_minor;
}

static void build(const struct lc_device_rule *rules, size_t n, struct prog *p)
{
	/* r2 = type, r3 = access, r4 = major, r5 = minor (struct bpf_cgroup_dev_ctx) */
	emit(p, INSN(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0));
	emit(p, INSN(BPF_ALU | BPF_AND | BPF_K, 2, 0, 0, 0xffff));
	emit(p, INSN(BPF_LDX | BPF_MEM | BPF_W, 3, 1, 0, 0));
	emit(p, INSN(BPF_ALU | BPF_RSH | BPF_K, 3, 0, 0, 16));
	emit(p, INSN(BPF_LDX | BPF_MEM | BPF_W, 4, 1, 4, 0));
	emit(p, INSN(BPF_LDX | BPF_MEM | BPF_W, 5, 1, 8, 0));
	/* the verifier refuses unreachable code: stop after a rule that matches everything */
	for (size_t i = n; i-- > 0;)
		if (emit_rule(p, &rules[i]))
			return;
	emit(p, INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0));
	emit(p, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

static int bpf(int cmd, union bpf_attr *attr)
{
	return (int)syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

int lc_cgroup_v2_devices(const char *dir, const struct lc_config *cfg, cm_err *err)
{
	size_t n;
	_cleanup_free_ struct lc_device_rule *rules = lc_cgroup_device_rules(cfg, &n);
	struct prog p = {0};
	build(rules, n, &p);
	union bpf_attr load;
	memset(&load, 0, sizeof(load));
	load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	load.insns = (uint64_t)(uintptr_t)p.insns;
	load.insn_cnt = (uint32_t)p.n;
	load.license = (uint64_t)(uintptr_t) "GPL";

	_cleanup_close_ int prog = bpf(BPF_PROG_LOAD, &load);
	free(p.insns);
	if (prog < 0)
		return cm_err_sys(err, "load the device program for %s", dir);
	_cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return cm_err_sys(err, "open %s", dir);
	union bpf_attr attach;
	memset(&attach, 0, sizeof(attach));
	attach.target_fd = (uint32_t)dirfd;
	attach.attach_bpf_fd = (uint32_t)prog;
	attach.attach_type = BPF_CGROUP_DEVICE;
	attach.attach_flags = BPF_F_ALLOW_MULTI;
	if (bpf(BPF_PROG_ATTACH, &attach) < 0)
		return cm_err_sys(err, "attach the device program to %s", dir);
	return 0;
}
