/* Unpacking a slug. libarchive only reads the entries (its own extract-to-disk is not used):
 * each entry's name is checked before anything is made for it, and everything is made relative
 * to directory fds resolved inside the temporary tree (drivers/slug_tree.c), with O_EXCL and
 * O_NOFOLLOW, so no name in the slug can lead a write outside the tree or through a link.
 *
 * Refused, with the entry named: an absolute name, a ".." component, a name outside ./app/, a
 * path through a symbolic link or a file, a symbolic link with an absolute target or one that
 * climbs above the tree's root (or holds ".." after a name, which only the links it crosses
 * could tell the meaning of), a hard link to anything but a regular file extracted before it,
 * a device, FIFO or socket, and a slug past the caps on its size or number of entries.
 *
 * setuid and setgid bits are removed, not refused: in a dyno they could give nothing (the tree
 * is mapped to the dyno's own UID, no_new_privs is set), while on the host a setuid file owned
 * by root is a danger wherever it lies; and build hosts leave such bits in slugs that are
 * otherwise fine (setgid directories, mostly), which would make refusing them a failure for
 * nothing. hs_slug_stats.stripped counts them. */
#define _GNU_SOURCE
#include "drivers/slug.h"
#include "drivers/slug_int.h"
#include "common/cleanup.h"
#include "common/http.h"
#include "common/dl.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_BLOCK (64 * 1024)
/* Bytes of headers and padding allowed per entry, and in all, beyond the entries' sizes,
 * before the decompressed stream counts as a bomb of headers rather than data. */
#define HEADER_ALLOWANCE (16 * 1024)
#define STREAM_SLACK     (16 * 1024 * 1024)

#define AR_FUNCS(X)                                                                                \
	X(archive_read_new)                                                                        \
	X(archive_read_free)                                                                       \
	X(archive_read_support_filter_gzip)                                                        \
	X(archive_read_support_format_tar)                                                         \
	X(archive_read_open_fd)                                                                    \
	X(archive_read_open_memory)                                                                \
	X(archive_read_next_header)                                                                \
	X(archive_read_data_block)                                                                 \
	X(archive_error_string)                                                                    \
	X(archive_filter_bytes)                                                                    \
	X(archive_entry_pathname)                                                                  \
	X(archive_entry_filetype)                                                                  \
	X(archive_entry_perm)                                                                      \
	X(archive_entry_size)                                                                      \
	X(archive_entry_size_is_set)                                                               \
	X(archive_entry_symlink)                                                                   \
	X(archive_entry_hardlink)                                                                  \
	X(archive_entry_mtime)                                                                     \
	X(archive_entry_mtime_nsec)                                                                \
	X(archive_entry_mtime_is_set)

#define AR_PTR(f) static __typeof__(f) *ar_##f;
AR_FUNCS(AR_PTR)
#define AR_SYM(f) CM_DL_SYM(ar_##f, #f),
static const struct cm_dl_sym ar_syms[] = {AR_FUNCS(AR_SYM)};
static struct cm_dl_lib ar_lib = {
    "libarchive.so.13", ar_syms, CM_ARRAY_SIZE(ar_syms), NULL, 0, {0, ""}};

struct fixup {
	char *path; /* relative to the tree's root; "" is the root */
	mode_t mode;
	struct timespec mtime[2];
};

struct unpack {
	const char *what; /* the slug, in messages */
	struct archive *a;
	int root;          /* the temporary tree */
	int parent;        /* cache: the last entry's directory... */
	char *parent_path; /* ...and its path */
	struct fixup *fix; /* directories' modes and mtimes, set last */
	size_t nfix, capfix;
	mode_t root_mode; /* from ./app/, else 0755 */
	struct timespec root_times[2];
	uint64_t declared; /* the sum of the entries' sizes */
	uint64_t max_bytes, max_entries;
	const struct hs_slug_opts *o;
	struct hs_slug_stats st;
	char raw[PATH_MAX]; /* the entry's name as in the slug, quoted */
};

static int load_libarchive(cm_err *err)
{
	return cm_dl_load(&ar_lib, "the libarchive13 package", err);
}

/* Fails naming the entry: `slug S: entry "N": why: refused`. */
static __attribute__((format(printf, 3, 4))) int refuse(struct unpack *u, cm_err *err,
                                                        const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return cm_err_set(err, EPERM, "slug %s: entry \"%s\": %s: refused", u->what, u->raw, why);
}

