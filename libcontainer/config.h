/* The container configuration: the OCI runtime-spec config.json as a C struct. It is either
 * parsed from JSON (lc_config_parse) or built in memory by a caller; lc_config_validate checks
 * it either way. Every pointer is owned by the config and freed by lc_config_free. */
#ifndef LC_CONFIG_H
#define LC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define LC_UNSET INT64_MIN /* an optional number that was not given */

/* The largest uid or gid: 4294967295 is (uid_t)-1, which setresuid and setresgid take as
 * "leave this one unchanged", so a process asked to run as it would stay root. */
#define LC_ID_MAX 4294967294u

struct lc_idmap {
	uint32_t container_id;
	uint32_t host_id;
	uint32_t size;
};

struct lc_mount {
	char *destination;
	char *type; /* "bind" or NULL with a bind option: a bind mount */
	char *source;
	char **options; /* flags (ro, nosuid, rbind, rprivate, ...) and fs data (size=, mode=) */
	struct lc_idmap *uid_mappings; /* an idmapped bind mount when both are given */
	size_t n_uid_mappings;
	struct lc_idmap *gid_mappings;
	size_t n_gid_mappings;
};

enum lc_cap_set {
	LC_CAP_BOUNDING,
	LC_CAP_EFFECTIVE,
	LC_CAP_INHERITABLE,
	LC_CAP_PERMITTED,
	LC_CAP_AMBIENT,
	LC_CAP_NSETS
};

struct lc_rlimit {
	char *type; /* "RLIMIT_NOFILE" */
	uint64_t soft;
	uint64_t hard;
};

/* process.scheduler: sched_setattr(2) for the container's process. */
struct lc_scheduler {
	int policy; /* SCHED_OTHER ... SCHED_DEADLINE */
	int nice;
	int priority;
	uint64_t flags; /* SCHED_FLAG_* */
	uint64_t runtime, deadline, period;
};

struct lc_process {
	char **args;
	char **env;
	char *cwd;
	uint32_t uid;
	uint32_t gid;
	uint32_t *additional_gids;
	size_t n_additional_gids;
	char **caps[LC_CAP_NSETS]; /* capability names per set; NULL: the set is empty */
	struct lc_rlimit *rlimits;
	size_t n_rlimits;
	bool no_new_privileges;
	bool terminal;
	unsigned short console_rows, console_cols; /* consoleSize; 0: not given */
	int64_t oom_score_adj;                     /* LC_UNSET: leave it */
	int64_t umask;                             /* user.umask; LC_UNSET: 0022 as runc */
	char *selinux_label;                       /* accepted only where SELinux is off */
	char *apparmor_profile;                    /* accepted only where AppArmor is off */
	int io_prio_class;                         /* IOPRIO_CLASS_*; 0: not given */
	int io_prio_level;
	struct lc_scheduler *scheduler; /* NULL: not given */
	/* C API only: signals blocked when the process execs (bit n-1 for signal n), for an init
	 * that takes them with sigwait: as PID 1 it would lose one sent before it blocks them
	 * itself, since the kernel drops signals PID 1 neither handles nor blocks. 0: none. */
	uint64_t exec_blocked;
};

struct lc_namespace {
	int type;   /* CLONE_NEWNS, CLONE_NEWUTS, ... */
	char *path; /* join this namespace instead of making one; NULL: a new one */
};

struct lc_device {
	char type; /* 'c', 'b', 'u' or 'p' */
	char *path;
	int64_t major;
	int64_t minor;
	uint32_t file_mode; /* 0: 0666 */
	uint32_t uid;
	uint32_t gid;
};

struct lc_device_rule {
	bool allow;
	char type;     /* 'a', 'c' or 'b' */
	int64_t major; /* -1: any */
	int64_t minor; /* -1: any */
	char *access;  /* "rwm" */
};

struct lc_hugepage_limit {
	char *page_size; /* "2MB", "1GB", "64KB" */
	uint64_t limit;  /* bytes */
};

struct lc_sysctl {
	char *key;
	char *value;
};

/* A blockIO weight or throttle for one device: rate is bytes or operations per second. */
struct lc_blkio_device {
	int64_t major;
	int64_t minor;
	int64_t weight; /* LC_UNSET: not given */
	uint64_t rate;
};

enum lc_blkio_throttle {
	LC_THROTTLE_READ_BPS,
	LC_THROTTLE_WRITE_BPS,
	LC_THROTTLE_READ_IOPS,
	LC_THROTTLE_WRITE_IOPS,
	LC_THROTTLE_N
};

