#include "hsupd/executor.h"

#include <signal.h>

#define T(next_, actions_)                                                                         \
	{                                                                                          \
		.next = (next_), .actions = (actions_), .valid = true                              \
	}
#define IGNORE                                                                                     \
	{                                                                                          \
		.valid = false                                                                     \
	}

enum {
	RUN = HS_A_SPAWN,
	STOP = HS_A_TERM | HS_A_ARM_KILL | HS_A_CANCEL_STAYUP,
	CRASH = HS_A_COUNT_CRASH | HS_A_CANCEL_STAYUP | HS_A_ARM_BACKOFF,
	DONE = HS_A_CANCEL_TIMER | HS_A_CANCEL_STAYUP | HS_A_COMPLETE,
};

/* Every state x input cell, spelled out. */
const struct hs_transition hs_exec_table[HS_EXEC_NSTATES][HS_IN_N] =
    {
        [HS_EXEC_STOPPED] =
            {
                [HS_IN_START] = T(HS_EXEC_STARTING, RUN),
                [HS_IN_STARTED] = IGNORE,
                [HS_IN_START_FAILED] = IGNORE,
                [HS_IN_EXITED] = IGNORE,
                [HS_IN_FINISHED] = IGNORE,
                [HS_IN_RETIRE] = T(HS_EXEC_RETIRED, DONE),
                [HS_IN_RESTART] = T(HS_EXEC_STARTING, HS_A_RESET_CRASHES | RUN),
                [HS_IN_BACKOFF_DONE] = IGNORE,
                [HS_IN_STOP_TIMEOUT] = IGNORE,
                [HS_IN_STAYED_UP] = IGNORE,
                [HS_IN_STOP] = IGNORE,
                [HS_IN_ADOPT] = T(HS_EXEC_RETIRING, STOP),
            },
        [HS_EXEC_STARTED] =
            {
                [HS_IN_START] = IGNORE,
                [HS_IN_STARTED] = IGNORE,
                [HS_IN_START_FAILED] = IGNORE,
                [HS_IN_EXITED] = T(HS_EXEC_BACKOFF, CRASH),
                [HS_IN_FINISHED] = T(HS_EXEC_RETIRED, DONE),
                [HS_IN_RETIRE] = T(HS_EXEC_RETIRING, STOP),
                [HS_IN_RESTART] = T(HS_EXEC_RESTARTING, STOP),
                [HS_IN_BACKOFF_DONE] = IGNORE,
                [HS_IN_STOP_TIMEOUT] = IGNORE,
                [HS_IN_STAYED_UP] = T(HS_EXEC_STARTED, HS_A_RESET_CRASHES),
                [HS_IN_STOP] = T(HS_EXEC_STOPPING, STOP),
                [HS_IN_ADOPT] = IGNORE,
            },
        [HS_EXEC_BACKOFF] =
            {
                [HS_IN_START] = IGNORE,
                [HS_IN_STARTED] = IGNORE,
                [HS_IN_START_FAILED] = IGNORE,
                [HS_IN_EXITED] = IGNORE,
                [HS_IN_FINISHED] = IGNORE,
                [HS_IN_RETIRE] = T(HS_EXEC_RETIRED, DONE),
                [HS_IN_RESTART] = T(HS_EXEC_STARTING, HS_A_CANCEL_TIMER | HS_A_RESET_CRASHES | RUN),
                [HS_IN_BACKOFF_DONE] = T(HS_EXEC_STARTING, RUN),
                [HS_IN_STOP_TIMEOUT] = IGNORE,
                [HS_IN_STAYED_UP] = IGNORE,
                [HS_IN_STOP] = T(HS_EXEC_STOPPED, HS_A_CANCEL_TIMER),
                [HS_IN_ADOPT] = IGNORE,
            },
        [HS_EXEC_RETIRING] =
            {
                [HS_IN_START] = IGNORE,
                [HS_IN_STARTED] = IGNORE,
                [HS_IN_START_FAILED] = IGNORE,
                [HS_IN_EXITED] = T(HS_EXEC_RETIRED, DONE),
                [HS_IN_FINISHED] = T(HS_EXEC_RETIRED, DONE),
                [HS_IN_RETIRE] = IGNORE,
                [HS_IN_RESTART] = T(HS_EXEC_RESTARTING, 0),
                [HS_IN_BACKOFF_DONE] = IGNORE,
                [HS_IN_STOP_TIMEOUT] = T(HS_EXEC_RETIRING, HS_A_KILL),
                [HS_IN_STAYED_UP] = IGNORE,
                [HS_IN_STOP] = T(HS_EXEC_STOPPING, 0),
                [HS_IN_ADOPT] = IGNORE,
            },
        [HS_EXEC_RESTARTING] =
            {
                [HS_IN_START] = IGNORE,
                [HS_IN_STARTED] = IGNORE,
                [HS_IN_START_FAILED] = IGNORE,
                [HS_IN_EXITED] = T(HS_EXEC_STARTING, HS_A_CANCEL_TIMER | RUN),
                [HS_IN_FINISHED] = T(HS_EXEC_STARTING, HS_A_CANCEL_TIMER | RUN),
                [HS_IN_RETIRE] = T(HS_EXEC_RETIRING, 0),
                [HS_IN_RESTART] = IGNORE,
                [HS_IN_BACKOFF_DONE] = IGNORE,
                [HS_IN_STOP_TIMEOUT] = T(HS_EXEC_RESTARTING, HS_A_KILL),
                [HS_IN_STAYED_UP] = IGNORE,
                [HS_IN_STOP] = T(HS_EXEC_STOPPING, 0),
                [HS_IN_ADOPT] = IGNORE,
            },
        [HS_EXEC_RETIRED] =
            {
                [HS_IN_START] = IGNORE,
                [HS_IN_STARTED] = IGNORE,
                [HS_IN_START_FAILED] = IGNORE,
                [HS_IN_EXITED] = IGNORE,
                [HS_IN_FINISHED] = IGNORE,
                [HS_IN_RETIRE] = IGNORE,
                [HS_IN_RESTART] = IGNORE,
                [HS_IN_BACKOFF_DONE] = IGNORE,
                [HS_IN_STOP_TIMEOUT] = IGNORE,
                [HS_IN_STAYED_UP] = IGNORE,
                [HS_IN_STOP] = IGNORE,
                [HS_IN_ADOPT] = IGNORE,
            },
        [HS_EXEC_STOPPING] =
            {
                [HS_IN_START] = IGNORE,
                [HS_IN_STARTED] = IGNORE,
                [HS_IN_START_FAILED] = IGNORE,
                [HS_IN_EXITED] = T(HS_EXEC_STOPPED, HS_A_CANCEL_TIMER),
                [HS_IN_FINISHED] = T(HS_EXEC_STOPPED, HS_A_CANCEL_TIMER),
                [HS_IN_RETIRE] = T(HS_EXEC_RETIRING, 0),
                [HS_IN_RESTART] = T(HS_EXEC_RESTARTING, 0),
                [HS_IN_BACKOFF_DONE] = IGNORE,
                [HS_IN_STOP_TIMEOUT] = T(HS_EXEC_STOPPING, HS_A_KILL),
                [HS_IN_STAYED_UP] = IGNORE,
                [HS_IN_STOP] = IGNORE,
                [HS_IN_ADOPT] = IGNORE,
            },
        [HS_EXEC_STARTING] =
            {
                [HS_IN_START] = IGNORE,
                [HS_IN_STARTED] = T(HS_EXEC_STARTED, HS_A_ARM_STAYUP),
                [HS_IN_START_FAILED] = T(HS_EXEC_BACKOFF, CRASH),
                [HS_IN_EXITED] = IGNORE,
                [HS_IN_FINISHED] = T(HS_EXEC_RETIRED, DONE),
                [HS_IN_RETIRE] = T(HS_EXEC_ABORTING, 0),
                [HS_IN_RESTART] = IGNORE,
                [HS_IN_BACKOFF_DONE] = IGNORE,
                [HS_IN_STOP_TIMEOUT] = IGNORE,
                [HS_IN_STAYED_UP] = IGNORE,
                [HS_IN_STOP] = T(HS_EXEC_HOLDING, 0),
                [HS_IN_ADOPT] = IGNORE,
            },
        [HS_EXEC_ABORTING] =
            {
                [HS_IN_START] = IGNORE,
                [HS_IN_STARTED] = T(HS_EXEC_RETIRING, HS_A_TERM | HS_A_ARM_KILL),
                [HS_IN_START_FAILED] = T(HS_EXEC_RETIRED, DONE),
                [HS_IN_EXITED] = IGNORE,
                [HS_IN_FINISHED] = T(HS_EXEC_RETIRED, DONE),
                [HS_IN_RETIRE] = IGNORE,
                [HS_IN_RESTART] = T(HS_EXEC_STARTING, 0),
                [HS_IN_BACKOFF_DONE] = IGNORE,
                [HS_IN_STOP_TIMEOUT] = IGNORE,
                [HS_IN_STAYED_UP] = IGNORE,
                [HS_IN_STOP] = T(HS_EXEC_HOLDING, 0),
                [HS_IN_ADOPT] = IGNORE,
            },
        [HS_EXEC_HOLDING] =
            {
                [HS_IN_START] = IGNORE,
                [HS_IN_STARTED] = T(HS_EXEC_STOPPING, HS_A_TERM | HS_A_ARM_KILL),
                [HS_IN_START_FAILED] = T(HS_EXEC_STOPPED, 0),
                [HS_IN_EXITED] = IGNORE,
                [HS_IN_FINISHED] = T(HS_EXEC_STOPPED, 0),
                [HS_IN_RETIRE] = T(HS_EXEC_ABORTING, 0),
                [HS_IN_RESTART] = T(HS_EXEC_STARTING, 0),
                [HS_IN_BACKOFF_DONE] = IGNORE,
                [HS_IN_STOP_TIMEOUT] = IGNORE,
                [HS_IN_STAYED_UP] = IGNORE,
                [HS_IN_STOP] = IGNORE,
                [HS_IN_ADOPT] = IGNORE,
            },
};

