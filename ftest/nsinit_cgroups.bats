#!/usr/bin/env bats
# libcontainer's cgroups (v1 on this host): limits, OOM notification, pause/resume, stats,
# update, and nothing left behind.
load nsinit_helpers

@test "memory limit: an allocating payload is OOM-killed and the notification fires" {
	mkconfig '
c["linux"]["resources"]["memory"] = {"limit": 33554432, "swap": 33554432}
c["process"]["args"] = ["/bin/sh", "-c", "read go; exec /lctest alloc 256"]'
	mkfifo "$T/go"
	nsinit create --config config.json --id "$ID" >"$T/log" 2>&1 <"$T/go" &
	exec 7>"$T/go"
	wait_for '[ "$(state_field "$ID" status 2>/dev/null)" = created ]'
	pid=$(state_field "$ID" pid)
	mem=$(cgroup_dir "$ID" memory)
	[ "$(cat "$mem/memory.limit_in_bytes")" = 33554432 ]
	nsinit oom --id "$ID" >"$T/oom" 2>&1 &
	oom_pid=$!
	wait_for 'grep -q watching "$T/oom"'
	nsinit start --id "$ID"
	echo go >&7
	exec 7>&-
	wait_for '[ "$(state_field "$ID" status)" = stopped ]' 30
	wait "$oom_pid"
	cat "$T/oom" "$T/log"
	grep -q "oom: container $ID hit its memory limit" "$T/oom"
	! grep -q "allocated all" "$T/log"
	grep -q "oom_kill 1" "$mem/memory.oom_control"
	nsinit delete --id "$ID"
	assert_gone "$ID" "$pid"
}

@test "pids limit: a fork bomb is contained" {
	mkconfig '
c["linux"]["resources"]["pids"] = {"limit": 16}
c["process"]["args"] = ["/lctest", "fork", "500"]'
	run nsinit exec --config config.json --id "$ID"
	echo "$output"
	[ "$status" -eq 0 ]
	forked=$(echo "$output" | sed -n 's/^forked=\([0-9]*\).*/\1/p')
	[ "$forked" -lt 16 ]
	[ "$forked" -ge 10 ]
	[[ "$output" == *"stopped=EAGAIN"* ]]
	assert_gone "$ID"
}

@test "pause freezes every process and resume thaws them" {
	mkconfig 'c["process"]["args"] = ["/bin/sh", "-c", "while :; do date +%s%N > /dev/shm/tick; usleep 20000; done"]'
	nsinit run --detach --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
	pid=$(state_field "$ID" pid)
	run nsinit pause --id "$ID"
	[ "$status" -eq 0 ]
	[ "$(state_field "$ID" status)" = paused ]
	[ "$(cat "$(cgroup_dir "$ID" freezer)/freezer.state")" = FROZEN ]
	t1=$(cat "/proc/$pid/root/dev/shm/tick")
	sleep 0.3
	[ "$(cat "/proc/$pid/root/dev/shm/tick")" = "$t1" ]
	run nsinit unpause --id "$ID"
	[ "$status" -eq 0 ]
	[ "$(state_field "$ID" status)" = running ]
	wait_for '[ "$(cat "/proc/$pid/root/dev/shm/tick")" != "$t1" ]'
	nsinit delete --force --id "$ID"
	assert_gone "$ID" "$pid"
}

