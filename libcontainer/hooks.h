/* The config's hooks, run at their moments of the lifecycle (runtime-spec config.md, "POSIX
 * platform hooks"): each gets the container's state as JSON on its stdin, runs with its own
 * args and env, and is killed when its timeout passes. */
#ifndef LC_HOOKS_H
#define LC_HOOKS_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"
#include "libcontainer/config.h"
#include "libcontainer/state.h"

/* The state a hook reads: {ociVersion, id, status, pid, bundle}. Owned by the caller. */
char *lc_hooks_state_json(const struct lc_state *s, const char *status);

/* Runs the hooks of one kind in order and stops at the first that fails (a non-zero exit, a
 * signal, or its timeout: it is then killed). ns_pid > 0: each runs in that process's
 * namespaces (user, mount, uts, ipc, network, cgroup), its path resolved there; 0: in the
 * runtime's. Blocks until they are done. */
int lc_hooks_run(const struct lc_config *c, enum lc_hook_kind kind, const char *state, pid_t ns_pid,
                 cm_err *err);
/* The same for the kinds whose failure the spec makes a warning (poststart, poststop): every
 * hook runs, and each failure is printed on stderr. */
void lc_hooks_run_warn(const struct lc_config *c, enum lc_hook_kind kind, const char *state,
                       pid_t ns_pid);
bool lc_hooks_any(const struct lc_config *c, enum lc_hook_kind first, enum lc_hook_kind last);

#endif
