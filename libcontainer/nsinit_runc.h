/* nsinit's second command line: runc's, as containerd's runc shim (go-runc) and other engines
 * call an OCI runtime. nsinit_runc.c tells the dialects apart and parses the arguments; the
 * commands are in nsinit_runc_cmds.c (lifecycle), nsinit_runc_exec.c and nsinit_runc_info.c
 * (features, events, update); nsinit_runc_io.c writes the log, the pid file and sends the
 * console. */
#ifndef NSINIT_RUNC_H
#define NSINIT_RUNC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "libcontainer/container.h"

#define NR_DEFAULT_ROOT "/run/nsinit"
#define NR_OCI_VERSION  "1.0.2"

struct nr_args {
	/* global */
	const char *root, *log, *log_format, *rootless, *criu;
	bool debug, systemd_cgroup, help, version;
	/* the command's */
	const char *command, *id;
	const char *bundle, *pid_file, *console_socket, *process, *format, *resources;
	const char *cwd, *user, *interval;
	int64_t preserve_fds;
	bool detach, tty, force, all, stats, no_pivot, no_new_keyring, quiet, keep;
	char **env;
	size_t n_env;
	char **rest; /* the operands after the id: kill's signal, exec's command */
	size_t n_rest;
	struct lc_resources update; /* update's flags */
	bool has_update;
};

/* Whether argv is in runc's dialect (the rule is in nsinit_runc.c). */
bool nr_is_runc_dialect(int argc, char **argv);
/* Runs the runc command line; returns the exit code. */
int nr_main(int argc, char **argv);

/* nsinit_runc_io.c */
/* Opens --log (appending) in --log-format; errors go there and to stderr. */
void nr_log_open(const struct nr_args *a);
void nr_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reports err (to the log and stderr) and returns 1, runc's exit code on error. */
int nr_fail(const cm_err *err);
/* Sends fd over the unix socket at path with SCM_RIGHTS, the payload its name (runc's). */
int nr_send_console(const char *path, int fd, cm_err *err);
/* Writes pid to path atomically (a temporary file beside it, renamed over it). */
int nr_write_pid_file(const char *path, pid_t pid, cm_err *err);
/* Makes fds from 3 + preserve on close-on-exec: only the first preserve reach the container. */
int nr_preserve_fds(int64_t preserve, cm_err *err);

/* nsinit_runc_cmds.c */
int nr_open(const struct nr_args *a, struct lc_factory **f, struct lc_container **c, cm_err *err);
int nr_cmd_create_run(struct nr_args *a, bool run);
int nr_cmd_on_container(struct nr_args *a);
int nr_cmd_list(struct nr_args *a);
int nr_cmd_delete(struct nr_args *a);

/* nsinit_runc_exec.c */
int nr_cmd_exec(struct nr_args *a);

/* nsinit_runc_info.c */
int nr_cmd_features(void);
int nr_cmd_events(struct nr_args *a, struct lc_container *c, cm_err *err);
int nr_cmd_update(struct nr_args *a, struct lc_container *c, cm_err *err);
void nr_print_version(void);

#endif
