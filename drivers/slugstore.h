/* The releases' unpacked slugs, shared by the drivers that run them (abspath, libcontainer):
 * each unpacked once under a directory, named by its source, held with a shared lock
 * (flock) by every release that uses it, in this hsup or another, and removed once none does.
 * Every function but hs_slugstore_release may block: call them on the thread pool. */
#ifndef HS_SLUGSTORE_H
#define HS_SLUGSTORE_H

#include <pthread.h>

#include "common/err.h"

struct hs_slugstore {
	char *dir;
	int fd;
	pthread_mutex_t lock; /* held while a tree is taken or removed */
};

/* A tree held for a release. */
struct hs_slug_hold {
	char *name; /* "slug-<md5 of the source>" */
	char *path; /* dir/name */
	int fd;     /* the tree's directory, holding the shared lock; -1 when none */
};

/* Makes dir if needed and removes what a crash left in it. */
int hs_slugstore_open(struct hs_slugstore *s, const char *dir, cm_err *err);
void hs_slugstore_close(struct hs_slugstore *s);
/* Unpacks the slug at source (a path, file:// or http(s):// URL) unless it is there already,
 * and holds its tree. */
int hs_slugstore_take(struct hs_slugstore *s, const char *source, struct hs_slug_hold *h,
                      cm_err *err);
/* Lets go of a tree (its lock goes with the fd; the tree stays until collected). */
void hs_slugstore_release(struct hs_slug_hold *h);
/* Removes the trees nobody holds (called after a build: the trees of releases replaced
 * earlier go, the current release's stays for a restarted hsup); log (may be NULL) hears of
 * failures. */
void hs_slugstore_collect(struct hs_slugstore *s, void (*log)(const char *fmt, ...));

#endif
