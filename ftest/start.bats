#!/usr/bin/env bats
# hsup start: formations, quantities, logs, crash restarts and stopping.
load helpers

@test "start runs every type at its Quantity, with prefixed logs" {
	release '[{"Type": "web", "Quantity": 2, "Args": ["echo web says $PORT; exec sleep 100"]},
	          {"Type": "worker", "Quantity": 1, "Args": ["echo", "working"]},
	          {"Type": "idle", "Quantity": 0, "Args": ["sleep 100"]}]'
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 web.2" ]'
	wait_for 'grep -q "web.2  *| web says 5001" "$T/out"'
	grep -Eq '^[0-9]{2}:[0-9]{2}:[0-9]{2} web\.1 +\| web says 5000$' "$T/out"
	grep -Eq '^[0-9]{2}:[0-9]{2}:[0-9]{2} worker\.1 +\| working$' "$T/out"
	! grep -q idle "$T/out"
}

# bats test_tags=drivers
@test "explicit counts run only the named types" {
	release '[{"Type": "web", "Quantity": 1, "Args": ["exec sleep 100"]},
	          {"Type": "worker", "Quantity": 3, "Args": ["exec sleep 100"]},
	          {"Type": "clock", "Quantity": 1, "Args": ["exec sleep 100"]}]'
	start_hsup start -s "$SOCK" web=2 worker --start-number 5
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.5 web.6 worker.5 worker.6 worker.7" ]'
}

# bats test_tags=drivers
@test "a crashing dyno restarts at once, then backs off, visibly" {
	release '[{"Type": "crash", "Quantity": 1, "Args": ["echo crashing; exit 4"]}]'
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(dyno_field crash.1 Restarts)" -ge 2 ]'
	# seen between two starts (a container driver's start takes a while: it may be seen
	# starting first), waiting to restart, in JSON and in text
	wait_for 'shows_crashed' 30
	grep -q "crash.1 exited with code 4; restarting$" "$T/err"
	grep -q "crash.1 exited with code 4; restarting in 1.0s (crash 2 in a row)" "$T/err"
	# Backing off, it does not spin: after 3 s, at most a handful of starts.
	sleep 3
	[ "$(grep -c crashing "$T/out")" -le 5 ]
}

shows_crashed() {
	"$HSUP" -s "$SOCK" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)[0]
assert d["State"] == "crashed", d
assert d["CrashesInARow"] >= 2, d
assert d["LastExit"]["Code"] == 4, d
assert d["NextRestartIn"] is not None and d["NextRestartIn"] > 0, d' 2>/dev/null &&
		[[ "$("$HSUP" -s "$SOCK" status)" == *"crash.1"*"crashed"*"code 4"*"restart in"* ]]
}

