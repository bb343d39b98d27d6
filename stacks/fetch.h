/* Fetching a stack image: `<name>-<version>.img.gz` from its file://, http:// or https:// URL
 * (libcurl, loaded on first use), gunzipped while it arrives (zlib), checked against the
 * manifest's md5 of the uncompressed image (nettle), and stored atomically beside the manifest
 * as `<name>-<version>.img`. */
#ifndef ST_FETCH_H
#define ST_FETCH_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "stacks/manifest.h"

#define ST_FETCH_MAX_SIZE     (32ULL << 30) /* bytes of image, compressed or not */
#define ST_FETCH_STALL_SECS   60
#define ST_FETCH_CONNECT_SECS 30

struct st_progress {
	const char *id;    /* "<name>-<version>", valid during the call */
	uint64_t received; /* bytes received (compressed) */
	uint64_t total;    /* bytes to receive, 0 when the server does not say */
	uint64_t written;  /* bytes of image written (uncompressed) */
	double rate;       /* bytes received per second, on average */
	double eta;        /* seconds left, < 0 when unknown */
	bool done;         /* the last report of this transfer */
};
typedef void (*st_progress_fn)(const struct st_progress *p, void *arg);

struct st_fetch_opts {
	/* Progress as a line rewritten in place on this fd (pass a terminal), at most four
	 * times a second, and once more at the end; -1: none. */
	int progress_fd;
	st_progress_fn progress; /* called as often, when set */
	void *progress_arg;
	uint64_t max_size;        /* 0: ST_FETCH_MAX_SIZE */
	unsigned stall_seconds;   /* a transfer receiving nothing this long fails; 0: default */
	unsigned connect_seconds; /* 0: ST_FETCH_CONNECT_SECS */
};
#define ST_FETCH_OPTS_INIT                                                                         \
	{                                                                                          \
		.progress_fd = -1                                                                  \
	}

/* Makes `<id>.img` in the manifest's directory hold stack s, verified. Blocks (run it on a
 * worker thread): it waits for another process or thread fetching the same stack, then uses
 * what that one stored. An image already there with the right md5, or already mounted at
 * `<id>/`, is used as it is. Anything else is fetched into a temporary file that is renamed
 * into place only once its md5 is right; on failure nothing is left behind, and a wrong md5 is
 * an error giving both sums. Redirects go only to http and https. Returns 1 if the image was
 * fetched, 0 if it was already there, < 0 on error. o may be NULL. */
int st_fetch(const struct st_manifest *m, const struct st_stack *s, const struct st_fetch_opts *o,
             cm_err *err);

/* Formats a progress line ("cedar-14-v42: 12.0 MiB of 40.0 MiB (30%), 3.1 MiB/s, 0:09 left")
 * into buf. */
void st_progress_format(const struct st_progress *p, char *buf, size_t size);

#endif
