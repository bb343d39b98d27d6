/* The stack manifest (YAML, read with libyaml's event parser). The fields of an entry are
 * described once, in `fields`: that table drives reading, checking, writing and freeing. */
#define _GNU_SOURCE
#include "stacks/manifest.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

enum kind {
	TEXT,
	BOOL
};

/* Checks (and may normalise) a text value in place: NULL when it is good, else what is
 * expected instead. */
typedef const char *(*text_check)(char *value);

static const char *check_ident(char *v);
static const char *check_url(char *v);
static const char *check_md5(char *v);

static const struct field {
	const char *key;
	enum kind kind;
	size_t off; /* of the char * or the bool in struct st_stack */
	bool required;
	text_check check;
} fields[] = {
    {"name", TEXT, offsetof(struct st_stack, name), true, check_ident},
    {"version", TEXT, offsetof(struct st_stack, version), true, check_ident},
    {"url", TEXT, offsetof(struct st_stack, url), true, check_url},
    {"md5", TEXT, offsetof(struct st_stack, md5), true, check_md5},
    {"primary", BOOL, offsetof(struct st_stack, primary), false, NULL},
};
#define NFIELDS CM_ARRAY_SIZE(fields)

static char **text_at(struct st_stack *s, const struct field *f)
{
	return (char **)(void *)((char *)s + f->off);
}

static bool *bool_at(struct st_stack *s, const struct field *f)
{
	return (bool *)(void *)((char *)s + f->off);
}

static void stack_clear(struct st_stack *s)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].kind == TEXT)
			free(*text_at(s, &fields[i]));
	memset(s, 0, sizeof(*s));
}

static void stack_copy(struct st_stack *dst, const struct st_stack *src)
{
	*dst = *src;
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].kind == TEXT)
			*text_at(dst, &fields[i]) = xstrdup(*text_at(dst, &fields[i]));
}

/* ---- value rules ---- */

static const char *check_ident(char *v)
{
	static const char *want = "at most 64 letters, digits, '.', '_' or '-', starting with a "
	                          "letter or digit";
	size_t n = strlen(v);
	if (n == 0 || n > ST_NAME_MAX || !isalnum((unsigned char)v[0]))
		return want;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && !strchr("._-", v[i]))
			return want;
	return NULL;
}

static bool has_prefix_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static const char *check_url(char *v)
{
	static const char *want = "a file:///, http:// or https:// URL";
	size_t n = strlen(v);
	if (n > ST_URL_MAX)
		return "a URL of at most 4096 bytes";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f)
			return "a URL without spaces or control characters";
	if (has_prefix_ci(v, "file://"))
		return v[7] == '/' || has_prefix_ci(v + 7, "localhost/") ? NULL : want;
	const char *rest = has_prefix_ci(v, "http://")    ? v + 7
	                   : has_prefix_ci(v, "https://") ? v + 8
	                                                  : NULL;
	if (!rest || *rest == '\0' || *rest == '/' || *rest == '?' || *rest == '#')
		return rest ? "an http(s) URL with a host" : want;
	return NULL;
}

static const char *check_md5(char *v)
{
	if (strlen(v) != ST_MD5_HEX)
		return "32 hexadecimal digits";
	for (char *c = v; *c; c++) {
		if (!isxdigit((unsigned char)*c))
			return "32 hexadecimal digits";
		*c = (char)tolower((unsigned char)*c);
	}
	return NULL;
}

/* YAML 1.1 booleans, as the Go hsup's YAML library read them. */
static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
	                                  "on",   "On",   "ON",   "y",   "Y"};
	static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO",
	                                 "off",   "Off",   "OFF",   "n",  "N"};
	for (size_t i = 0; i < CM_ARRAY_SIZE(yes); i++)
		if (strcmp(v, yes[i]) == 0)
			return *out = true, 0;
	for (size_t i = 0; i < CM_ARRAY_SIZE(no); i++)
		if (strcmp(v, no[i]) == 0)
			return *out = false, 0;
	return -1;
}

/* ---- reading events ---- */

