/* libFuzzer target: arbitrary bytes through the control API's request parsing and routing
 * (control/api_http.c, control/api_routes.c), cut into arbitrary pieces and fed the way the
 * server feeds a connection: a piece at a time, an answer sent before the rest of the piece is
 * parsed, nothing more after an answer that closes. The first byte chooses the cutting: 0 feeds
 * the rest whole, N feeds it in pieces of 1 to N bytes. Every answer must be one complete HTTP
 * response whose body is what its Content-Type says; the parser must use every byte it is
 * given unless it answers. Routing runs against a supervisor with no release. */
#define _GNU_SOURCE
#include "fuzz/fuzz.h"
#include "control/api_http.h"
#include "drivers/driver.h"
#include "hsupd/supervisor.h"

#include <errno.h>
#include <http_parser.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a driver that starts nothing: with no release, no dyno is ever asked for ---- */

static int none_create(const struct hs_driver_conf *conf, struct hs_driver **out, cm_err *err)
{
	(void)err;
	static struct hs_driver d;
	d.conf = *conf;
	*out = &d;
	return 0;
}

static void none_destroy(struct hs_driver *d)
{
	(void)d;
}

static int none_build(struct hs_driver *d, const struct hs_release_info *r,
                      const volatile bool *cancel, struct hs_build **out, cm_err *err)
{
	(void)d, (void)r, (void)cancel, (void)err;
	*out = NULL;
	return 0;
}

static int none_start(struct hs_driver *d, const struct hs_dyno_spec *spec,
                      const struct hs_dyno_cbs *cbs, void *data, struct hs_dyno_proc **out,
                      cm_err *err)
{
	(void)d, (void)cbs, (void)data, (void)out;
	return cm_err_set(err, EPERM, "%s: the fuzz driver starts nothing", spec->name);
}

static int none_signal(struct hs_dyno_proc *p, int sig, cm_err *err)
{
	(void)p, (void)sig, (void)err;
	return 0;
}

static void none_release(struct hs_dyno_proc *p)
{
	(void)p;
}

static const struct hs_driver_ops none_ops = {
    .name = "none",
    .create = none_create,
    .destroy = none_destroy,
    .build = none_build,
    .start = none_start,
    .signal = none_signal,
    .release = none_release,
};

static void on_done(struct hs_sup *s, int code, void *d)
{
	(void)s, (void)code, (void)d;
}

/* One supervisor for every input: with no release, nothing routed to it changes it. */
static struct hs_sup *supervisor(void)
{
	static uv_loop_t loop;
	static struct hs_sup *sup;
	if (sup)
		return sup;
	uv_loop_init(&loop);
	struct hs_driver *driver;
	struct hs_driver_conf dconf = {.loop = &loop, .stop_timeout = 1};
	none_create(&dconf, &driver, NULL);
	driver->ops = &none_ops;
	struct hs_sup_conf conf = {.loop = &loop,
	                           .driver = driver,
	                           .policy = {.stop_timeout_ms = 1000,
	                                      .backoff_base_ms = 1000,
	                                      .backoff_max_ms = 1000,
	                                      .stayup_ms = 1000},
	                           .start_number = 1,
	                           .host_network = true,
	                           .on_done = on_done};
	sup = hs_sup_new(&conf);
	return sup;
}

/* ---- what an answer must be ---- */

struct response {
	int complete;
	char *body;
	size_t body_len;
	char ctype[64];
	char field[32];
};

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct response *r = p->data;
	snprintf(r->field, sizeof(r->field), "%.*s", (int)n, at);
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct response *r = p->data;
	if (strcasecmp(r->field, "Content-Type") == 0)
		snprintf(r->ctype, sizeof(r->ctype), "%.*s", (int)n, at);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct response *r = p->data;
	r->body = realloc(r->body, r->body_len + n);
	CHECK(r->body);
	memcpy(r->body + r->body_len, at, n);
	r->body_len += n;
	return 0;
}

static int on_complete(http_parser *p)
{
	((struct response *)p->data)->complete++;
	return 0;
}

static void check_answer(const struct hs_api_answer *ans)
{
	static const http_parser_settings settings = {.on_header_field = on_header_field,
	                                              .on_header_value = on_header_value,
	                                              .on_body = on_body,
	                                              .on_message_complete = on_complete};
	struct response r = {0};
	http_parser p;
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &r;
	CHECK(ans->len == strlen(ans->data));
	size_t used = http_parser_execute(&p, &settings, ans->data, ans->len);
	CHECK(HTTP_PARSER_ERRNO(&p) == HPE_OK && used == ans->len);
	CHECK(r.complete == 1);
	CHECK(p.status_code >= 200 && p.status_code <= 599);
	CHECK(!ans->close || !http_should_keep_alive(&p));
	if (strcmp(r.ctype, "application/json") == 0) {
		json_error_t jerr;
		json_t *doc = json_loadb(r.body, r.body_len, 0, &jerr);
		CHECK(doc);
		CHECK(p.status_code == 200 || json_is_string(json_object_get(doc, "Error")));
		json_decref(doc);
	} else {
		CHECK(strcmp(r.ctype, "text/plain") == 0 && r.body_len == 2 &&
		      memcmp(r.body, "OK", 2) == 0);
	}
	free(r.body);
}

/* ---- the input ---- */

static size_t next_piece(uint32_t *state, unsigned max, size_t left)
{
	if (max == 0)
		return left;
	*state = *state * 1103515245u + 12345u;
	size_t n = 1 + (*state >> 16) % max;
	return n < left ? n : left;
}

/* Feeds one piece as the server does; false once an answer closed the connection. */
static bool feed_piece(struct hs_api_http *h, const char *p, size_t n)
{
	while (n > 0) {
		struct hs_api_answer ans;
		size_t used = hs_api_http_feed(h, p, n, &ans);
		CHECK(used <= n);
		CHECK(ans.data || used == n);
		p += used;
		n -= used;
		if (!ans.data)
			continue;
		check_answer(&ans);
		bool close = ans.close;
		free(ans.data);
		if (close)
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct hs_api_http h;
	hs_api_http_init(&h, supervisor());
	unsigned max = data[0];
	uint32_t state = max;
	const char *in = (const char *)data + 1;
	size_t left = size - 1;
	while (left > 0) {
		size_t n = next_piece(&state, max, left);
		if (!feed_piece(&h, in, n))
			break;
		in += n;
		left -= n;
	}
	hs_api_http_free(&h);
	return 0;
}
