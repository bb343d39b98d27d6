/* File helpers: whole-file reads with a size cap, opening a file in a directory someone else
 * controls without following links or blocking on a FIFO, and crash-safe replacement of a
 * file. */
#ifndef CM_FSUTIL_H
#define CM_FSUTIL_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "common/err.h"

/* Reads path (relative to dirfd, or AT_FDCWD) into a NUL-terminated buffer. Files larger than
 * max bytes are refused. */
int cm_read_file_at(int dirfd, const char *path, size_t max, char **out, size_t *len, cm_err *err);
/* Reads fd from where it stands to its end, like cm_read_file_at; what names it in errors. */
int cm_read_fd(int fd, const char *what, size_t max, char **out, size_t *len, cm_err *err);
/* Opens name (in dirfd) for reading only if it is a regular file, and fills *st. A symbolic
 * link is not followed, and a FIFO, socket, device or directory is refused by its type before
 * anything opens it for reading (opening a FIFO blocks; opening a device can act on it): the
 * error (code EINVAL, *st filled) says "NAME is a FIFO, not a regular file: refused without
 * reading it". Returns the fd, or < 0 (code ENOENT when there is no such name). */
int cm_open_regular_at(int dirfd, const char *name, struct stat *st, cm_err *err);
/* "a symbolic link", "a FIFO", "a directory", ... for the type bits of mode. */
const char *cm_file_kind(mode_t mode);
/* Writes data to a new temporary file beside path (a unique name, created exclusively and
 * never through a link, so concurrent writers and planted links cannot mix or redirect it),
 * fsyncs it, renames it over path and fsyncs the directory, so path holds either the old or
 * the new content after a crash. */
int cm_write_file_atomic_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                            cm_err *err);
/* Atomic like cm_write_file_atomic_at (readers see the old or the new content, never a mix)
 * but not durable: for state that means nothing after a reboot, such as a running process's. */
int cm_write_file_replace_at(int dirfd, const char *path, const void *data, size_t len, mode_t mode,
                             cm_err *err);
int cm_write_all(int fd, const void *data, size_t len);
int cm_fsync_dir(int dirfd, cm_err *err);

#endif
