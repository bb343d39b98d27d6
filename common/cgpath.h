/* Which cgroup a process is in, from /proc/PID/cgroup. */
#ifndef CM_CGPATH_H
#define CM_CGPATH_H

#include <sys/types.h>

/* The path (relative to the hierarchy's root, "/a/b") of pid's group in the v1 hierarchy of
 * controller, or in the v2 hierarchy when controller is NULL; pid 0 is this process. Owned;
 * NULL if pid is gone or not in such a hierarchy. */
char *cm_cgroup_path_of(pid_t pid, const char *controller);

#endif
