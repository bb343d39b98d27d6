#define _GNU_SOURCE
#include "libcontainer/state.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

int lc_state_write(int dirfd, const struct lc_state *s, cm_err *err)
{
	json_t *cg = json_object();
	for (size_t i = 0; i < s->cgroup.n; i++)
		json_object_set_new(cg, s->cgroup.ctrl[i], json_string(s->cgroup.dir[i]));
	json_t *o =
	    json_pack("{s:s,s:i,s:I,s:s,s:s,s:I,s:i,s:o}", "id", s->id, "pid", (int)s->pid,
	              "start_time", (json_int_t)s->start_time, "bundle", s->bundle ? s->bundle : "",
	              "rootfs", s->rootfs ? s->rootfs : "", "created", (json_int_t)s->created,
	              "cgroup_version", s->cgroup.version, "cgroup_paths", cg);
	if (s->pid == 0) {
		/* being created: who does it, so that a create that died is told from one
		 * going on */
		json_object_set_new(o, "creator_pid", json_integer(s->creator));
		json_object_set_new(o, "creator_start_time",
		                    json_integer((json_int_t)s->creator_start_time));
	}
	char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		abort();
	int r = cm_write_file_replace_at(dirfd, "state.json", text, strlen(text), 0600, err);
	free(text);
	return r;
}

static void fill_cgroups(json_t *cg, struct lc_cgroup *g)
{
	const char *key;
	json_t *v;
	json_object_foreach (cg, key, v) {
		if (g->n < LC_CGROUP_MAX_CTRL && json_is_string(v)) {
			g->ctrl[g->n] = xstrdup(key);
			g->dir[g->n++] = xstrdup(json_string_value(v));
		}
	}
}

int lc_state_read(int dirfd, struct lc_state *s, cm_err *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	memset(s, 0, sizeof(*s));
	if (cm_read_file_at(dirfd, "state.json", 1 << 20, &text, &len, err) < 0) {
		if (err->code != ENOENT)
			return -1;
		s->cgroup.version = 1;
		return 0;
	}
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	if (!o)
		return cm_err_set(err, EINVAL, "state.json: %s", jerr.text);
	const char *id = "", *bundle = "", *rootfs = "";
	int pid = 0, version = 1;
	json_int_t start = 0, created = 0, creator = 0, creator_start = 0;
	json_t *cg = NULL;
	int r =
	    json_unpack_ex(o, &jerr, 0, "{s:s,s?i,s?I,s?s,s?s,s?I,s?i,s?o,s?I,s?I}", "id", &id,
	                   "pid", &pid, "start_time", &start, "bundle", &bundle, "rootfs", &rootfs,
	                   "created", &created, "cgroup_version", &version, "cgroup_paths", &cg,
	                   "creator_pid", &creator, "creator_start_time", &creator_start);
	if (r == 0) {
		s->id = xstrdup(id);
		s->pid = pid;
		s->start_time = (unsigned long long)start;
		s->creator = (pid_t)creator;
		s->creator_start_time = (unsigned long long)creator_start;
		s->bundle = xstrdup(bundle);
		s->rootfs = xstrdup(rootfs);
		s->created = created;
		s->cgroup.version = version;
		fill_cgroups(cg, &s->cgroup);
	}
	json_decref(o);
	if (r < 0)
		return cm_err_set(err, EINVAL, "state.json: %s", jerr.text);
	return 0;
}

void lc_state_clear(struct lc_state *s)
{
	free(s->id);
	free(s->bundle);
	free(s->rootfs);
	lc_cgroup_clear(&s->cgroup);
	memset(s, 0, sizeof(*s));
}
