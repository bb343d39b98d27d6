/* The control directory ($HSUP_CONTROL_DIR): the user writes `new`; hsup takes it with a
 * rename (so a newer `new` written meanwhile is never lost), validates it and hands it on.
 * Once the release is built and applied it becomes `loaded` (written crash-safely); a release
 * that is invalid or fails to build goes to `rejected` with the reason in `last_error`, and
 * what runs is left alone. `new` is noticed at once through inotify, and by polling. */
#ifndef HS_CTLDIR_H
#define HS_CTLDIR_H

#include <stdbool.h>
#include <uv.h>

#include "common/err.h"
#include "hsupd/supervisor.h"

struct hs_ctldir;
struct hs_release;

/* A valid release from the directory. Hand it to hs_sup_offer() with hs_ctldir_offer_cb and
 * the given ticket, so the directory learns the outcome. */
typedef void (*hs_ctldir_cb)(struct hs_release *r, void *ticket, void *data);

int hs_ctldir_open(uv_loop_t *loop, const char *path, hs_ctldir_cb cb, void *data,
                   struct hs_ctldir **out, cm_err *err);
/* Delivers the directory's release now (`new` if present and valid, else `loaded`), then, if
 * watch, watches for new ones. Returns 1 if a release was delivered, 0 if there is none yet. */
int hs_ctldir_start(struct hs_ctldir *cd, bool watch, cm_err *err);
/* Takes `new` if it is there, or offers `loaded` again (SIGHUP). */
void hs_ctldir_rescan(struct hs_ctldir *cd);
void hs_ctldir_close(struct hs_ctldir *cd);
/* Reads the directory's release without taking it (`new` if present, else `loaded`): 1 with
 * *out set, 0 if it has none. */
int hs_ctldir_read(const char *path, struct hs_release **out, cm_err *err);

void hs_ctldir_offer_cb(enum hs_offer_result res, const struct hs_release *r, const cm_err *err,
                        void *ticket);

#endif
