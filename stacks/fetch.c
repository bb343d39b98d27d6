/* Fetching, gunzipping, verifying and storing a stack image. libcurl is loaded on first use
 * (common/dl.c); zlib and nettle are linked. */
#define _GNU_SOURCE
#include "stacks/fetch.h"
#include "stacks/mount.h"
#include "stacks/store.h"
#include "common/cleanup.h"
#include "common/curl.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/md5.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static void curl_cleanupp(CURL **c)
{
	if (*c)
		cu_curl_easy_cleanup(*c);
}

/* ---- the image file: written where data is, holes where it is zero ---- */

#define BLOCK 4096

struct sink {
	int fd;
	uint64_t off; /* bytes of image so far */
};

static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w, n -= (size_t)w, off += (uint64_t)w;
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	return n > 0 && p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

/* Filesystem images are mostly zeros: whole zero blocks are skipped (ftruncate at the end
 * gives the file its size), so the image takes the disk space of its data. */
static int sink_write(struct sink *k, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t run = 0;
		bool zero = false;
		while (run < n) {
			size_t len = BLOCK - (size_t)((k->off + run) % BLOCK);
			len = len < n - run ? len : n - run;
			bool z = len == BLOCK && all_zero(p + run, len);
			if (run > 0 && z != zero)
				break;
			zero = z;
			run += len;
		}
		if (!zero && pwrite_all(k->fd, p, run, k->off) < 0)
			return -1;
		k->off += run, p += run, n -= run;
	}
	return 0;
}

/* ---- one transfer ---- */

struct xfer {
	const struct st_fetch_opts *o;
	struct sink sink;
	uint64_t max;
	z_stream z;
	bool member_ended; /* the last gzip member is complete */
	struct md5_ctx md5;
	uint8_t out[64 * 1024];
	cm_err err; /* what the callbacks refused, when err.code != 0 */
	struct st_progress prog;
	struct timespec start, last_report;
	struct timespec last_data; /* when bytes last arrived */
	unsigned stall;            /* seconds without bytes before giving up */
};

static int xfer_fail(struct xfer *x, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records why a callback stops the transfer: that, not curl's "write error", is reported. */
static int xfer_fail(struct xfer *x, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->err.msg, sizeof(x->err.msg), fmt, ap);
	va_end(ap);
	x->err.code = code ? code : EIO;
	return -1;
}

static int inflate_some(struct xfer *x)
{
	x->z.next_out = x->out;
	x->z.avail_out = sizeof(x->out);
	int r = inflate(&x->z, Z_NO_FLUSH);
	if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR)
		return xfer_fail(x, EINVAL, "not a gzip stream, or a damaged one: %s",
		                 x->z.msg ? x->z.msg : zError(r));
	size_t n = sizeof(x->out) - x->z.avail_out;
	if (x->sink.off + n > x->max)
		return xfer_fail(x, EFBIG, "the image is larger than %llu bytes (the limit)",
		                 (unsigned long long)x->max);
	md5_update(&x->md5, n, x->out);
	if (sink_write(&x->sink, x->out, n) < 0) {
		int e = errno;
		return xfer_fail(x, e, "write the image: %s", strerror(e));
	}
	x->member_ended = r == Z_STREAM_END;
	/* more output may be waiting when the buffer filled */
	return r == Z_STREAM_END ? 0 : (x->z.avail_out == 0 ? 1 : 0);
}

static int gunzip(struct xfer *x, const uint8_t *data, size_t n)
{
	x->z.next_in = (Bytef *)(uintptr_t)data;
	x->z.avail_in = (uInt)n;
	while (x->z.avail_in > 0) {
		if (x->member_ended) { /* gzip allows several members one after another */
			inflateReset(&x->z);
			x->member_ended = false;
		}
		int r;
		while ((r = inflate_some(x)) > 0) {
		}
		if (r < 0)
			return -1;
	}
	return 0;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	clock_gettime(CLOCK_MONOTONIC, &x->last_data);
	x->prog.received += n;
	if (x->prog.received > x->max) {
		xfer_fail(x, EFBIG, "the download is larger than %llu bytes (the limit)",
		          (unsigned long long)x->max);
		return 0;
	}
	return gunzip(x, (const uint8_t *)data, n) < 0 ? 0 : n;
}

static double seconds_since(const struct timespec *t0, const struct timespec *t1)
{
	return (double)(t1->tv_sec - t0->tv_sec) + (double)(t1->tv_nsec - t0->tv_nsec) / 1e9;
}

