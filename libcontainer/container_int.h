/* What the container files (container.c, ops.c, exec.c, criu.c) share. */
#ifndef LC_CONTAINER_INT_H
#define LC_CONTAINER_INT_H

#include <stdbool.h>

#include "libcontainer/config.h"
#include "libcontainer/state.h"

struct lc_factory {
	char *root;
	int rootfd;
	int cachefd; /* <root>/.cache: compiled seccomp programs */
};

struct lc_container {
	struct lc_factory *f;
	int dirfd;
	struct lc_state state;
	struct lc_config *cfg; /* loaded from config.json when first needed */
	char *arg0;            /* created here: the command, for start's error message */
	int pidfd;
	int sync_fd;     /* created here: reports the exec's outcome at start */
	bool is_parent;  /* created here: ours to reap */
	bool hooks_ran;  /* created here: the create hooks began (poststop runs on failure) */
	bool hooks_none; /* created here from a config without hooks: start and delete need not
	                  * parse the saved one to look for them */
};

int lc_container_load_config(struct lc_container *c, cm_err *err);
int lc_wait_exit(struct lc_container *c, int timeout_ms);

#endif
