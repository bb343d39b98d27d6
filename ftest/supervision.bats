#!/usr/bin/env bats
# What a dyno is and how it is stopped: everything it started (its cgroup), orphans reaped when
# hsup is PID 1, a killed hsup's dynos stopped by the next one, stopped dynos listed, control
# requests done whole, ports that never collide.
load helpers

# A dyno that starts a process outside its process group (setsid) and says its pid.
escaping_dyno() {
	ln -s "$(command -v sleep)" "$T/bin/escapee"
	release "[{\"Type\": \"web\", \"Quantity\": 1,
	           \"Args\": [\"setsid $T/bin/escapee 1000 & echo escaped \$!; exec sleep 1000\"]}]"
}

escaped_pid() { sed -n 's/.*escaped //p' "$T/out" | tail -1; }

cgroup_v2_mount() {
	if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then echo /sys/fs/cgroup
	elif [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
		echo /sys/fs/cgroup/unified
	fi
}

@test "a process that leaves its dyno's process group is stopped with the dyno (cgroup)" {
	[ "$(id -u)" = 0 ] || skip "making cgroups needs root"
	escaping_dyno
	start_hsup start -s "$SOCK"
	wait_for '[ -n "$(escaped_pid)" ] && [ -S "$SOCK" ]'
	e1=$(escaped_pid)
	kill -0 "$e1"
	[ "$(ps -o pgid= -p "$e1" | tr -d ' ')" != "$(dyno_pid web.1)" ]
	# the dyno's own cgroup holds it
	mnt=$(cgroup_v2_mount)
	[ -n "$mnt" ] || skip "no cgroup v2 hierarchy"
	grep -q "^0::/.*hsup\.$HSUP_PID/web\.1\." "/proc/$e1/cgroup"
	# a restart stops every process of the dyno, the escaped one included
	api POST /dynos/web.1/restart >/dev/null
	wait_for 'proc_dead "$e1"'
	wait_for '[ -n "$(escaped_pid)" ] && [ "$(escaped_pid)" != "$e1" ]'
	e2=$(escaped_pid)
	hp=$HSUP_PID
	kill -TERM "$HSUP_PID"
	wait_hsup
	proc_dead "$e2"
	# and nothing of hsup's cgroups is left
	[ ! -e "$mnt/hsup.$hp" ]
	! grep -q "did not stop\|outlived" "$T/err"
}

@test "the same with the cgroup v1 freezer (HSUP_DYNO_TRACKING=cgroup-v1)" {
	[ "$(id -u)" = 0 ] || skip "making cgroups needs root"
	[ "$(stat -f -c %T /sys/fs/cgroup/freezer 2>/dev/null)" = cgroupfs ] ||
		skip "no cgroup v1 freezer hierarchy here"
	escaping_dyno
	HSUP_DYNO_TRACKING=cgroup-v1 start_hsup start
	wait_for '[ -n "$(escaped_pid)" ]'
	e1=$(escaped_pid)
	grep -q ":freezer:/.*hsup\.$HSUP_PID/web\.1\." "/proc/$e1/cgroup"
	kill -TERM "$HSUP_PID"
	wait_hsup
	proc_dead "$e1"
}

@test "without cgroups hsup says once that it tracks dynos by process group" {
	escaping_dyno
	HSUP_DYNO_TRACKING=pgroup start_hsup start
	wait_for '[ -n "$(escaped_pid)" ]'
	e1=$(escaped_pid)
	kill -TERM "$HSUP_PID"
	wait_hsup
	# documented: what leaves the process group outlives the dyno
	kill -0 "$e1"
	kill -KILL "$e1"
	if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
		# an unprivileged hsup cannot make cgroups: it falls back and says why, once
		chmod 755 "$T"
		chown -R nobody "$T/ctl" "$T/bin"
		mkdir "$T/nstate" && chown nobody "$T/nstate"
		HSUP_STATE_DIR=$T/nstate start_hsup_as_nobody start
		wait_for 'grep -q "tracked by process group" "$T/err"'
		[ "$(grep -c "tracked by process group" "$T/err")" = 1 ]
		grep -q "cannot create cgroup" "$T/err"
	fi
}

start_hsup_as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$HSUP" "$@" >"$T/out" 2>"$T/err" &
	HSUP_PID=$!
}