static void human(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	size_t u = 0;
	while (v >= 1024 && u + 1 < CM_ARRAY_SIZE(units))
		v /= 1024, u++;
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void st_progress_format(const struct st_progress *p, char *buf, size_t size)
{
	char got[32], total[32], rate[32], eta[32] = "";
	human(p->received, got, sizeof(got));
	human((uint64_t)p->rate, rate, sizeof(rate));
	if (p->total)
		human(p->total, total, sizeof(total));
	if (p->eta >= 0 && p->eta < 1e7) {
		unsigned long s = (unsigned long)(p->eta + 0.5);
		snprintf(eta, sizeof(eta), ", %lu:%02lu:%02lu left", s / 3600, s / 60 % 60, s % 60);
	}
	if (p->total)
		snprintf(buf, size, "%s: %s of %s (%d%%), %s/s%s", p->id, got, total,
		         (int)(p->received * 100 / p->total), rate, eta);
	else
		snprintf(buf, size, "%s: %s, %s/s", p->id, got, rate);
}

static void report(struct xfer *x, bool done)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!done && seconds_since(&x->last_report, &now) < 0.25)
		return;
	x->last_report = now;
	double elapsed = seconds_since(&x->start, &now);
	struct st_progress *p = &x->prog;
	p->written = x->sink.off;
	p->rate = elapsed > 0 ? (double)p->received / elapsed : 0;
	p->eta = p->total && p->rate > 0 && p->received <= p->total
	             ? (double)(p->total - p->received) / p->rate
	             : -1;
	p->done = done;
	if (x->o->progress)
		x->o->progress(p, x->o->progress_arg);
	if (x->o->progress_fd >= 0) {
		char line[256];
		st_progress_format(p, line, sizeof(line));
		_cleanup_free_ char *out = xasprintf("\r%s\033[K%s", line, done ? "\n" : "");
		cm_write_all(x->o->progress_fd, out, strlen(out)); /* progress is best effort */
	}
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
	(void)dlnow, (void)ultotal, (void)ulnow;
	struct xfer *x = arg;
	if (dltotal > 0)
		x->prog.total = (uint64_t)dltotal;
	report(x, false);
	/* curl calls this about once a second even when nothing arrives */
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (seconds_since(&x->last_data, &now) < x->stall)
		return 0;
	xfer_fail(x, ETIMEDOUT, "nothing received for %u s: the transfer stalled", x->stall);
	return 1;
}

static CURLcode setup(CURL *c, const struct st_stack *s, struct xfer *x, char *errbuf)
{
	const struct st_fetch_opts *o = x->o;
	CURLcode r = CURLE_OK;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (r == CURLE_OK)                                                                 \
			r = cu_curl_easy_setopt(c, opt, val);                                      \
	} while (0)
	SET(CURLOPT_URL, s->url);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_NOSIGNAL, 1L); /* called from threads: no SIGALRM for timeouts */
	SET(CURLOPT_PROTOCOLS_STR, "file,http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 1L);
	SET(CURLOPT_MAXREDIRS, 10L);
	SET(CURLOPT_FAILONERROR, 1L);
	SET(CURLOPT_USERAGENT, "hsup/" HSUP_VERSION);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max);
	SET(CURLOPT_CONNECTTIMEOUT,
	    (long)(o->connect_seconds ? o->connect_seconds : ST_FETCH_CONNECT_SECS));
	SET(CURLOPT_WRITEFUNCTION, on_data);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, x);
#undef SET
	return r;
}

static const char *curl_hint(CURLcode r)
{
	switch (r) {
	case CURLE_UNSUPPORTED_PROTOCOL:
		return " (images are fetched over file, http and https; redirects only to http "
		       "and https)";
	case CURLE_PARTIAL_FILE:
		return " (the download was cut short)";
	case CURLE_OPERATION_TIMEDOUT:
		return " (timed out)";
	default:
		return "";
	}
}

static int transfer(const struct st_stack *s, struct xfer *x, cm_err *err)
{
	__attribute__((cleanup(curl_cleanupp))) CURL *c = cu_curl_easy_init();
	if (!c)
		return cm_err_set(err, ENOMEM, "curl_easy_init failed");
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode r = setup(c, s, x, errbuf);
	if (r != CURLE_OK)
		return cm_err_set(err, ENOTSUP,
		                  "set up libcurl: %s (libcurl 7.85 or later is needed)",
		                  cu_curl_easy_strerror(r));
	clock_gettime(CLOCK_MONOTONIC, &x->start);
	x->last_data = x->start;
	r = cu_curl_easy_perform(c);
	if (x->err.code != 0) {
		*err = x->err;
		return -1;
	}
	if (r != CURLE_OK)
		return cm_err_set(err, EIO, "%s%s", errbuf[0] ? errbuf : cu_curl_easy_strerror(r),
		                  curl_hint(r));
	report(x, true);
	return 0;
}

