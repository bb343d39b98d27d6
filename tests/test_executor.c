/* The executor's table, cell by cell: for every state and input, the next state and what the
 * executor did (spawn, signals, timers, completion), written out independently of the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "hsupd/executor.h"

static char calls[512];
static int spawn_result;

static void note(const char *fmt, ...)
{
	char buf[64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (calls[0])
		strcat(calls, " ");
	strcat(calls, buf);
}

static int m_spawn(struct hs_exec *ex)
{
	(void)ex;
	note("spawn");
	return spawn_result;
}
static void m_signal(struct hs_exec *ex, int sig)
{
	(void)ex;
	note(sig == 15 ? "term" : sig == 9 ? "kill" : "sig%d", sig);
}
static void m_arm(struct hs_exec *ex, uint64_t ms)
{
	(void)ex;
	note("timer=%llu", (unsigned long long)ms);
}
static void m_cancel(struct hs_exec *ex)
{
	(void)ex;
	note("cancel");
}
static void m_stayup(struct hs_exec *ex, uint64_t ms)
{
	(void)ex;
	note("stayup=%llu", (unsigned long long)ms);
}
static void m_cancel_stayup(struct hs_exec *ex)
{
	(void)ex;
	note("cancel-stayup");
}
static void m_complete(struct hs_exec *ex)
{
	(void)ex;
	note("complete");
}

static const struct hs_exec_ops ops = {m_spawn,  m_signal,        m_arm,     m_cancel,
                                       m_stayup, m_cancel_stayup, m_complete};
static const struct hs_exec_policy policy = {
    .stop_timeout_ms = 30000, .backoff_base_ms = 1000, .backoff_max_ms = 8000, .stayup_ms = 60000};

enum {
	S = HS_EXEC_STOPPED,
	ST = HS_EXEC_STARTED,
	B = HS_EXEC_BACKOFF,
	RG = HS_EXEC_RETIRING,
	RS = HS_EXEC_RESTARTING,
	RD = HS_EXEC_RETIRED,
	SG = HS_EXEC_STOPPING,
	SI = HS_EXEC_STARTING,
	AB = HS_EXEC_ABORTING,
	HO = HS_EXEC_HOLDING
};

struct cell {
	int state, input, next;
	const char *calls; /* NULL: ignored, nothing happens */
};

