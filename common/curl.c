#define _GNU_SOURCE
#include "common/curl.h"
#include "common/dl.h"
#include "common/cleanup.h"

#include <errno.h>
#include <pthread.h>

#define CM_CURL_PTR(f) __typeof__(f) *cu_##f;
CM_CURL_FUNCS(CM_CURL_PTR)
#define CM_CURL_SYM(f) CM_DL_SYM(cu_##f, #f),
static const struct cm_dl_sym syms[] = {CM_CURL_FUNCS(CM_CURL_SYM)};
static struct cm_dl_lib lib = {
    .soname = "libcurl.so.4", .syms = syms, .nsyms = CM_ARRAY_SIZE(syms)};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_rc = CURLE_FAILED_INIT;

static void init(void)
{
	init_rc = cu_curl_global_init(CURL_GLOBAL_DEFAULT);
}

int cm_curl_load(cm_err *err)
{
	if (cm_dl_load(&lib, "libcurl4 (Debian: apt-get install libcurl4)", err) < 0)
		return -1;
	pthread_once(&once, init);
	if (init_rc != CURLE_OK)
		return cm_err_set(err, EIO, "curl_global_init: %s", cu_curl_easy_strerror(init_rc));
	return 0;
}