@test "as PID 1, hsup reaps orphans and still reports each dyno's own exit status" {
	command -v unshare >/dev/null || skip "unshare is not installed"
	# each run orphans 20 short-lived processes (to PID 1: hsup), then fails with code 3
	release '[{"Type": "orphaner", "Quantity": 1,
	           "Args": ["for i in $(seq 20); do (sleep 0.01 &); done; sleep 0.3; exit 3"]}]'
	unshare --pid --fork --mount-proc "$HSUP" start -s "$SOCK" >"$T/out" 2>"$T/err" &
	HSUP_PID=$!
	wait_for '[ -S "$SOCK" ] && [ "$(dyno_field orphaner.1 Restarts)" -ge 3 ]' 30
	inner=$(pgrep -P "$HSUP_PID" -f "$HSUP start")
	[ -n "$inner" ]
	sleep 0.5
	# no zombie piles up under hsup (at most the few of the last moment)
	zombies=$(ps -o stat= --ppid "$inner" | grep -c '^Z' || true)
	[ "$zombies" -le 5 ]
	# the dyno's own status was not taken by the reaper
	api GET /dynos/orphaner.1 | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["LastExit"]["Code"] == 3, d'
	! grep -q "exited with code 255\|status is unknown" "$T/err"
	kill -TERM "$inner"
	wait_hsup
	[ "$status" -eq 0 ]
}

# hsup as PID 1 of a pid namespace of its own on $CTL, with a release of web=$1, which
# $T/ctl2 has too for a second hsup.
pid1_hsup() { # pid1_hsup QUANTITY
	command -v unshare >/dev/null || skip "unshare is not installed"
	[ "$(id -u)" = 0 ] || skip "making cgroups needs root"
	mkdir -p "$T/ctl2"
	release "[{\"Type\": \"web\", \"Quantity\": $1, \"Args\": [\"exec sleep 100\"]}]"
	cp "$CTL/new" "$T/ctl2/new"
	unshare --pid --fork --mount-proc "$HSUP" start -s "$SOCK" >"$T/out" 2>"$T/err" &
	HSUP_PID=$!
}

@test "two hsups as PID 1 of their own pid namespaces, in one cgroup, never share a group" {
	pid1_hsup 1
	HSUP_CONTROL_DIR=$T/ctl2 HSUP_STATE_DIR=$T/state2 unshare --pid --fork --mount-proc \
		"$HSUP" start -s "$T/sock2" >"$T/out2" 2>"$T/err2" &
	second=$!
	wait_for '[ -S "$SOCK" ] && [ -S "$T/sock2" ] && [ "$(dyno_field web.1 State)" = started ] &&
		[ "$(SOCK=$T/sock2 dyno_field web.1 State)" = started ]'
	p1=$(dyno_field web.1 Pid)
	p2=$(SOCK=$T/sock2 dyno_field web.1 Pid)
	# each inner hsup knows its dyno by its own pid namespace's numbers: find them on the host
	host1=$(pgrep -f "^sleep 100" -P "$(pgrep -P "$HSUP_PID")" || true)
	host2=$(pgrep -f "^sleep 100" -P "$(pgrep -P "$second")" || true)
	[ -n "$p1" ] && [ -n "$p2" ] && [ -n "$host1" ] && [ -n "$host2" ]
	# the hsups' own groups, above their dynos'
	g1=$(grep -E '^0::|:freezer:' "/proc/$host1/cgroup" | sed 's|/[^/]*$||' | tr '\n' ' ')
	g2=$(grep -E '^0::|:freezer:' "/proc/$host2/cgroup" | sed 's|/[^/]*$||' | tr '\n' ' ')
	echo "$g1 / $g2"
	[ "$g1" != "$g2" ]
	kill -TERM "$(pgrep -P "$second")"
	wait "$second" || true
	# the first one's dyno lives on, in its group, and stops with it
	kill -0 "$host1"
	[ "$(dyno_field web.1 State)" = started ]
	kill -TERM "$(pgrep -P "$HSUP_PID")"
	wait_hsup
	! grep -q "File exists\|No such file" "$T/err" "$T/err2"
}

