/* The control API's resources: request (method, path, body) in, reply out. Transport-free, so
 * the HTTP server and the tests share it. */
#ifndef HS_API_ROUTES_H
#define HS_API_ROUTES_H

#include <stddef.h>

struct hs_sup;

struct hs_reply {
	int status;
	char *body;        /* owned */
	const char *ctype; /* NULL: application/json */
	const char *allow; /* methods, with 405 */
};

void hs_api_route(struct hs_sup *sup, const char *method, const char *path, const char *body,
                  size_t body_len, struct hs_reply *r);
/* {"Error": msg} with the status. */
void hs_reply_error(struct hs_reply *r, int status, const char *msg);

#endif
