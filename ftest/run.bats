#!/usr/bin/env bats
# hsup run: a one-off dyno on the user's own stdio, exiting with its code.
load helpers

# bats test_tags=drivers
@test "run prints output and returns the exit code" {
	unset HSUP_CONTROL_DIR
	run "$HSUP" run -- echo hello
	[ "$status" -eq 0 ]
	[ "$output" = "hello" ]
	run "$HSUP" run 'exit 3'
	[ "$status" -eq 3 ]
	run "$HSUP" run 'kill -9 $$'
	[ "$status" -eq 137 ]
}

# bats test_tags=drivers
@test "the dyno sees config vars, PORT 5000 by default and DYNO" {
	release '[]' '{"GREETING": "hello world", "EMPTY": ""}'
	run "$HSUP" run 'echo "$GREETING|$PORT|$DYNO|${EMPTY-unset}"'
	[ "$status" -eq 0 ]
	[ "$output" = "hello world|5000|run.1|" ]
	[ -f "$CTL/loaded" ] && [ ! -e "$CTL/new" ]
	release '[]' '{"PORT": "7000"}'
	run "$HSUP" run --start-number 4 'echo $PORT $DYNO'
	[ "$output" = "7000 run.4" ]
}

# bats test_tags=drivers
@test "the dyno gets no secrets of hsup's own environment" {
	unset HSUP_CONTROL_DIR
	HEROKU_API_KEY=s3cret SOMETHING=else run env -u HSUP_CONTROL_DIR "$HSUP" run env
	[[ "$output" != *s3cret* ]]
	[[ "$output" != *SOMETHING* ]]
	[[ "$output" == *"DYNO=run.1"* ]]
}

# bats test_tags=drivers
@test "stdin is the user's" {
	unset HSUP_CONTROL_DIR
	run bash -c "printf 'a\nb\n' | '$HSUP' run 'wc -l'"
	[ "$status" -eq 0 ]
	[ "$output" = "2" ]
}

# bats test_tags=drivers
@test "a terminal stays a terminal" {
	command -v script >/dev/null || skip "script (util-linux) is not installed"
	unset HSUP_CONTROL_DIR
	run script -qec "'$HSUP' run 'test -t 0 && test -t 1 && echo tty-ok'" /dev/null
	[ "$status" -eq 0 ]
	[[ "$output" == *tty-ok* ]]
}

# bats test_tags=drivers
@test "a missing command fails fast with 127" {
	unset HSUP_CONTROL_DIR
	SECONDS=0
	run -127 "$HSUP" run -- /no/such/program
	[ "$status" -eq 127 ]
	[ "$SECONDS" -lt 5 ]
}

# bats test_tags=drivers
@test "SIGTERM to hsup run stops the dyno and reports 128+15" {
	unset HSUP_CONTROL_DIR
	start_hsup run "echo up; exec sleep 100"
	wait_for 'grep -q up "$T/out"'
	kill -TERM "$HSUP_PID"
	wait_hsup
	[ "$status" -eq 143 ]
}
