/* The environment a dyno sees (Heroku's contract): the release's config vars, PORT and DYNO,
 * plus PATH and HOME taken from hsup's own environment unless the release sets them. */
#ifndef HS_ENV_H
#define HS_ENV_H

#include <stdbool.h>

struct hs_release;

/* The dyno's $PORT. Dynos on the host network share one address, so each gets its own
 * port: PORT (or 5000) + 100 x the type's position in the release + the dyno's offset. */
int hs_env_port(const struct hs_release *r, int type_index, int offset, bool host_network);
/* A complete, sorted KEY=VALUE vector; with_term adds hsup's TERM (an interactive run). */
char **hs_env_build(const struct hs_release *r, const char *dyno, int port, bool with_term);

#endif
