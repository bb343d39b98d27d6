/* Dyno sizes, as Heroku names them: what a dyno of each may use. A release gives a process
 * type its size ("Size": "standard-2x"); container drivers turn it into cgroup limits. */
#ifndef HS_DYNOSIZE_H
#define HS_DYNOSIZE_H

#include <stdint.h>

struct hs_dyno_size {
	const char *name;
	uint64_t memory_quota; /* bytes: past it, Error R14 (Memory quota exceeded) */
	uint64_t memory_limit; /* bytes: past it the dyno is killed, Error R15 */
	int64_t cpu_shares;    /* cgroup cpu.shares (1024 = one standard-1x's share) */
	int64_t pids_limit;    /* processes and threads */
};

/* The size called name, or NULL. */
const struct hs_dyno_size *hs_dyno_size_find(const char *name);
/* standard-1x */
const struct hs_dyno_size *hs_dyno_size_default(void);
/* "free, hobby, basic, standard-1x, ..." for messages. */
const char *hs_dyno_size_names(void);

#endif
