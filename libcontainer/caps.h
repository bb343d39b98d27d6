/* Capabilities: names resolved with libcap before clone, applied in the child with raw
 * system calls only (prctl and capset), since the child may not allocate. */
#ifndef LC_CAPS_H
#define LC_CAPS_H

#include <stdint.h>

#include "common/err.h"
#include "libcontainer/config.h"

struct lc_caps {
	uint64_t sets[LC_CAP_NSETS]; /* bit n = capability n */
	int last_cap;
};

/* Resolves the names of one set ("CAP_KILL"); field names the set in errors. */
int lc_caps_parse(char *const *names, uint64_t *mask, const char *field, cm_err *err);
int lc_caps_from_process(const struct lc_process *p, struct lc_caps *out, cm_err *err);
/* In the child: drops the bounding set (needs CAP_SETPCAP, so call while still privileged). */
int lc_caps_drop_bounding(const struct lc_caps *c);
/* In the child, after the uid change: effective, permitted, inheritable, then ambient. */
int lc_caps_apply(const struct lc_caps *c);

#endif
