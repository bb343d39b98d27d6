#!/usr/bin/env bats
# The command line: help, version, usage errors, flags anywhere before --.
load helpers

@test "help and version work with no environment" {
	run env -i "$HSUP" help
	[ "$status" -eq 0 ]
	[[ "$output" == *"Usage: hsup"* ]]
	[[ "$output" == *"--stop-timeout"* ]]
	run env -i "$HSUP" --help
	[ "$status" -eq 0 ]
	run env -i "$HSUP" version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^hsup\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

# bats test_tags=drivers
@test "bad usage names the problem and exits 2" {
	run "$HSUP" --no-such-flag run true
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown option --no-such-flag"* ]]
	[[ "$output" == *"Usage:"* ]]
	run "$HSUP" frobnicate
	[ "$status" -eq 2 ]
	[[ "$output" == *'unknown command "frobnicate"'* ]]
	run "$HSUP"
	[ "$status" -eq 2 ]
	[[ "$output" == *"no command given"* ]]
	run "$HSUP" run
	[ "$status" -eq 2 ]
	[[ "$output" == *"run: no command given"* ]]
	run "$HSUP" -d nosuch run true
	[ "$status" -eq 2 ]
	[[ "$output" == *'unknown dyno driver "nosuch"'* ]]
	run "$HSUP" --start-number x run true
	[ "$status" -eq 2 ]
	[[ "$output" == *'--start-number "x"'* ]]
	run "$HSUP" --stop-timeout -1 run true
	[ "$status" -eq 2 ]
	run "$HSUP" --logplex-url ftp://x run true
	[ "$status" -eq 2 ]
	[[ "$output" == *"http or https"* ]]
	run "$HSUP" run -s
	[ "$status" -eq 2 ]
	[[ "$output" == *"needs a value"* ]]
	run "$HSUP" start 'we b=2'
	[ "$status" -eq 2 ]
	run "$HSUP" run ls -la
	[ "$status" -eq 2 ]
	[[ "$output" == *"after --"* ]]
}

# bats test_tags=drivers
@test "flags may stand before and after the command word" {
	run "$HSUP" -d simple run --start-number 3 'echo $DYNO'
	[ "$status" -eq 0 ]
	[ "$output" = "run.3" ]
	run "$HSUP" run -d simple -- echo a -b --c
	[ "$status" -eq 0 ]
	[ "$output" = "a -b --c" ]
}

# bats test_tags=drivers
@test "start explains that it needs a release" {
	unset HSUP_CONTROL_DIR
	run "$HSUP" start
	[ "$status" -eq 2 ]
	[[ "$output" == *"HSUP_CONTROL_DIR"* ]]
	HSUP_CONTROL_DIR=$T/missing run "$HSUP" start
	[ "$status" -ne 0 ]
	[[ "$output" == *"$T/missing"* ]]
}

# bats test_tags=drivers
@test "start refuses process types the release does not have" {
	release '[{"Type": "web", "Quantity": 1, "Args": ["sleep 100"]}]'
	run "$HSUP" start web=1 nope
	[ "$status" -eq 2 ]
	[[ "$output" == *'no process type "nope" (it has: web)'* ]]
	[ -f "$CTL/new" ] # not taken: nothing was lost
}

# bats test_tags=drivers
@test "client commands need a socket" {
	run "$HSUP" status
	[ "$status" -eq 2 ]
	[[ "$output" == *"-s PATH"* ]]
	run "$HSUP" -s "$T/none.sock" status
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot reach hsup"* ]]
}

@test "build runs only the build step and leaves the control directory alone" {
	release '[{"Type": "web", "Quantity": 1, "Args": ["touch $T/ran"]}]' null new 4
	run "$HSUP" build
	[ "$status" -eq 0 ]
	[ "$output" = "built release v4 with the simple driver" ]
	[ -f "$CTL/new" ] && [ ! -e "$T/ran" ] && [ ! -e "$CTL/loaded" ]
	echo '{"Version": "x"}' >"$CTL/new"
	run "$HSUP" build
	[ "$status" -eq 1 ]
	[[ "$output" == *"new: Version must be an integer"* ]]
}

# bats test_tags=drivers
@test "hsup started with its standard fds closed gives the dyno /dev/null, not its own files" {
	unset HSUP_CONTROL_DIR
	run bash -c '"$0" run "cat; echo status=\$?" <&- 2>&-' "$HSUP"
	[ "$status" -eq 0 ]
	[ "$output" = "status=0" ]
}
