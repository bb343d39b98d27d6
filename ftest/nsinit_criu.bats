#!/usr/bin/env bats
# Checkpoint and restore through CRIU. On a kernel CRIU cannot handle (this host: `criu
# check` fails on the vDSO) nsinit must say so, and the round trip is skipped with the reason.
load nsinit_helpers

criu_problem() { # prints why CRIU cannot work here; empty when it can
	command -v criu >/dev/null || { echo "criu is not installed"; return; }
	local out
	out=$(criu check 2>&1) && return
	echo "criu check fails: $(printf '%s\n' "$out" | grep -m1 Error || printf '%s\n' "$out" | tail -1)"
}

start_counter() {
	mkconfig 'c["process"]["args"] = ["/bin/sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /dev/shm/n; usleep 50000; done"]'
	nsinit run --detach --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
}

@test "checkpoint and restore: a counter goes on where it stopped" {
	why=$(criu_problem)
	[ -z "$why" ] || skip "CRIU cannot work here: $why"
	start_counter
	pid=$(state_field "$ID" pid)
	wait_for '[ "$(cat /proc/$pid/root/dev/shm/n 2>/dev/null || echo 0)" -ge 5 ]'
	run nsinit checkpoint --id "$ID" --image-path "$T/img"
	[ "$status" -eq 0 ]
	[ "$(state_field "$ID" status)" = stopped ]
	run nsinit restore --id "$ID" --image-path "$T/img"
	[ "$status" -eq 0 ]
	[ "$(state_field "$ID" status)" = running ]
	pid=$(state_field "$ID" pid)
	n=$(cat "/proc/$pid/root/dev/shm/n")
	[ "$n" -ge 5 ]
	wait_for '[ "$(cat /proc/$pid/root/dev/shm/n)" -gt "$n" ]'
}

@test "where CRIU cannot work, checkpoint fails saying why and the container runs on" {
	why=$(criu_problem)
	[ -n "$why" ] || skip "CRIU works here: the round trip above is the test"
	command -v criu >/dev/null || skip "criu is not installed"
	start_counter
	run nsinit checkpoint --id "$ID" --image-path "$T/img"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"CRIU cannot work on this kernel"* ]]
	[[ "$output" == *"criu check"* ]]
	[ "$(state_field "$ID" status)" = running ]
	run nsinit restore --id "$ID" --image-path "$T/img"
	[ "$status" -eq 1 ]
	[[ "$output" == *"CRIU cannot work on this kernel"* ]]
}
