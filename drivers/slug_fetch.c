/* Where a slug comes from: a local path or a file:// URL, opened directly (a regular file
 * only: a FIFO or a device is refused before it is opened for reading), or an http(s):// URL,
 * downloaded through libcurl (loaded on first use, common/dl.h) into an unnamed temporary file
 * beside the trees, so that a crash leaves nothing and the download can be capped. */
#define _GNU_SOURCE
#include "drivers/slug.h"
#include "drivers/slug_int.h"
#include "common/cleanup.h"
#include "common/curl.h"
#include "common/http.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_S 30
#define STALL_SECONDS     60 /* a transfer slower than 1 kB/s for this long fails */
#define MAX_REDIRECTS     5

static bool has_prefix(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static int hexval(char c)
{
	return isdigit((unsigned char)c) ? c - '0' : tolower((unsigned char)c) - 'a' + 10;
}

/* file://[localhost]/path, percent-decoded; NULL with err set when it is not one. */
static char *file_url_path(const char *url, cm_err *err)
{
	const char *p = url + strlen("file://");
	if (has_prefix(p, "localhost/"))
		p += strlen("localhost");
	if (*p != '/') {
		cm_err_set(err, EINVAL, "slug %s: a file URL must be file:///PATH", url);
		return NULL;
	}
	char *out = xmalloc(strlen(p) + 1), *o = out;
	for (; *p; p++) {
		if (*p != '%') {
			*o++ = *p;
			continue;
		}
		if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]) ||
		    (p[1] == '0' && p[2] == '0')) {
			free(out);
			cm_err_set(err, EINVAL, "slug %s: a bad %%-escape in the path", url);
			return NULL;
		}
		*o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
		p += 2;
	}
	*o = '\0';
	return out;
}

static int open_local(const char *path, const char *what, cm_err *err)
{
	struct stat st;
	int fd = cm_open_regular_at(AT_FDCWD, path, &st, err);
	if (fd < 0)
		return cm_err_wrap(err, "slug %s", what);
	return fd;
}

struct download {
	int fd;
	uint64_t got, max;
	bool too_big;
	int write_errno;
};

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct download *d = arg;
	size_t len = size * n;
	if (d->got + len > d->max) {
		d->too_big = true;
		return 0;
	}
	if (cm_write_all(d->fd, data, len) < 0) {
		d->write_errno = errno;
		return 0;
	}
	d->got += len;
	return len;
}

/* An unnamed file in dir_fd: gone with its fd, whatever happens to the process. */
static int anonymous_file(int dir_fd, cm_err *err)
{
	int fd = openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd >= 0 ? fd : cm_err_sys(err, "create a temporary file for the download");
	_cleanup_free_ char *name = NULL;
	_cleanup_close_ int tmp = hs_slug__make_temp(dir_fd, &name, err);
	if (tmp < 0)
		return -1;
	fd = openat(tmp, "download", O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		cm_err_sys(err, "create a temporary file for the download");
	unlinkat(tmp, "download", 0);
	unlinkat(dir_fd, name, AT_REMOVEDIR);
	return fd;
}

/* Every option must take: an old libcurl that ignored the protocol lists would follow a
 * redirect to any protocol it has. */
static int set_options(CURL *c, const char *url, struct download *d, char *errbuf, cm_err *err)
{
	CURLcode rc;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if ((rc = cu_curl_easy_setopt(c, opt, val)) != CURLE_OK)                           \
			return cm_err_set(err, EINVAL, "libcurl refuses %s: %s", #opt,             \
			                  cu_curl_easy_strerror(rc));                              \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_NOSIGNAL, 1L); /* called from worker threads */
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https"); /* never file:// */
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
	SET(CURLOPT_FAILONERROR, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1024L);
	SET(CURLOPT_LOW_SPEED_TIME, (long)STALL_SECONDS);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)d->max);
	SET(CURLOPT_WRITEFUNCTION, on_data);
	SET(CURLOPT_WRITEDATA, d);
	SET(CURLOPT_ERRORBUFFER, errbuf);
#undef SET
	return 0;
}

static int download(const char *url, const char *what, int dir_fd, uint64_t max,
                    struct hs_slug_stats *st, cm_err *err)
{
	if (cm_curl_load(err) < 0)
		return cm_err_wrap(err, "slug %s", what);
	_cleanup_close_ int fd = anonymous_file(dir_fd, err);
	if (fd < 0)
		return cm_err_wrap(err, "slug %s", what);
	CURL *c = cu_curl_easy_init();
	if (!c)
		return cm_err_set(err, ENOMEM, "slug %s: curl_easy_init failed", what);
	struct download d = {.fd = fd, .max = max};
	char errbuf[CURL_ERROR_SIZE] = "";
	if (set_options(c, url, &d, errbuf, err) < 0) {
		cu_curl_easy_cleanup(c);
		return cm_err_wrap(err, "slug %s", what);
	}
	CURLcode rc = cu_curl_easy_perform(c);
	cu_curl_easy_cleanup(c);
	if (d.too_big || rc == CURLE_FILESIZE_EXCEEDED)
		return cm_err_set(err, EFBIG, "slug %s: larger than %llu bytes", what,
		                  (unsigned long long)max);
	if (d.write_errno)
		return cm_err_errno(err, d.write_errno, "slug %s: write the download", what);
	if (rc != CURLE_OK)
		return cm_err_set(err, EIO, "slug %s: download failed: %s", what,
		                  errbuf[0] ? errbuf : cu_curl_easy_strerror(rc));
	if (lseek(fd, 0, SEEK_SET) < 0)
		return cm_err_sys(err, "slug %s: rewind the download", what);
	st->download = d.got;
	return cm_steal_fd(fd);
}

int hs_slug_open_source(const char *source, int dir_fd, uint64_t max_bytes,
                        struct hs_slug_stats *st, cm_err *err)
{
	struct hs_slug_stats ignored;
	if (!st)
		st = &ignored;
	if (!source || !*source)
		return cm_err_set(err, EINVAL, "no slug given");
	if (has_prefix(source, "http://") || has_prefix(source, "https://")) {
		_cleanup_free_ char *what = cm_http_redact(source);
		return download(source, what, dir_fd, max_bytes, st, err);
	}
	if (has_prefix(source, "file://")) {
		_cleanup_free_ char *path = file_url_path(source, err);
		return path ? open_local(path, source, err) : -1;
	}
	const char *colon = strstr(source, "://");
	if (colon &&
	    (size_t)(colon - source) == strspn(source, "abcdefghijklmnopqrstuvwxyz"
	                                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-"))
		return cm_err_set(err, EINVAL,
		                  "slug %s: unsupported URL scheme (a path, file://, http:// or "
		                  "https://)",
		                  source);
	return open_local(source, source, err);
}
