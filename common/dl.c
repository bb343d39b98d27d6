#define _GNU_SOURCE
#include "common/dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int resolve(struct cm_dl_lib *lib, const char *hint)
{
	lib->handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	if (!lib->handle)
		return cm_err_set(&lib->err, ENOENT, "cannot load %s (%s)%s%s", lib->soname,
		                  dlerror(), hint ? ": install " : "", hint ? hint : "");
	for (size_t i = 0; i < lib->nsyms; i++) {
		*lib->syms[i].fn = dlsym(lib->handle, lib->syms[i].name);
		if (!*lib->syms[i].fn)
			return cm_err_set(&lib->err, ENOSYS, "%s has no %s", lib->soname,
			                  lib->syms[i].name);
	}
	return 0;
}

int cm_dl_load(struct cm_dl_lib *lib, const char *hint, cm_err *err)
{
	pthread_mutex_lock(&lock);
	if (!lib->handle && lib->rc == 0)
		lib->rc = resolve(lib, hint);
	int rc = lib->rc;
	if (rc < 0)
		*err = lib->err;
	pthread_mutex_unlock(&lock);
	return rc;
}
