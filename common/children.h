/* The children of this process that somebody watches (through a pidfd) and reaps by pid, so
 * that a process reaping orphans (hsup as PID 1 or as a subreaper) never takes a watched
 * child's exit status away from its watcher. */
#ifndef CM_CHILDREN_H
#define CM_CHILDREN_H

#include <stdbool.h>
#include <sys/types.h>

/* Spawning holds the lock from before the clone until the child is registered, so the reaper
 * cannot see an unregistered child of ours. */
void cm_children_lock(void);
void cm_children_unlock(void);
/* With the lock held. */
void cm_children_add(pid_t pid);
/* Called once a watched child has been reaped by its watcher. */
void cm_children_forget(pid_t pid);
bool cm_children_watched(pid_t pid);

/* Whether this process inherits orphans: it is PID 1 of its pid namespace, or a subreaper. */
bool cm_children_inherits_orphans(void);
/* Reaps every exited child that nobody watches, without blocking; returns how many. */
int cm_children_reap_orphans(void);

#endif
