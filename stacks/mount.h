/* Mounting a stack image read-only, once, for every dyno of every release on it: the image
 * `<dir>/<name>-<version>.img` on a loop device of its own (LOOP_CTL_GET_FREE + LOOP_CONFIGURE,
 * read-only, cleared automatically when the last user lets go), its filesystem mounted
 * read-only, nodev and nosuid at `<dir>/<name>-<version>/`. A later hsup finds that mount again
 * (/proc/self/mountinfo and the loop device's backing file) instead of mounting it twice.
 * Counting the stack's users is the caller's: it unmounts when none is left. */
#ifndef ST_MOUNT_H
#define ST_MOUNT_H

#include <stdbool.h>

#include "common/err.h"
#include "stacks/manifest.h"

struct st_mount {
	char *path;  /* the mount point, absolute */
	int root_fd; /* O_PATH fd of the mount's root */
	bool reused; /* it was mounted already (by this or an earlier hsup) */
};

/* Mounts the stored image of s (st_fetch stores it), or finds it mounted. Blocks; serialised
 * with every other fetch, mount and unmount of s, in this process or another. A mount point
 * holding something else (another filesystem, a writable mount, the mount of another image) is
 * an error naming what is there. Nothing is left behind on failure: no loop device, mount or
 * mount point. */
int st_mount(const struct st_manifest *m, const struct st_stack *s, struct st_mount *out,
             cm_err *err);
/* Whether s is mounted as st_mount mounts it: 1 (and *out filled when out is not NULL), 0 if
 * nothing is mounted there, < 0 if something else is. Does not take the stack's lock. */
int st_mount_find(const struct st_manifest *m, const struct st_stack *s, struct st_mount *out,
                  cm_err *err);
/* Unmounts s (every mount of its image at its mount point, whatever their flags) and removes
 * the mount point. The mount is detached: what still uses it (an open file, an st_mount's
 * root_fd, a container's copy of it) keeps it until it lets go, and the loop device is freed
 * after the last user. Returns 1 if it was mounted, 0 if not; something else mounted there is
 * an error. */
int st_umount(const struct st_manifest *m, const struct st_stack *s, cm_err *err);
/* Closes root_fd and frees path (the mount stays). */
void st_mount_release(struct st_mount *mnt);

#endif
