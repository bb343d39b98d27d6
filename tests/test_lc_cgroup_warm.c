/* lc_cgroup_warm: the move that takes the cgroup migration lock leaves this process, and every
 * thread of it, in the groups it was in, in every hierarchy, however often and from however
 * many threads it is called. */
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
#include <pthread.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "libcontainer/container.h"

#define THREADS 4

static char *cgroups_of(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	cm_err err;
	if (cm_read_file_at(AT_FDCWD, path, 65536, &text, &len, &err) < 0)
		fail_msg("%s", err.msg);
	return text;
}

static void *warm_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3; i++)
		lc_cgroup_warm();
	return NULL;
}

static void groups_stay(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	char *before = cgroups_of("/proc/self/cgroup");
	char task[64];
	snprintf(task, sizeof(task), "/proc/self/task/%d/cgroup", gettid());
	char *thread_before = cgroups_of(task);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, warm_thread, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	char *after = cgroups_of("/proc/self/cgroup");
	char *thread_after = cgroups_of(task);
	assert_string_equal(before, after);
	assert_string_equal(thread_before, thread_after);
	free(before);
	free(after);
	free(thread_before);
	free(thread_after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(groups_stay)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
