/* Errors as values: a function that fails returns < 0 and fills a cm_err with the errno and
 * a message naming what failed. Callers add context on the way up; the top prints it once. */
#ifndef CM_ERR_H
#define CM_ERR_H

#include <stddef.h>

typedef struct cm_err {
	int code; /* errno value, or 0 when the failure has no errno */
	char msg[1024];
} cm_err;

/* Sets the message (printf-style) and code; returns -1 so callers can `return cm_err_set(...)`. */
int cm_err_set(cm_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Like cm_err_set with code = errno, and ": strerror(errno)" appended. */
int cm_err_sys(cm_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Like cm_err_sys for an explicit errno value (for APIs returning -errno). */
int cm_err_errno(cm_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefixes context to the existing message: "context: old message". Returns -1. */
int cm_err_wrap(cm_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cm_err_clear(cm_err *err);

#endif
