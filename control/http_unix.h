/* A small HTTP/1.1 client for unix sockets (the control API's clients): one request, the
 * response parsed by http_parser. */
#ifndef HS_HTTP_UNIX_H
#define HS_HTTP_UNIX_H

#include <stddef.h>

#include "common/err.h"

struct hs_http_response {
	int status;
	char *body; /* NUL-terminated, owned */
	size_t len;
};

/* Sends method path (with body, JSON, when not NULL) to the socket and reads the response,
 * giving up after timeout_ms. err->code is ECONNREFUSED or ENOENT when nothing listens. */
int hs_http_unix(const char *sock, const char *method, const char *path, const char *body,
                 int timeout_ms, struct hs_http_response *out, cm_err *err);

#endif
