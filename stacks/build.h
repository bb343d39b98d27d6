/* The stack builder: `<name>-<version>.img.gz` and its manifest entry from a directory tree,
 * made without mounting anything (mkfs.ext4 -d into a sparse file, then gzip and md5), and the
 * trees of the ready-made stacks. A stack must never point at the host: every symbolic link in
 * it is relative and stays inside it. */
#ifndef ST_BUILD_H
#define ST_BUILD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "stacks/manifest.h"

/* Checks tree: an absolute symbolic link, or a relative one whose resolution climbs out of the
 * tree, is an error naming it and its target. */
int st_tree_check(const char *tree, cm_err *err);
/* Rewrites every absolute symbolic link of tree as a relative one to the same place inside
 * the tree (as if the tree were /); *count says how many. */
int st_tree_relink(const char *tree, size_t *count, cm_err *err);

struct st_build_result {
	char md5[ST_MD5_HEX + 1]; /* of the uncompressed image */
	uint64_t image_size;      /* bytes of the uncompressed image */
	uint64_t gz_size;
	char *gz_path; /* <out_dir>/<name>-<version>.img.gz, owned */
};

/* Builds <out_dir>/<name>-<version>.img.gz from tree, which st_tree_check must accept: an ext4
 * filesystem (no journal: it is mounted read-only) sized for the tree, whose root belongs to
 * root. Needs mkfs.ext4 (e2fsprogs 1.43 or later). Blocks; the image appears atomically, and
 * nothing is left behind on failure. */
int st_build_image(const char *tree, const char *name, const char *version, const char *out_dir,
                   struct st_build_result *res, cm_err *err);
void st_build_result_free(struct st_build_result *res);

/* The programs of the small stack made from the host's own files, when none are given. */
extern const char *const st_host_programs[];

/* Makes tree (a new or empty directory) a small stack of this host's own programs (found in
 * /usr/bin:/bin:/usr/sbin:/sbin) and the libraries ldd finds for them, with python3 and its
 * standard library when python is set and the host has it, plus the directories a dyno needs
 * (/app, /tmp, /etc/profile.d, /proc, /sys, /dev, ...) and a minimal /etc. The host's symbolic
 * links are copied as relative ones. Programs the host lacks are listed in *missing (owned;
 * NULL when none). On failure the directory is left empty. */
int st_host_tree(const char *tree, const char *const *programs, bool python, char ***missing,
                 cm_err *err);

/* Runs argv (argv[0] an absolute path) and waits for it: its exit code (128 + signal when
 * killed), or < 0 when it could not run. With out set, its output (stdout and stderr, at most
 * 1 MiB) is returned there, owned; else it goes to the caller's stdout and stderr. */
int st_run(char *const argv[], char **out, cm_err *err);

#endif