/* The executor starts with 1 crash counted, so a further crash arms a 1000 ms backoff. */
static const struct cell cells[] = {
    {S, HS_IN_START, ST, "spawn stayup=60000"},
    {S, HS_IN_STARTED, S, NULL},
    {S, HS_IN_START_FAILED, S, NULL},
    {S, HS_IN_EXITED, S, NULL},
    {S, HS_IN_FINISHED, S, NULL},
    {S, HS_IN_RETIRE, RD, "cancel cancel-stayup complete"},
    {S, HS_IN_RESTART, ST, "spawn stayup=60000"},
    {S, HS_IN_BACKOFF_DONE, S, NULL},
    {S, HS_IN_STOP_TIMEOUT, S, NULL},
    {S, HS_IN_STAYED_UP, S, NULL},
    {S, HS_IN_STOP, S, NULL},
    {S, HS_IN_ADOPT, RG, "cancel-stayup term timer=30000"},

    {ST, HS_IN_START, ST, NULL},
    {ST, HS_IN_STARTED, ST, NULL},
    {ST, HS_IN_START_FAILED, ST, NULL},
    {ST, HS_IN_EXITED, B, "cancel-stayup timer=1000"},
    {ST, HS_IN_FINISHED, RD, "cancel cancel-stayup complete"},
    {ST, HS_IN_RETIRE, RG, "cancel-stayup term timer=30000"},
    {ST, HS_IN_RESTART, RS, "cancel-stayup term timer=30000"},
    {ST, HS_IN_BACKOFF_DONE, ST, NULL},
    {ST, HS_IN_STOP_TIMEOUT, ST, NULL},
    {ST, HS_IN_STAYED_UP, ST, ""},
    {ST, HS_IN_STOP, SG, "cancel-stayup term timer=30000"},
    {ST, HS_IN_ADOPT, ST, NULL},

    {B, HS_IN_START, B, NULL},
    {B, HS_IN_STARTED, B, NULL},
    {B, HS_IN_START_FAILED, B, NULL},
    {B, HS_IN_EXITED, B, NULL},
    {B, HS_IN_FINISHED, B, NULL},
    {B, HS_IN_RETIRE, RD, "cancel cancel-stayup complete"},
    {B, HS_IN_RESTART, ST, "cancel spawn stayup=60000"},
    {B, HS_IN_BACKOFF_DONE, ST, "spawn stayup=60000"},
    {B, HS_IN_STOP_TIMEOUT, B, NULL},
    {B, HS_IN_STAYED_UP, B, NULL},
    {B, HS_IN_STOP, S, "cancel"},
    {B, HS_IN_ADOPT, B, NULL},

    {RG, HS_IN_START, RG, NULL},
    {RG, HS_IN_STARTED, RG, NULL},
    {RG, HS_IN_START_FAILED, RG, NULL},
    {RG, HS_IN_EXITED, RD, "cancel cancel-stayup complete"},
    {RG, HS_IN_FINISHED, RD, "cancel cancel-stayup complete"},
    {RG, HS_IN_RETIRE, RG, NULL},
    {RG, HS_IN_RESTART, RS, ""},
    {RG, HS_IN_BACKOFF_DONE, RG, NULL},
    {RG, HS_IN_STOP_TIMEOUT, RG, "kill"},
    {RG, HS_IN_STAYED_UP, RG, NULL},
    {RG, HS_IN_STOP, SG, ""},
    {RG, HS_IN_ADOPT, RG, NULL},

    {RS, HS_IN_START, RS, NULL},
    {RS, HS_IN_STARTED, RS, NULL},
    {RS, HS_IN_START_FAILED, RS, NULL},
    {RS, HS_IN_EXITED, ST, "cancel spawn stayup=60000"},
    {RS, HS_IN_FINISHED, ST, "cancel spawn stayup=60000"},
    {RS, HS_IN_RETIRE, RG, ""},
    {RS, HS_IN_RESTART, RS, NULL},
    {RS, HS_IN_BACKOFF_DONE, RS, NULL},
    {RS, HS_IN_STOP_TIMEOUT, RS, "kill"},
    {RS, HS_IN_STAYED_UP, RS, NULL},
    {RS, HS_IN_STOP, SG, ""},
    {RS, HS_IN_ADOPT, RS, NULL},

    {RD, HS_IN_START, RD, NULL},
    {RD, HS_IN_STARTED, RD, NULL},
    {RD, HS_IN_START_FAILED, RD, NULL},
    {RD, HS_IN_EXITED, RD, NULL},
    {RD, HS_IN_FINISHED, RD, NULL},
    {RD, HS_IN_RETIRE, RD, NULL},
    {RD, HS_IN_RESTART, RD, NULL},
    {RD, HS_IN_BACKOFF_DONE, RD, NULL},
    {RD, HS_IN_STOP_TIMEOUT, RD, NULL},
    {RD, HS_IN_STAYED_UP, RD, NULL},
    {RD, HS_IN_STOP, RD, NULL},
    {RD, HS_IN_ADOPT, RD, NULL},

    {SG, HS_IN_START, SG, NULL},
    {SG, HS_IN_STARTED, SG, NULL},
    {SG, HS_IN_START_FAILED, SG, NULL},
    {SG, HS_IN_EXITED, S, "cancel"},
    {SG, HS_IN_FINISHED, S, "cancel"},
    {SG, HS_IN_RETIRE, RG, ""},
    {SG, HS_IN_RESTART, RS, ""},
    {SG, HS_IN_BACKOFF_DONE, SG, NULL},
    {SG, HS_IN_STOP_TIMEOUT, SG, "kill"},
    {SG, HS_IN_STAYED_UP, SG, NULL},
    {SG, HS_IN_STOP, SG, NULL},
    {SG, HS_IN_ADOPT, SG, NULL},

    {SI, HS_IN_START, SI, NULL},
    {SI, HS_IN_STARTED, ST, "stayup=60000"},
    {SI, HS_IN_START_FAILED, B, "cancel-stayup timer=1000"},
    {SI, HS_IN_EXITED, SI, NULL},
    {SI, HS_IN_FINISHED, RD, "cancel cancel-stayup complete"},
    {SI, HS_IN_RETIRE, AB, ""},
    {SI, HS_IN_RESTART, SI, NULL},
    {SI, HS_IN_BACKOFF_DONE, SI, NULL},
    {SI, HS_IN_STOP_TIMEOUT, SI, NULL},
    {SI, HS_IN_STAYED_UP, SI, NULL},
    {SI, HS_IN_STOP, HO, ""},
    {SI, HS_IN_ADOPT, SI, NULL},

    {AB, HS_IN_START, AB, NULL},
    {AB, HS_IN_STARTED, RG, "term timer=30000"},
    {AB, HS_IN_START_FAILED, RD, "cancel cancel-stayup complete"},
    {AB, HS_IN_EXITED, AB, NULL},
    {AB, HS_IN_FINISHED, RD, "cancel cancel-stayup complete"},
    {AB, HS_IN_RETIRE, AB, NULL},
    {AB, HS_IN_RESTART, SI, ""},
    {AB, HS_IN_BACKOFF_DONE, AB, NULL},
    {AB, HS_IN_STOP_TIMEOUT, AB, NULL},
    {AB, HS_IN_STAYED_UP, AB, NULL},
    {AB, HS_IN_STOP, HO, ""},
    {AB, HS_IN_ADOPT, AB, NULL},

    {HO, HS_IN_START, HO, NULL},
    {HO, HS_IN_STARTED, SG, "term timer=30000"},
    {HO, HS_IN_START_FAILED, S, ""},
    {HO, HS_IN_EXITED, HO, NULL},
    {HO, HS_IN_FINISHED, S, ""},
    {HO, HS_IN_RETIRE, AB, ""},
    {HO, HS_IN_RESTART, SI, ""},
    {HO, HS_IN_BACKOFF_DONE, HO, NULL},
    {HO, HS_IN_STOP_TIMEOUT, HO, NULL},
    {HO, HS_IN_STAYED_UP, HO, NULL},
    {HO, HS_IN_STOP, HO, NULL},
    {HO, HS_IN_ADOPT, HO, NULL},
};

