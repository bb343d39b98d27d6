/* The dyno init (init/dyno-init.c), PID 1 of a dyno's container, as an fd for the runtime to
 * exec with execveat(fd, "", AT_EMPTY_PATH) (libcontainer's init fd). */
#ifndef HS_DYNOINIT_H
#define HS_DYNOINIT_H

#include <stddef.h>

#include "common/err.h"

/* A new close-on-exec fd (the caller closes it) of a sealed memfd holding the init: built into
 * hsup, written once, on the first call, and shared by every later one. Thread-safe. */
int hs_dynoinit_fd(cm_err *err);
/* The init's bytes as built into hsup. */
const unsigned char *hs_dynoinit_blob(size_t *len);

#endif
