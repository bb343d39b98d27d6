/* A release: what to run (config vars, slug, stack, process types and quantities). Parsed and
 * validated once, then immutable and shared by reference among the dynos started from it. */
#ifndef HS_RELEASE_H
#define HS_RELEASE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define HS_DEFAULT_PORT 5000

struct hs_dyno_size;

struct hs_process_type {
	char *type;
	int quantity;
	char **args;                     /* command words, joined with spaces for bash -c */
	const struct hs_dyno_size *size; /* "Size", standard-1x when not given */
};

struct hs_release {
	int refs;
	long long version;
	char *name;
	char **env; /* "KEY=VALUE", sorted by key, unique keys */
	char *slug;
	char *stack;
	char *logplex_url;
	struct hs_process_type *procs;
	size_t nprocs;
	struct hs_build *build; /* what the driver's build made of it (set once, when built) */
	char *raw;              /* the document as received, NUL-terminated */
	size_t rawlen;
};

/* Parses a control document. On failure err says where (JSON line and column) or which field
 * breaks which rule; its code is ENODATA when the document ends before it is complete, and
 * E2BIG when the kernel would refuse to start its dynos (a config var or a command longer
 * than MAX_ARG_STRLEN, or more environment and arguments than ARG_MAX, counting what hsup
 * adds: DYNO, PORT, PATH, HOME, TERM). */
int hs_release_parse(const char *json, size_t len, struct hs_release **out, cm_err *err);
/* The release of an app with no configuration: `hsup run` without a control directory. */
struct hs_release *hs_release_empty(void);
struct hs_release *hs_release_ref(struct hs_release *r);
void hs_release_unref(struct hs_release *r);
void hs_release_unrefp(struct hs_release **r);

const struct hs_process_type *hs_release_find(const struct hs_release *r, const char *type);
/* Index of the type in the release's list, or -1. */
int hs_release_type_index(const struct hs_release *r, const char *type);
/* The value of config var key, or NULL. */
const char *hs_release_env_get(const struct hs_release *r, const char *key);

bool hs_valid_process_type(const char *s);
/* An absolute http or https URL; what names it in the message. */
int hs_validate_url(const char *url, const char *what, cm_err *err);
bool hs_valid_env_name(const char *s);

#endif
