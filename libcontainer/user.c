#define _GNU_SOURCE
#include "libcontainer/user.h"
#include "libcontainer/inroot.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ID_FILE (4 << 20)

bool lc_id_parse(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;
	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > LC_ID_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

struct field {
	const char *s;
	size_t len;
};

/* Splits line (len bytes) on every ':' into at most max fields; returns how many it has. */
static size_t split_fields(const char *line, size_t len, struct field *f, size_t max)
{
	size_t n = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && line[i] != ':')
			continue;
		if (n < max)
			f[n] = (struct field){line + start, i - start};
		n++;
		start = i + 1;
	}
	return n;
}

static int parse_line(const struct field *f, size_t n, bool passwd, size_t lineno, uint32_t *id,
                      uint32_t *gid, cm_err *err)
{
	size_t need = passwd ? 4 : 3;
	if (n < need)
		return cm_err_set(err, EINVAL, "line %zu: %zu fields, at least %zu expected",
		                  lineno, n, need);
	if (!lc_id_parse(f[2].s, f[2].len, id))
		return cm_err_set(err, EINVAL, "line %zu: %s \"%.*s\" is not an id (0 to %u)",
		                  lineno, passwd ? "uid" : "gid", (int)f[2].len, f[2].s, LC_ID_MAX);
	if (passwd && !lc_id_parse(f[3].s, f[3].len, gid))
		return cm_err_set(err, EINVAL, "line %zu: gid \"%.*s\" is not an id (0 to %u)",
		                  lineno, (int)f[3].len, f[3].s, LC_ID_MAX);
	return 1;
}

int lc_idfile_lookup(const char *text, size_t len, const char *name, uint32_t *id, uint32_t *gid,
                     cm_err *err)
{
	size_t name_len = strlen(name), lineno = 0;
	for (size_t pos = 0; pos < len;) {
		const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
		size_t line_len = nl ? (size_t)(nl - line) : len - pos;
		pos += line_len + 1;
		lineno++;
		struct field f[4];
		size_t n = split_fields(line, line_len, f, 4);
		if (f[0].len == name_len && memcmp(f[0].s, name, name_len) == 0 && name_len > 0)
			return parse_line(f, n, gid != NULL, lineno, id, gid, err);
	}
	return 0;
}

static bool all_digits(const char *s, size_t len)
{
	return len > 0 && strspn(s, "0123456789") >= len;
}

/* One part of a spec: a number, or a name looked up in file. */
static int resolve_part(const char *part, size_t len, const char *what, const char *file,
                        const char *text, size_t text_len, uint32_t *id, uint32_t *gid, cm_err *err)
{
	_cleanup_free_ char *name = xstrndup(part, len);
	if (len == 0)
		return cm_err_set(err, EINVAL, "%s: empty", what);
	if (memchr(part, '\0', len) || strchr(name, '\n'))
		return cm_err_set(err, EINVAL, "%s: not a name or an id", what);
	if (all_digits(name, len)) {
		if (!lc_id_parse(name, len, id))
			return cm_err_set(err, ERANGE, "%s %s: out of range (0 to %u)", what, name,
			                  LC_ID_MAX);
		if (gid)
			*gid = *id;
		return 0;
	}
	int r = text ? lc_idfile_lookup(text, text_len, name, id, gid, err) : 0;
	if (r < 0)
		return cm_err_wrap(err, "%s %s: the container's %s", what, name, file);
	if (r == 0)
		return cm_err_set(err, ENOENT, "%s %s: not in the container's %s", what, name,
		                  file);
	return 0;
}

int lc_user_resolve(const char *spec, const char *passwd, size_t passwd_len, const char *group,
                    size_t group_len, uid_t *uid, gid_t *gid, cm_err *err)
{
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	uint32_t u, g;
	if (resolve_part(spec, ulen, "user", "/etc/passwd", passwd, passwd_len, &u, &g, err) < 0)
		return -1;
	if (colon && resolve_part(colon + 1, strlen(colon + 1), "group", "/etc/group", group,
	                          group_len, &g, NULL, err) < 0)
		return -1;
	*uid = u;
	*gid = g;
	return 0;
}

/* Reads rel inside the tree at rootfd: NULL text when it does not exist. */
static int read_in_root(int rootfd, const char *rel, char **text, size_t *len, cm_err *err)
{
	*text = NULL;
	*len = 0;
	_cleanup_close_ int fd = lc_inroot_open(rootfd, rel, O_PATH, LC_IN_ROOT);
	if (fd < 0 && errno == ENOENT)
		return 0;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return cm_err_sys(err, "open the container's /%s", rel);
	if (!S_ISREG(st.st_mode))
		return cm_err_set(err, EINVAL, "the container's /%s is not a regular file", rel);
	/* the fd's own path: the very file checked, whatever the path inside the tree says */
	char path[32];
	lc_fd_path(path, fd);
	if (cm_read_file_at(AT_FDCWD, path, MAX_ID_FILE, text, len, err) < 0)
		return cm_err_wrap(err, "the container's /%s", rel);
	return 0;
}

int lc_parse_user(const char *spec, int rootfd, uid_t *uid, gid_t *gid, cm_err *err)
{
	_cleanup_free_ char *passwd = NULL, *group = NULL;
	size_t plen = 0, glen = 0;
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	/* a file is read only when a name has to be looked up in it */
	if (!all_digits(spec, ulen) && read_in_root(rootfd, "etc/passwd", &passwd, &plen, err) < 0)
		return cm_err_wrap(err, "user %s", spec);
	if (colon && !all_digits(colon + 1, strlen(colon + 1)) &&
	    read_in_root(rootfd, "etc/group", &group, &glen, err) < 0)
		return cm_err_wrap(err, "user %s", spec);
	return lc_user_resolve(spec, passwd, plen, group, glen, uid, gid, err);
}
