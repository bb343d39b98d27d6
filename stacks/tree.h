/* Inside the stack builder: a tree's sizes and link rules (st_tree_check and st_tree_relink
 * are in build.h). */
#ifndef ST_TREE_H
#define ST_TREE_H

#include <stdint.h>

#include "common/err.h"
#include "stacks/build.h"

struct st_tree_stats {
	uint64_t bytes;  /* blocks the files, directories and long links take, in bytes */
	uint64_t inodes; /* entries, the root included */
};

/* st_tree_check, and what the tree holds. */
int st_tree_scan(const char *tree, struct st_tree_stats *stats, cm_err *err);
/* The relative target, from a link in a directory depth levels below the tree's root, of the
 * absolute target abs (taken as inside the tree): ("../" x depth) + abs normalised. */
char *st_relative_target(int depth, const char *abs);

#endif
