/* Libraries loaded on first use (dlopen). Heavy libraries that only some work needs (libcurl for
 * downloads, libarchive for slugs) are not linked into hsup: linked, they would triple its
 * memory and slow every start even of `hsup run` with the simple driver. */
#ifndef CM_DL_H
#define CM_DL_H

#include <stddef.h>

#include "common/err.h"

struct cm_dl_sym {
	const char *name;
	void **fn; /* where the address goes */
};

struct cm_dl_lib {
	const char *soname; /* "libcurl.so.4" */
	const struct cm_dl_sym *syms;
	size_t nsyms;
	/* filled by cm_dl_load */
	void *handle;
	int rc;
	cm_err err;
};

/* Loads lib and resolves its symbols, once (thread-safe); later calls return the first
 * outcome. On failure err names the library and the symbol, and says which package has it
 * when hint is set. */
int cm_dl_load(struct cm_dl_lib *lib, const char *hint, cm_err *err);

#define CM_DL_SYM(fnptr, name)                                                                     \
	{                                                                                          \
		name, (void **)&(fnptr)                                                            \
	}

#endif