/* A field's value as read, before its rule is applied. */
struct raw {
	char *text; /* NULL: not given */
	size_t len;
	int line;
	bool plain; /* unquoted, no tag: YAML may read it as a boolean or null */
};

struct parser {
	yaml_parser_t yp;
	const char *path;
	struct st_manifest *m;
	cm_err *err;
};

static void event_freep(yaml_event_t *e)
{
	yaml_event_delete(e);
}
#define _cleanup_event_ __attribute__((cleanup(event_freep)))

static int line_of(const yaml_event_t *e)
{
	return (int)e->start_mark.line + 1;
}

static const char *event_kind(const yaml_event_t *e)
{
	switch (e->type) {
	case YAML_SCALAR_EVENT:
		return "a single value";
	case YAML_SEQUENCE_START_EVENT:
		return "a list";
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	default:
		return "nothing";
	}
}

static int yaml_failure(struct parser *p)
{
	const yaml_parser_t *y = &p->yp;
	const char *problem = y->problem ? y->problem : "cannot be read";
	if (y->error == YAML_READER_ERROR)
		return cm_err_set(p->err, EINVAL, "%s: not valid YAML: %s at byte %zu", p->path,
		                  problem, y->problem_offset);
	if (y->error == YAML_MEMORY_ERROR)
		return cm_err_set(p->err, ENOMEM, "%s: out of memory reading YAML", p->path);
	if (y->context)
		return cm_err_set(p->err, EINVAL, "%s:%zu:%zu: not valid YAML: %s (%s at line %zu)",
		                  p->path, y->problem_mark.line + 1, y->problem_mark.column + 1,
		                  problem, y->context, y->context_mark.line + 1);
	return cm_err_set(p->err, EINVAL, "%s:%zu:%zu: not valid YAML: %s", p->path,
	                  y->problem_mark.line + 1, y->problem_mark.column + 1, problem);
}

/* The next event; aliases are refused (a manifest has no use for them). */
static int next(struct parser *p, yaml_event_t *e)
{
	if (!yaml_parser_parse(&p->yp, e))
		return yaml_failure(p);
	if (e->type == YAML_ALIAS_EVENT)
		return cm_err_set(p->err, EINVAL, "%s:%d: YAML aliases (*name) are not supported",
		                  p->path, line_of(e));
	return 0;
}

static int expect(struct parser *p, yaml_event_type_t type)
{
	_cleanup_event_ yaml_event_t e = {0};
	if (next(p, &e) < 0)
		return -1;
	if (e.type != type)
		return cm_err_set(p->err, EINVAL, "%s:%d: unexpected YAML event", p->path,
		                  line_of(&e));
	return 0;
}

/* Skips the value of a key the manifest does not know, however deep. */
static int skip_value(struct parser *p)
{
	size_t depth = 0;
	do {
		_cleanup_event_ yaml_event_t e = {0};
		if (next(p, &e) < 0)
			return -1;
		if (e.type == YAML_SEQUENCE_START_EVENT || e.type == YAML_MAPPING_START_EVENT)
			depth++;
		else if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT)
			depth--;
	} while (depth > 0);
	return 0;
}

static const struct field *field_named(const char *key, size_t len)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (strlen(fields[i].key) == len && memcmp(fields[i].key, key, len) == 0)
			return &fields[i];
	return NULL;
}

static int read_value(struct parser *p, size_t item, const struct field *f, struct raw *r)
{
	_cleanup_event_ yaml_event_t e = {0};
	if (next(p, &e) < 0)
		return -1;
	if (e.type != YAML_SCALAR_EVENT)
		return cm_err_set(p->err, EINVAL, "%s:%d: stack %zu: %s: %s expected, found %s",
		                  p->path, line_of(&e), item, f->key,
		                  f->kind == BOOL ? "true or false" : "a string", event_kind(&e));
	r->len = e.data.scalar.length;
	r->text = xstrndup((const char *)e.data.scalar.value, r->len);
	r->line = line_of(&e);
	r->plain = e.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !e.data.scalar.tag;
	return 0;
}

