/* Allocation that never returns NULL: running out of memory aborts with a message. */
#ifndef CM_XALLOC_H
#define CM_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grows *p (of *cap elements of size elsize) to hold at least need elements. */
void xgrow(void **p, size_t *cap, size_t need, size_t elsize);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
