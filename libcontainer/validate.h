/* Name tables shared by validation and the runtime. */
#ifndef LC_VALIDATE_H
#define LC_VALIDATE_H

#include <stdbool.h>
#include <sys/mount.h>

#include "libcontainer/config.h"

/* RLIMIT_* value for "RLIMIT_NOFILE", or -1. */
int lc_rlimit_resource(const char *name);
/* MS_PRIVATE|MS_REC for "rprivate", ...; 0 for an unknown name. */
unsigned long lc_propagation_flags(const char *name);
bool lc_mount_is_bind(const struct lc_mount *m);

#endif