@test "an hsup starting and stopping beside one of another pid namespace leaves its group alone" {
	# no dyno yet: its group is empty, its pid means nothing outside
	pid1_hsup 0
	wait_for '[ -S "$SOCK" ] && grep -q "loaded release v1" "$T/err"'
	for _ in 1 2; do
		HSUP_CONTROL_DIR=$T/ctl2 HSUP_STATE_DIR=$T/state2 "$HSUP" start -s "$T/sock2" \
			>"$T/out2" 2>"$T/err2" &
		second=$!
		wait_for '[ -S "$T/sock2" ]'
		kill -TERM "$second"
		wait "$second" || true
	done
	api POST /control/scale '{"web": 1}'
	wait_for '[ "$(dyno_field web.1 State)" = started ]'
	! grep -q "create cgroup" "$T/err"
	kill -TERM "$(pgrep -P "$HSUP_PID")"
	wait_hsup
}

# bats test_tags=drivers
@test "a stopped dyno is listed as stopped until restarted" {
	release '[{"Type": "web", "Quantity": 2, "Args": ["exec sleep 100"]}]'
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 web.2" ]'
	[ "$(api POST /dynos/web.1/stop)" = '{"Action":"stop","Dynos":1,"Target":"web.1"}' ]
	wait_for '[ "$(dyno_field web.1 State)" = stopped ]'
	[ "$(api_code GET /dynos/web.1)" = 200 ]
	[ "$(dyno_field web.1 Pid)" = None ]
	api GET /dynos | python3 -c '
import json, sys
names = [d["Name"] + ":" + d["State"] for d in json.load(sys.stdin)["Dynos"]]
assert names == ["web.1:stopped", "web.2:started"], names'
	run "$HSUP" -s "$SOCK" status
	[[ "$output" == *"web.1"*"stopped"* ]]
	[[ "$output" == *"web.2"*"started"* ]]
	# the whole type stopped: /status says so
	api POST /control/stop '{"Processes": ["web"]}' >/dev/null
	wait_for '[ "$(dyno_field web.2 State)" = stopped ]'
	[ "$(api GET /status)" = '{"Processes":{"web":{"IPAddress":"127.0.0.1","Port":5000,"Status":"Stopped"}}}' ]
	run "$HSUP" -s "$SOCK" restart web
	[ "$status" -eq 0 ]
	wait_for '[ "$(running_dynos)" = "web.1 web.2" ]'
	[ "$(dyno_field web.1 State)" = started ]
}

# bats test_tags=drivers
@test "control requests naming an unknown dyno are refused whole (404)" {
	release '[{"Type": "web", "Quantity": 1, "Args": ["exec sleep 100"]}]'
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1" ]'
	pid=$(dyno_pid web.1)
	[ "$(api_code POST /control/stop '{"Processes": ["web", "nope"]}')" = 404 ]
	[[ "$(api POST /control/stop '{"Processes": ["web", "nope"]}')" == *'no process type or dyno named \"nope\"'* ]]
	[ "$(api_code POST /control/restart '{"Processes": ["web.1", "web.9"]}')" = 404 ]
	[ "$(api_code POST /dynos/nope/stop)" = 404 ]
	[ "$(api_code POST /control/stop '{"Processes": ["web"], "Processes": []}')" = 400 ]
	sleep 0.3
	# nothing was applied
	[ "$(dyno_pid web.1)" = "$pid" ]
	[ "$(dyno_field web.1 Restarts)" = 0 ]
}