void hs_exec_init(struct hs_exec *ex, const struct hs_exec_ops *ops,
                  const struct hs_exec_policy *policy, bool oneshot)
{
	*ex = (struct hs_exec){
	    .state = HS_EXEC_STOPPED, .ops = ops, .policy = policy, .oneshot = oneshot};
}

uint64_t hs_exec_backoff(const struct hs_exec_policy *p, unsigned crashes)
{
	if (crashes <= 1)
		return 0;
	uint64_t d = p->backoff_base_ms;
	for (unsigned i = 2; i < crashes && d < p->backoff_max_ms; i++)
		d *= 2;
	return d < p->backoff_max_ms ? d : p->backoff_max_ms;
}

/* Timers and counters first, the process next, completion last (it may free the owner).
 * Returns what spawn said (1 when there was nothing to spawn). */
static int apply(struct hs_exec *ex, unsigned a)
{
	const struct hs_exec_ops *ops = ex->ops;
	if (a & HS_A_CANCEL_TIMER)
		ops->cancel_timer(ex);
	if (a & HS_A_CANCEL_STAYUP)
		ops->cancel_stayup(ex);
	if (a & HS_A_RESET_CRASHES)
		ex->crashes = 0;
	if (a & HS_A_COUNT_CRASH)
		ex->crashes++;
	if (a & HS_A_ARM_BACKOFF) {
		ex->backoff_ms = hs_exec_backoff(ex->policy, ex->crashes);
		ex->timer_input = HS_IN_BACKOFF_DONE;
		ops->arm_timer(ex, ex->backoff_ms);
	}
	if (a & HS_A_TERM)
		ops->signal(ex, SIGTERM);
	if (a & HS_A_KILL)
		ops->signal(ex, SIGKILL);
	if (a & HS_A_ARM_KILL) {
		ex->timer_input = HS_IN_STOP_TIMEOUT;
		ops->arm_timer(ex, ex->policy->stop_timeout_ms);
	}
	if (a & HS_A_ARM_STAYUP)
		ops->arm_stayup(ex, ex->policy->stayup_ms);
	int spawned = 1;
	if (a & HS_A_SPAWN) {
		if (ex->starts++ > 0)
			ex->restarts++;
		spawned = ops->spawn(ex);
	}
	if (a & HS_A_COMPLETE)
		ops->complete(ex);
	return spawned;
}