/* One key and its value; unknown keys are skipped, as the Go hsup ignored them. */
static int read_pair(struct parser *p, size_t item, const yaml_event_t *key, struct raw *raws)
{
	if (key->type != YAML_SCALAR_EVENT)
		return cm_err_set(p->err, EINVAL,
		                  "%s:%d: stack %zu: a key must be a word, found %s", p->path,
		                  line_of(key), item, event_kind(key));
	const char *k = (const char *)key->data.scalar.value;
	const struct field *f = field_named(k, key->data.scalar.length);
	if (!f)
		return skip_value(p);
	struct raw *r = &raws[f - fields];
	if (r->text)
		return cm_err_set(p->err, EINVAL,
		                  "%s:%d: stack %zu: %s is given twice (also at line %d)", p->path,
		                  line_of(key), item, f->key, r->line);
	return read_value(p, item, f, r);
}

static void raws_free(struct raw *raws)
{
	for (size_t i = 0; i < NFIELDS; i++)
		free(raws[i].text);
}

/* "stack 2 (cedar-14)" once the name is known and good, else "stack 2". */
static char *entry_label(size_t item, const struct st_stack *s)
{
	return s->name ? xasprintf("stack %zu (%s)", item, s->name) : xasprintf("stack %zu", item);
}

static int apply_text(struct parser *p, struct st_stack *s, size_t item, const struct field *f,
                      struct raw *r)
{
	_cleanup_free_ char *label = entry_label(item, s);
	if (strlen(r->text) != r->len)
		return cm_err_set(p->err, EINVAL, "%s:%d: %s: %s holds a NUL byte", p->path,
		                  r->line, label, f->key);
	if (r->len == 0 ||
	    (r->plain && (strcmp(r->text, "~") == 0 || strcasecmp(r->text, "null") == 0)))
		return cm_err_set(p->err, EINVAL, "%s:%d: %s: %s is empty", p->path, r->line, label,
		                  f->key);
	const char *want = f->check(r->text);
	if (want)
		return cm_err_set(p->err, EINVAL, "%s:%d: %s: %s: %s expected, found \"%.80s\"",
		                  p->path, r->line, label, f->key, want, r->text);
	*text_at(s, f) = cm_steal_ptr(r->text);
	return 0;
}

static int apply_bool(struct parser *p, struct st_stack *s, size_t item, const struct field *f,
                      const struct raw *r)
{
	if (r->plain && parse_bool(r->text, bool_at(s, f)) == 0)
		return 0;
	_cleanup_free_ char *label = entry_label(item, s);
	return cm_err_set(p->err, EINVAL, "%s:%d: %s: %s: true or false expected, found %s%.80s%s",
	                  p->path, r->line, label, f->key, r->plain ? "" : "the string \"", r->text,
	                  r->plain ? "" : "\"");
}

/* Applies the table's rules to what was read, in the table's order: name first, so later
 * messages can say which stack they are about. */
static int apply(struct parser *p, struct st_stack *s, size_t item, int line, struct raw *raws)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		if (!raws[i].text && f->required) {
			_cleanup_free_ char *label = entry_label(item, s);
			return cm_err_set(p->err, EINVAL, "%s:%d: %s: %s is missing", p->path, line,
			                  label, f->key);
		}
		if (!raws[i].text)
			continue;
		int r = f->kind == TEXT ? apply_text(p, s, item, f, &raws[i])
		                        : apply_bool(p, s, item, f, &raws[i]);
		if (r < 0)
			return -1;
	}
	s->line = line;
	return 0;
}

static int read_entry(struct parser *p, size_t item, int line, struct st_stack *s)
{
	struct raw raws[NFIELDS] = {0};
	int rc = 0;
	for (;;) {
		_cleanup_event_ yaml_event_t key = {0};
		rc = next(p, &key);
		if (rc < 0 || key.type == YAML_MAPPING_END_EVENT)
			break;
		if ((rc = read_pair(p, item, &key, raws)) < 0)
			break;
	}
	if (rc == 0)
		rc = apply(p, s, item, line, raws);
	raws_free(raws);
	if (rc < 0)
		stack_clear(s);
	return rc;
}

