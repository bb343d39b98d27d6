/* Drives the slug library and the dyno init's fd from the functional tests (ftest/slug.bats,
 * ftest/init.bats).
 *   slugtool unpack [--max-bytes N] [--max-entries N] [--stop-after N] [--sync 0|1]
 *                   SOURCE DIR NAME
 *   slugtool list DIR | clean DIR | remove DIR NAME | remove-tree DIR NAME
 *   slugtool exec-init [--init PATH] ROOT [ARG...]
 * unpack prints what it made, or "already unpacked"; --stop-after N stops the process
 * (SIGSTOP) after N entries, for a test to kill it there; --sync 0 skips the syncfs. exec-init
 * opens the init (hsup's built-in one, or PATH) before chroot(ROOT), then runs it with execveat(fd,
 * "", AT_EMPTY_PATH) as the runtime does. Failures print the error and exit 1; usage errors exit 2.
 */
#define _GNU_SOURCE
#include "drivers/dynoinit.h"
#include "drivers/slug.h"
#include "common/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

static uint64_t stop_after;

static int usage(void)
{
	fprintf(stderr, "usage: slugtool unpack [--max-bytes N] [--max-entries N] "
	                "[--stop-after N] [--sync 0|1] SOURCE DIR NAME\n"
	                "       slugtool list|clean DIR\n"
	                "       slugtool remove|remove-tree DIR NAME\n"
	                "       slugtool exec-init [--init PATH] ROOT [ARG...]\n");
	return 2;
}

static int fail(const cm_err *err)
{
	fprintf(stderr, "slugtool: %s\n", err->msg);
	return 1;
}

static int progress(uint64_t entries, uint64_t bytes, void *data)
{
	(void)bytes;
	(void)data;
	if (stop_after && entries == stop_after)
		raise(SIGSTOP);
	return 0;
}

static int open_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "slugtool: open %s: %s\n", path, strerror(errno));
	return fd;
}

static int unpack(int argc, char **argv)
{
	struct hs_slug_opts o = {.progress = progress};
	int i = 0;
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		uint64_t v = strtoull(argv[i + 1], NULL, 10);
		if (strcmp(argv[i], "--max-bytes") == 0)
			o.max_bytes = v;
		else if (strcmp(argv[i], "--max-entries") == 0)
			o.max_entries = v;
		else if (strcmp(argv[i], "--stop-after") == 0)
			stop_after = v;
		else if (strcmp(argv[i], "--sync") == 0)
			o.no_sync = v == 0;
		else
			return usage();
	}
	if (argc - i != 3)
		return usage();
	_cleanup_close_ int dir = open_dir(argv[i + 1]);
	if (dir < 0)
		return 1;
	struct hs_slug_stats st;
	cm_err err;
	int rc = hs_slug_unpack(argv[i], dir, argv[i + 2], &o, &st, &err);
	if (rc < 0)
		return fail(&err);
	if (rc == 1)
		printf("already unpacked\n");
	else
		printf("unpacked %llu entries: %llu files, %llu directories, %llu symbolic links, "
		       "%llu hard links, %llu bytes, %llu stripped, %llu downloaded\n",
		       (unsigned long long)st.entries, (unsigned long long)st.files,
		       (unsigned long long)st.dirs, (unsigned long long)st.symlinks,
		       (unsigned long long)st.hardlinks, (unsigned long long)st.bytes,
		       (unsigned long long)st.stripped, (unsigned long long)st.download);
	return 0;
}

static int dir_command(const char *cmd, int argc, char **argv)
{
	if (argc != (strcmp(cmd, "list") == 0 || strcmp(cmd, "clean") == 0 ? 1 : 2))
		return usage();
	_cleanup_close_ int dir = open_dir(argv[0]);
	if (dir < 0)
		return 1;
	cm_err err;
	if (strcmp(cmd, "list") == 0) {
		_cleanup_strv_ char **names = NULL;
		if (hs_slug_list(dir, &names, &err) < 0)
			return fail(&err);
		for (char **n = names; *n; n++)
			printf("%s\n", *n);
		return 0;
	}
	if (strcmp(cmd, "clean") == 0) {
		unsigned n;
		if (hs_slug_clean(dir, &n, &err) < 0)
			return fail(&err);
		printf("removed %u\n", n);
		return 0;
	}
	int rc = strcmp(cmd, "remove") == 0 ? hs_slug_remove(dir, argv[1], &err)
	                                    : hs_slug_remove_tree(dir, argv[1], &err);
	return rc < 0 ? fail(&err) : 0;
}

static int exec_init(int argc, char **argv)
{
	const char *path = NULL;
	if (argc >= 2 && strcmp(argv[0], "--init") == 0) {
		path = argv[1];
		argc -= 2;
		argv += 2;
	}
	if (argc < 1)
		return usage();
	cm_err err;
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : hs_dynoinit_fd(&err);
	if (fd < 0)
		return path ? (perror(path), 1) : fail(&err);
	if (chroot(argv[0]) < 0 || chdir("/") < 0) {
		fprintf(stderr, "slugtool: chroot %s: %s\n", argv[0], strerror(errno));
		return 1;
	}
	argv[0] = "dyno-init";
	syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
	fprintf(stderr, "slugtool: execveat the init: %s\n", strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *cmd = argv[1];
	if (strcmp(cmd, "unpack") == 0)
		return unpack(argc - 2, argv + 2);
	if (strcmp(cmd, "exec-init") == 0)
		return exec_init(argc - 2, argv + 2);
	if (strcmp(cmd, "list") == 0 || strcmp(cmd, "clean") == 0 || strcmp(cmd, "remove") == 0 ||
	    strcmp(cmd, "remove-tree") == 0)
		return dir_command(cmd, argc - 2, argv + 2);
	return usage();
}
