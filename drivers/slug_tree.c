/* Unpacked slug trees on disk: resolving directories inside one without leaving it, listing
 * them, removing one (or a crashed unpack's temporary) without following any link.
 *
 * Temporaries are directories named .slug-tmp-<random>, each locked (flock LOCK_EX on its
 * own fd) by the process writing or removing it for as long as it does. A temporary nobody
 * holds locked belongs to a process that died: hs_slug_clean takes its lock and removes it.
 * A temporary is created and locked while its creator holds a shared lock on the directory,
 * and hs_slug_clean looks for unlocked ones under an exclusive lock, so it never sees one in
 * the instant between its mkdir and its lock. */
#define _GNU_SOURCE
#include "drivers/slug.h"
#include "drivers/slug_int.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

bool hs_slug_valid_name(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > HS_SLUG_NAME_MAX || name[0] == '.')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	       len;
}

const char *hs_slug__quote(const char *s, char *buf, size_t cap)
{
	size_t n = 0;
	for (; *s && n + 8 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", c);
		else
			buf[n++] = (char)c;
	}
	if (*s)
		n += (size_t)snprintf(buf + n, cap - n, "...");
	buf[n < cap ? n : cap - 1] = '\0';
	return buf;
}

static int openat2_dir(int dirfd, const char *path)
{
	struct open_how how = {
	    .flags = DIR_FLAGS,
	    .resolve =
	        RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	int fd;
	do
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EINTR);
	return fd;
}

static uint64_t mount_id(int fd)
{
	struct statx stx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0 || !(stx.stx_mask & STATX_MNT_ID))
		return 0;
	return stx.stx_mnt_id;
}

/* Without openat2: O_NOFOLLOW refuses a symbolic link, and the mount ids stand in for
 * RESOLVE_NO_XDEV. */
static int openat_dir(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, DIR_FLAGS);
	if (fd >= 0 && mount_id(fd) != mount_id(dirfd)) {
		close(fd);
		errno = EXDEV;
		return -1;
	}
	return fd;
}