static int read_entries(struct parser *p)
{
	size_t cap = 0;
	for (;;) {
		_cleanup_event_ yaml_event_t e = {0};
		if (next(p, &e) < 0)
			return -1;
		if (e.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		size_t item = p->m->n + 1;
		if (e.type != YAML_MAPPING_START_EVENT)
			return cm_err_set(p->err, EINVAL,
			                  "%s:%d: stack %zu: a mapping of name, version, url, md5 "
			                  "and primary expected, found %s",
			                  p->path, line_of(&e), item, event_kind(&e));
		if (p->m->n == ST_MANIFEST_MAX_ITEMS)
			return cm_err_set(p->err, E2BIG, "%s:%d: more than %d stacks", p->path,
			                  line_of(&e), ST_MANIFEST_MAX_ITEMS);
		xgrow((void **)&p->m->stacks, &cap, p->m->n + 1, sizeof(struct st_stack));
		struct st_stack *s = &p->m->stacks[p->m->n];
		memset(s, 0, sizeof(*s));
		if (read_entry(p, item, line_of(&e), s) < 0)
			return -1;
		p->m->n++;
	}
}

/* An empty document ("", "---" or "~") lists no stacks. */
static bool is_null_scalar(const yaml_event_t *e)
{
	if (e->type != YAML_SCALAR_EVENT || e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)e->data.scalar.value;
	return e->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0;
}

static int read_document(struct parser *p)
{
	if (expect(p, YAML_STREAM_START_EVENT) < 0)
		return -1;
	_cleanup_event_ yaml_event_t doc = {0};
	if (next(p, &doc) < 0)
		return -1;
	if (doc.type == YAML_STREAM_END_EVENT)
		return 0;
	_cleanup_event_ yaml_event_t top = {0};
	if (next(p, &top) < 0)
		return -1;
	if (top.type == YAML_SEQUENCE_START_EVENT) {
		if (read_entries(p) < 0)
			return -1;
	} else if (!is_null_scalar(&top)) {
		return cm_err_set(p->err, EINVAL, "%s:%d: a list of stacks expected, found %s",
		                  p->path, line_of(&top), event_kind(&top));
	}
	if (expect(p, YAML_DOCUMENT_END_EVENT) < 0)
		return -1;
	_cleanup_event_ yaml_event_t end = {0};
	if (next(p, &end) < 0)
		return -1;
	if (end.type != YAML_STREAM_END_EVENT)
		return cm_err_set(
		    p->err, EINVAL,
		    "%s:%d: a second YAML document: the manifest is one list of stacks", p->path,
		    line_of(&end));
	return 0;
}

/* ---- rules across entries ---- */

static int check_unique(const struct st_manifest *m, cm_err *err)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct st_stack *a = &m->stacks[i];
		for (size_t j = 0; j < i; j++) {
			const struct st_stack *b = &m->stacks[j];
			if (strcmp(a->name, b->name) != 0)
				continue;
			if (strcmp(a->version, b->version) == 0)
				return cm_err_set(
				    err, EINVAL,
				    "%s:%d: stack %zu (%s): version %s is listed twice "
				    "(also at line %d)",
				    m->path, a->line, i + 1, a->name, a->version, b->line);
			if (a->primary && b->primary)
				return cm_err_set(
				    err, EINVAL,
				    "%s:%d: stack %zu (%s): primary: a second primary "
				    "version of %s (the other is at line %d)",
				    m->path, a->line, i + 1, a->name, a->name, b->line);
		}
	}
	return 0;
}

/* The manifest's directory with its links resolved, as /proc/self/mountinfo and the loop
 * devices name the files in it. */
static char *absolute_dir_of(const char *path)
{
	_cleanup_free_ char *copy = xstrdup(path);
	const char *dir = dirname(copy);
	char *abs = realpath(dir, NULL);
	if (abs)
		return abs;
	return xstrdup(dir); /* not there (yet): as given */
}

