/* The plan a container process follows between clone and exec. Everything in it is computed
 * before clone (strings, flags, the seccomp program, capability masks), because the child of a
 * process that may have threads must not allocate: it makes system calls only. */
#ifndef LC_INIT_H
#define LC_INIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "libcontainer/caps.h"
#include "libcontainer/seccomp.h"

/* What the child was doing when it failed, reported with errno and an index. */
enum lc_step {
	LC_STEP_READY = 0,
	LC_STEP_SYNC,
	LC_STEP_SETNS,
	LC_STEP_SETSID,
	LC_STEP_STDIO,
	LC_STEP_BECOME_ROOT,
	LC_STEP_HOSTNAME,
	LC_STEP_DOMAINNAME,
	LC_STEP_PROPAGATION,
	LC_STEP_ROOTFS,
	LC_STEP_MOUNT,
	LC_STEP_MOUNT_DEST,
	LC_STEP_DEVICE,
	LC_STEP_SYMLINK,
	LC_STEP_PIVOT,
	LC_STEP_MASK,
	LC_STEP_READONLY,
	LC_STEP_ROOT_READONLY,
	LC_STEP_SYSCTL,
	LC_STEP_SYSCTL_NOT_PROC,
	LC_STEP_RLIMIT,
	LC_STEP_CWD,
	LC_STEP_BOUNDING,
	LC_STEP_GROUPS,
	LC_STEP_SETGID,
	LC_STEP_SETUID,
	LC_STEP_NO_NEW_PRIVS,
	LC_STEP_CAPS,
	LC_STEP_SECCOMP,
	LC_STEP_SIGNALS,
	LC_STEP_FIND_EXEC,
	LC_STEP_INTERPRETER,
	LC_STEP_EXEC,
	LC_STEP_HOOKS,
	LC_STEP_CHROOT,
	LC_STEP_PERSONALITY,
	LC_STEP_IOPRIO,
	LC_STEP_SCHED,
	LC_STEP_PTY, /* also the report, errno 0, that carries the master of the pty opened */
	LC_STEP_COUNT
};

struct lc_report {
	int32_t step;
	int32_t errnum;
	int32_t index; /* which mount, path or device; -1 if none */
};

enum lc_mount_kind {
	LC_OP_MOUNT,   /* a filesystem: mount(source, dest, type, flags, data) */
	LC_OP_BIND,    /* a bind mount of a host path, then a remount for its flags */
	LC_OP_IDMAP,   /* a bind mount through open_tree + mount_setattr(MOUNT_ATTR_IDMAP) */
	LC_OP_REMOUNT, /* change the flags of what is mounted at dest */
	LC_OP_SETATTR, /* the same for dest and every mount below it, in one mount_setattr */
};

struct lc_mount_op {
	int kind;
	int index; /* mounts[index] in the config, for error messages */
	const char *source;
	const char *dest; /* relative to the rootfs: "dev/pts" */
	const char *fstype;
	unsigned long flags;         /* MS_* for mount(2) */
	unsigned long remount_flags; /* bind: MS_RDONLY etc. applied by a remount; 0: none */
	unsigned long propagation;   /* MS_SHARED... (with MS_REC) to apply after; 0: none */
	const char *data;
	bool dest_is_file;
	bool source_in_bundle; /* bind: source is relative to the bundle and may not leave it */
	int userns_fd;         /* LC_OP_IDMAP: a user namespace holding the mapping */
	bool wait_cgroups;     /* binds the container's cgroups: wait until the parent made them */
};

struct lc_dev_node {
	const char *path;      /* relative to the rootfs: "dev/null" */
	const char *host_path; /* bound from here inside a user namespace */
	mode_t mode;           /* S_IFCHR | 0666 ... */
	dev_t dev;
	uid_t uid;
	gid_t gid;
};

struct lc_ns_join {
	int fd;
	int type;
};

