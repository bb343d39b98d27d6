/* What the config's parsing files (config.c, config_linux.c, config_hooks.c) share: typed
 * getters that name the field on error, and the rule for fields this runtime does not know. */
#ifndef LC_CONFIG_INT_H
#define LC_CONFIG_INT_H

#include <jansson.h>

#include "libcontainer/config.h"

#define LC_FIELD(name) (strcmp(key, name) == 0)

int lc_cfg_wrong_type(cm_err *err, const char *path, const char *want);
int lc_cfg_missing(cm_err *err, const char *path, const char *field);
int lc_cfg_str(json_t *v, const char *path, char **out, cm_err *err);
int lc_cfg_bool(json_t *v, const char *path, bool *out, cm_err *err);
int lc_cfg_i64(json_t *v, const char *path, int64_t *out, cm_err *err);
int lc_cfg_u64(json_t *v, const char *path, uint64_t *out, cm_err *err);
int lc_cfg_u32(json_t *v, const char *path, uint32_t *out, cm_err *err);
int lc_cfg_strv(json_t *v, const char *path, char ***out, cm_err *err);
int lc_cfg_object(json_t *v, const char *path, cm_err *err);
/* Walks an array of objects, calling each(elem, "path[i]", arr, i). */
typedef int (*lc_cfg_elem_fn)(json_t *e, const char *path, void *arr, size_t i, cm_err *err);
int lc_cfg_array(json_t *v, const char *path, void **arr, size_t *n, size_t elsize,
                 lc_cfg_elem_fn each, cm_err *err);
/* A field this parser has no branch for: ignored, as the spec requires of unknown properties,
 * unless it is a feature of the spec this runtime cannot honour, refused by name. */
int lc_cfg_unknown(cm_err *err, const char *path, const char *key, json_t *v);

/* config_linux.c: linux.resources' memory and blockIO beyond the basics, unified, network;
 * process.ioPriority and scheduler; linux.personality. */
int lc_cfg_memory_extra(const char *key, json_t *v, const char *path, struct lc_resources *r,
                        cm_err *err);
int lc_cfg_block_io(json_t *o, const char *path, struct lc_resources *r, cm_err *err);
int lc_cfg_unified(json_t *o, const char *path, struct lc_resources *r, cm_err *err);
int lc_cfg_network(json_t *o, const char *path, cm_err *err);
int lc_cfg_io_priority(json_t *o, const char *path, struct lc_process *p, cm_err *err);
int lc_cfg_scheduler(json_t *o, const char *path, struct lc_process *p, cm_err *err);
int lc_cfg_personality(json_t *o, const char *path, struct lc_config *c, cm_err *err);
void lc_cfg_free_extra(struct lc_config *c);
/* config_hooks.c */
int lc_cfg_hooks(json_t *o, const char *path, struct lc_config *c, cm_err *err);
void lc_cfg_free_hooks(struct lc_config *c);
json_t *lc_cfg_hooks_json(const struct lc_config *c);
json_t *lc_cfg_resources_extra_json(const struct lc_resources *r, json_t *res);
json_t *lc_cfg_process_extra_json(const struct lc_process *p, json_t *proc);

#endif
