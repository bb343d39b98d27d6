/* File helpers: whole-file reads with a size cap, and crash-safe replacement of a file. */
#ifndef CM_FSUTIL_H
#define CM_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

/* Reads path (relative to dirfd, or AT_FDCWD) into a NUL-terminated buffer. Files larger than
 * max bytes are refused. */
int cm_read_file_at(int dirfd, const char *path, size_t max, char **out, size_t *len, cm_err *err);
/* Writes data to a temporary file beside path, fsyncs it, renames it over path and fsyncs the
 * directory, so path holds either the old or the new content after a crash. */
int cm_write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                            cm_err *err);
/* Atomic like cm_write_file_atomic_at (readers see the old or the new content, never a mix)
 * but not durable: for state that means nothing after a reboot, such as a running process's. */
int cm_write_file_replace_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                             cm_err *err);
int cm_write_all(int fd, const void *data, size_t len);
int cm_fsync_dir(int dirfd, cm_err *err);

#endif
