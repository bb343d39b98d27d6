/* hsup-stack: builds stack images and their manifest entries, makes the ready-made stacks'
 * trees, and fetches, mounts and unmounts the stacks of a manifest as hsup does. */
#define _GNU_SOURCE
#include "stacks/build.h"
#include "stacks/fetch.h"
#include "stacks/manifest.h"
#include "stacks/mount.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/strv.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: hsup-stack COMMAND [options] ARGS\n"
    "  build [--url URL] [--manifest FILE] [--no-primary] TREE NAME VERSION OUT_DIR\n"
    "          OUT_DIR/NAME-VERSION.img.gz from TREE, and its manifest entry (printed,\n"
    "          and put into FILE with --manifest)\n"
    "  host [--programs P,...] [--no-python] TREE\n"
    "          TREE (new) as a small stack of this host's programs and their libraries\n"
    "  relink TREE   rewrite TREE's absolute symbolic links as relative ones\n"
    "  check TREE    refuse absolute links and links that climb out of TREE\n"
    "  list [-m MANIFEST]\n"
    "  fetch [-m MANIFEST] [--version V] [--max-size BYTES] [--stall-timeout S]\n"
    "        [--connect-timeout S] [--progress|--no-progress] NAME\n"
    "  mount [-m MANIFEST] [--version V] [--no-fetch] NAME   (fetches first; prints the path)\n"
    "  umount [-m MANIFEST] [--version V] NAME\n"
    "The manifest defaults to " ST_MANIFEST_DEFAULT ".\n";

static int usage(const char *fmt, const char *arg)
{
	if (fmt) {
		fprintf(stderr, "hsup-stack: ");
		fprintf(stderr, fmt, arg);
		fprintf(stderr, "\n");
	}
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}

static int fail(const cm_err *err)
{
	fprintf(stderr, "hsup-stack: %s\n", err->msg);
	return 1;
}

/* Options every manifest command takes. */
struct opts {
	const char *manifest, *version, *url, *programs;
	bool no_primary, no_python, no_fetch;
	int progress; /* -1: when stderr is a terminal */
	struct st_fetch_opts fetch;
};

enum {
	OPT_URL = 256,
	OPT_MANIFEST_LONG,
	OPT_NO_PRIMARY,
	OPT_PROGRAMS,
	OPT_NO_PYTHON,
	OPT_VERSION,
	OPT_MAX_SIZE,
	OPT_STALL,
	OPT_CONNECT,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_NO_FETCH,
};

static const struct option long_opts[] = {
    {"url", required_argument, NULL, OPT_URL},
    {"manifest", required_argument, NULL, 'm'},
    {"no-primary", no_argument, NULL, OPT_NO_PRIMARY},
    {"programs", required_argument, NULL, OPT_PROGRAMS},
    {"no-python", no_argument, NULL, OPT_NO_PYTHON},
    {"version", required_argument, NULL, OPT_VERSION},
    {"max-size", required_argument, NULL, OPT_MAX_SIZE},
    {"stall-timeout", required_argument, NULL, OPT_STALL},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"no-fetch", no_argument, NULL, OPT_NO_FETCH},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int number(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int option(struct opts *o, int c, const char *arg)
{
	unsigned long long v;
	switch (c) {
	case 'm':
		o->manifest = arg;
		return 0;
	case OPT_URL:
		o->url = arg;
		return 0;
	case OPT_NO_PRIMARY:
		o->no_primary = true;
		return 0;
	case OPT_PROGRAMS:
		o->programs = arg;
		return 0;
	case OPT_NO_PYTHON:
		o->no_python = true;
		return 0;
	case OPT_VERSION:
		o->version = arg;
		return 0;
	case OPT_MAX_SIZE:
		if (number(arg, UINT64_MAX, &v) < 0 || v == 0)
			return usage("--max-size: a number of bytes expected, not %s", arg);
		o->fetch.max_size = v;
		return 0;
	case OPT_STALL:
	case OPT_CONNECT:
		if (number(arg, 86400, &v) < 0 || v == 0)
			return usage("a timeout of 1 to 86400 seconds expected, not %s", arg);
		*(c == OPT_STALL ? &o->fetch.stall_seconds : &o->fetch.connect_seconds) =
		    (unsigned)v;
		return 0;
	case OPT_PROGRESS:
	case OPT_NO_PROGRESS:
		o->progress = c == OPT_PROGRESS;
		return 0;
	case OPT_NO_FETCH:
		o->no_fetch = true;
		return 0;
	default:
		return usage(NULL, NULL);
	}
}

/* Parses options; returns the index of the first argument, or < 0 after a usage error. */
static int parse(int argc, char **argv, struct opts *o, int nargs)
{
	int c;
	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "+m:h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (option(o, c, optarg) != 0)
			return -1;
	}
	if (argc - optind != nargs) {
		usage("%s: wrong number of arguments", argv[0]);
		return -1;
	}
	return optind;
}