@test "SIGTERM reaches the dynos; one ignoring it is killed after the stop timeout" {
	cat >"$T/bin/polite" <<-EOS
	#!/bin/bash
	trap 'echo got-term >"$T/polite.term"; exit 0' TERM
	echo ready; while :; do sleep 0.1; done
	EOS
	cat >"$T/bin/stubborn" <<-EOS
	#!/bin/bash
	trap '' TERM
	echo ready; while :; do sleep 0.1; done
	EOS
	chmod +x "$T/bin/polite" "$T/bin/stubborn"
	release "[{\"Type\": \"polite\", \"Quantity\": 1, \"Args\": [\"$T/bin/polite\"]},
	          {\"Type\": \"stubborn\", \"Quantity\": 1, \"Args\": [\"$T/bin/stubborn\"]}]"
	start_hsup start --stop-timeout 1
	wait_for '[ "$(grep -c ready "$T/out")" -eq 2 ]'
	kill -TERM "$HSUP_PID"
	wait_hsup
	[ "$status" -eq 0 ]
	[ "$(cat "$T/polite.term")" = got-term ]
	grep -q "stubborn.1 did not stop within 1.0s: sending SIGKILL" "$T/err"
	! pgrep -f "$T/bin/"
}

@test "children of a dyno are stopped with it" {
	release "[{\"Type\": \"web\", \"Quantity\": 1, \"Args\": [\"$T/bin/parent\"]}]"
	printf '#!/bin/bash\nsleep 1000 &\necho spawned $!\nwait\n' >"$T/bin/parent"
	ln -s "$(command -v sleep)" "$T/bin/sleep-child"
	sed -i "s|sleep 1000|$T/bin/sleep-child 1000|" "$T/bin/parent"
	chmod +x "$T/bin/parent"
	start_hsup start
	wait_for 'grep -q spawned "$T/out"'
	child=$(sed -n 's/.*spawned //p' "$T/out")
	kill -0 "$child"
	kill -TERM "$HSUP_PID"
	wait_hsup
	proc_dead "$child"
}

# bats test_tags=drivers
@test "the last line without a newline and very long lines come through whole" {
	release '[{"Type": "once", "Quantity": 1, "Args": ["head -c 100000 /dev/zero | tr \"\\\\0\" x; echo; printf \"no newline at the end\""]}]'
	start_hsup start --oneshot
	wait_hsup
	[ "$status" -eq 0 ]
	grep -Eq '^[0-9:]{8} once\.1 \| no newline at the end$' "$T/out"
	# one line: prefix, then exactly 100000 x
	[ "$(awk '/once\.1 \| x/ { n++; if ($0 ~ /\| x+$/) len = length($0) - index($0, "| ") - 1 } END { print n, len }' "$T/out")" = "1 100000" ]
}

# bats test_tags=drivers
@test "oneshot exits with the first failing dyno's code; a missing command fails fast" {
	release '[{"Type": "a", "Quantity": 1, "Args": ["exit 0"]},
	          {"Type": "b", "Quantity": 1, "Args": ["sleep 0.3; exit 5"]}]'
	start_hsup start --oneshot
	wait_hsup
	[ "$status" -eq 5 ]
	release '[{"Type": "a", "Quantity": 1, "Args": ["/no/such/binary"]}]'
	SECONDS=0
	start_hsup start --oneshot
	wait_hsup
	[ "$status" -eq 127 ]
	[ "$SECONDS" -lt 5 ]
}

# bats test_tags=drivers
@test "SIGUSR1 prints the state of every dyno" {
	release '[{"Type": "web", "Quantity": 1, "Args": ["exec sleep 100"]}]'
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ -n "$(dyno_pid web.1)" ]'
	pid=$(dyno_pid web.1)
	kill -USR1 "$HSUP_PID"
	wait_for "grep -q 'web.1 started pid=$pid restarts=0' \"\$T/err\""
}

# bats test_tags=drivers
@test "logs are coloured per dyno on a terminal, plain otherwise" {
	release '[{"Type": "a", "Quantity": 1, "Args": ["echo from-a"]},
	          {"Type": "b", "Quantity": 1, "Args": ["echo from-b"]}]'
	run script -qec "'$HSUP' start --oneshot" /dev/null
	[ "$status" -eq 0 ]
	[[ "$output" == *$'\033['*"a.1 |"*$'\033[0m'" from-a"* ]]
	[[ "$output" == *$'\033['*"b.1 |"*$'\033[0m'" from-b"* ]]
	start_hsup start --oneshot
	wait_hsup
	! grep -q $'\033' "$T/out"
	grep -q "a.1 | from-a" "$T/out"
}

@test "a stalled reader of hsup's output does not stall hsup" {
	release '[{"Type": "chatty", "Quantity": 1, "Args": ["exec yes chatty-line-of-some-length"]}]'
	mkfifo "$T/fifo"
	"$HSUP" start -s "$SOCK" >"$T/fifo" 2>"$T/err" &
	HSUP_PID=$!
	exec 5<"$T/fifo" # opened, never read: the pipe fills up
	wait_for '[ -S "$SOCK" ] && [ -n "$(dyno_pid chatty.1)" ]'
	sleep 1
	# The loop is free: the API answers, and hsup's memory stays bounded.
	[ "$(api GET /health)" = OK ]
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$HSUP_PID/status")
	[ "$rss" -lt 65536 ]
	head -c 1000000 <&5 | grep -q "chatty.1 | chatty-line-of-some-length"
	exec 5<&-
}
