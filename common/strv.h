/* NULL-terminated string vectors (argv/envp style), owned with their strings. */
#ifndef CM_STRV_H
#define CM_STRV_H

#include <stdbool.h>
#include <stddef.h>

size_t cm_strv_len(char *const *v);
char **cm_strv_dup(char *const *v);
/* Appends an owned string to *v (of *len entries), keeping it NULL-terminated. */
void cm_strv_push(char ***v, size_t *len, char *s);
/* Joins with sep; the result is owned by the caller. */
char *cm_strv_join(char *const *v, const char *sep);
bool cm_strv_equal(char *const *a, char *const *b);
/* Sorts KEY=VALUE entries by key. */
void cm_strv_sort_env(char **v);
void cm_strv_free(char **v);

#endif
