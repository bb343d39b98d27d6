/* Seccomp: the filter is compiled with libseccomp into BPF before clone; the child only loads
 * the finished program with one system call. */
#ifndef LC_SECCOMP_H
#define LC_SECCOMP_H

#include <linux/filter.h>

#include "common/err.h"
#include "libcontainer/config.h"

struct lc_bpf {
	struct sock_fprog prog; /* prog.filter is owned; len 0: no filter */
};

/* Checks the names (actions, operators, architectures) without compiling. */
int lc_seccomp_validate(const struct lc_seccomp *s, cm_err *err);
int lc_seccomp_build(const struct lc_seccomp *s, struct lc_bpf *out, cm_err *err);
/* The same, through a cache of compiled programs in cache_dirfd (-1: none), named by a hash
 * of the profile and libseccomp's version: compiling costs half a millisecond per container. */
int lc_seccomp_build_cached(const struct lc_seccomp *s, int cache_dirfd, struct lc_bpf *out,
                            cm_err *err);
void lc_bpf_free(struct lc_bpf *b);
/* In the child: installs the program (raw syscall). */
int lc_bpf_load(const struct lc_bpf *b);

#endif