static int entry_sys(struct unpack *u, cm_err *err, const char *step)
{
	return cm_err_sys(err, "slug %s: entry \"%s\": %s", u->what, u->raw, step);
}

/* Turns the entry's name into a path relative to the tree (the part under ./app/, "" for
 * ./app itself) into out; *skip for "." or "./", which name the directory holding app.
 * Returns NULL, or what is wrong with the name. */
static const char *normalize(const char *raw, char *out, size_t cap, bool *skip)
{
	size_t n = 0, comps = 0;
	*skip = false;
	if (raw[0] == '/')
		return "an absolute name";
	for (const char *p = raw; *p;) {
		size_t len = strcspn(p, "/");
		const char *c = p;
		p += len + (p[len] == '/');
		if (len == 0 || (len == 1 && c[0] == '.'))
			continue;
		if (len == 2 && c[0] == '.' && c[1] == '.')
			return "a \"..\" component";
		if (comps++ == 0) {
			if (len != 3 || memcmp(c, "app", 3) != 0)
				return "outside ./app/";
			continue;
		}
		if (n + len + 2 > cap)
			return "a name longer than PATH_MAX";
		if (n > 0)
			out[n++] = '/';
		memcpy(out + n, c, len);
		n += len;
	}
	out[n] = '\0';
	*skip = comps == 0;
	return NULL;
}

/* A symbolic link at rel may point to target if it stays inside the tree whatever the links
 * it crosses point to: relative, its leading ".." no more than rel's depth, and no ".." after
 * a name. */
static const char *check_symlink(const char *rel, const char *target)
{
	if (!*target)
		return "a symbolic link with an empty target";
	if (target[0] == '/')
		return "a symbolic link to an absolute path";
	if (strlen(target) >= PATH_MAX)
		return "a symbolic link with a target longer than PATH_MAX";
	long depth = 0;
	for (const char *p = rel; (p = strchr(p, '/')); p++)
		depth++;
	bool named = false;
	for (const char *p = target; *p;) {
		size_t len = strcspn(p, "/");
		const char *c = p;
		p += len + (p[len] == '/');
		if (len == 0 || (len == 1 && c[0] == '.'))
			continue;
		if (len == 2 && c[0] == '.' && c[1] == '.') {
			if (named)
				return "a symbolic link with \"..\" after a name in its target";
			if (--depth < 0)
				return "a symbolic link leading out of the slug's root";
		} else {
			named = true;
		}
	}
	return NULL;
}

static void split(const char *rel, char *dir, size_t cap, const char **base)
{
	const char *slash = strrchr(rel, '/');
	size_t len = slash ? (size_t)(slash - rel) : 0;
	snprintf(dir, cap, "%.*s", (int)len, rel);
	*base = slash ? slash + 1 : rel;
}

static const char *resolve_why(int e)
{
	switch (e) {
	case ELOOP:
		return "a component of its path is a symbolic link";
	case ENOTDIR:
		return "a component of its path is not a directory";
	case EXDEV:
		return "its path crosses a mount point";
	default:
		return NULL;
	}
}

/* The directory an entry goes in, made when missing; borrowed from the cache. */
static int entry_dir(struct unpack *u, const char *rel, const char **base, cm_err *err)
{
	char dir[PATH_MAX];
	split(rel, dir, sizeof(dir), base);
	if (u->parent >= 0 && strcmp(dir, u->parent_path) == 0)
		return u->parent;
	int fd = hs_slug__open_dir(u->root, dir, true);
	if (fd < 0) {
		const char *why = resolve_why(errno);
		return why ? refuse(u, err, "%s", why) : entry_sys(u, err, "make its directory");
	}
	if (u->parent >= 0)
		close(u->parent);
	free(u->parent_path);
	u->parent = fd;
	u->parent_path = xstrdup(dir);
	return fd;
}

/* A name already there (tar lets a later entry replace an earlier one): removed unless it is
 * a directory. Returns 0 when the name is free again. */