bool hs_exec_feed(struct hs_exec *ex, enum hs_exec_input in)
{
	const struct hs_transition *t = &hs_exec_table[ex->state][in];
	if (!t->valid)
		return false;
	ex->state = t->next;
	int spawned = apply(ex, t->actions);
	if (spawned == 0) /* it runs already */
		hs_exec_feed(ex, HS_IN_STARTED);
	else if (spawned < 0)
		hs_exec_start_failed(ex);
	return true;
}

void hs_exec_timer_fired(struct hs_exec *ex)
{
	hs_exec_feed(ex, ex->timer_input);
}

void hs_exec_start_failed(struct hs_exec *ex)
{
	hs_exec_feed(ex, ex->oneshot ? HS_IN_FINISHED : HS_IN_START_FAILED);
}

void hs_exec_exited(struct hs_exec *ex)
{
	hs_exec_feed(ex, ex->oneshot ? HS_IN_FINISHED : HS_IN_EXITED);
}

const char *hs_exec_state_name(enum hs_exec_state s)
{
	static const char *const names[] = {
	    [HS_EXEC_STOPPED] = "stopped",       [HS_EXEC_STARTED] = "started",
	    [HS_EXEC_BACKOFF] = "crashed",       [HS_EXEC_RETIRING] = "retiring",
	    [HS_EXEC_RESTARTING] = "restarting", [HS_EXEC_RETIRED] = "retired",
	    [HS_EXEC_STOPPING] = "stopping",     [HS_EXEC_STARTING] = "starting",
	    [HS_EXEC_ABORTING] = "starting",     [HS_EXEC_HOLDING] = "starting",
	};
	return s < HS_EXEC_NSTATES ? names[s] : "?";
}

const char *hs_exec_input_name(enum hs_exec_input in)
{
	static const char *const names[] = {
	    [HS_IN_START] = "start",
	    [HS_IN_STARTED] = "started",
	    [HS_IN_START_FAILED] = "start-failed",
	    [HS_IN_EXITED] = "exited",
	    [HS_IN_FINISHED] = "finished",
	    [HS_IN_RETIRE] = "retire",
	    [HS_IN_RESTART] = "restart",
	    [HS_IN_BACKOFF_DONE] = "backoff-done",
	    [HS_IN_STOP_TIMEOUT] = "stop-timeout",
	    [HS_IN_STAYED_UP] = "stayed-up",
	    [HS_IN_STOP] = "stop",
	    [HS_IN_ADOPT] = "adopt",
	};
	return in < HS_IN_N ? names[in] : "?";
}