/* sched_setattr(2)'s argument, SCHED_ATTR_SIZE_VER0 */
struct lc_sched_attr {
	uint32_t size;
	uint32_t policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime;
	uint64_t deadline;
	uint64_t period;
};

struct lc_plan {
	int sync_fd;    /* the child's end of the socketpair */
	int start_fd;   /* create: the exec fifo, opened O_RDWR; read one byte to start. -1: no wait
	                 */
	int stdio[3];   /* -1: keep */
	int tty_slave;  /* >= 0: new session with this as the controlling terminal and stdio */
	bool userns;    /* a new user namespace: wait for the maps, then become root in it */
	bool join_only; /* exec into a running container: no rootfs setup */
	bool no_mntns;  /* no mount namespace: chroot into the rootfs, mount nothing */
	bool hook_point; /* stop before pivot_root for the parent's create hooks */
	/* a new pty from the container's /dev/ptmx once in its root, made the controlling
	 * terminal and stdio, its master sent to the parent; its window rows x cols if given */
	bool pty_inside;
	unsigned short pty_rows, pty_cols;

	struct lc_ns_join joins[8];
	size_t n_joins;

	const char *hostname;
	const char *domainname;

	const char *rootfs; /* absolute host path */
	const char *bundle; /* relative bind sources are resolved beneath it; NULL: none */
	unsigned long root_propagation;
	bool root_readonly;
	struct lc_mount_op *ops;
	size_t n_ops;
	struct lc_dev_node *devs;
	size_t n_devs;
	bool dev_symlinks; /* /dev/fd, /dev/stdin..., /dev/ptmx */
	bool ptmx_link;
	char **masked;
	char **readonly;
	char **sysctl_paths; /* "/proc/sys/net/ipv4/ip_forward" */
	char **sysctl_values;

	struct rlimit rlimits[RLIM_NLIMITS];
	bool rlimit_set[RLIM_NLIMITS];
	const char *cwd;
	int umask;        /* -1: leave it */
	int ioprio;       /* ioprio_set's value; -1: leave it */
	long personality; /* -1: leave it */
	bool sched_set;
	struct lc_sched_attr sched;

	uid_t uid;
	gid_t gid;
	gid_t *groups;
	size_t n_groups;
	struct lc_caps caps;
	bool no_new_privs;
	uint64_t exec_blocked; /* signals blocked at exec (lc_process.exec_blocked) */
	struct lc_bpf bpf;

	int exec_fd;            /* >= 0: execveat(exec_fd, "", AT_EMPTY_PATH) */
	char **exec_candidates; /* absolute paths to try, in order */
	char **argv;
	char **envp;
};

/* In the child: reads bytes from the parent until want arrives; -1 if the parent is gone. */
int lc_init_wait_byte(const struct lc_plan *p, char want);

/* In the child, before pivot_root: tells the parent that the create hooks may run, and waits
 * until they have ('h'). -1 with errno if the parent is gone (a hook failed). */
int lc_init_hook_point(const struct lc_plan *p);

/* The child's whole life: never returns. */
__attribute__((noreturn)) void lc_init_run(const struct lc_plan *p);

/* Child-side pieces (rootfs.c, mounts.c), system calls only. Each returns -1 with errno set
 * and *index naming the failing item. Every path into the rootfs is resolved inside it
 * (inroot.h) and the operation done on the fd that came back. */
/* Mounts, /dev nodes and links, masked paths, sysctls, read-only paths, then pivot_root. */
int lc_rootfs_prepare(const struct lc_plan *p, int *step, int *index);
int lc_rootfs_finish(const struct lc_plan *p, int *step, int *index);
/* Runs one mount operation; bundlefd resolves a bind source relative to the bundle. Returns
 * -2 if the destination could not be made or opened, -1 if the mount failed. */
int lc_mount_op_run(int rootfd, int bundlefd, const struct lc_mount_op *op);
int lc_open_in_root(int rootfd, const char *rel, bool create, bool file);

#endif
