/* The executor: one per dyno, a state machine written as a table of states x inputs. Callbacks
 * (process exit, timers, control requests) only feed inputs; the table says which state comes
 * next and which actions to take, and the actions go through hs_exec_ops so the machine can be
 * tested without processes. */
#ifndef HS_EXECUTOR_H
#define HS_EXECUTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/driver.h"

enum hs_exec_state {
	HS_EXEC_STOPPED,    /* not running: not started yet, or stopped on request */
	HS_EXEC_STARTED,    /* its process runs */
	HS_EXEC_BACKOFF,    /* crashed; waits for the restart timer */
	HS_EXEC_RETIRING,   /* stopping for good: SIGTERM sent, SIGKILL at the stop timeout */
	HS_EXEC_RESTARTING, /* stopping to start again */
	HS_EXEC_RETIRED,    /* finished; the executor can go */
	HS_EXEC_STOPPING,   /* stopping to stay stopped (and listed) until restarted */
	HS_EXEC_STARTING,   /* the driver is starting it (a container takes a while) */
	HS_EXEC_ABORTING,   /* starting, but to be stopped for good once it has started */
	HS_EXEC_HOLDING,    /* starting, but to be stopped and kept once it has started */
	HS_EXEC_NSTATES
};

enum hs_exec_input {
	HS_IN_START,        /* the supervisor wants it running */
	HS_IN_STARTED,      /* the driver has started it */
	HS_IN_START_FAILED, /* the driver could not start it */
	HS_IN_EXITED,       /* it ended and may be restarted */
	HS_IN_FINISHED,     /* it ended and must not be restarted (oneshot, run) */
	HS_IN_RETIRE,       /* stop it for good */
	HS_IN_RESTART,      /* stop it and start it again */
	HS_IN_BACKOFF_DONE, /* the restart delay is over */
	HS_IN_STOP_TIMEOUT, /* it ignored SIGTERM for the stop timeout */
	HS_IN_STAYED_UP,    /* it has run long enough to forget its crashes */
	HS_IN_STOP,         /* stop it and keep it, stopped, until restarted */
	HS_IN_ADOPT,        /* it runs from an earlier hsup: stop it for good */
	HS_IN_N
};

enum hs_exec_action {
	HS_A_SPAWN = 1 << 0,
	HS_A_TERM = 1 << 1,
	HS_A_KILL = 1 << 2,
	HS_A_ARM_KILL = 1 << 3,
	HS_A_ARM_BACKOFF = 1 << 4,
	HS_A_CANCEL_TIMER = 1 << 5,
	HS_A_ARM_STAYUP = 1 << 6,
	HS_A_CANCEL_STAYUP = 1 << 7,
	HS_A_COUNT_CRASH = 1 << 8,
	HS_A_RESET_CRASHES = 1 << 9,
	HS_A_COMPLETE = 1 << 10,
};

struct hs_transition {
	enum hs_exec_state next;
	unsigned actions;
	bool valid; /* false: the input means nothing in this state and is ignored */
};

extern const struct hs_transition hs_exec_table[HS_EXEC_NSTATES][HS_IN_N];

struct hs_exec;

struct hs_exec_ops {
	/* 0: it runs (the executor feeds STARTED); 1: starting, STARTED or START_FAILED will be fed
	 * when the driver knows; < 0: failed (the executor feeds START_FAILED) */
	int (*spawn)(struct hs_exec *ex);
	void (*signal)(struct hs_exec *ex, int sig);
	void (*arm_timer)(struct hs_exec *ex, uint64_t ms);
	void (*cancel_timer)(struct hs_exec *ex);
	void (*arm_stayup)(struct hs_exec *ex, uint64_t ms);
	void (*cancel_stayup)(struct hs_exec *ex);
	void (*complete)(struct hs_exec *ex);
};

struct hs_exec_policy {
	uint64_t stop_timeout_ms;
	uint64_t backoff_base_ms; /* delay after the second crash in a row; doubles after */
	uint64_t backoff_max_ms;
	uint64_t stayup_ms; /* uptime after which the crash count resets */
};

struct hs_exec {
	enum hs_exec_state state;
	const struct hs_exec_ops *ops;
	const struct hs_exec_policy *policy;
	bool oneshot;
	unsigned crashes;  /* consecutive crashes, for the backoff */
	unsigned restarts; /* starts after the first one */
	unsigned starts;
	uint64_t backoff_ms;            /* the current restart delay */
	enum hs_exec_input timer_input; /* what the armed timer means */
	void *owner;                    /* the supervisor's record of this dyno */
};

void hs_exec_init(struct hs_exec *ex, const struct hs_exec_ops *ops,
                  const struct hs_exec_policy *policy, bool oneshot);
/* Feeds one input; returns false when the input is ignored in the current state. */
bool hs_exec_feed(struct hs_exec *ex, enum hs_exec_input in);
/* The input an armed timer stands for. */
void hs_exec_timer_fired(struct hs_exec *ex);
/* The driver could not start it: START_FAILED, or FINISHED for oneshot executors. */
void hs_exec_start_failed(struct hs_exec *ex);
/* Exit of its process: EXITED, or FINISHED for oneshot executors. */
void hs_exec_exited(struct hs_exec *ex);
/* Delay before restarting after `crashes` crashes in a row: 0 for the first. */
uint64_t hs_exec_backoff(const struct hs_exec_policy *p, unsigned crashes);

const char *hs_exec_state_name(enum hs_exec_state s);
const char *hs_exec_input_name(enum hs_exec_input in);

#endif
