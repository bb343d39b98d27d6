/* The simple driver's parts, shared with the abspath driver (abspath.c), which runs the same
 * host processes through the dyno init, in the release's unpacked slug. */
#ifndef HS_SIMPLE_INT_H
#define HS_SIMPLE_INT_H

#include "drivers/driver.h"
#include "drivers/dyno_group.h"
#include "drivers/slugstore.h"

struct simple_driver {
	struct hs_driver base;
	char *bash;
	struct hs_dg_root root;
	struct hs_slugstore slugs; /* fd -1 until a slug is first built */
	/* abspath only */
	int init_fd;    /* the dyno init; -1 for the simple driver */
	char *app_path; /* where the release's slug is: /app */
};

/* A release built with a slug: its unpacked tree, held while a dyno runs it. */
struct hs_slug_build {
	struct hs_build base;
	struct hs_slug_hold tree;
};

/* Unpacks slug into the driver's store (data_dir/slugs, opened when first needed) unless it is
 * there, and holds its tree for a build; trees no release holds any more are removed. Blocks:
 * call it on the thread pool (from the driver's build). */
int hs_simple_slug_build(struct simple_driver *d, const char *slug, struct hs_slug_build **out,
                         cm_err *err);
void hs_simple_free_build(struct hs_build *base);

int hs_simple_init(struct simple_driver *d, const struct hs_driver_conf *conf,
                   const struct hs_driver_ops *ops, cm_err *err);
void hs_simple_fini(struct simple_driver *d);
int hs_simple_start(struct hs_driver *base, const struct hs_dyno_spec *spec,
                    const struct hs_dyno_cbs *cbs, void *data, struct hs_dyno_proc **out,
                    cm_err *err);
int hs_simple_signal(struct hs_dyno_proc *base, int sig, cm_err *err);
void hs_simple_release(struct hs_dyno_proc *base);
json_t *hs_simple_record(struct hs_dyno_proc *base);
int hs_simple_adopt(struct hs_driver *base, json_t *record, hs_driver_exit_cb cb, void *data,
                    struct hs_dyno_proc **out, cm_err *err);

extern const struct hs_driver_ops hs_driver_abspath;

#endif
