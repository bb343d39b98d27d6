/* The default container config that `nsinit config` prints, built in memory. */
#define _GNU_SOURCE
#include "libcontainer/config.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <sched.h>
#include <string.h>

/* The capability set of the Go libcontainer's sample config. */
static char *const default_caps[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
    NULL,
};

static char *const default_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", NULL};

static char *const masked[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    NULL,
};

static char *const readonly[] = {"/proc/bus",           "/proc/fs", "/proc/irq", "/proc/sys",
                                 "/proc/sysrq-trigger", NULL};

/* Denied with EPERM: the kernel-wide, host-changing or introspection calls a container has
 * no business making (and most need capabilities it lacks anyway). Everything else is allowed:
 * a short deny list keeps the filter small and fast to build and to run. */
static char *const denied_syscalls[] = {
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "move_pages",
    "nfsservctl",
    "open_by_handle_at",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "sysfs",
    "_sysctl",
    "umount",
    "umount2",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
    "mount",
    "fsopen",
    "fsmount",
    "fspick",
    "move_mount",
    "open_tree",
    "unshare",
    "setns",
    "syslog",
    "vhangup",
    NULL,
};

struct mount_spec {
	const char *dest, *type, *source;
	char *const *options;
};

static void add_mount(struct lc_config *c, const struct mount_spec *s)
{
	c->mounts = xrealloc(c->mounts, (c->n_mounts + 1) * sizeof(*c->mounts));
	struct lc_mount *m = &c->mounts[c->n_mounts++];
	memset(m, 0, sizeof(*m));
	m->destination = xstrdup(s->dest);
	m->type = xstrdup(s->type);
	m->source = xstrdup(s->source);
	m->options = cm_strv_dup(s->options);
}

static void default_mounts(struct lc_config *c)
{
	static char *const none[] = {NULL};
	static char *const dev[] = {"nosuid", "strictatime", "mode=755", "size=65536k", NULL};
	static char *const pts[] = {"nosuid",    "noexec", "newinstance", "ptmxmode=0666",
	                            "mode=0620", "gid=5",  NULL};
	static char *const shm[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL};
	static char *const mq[] = {"nosuid", "noexec", "nodev", NULL};
	static char *const sys[] = {"nosuid", "noexec", "nodev", "ro", NULL};
	static char *const cg[] = {"nosuid", "noexec", "nodev", "relatime", "ro", NULL};
	const struct mount_spec specs[] = {
	    {"/proc", "proc", "proc", none},
	    {"/dev", "tmpfs", "tmpfs", dev},
	    {"/dev/pts", "devpts", "devpts", pts},
	    {"/dev/shm", "tmpfs", "shm", shm},
	    {"/dev/mqueue", "mqueue", "mqueue", mq},
	    {"/sys", "sysfs", "sysfs", sys},
	    {"/sys/fs/cgroup", "cgroup", "cgroup", cg},
	};
	for (size_t i = 0; i < CM_ARRAY_SIZE(specs); i++)
		add_mount(c, &specs[i]);
}

static void default_seccomp(struct lc_config *c)
{
	static char *const arches[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", NULL};
	struct lc_seccomp *s = c->seccomp = xcalloc(1, sizeof(*s));
	s->default_action = xstrdup("SCMP_ACT_ALLOW");
	s->default_errno_ret = LC_UNSET;
	s->architectures = cm_strv_dup(arches);
	s->n_syscalls = 1;
	s->syscalls = xcalloc(1, sizeof(*s->syscalls));
	s->syscalls[0].names = cm_strv_dup(denied_syscalls);
	s->syscalls[0].action = xstrdup("SCMP_ACT_ERRNO");
	s->syscalls[0].errno_ret = 1; /* EPERM */
}

static void default_namespaces(struct lc_config *c)
{
	static const int types[] = {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID,
	                            CLONE_NEWNET};
	c->n_namespaces = CM_ARRAY_SIZE(types);
	c->namespaces = xcalloc(c->n_namespaces, sizeof(*c->namespaces));
	for (size_t i = 0; i < c->n_namespaces; i++)
		c->namespaces[i].type = types[i];
}

static void default_process(struct lc_process *p)
{
	static char *const args[] = {"sh", NULL};
	p->args = cm_strv_dup(args);
	p->env = cm_strv_dup(default_env);
	p->cwd = xstrdup("/");
	for (int s = 0; s < LC_CAP_NSETS; s++)
		if (s != LC_CAP_INHERITABLE && s != LC_CAP_AMBIENT)
			p->caps[s] = cm_strv_dup(default_caps);
	p->n_rlimits = 1;
	p->rlimits = xcalloc(1, sizeof(*p->rlimits));
	p->rlimits[0] = (struct lc_rlimit){xstrdup("RLIMIT_NOFILE"), 1024, 1024};
	p->no_new_privileges = true;
}

static void default_device_rules(struct lc_resources *r)
{
	r->n_devices = 1;
	r->devices = xcalloc(1, sizeof(*r->devices));
	r->devices[0] = (struct lc_device_rule){false, 'a', -1, -1, xstrdup("rwm")};
}

struct lc_config *lc_spec_default(void)
{
	struct lc_config *c = lc_config_new();
	c->oci_version = xstrdup("1.0.2");
	c->root_path = xstrdup("rootfs");
	c->root_readonly = true;
	c->hostname = xstrdup("nsinit");
	default_process(&c->process);
	default_mounts(c);
	default_namespaces(c);
	default_device_rules(&c->resources);
	default_seccomp(c);
	c->masked_paths = cm_strv_dup(masked);
	c->readonly_paths = cm_strv_dup(readonly);
	return c;
}
