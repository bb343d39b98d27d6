/* dyno-init: PID 1 of a dyno's container.
 *
 *   dyno-init [--grace SECONDS] [--shell PATH] [--app DIR] -- WORD...
 *
 * Runs the words joined by spaces as Heroku runs a dyno's command: bash, in /app, with the
 * environment it was given, sources the *.sh of /etc/profile.d then of /app/.profile.d and then
 * runs the command, all in the same shell; the command is handed to bash as an argument, never
 * pasted into the script. The command leads a process group of its own. dyno-init reaps every
 * process that ends up its child, forwards SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and
 * SIGUSR2 to the command's group, and once the command has exited sends SIGTERM to whatever is
 * left in the container, SIGKILL after the grace period, and exits with the command's status
 * (128+N when signal N killed it).
 *
 * It is static and reads no file: the runtime execs it from an fd opened outside the rootfs,
 * so the stack image need hold nothing of hsup. It allocates nothing at all, so nothing after
 * the fork either. Not PID 1 (run by hand), it makes itself a subreaper and signals only the
 * command's process group at the end: kill(-1) from anywhere else would reach the whole host. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_USAGE      2
#define EXIT_CANNOT_RUN 127
#define DEFAULT_GRACE   10
#define MAX_GRACE       86400
#define KILL_WAIT_MS    1000 /* after SIGKILL, how long to wait for the last exits */
#define COMMAND_MAX     (128 * 1024)
#define DEFAULT_PATH    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define APP_DIR         "/app"

/* $1 is the command, $2 the application's directory; `set --` leaves the command and the
 * profile scripts no positional parameters, as under `bash -c "<command>"`. eval runs it in
 * this very shell, so what the profile scripts set, exported or not, is seen by it, as when
 * Heroku pastes it. */
static const char profile_runner[] =
    "__dyno_command=$1; __dyno_app=$2; set --\n"
    "for __dyno_f in /etc/profile.d/*.sh \"$__dyno_app\"/.profile.d/*.sh; do\n"
    "\tif [ -r \"$__dyno_f\" ]; then . \"$__dyno_f\"; fi\n"
    "done\n"
    "unset __dyno_f __dyno_app\n"
    "eval \"unset __dyno_command; $__dyno_command\"\n";

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

extern char **environ;

struct opts {
	int grace;
	const char *shell;
	const char *app; /* the application's directory: /app, or elsewhere on a host (abspath) */
	char command[COMMAND_MAX];
};

/* One line on stderr, written at once (also from the child before exec: no stdio buffer). */
static __attribute__((format(printf, 1, 2))) void say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + 11, sizeof(buf) - 12, fmt, ap);
	va_end(ap);
	memcpy(buf, "dyno-init: ", 11);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof(buf) - 12)
		n = (int)sizeof(buf) - 12;
	buf[11 + n] = '\n';
	ssize_t ignored = write(STDERR_FILENO, buf, (size_t)n + 12);
	(void)ignored;
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: dyno-init [--grace SECONDS] [--shell PATH] [--app DIR] -- COMMAND...\n"
	        "Runs COMMAND as a dyno's PID 1: bash -c in DIR (" APP_DIR
	        ") after the profile.d scripts,\n"
	        "reaping orphans and forwarding signals; exits with COMMAND's status.\n"
	        "  --grace SECONDS  between SIGTERM and SIGKILL to what is left once COMMAND "
	        "exits (default %d)\n"
	        "  --shell PATH     bash (default: the first bash in the PATH given)\n"
	        "  --app DIR        the application's directory (default " APP_DIR ")\n",
	        DEFAULT_GRACE);
}

static int parse_grace(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 0 || v > MAX_GRACE)
		return -1;
	*out = (int)v;
	return 0;
}

/* The words joined by spaces, as Heroku's `bash -c "$*"`. */
static int join_words(char **words, int n, char *out, size_t cap)
{
	size_t used = 0;
	for (int i = 0; i < n; i++) {
		size_t len = strlen(words[i]);
		if (used + len + 2 > cap)
			return -1;
		if (i > 0)
			out[used++] = ' ';
		memcpy(out + used, words[i], len);
		used += len;
	}
	out[used] = '\0';
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"grace", required_argument, NULL, 'g'},
	    {"shell", required_argument, NULL, 's'},
	    {"app", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	o->grace = DEFAULT_GRACE;
	o->shell = NULL;
	o->app = APP_DIR;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 'g':
			if (parse_grace(optarg, &o->grace) < 0)
				return say("--grace: not a number of seconds from 0 to 86400: %s",
				           optarg),
				       -1;
			break;
		case 's':
			if (optarg[0] != '/')
				return say("--shell: not an absolute path: %s", optarg), -1;
			o->shell = optarg;
			break;
		case 'a':
			if (optarg[0] != '/')
				return say("--app: not an absolute path: %s", optarg), -1;
			o->app = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return say("unknown option or missing value: %s", argv[optind - 1]), -1;
		}
	}
	if (optind >= argc)
		return say("no command given"), -1;
	if (join_words(argv + optind, argc - optind, o->command, sizeof(o->command)) < 0)
		return say("the command is longer than 128 KiB"), -1;
	return 0;
}

static const char *env_path(void)
{
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			return *e + 5;
	return DEFAULT_PATH;
}

