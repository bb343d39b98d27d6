/* The control API's HTTP side of one connection, without the socket: bytes in, one answer out
 * at a time. The server (api.c) and the fuzz target drive it the same way: feed what was read,
 * send the answer it gives, feed the rest once the answer is written. */
#ifndef HS_API_HTTP_H
#define HS_API_HTTP_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>

struct hs_sup;

/* A complete HTTP response, ready to be written. */
struct hs_api_answer {
	char *data; /* owned; NULL when there is nothing to send */
	size_t len;
	bool close; /* close the connection once it is written */
};

struct hs_api_http {
	struct hs_sup *sup;
	http_parser parser;
	char *url, *body;
	size_t url_len, body_len;
	int refuse;      /* a status to refuse the request with (413, 414) */
	bool in_request; /* a request has begun and not ended */
	bool failed;     /* the input is not HTTP: nothing more is parsed */
	struct hs_api_answer answer;
};

void hs_api_http_init(struct hs_api_http *h, struct hs_sup *sup);
void hs_api_http_free(struct hs_api_http *h);
/* Parses data up to the end of the first request in it and answers that request. Returns the
 * number of bytes used. *ans is filled when an answer is due (a request ended, or the input is
 * malformed, then with close set); feed the rest, data + the return value, after sending it.
 * Without an answer, every byte was used. */
size_t hs_api_http_feed(struct hs_api_http *h, const char *data, size_t n,
                        struct hs_api_answer *ans);
/* An answer of status with {"Error": msg} that closes the connection (503, 408). */
void hs_api_http_refusal(int status, const char *msg, struct hs_api_answer *ans);

#endif
