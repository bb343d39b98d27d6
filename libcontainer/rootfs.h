/* The container's root filesystem: /dev planning before clone (the child side is declared in
 * init.h). */
#ifndef LC_ROOTFS_H
#define LC_ROOTFS_H

#include <stdbool.h>

#include "libcontainer/config.h"
#include "libcontainer/init.h"

void lc_rootfs_plan_devices(const struct lc_config *c, bool userns, struct lc_plan *p);
void lc_rootfs_plan_free(struct lc_plan *p);

#endif
