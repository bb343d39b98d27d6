/* Following an app on the Heroku Platform API (DESIGN §4.5): every interval, the app's newest
 * release and its formation are asked for with If-None-Match, so an unchanged app costs two
 * 304s on one kept-alive connection. A new release (or a formation changed without one) is
 * fetched whole (config vars, slug, app's stack), its slug downloaded once into a cache named
 * by slug id (resumed after a failure, its size and SHA-256 checked), and it becomes a control
 * document handed on like one from the control directory. A release is remembered as handled
 * only once it has been handed on, so a failed call never loses it: the next attempt fetches
 * it again. 429 waits for Retry-After, a low RateLimit-Remaining slows polling, and 5xx, resets
 * and timeouts are retried with backoff and jitter; 401, 403 and 404 are said in plain words
 * and what runs goes on running. The token goes only into the Authorization header of requests
 * to the API: never into argv, a message, the slug download or a dyno's environment. */
#ifndef HS_POLLER_H
#define HS_POLLER_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "hsupd/supervisor.h"

struct hs_poller;
struct hs_release;

typedef void (*hs_poller_cb)(struct hs_release *r, void *data);

struct hs_poller_conf {
	uv_loop_t *loop;
	const char *api_url; /* https://api.heroku.com */
	const char *app;
	const char *token;
	uint64_t interval_ms;
	uint64_t timeout_ms;   /* of each request to the API */
	const char *cache_dir; /* where slugs are downloaded */
	bool watch;            /* false: hand on the current release once, then stop */
	hs_poller_cb cb;       /* a release to offer, with hs_poller_offer_cb and the poller */
	/* After this many failures in a row (0: never), the poller stops and says why through
	 * failed (hsup build: the release is needed now, not eventually). */
	int give_up_after;
	void (*failed)(const char *why, void *data);
	void *data;
};

int hs_poller_open(const struct hs_poller_conf *conf, struct hs_poller **out, cm_err *err);
/* Polls at once, then every interval. */
void hs_poller_start(struct hs_poller *p);
/* Cancels what is in flight and frees the poller (its handles close on the loop). */
void hs_poller_close(struct hs_poller *p);
void hs_poller_offer_cb(enum hs_offer_result res, const struct hs_release *r, const cm_err *err,
                        void *data);
/* GET /poller: last poll, last release seen and applied, last error. */
json_t *hs_poller_report(void *p);

#endif