/* One component; with mkdir, made when missing. */
static int open_component(int dirfd, const char *name, bool mkdir)
{
	int fd = openat2_dir(dirfd, name);
	if (fd < 0 && errno == ENOSYS)
		fd = openat_dir(dirfd, name);
	if (fd >= 0 || errno != ENOENT || !mkdir)
		return fd;
	if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return -1;
	fd = openat(dirfd, name, DIR_FLAGS);
	/* The mode is set, not left to the umask: directories no entry described are 0755. */
	if (fd >= 0 && fchmod(fd, 0755) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Component by component from root: makes what is missing, or resolves without openat2. */
static int walk(int root, const char *path, bool mkdir)
{
	_cleanup_close_ int cur = fcntl(root, F_DUPFD_CLOEXEC, 3);
	char comp[NAME_MAX + 1];
	while (cur >= 0 && *path) {
		size_t len = strcspn(path, "/");
		if (len > NAME_MAX)
			return errno = ENAMETOOLONG, -1;
		memcpy(comp, path, len);
		comp[len] = '\0';
		path += len + (path[len] == '/');
		if (len == 0)
			continue;
		int next = open_component(cur, comp, mkdir);
		if (next < 0) {
			/* O_NOFOLLOW|O_DIRECTORY on a symbolic link may say ENOTDIR: say ELOOP. */
			struct stat st;
			int e = errno;
			if (e == ENOTDIR && fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				e = ELOOP;
			errno = e;
			return -1;
		}
		close(cur);
		cur = next;
	}
	return cm_steal_fd(cur);
}

int hs_slug__open_dir(int root, const char *path, bool mkdir)
{
	/* A new open file, not a dup: a dup would share the offset that reading it moves. */
	if (!*path)
		return openat(root, ".", DIR_FLAGS);
	int fd = openat2_dir(root, path);
	if (fd >= 0)
		return fd;
	if (errno == ENOSYS || (errno == ENOENT && mkdir) || errno == ENOTDIR)
		return walk(root, path, mkdir);
	return -1;
}

static char *temp_name(void)
{
	unsigned long long r;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r = (unsigned long long)getpid() << 32 ^ (unsigned long long)gettid();
	return xasprintf(HS_SLUG_TMP_PREFIX "%016llx", r);
}

static int lock(int fd, int how)
{
	int rc;
	do
		rc = flock(fd, how);
	while (rc < 0 && errno == EINTR);
	return rc;
}

int hs_slug__make_temp(int parent, char **name, cm_err *err)
{
	if (lock(parent, LOCK_SH) < 0)
		return cm_err_sys(err, "lock the slug directory");
	int fd = -1;
	bool failed = false;
	for (int tries = 0; tries < 16 && fd < 0 && !failed; tries++) {
		_cleanup_free_ char *n = temp_name();
		if (mkdirat(parent, n, 0700) < 0) {
			failed = errno != EEXIST;
			if (failed)
				cm_err_sys(err, "create %s", n);
			continue;
		}
		fd = openat(parent, n, DIR_FLAGS);
		if (fd < 0 || lock(fd, LOCK_EX) < 0) {
			cm_err_sys(err, "open %s", n);
			if (fd >= 0)
				close(fd);
			fd = -1;
			unlinkat(parent, n, AT_REMOVEDIR);
			failed = true;
			continue;
		}
		*name = cm_steal_ptr(n);
	}
	lock(parent, LOCK_UN);
	if (fd < 0 && !failed)
		cm_err_set(err, EEXIST, "create a temporary directory: every name tried exists");
	return fd;
}

/* Removes what dir holds but directories; *sub receives the name of one directory found (or
 * stays empty when none is left). */
static int empty_files(int dir, const char *where, char *sub, cm_err *err)
{
	int fd = fcntl(dir, F_DUPFD_CLOEXEC, 3);
	_cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return cm_err_sys(err, "read directory %s", where);
	}
	rewinddir(d); /* the dup shares dir's offset: read from the start, whatever it was */
	sub[0] = '\0';
	for (struct dirent *e; (errno = 0, e = readdir(d));) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		/* unlink refuses a directory (EISDIR) and never follows a link: no stat needed. */
		if (unlinkat(dir, e->d_name, 0) == 0 || errno == ENOENT)
			continue;
		if (errno != EISDIR)
			return cm_err_sys(err, "remove %s/%s", where, e->d_name);
		snprintf(sub, NAME_MAX + 1, "%s", e->d_name);
		return 0;
	}
	if (errno)
		return cm_err_sys(err, "read directory %s", where);
	return 0;
}

/* Empties the tree under root depth first, holding no more than three fds at any depth:
 * each directory is reached again from root by its path (beneath root, through no link and no
 * mount point) rather than kept open. */
static int empty_tree(int root, const char *what, cm_err *err)
{
	char path[PATH_MAX] = "";
	size_t len = 0;
	for (;;) {
		_cleanup_close_ int dir = hs_slug__open_dir(root, path, false);
		if (dir < 0)
			return cm_err_sys(err, "open %s/%s%s", what, path,
			                  errno == EXDEV ? " (a mount point: not entered)" : "");
		char sub[NAME_MAX + 1];
		if (empty_files(dir, path[0] ? path : what, sub, err) < 0)
			return -1;
		if (sub[0]) {
			size_t add = strlen(sub) + (len > 0);
			if (len + add >= sizeof(path))
				return cm_err_set(err, ENAMETOOLONG, "%s/%s/%s: too deep to remove",
				                  what, path, sub);
			snprintf(path + len, sizeof(path) - len, "%s%s", len ? "/" : "", sub);
			len += add;
			continue;
		}
		if (len == 0)
			return 0;
		char *slash = strrchr(path, '/');
		const char *base = slash ? slash + 1 : path;
		if (slash)
			*slash = '\0';
		_cleanup_close_ int parent = hs_slug__open_dir(root, slash ? path : "", false);
		if (parent < 0)
			return cm_err_sys(err, "open %s/%s", what, slash ? path : "");
		if (unlinkat(parent, base, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return cm_err_sys(err, "remove %s/%s%s%s", what, slash ? path : "",
			                  slash ? "/" : "", base);
		len = slash ? (size_t)(slash - path) : 0;
		path[len] = '\0';
	}
}

int hs_slug_remove_tree(int dir_fd, const char *name, cm_err *err)
{
	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return cm_err_set(err, EINVAL, "remove %s: not a name in the directory", name);
	if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR)
		return cm_err_sys(err, "remove %s", name);
	_cleanup_close_ int root = hs_slug__open_dir(dir_fd, name, false);
	if (root < 0)
		return cm_err_sys(err, "open %s%s", name,
		                  errno == EXDEV ? " (a mount point: not removed)" : "");
	if (empty_tree(root, name, err) < 0)
		return -1;
	if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return cm_err_sys(err, "remove %s", name);
	return 0;
}

static int own_fd(int dir_fd, cm_err *err)
{
	/* A descriptor of our own: flock belongs to the open file, which the caller may share. */
	int fd = openat(dir_fd, ".", DIR_FLAGS);
	if (fd < 0)
		return cm_err_sys(err, "open the slug directory");
	return fd;
}

static bool is_dir_at(int dir, const char *name)
{
	struct stat st;
	return fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int hs_slug_list(int dir_fd, char ***names, cm_err *err)
{
	int fd = own_fd(dir_fd, err);
	if (fd < 0)
		return -1;
	_cleanup_closedir_ DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cm_err_sys(err, "read the slug directory");
	}
	char **v = xcalloc(1, sizeof(*v));
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d));)
		if (hs_slug_valid_name(e->d_name) && is_dir_at(dirfd(d), e->d_name))
			cm_strv_push(&v, &n, xstrdup(e->d_name));
	qsort(v, n, sizeof(*v), cmp_str);
	*names = v;
	return 0;
}