/* ---- building ---- */

/* The entry of the image just built, in the manifest at path (made if missing). */
static int update_manifest(const char *path, const struct st_stack *s, cm_err *err)
{
	_cleanup_manifest_ struct st_manifest *m = NULL;
	if (st_manifest_load(path, &m, err) < 0 && err->code != ENOENT)
		return -1;
	if (!m && st_manifest_parse("", 0, path, NULL, &m, err) < 0)
		return -1;
	st_manifest_put(m, s);
	_cleanup_free_ char *yaml = st_manifest_format(m);
	if (cm_write_file_atomic_at(AT_FDCWD, path, yaml, strlen(yaml), 0644, err) < 0)
		return cm_err_wrap(err, "write %s", path);
	return 0;
}

static char *default_url(const char *out_dir, const char *id)
{
	_cleanup_free_ char *abs = realpath(out_dir, NULL);
	return xasprintf("file://%s/%s.img.gz", abs ? abs : out_dir, id);
}

static int cmd_build(int argc, char **argv)
{
	struct opts o = {.progress = -1};
	int i = parse(argc, argv, &o, 4);
	if (i < 0)
		return EXIT_USAGE;
	const char *tree = argv[i], *out_dir = argv[i + 3];
	struct st_stack s = {.name = argv[i + 1], .version = argv[i + 2], .primary = !o.no_primary};
	cm_err err;
	struct st_build_result res;
	if (st_build_image(tree, s.name, s.version, out_dir, &res, &err) < 0)
		return fail(&err);
	_cleanup_free_ char *id = st_stack_id(&s);
	_cleanup_free_ char *url = o.url ? xstrdup(o.url) : default_url(out_dir, id);
	s.url = url;
	s.md5 = res.md5;
	int rc = st_stack_check(&s, &err) < 0 ? -1 : 0;
	if (rc == 0 && o.manifest)
		rc = update_manifest(o.manifest, &s, &err);
	if (rc == 0) {
		struct st_manifest one = {.path = "-", .dir = "", .stacks = &s, .n = 1};
		_cleanup_free_ char *yaml = st_manifest_format(&one);
		fprintf(stderr, "hsup-stack: %s: %llu bytes of image, %llu gzipped\n", res.gz_path,
		        (unsigned long long)res.image_size, (unsigned long long)res.gz_size);
		fputs(yaml, stdout);
	}
	st_build_result_free(&res);
	return rc < 0 ? fail(&err) : 0;
}

