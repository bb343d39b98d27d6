#include "hsupd/dynosize.h"
#include "common/cleanup.h"

#include <string.h>

#define MB (1024ULL * 1024)

/* Heroku's memory quotas; R15 comes at twice the quota for dynos that may swap (free to
 * standard-2x) and at the quota for performance dynos, which may not. */
static const struct hs_dyno_size sizes[] = {
    {"free", 512 * MB, 1024 * MB, 1024, 256},
    {"hobby", 512 * MB, 1024 * MB, 1024, 256},
    {"basic", 512 * MB, 1024 * MB, 1024, 256},
    {"eco", 512 * MB, 1024 * MB, 1024, 256},
    {"standard-1x", 512 * MB, 1024 * MB, 1024, 256},
    {"standard-2x", 1024 * MB, 2048 * MB, 2048, 512},
    {"performance-m", 2560 * MB, 2560 * MB, 11264, 16384},
    {"performance-l", 14336 * MB, 14336 * MB, 47104, 32768},
};

const struct hs_dyno_size *hs_dyno_size_find(const char *name)
{
	for (size_t i = 0; i < CM_ARRAY_SIZE(sizes); i++)
		if (strcmp(sizes[i].name, name) == 0)
			return &sizes[i];
	return NULL;
}

const struct hs_dyno_size *hs_dyno_size_default(void)
{
	return hs_dyno_size_find("standard-1x");
}

const char *hs_dyno_size_names(void)
{
	return "free, hobby, basic, eco, standard-1x, standard-2x, performance-m, performance-l";
}
