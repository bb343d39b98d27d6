/* The Heroku Platform API's answers (DESIGN §4.5), read as the hostile input they may be, and
 * turned into a control document: the format of $HSUP_CONTROL_DIR/new, so that a release from
 * the API is validated, built and applied by the same path as one from the directory. */
#ifndef HS_APIDOC_H
#define HS_APIDOC_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"

/* The newest release of GET /apps/{app}/releases (asked for with Range: version ..; max=1,
 * order=desc). */
struct hs_api_release {
	char id[65];
	long long version;
	char status[16];  /* "succeeded", "pending", "failed"; "succeeded" when the API says none */
	char slug_id[65]; /* "" for slug: null (no code yet) */
};

/* An id the API gave (release, slug): 1 to 64 of [A-Za-z0-9-], so that it can name a file and
 * a URL path. */
bool hs_api_valid_id(const char *s);
/* An app's name or id as -a gives it: 1 to 100 of [A-Za-z0-9._-], not "." or "..", so that it
 * stays one segment of the API's paths. */
bool hs_api_valid_app(const char *s);
/* 1 with *out set, 0 when the app has no release, < 0 when the body is not a release list. */
int hs_api_newest_release(const char *body, struct hs_api_release *out, cm_err *err);

/* What a release needs beside the release itself. */
struct hs_api_parts {
	json_t *config;    /* GET .../releases/{id}/config-vars: {name: value} */
	json_t *slug;      /* GET .../slugs/{id}, or NULL for no slug */
	json_t *app;       /* GET /apps/{app} */
	json_t *formation; /* GET .../formation */
};

/* Parses a response body as JSON of the given kind (JSON_OBJECT or JSON_ARRAY); what names it
 * in the message. */
json_t *hs_api_parse_body(const char *body, json_type kind, const char *what, cm_err *err);
/* The slug's blob URL, size (-1: unknown) and SHA-256 (lower-case hex, "" when not given). */
int hs_api_slug_blob(json_t *slug, const char **url, long long *size, char sha256[65], cm_err *err);
/* The control document for rel: Version, Name (app), Env (its config vars), Slug (slug_path,
 * the downloaded slug, or ""), Stack, and Processes from the formation (type, quantity, size,
 * command; a formation without a command takes the slug's process type). The result is
 * then parsed by hs_release_parse like any control document. */
json_t *hs_api_document(const struct hs_api_release *rel, const char *app,
                        const struct hs_api_parts *parts, const char *slug_path, cm_err *err);

#endif
