#!/usr/bin/env bats
# The runtime under a real engine: containerd (Debian's, started by the file in namespaces of
# its own, ftest/containerd.bash) runs a busybox image made here (ftest/mkoci.py, an OCI image
# layout imported with `ctr image import`) through its runc shim, with the runtime as the shim's
# runc (`ctr run --runc-binary`). Each test checks what a user of ctr sees, and that nothing of
# a deleted task is left (processes, mounts, cgroups, the shim).
#   RUNTIME   the runtime binary (default: $NSINIT, else build/nsinit); /usr/sbin/runc and
#             /usr/bin/crun pass these tests as they are, which shows the tests right
# A file of its own runs in a few seconds with runc: scripts/check.sh runs it against
# build/nsinit and build/asan/nsinit, as every nsinit_*.bats.
bats_require_minimum_version 1.5.0
load poll
load containerd

export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-120}
RUNTIME=$(readlink -f "${RUNTIME:-${NSINIT:-$BATS_TEST_DIRNAME/../build/nsinit}}")
IMG=docker.io/hsup/busybox:test

setup_file() {
	export CD=$BATS_FILE_TMPDIR/containerd CONTAINERD_SKIP CONTAINERD_PID
	if [ ! -x "$RUNTIME" ]; then
		CONTAINERD_SKIP="no runtime at $RUNTIME"
		return 0
	fi
	# crun 1.8 refuses this hybrid host's cgroups: for it, containerd's mount namespace has no
	# cgroup v2 mount (DESIGN §5); the others run on the host's cgroups as they are
	[ "$(basename "$RUNTIME")" != crun ] || export CONTAINERD_NO_CGROUP2=1
	containerd_start "$CD"
	[ -z "$CONTAINERD_SKIP" ] || return 0
	python3 "$BATS_TEST_DIRNAME/mkoci.py" /bin/busybox "$IMG" "$BATS_FILE_TMPDIR/busybox.tar"
	ctr_cli image import "$BATS_FILE_TMPDIR/busybox.tar" >/dev/null
}

teardown_file() {
	[ -z "${CD:-}" ] || containerd_stop "$CD"
}

setup() {
	[ -z "$CONTAINERD_SKIP" ] || skip "$CONTAINERD_SKIP"
	ID=c$BATS_TEST_NUMBER
}

# The test's task and container go, whatever the test did.
teardown() {
	[ -z "$CONTAINERD_SKIP" ] || return 0
	if ctr_cli task ls -q | grep -qx "$ID"; then
		ctr_cli task resume "$ID" >/dev/null 2>&1
		ctr_cli task kill -s KILL "$ID" >/dev/null 2>&1
		ctr_cli task delete -f "$ID" >/dev/null 2>&1
	fi
	! ctr_cli container ls -q | grep -qx "$ID" || ctr_cli container delete "$ID" >/dev/null 2>&1
	return 0
}

ctr_run() { ctr_cli run --runc-binary "$RUNTIME" "$@"; }

# A detached task running the shell command given, its pid in PID; the test's directory is
# its /out
run_detached() { # run_detached SHELL-COMMAND
	ctr_run -d --null-io --mount "type=bind,src=$BATS_TEST_TMPDIR,dst=/out,options=rbind:rw" \
		"$IMG" "$ID" sh -c "$1"
	PID=$(ctr_cli task ls | awk -v id="$ID" '$1 == id {print $2}')
	[ -n "$PID" ] && kill -0 "$PID"
}

task_status() { ctr_cli task ls | awk -v id="$ID" '$1 == id {print $3}'; }

# A file as the task's first process sees it
rootfs_cat() { cat "/proc/$PID/root$1"; }

@test "a container runs, prints, and exits with its status; --rm leaves no container" {
	run --separate-stderr ctr_run --rm "$IMG" "$ID" sh -c 'echo hi; echo to-stderr >&2; exit 3'
	echo "$output" "$stderr"
	[ "$status" -eq 3 ]
	[ "$output" = hi ]
	[ "$stderr" = to-stderr ]
	run ctr_run --rm "$IMG" "$ID" sh -c 'echo "uid=$(id -u) pid=$$ cwd=$(pwd) $PATH"'
	[ "$status" -eq 0 ]
	[ "$output" = "uid=0 pid=1 cwd=/ /bin" ]
	[ -z "$(ctr_cli container ls -q)" ]
	[ -z "$(ctr_cli task ls -q)" ]
	[ -z "$(containerd_cgroups)" ]
}

@test "ctr task exec runs a process in the task's namespaces, with its status" {
	run_detached 'echo ready >/tmp/ready; exec sleep 1000'
	run ctr_cli task exec --exec-id x1 "$ID" sh -c 'cat /tmp/ready; tr "\0" " " </proc/1/cmdline; echo; exit 4'
	echo "$output"
	[ "$status" -eq 4 ]
	[ "${lines[0]}" = ready ]
	[ "${lines[1]}" = "sleep 1000 " ]
	# the process joined the task's pid namespace and cgroup
	run ctr_cli task exec --exec-id x2 "$ID" sh -c 'readlink /proc/self/ns/pid; cat /proc/self/cgroup'
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "$(readlink "/proc/$PID/ns/pid")" ]
	[[ "$output" == *":memory:/$CONTAINERD_NAMESPACE/$ID"* ]]
	# the exec'd processes are gone, the task runs on
	[ "$(ctr_cli task ps "$ID" | tail -n +2 | wc -l)" -eq 1 ]
	[ "$(task_status)" = RUNNING ]
}