static int make_room(struct unpack *u, int dir, const char *base, cm_err *err)
{
	struct stat st;
	if (fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_sys(u, err, "stat what is there");
	if (S_ISDIR(st.st_mode))
		return refuse(u, err, "its name is already a directory");
	if (unlinkat(dir, base, 0) < 0)
		return entry_sys(u, err, "replace the earlier entry");
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	if (ar_archive_entry_mtime_is_set(e)) {
		ts[1].tv_sec = ar_archive_entry_mtime(e);
		ts[1].tv_nsec = ar_archive_entry_mtime_nsec(e);
		if (ts[1].tv_nsec < 0 || ts[1].tv_nsec > 999999999)
			ts[1].tv_nsec = 0;
	} else {
		ts[1].tv_sec = 0;
		ts[1].tv_nsec = UTIME_OMIT;
	}
	ts[0] = ts[1];
}

static mode_t entry_mode(struct unpack *u, struct archive_entry *e)
{
	mode_t mode = ar_archive_entry_perm(e) & 07777;
	if (mode & (S_ISUID | S_ISGID))
		u->st.stripped++;
	return mode & ~(mode_t)(S_ISUID | S_ISGID);
}

static int write_data(struct unpack *u, int fd, int64_t size, cm_err *err)
{
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int r = ar_archive_read_data_block(u->a, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK)
			return cm_err_set(err, EIO, "slug %s: entry \"%s\": %s", u->what, u->raw,
			                  ar_archive_error_string(u->a));
		if (off < 0 || (uint64_t)off + len > (uint64_t)size)
			return refuse(u, err, "data beyond its declared size");
		for (size_t done = 0; done < len;) {
			ssize_t w =
			    pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return entry_sys(u, err, "write");
			done += (size_t)w;
		}
		u->st.bytes += len;
	}
}

static int make_file(struct unpack *u, struct archive_entry *e, const char *rel, cm_err *err)
{
	const char *base;
	int dir = entry_dir(u, rel, &base, err);
	if (dir < 0)
		return -1;
	int64_t size = ar_archive_entry_size_is_set(e) ? ar_archive_entry_size(e) : 0;
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
	_cleanup_close_ int fd = openat(dir, base, flags, 0600);
	if (fd < 0 && errno == EEXIST) {
		if (make_room(u, dir, base, err) < 0)
			return -1;
		fd = openat(dir, base, flags, 0600);
	}
	if (fd < 0)
		return entry_sys(u, err, "create");
	if (write_data(u, fd, size, err) < 0)
		return -1;
	struct timespec ts[2];
	entry_times(e, ts);
	/* ftruncate: a sparse file's last hole. The mode last: the file was 0600 while written. */
	if (ftruncate(fd, size) < 0 || fchmod(fd, entry_mode(u, e)) < 0 || futimens(fd, ts) < 0)
		return entry_sys(u, err, "set its size, mode and mtime");
	u->st.files++;
	return 0;
}