static char **split_programs(const char *list)
{
	char **v = NULL;
	size_t n = 0;
	_cleanup_free_ char *copy = xstrdup(list);
	for (char *save = NULL, *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
		cm_strv_push(&v, &n, xstrdup(p));
	if (!v)
		cm_strv_push(&v, &n, NULL);
	return v;
}

static int cmd_host(int argc, char **argv)
{
	struct opts o = {.progress = -1};
	int i = parse(argc, argv, &o, 1);
	if (i < 0)
		return EXIT_USAGE;
	_cleanup_strv_ char **programs = o.programs ? split_programs(o.programs) : NULL;
	_cleanup_strv_ char **missing = NULL;
	cm_err err;
	if (st_host_tree(argv[i], (const char *const *)programs, !o.no_python, &missing, &err) < 0)
		return fail(&err);
	if (missing) {
		_cleanup_free_ char *list = cm_strv_join(missing, ", ");
		fprintf(stderr, "hsup-stack: not on this host, left out: %s\n", list);
	}
	return 0;
}

static int cmd_tree(int argc, char **argv, bool relink)
{
	struct opts o = {.progress = -1};
	int i = parse(argc, argv, &o, 1);
	if (i < 0)
		return EXIT_USAGE;
	cm_err err;
	size_t n = 0;
	if ((relink ? st_tree_relink(argv[i], &n, &err) : st_tree_check(argv[i], &err)) < 0)
		return fail(&err);
	if (relink)
		printf("%zu links rewritten\n", n);
	return 0;
}

/* ---- what hsup does with a manifest ---- */

/* The stack NAME of the manifest; NULL with *rc the exit code when there is none. */
static const struct st_stack *find(int argc, char **argv, struct opts *o, struct st_manifest **m,
                                   int *rc)
{
	int i = parse(argc, argv, o, 1);
	cm_err err;
	*rc = EXIT_USAGE;
	if (i < 0)
		return NULL;
	*rc = 1;
	if (st_manifest_load(o->manifest ? o->manifest : ST_MANIFEST_DEFAULT, m, &err) < 0)
		return fail(&err), NULL;
	const struct st_stack *s = st_manifest_find(*m, argv[i], o->version, &err);
	if (!s)
		fail(&err);
	return s;
}

static int fetch(const struct st_manifest *m, const struct st_stack *s, struct opts *o, cm_err *err)
{
	if (o->progress == 1 || (o->progress == -1 && isatty(STDERR_FILENO)))
		o->fetch.progress_fd = STDERR_FILENO;
	int r = st_fetch(m, s, &o->fetch, err);
	if (r >= 0)
		printf("%s-%s: %s\n", s->name, s->version, r ? "fetched" : "already there");
	return r;
}

static int cmd_fetch(int argc, char **argv)
{
	struct opts o = {.progress = -1, .fetch = ST_FETCH_OPTS_INIT};
	_cleanup_manifest_ struct st_manifest *m = NULL;
	cm_err err;
	int rc;
	const struct st_stack *s = find(argc, argv, &o, &m, &rc);
	if (!s)
		return rc;
	return fetch(m, s, &o, &err) < 0 ? fail(&err) : 0;
}

static int cmd_mount(int argc, char **argv)
{
	struct opts o = {.progress = -1, .fetch = ST_FETCH_OPTS_INIT};
	_cleanup_manifest_ struct st_manifest *m = NULL;
	cm_err err;
	int rc;
	const struct st_stack *s = find(argc, argv, &o, &m, &rc);
	if (!s)
		return rc;
	if (!o.no_fetch && fetch(m, s, &o, &err) < 0)
		return fail(&err);
	struct st_mount mnt;
	if (st_mount(m, s, &mnt, &err) < 0)
		return fail(&err);
	printf("%s %s\n", mnt.reused ? "reused" : "mounted", mnt.path);
	st_mount_release(&mnt);
	return 0;
}

static int cmd_umount(int argc, char **argv)
{
	struct opts o = {.progress = -1};
	_cleanup_manifest_ struct st_manifest *m = NULL;
	cm_err err;
	int rc;
	const struct st_stack *s = find(argc, argv, &o, &m, &rc);
	if (!s)
		return rc;
	int r = st_umount(m, s, &err);
	if (r < 0)
		return fail(&err);
	printf("%s-%s: %s\n", s->name, s->version, r ? "unmounted" : "not mounted");
	return 0;
}

static int cmd_list(int argc, char **argv)
{
	struct opts o = {.progress = -1};
	int i = parse(argc, argv, &o, 0);
	if (i < 0)
		return EXIT_USAGE;
	_cleanup_manifest_ struct st_manifest *m = NULL;
	cm_err err;
	if (st_manifest_load(o.manifest ? o.manifest : ST_MANIFEST_DEFAULT, &m, &err) < 0)
		return fail(&err);
	for (size_t k = 0; k < m->n; k++) {
		struct st_stack *s = &m->stacks[k];
		struct st_mount mnt = {.root_fd = -1};
		int r = st_mount_find(m, s, &mnt, &err);
		printf("%s\t%s\t%s\t%s\n", s->name, s->version, s->primary ? "primary" : "-",
		       r > 0    ? mnt.path
		       : r == 0 ? "not mounted"
		                : err.msg);
		if (r > 0)
			st_mount_release(&mnt);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(NULL, NULL);
	const char *cmd = argv[1];
	argc--, argv++;
	if (strcmp(cmd, "build") == 0)
		return cmd_build(argc, argv);
	if (strcmp(cmd, "host") == 0)
		return cmd_host(argc, argv);
	if (strcmp(cmd, "relink") == 0 || strcmp(cmd, "check") == 0)
		return cmd_tree(argc, argv, strcmp(cmd, "relink") == 0);
	if (strcmp(cmd, "fetch") == 0)
		return cmd_fetch(argc, argv);
	if (strcmp(cmd, "mount") == 0)
		return cmd_mount(argc, argv);
	if (strcmp(cmd, "umount") == 0)
		return cmd_umount(argc, argv);
	if (strcmp(cmd, "list") == 0)
		return cmd_list(argc, argv);
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	return usage("unknown command %s", cmd);
}
