/* The dyno init built into hsup: a sealed, read-only memfd holding exactly the built init,
 * that execveat(fd, "", AT_EMPTY_PATH) runs, as the runtime will. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drivers/dynoinit.h"

static void sealed_copy_of_the_init(void **state)
{
	(void)state;
	cm_err err;
	int fd = hs_dynoinit_fd(&err);
	if (fd < 0)
		fail_msg("%s", err.msg);
	int seals = fcntl(fd, F_GET_SEALS);
	assert_int_equal(seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
	                 F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
	assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	size_t len;
	const unsigned char *blob = hs_dynoinit_blob(&len);
	assert_true(len > 1000 && memcmp(blob, "\177ELF", 4) == 0);
	unsigned char *buf = malloc(len + 1);
	assert_int_equal(pread(fd, buf, len + 1, 0), (ssize_t)len);
	assert_memory_equal(buf, blob, len);
	free(buf);
	/* Shared: a second call gives another fd of the same file. */
	int again = hs_dynoinit_fd(&err);
	struct stat a, b;
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstat(again, &b), 0);
	assert_true(a.st_ino == b.st_ino && again != fd);
	/* Nothing can write it, even through a new open of the same file. */
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int w = open(proc, O_WRONLY | O_CLOEXEC);
	assert_true(w < 0 || write(w, "x", 1) < 0);
	if (w >= 0)
		close(w);
	close(again);
	close(fd);
}

static void runs_from_its_fd(void **state)
{
	(void)state;
	cm_err err;
	int fd = hs_dynoinit_fd(&err);
	assert_true(fd >= 0);
	int out[2];
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(out[1], 1);
		char *argv[] = {"dyno-init", "--help", NULL}, *envp[] = {NULL};
		syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
		_exit(99);
	}
	close(out[1]);
	char buf[512] = "";
	ssize_t n = read(out[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	assert_non_null(strstr(buf, "usage: dyno-init"));
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(out[0]);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sealed_copy_of_the_init),
	    cmocka_unit_test(runs_from_its_fd),
	};
	return cmocka_run_group_tests_name("dynoinit", tests, NULL, NULL);
}
