/* The state directory: what a running `hsup start` must leave for the next one, should it be
 * killed (SIGKILL, OOM, a crash), so that the next never runs a second set of dynos beside the
 * first. One hsup at a time supervises a control directory (or follows an app on an API): it holds
 * a lock (flock, released by the kernel however it dies) and keeps a record of its dynos: its own
 * pid and start time, the boot, and each dyno's driver record (its cgroup, or its process group
 * and leader). A dyno that starts or ends adds a line to the record's journal at once, in the
 * same turn of the loop; the journal is folded into a new record (written atomically) when it
 * has grown past twice the dynos it describes, so a change costs the same however many run.
 * The next hsup takes the lock, reads the record and its journal and stops those dynos before
 * starting its own.
 *
 * $HSUP_STATE_DIR, else /run/hsup for root, else $XDG_RUNTIME_DIR/hsup or /tmp/hsup-UID; it
 * must belong to hsup's user and be writable by nobody else (it says which processes hsup may
 * signal). */
#ifndef HS_STATEDIR_H
#define HS_STATEDIR_H

#include <jansson.h>
#include <uv.h>

#include "common/err.h"

struct hs_sup;
struct hs_statedir;

/* $HSUP_STATE_DIR or its default (owned). */
char *hs_statedir_path(void);

/* What names the state of a release source: a control directory (by device and inode, however
 * it is reached), or an app on a Platform API. */
char *hs_statedir_ctl_key(const char *ctl_dir, cm_err *err);
char *hs_statedir_api_key(const char *api_url, const char *app);
/* Locks the state of the release source named key (source says it in messages: "the control
 * directory /etc/hsup"). EBUSY when another live hsup holds it. */
int hs_statedir_open(uv_loop_t *loop, const char *key, const char *source, struct hs_statedir **out,
                     cm_err *err);
/* What the previous hsup left: {"pid": N, "dynos": [{"name", "driver", "record"}, ...]}, or
 * NULL. Borrowed. */
json_t *hs_statedir_leftovers(struct hs_statedir *sd);
/* From now on, records the dynos of sup; hs_sup_conf.on_change calls hs_statedir_dyno_changed
 * for each dyno that starts or ends. */
void hs_statedir_track(struct hs_statedir *sd, struct hs_sup *sup, const char *driver);
struct hs_dyno;
void hs_statedir_dyno_changed(struct hs_statedir *sd, struct hs_dyno *d);
/* A clean exit: no dyno is left, the record goes; the lock is released. */
void hs_statedir_close(struct hs_statedir *sd);

#endif
