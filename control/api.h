/* The control API: HTTP/1.1 on a unix socket (mode 0770). The Go hsup's endpoints, exactly
 * (GET /health, GET /status, POST /control/stop), and per-dyno state and control:
 *   GET  /dynos, /dynos/NAME          state, pid, restarts, uptime, last exit of each dyno
 *   POST /dynos/NAME/stop|restart     one dyno (NAME may also be a process type)
 *   POST /control/restart             {"Processes": ["web", "worker.1"]}
 *   GET  /formation                   desired and running dynos per process type
 *   POST /control/scale               {"web": 3, "worker": 0}
 * A hostile client with access to the socket cannot grow hsup or starve the dynos: each
 * connection is answered one request at a time (nothing more is read while an answer waits to
 * be taken), a request must end within 10 s of its first byte, a connection idle for 30 s or
 * not taking its answer for 30 s is closed, and a connection past 64, or one that would leave
 * fewer free descriptors than restarting every dyno takes (unless it is the only one), is
 * answered 503 and closed. */
#ifndef HS_API_H
#define HS_API_H

#include <uv.h>

#include "common/err.h"

struct hs_api;
struct hs_sup;

/* Listens on path. A socket file there from a dead hsup is replaced; a live hsup (or any
 * other program) listening there is an error. */
int hs_api_listen(uv_loop_t *loop, const char *path, struct hs_sup *sup, struct hs_api **out,
                  cm_err *err);
/* Closes every connection and removes the socket file, if the path still holds the socket
 * this hsup bound (not one that another program has put there since). */
void hs_api_close(struct hs_api *api);

#endif