struct lc_resources {
	int64_t memory_limit; /* bytes; LC_UNSET, or -1 for unlimited */
	int64_t memory_reservation;
	int64_t memory_swap;
	int64_t cpu_shares;
	int64_t cpu_quota;
	int64_t cpu_period;
	char *cpu_cpus;
	char *cpu_mems;
	int64_t pids_limit;
	int64_t blkio_weight;
	int64_t blkio_leaf_weight;
	struct lc_blkio_device *blkio_weight_devices;
	size_t n_blkio_weight_devices;
	struct lc_blkio_device *blkio_throttle[LC_THROTTLE_N];
	size_t n_blkio_throttle[LC_THROTTLE_N];
	int64_t memory_kernel; /* the deprecated kernel limits: v1 only */
	int64_t memory_kernel_tcp;
	int64_t memory_swappiness;
	int disable_oom_killer;    /* -1: not given, 0, 1 */
	struct lc_sysctl *unified; /* resources.unified: cgroup v2 file → value */
	size_t n_unified;
	struct lc_device_rule *devices;
	size_t n_devices;
	struct lc_hugepage_limit *hugepage_limits;
	size_t n_hugepage_limits;
};

/* Resources of which nothing is given (an update that changes only what its flags name). */
#define LC_RESOURCES_UNSET                                                                         \
	((struct lc_resources){.memory_limit = LC_UNSET,                                           \
	                       .memory_reservation = LC_UNSET,                                     \
	                       .memory_swap = LC_UNSET,                                            \
	                       .cpu_shares = LC_UNSET,                                             \
	                       .cpu_quota = LC_UNSET,                                              \
	                       .cpu_period = LC_UNSET,                                             \
	                       .pids_limit = LC_UNSET,                                             \
	                       .blkio_weight = LC_UNSET})

struct lc_seccomp_arg {
	uint32_t index;
	uint64_t value;
	uint64_t value_two;
	char *op; /* "SCMP_CMP_EQ" ... */
};

struct lc_seccomp_rule {
	char **names;
	char *action;      /* "SCMP_ACT_ERRNO" ... */
	int64_t errno_ret; /* LC_UNSET: EPERM */
	struct lc_seccomp_arg *args;
	size_t n_args;
};

struct lc_seccomp {
	char *default_action;
	int64_t default_errno_ret;
	char **architectures;
	struct lc_seccomp_rule *syscalls;
	size_t n_syscalls;
};

enum lc_hook_kind {
	LC_HOOK_PRESTART,
	LC_HOOK_CREATE_RUNTIME,
	LC_HOOK_CREATE_CONTAINER,
	LC_HOOK_START_CONTAINER,
	LC_HOOK_POSTSTART,
	LC_HOOK_POSTSTOP,
	LC_HOOK_NKINDS
};

struct lc_hook {
	char *path; /* absolute, in the namespace the hook runs in */
	char **args;
	char **env;
	int64_t timeout; /* seconds; LC_UNSET: none */
};

struct lc_config {
	char *oci_version;
	struct lc_hook *hooks[LC_HOOK_NKINDS];
	size_t n_hooks[LC_HOOK_NKINDS];
	char *root_path; /* the rootfs, relative to the bundle directory or absolute */
	bool root_readonly;
	struct lc_mount *mounts;
	size_t n_mounts;
	struct lc_process process;
	char *hostname;
	char *domainname;
	struct lc_namespace *namespaces;
	size_t n_namespaces;
	struct lc_idmap *uid_mappings;
	size_t n_uid_mappings;
	struct lc_idmap *gid_mappings;
	size_t n_gid_mappings;
	struct lc_device *devices;
	size_t n_devices;
	char *cgroups_path;
	struct lc_resources resources;
	struct lc_seccomp *seccomp; /* NULL: no filter */
	char **masked_paths;
	char **readonly_paths;
	struct lc_sysctl *sysctl;
	size_t n_sysctl;
	char *rootfs_propagation; /* "private", "rslave", ...; NULL: rprivate */
	char *mount_label;        /* accepted only where SELinux is off */
	int64_t personality;      /* PER_LINUX or PER_LINUX32; LC_UNSET: leave it */
};

/* The hook kinds as the spec spells them ("prestart", "createRuntime", ...). */
const char *lc_hook_kind_name(enum lc_hook_kind k);

/* An empty config: every optional number LC_UNSET, oomScoreAdj unset. */
struct lc_config *lc_config_new(void);
void lc_config_free(struct lc_config *c);
/* Parses an OCI config.json text. Unknown fields are ignored, as the spec requires; a known
 * feature this runtime cannot honour, and a value of the wrong type, are errors naming them. */
int lc_config_parse(const char *json, struct lc_config **out, cm_err *err);
int lc_config_load(const char *path, struct lc_config **out, cm_err *err);
/* Writes the config as OCI JSON (an owned, NUL-terminated string). */
char *lc_config_to_json(const struct lc_config *c);
/* Checks what parsing alone cannot: names known to the kernel and the libraries, paths
 * absolute, a user namespace with mappings, and so on. Errors name the field. */
int lc_config_validate(const struct lc_config *c, cm_err *err);
/* The default config `nsinit config` prints: the busybox rootfs "rootfs", mnt/uts/ipc/pid/net
 * namespaces, the standard mounts, masked and read-only paths, the default capability set and
 * seccomp profile. */
struct lc_config *lc_spec_default(void);

/* Namespace names as OCI spells them ("mount", "network", ...) and back. */
int lc_namespace_type(const char *name);
const char *lc_namespace_name(int type);
bool lc_config_has_namespace(const struct lc_config *c, int type);

#endif