/* Fetches s into fd; fills hex with the md5 of the uncompressed image. */
static int download(const struct st_stack *s, const struct st_fetch_opts *o, int fd,
                    char hex[ST_MD5_HEX + 1], cm_err *err)
{
	if (cm_curl_load(err) < 0)
		return -1;
	_cleanup_free_ struct xfer *x = xcalloc(1, sizeof(*x));
	_cleanup_free_ char *id = st_stack_id(s);
	x->o = o;
	x->prog.id = id;
	x->sink.fd = fd;
	x->max = o->max_size ? o->max_size : ST_FETCH_MAX_SIZE;
	x->stall = o->stall_seconds ? o->stall_seconds : ST_FETCH_STALL_SECS;
	md5_init(&x->md5);
	if (inflateInit2(&x->z, 16 + MAX_WBITS) != Z_OK) /* gzip only */
		return cm_err_set(err, ENOMEM, "inflateInit2 failed");
	int rc = transfer(s, x, err);
	inflateEnd(&x->z);
	if (rc < 0)
		return -1;
	if (!x->member_ended)
		return cm_err_set(err, EPIPE,
		                  "the gzip stream ends early, after %llu bytes of image (a "
		                  "truncated download?)",
		                  (unsigned long long)x->sink.off);
	if (ftruncate(fd, (off_t)x->sink.off) < 0)
		return cm_err_sys(err, "size the image");
	uint8_t digest[MD5_DIGEST_SIZE];
	md5_digest(&x->md5, sizeof(digest), digest);
	st_md5_hex(digest, hex);
	return 0;
}

/* ---- storing ---- */

/* 1 if <id>.img is there with the right md5, 0 if not (absent, not a regular file, or other
 * content: it will be replaced). */
static int image_good(int dirfd, const struct st_stack *s, const char *img, cm_err *err)
{
	struct stat st;
	_cleanup_close_ int fd = cm_open_regular_at(dirfd, img, &st, err);
	if (fd < 0 && (err->code == ENOENT || err->code == EINVAL))
		return 0;
	if (fd < 0)
		return -1;
	char hex[ST_MD5_HEX + 1];
	if (st_md5_fd(fd, img, hex, err) < 0)
		return -1;
	return strcmp(hex, s->md5) == 0;
}

/* The temporary file of a fetch: one name per stack, used only under the stack's lock, so a
 * file a killed fetch left there is removed by the next. */
static int create_part(int dirfd, const char *part, cm_err *err)
{
	if (unlinkat(dirfd, part, 0) < 0 && errno != ENOENT)
		return cm_err_sys(err, "remove %s", part);
	int fd = openat(dirfd, part, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
	                0600);
	if (fd < 0)
		return cm_err_sys(err, "create %s", part);
	return fd;
}

static int install(int dirfd, int fd, const char *part, const char *img, cm_err *err)
{
	if (fchmod(fd, 0644) < 0 || fsync(fd) < 0)
		return cm_err_sys(err, "write %s", part);
	if (renameat(dirfd, part, dirfd, img) < 0)
		return cm_err_sys(err, "rename %s to %s", part, img);
	return cm_fsync_dir(dirfd, err);
}

static int fetch_into(const struct st_manifest *m, const struct st_stack *s,
                      const struct st_fetch_opts *o, int dirfd, const char *img, cm_err *err)
{
	_cleanup_free_ char *part = xasprintf(".%s.part", img);
	_cleanup_close_ int fd = create_part(dirfd, part, err);
	if (fd < 0)
		return -1;
	char hex[ST_MD5_HEX + 1];
	int rc = download(s, o, fd, hex, err);
	if (rc == 0 && strcmp(hex, s->md5) != 0)
		rc = cm_err_set(err, EBADMSG,
		                "md5 mismatch: the image is %s, but %s line %d says %s; nothing "
		                "was stored",
		                hex, m->path, s->line, s->md5);
	if (rc == 0)
		rc = install(dirfd, fd, part, img, err);
	if (rc < 0)
		unlinkat(dirfd, part, 0);
	return rc;
}

int st_fetch(const struct st_manifest *m, const struct st_stack *s, const struct st_fetch_opts *o,
             cm_err *err)
{
	static const struct st_fetch_opts defaults = ST_FETCH_OPTS_INIT;
	o = o ? o : &defaults;
	_cleanup_free_ char *id = st_stack_id(s);
	_cleanup_free_ char *img = xasprintf("%s.img", id);
	_cleanup_close_ int dirfd = st_store_open(m, err);
	if (dirfd < 0)
		return cm_err_wrap(err, "fetch stack %s", id);
	_cleanup_close_ int lock = st_store_lock(dirfd, id, err);
	if (lock < 0)
		return cm_err_wrap(err, "fetch stack %s", id);
	int r = st_mount_find(m, s, NULL, err);
	if (r == 0)
		r = image_good(dirfd, s, img, err);
	if (r < 0)
		return cm_err_wrap(err, "fetch stack %s", id);
	if (r > 0)
		return 0;
	if (fetch_into(m, s, o, dirfd, img, err) < 0)
		return cm_err_wrap(err, "fetch stack %s from %s", id, s->url);
	return 1;
}
