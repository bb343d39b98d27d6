#include "common/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void append(cm_err *err, const char *s)
{
	size_t used = strlen(err->msg);
	snprintf(err->msg + used, sizeof(err->msg) - used, "%s", s);
}

int cm_err_set(cm_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->code = code;
	return -1;
}

static int set_errno_v(cm_err *err, int code, const char *fmt, va_list ap)
{
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	append(err, ": ");
	append(err, strerror(code));
	err->code = code;
	return -1;
}

int cm_err_sys(cm_err *err, const char *fmt, ...)
{
	int code = errno;
	va_list ap;
	va_start(ap, fmt);
	set_errno_v(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

int cm_err_errno(cm_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	set_errno_v(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

int cm_err_wrap(cm_err *err, const char *fmt, ...)
{
	char old[sizeof(err->msg)];
	va_list ap;
	memcpy(old, err->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	append(err, ": ");
	append(err, old);
	return -1;
}

void cm_err_clear(cm_err *err)
{
	err->code = 0;
	err->msg[0] = '\0';
}
