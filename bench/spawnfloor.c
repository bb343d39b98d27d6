/* spawnfloor: the benchmarks' floor for starting dynos. A bare loop of posix_spawn of
 * `bash -c 'exec ARGV...'`, N times, from one thread, with nothing else: no pipes, no
 * supervision, no bookkeeping. Each child gets the environment an hsup dyno of a release
 * without config vars gets (PATH and HOME from ours, PORT, DYNO), so bash starts as a dyno's
 * does. What a supervisor takes beyond it is its own cost.
 *
 *   spawnfloor N ARGV...
 *
 * Then it waits. On SIGTERM or SIGINT it sends SIGTERM to every child, reaps them and exits 0,
 * so stopping it can be timed like stopping a supervisor. Exits 1 if a spawn fails (after
 * stopping the children it started), 2 on a usage error. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t *kids;
static long nkids;

static void stop_all(int code)
{
	for (long i = 0; i < nkids; i++)
		kill(kids[i], SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR) {
	}
	exit(code);
}

static char *joined(char **argv)
{
	size_t len = strlen("exec") + 1;
	for (char **a = argv; *a; a++)
		len += strlen(*a) + 1;
	char *s = malloc(len);
	if (!s) {
		perror("spawnfloor: malloc");
		exit(2);
	}
	strcpy(s, "exec");
	for (char **a = argv; *a; a++) {
		strcat(s, " ");
		strcat(s, *a);
	}
	return s;
}

int main(int argc, char **argv)
{
	if (argc < 3 || atol(argv[1]) < 0) {
		fprintf(stderr, "usage: spawnfloor N ARGV...\n");
		return 2;
	}
	long n = atol(argv[1]);
	kids = calloc((size_t)n + 1, sizeof(*kids));
	char *script = joined(argv + 2);
	char *child_argv[] = {"bash", "-c", script, NULL};
	char path[4096], home[4096];
	snprintf(path, sizeof(path), "PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	snprintf(home, sizeof(home), "HOME=%s", getenv("HOME") ? getenv("HOME") : "/");
	char *child_env[] = {path, home, "PORT=5000", "DYNO=web.1", NULL};
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	sigprocmask(SIG_BLOCK, &term, NULL);
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	for (long i = 0; i < n; i++) {
		int err =
		    posix_spawn(&kids[nkids], "/bin/bash", NULL, &attr, child_argv, child_env);
		if (err) {
			fprintf(stderr, "spawnfloor: spawn %ld of %ld: %s\n", i + 1, n,
			        strerror(err));
			stop_all(1);
		}
		nkids++;
	}
	int sig;
	sigwait(&term, &sig);
	stop_all(0);
}