@test "ctr task kill and ctr task delete leave no process, mount, cgroup or shim" {
	run_detached 'trap "echo bye >/out/bye; exit 0" TERM; sleep 1000 & sleep 1000 & wait'
	poll_until '[ "$(ctr_cli task ps "$ID" | tail -n +2 | wc -l)" -eq 3 ]' 10
	pids=$(ctr_cli task ps "$ID" | awk 'NR > 1 {print $1}')
	grep -q "/$CONTAINERD_NAMESPACE/$ID/rootfs " "/proc/$CONTAINERD_PID/mountinfo"
	[ -d "/sys/fs/cgroup/memory/$CONTAINERD_NAMESPACE/$ID" ]
	pgrep -f -- "-id $ID -address $CD/sock" >/dev/null
	# SIGTERM (ctr's default) reaches the task's first process, whose trap ends it
	ctr_cli task kill "$ID"
	poll_until '[ "$(task_status)" = STOPPED ]' 10
	[ "$(cat "$BATS_TEST_TMPDIR/bye")" = bye ]
	run ctr_cli task delete "$ID"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$(ctr_cli task ls -q)" ]
	for p in $pids; do ! kill -0 "$p" 2>/dev/null; done
	! grep -q "/$CONTAINERD_NAMESPACE/$ID/" "/proc/$CONTAINERD_PID/mountinfo"
	[ -z "$(containerd_cgroups)" ]
	poll_until '! pgrep -f -- "-id $ID -address $CD/sock" >/dev/null' 10
	ctr_cli container delete "$ID"
	[ -z "$(ctr_cli container ls -q)" ]
	# SIGKILL, to the task's every process
	run_detached 'sleep 1000 & exec sleep 1001'
	poll_until '[ "$(ctr_cli task ps "$ID" | tail -n +2 | wc -l)" -eq 2 ]' 10
	pids=$(ctr_cli task ps "$ID" | awk 'NR > 1 {print $1}')
	ctr_cli task kill -s KILL "$ID"
	poll_until '[ "$(task_status)" = STOPPED ]' 10
	ctr_cli task delete "$ID"
	for p in $pids; do ! kill -0 "$p" 2>/dev/null; done
	[ -z "$(containerd_cgroups)" ]
}

@test "ctr task pause stops the task until ctr task resume" {
	run_detached 'i=0; while :; do i=$((i + 1)); echo $i >/tmp/n; sleep 0.05; done'
	poll_until '[ "$(rootfs_cat /tmp/n 2>/dev/null)" -gt 1 ]' 10
	ctr_cli task pause "$ID"
	[ "$(task_status)" = PAUSED ]
	n=$(rootfs_cat /tmp/n)
	sleep 0.3
	[ "$(rootfs_cat /tmp/n)" = "$n" ]
	ctr_cli task resume "$ID"
	[ "$(task_status)" = RUNNING ]
	poll_until '[ "$(rootfs_cat /tmp/n)" -gt "$n" ]' 10
}

@test "ctr task metrics reports the task's cgroup" {
	run_detached 'sleep 1000 & exec sleep 1001'
	poll_until '[ "$(ctr_cli task ps "$ID" | tail -n +2 | wc -l)" -eq 2 ]' 10
	run ctr_cli task metrics "$ID"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" == "$ID "* ]]
	[ "$(awk '$1 == "pids.current" {print $2}' <<<"$output")" -eq 2 ]
	[ "$(awk '$1 == "memory.usage_in_bytes" {print $2}' <<<"$output")" -gt 0 ]
	run ctr_cli task metrics --format json "$ID"
	[ "$status" -eq 0 ]
	python3 -c 'import json, sys; m = json.loads(sys.argv[1]); assert m["pids"]["current"] == 2, m' "$output"
}

@test "a --tty container gets a terminal, reads what is typed, and exits with its status" {
	command -v script >/dev/null || skip "script (util-linux) is not installed"
	# script gives ctr a terminal; ctr's own becomes the container's through the shim
	run script -qec "$(declare -f ctr_cli ctr_run); IMG=$IMG RUNTIME=$RUNTIME \
		CONTAINERD_PID=$CONTAINERD_PID ctr_run --rm -t $IMG $ID sh" /dev/null \
		< <(printf 'tty; [ -t 0 ] && echo tty-$((1 + 1)); echo typed-$((6 * 7)); exit 5\n'; sleep 5)
	echo "$output"
	[ "$status" -eq 5 ]
	[[ "$output" == *"/dev/pts/0"* ]]
	[[ "$output" == *tty-2* ]] # stdin is the terminal
	[[ "$output" == *typed-42* ]]
	[ -z "$(ctr_cli container ls -q)" ]
}
