/* What fetching and mounting share: the directory of the images, a lock per stack that
 * serialises every process working on it, and the md5 of an image. */
#ifndef ST_STORE_H
#define ST_STORE_H

#include <stdint.h>

#include "common/err.h"
#include "stacks/manifest.h"

/* The manifest's directory, opened (O_DIRECTORY, close-on-exec). */
int st_store_open(const struct st_manifest *m, cm_err *err);
/* Takes the lock of stack id (".<id>.lock" in dirfd, flock LOCK_EX), waiting for another
 * process or thread that holds it. Returns the fd that holds it: closing it releases it. The
 * file is never removed (removing a lock file races with its next taker). */
int st_store_lock(int dirfd, const char *id, cm_err *err);
/* md5 of what fd holds from its start, as 32 lowercase hexadecimal digits; what names it in
 * errors. */
int st_md5_fd(int fd, const char *what, char hex[ST_MD5_HEX + 1], cm_err *err);
void st_md5_hex(const uint8_t digest[16], char hex[ST_MD5_HEX + 1]);

#endif
