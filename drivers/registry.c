#include "drivers/docker_int.h"
#include "drivers/driver.h"
#include "drivers/libcontainer_int.h"
#include "drivers/simple_int.h"

#include <string.h>

static const struct hs_driver_ops *const drivers[] = {
    &hs_driver_simple,
    &hs_driver_abspath,
    &hs_driver_libcontainer,
    &hs_driver_docker,
};

const struct hs_driver_ops *hs_driver_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if (strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}

const char *hs_driver_names(void)
{
	return "simple, abspath, libcontainer, docker";
}

struct hs_build *hs_build_ref(struct hs_build *b)
{
	if (b)
		b->refs++;
	return b;
}

void hs_build_unref(struct hs_build *b)
{
	if (b && --b->refs == 0)
		b->driver->ops->free_build(b);
}
