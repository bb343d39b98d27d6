/* lctime N ARGV...: runs ARGV N times in sequence (after one warm-up run); an argument
 * holding %d gets the run's number. Prints one line per run: nanoseconds and the peak RSS in
 * KiB of the process and what it waited for (ru_maxrss). Small and static so that its own
 * memory before exec does not count in the RSS. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: lctime N ARGV...\n");
		return 2;
	}
	int n = atoi(argv[1]), cmdc = argc - 2;
	char **cmd = calloc((size_t)cmdc + 1, sizeof(char *));
	static char bufs[64][256];
	for (int i = 0; i <= n; i++) {
		for (int a = 0; a < cmdc; a++) {
			cmd[a] = argv[a + 2];
			if (strstr(cmd[a], "%d") && a < 64) {
				snprintf(bufs[a], sizeof(bufs[a]), cmd[a], i);
				cmd[a] = bufs[a];
			}
		}
		long long t0 = now_ns();
		pid_t pid = fork();
		if (pid == 0) {
			execvp(cmd[0], cmd);
			_exit(127);
		}
		int status;
		struct rusage ru;
		if (pid < 0 || wait4(pid, &status, 0, &ru) < 0)
			return 1;
		long long t = now_ns() - t0;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "lctime: %s failed with status %d\n", cmd[0], status);
			return 1;
		}
		if (i > 0)
			printf("%lld %ld\n", t, ru.ru_maxrss);
	}
	return 0;
}
