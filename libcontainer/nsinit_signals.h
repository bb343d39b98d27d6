/* nsinit: what both command lines share to wait on a container's process: relaying its
 * terminal, forwarding signals to it, and signal names; and the JSON of its network
 * counters, which both print. */
#ifndef NSINIT_SIGNALS_H
#define NSINIT_SIGNALS_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>
#include <termios.h>

struct lc_stats;

struct ns_relay {
	int master; /* -1: no terminal */
	bool raw;
	struct termios saved;
};

/* Relays the caller's terminal to master (-1: none), raw meanwhile. */
void ns_relay_start(struct ns_relay *r, int master);
void ns_relay_stop(struct ns_relay *r);
/* Relays the terminal and forwards signals until pidfd is readable (the process exited). */
void ns_wait_process(int pidfd, pid_t pid, struct ns_relay *r, int sigfd);
/* Blocks the signals to forward and returns a signalfd for them. */
int ns_forward_signals(void);
/* A signal by number, name (TERM) or SIG name (SIGTERM); NULL is TERM; -1 if unknown. */
int ns_parse_signal(const char *s);
/* A container's network counters: an array of objects (name, rx_bytes, ...). */
json_t *ns_net_stats_json(const struct lc_stats *st);

#endif