@test "stats: cpu, memory, pids and network counters move" {
	mkconfig '
for s in ("bounding", "effective", "permitted"):
    c["process"]["capabilities"][s].append("CAP_NET_ADMIN")
c["process"]["args"] = ["/bin/sh", "-c", "ip link set lo up; exec sleep 1000"]'
	nsinit run --detach --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
	wait_for 'nsinit stats --id "$ID" | grep -q "\"name\": \"lo\""'
	nsinit stats --id "$ID" >"$T/s1"
	nsinit exec --id "$ID" -- /bin/sh -c '/lctest spin 200; ping -c 3 -i 0.05 127.0.0.1 >/dev/null; head -c 4000000 /dev/zero > /dev/shm/blob'
	nsinit stats --id "$ID" >"$T/s2"
	cat "$T/s1" "$T/s2"
	python3 - "$T/s1" "$T/s2" <<'PY'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
assert b["cpu"]["usage_ns"] - a["cpu"]["usage_ns"] >= 100_000_000, "cpu"
assert b["memory"]["usage"] > a["memory"]["usage"] + 3_000_000, "memory"
assert a["pids"]["current"] >= 1
lo_a = [n for n in a["network"] if n["name"] == "lo"][0]
lo_b = [n for n in b["network"] if n["name"] == "lo"][0]
assert lo_b["rx_packets"] >= lo_a["rx_packets"] + 6, "network"
# the container's own network namespace: the host's interfaces are not there
assert [n["name"] for n in b["network"]] == ["lo"], b["network"]
PY
}

@test "update changes the limits of a running container" {
	mkconfig '
c["linux"]["resources"]["pids"] = {"limit": 100}
c["linux"]["resources"]["cpu"] = {"shares": 512}
c["process"]["args"] = ["/bin/sleep", "1000"]'
	nsinit run --detach --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
	[ "$(cat "$(cgroup_dir "$ID" pids)/pids.max")" = 100 ]
	[ "$(cat "$(cgroup_dir "$ID" cpu)/cpu.shares")" = 512 ]
	run nsinit update --id "$ID" --pids-limit 3 --memory 67108864 --cpu-quota 50000 --cpu-period 100000
	[ "$status" -eq 0 ]
	[ "$(cat "$(cgroup_dir "$ID" pids)/pids.max")" = 3 ]
	[ "$(cat "$(cgroup_dir "$ID" memory)/memory.limit_in_bytes")" = 67108864 ]
	[ "$(cat "$(cgroup_dir "$ID" cpu)/cpu.cfs_quota_us")" = 50000 ]
	grep -q '"limit": 3' "$STATE/$ID/config.json"
	# the new limit holds for what runs next
	run nsinit exec --id "$ID" -- /lctest fork 10
	echo "$output"
	[[ "$output" == *"stopped=EAGAIN"* ]]
	run nsinit update --id "$ID"
	[ "$status" -ne 0 ]
}

@test "the device cgroup refuses nodes the config does not allow" {
	mkconfig 'c["process"]["args"] = ["/bin/sh", "-c", "mknod /dev/sda1 b 8 1; head -c1 /dev/sda1; echo rc=$?; head -c1 /dev/zero | wc -c"]'
	run nsinit exec --config config.json --id "$ID"
	echo "$output"
	[[ "$output" == *"rc=1"* ]]
	[[ "$output" == *"Operation not permitted"* ]]
	[ "${lines[-1]}" = 1 ]
}

@test "cgroup v2: device rules as an eBPF program, freezing, and removal on delete" {
	mountpoint -q /sys/fs/cgroup/unified || skip "this host has no cgroup2 mount to test v2 with"
	mkconfig 'c["process"]["args"] = ["/bin/sleep", "1000"]'
	# In a mount namespace of the test's own the host's cgroup2 mount stands at /sys/fs/cgroup,
	# so the runtime takes the host for a v2 one (it has no controllers: no limits here).
	cat >"$T/v2.sh" <<'SH'
set -eu
mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup
n() { "$NSINIT" --root "$STATE" "$@"; }
n run --detach --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
dir=$(n state --id "$ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cgroup_paths"]["unified"])')
echo "dir=$dir"
grep -qx "$(n state --id "$ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')" "$dir/cgroup.procs" && echo joined
n exec --id "$ID" -- /bin/sh -c 'head -c1 /dev/zero | wc -c; mknod /dev/sda1 b 8 1; head -c1 /dev/sda1 || echo denied'
n pause --id "$ID"
echo "status=$(n state --id "$ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')"
grep frozen "$dir/cgroup.events"
n unpause --id "$ID"
n delete --force --id "$ID"
[ -d "$dir" ] && echo "dir left" || echo "dir removed"
SH
	run env NSINIT="$NSINIT" STATE="$STATE" ID="$ID" T="$T" unshare -m --propagation private bash "$T/v2.sh"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"dir=/sys/fs/cgroup/"*"lc-$ID"* ]]
	[[ "$output" == *joined* ]]
	[ "$(echo "$output" | sed -n '3p')" = 1 ]
	[[ "$output" == *"Operation not permitted"*denied* ]]
	[[ "$output" == *"status=paused"* ]]
	[[ "$output" == *"frozen 1"* ]]
	[[ "$output" == *"dir removed"* ]]
}

