/* Mounts: the config's mounts turned into a list of operations before clone (mounts.c), run
 * by the child with system calls only. */
#ifndef LC_MOUNTS_H
#define LC_MOUNTS_H

#include "common/err.h"
#include "libcontainer/cgroups.h"
#include "libcontainer/config.h"
#include "libcontainer/init.h"

/* Fills p->ops from cfg->mounts. bundle resolves relative bind sources; cg gives the host
 * directories a "cgroup" mount shows on cgroup v1. Strings point into cfg or are owned by
 * the plan's arena (freed with lc_mounts_plan_free). */
int lc_mounts_plan(const struct lc_config *cfg, const char *bundle, const struct lc_cgroup *cg,
                   struct lc_plan *p, cm_err *err);
void lc_mounts_plan_free(struct lc_plan *p);

#endif
