#define _GNU_SOURCE
#include "drivers/slugstore.h"
#include "drivers/slug.h"
#include "common/cleanup.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <nettle/md5.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int hs_slugstore_open(struct hs_slugstore *s, const char *dir, cm_err *err)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->dir = xstrdup(dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return cm_err_sys(err, "make %s", dir);
	s->fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->fd < 0)
		return cm_err_sys(err, "open %s", dir);
	unsigned cleaned = 0;
	return hs_slug_clean(s->fd, &cleaned, err);
}

void hs_slugstore_close(struct hs_slugstore *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->dir);
	pthread_mutex_destroy(&s->lock);
	s->fd = -1;
	s->dir = NULL;
}

/* A tree is named by its source: "slug-<md5 of the URL or path>". */
static char *tree_name(const char *source)
{
	struct md5_ctx ctx;
	uint8_t digest[MD5_DIGEST_SIZE];
	md5_init(&ctx);
	md5_update(&ctx, strlen(source), (const uint8_t *)source);
	md5_digest(&ctx, sizeof(digest), digest);
	char hex[2 * MD5_DIGEST_SIZE + 1];
	for (size_t i = 0; i < sizeof(digest); i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	return xasprintf("slug-%s", hex);
}

int hs_slugstore_take(struct hs_slugstore *s, const char *source, struct hs_slug_hold *h,
                      cm_err *err)
{
	h->name = tree_name(source);
	h->path = xasprintf("%s/%s", s->dir, h->name);
	h->fd = -1;
	pthread_mutex_lock(&s->lock);
	int r = hs_slug_unpack(source, s->fd, h->name, NULL, NULL, err);
	if (r >= 0) {
		h->fd = openat(s->fd, h->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (h->fd < 0 || flock(h->fd, LOCK_SH) < 0)
			r = cm_err_sys(err, "open %s", h->path);
	}
	pthread_mutex_unlock(&s->lock);
	if (r < 0)
		hs_slugstore_release(h);
	return r < 0 ? -1 : 0;
}

void hs_slugstore_release(struct hs_slug_hold *h)
{
	if (h->fd >= 0)
		close(h->fd);
	free(h->name);
	free(h->path);
	h->fd = -1;
	h->name = h->path = NULL;
}

void hs_slugstore_collect(struct hs_slugstore *s, void (*log)(const char *fmt, ...))
{
	_cleanup_strv_ char **names = NULL;
	cm_err err;
	if (hs_slug_list(s->fd, &names, &err) < 0)
		return;
	pthread_mutex_lock(&s->lock);
	/* the exclusive lock is refused while any release, of any hsup, holds the tree */
	for (size_t i = 0; names[i]; i++)
		if (hs_slug_remove_unused(s->fd, names[i], &err) < 0 && log)
			log("%s", err.msg);
	pthread_mutex_unlock(&s->lock);
}
