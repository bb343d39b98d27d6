/* Slugs: a release's application as Heroku ships it, a gzipped tar of ./app. A slug is hostile
 * input: it is unpacked with libarchive (loaded on first use, common/dl.h) reading the entries,
 * and written by this code alone, every file operation on fds resolved inside the tree being
 * made (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, O_NOFOLLOW, mkdirat/openat/symlinkat/
 * linkat relative to directory fds), never through a path joined to the target.
 *
 * A slug is unpacked once per release into DIR/NAME: into a temporary sibling first
 * (.slug-tmp-<random>, locked with flock while it is written), renamed into place when
 * complete, so NAME is either absent or whole, even after kill -9 or a crash. The tree holds
 * what was under ./app/ (./app/Procfile is NAME/Procfile), files owned by the unpacking user
 * (root in hsup: the driver maps them to a dyno's UID with an idmapped mount), with their
 * modes and mtimes, never a setuid or setgid bit.
 *
 * Every function here may block (downloads, disk): the daemon calls them on its thread pool.
 * They keep no process-wide state but the libraries loaded once, and are thread-safe. */
#ifndef HS_SLUG_H
#define HS_SLUG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define HS_SLUG_MAX_BYTES   (4ULL << 30) /* default cap on the unpacked size */
#define HS_SLUG_MAX_ENTRIES 1000000      /* default cap on the number of entries */
#define HS_SLUG_NAME_MAX    128
#define HS_SLUG_TMP_PREFIX  ".slug-tmp-"

struct hs_slug_opts {
	/* Caps, against a decompression bomb or a slug that would fill the disk: the sum of the
	 * entries' sizes (also the most a download may bring) and the number of entries. 0: the
	 * defaults above. */
	uint64_t max_bytes;
	uint64_t max_entries;
	/* Skips the syncfs() before the rename that makes the tree durable (tests, fuzzing). */
	bool no_sync;
	/* Called after each entry; a non-zero return stops the unpack, which fails (ECANCELED). */
	int (*progress)(uint64_t entries, uint64_t bytes, void *data);
	void *data;
};

struct hs_slug_stats {
	uint64_t entries; /* entries read */
	uint64_t bytes;   /* file data written */
	uint64_t files, dirs, symlinks, hardlinks;
	uint64_t stripped; /* entries whose setuid or setgid bit was removed */
	uint64_t download; /* bytes downloaded (http and https only) */
};

/* Whether name may name an unpacked tree: 1 to HS_SLUG_NAME_MAX of [A-Za-z0-9._-], not
 * starting with a dot (those are the temporaries). */
bool hs_slug_valid_name(const char *name);

/* Unpacks the slug at source (a local path, file://PATH or http(s)://URL) into dir_fd/name.
 * Returns 0 when it unpacked it, 1 when dir_fd/name already existed (nothing is read: a tree
 * is made once), < 0 on failure, with nothing left behind. A refused entry is named with what
 * is wrong: `slug app.tgz: entry "./app/../etc/passwd": a ".." component: refused`. o and st
 * may be NULL. */
int hs_slug_unpack(const char *source, int dir_fd, const char *name, const struct hs_slug_opts *o,
                   struct hs_slug_stats *st, cm_err *err);
/* The same from an open file (read from where it stands); what names it in messages. */
int hs_slug_unpack_fd(int fd, const char *what, int dir_fd, const char *name,
                      const struct hs_slug_opts *o, struct hs_slug_stats *st, cm_err *err);
/* The same from memory. */
int hs_slug_unpack_mem(const void *data, size_t len, const char *what, int dir_fd, const char *name,
                       const struct hs_slug_opts *o, struct hs_slug_stats *st, cm_err *err);

/* Opens source for reading: a local path or file:// URL directly (a regular file only), an
 * http(s):// URL downloaded through libcurl into an unnamed temporary file in dir_fd (at most
 * max_bytes; it vanishes with its fd). Returns the fd, positioned at the start. */
int hs_slug_open_source(const char *source, int dir_fd, uint64_t max_bytes,
                        struct hs_slug_stats *st, cm_err *err);

/* The unpacked trees under dir_fd (directories with valid names), sorted; NULL-terminated and
 * owned by the caller (cm_strv_free). The caller removes those no release uses. */
int hs_slug_list(int dir_fd, char ***names, cm_err *err);
/* Removes the unpacked tree dir_fd/name: first renamed to a temporary name (locked), so that a
 * crash halfway leaves a temporary for hs_slug_clean, never half a tree under its name. A
 * missing name is not an error. */
int hs_slug_remove(int dir_fd, const char *name, cm_err *err);
/* The same unless someone holds a lock on the tree (a shared one marks it in use): 1 when it
 * was removed, 0 when it is in use or missing. */
int hs_slug_remove_unused(int dir_fd, const char *name, cm_err *err);
/* Removes the temporaries that no process is writing or removing (left by a crash); *removed
 * (may be NULL) counts them. */
int hs_slug_clean(int dir_fd, unsigned *removed, cm_err *err);
/* Removes dir_fd/name, a file or a whole tree, without following any link: every directory is
 * opened beneath the tree's root without crossing a symbolic link or a mount point (one is
 * refused, not entered), and entries are removed relative to its fd. A missing name is not an
 * error. */
int hs_slug_remove_tree(int dir_fd, const char *name, cm_err *err);

#endif
