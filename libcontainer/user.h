/* Users and groups: ids as the kernel takes them, --user specs, and lookups in a container's
 * /etc/passwd and /etc/group. The parsers work on buffers, so they can be tested and fuzzed
 * without a rootfs. */
#ifndef LC_USER_H
#define LC_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "libcontainer/config.h" /* LC_ID_MAX */

/* Parses a uid or gid from s (len bytes): decimal digits only, no sign, space or prefix, and at
 * most LC_ID_MAX. */
bool lc_id_parse(const char *s, size_t len, uint32_t *out);

/* Looks name up in the text of a passwd file (name:password:uid:gid:gecos:home:shell; gid
 * not NULL) or a group file (name:password:gid:members; gid NULL), len bytes that may hold
 * anything. Each line is split on every ':', empty fields kept (an empty password field is
 * common). Returns 1 with *id (the third field) and *gid (the fourth), 0 if no line names
 * name, -1 if the first line that does is malformed (err says which line and why). */
int lc_idfile_lookup(const char *text, size_t len, const char *name, uint32_t *id, uint32_t *gid,
                     cm_err *err);

/* Resolves a --user spec: "uid", "uid:gid", "name", "name:group" or a mix, names looked up in
 * the passwd and group texts (NULL when the file is absent). A numeric uid alone runs with the
 * same gid; a name alone with the gid its passwd line gives. */
int lc_user_resolve(const char *spec, const char *passwd, size_t passwd_len, const char *group,
                    size_t group_len, uid_t *uid, gid_t *gid, cm_err *err);

/* The same, reading /etc/passwd and /etc/group of the tree at rootfd (a container's rootfs,
 * someone else's) resolved inside it: a symlink in it cannot make the lookup read a host file,
 * and only a regular file is read. */
int lc_parse_user(const char *spec, int rootfd, uid_t *uid, gid_t *gid, cm_err *err);

#endif