int st_manifest_parse(const char *yaml, size_t len, const char *path, const char *dir,
                      struct st_manifest **out, cm_err *err)
{
	_cleanup_manifest_ struct st_manifest *m = xcalloc(1, sizeof(*m));
	m->path = xstrdup(path);
	m->dir = dir ? xstrdup(dir) : absolute_dir_of(path);
	if (len > ST_MANIFEST_MAX)
		return cm_err_set(err, EFBIG, "%s is larger than %d bytes", path, ST_MANIFEST_MAX);
	struct parser p = {.path = path, .m = m, .err = err};
	if (!yaml_parser_initialize(&p.yp))
		return cm_err_set(err, ENOMEM, "%s: cannot start the YAML parser", path);
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)yaml, len);
	int rc = read_document(&p);
	yaml_parser_delete(&p.yp);
	if (rc < 0 || check_unique(m, err) < 0)
		return -1;
	*out = cm_steal_ptr(m);
	return 0;
}

int st_manifest_load(const char *path, struct st_manifest **out, cm_err *err)
{
	struct stat st;
	_cleanup_close_ int fd = cm_open_regular_at(AT_FDCWD, path, &st, err);
	if (fd < 0)
		return cm_err_wrap(err, "stack manifest");
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (cm_read_fd(fd, path, ST_MANIFEST_MAX, &buf, &len, err) < 0)
		return -1;
	return st_manifest_parse(buf, len, path, NULL, out, err);
}

void st_manifest_free(struct st_manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		stack_clear(&m->stacks[i]);
	free(m->stacks);
	free(m->path);
	free(m->dir);
	free(m);
}

void st_manifest_freep(struct st_manifest **m)
{
	st_manifest_free(*m);
}

/* ---- lookup ---- */

static int unknown_stack(const struct st_manifest *m, const char *name, const char *version,
                         cm_err *err)
{
	char have[512] = "";
	size_t used = 0;
	for (size_t i = 0; i < m->n && used < sizeof(have) - 1; i++)
		used += (size_t)snprintf(have + used, sizeof(have) - used, "%s%s-%s", i ? ", " : "",
		                         m->stacks[i].name, m->stacks[i].version);
	return cm_err_set(err, ENOENT, "unknown stack \"%s%s%s\": %s lists %s", name,
	                  version ? "-" : "", version ? version : "", m->path,
	                  m->n ? have : "no stacks");
}

const struct st_stack *st_manifest_find(const struct st_manifest *m, const char *name,
                                        const char *version, cm_err *err)
{
	const struct st_stack *only = NULL;
	size_t count = 0;
	for (size_t i = 0; i < m->n; i++) {
		const struct st_stack *s = &m->stacks[i];
		if (strcmp(s->name, name) != 0)
			continue;
		if (version ? strcmp(s->version, version) == 0 : s->primary)
			return s;
		only = s;
		count++;
	}
	if (!version && count == 1)
		return only;
	if (!version && count > 1)
		return cm_err_set(err, ENOENT,
		                  "stack \"%s\": %s lists %zu versions of it and none is primary",
		                  name, m->path, count),
		       NULL;
	unknown_stack(m, name, version, err);
	return NULL;
}

int st_stack_check(struct st_stack *s, cm_err *err)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		char *v = f->kind == TEXT ? *text_at(s, f) : NULL;
		const char *want = v ? f->check(v) : NULL;
		if (want)
			return cm_err_set(err, EINVAL, "%s: %s expected, found \"%.80s\"", f->key,
			                  want, v);
	}
	return 0;
}

char *st_stack_id(const struct st_stack *s)
{
	return xasprintf("%s-%s", s->name, s->version);
}

/* ---- writing ---- */

static void manifest_put_at(struct st_manifest *m, size_t i, const struct st_stack *s)
{
	stack_clear(&m->stacks[i]);
	stack_copy(&m->stacks[i], s);
}

