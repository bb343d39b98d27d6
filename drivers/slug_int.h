/* Internal to drivers/slug*.c. */
#ifndef HS_SLUG_INT_H
#define HS_SLUG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* Opens path (relative, "" for root itself) beneath root as a directory, O_RDONLY, never
 * through a symbolic link, a magic link or a mount point (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV; where openat2 is missing, one
 * component at a time with O_NOFOLLOW, path being known to hold no "." or ".."). With mkdir,
 * missing directories are made (mode 0755). Returns the fd, or -1 with errno (ELOOP: a
 * component is a symbolic link; ENOTDIR: one is not a directory; EXDEV: a mount point). */
int hs_slug__open_dir(int root, const char *path, bool mkdir);

/* "./app/x" with what is not printable escaped (\xNN) and a long name cut, into buf. */
const char *hs_slug__quote(const char *s, char *buf, size_t cap);

/* Creates and locks a fresh temporary directory (mode 0700) in parent (an fd of its own, whose
 * lock keeps hs_slug_clean from seeing the new directory unlocked). Returns its fd; *name
 * receives its name (owned). */
int hs_slug__make_temp(int parent, char **name, cm_err *err);

#endif
