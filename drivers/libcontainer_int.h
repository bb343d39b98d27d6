/* The libcontainer driver's parts, shared by its files: the driver (libcontainer.c: creating,
 * building releases, reclaiming what a dead hsup left) and its dynos (lcproc.c: starting,
 * watching, stopping and removing one container dyno). */
#ifndef HS_LIBCONTAINER_INT_H
#define HS_LIBCONTAINER_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "alloc/alloc.h"
#include "drivers/driver.h"
#include "drivers/net.h"
#include "drivers/slugstore.h"
#include "libcontainer/container.h"

struct lcd_driver {
	struct hs_driver base;
	char *dynos_dir;           /* <data>/dynos: each dyno's directory */
	char *netns_dir;           /* <state>/netns: each dyno's network namespace */
	struct hs_slugstore slugs; /* <data>/slugs: the releases' unpacked slugs */
	char *manifest;            /* the stack manifest's path */
	struct al_alloc *alloc;
	struct hs_net_conf net;
	bool net_acquired;
	struct lc_factory *factory; /* containers' state: <state>/containers */
	int init_fd;                /* the dyno init, exec'd from outside the rootfs */
};

/* What building a release made: the stack's mount and the unpacked slug, held so that no hsup
 * removes it while a release uses it. */
struct lcd_build {
	struct hs_build base;
	char *rootfs;
	struct hs_slug_hold tree; /* path NULL when the release has no slug */
};

/* What the user should know, through hsup's log (from any thread). */
#define lcd_log(d, ...)                                                                            \
	do {                                                                                       \
		if ((d)->base.conf.log)                                                            \
			(d)->base.conf.log(__VA_ARGS__);                                           \
	} while (0)

extern const struct hs_driver_ops hs_driver_libcontainer;

int lcd_start(struct hs_driver *d, const struct hs_dyno_spec *spec, const struct hs_dyno_cbs *cbs,
              void *data, struct hs_dyno_proc **out, cm_err *err);
int lcd_signal(struct hs_dyno_proc *p, int sig, cm_err *err);
void lcd_release(struct hs_dyno_proc *p);
/* Removes what a dyno left, from the names recorded in its reservation; blocking. */
void lcd_reclaim(struct lcd_driver *d, const struct al_reservation *r);

#endif
