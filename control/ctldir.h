/* The control directory ($HSUP_CONTROL_DIR): the user writes `new`; hsup takes it with a
 * rename (so a newer `new` written meanwhile is never lost), validates it and hands it on.
 * Once the release is built and applied it becomes `loaded` (written crash-safely, and
 * retried until it is); a release that is invalid or fails to build goes to `rejected` with
 * the reason in `last_error`, and what runs is left alone. `new` is noticed at once through
 * inotify, and by polling; it is taken only when no process has it open for writing.
 *
 * The directory is someone else's: nothing but a regular file is opened for reading, links
 * are not followed, and every file operation while hsup runs happens on the thread pool, one
 * at a time and in order, so a FIFO, a huge file or a slow filesystem never stalls the loop. */
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
/* What is wrong with the running release as the directory sees it (`loaded` could not be
 * written), or NULL once all is well again. */
typedef void (*hs_ctldir_note_cb)(const char *note, void *data);

int hs_ctldir_open(uv_loop_t *loop, const char *path, hs_ctldir_cb cb, hs_ctldir_note_cb note_cb,
                   void *data, struct hs_ctldir **out, cm_err *err);
/* Recovers what a dead hsup left, then delivers the directory's release now (`new` if present
 * and valid, else `loaded`) and, if watch, watches for new ones. Returns 1 if a release was
 * delivered, 0 if there is none yet. */
int hs_ctldir_start(struct hs_ctldir *cd, bool watch, cm_err *err);
/* Takes `new` if it is there, or offers `loaded` again (SIGHUP); retries writing `loaded` at
 * once if that failed. */
void hs_ctldir_rescan(struct hs_ctldir *cd);
/* Finishes what it must write (loaded, rejected, a claim given back) and frees itself. */
void hs_ctldir_close(struct hs_ctldir *cd);
/* Reads the directory's release without taking it (`new` if present, else `loaded`): 1 with
 * *out set, 0 if it has none. */
int hs_ctldir_read(const char *path, struct hs_release **out, cm_err *err);

void hs_ctldir_offer_cb(enum hs_offer_result res, const struct hs_release *r, const cm_err *err,
                        void *ticket);

#endif
