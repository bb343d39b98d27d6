/* libcurl, loaded on first use (common/dl.h): linked, it would triple hsup's memory and slow
 * every start, even of `hsup run` with the simple driver (README, "What libcurl costs").
 * Every function hsup calls is reached through a pointer named cu_<function>, valid once
 * cm_curl_load() has succeeded. Include this instead of <curl/curl.h>. */
#ifndef CM_CURL_H
#define CM_CURL_H

#define CURL_DISABLE_TYPECHECK /* curl_easy_setopt is called through a pointer */
#include <curl/curl.h>

#include "common/err.h"

#define CM_CURL_FUNCS(X)                                                                           \
	X(curl_global_init)                                                                        \
	X(curl_easy_init)                                                                          \
	X(curl_easy_setopt)                                                                        \
	X(curl_easy_perform)                                                                       \
	X(curl_easy_getinfo)                                                                       \
	X(curl_easy_cleanup)                                                                       \
	X(curl_easy_strerror)                                                                      \
	X(curl_easy_header)                                                                        \
	X(curl_easy_pause)                                                                         \
	X(curl_easy_send)                                                                          \
	X(curl_easy_recv)                                                                          \
	X(curl_slist_append)                                                                       \
	X(curl_slist_free_all)                                                                     \
	X(curl_multi_init)                                                                         \
	X(curl_multi_setopt)                                                                       \
	X(curl_multi_add_handle)                                                                   \
	X(curl_multi_remove_handle)                                                                \
	X(curl_multi_socket_action)                                                                \
	X(curl_multi_info_read)                                                                    \
	X(curl_multi_assign)                                                                       \
	X(curl_multi_cleanup)                                                                      \
	X(curl_multi_strerror)

#define CM_CURL_DECL(f) extern __typeof__(f) *cu_##f;
CM_CURL_FUNCS(CM_CURL_DECL)
#undef CM_CURL_DECL

/* Loads libcurl and initialises it, once (thread-safe); later calls return the first outcome.
 * The message says which package to install when it is missing. */
int cm_curl_load(cm_err *err);

#endif