@test "a memory threshold notification fires when usage crosses it" {
	mkconfig '
c["linux"]["resources"]["memory"] = {"limit": 134217728}
c["process"]["args"] = ["/bin/sh", "-c", "read go; /lctest alloc 32; read done"]'
	mkfifo "$T/go"
	nsinit create --config config.json --id "$ID" >"$T/log" 2>&1 <"$T/go" &
	exec 7>"$T/go"
	wait_for '[ "$(state_field "$ID" status 2>/dev/null)" = created ]'
	nsinit oom --id "$ID" --memory-threshold 16777216 >"$T/oom" 2>&1 &
	oom_pid=$!
	wait_for 'grep -q watching "$T/oom"'
	nsinit start --id "$ID"
	echo go >&7
	wait_for 'grep -q "allocated all" "$T/log"'
	wait_for 'grep -q threshold "$T/oom"'
	echo done >&7
	exec 7>&-
	wait "$oom_pid"
	cat "$T/oom"
	grep -q "threshold: memory usage of $ID crossed 16777216 bytes" "$T/oom"
	! grep -q "oom:" "$T/oom"
}

@test "kill --all freezes first: a process forking all the while leaves no child behind" {
	# No pid namespace: the init's death does not take the others with it, kill --all must.
	# The breeder comes after 1000 sleepers in pid order, so a sweep that signals the listed
	# pids one by one reaches it last: what it forks meanwhile is on no list.
	mkconfig '
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]
c["linux"]["resources"]["pids"] = {"limit": 5000}
c["process"]["args"] = ["/bin/sh", "-c", "for i in $(seq 1000); do sleep 1000 & done; /lctest breed 3000 & wait"]'
	nsinit run --detach --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
	# 1000 forks and execs: seconds where a process start costs milliseconds
	wait_for '[ "$(nsinit ps --id "$ID" | wc -l)" -ge 1100 ]' 60
	run nsinit kill --all --id "$ID" KILL
	[ "$status" -eq 0 ]
	# what was signalled dies; nothing forked in between is left running
	wait_for '[ -z "$(nsinit ps --id "$ID")" ]' 5 || {
		echo "left: $(nsinit ps --id "$ID" | wc -l) processes"
		return 1
	}
	[ "$(state_field "$ID" status)" = stopped ]
}

@test "kill --all keeps a paused container paused, unless the signal kills it" {
	mkconfig 'c["process"]["args"] = ["/bin/sh", "-c", "trap \"echo got-usr1 >> /dev/shm/log\" USR1; while :; do sleep 0.05; done"]'
	nsinit run --detach --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
	pid=$(state_field "$ID" pid)
	nsinit pause --id "$ID"
	run nsinit kill --all --id "$ID" USR1
	[ "$status" -eq 0 ]
	[ "$(state_field "$ID" status)" = paused ]
	nsinit unpause --id "$ID"
	wait_for 'grep -q got-usr1 "/proc/$pid/root/dev/shm/log" 2>/dev/null'
	nsinit pause --id "$ID"
	run nsinit kill --all --id "$ID" KILL
	[ "$status" -eq 0 ]
	wait_for '[ "$(state_field "$ID" status)" = stopped ]'
}