/* The first executable "bash" in PATH, into buf; relative PATH entries are skipped. */
static const char *find_bash(char *buf, size_t cap)
{
	const char *p = env_path();
	while (*p) {
		size_t len = strcspn(p, ":");
		if (len > 0 && p[0] == '/' && len + sizeof("/bash") <= cap) {
			memcpy(buf, p, len);
			memcpy(buf + len, "/bash", sizeof("/bash"));
			if (access(buf, X_OK) == 0)
				return buf;
		}
		p += len;
		if (*p == ':')
			p++;
	}
	return NULL;
}

static void block_signals(sigset_t *set, sigset_t *old)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(set, forwarded[i]);
	/* Blocked, not handled: they are queued for sigtimedwait even for PID 1, which the kernel
	 * otherwise spares signals with the default action. SIGTTOU so the child may take the
	 * terminal before it unblocks everything. */
	sigaddset(set, SIGTTOU);
	sigprocmask(SIG_BLOCK, set, old);
}

/* In the child, between fork and exec: system calls only. */
static __attribute__((noreturn)) void run_command(const char *shell, const struct opts *o)
{
	char *const argv[] = {
	    "bash", "-c", (char *)profile_runner, "bash", (char *)o->command, (char *)o->app, NULL};
	pid_t self = getpid();
	setpgid(0, 0);
	/* A terminal on stdin (a one-off run) goes to the command's group, or bash reading it
	 * would be stopped with SIGTTIN. Not a terminal: ENOTTY, nothing to do. */
	if (isatty(STDIN_FILENO))
		ioctl(STDIN_FILENO, TIOCSPGRP, &self);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(shell, argv, environ);
	/* strerror is a table lookup: it allocates nothing. */
	say("cannot run %s: %s", shell, strerror(errno));
	_exit(EXIT_CANNOT_RUN);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct state {
	pid_t command;
	bool pid1;
	bool command_done;
	int status; /* the command's, as a shell reports it */
	bool no_children;
};

/* Reaps every exited child; notes the command's status and whether any child is left. */
static void reap(struct state *s)
{
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0) {
			s->no_children = errno == ECHILD;
			return;
		}
		if (p == 0)
			return;
		if (p == s->command) {
			s->command_done = true;
			s->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		}
	}
}

/* Everything left in the container (PID 1: every other process of its pid namespace), or
 * only the command's group when not PID 1. */
static void signal_rest(const struct state *s, int sig)
{
	if (s->pid1)
		kill(-1, sig);
	else
		kill(-s->command, sig);
}

/* Waits for a signal until deadline_ms (< 0: no deadline); returns it, or 0 on the deadline. */
static int wait_signal(const sigset_t *set, long long deadline_ms)
{
	for (;;) {
		int sig;
		if (deadline_ms < 0) {
			sig = sigwaitinfo(set, NULL);
		} else {
			long long left = deadline_ms - now_ms();
			if (left <= 0)
				return 0;
			struct timespec ts = {.tv_sec = left / 1000,
			                      .tv_nsec = left % 1000 * 1000000};
			sig = sigtimedwait(set, NULL, &ts);
			if (sig < 0 && errno == EAGAIN)
				return 0;
		}
		if (sig > 0)
			return sig;
	}
}

/* Runs until the command has exited, forwarding signals to its group and reaping orphans. */
static void supervise(struct state *s, const sigset_t *set)
{
	reap(s);
	while (!s->command_done) {
		int sig = wait_signal(set, -1);
		if (sig == SIGCHLD)
			reap(s);
		else if (sig != SIGTTOU)
			kill(-s->command, sig);
	}
}

/* SIGTERM to what is left, SIGKILL after the grace period, until no child is left. */
/* Whether anything is left that signal_rest reaches. Not PID 1, that is the command's group
 * only: what left it (setsid) is not waited for, since nothing here may signal it; it goes to
 * the next subreaper (hsup) once this init exits. */
static bool rest_gone(const struct state *s)
{
	return s->no_children || (!s->pid1 && kill(-s->command, 0) < 0 && errno == ESRCH);
}

static void finish(struct state *s, const sigset_t *set, int grace)
{
	reap(s);
	if (rest_gone(s))
		return;
	signal_rest(s, SIGTERM);
	long long deadline = now_ms() + (long long)grace * 1000;
	bool killed = false;
	for (;;) {
		reap(s);
		if (rest_gone(s))
			return;
		int sig = wait_signal(set, deadline);
		if (sig != 0)
			continue; /* SIGCHLD reaps above; other signals have no one left to go to */
		if (killed)
			return; /* what SIGKILL could not end goes with the namespace */
		signal_rest(s, SIGKILL);
		killed = true;
		deadline = now_ms() + KILL_WAIT_MS;
	}
}

int main(int argc, char **argv)
{
	static struct opts o;
	if (parse_args(argc, argv, &o) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	char bash[PATH_MAX];
	const char *shell = o.shell ? o.shell : find_bash(bash, sizeof(bash));
	if (!shell) {
		say("bash not found in PATH=%s", env_path());
		return EXIT_CANNOT_RUN;
	}
	struct state s = {.pid1 = getpid() == 1};
	if (!s.pid1)
		prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (chdir(o.app) < 0) {
		say("chdir %s: %s", o.app, strerror(errno));
		return EXIT_CANNOT_RUN;
	}
	sigset_t set, old;
	block_signals(&set, &old);
	s.command = fork();
	if (s.command < 0) {
		say("fork: %s", strerror(errno));
		return EXIT_CANNOT_RUN;
	}
	if (s.command == 0)
		run_command(shell, &o);
	setpgid(s.command, s.command); /* both sides, so no signal can come before it */
	supervise(&s, &set);
	finish(&s, &set, o.grace);
	return s.status;
}