static int make_symlink(struct unpack *u, struct archive_entry *e, const char *rel, cm_err *err)
{
	const char *target = ar_archive_entry_symlink(e);
	const char *why = target ? check_symlink(rel, target) : "a symbolic link without a target";
	if (why) {
		char q[256];
		return refuse(u, err, "%s (\"%s\")", why,
		              target ? hs_slug__quote(target, q, sizeof(q)) : "");
	}
	const char *base;
	int dir = entry_dir(u, rel, &base, err);
	if (dir < 0)
		return -1;
	if (symlinkat(target, dir, base) < 0) {
		if (errno != EEXIST)
			return entry_sys(u, err, "create the symbolic link");
		if (make_room(u, dir, base, err) < 0)
			return -1;
		if (symlinkat(target, dir, base) < 0)
			return entry_sys(u, err, "create the symbolic link");
	}
	struct timespec ts[2];
	entry_times(e, ts);
	if (utimensat(dir, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return entry_sys(u, err, "set its mtime");
	u->st.symlinks++;
	return 0;
}

static int make_hardlink(struct unpack *u, const char *rel, const char *raw_target, cm_err *err)
{
	char trel[PATH_MAX], q[256];
	bool skip;
	const char *why = normalize(raw_target, trel, sizeof(trel), &skip);
	if (why || skip || !trel[0])
		return refuse(u, err, "a hard link to \"%s\", %s",
		              hs_slug__quote(raw_target, q, sizeof(q)),
		              why ? why : "which is not a file of the slug");
	char tdir[PATH_MAX];
	const char *tbase;
	split(trel, tdir, sizeof(tdir), &tbase);
	_cleanup_close_ int from = hs_slug__open_dir(u->root, tdir, false);
	struct stat st;
	if (from < 0 || fstatat(from, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return refuse(u, err,
		              "a hard link to \"%s\", not a regular file extracted before it",
		              hs_slug__quote(raw_target, q, sizeof(q)));
	const char *base;
	int dir = entry_dir(u, rel, &base, err);
	if (dir < 0)
		return -1;
	/* linkat without AT_SYMLINK_FOLLOW: the name checked above, never what it points to. */
	if (linkat(from, tbase, dir, base, 0) < 0) {
		if (errno != EEXIST)
			return entry_sys(u, err, "create the hard link");
		if (make_room(u, dir, base, err) < 0)
			return -1;
		if (linkat(from, tbase, dir, base, 0) < 0)
			return entry_sys(u, err, "create the hard link");
	}
	u->st.hardlinks++;
	return 0;
}

static void add_fixup(struct unpack *u, const char *rel, mode_t mode, struct archive_entry *e)
{
	xgrow((void **)&u->fix, &u->capfix, u->nfix + 1, sizeof(*u->fix));
	struct fixup *f = &u->fix[u->nfix++];
	f->path = xstrdup(rel);
	f->mode = mode;
	entry_times(e, f->mtime);
}

static int make_dir(struct unpack *u, struct archive_entry *e, const char *rel, cm_err *err)
{
	mode_t mode = entry_mode(u, e);
	u->st.dirs++;
	if (!rel[0]) { /* ./app/ itself: the tree's root, set last */
		u->root_mode = mode;
		entry_times(e, u->root_times);
		return 0;
	}
	const char *base;
	int dir = entry_dir(u, rel, &base, err);
	if (dir < 0)
		return -1;
	if (mkdirat(dir, base, 0700) < 0) {
		struct stat st;
		if (errno != EEXIST || fstatat(dir, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return entry_sys(u, err, "create the directory");
		if (!S_ISDIR(st.st_mode) && make_room(u, dir, base, err) < 0)
			return -1;
		if (!S_ISDIR(st.st_mode) && mkdirat(dir, base, 0700) < 0)
			return entry_sys(u, err, "create the directory");
	}
	add_fixup(u, rel, mode, e);
	return 0;
}

static const char *kind_refused(mode_t type)
{
	switch (type) {
	case AE_IFCHR:
		return "a character device";
	case AE_IFBLK:
		return "a block device";
	case AE_IFIFO:
		return "a FIFO";
	case AE_IFSOCK:
		return "a socket";
	default:
		return "of an unknown type";
	}
}

/* Counts the entry against the caps before anything is made for it. */
static int check_caps(struct unpack *u, struct archive_entry *e, cm_err *err)
{
	if (++u->st.entries > u->max_entries)
		return refuse(u, err, "the slug has more than %llu entries",
		              (unsigned long long)u->max_entries);
	int64_t size = ar_archive_entry_size_is_set(e) ? ar_archive_entry_size(e) : 0;
	if (size < 0 || (uint64_t)size > u->max_bytes - u->declared)
		return refuse(u, err, "the slug would unpack to more than %llu bytes",
		              (unsigned long long)u->max_bytes);
	u->declared += (uint64_t)size;
	/* The stream read so far: the data of the entries before, and their headers. */
	int64_t stream = ar_archive_filter_bytes(u->a, 0);
	if (stream > 0 &&
	    (uint64_t)stream > u->declared + STREAM_SLACK + u->st.entries * HEADER_ALLOWANCE)
		return refuse(u, err, "the slug's headers take more than %u bytes an entry",
		              HEADER_ALLOWANCE);
	return 0;
}

static int unpack_entry(struct unpack *u, struct archive_entry *e, cm_err *err)
{
	const char *raw = ar_archive_entry_pathname(e);
	hs_slug__quote(raw ? raw : "", u->raw, sizeof(u->raw));
	if (check_caps(u, e, err) < 0)
		return -1;
	char rel[PATH_MAX];
	bool skip;
	const char *why = raw ? normalize(raw, rel, sizeof(rel), &skip) : "a name not in UTF-8";
	if (why)
		return refuse(u, err, "%s", why);
	mode_t type = ar_archive_entry_filetype(e);
	const char *hardlink = ar_archive_entry_hardlink(e);
	if (skip) /* "./": the directory that holds app, not part of the tree */
		return type == AE_IFDIR && !hardlink ? 0 : refuse(u, err, "outside ./app/");
	if (!rel[0] && (type != AE_IFDIR || hardlink))
		return refuse(u, err, "./app itself must be a directory");
	if (hardlink)
		return make_hardlink(u, rel, hardlink, err);
	switch (type) {
	case AE_IFREG:
		return make_file(u, e, rel, err);
	case AE_IFDIR:
		return make_dir(u, e, rel, err);
	case AE_IFLNK:
		return make_symlink(u, e, rel, err);
	default:
		return refuse(u, err, "%s", kind_refused(type));
	}
}

static int fixup_depth(const struct fixup *f)
{
	int d = f->path[0] != '\0';
	for (const char *p = f->path; (p = strchr(p, '/')); p++)
		d++;
	return d;
}

static int cmp_deepest_first(const void *a, const void *b)
{
	return fixup_depth(b) - fixup_depth(a);
}

/* Directories' modes and mtimes, deepest first: making an entry inside changes its
 * directory's mtime. */
static int apply_fixups(struct unpack *u, cm_err *err)
{
	if (u->nfix > 1)
		qsort(u->fix, u->nfix, sizeof(*u->fix), cmp_deepest_first);
	for (size_t i = 0; i < u->nfix; i++) {
		struct fixup *f = &u->fix[i];
		_cleanup_close_ int fd = hs_slug__open_dir(u->root, f->path, false);
		if (fd < 0 || fchmod(fd, f->mode) < 0 || futimens(fd, f->mtime) < 0)
			return cm_err_sys(err,
			                  "slug %s: directory ./app/%s: set its mode and mtime",
			                  u->what, f->path);
	}
	return 0;
}

static int read_entries(struct unpack *u, cm_err *err)
{
	for (;;) {
		struct archive_entry *e;
		int r = ar_archive_read_next_header(u->a, &e);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return cm_err_set(err, EINVAL, "slug %s: after %llu entries: %s", u->what,
			                  (unsigned long long)u->st.entries,
			                  ar_archive_error_string(u->a));
		if (unpack_entry(u, e, err) < 0)
			return -1;
		if (u->o && u->o->progress &&
		    u->o->progress(u->st.entries, u->st.bytes, u->o->data))
			return cm_err_set(err, ECANCELED, "slug %s: stopped after %llu entries",
			                  u->what, (unsigned long long)u->st.entries);
	}
}

static void unpack_free(struct unpack *u)
{
	if (u->parent >= 0)
		close(u->parent);
	free(u->parent_path);
	for (size_t i = 0; i < u->nfix; i++)
		free(u->fix[i].path);
	free(u->fix);
}

/* Into the temporary tree root: the entries, then the directories' modes and mtimes. The
 * tree's root is 0755 unless ./app/ said otherwise. */
static int extract(struct unpack *u, cm_err *err)
{
	if (read_entries(u, err) < 0 || apply_fixups(u, err) < 0)
		return -1;
	/* Until now 0700: nobody else could look into the tree being made. */
	if (fchmod(u->root, u->root_mode) < 0 || futimens(u->root, u->root_times) < 0)
		return cm_err_sys(err, "slug %s: set the mode and mtime of the tree", u->what);
	if (!(u->o && u->o->no_sync) && syncfs(u->root) < 0)
		return cm_err_sys(err, "slug %s: syncfs", u->what);
	return 0;
}

/* Extracts into a locked temporary beside name, then renames it into place. */
static int unpack_archive(struct archive *a, const char *what, int dir_fd, const char *name,
                          const struct hs_slug_opts *o, struct hs_slug_stats *st, cm_err *err)
{
	_cleanup_close_ int parent = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (parent < 0)
		return cm_err_sys(err, "slug %s: open the directory for %s", what, name);
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int root = hs_slug__make_temp(parent, &tmp, err);
	if (root < 0)
		return cm_err_wrap(err, "slug %s", what);
	struct unpack u = {.what = what, .a = a, .root = root, .parent = -1, .o = o};
	u.root_mode = 0755;
	u.root_times[0].tv_nsec = u.root_times[1].tv_nsec = UTIME_OMIT;
	u.max_bytes = o && o->max_bytes ? o->max_bytes : HS_SLUG_MAX_BYTES;
	u.max_entries = o && o->max_entries ? o->max_entries : HS_SLUG_MAX_ENTRIES;
	int rc = extract(&u, err);
	unpack_free(&u);
	if (st)
		*st = u.st;
	if (rc == 0 && renameat2(parent, tmp, parent, name, RENAME_NOREPLACE) < 0)
		rc = errno == EEXIST ? 1
		                     : cm_err_sys(err, "slug %s: rename %s to %s", what, tmp, name);
	if (rc != 0) {
		cm_err keep = *err;
		hs_slug_remove_tree(parent, tmp, err); /* failing, the temporary is left to clean */
		*err = keep;
		return rc;
	}
	return (o && o->no_sync) ? 0 : cm_fsync_dir(parent, err);
}

/* 1 when dir_fd/name is already a tree, 0 when absent. */
static int check_target(int dir_fd, const char *name, cm_err *err)
{
	if (!hs_slug_valid_name(name))
		return cm_err_set(err, EINVAL, "slug tree name \"%s\": not a valid name", name);
	struct stat st;
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return S_ISDIR(st.st_mode) ? 1
		                           : cm_err_set(err, EEXIST, "%s exists and is %s", name,
		                                        cm_file_kind(st.st_mode));
	return errno == ENOENT ? 0 : cm_err_sys(err, "stat %s", name);
}

/* A reader for tar, optionally gzipped, and nothing else: no other format's parser, and no
 * external program (libarchive runs one for gzip when built without zlib). */
static struct archive *new_reader(const char *what, cm_err *err)
{
	if (load_libarchive(err) < 0)
		return NULL;
	struct archive *a = ar_archive_read_new();
	if (!a) {
		cm_err_set(err, ENOMEM, "slug %s: archive_read_new failed", what);
		return NULL;
	}
	if (ar_archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
	    ar_archive_read_support_format_tar(a) != ARCHIVE_OK) {
		cm_err_set(err, ENOTSUP,
		           "slug %s: libarchive cannot read gzipped tar by itself: %s", what,
		           ar_archive_error_string(a));
		ar_archive_read_free(a);
		return NULL;
	}
	return a;
}

static int unpack_opened(struct archive *a, int r, const char *what, int dir_fd, const char *name,
                         const struct hs_slug_opts *o, struct hs_slug_stats *st, cm_err *err)
{
	int rc;
	if (r != ARCHIVE_OK)
		rc = cm_err_set(err, EINVAL, "slug %s: %s", what, ar_archive_error_string(a));
	else
		rc = unpack_archive(a, what, dir_fd, name, o, st, err);
	ar_archive_read_free(a);
	return rc;
}

int hs_slug_unpack_fd(int fd, const char *what, int dir_fd, const char *name,
                      const struct hs_slug_opts *o, struct hs_slug_stats *st, cm_err *err)
{
	int rc = check_target(dir_fd, name, err);
	if (rc != 0)
		return rc;
	struct archive *a = new_reader(what, err);
	if (!a)
		return -1;
	return unpack_opened(a, ar_archive_read_open_fd(a, fd, READ_BLOCK), what, dir_fd, name, o,
	                     st, err);
}

int hs_slug_unpack_mem(const void *data, size_t len, const char *what, int dir_fd, const char *name,
                       const struct hs_slug_opts *o, struct hs_slug_stats *st, cm_err *err)
{
	int rc = check_target(dir_fd, name, err);
	if (rc != 0)
		return rc;
	struct archive *a = new_reader(what, err);
	if (!a)
		return -1;
	return unpack_opened(a, ar_archive_read_open_memory(a, data, len), what, dir_fd, name, o,
	                     st, err);
}

int hs_slug_unpack(const char *source, int dir_fd, const char *name, const struct hs_slug_opts *o,
                   struct hs_slug_stats *st, cm_err *err)
{
	int rc = check_target(dir_fd, name, err);
	if (rc != 0)
		return rc;
	struct hs_slug_stats local = {0};
	uint64_t max = o && o->max_bytes ? o->max_bytes : HS_SLUG_MAX_BYTES;
	_cleanup_close_ int fd = hs_slug_open_source(source, dir_fd, max, &local, err);
	if (fd < 0)
		return -1;
	uint64_t download = local.download;
	_cleanup_free_ char *what = cm_http_redact(source);
	rc = hs_slug_unpack_fd(fd, what, dir_fd, name, o, st ? st : &local, err);
	if (st)
		st->download = download;
	return rc;
}