/* Removes dir_fd/name once its exclusive lock is taken: waiting for it, or not (1 when it was
 * removed, 0 when someone holds it). */
static int remove_locked(int dir_fd, const char *name, bool wait, cm_err *err)
{
	if (!hs_slug_valid_name(name))
		return cm_err_set(err, EINVAL, "remove slug tree %s: not a valid name", name);
	_cleanup_close_ int parent = own_fd(dir_fd, err);
	if (parent < 0)
		return -1;
	_cleanup_close_ int tree = openat(parent, name, DIR_FLAGS);
	if (tree < 0 && errno == ENOENT)
		return 0;
	if (tree < 0)
		return cm_err_sys(err, "remove slug tree %s", name);
	/* Locked before it is renamed: as a temporary it is never seen unlocked while ours. */
	if (lock(tree, wait ? LOCK_EX : LOCK_EX | LOCK_NB) < 0)
		return !wait && errno == EWOULDBLOCK ? 0
		                                     : cm_err_sys(err, "lock slug tree %s", name);
	_cleanup_free_ char *tmp = temp_name();
	if (renameat2(parent, name, parent, tmp, RENAME_NOREPLACE) < 0)
		return errno == ENOENT ? 0
		                       : cm_err_sys(err, "rename slug tree %s to %s", name, tmp);
	if (hs_slug_remove_tree(parent, tmp, err) < 0)
		return cm_err_wrap(err, "remove slug tree %s", name);
	return 1;
}

int hs_slug_remove(int dir_fd, const char *name, cm_err *err)
{
	return remove_locked(dir_fd, name, true, err) < 0 ? -1 : 0;
}

int hs_slug_remove_unused(int dir_fd, const char *name, cm_err *err)
{
	return remove_locked(dir_fd, name, false, err);
}

/* Under the directory's exclusive lock: the temporaries whose lock we could take. */
static int take_stale(int parent, int **fds, char ***names, size_t *n, cm_err *err)
{
	int fd = openat(parent, ".", DIR_FLAGS);
	_cleanup_closedir_ DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return cm_err_sys(err, "read the slug directory");
	}
	size_t cap = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (strncmp(e->d_name, HS_SLUG_TMP_PREFIX, strlen(HS_SLUG_TMP_PREFIX)) != 0)
			continue;
		int t = openat(parent, e->d_name, DIR_FLAGS | O_NONBLOCK);
		if (t < 0)
			continue; /* gone meanwhile, or not a directory: not ours */
		if (flock(t, LOCK_EX | LOCK_NB) < 0) {
			close(t); /* in use */
			continue;
		}
		xgrow((void **)fds, &cap, *n + 1, sizeof(**fds));
		*names = xrealloc(*names, (*n + 2) * sizeof(**names));
		(*fds)[*n] = t;
		(*names)[(*n)++] = xstrdup(e->d_name);
		(*names)[*n] = NULL;
	}
	return 0;
}

int hs_slug_clean(int dir_fd, unsigned *removed, cm_err *err)
{
	_cleanup_close_ int parent = own_fd(dir_fd, err);
	if (parent < 0)
		return -1;
	if (lock(parent, LOCK_EX) < 0)
		return cm_err_sys(err, "lock the slug directory");
	_cleanup_free_ int *fds = NULL;
	_cleanup_strv_ char **names = xcalloc(1, sizeof(char *));
	size_t n = 0;
	int rc = take_stale(parent, &fds, &names, &n, err);
	lock(parent, LOCK_UN);
	unsigned count = 0;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && hs_slug_remove_tree(parent, names[i], err) < 0)
			rc = cm_err_wrap(err, "remove the temporary %s", names[i]);
		else if (rc == 0)
			count++;
		close(fds[i]);
	}
	if (removed)
		*removed = count;
	return rc;
}
