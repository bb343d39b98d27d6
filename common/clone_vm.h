/* clone3 for a child that shares its parent's memory (CLONE_VM) and runs on a stack of its
 * own, as posix_spawn does: the child costs no copy of the parent's page tables, and the
 * parent none of the copy-on-write faults after it. */
#ifndef CM_CLONE_VM_H
#define CM_CLONE_VM_H

#include <linux/sched.h>
#include <stdbool.h>
#include <stddef.h>

/* Whether cm_clone3_call works on this architecture (x86-64): elsewhere it fails with ENOSYS. */
bool cm_clone3_call_supported(void);

/* clone3(args) where the child calls fn(arg) on the stack args names (which must be set) and
 * exits with fn's return value if fn returns. Returns the child's pid in the parent, or -1
 * with errno set. */
long cm_clone3_call(struct clone_args *args, int (*fn)(void *), void *arg);

#endif