static void every_cell(void **state)
{
	(void)state;
	assert_int_equal(sizeof(cells) / sizeof(cells[0]), HS_EXEC_NSTATES * HS_IN_N);
	for (size_t i = 0; i < sizeof(cells) / sizeof(cells[0]); i++) {
		const struct cell *c = &cells[i];
		struct hs_exec ex;
		hs_exec_init(&ex, &ops, &policy, false);
		ex.state = c->state;
		ex.crashes = 1;
		calls[0] = '\0';
		spawn_result = 0;
		bool taken = hs_exec_feed(&ex, c->input);
		char where[128];
		snprintf(where, sizeof(where), "%s + %s", hs_exec_state_name(c->state),
		         hs_exec_input_name(c->input));
		if (!c->calls) {
			if (taken || calls[0] || (int)ex.state != c->state)
				fail_msg("%s: should be ignored, did \"%s\"", where, calls);
			continue;
		}
		if (!taken || strcmp(calls, c->calls) != 0 || (int)ex.state != c->next)
			fail_msg("%s: want %s \"%s\", got %s \"%s\"", where,
			         hs_exec_state_name(c->next), c->calls,
			         hs_exec_state_name(ex.state), calls);
	}
}

static void crash_counting_and_backoff(void **state)
{
	(void)state;
	struct hs_exec ex;
	hs_exec_init(&ex, &ops, &policy, false);
	hs_exec_feed(&ex, HS_IN_START);
	const char *want[] = {"cancel-stayup timer=0",    "cancel-stayup timer=1000",
	                      "cancel-stayup timer=2000", "cancel-stayup timer=4000",
	                      "cancel-stayup timer=8000", "cancel-stayup timer=8000"};
	for (size_t i = 0; i < 6; i++) {
		calls[0] = '\0';
		hs_exec_exited(&ex);
		assert_string_equal(calls, want[i]);
		assert_int_equal(ex.state, HS_EXEC_BACKOFF);
		hs_exec_timer_fired(&ex);
		assert_int_equal(ex.state, HS_EXEC_STARTED);
	}
	assert_int_equal(ex.restarts, 6);
	hs_exec_feed(&ex, HS_IN_STAYED_UP);
	calls[0] = '\0';
	hs_exec_exited(&ex);
	assert_string_equal(calls, "cancel-stayup timer=0"); /* forgiven: immediate again */
}

