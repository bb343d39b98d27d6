/* The stack manifest: a YAML list of the stack images this host can run releases on, as the Go
 * hsup read it (HerokuStackImage):
 *
 *   - name: cedar-14
 *     version: v42
 *     url: https://example.com/cedar-14-v42.img.gz
 *     md5: 0123456789abcdef0123456789abcdef
 *     primary: true
 *
 * Images live beside the manifest: `<name>-<version>.img` (the uncompressed image, whose md5 the
 * manifest gives) mounted read-only at `<name>-<version>/`. The library takes paths; the daemon
 * picks the default (ST_MANIFEST_DEFAULT). */
#ifndef ST_MANIFEST_H
#define ST_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define ST_MANIFEST_DEFAULT   "/var/lib/hsup/stacks/manifest.yml"
#define ST_MANIFEST_MAX       (1024 * 1024) /* bytes of YAML */
#define ST_MANIFEST_MAX_ITEMS 10000
#define ST_NAME_MAX           64 /* name and version each */
#define ST_URL_MAX            4096
#define ST_MD5_HEX            32

struct st_stack {
	char *name;    /* [A-Za-z0-9][A-Za-z0-9._-]*, at most ST_NAME_MAX */
	char *version; /* the same characters */
	char *url;     /* file://, http:// or https:// */
	char *md5;     /* 32 lowercase hexadecimal digits, of the uncompressed image */
	bool primary;  /* the version used when a release names only the stack */
	int line;      /* where the entry starts in the manifest (1-based) */
};

struct st_manifest {
	char *path; /* as given, for messages */
	char *dir;  /* absolute: where the images and their mounts live */
	struct st_stack *stacks;
	size_t n;
};

/* Reads and checks the manifest at path: a regular file (a symbolic link, FIFO or device is
 * refused without reading it) of at most ST_MANIFEST_MAX bytes. Every error names the file and
 * the line, and the entry and field when there is one: "m.yml:7: stack 2 (cedar-14): md5: 32
 * hexadecimal digits expected, found "xyz"". */
int st_manifest_load(const char *path, struct st_manifest **out, cm_err *err);
/* The same from memory; path names the document in messages, dir is where its images live
 * (NULL: the directory of path, made absolute). */
int st_manifest_parse(const char *yaml, size_t len, const char *path, const char *dir,
                      struct st_manifest **out, cm_err *err);
void st_manifest_free(struct st_manifest *m);
void st_manifest_freep(struct st_manifest **m);
#define _cleanup_manifest_ __attribute__((cleanup(st_manifest_freep)))

/* The stack a release names: with version NULL, the primary entry of that name (or its only
 * entry); else that exact version. An unknown stack is an error naming it and the manifest. */
const struct st_stack *st_manifest_find(const struct st_manifest *m, const char *name,
                                        const char *version, cm_err *err);
/* The stack a release names, or, when it names none (""), the manifest's one primary stack
 * (none, or several, is an error that says so). */
const struct st_stack *st_manifest_pick(const struct st_manifest *m, const char *name, cm_err *err);

/* The manifest as YAML (every field, in the table's order); owned by the caller. */
char *st_manifest_format(const struct st_manifest *m);
/* Adds s (copied) to m, replacing an entry of the same name and version; when s is primary,
 * other entries of its name stop being primary. */
void st_manifest_put(struct st_manifest *m, const struct st_stack *s);

/* Checks the fields of s that are set (not NULL) by the manifest's rules; the error names the
 * field. md5 is made lowercase. */
int st_stack_check(struct st_stack *s, cm_err *err);

/* "<name>-<version>": the mount point's name; with ".img" the image's file name. */
char *st_stack_id(const struct st_stack *s);

#endif