# bats test_tags=drivers
@test "POST /control/stop of the one-off dyno ends hsup run with its status" {
	unset HSUP_CONTROL_DIR
	start_hsup run -s "$SOCK" "exec sleep 100"
	wait_for '[ -S "$SOCK" ] && [ -n "$(dyno_pid run.1)" ]'
	[ "$(api POST /control/stop '{"Processes": ["run"]}')" = '{"StoppedProcesses":["run"]}' ]
	wait_hsup
	[ "$status" -eq 143 ]
}

# bats test_tags=drivers
@test "a second hsup on the same control directory is refused" {
	release '[{"Type": "web", "Quantity": 1, "Args": ["exec sleep 100"]}]'
	start_hsup start
	wait_for 'grep -q "web.1 started" "$T/err"'
	run timeout 20 "$HSUP" start
	[ "$status" -eq 1 ]
	[[ "$output" == *"another hsup (pid $HSUP_PID) is supervising the control directory $CTL"* ]]
	[ "$(grep -c "web.1 started" "$T/err")" = 1 ]
}

# Starts hsup $1 times, killing each with SIGKILL once its dynos run, then once more: the last
# one must stop what the others left and run exactly one set.
crash_cycles() {
	ln -s "$(command -v sleep)" "$T/bin/dyno-sleep"
	printf '#!/bin/bash\ntrap "" TERM\nexec %s 1000\n' "$T/bin/dyno-sleep" >"$T/bin/stubborn"
	chmod +x "$T/bin/stubborn"
	release "[{\"Type\": \"web\", \"Quantity\": 2, \"Args\": [\"exec $T/bin/dyno-sleep 1000\"]},
	          {\"Type\": \"stubborn\", \"Quantity\": 1, \"Args\": [\"exec $T/bin/stubborn\"]}]"
	local killed=()
	for i in $(seq "$1"); do
		start_hsup start --stop-timeout 1
		# a dyno said to have started is in the record: nothing more to wait for
		wait_for 'grep -q "stubborn.1 started" "$T/err"'
		killed+=("$HSUP_PID")
		kill -KILL "$HSUP_PID"
		wait "$HSUP_PID" 2>/dev/null || true
		HSUP_PID=
	done
	start_hsup start --stop-timeout 1
	wait_for 'grep -q "died leaving 3 dynos running" "$T/err"'
	# the stubborn one ignores SIGTERM: its successor starts after the SIGKILL
	wait_for 'grep -q "stubborn.1 started" "$T/err"'
	# three, once each has exec'd, and still three a moment later: never a second set
	wait_for '[ "$(pgrep -cf "$T/bin/dyno-sleep")" -eq 3 ]'
	sleep 0.5
	[ "$(pgrep -cf "$T/bin/dyno-sleep")" -eq 3 ]
	kill -TERM "$HSUP_PID"
	wait_hsup
	wait_for '[ -z "$(pgrep -f "$T/bin/dyno-sleep")" ]'
	# a clean exit leaves no record or journal behind, and no group of any of the killed hsups
	[ -z "$(ls "$T/state"/*.json "$T/state"/*.log 2>/dev/null)" ]
	local pid left
	[ "${HSUP_DYNO_TRACKING:-auto}" != pgroup ] || return 0
	for pid in "${killed[@]}"; do
		left=$(find /sys/fs/cgroup -maxdepth 8 -type d -name "hsup.$pid" 2>/dev/null)
		[ -z "$left" ] || { echo "left: $left" >&2; return 1; }
	done
}

@test "kill -9 of hsup, again and again, never leaves a second set of dynos" {
	crash_cycles 10
}

@test "the same where dynos are process groups (HSUP_DYNO_TRACKING=pgroup)" {
	export HSUP_DYNO_TRACKING=pgroup
	crash_cycles 3
}

@test "the record's journal stays small through many changes, and a kill -9 after them still stops every dyno" {
	ln -s "$(command -v sleep)" "$T/bin/dyno-sleep"
	release "[{\"Type\": \"web\", \"Quantity\": 3, \"Args\": [\"exec $T/bin/dyno-sleep 1000\"]}]"
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(pgrep -cf "$T/bin/dyno-sleep")" -eq 3 ]'
	local i most=0 n
	for i in $(seq 40); do
		api POST /control/scale '{"web": 1}' >/dev/null
		wait_for '[ "$(pgrep -cf "$T/bin/dyno-sleep")" -eq 1 ]'
		api POST /control/scale '{"web": 3}' >/dev/null
		wait_for '[ "$(pgrep -cf "$T/bin/dyno-sleep")" -eq 3 ]'
		n=$(cat "$T"/state/*.log | wc -l)
		[ "$n" -le "$most" ] || most=$n
	done
	# 160 changes: folded into the record as the journal passed 64 lines and twice the dynos
	[ "$most" -le 71 ]
	wait_for '[ "$(grep -c "web.3 started" "$T/err")" -ge 41 ]'
	local first=$HSUP_PID
	kill -KILL "$HSUP_PID"
	wait "$HSUP_PID" 2>/dev/null || true
	start_hsup start -s "$SOCK"
	wait_for 'grep -q "died leaving 3 dynos running" "$T/err"'
	wait_for '[ "$(pgrep -cf "$T/bin/dyno-sleep")" -eq 3 ] && grep -q "web.3 started" "$T/err"'
	sleep 0.5
	[ "$(pgrep -cf "$T/bin/dyno-sleep")" -eq 3 ]
	kill -TERM "$HSUP_PID"
	wait_hsup
	[ -z "$(ls "$T/state"/*.json "$T/state"/*.log 2>/dev/null)" ]
	[ -z "$(find /sys/fs/cgroup -maxdepth 8 -type d -name "hsup.$first" 2>/dev/null)" ]
}

@test "ports never collide: a formation that would share one is refused" {
	release '[{"Type": "web", "Quantity": 1, "Args": ["exec sleep 100"]},
	          {"Type": "worker", "Quantity": 1, "Args": ["exec sleep 100"]}]'
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	pid=$(dyno_pid web.1)
	release '[{"Type": "web", "Quantity": 150, "Args": ["exec sleep 100"]},
	          {"Type": "worker", "Quantity": 1, "Args": ["exec sleep 100"]}]' null new 2
	wait_for '[ -e "$CTL/last_error" ]'
	grep -q "web=150 would need ports 5000-5149, but worker's start at 5100" "$CTL/last_error"
	[ "$(dyno_pid web.1)" = "$pid" ]
	[ "$(api_code POST /control/scale '{"web": 101}')" = 409 ]
	[[ "$(api POST /control/scale '{"web": 101}')" == *"would need ports 5000-5100"* ]]
	[ "$(api_code POST /control/scale '{"worker": 150}')" = 200 ]
	wait_for '[ "$(dyno_field worker.150 Port)" = 5249 ]'
}

@test "start TYPE=N beyond the ports of a type is a usage error; new stays" {
	release '[{"Type": "web", "Quantity": 1, "Args": ["exec sleep 100"]},
	          {"Type": "worker", "Quantity": 1, "Args": ["exec sleep 100"]}]'
	run "$HSUP" start web=101 worker
	[ "$status" -eq 2 ]
	[[ "$output" == *"start: web=101 would need ports 5000-5100"* ]]
	[ -e "$CTL/new" ]
	[ ! -e "$CTL/rejected" ]
}

@test "a large start leaves the loop free: the API answers and SIGTERM stops hsup before the rest start" {
	ln -s "$(command -v sleep)" "$T/bin/dyno-sleep"
	release "[{\"Type\": \"web\", \"Quantity\": 2000, \"Args\": [\"exec $T/bin/dyno-sleep 1000\"]}]"
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && grep -q "web.1 started" "$T/err"'
	[ "$(api_code GET /status)" = 200 ]
	kill -TERM "$HSUP_PID"
	wait_hsup 60
	[ "$status" -eq 0 ]
	local started
	started=$(grep -c " started (pid" "$T/err")
	[ "$started" -gt 0 ] && [ "$started" -lt 2000 ]
	[ -z "$(pgrep -f "$T/bin/dyno-sleep")" ]
}
