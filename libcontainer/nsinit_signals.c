/* Relaying a container process's terminal and forwarding signals to it, for nsinit's two
 * command lines. */
#define _GNU_SOURCE
#include "libcontainer/nsinit_signals.h"
#include "libcontainer/container.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/pty.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

void ns_relay_start(struct ns_relay *r, int master)
{
	r->master = master;
	r->raw = false;
	if (master >= 0 && isatty(0)) {
		cm_tty_copy_size(0, master);
		r->raw = cm_tty_raw(0, &r->saved) == 0;
	}
}

void ns_relay_stop(struct ns_relay *r)
{
	if (r->raw)
		tcsetattr(0, TCSANOW, &r->saved);
	if (r->master >= 0)
		close(r->master);
}

static bool copy_fd(int from, int to)
{
	char buf[8192];
	ssize_t n = read(from, buf, sizeof(buf));
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	return cm_write_all(to, buf, (size_t)n) == 0;
}

void ns_wait_process(int pidfd, pid_t pid, struct ns_relay *r, int sigfd)
{
	bool in_open = r->master >= 0, out_open = r->master >= 0;
	for (;;) {
		struct pollfd p[4] = {{pidfd, POLLIN, 0},
		                      {sigfd, POLLIN, 0},
		                      {out_open ? r->master : -1, POLLIN, 0},
		                      {in_open ? 0 : -1, POLLIN, 0}};
		if (poll(p, 4, -1) < 0 && errno != EINTR)
			break;
		/* EIO once every holder of the slave closed it: only the exit is left to wait for
		 */
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR))
			out_open = copy_fd(r->master, 1);
		if (p[3].revents & (POLLIN | POLLHUP | POLLERR))
			in_open = copy_fd(0, r->master);
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH && r->master >= 0)
					cm_tty_copy_size(0, r->master);
				else
					kill(pid, (int)si.ssi_signo);
			}
		}
		if (p[0].revents & POLLIN)
			break;
	}
	/* what the process wrote just before it exited */
	if (r->master >= 0 && out_open) {
		fcntl(r->master, F_SETFL, O_NONBLOCK);
		while (copy_fd(r->master, 1))
			;
	}
}

int ns_forward_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
	for (size_t i = 0; i < CM_ARRAY_SIZE(sigs); i++)
		sigaddset(&set, sigs[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	return signalfd(-1, &set, SFD_CLOEXEC);
}

int ns_parse_signal(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {
	    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},     {"ILL", SIGILL},
	    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"IOT", SIGIOT},       {"BUS", SIGBUS},
	    {"FPE", SIGFPE},       {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
	    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM},
	    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP},
	    {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},
	    {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
	    {"WINCH", SIGWINCH},   {"IO", SIGIO},     {"POLL", SIGPOLL},     {"PWR", SIGPWR},
	    {"SYS", SIGSYS}};
	if (!s)
		return SIGTERM;
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < CM_ARRAY_SIZE(sigs); i++)
		if (strcmp(sigs[i].name, s) == 0)
			return sigs[i].sig;
	char *end;
	long n = strtol(s, &end, 10);
	return *end || n <= 0 || n >= NSIG ? -1 : (int)n;
}

json_t *ns_net_stats_json(const struct lc_stats *st)
{
	json_t *net = json_array();
	for (size_t i = 0; i < st->n_net; i++) {
		const struct lc_net_stats *n = &st->net[i];
		json_array_append_new(
		    net,
		    json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "name", n->name, "rx_bytes",
		              (json_int_t)n->rx_bytes, "rx_packets", (json_int_t)n->rx_packets,
		              "rx_errors", (json_int_t)n->rx_errors, "rx_dropped",
		              (json_int_t)n->rx_dropped, "tx_bytes", (json_int_t)n->tx_bytes,
		              "tx_packets", (json_int_t)n->tx_packets, "tx_errors",
		              (json_int_t)n->tx_errors, "tx_dropped", (json_int_t)n->tx_dropped));
	}
	return net;
}
