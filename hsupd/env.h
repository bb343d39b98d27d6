/* The environment a dyno sees (Heroku's contract): the release's config vars, PORT and DYNO,
 * plus PATH and HOME taken from hsup's own environment unless the release sets them. */
#ifndef HS_ENV_H
#define HS_ENV_H

#include <stdbool.h>

#include "common/err.h"

#define HS_PORTS_PER_TYPE 100
#define HS_DYNO_PATH      "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct hs_release;

/* The dyno's $PORT. Dynos on the host network share one address, so each gets its own
 * port: PORT (or 5000) + 100 x the type's position in the release + the dyno's offset. */
int hs_env_port(const struct hs_release *r, int type_index, int offset, bool host_network);
/* The release's PORT, or 5000. */
int hs_env_base_port(const struct hs_release *r);
/* Whether counts[i] dynos of each type i of r get ports of their own on the host network:
 * the ranges must not overlap nor pass 65535; err names the types when they do. */
int hs_env_check_ports(const struct hs_release *r, const int *counts, cm_err *err);
/* A complete, sorted KEY=VALUE vector; with_term adds hsup's TERM (an interactive run). */
/* app_env: HOME=/app and the standard PATH instead of hsup's (dynos in containers, abspath). */
char **hs_env_build(const struct hs_release *r, const char *dyno, int port, bool with_term,
                    bool app_env);

#endif