static void failed_spawn_backs_off(void **state)
{
	(void)state;
	struct hs_exec ex;
	hs_exec_init(&ex, &ops, &policy, false);
	ex.crashes = 2;
	spawn_result = -1;
	calls[0] = '\0';
	hs_exec_feed(&ex, HS_IN_START);
	assert_string_equal(calls, "spawn cancel-stayup timer=2000");
	assert_int_equal(ex.state, HS_EXEC_BACKOFF);
	spawn_result = 0;
}

static void oneshot_never_restarts(void **state)
{
	(void)state;
	struct hs_exec ex;
	hs_exec_init(&ex, &ops, &policy, true);
	spawn_result = -1;
	calls[0] = '\0';
	hs_exec_feed(&ex, HS_IN_START);
	assert_string_equal(calls, "spawn cancel cancel-stayup complete");
	assert_int_equal(ex.state, HS_EXEC_RETIRED);
	spawn_result = 0;
	hs_exec_init(&ex, &ops, &policy, true);
	hs_exec_feed(&ex, HS_IN_START);
	calls[0] = '\0';
	hs_exec_exited(&ex);
	assert_int_equal(ex.state, HS_EXEC_RETIRED);
	assert_string_equal(calls, "cancel cancel-stayup complete");
}

static void a_slow_start_waits_for_the_driver(void **state)
{
	(void)state;
	struct hs_exec ex;
	hs_exec_init(&ex, &ops, &policy, false);
	spawn_result = 1; /* the driver goes on starting it */
	calls[0] = '\0';
	hs_exec_feed(&ex, HS_IN_START);
	assert_string_equal(calls, "spawn");
	assert_int_equal(ex.state, HS_EXEC_STARTING);
	/* asked to stop meanwhile: it is stopped once it runs */
	hs_exec_feed(&ex, HS_IN_RETIRE);
	calls[0] = '\0';
	hs_exec_feed(&ex, HS_IN_STARTED);
	assert_string_equal(calls, "term timer=30000");
	assert_int_equal(ex.state, HS_EXEC_RETIRING);
	spawn_result = 0;
}

static void timer_means_what_was_armed(void **state)
{
	(void)state;
	struct hs_exec ex;
	hs_exec_init(&ex, &ops, &policy, false);
	hs_exec_feed(&ex, HS_IN_START);
	hs_exec_feed(&ex, HS_IN_RETIRE);
	calls[0] = '\0';
	hs_exec_timer_fired(&ex);
	assert_string_equal(calls, "kill");
	assert_int_equal(ex.state, HS_EXEC_RETIRING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(every_cell),
	    cmocka_unit_test(crash_counting_and_backoff),
	    cmocka_unit_test(failed_spawn_backs_off),
	    cmocka_unit_test(oneshot_never_restarts),
	    cmocka_unit_test(timer_means_what_was_armed),
	    cmocka_unit_test(a_slow_start_waits_for_the_driver),
	};
	return cmocka_run_group_tests_name("executor", tests, NULL, NULL);
}
