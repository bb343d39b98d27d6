/* Namespaces: id maps, namespace files to join, and user namespaces made only to carry a
 * mapping (for idmapped mounts). */
#ifndef LC_NAMESPACES_H
#define LC_NAMESPACES_H

#include <linux/sched.h>
#include <sys/types.h>

#include "common/err.h"
#include "libcontainer/config.h"

/* Writes /proc/PID/uid_map and gid_map. */
int lc_write_idmaps(pid_t pid, const struct lc_idmap *uid, size_t n_uid, const struct lc_idmap *gid,
                    size_t n_gid, cm_err *err);
/* A user namespace fd holding the given mapping, for mount_setattr(MOUNT_ATTR_IDMAP). */
int lc_userns_for_mapping(const struct lc_idmap *uid, size_t n_uid, const struct lc_idmap *gid,
                          size_t n_gid, int *fd, cm_err *err);
/* Opens a namespace file and checks it is of the given type (CLONE_NEW*). */
int lc_ns_open(const char *path, int type, int *fd, cm_err *err);
/* /proc/PID/ns/<name> of a type ("net" for CLONE_NEWNET). */
const char *lc_ns_proc_name(int type);

/* clone3, or clone(2) where clone3 is missing (old kernels, valgrind). Returns as fork. */
long lc_clone(struct clone_args *args);

#endif