void st_manifest_put(struct st_manifest *m, const struct st_stack *s)
{
	size_t i = 0;
	while (i < m->n && (strcmp(m->stacks[i].name, s->name) != 0 ||
	                    strcmp(m->stacks[i].version, s->version) != 0))
		i++;
	if (i == m->n) {
		m->stacks = xrealloc(m->stacks, (m->n + 1) * sizeof(*m->stacks));
		memset(&m->stacks[m->n++], 0, sizeof(*m->stacks));
	}
	manifest_put_at(m, i, s);
	for (size_t j = 0; s->primary && j < m->n; j++)
		if (j != i && strcmp(m->stacks[j].name, s->name) == 0)
			m->stacks[j].primary = false;
}

struct outbuf {
	char *data;
	size_t len, cap;
};

static int out_write(void *arg, unsigned char *buf, size_t n)
{
	struct outbuf *o = arg;
	xgrow((void **)&o->data, &o->cap, o->len + n + 1, 1);
	memcpy(o->data + o->len, buf, n);
	o->len += n;
	o->data[o->len] = '\0';
	return 1;
}

static void emit(yaml_emitter_t *em, yaml_event_t *e)
{
	/* only fails on a bad sequence of events, which would be a bug here */
	if (!yaml_emitter_emit(em, e))
		abort();
}

static void emit_scalar(yaml_emitter_t *em, const char *v, yaml_scalar_style_t style)
{
	yaml_event_t e;
	yaml_scalar_event_initialize(&e, NULL, NULL, (yaml_char_t *)v, (int)strlen(v), 1, 1, style);
	emit(em, &e);
}

static void emit_stack(yaml_emitter_t *em, struct st_stack *s)
{
	yaml_event_t e;
	yaml_mapping_start_event_initialize(&e, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
	emit(em, &e);
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		emit_scalar(em, f->key, YAML_PLAIN_SCALAR_STYLE);
		if (f->kind == BOOL)
			emit_scalar(em, *bool_at(s, f) ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);
		else
			emit_scalar(em, *text_at(s, f), YAML_ANY_SCALAR_STYLE);
	}
	yaml_mapping_end_event_initialize(&e);
	emit(em, &e);
}

char *st_manifest_format(const struct st_manifest *m)
{
	struct outbuf o = {0};
	yaml_emitter_t em;
	yaml_event_t e;
	if (!yaml_emitter_initialize(&em))
		abort();
	yaml_emitter_set_output(&em, out_write, &o);
	yaml_emitter_set_unicode(&em, 1);
	yaml_stream_start_event_initialize(&e, YAML_UTF8_ENCODING);
	emit(&em, &e);
	yaml_document_start_event_initialize(&e, NULL, NULL, NULL, 1);
	emit(&em, &e);
	yaml_sequence_start_event_initialize(
	    &e, NULL, NULL, 1, m->n ? YAML_BLOCK_SEQUENCE_STYLE : YAML_FLOW_SEQUENCE_STYLE);
	emit(&em, &e);
	for (size_t i = 0; i < m->n; i++)
		emit_stack(&em, &m->stacks[i]);
	yaml_sequence_end_event_initialize(&e);
	emit(&em, &e);
	yaml_document_end_event_initialize(&e, 1);
	emit(&em, &e);
	yaml_stream_end_event_initialize(&e);
	emit(&em, &e);
	yaml_emitter_delete(&em);
	return o.data ? o.data : xstrdup("");
}

const struct st_stack *st_manifest_pick(const struct st_manifest *m, const char *name, cm_err *err)
{
	if (*name)
		return st_manifest_find(m, name, NULL, err);
	const struct st_stack *only = NULL;
	for (size_t i = 0; i < m->n; i++)
		if (m->stacks[i].primary) {
			if (only)
				return cm_err_set(err, EINVAL,
				                  "the release names no Stack and %s has several "
				                  "primary stacks",
				                  m->path),
				       NULL;
			only = &m->stacks[i];
		}
	if (!only)
		cm_err_set(err, ENOENT, "the release names no Stack and %s has no primary stack",
		           m->path);
	return only;
}
