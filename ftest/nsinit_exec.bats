#!/usr/bin/env bats
# Joining a running container (setns), terminals, and the container's end with its first
# process.
load nsinit_helpers

start_sleeper() {
	mkconfig 'c["process"]["args"] = ["/bin/sleep", "1000"]'
	nsinit run --detach --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null
	PID=$(state_field "$ID" pid)
}

@test "exec joins the container's namespaces, cgroups, capabilities, seccomp and no_new_privs" {
	start_sleeper
	run nsinit exec --id "$ID" -- /bin/sh -c 'for n in mnt pid net ipc uts cgroup; do echo "$n $(stat -L -c %i /proc/self/ns/$n) $(stat -L -c %i /proc/1/ns/$n)"; done; cat /proc/self/cgroup; /lctest info'
	echo "$output"
	[ "$status" -eq 0 ]
	for n in mnt pid net ipc uts; do
		host=$(stat -L -c %i "/proc/$PID/ns/$n")
		[[ "$output" == *"$n $host $host"* ]]
	done
	[[ "$output" == *":memory:/"*"lc-$ID"* ]]
	[[ "$output" == *":pids:/lc-$ID"* ]]
	[ "$(field CapEff)" = 00000000a80425fb ]
	[ "$(field CapBnd)" = 00000000a80425fb ]
	[ "$(field NoNewPrivs)" = 1 ]
	[ "$(field Seccomp)" = 2 ]
	[ "$(field hostname)" = nsinit ]
	[ "$(field ppid)" = 0 ]
}

@test "exec takes --user, --cwd and --env; ps lists every process" {
	start_sleeper
	run nsinit exec --id "$ID" --user app --cwd /tmp --env GREETING=hi -- /bin/sh -c 'echo "$(id -u):$(id -g) $(pwd) $GREETING"'
	echo "$output"
	[ "$output" = "1000:1000 /tmp hi" ]
	run nsinit exec --id "$ID" --user 1000:2000 -- /bin/sh -c 'echo "$(id -u):$(id -g)"'
	[ "$output" = "1000:2000" ]
	nsinit exec --id "$ID" -- /bin/sleep 1008 >/dev/null 2>&1 </dev/null &
	wait_for '[ "$(nsinit ps --id "$ID" | wc -l)" -eq 2 ]'
	nsinit ps --id "$ID" | grep -qx "$PID"
	run nsinit exec --id "$ID" --user nosuchuser -- true
	[ "$status" -ne 0 ]
	[[ "$output" == *"user nosuchuser"* ]]
	nsinit delete --force --id "$ID"
	wait
	assert_gone "$ID" "$PID"
}

@test "a second nsinit exec with the same id joins; the first process's exit ends everything" {
	mkconfig
	mkfifo "$T/in"
	exec 8<>"$T/in"
	local nap=$((100000 + RANDOM)) # a command line no other test runs
	nsinit exec --config config.json --id "$ID" -- /bin/sh -c "sleep $nap & read x; exit 3" \
		>"$T/log" 2>&1 <&8 &
	first=$!
	wait_for '[ "$(state_field "$ID" status 2>/dev/null)" = running ]'
	pid=$(state_field "$ID" pid)
	run nsinit exec --id "$ID" -- /bin/sh -c "stat -L -c %i /proc/1/ns/pid; ps | grep -c 'sleep $nap'"
	echo "$output"
	[ "${lines[0]}" = "$(stat -L -c %i "/proc/$pid/ns/pid")" ]
	[ "${lines[1]}" -ge 1 ]
	echo done >&8
	status=0
	wait "$first" || status=$?
	[ "$status" -eq 3 ]
	exec 8>&-
	assert_gone "$ID" "$pid"
	! pgrep -f "sleep $nap"
}

@test "--tty gives the process a real terminal" {
	command -v script >/dev/null || skip "script (util-linux) is not installed"
	mkconfig
	run script -qec "'$NSINIT' --root '$STATE' exec --tty --config config.json --id $ID -- /bin/sh -c 'test -t 0 && test -t 1 && echo tty-ok; stty -a | head -1'" /dev/null
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *tty-ok* ]]
	[[ "$output" == *speed* ]]
	assert_gone "$ID"
	start_sleeper
	run script -qec "'$NSINIT' --root '$STATE' exec --tty --id $ID -- /bin/sh -c 'test -t 0 && echo joined-tty-ok'" /dev/null
	[[ "$output" == *joined-tty-ok* ]]
}

# The terminal is one of the container's own devpts, not the host's: `tty` names it, and the
# container's /dev/pts/0 is the very device on its stdin.
@test "--tty: the terminal comes from the container's /dev/pts, in a new container and in a running one" {
	command -v script >/dev/null || skip "script (util-linux) is not installed"
	local probe='tty; echo "same=$(stat -L -c %d:%t:%T /proc/self/fd/0) $(stat -c %d:%t:%T /dev/pts/0)"; stty size'
	mkconfig
	run script -qec "stty rows 17 cols 91; '$NSINIT' --root '$STATE' exec --tty --config config.json --id $ID -- /bin/sh -c '$probe'" /dev/null
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"/dev/pts/0"* ]]
	[[ "$output" != *"not a tty"* ]]
	[[ "$output" =~ same=([0-9a-f:]+)\ ([0-9a-f:]+) ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]
	[[ "$output" == *"17 91"* ]]
	assert_gone "$ID"
	start_sleeper
	run script -qec "stty rows 23 cols 77; '$NSINIT' --root '$STATE' exec --tty --id $ID -- /bin/sh -c '$probe'" /dev/null
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"/dev/pts/0"* ]]
	[[ "$output" =~ same=([0-9a-f:]+)\ ([0-9a-f:]+) ]]
	[ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ]
	[[ "$output" == *"23 77"* ]]
}

@test "create, start, exec and delete run clean under valgrind" {
	command -v valgrind >/dev/null || skip "valgrind is not installed"
	[[ "$NSINIT" != */asan/* ]] || skip "the ASan build is checked by ASan itself"
	# valgrind cannot follow malloc in the static release binary: its dynamic twin
	local bin=$BATS_TEST_DIRNAME/../build/release/nsinit-dynamic
	[ -x "$bin" ] || skip "build/release/nsinit-dynamic is not built"
	# valgrind virtualises RLIMIT_NOFILE and refuses to change it: no rlimits here
	mkconfig 'c["process"]["rlimits"] = []; c["process"]["args"] = ["/bin/sleep", "1000"]'
	vg() {
		valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
			"$bin" --root "$STATE" "$@"
	}
	# the init keeps the stdio it is given: a file, so nothing waits on a pipe
	vg create --config config.json --id "$ID" >"$T/log" 2>&1 </dev/null || { cat "$T/log"; false; }
	run vg start --id "$ID"
	[ "$status" -eq 0 ]
	run vg exec --id "$ID" -- /lctest info
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field Seccomp)" = 2 ]
	run vg state --id "$ID"
	[ "$status" -eq 0 ]
	run vg delete --force --id "$ID"
	echo "$output"
	[ "$status" -eq 0 ]
	assert_gone "$ID"
}

@test "no fd the caller left open without O_CLOEXEC reaches the container" {
	mkconfig
	run bash -c "exec 9>'$T/leak'; '$NSINIT' --root '$STATE' exec --config config.json --id $ID -- /bin/ls /proc/self/fd"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo $output)" = "0 1 2 3" ]
}

@test "exec stops if it cannot leave the container's pid namespace after the clone" {
	# setns back to our own pid namespace is made to fail through LD_PRELOAD, which needs a
	# dynamic nsinit: the ASan one, or the release one's dynamic twin
	local bin=$NSINIT
	if ! ldd "$bin" >/dev/null 2>&1; then
		bin=$BATS_TEST_DIRNAME/../build/release/nsinit-dynamic
		[ -x "$bin" ] || skip "needs a dynamic nsinit (build/release/nsinit-dynamic)"
	fi
	command -v cc >/dev/null || skip "no C compiler to build the LD_PRELOAD shim"
	cat >"$T/failsetns.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
/* the second setns into a pid namespace (going back after the clone) fails */
int setns(int fd, int nstype)
{
	static int pid_calls;
	int (*real)(int, int) = (int (*)(int, int))dlsym(RTLD_NEXT, "setns");
	if (nstype == CLONE_NEWPID && ++pid_calls == 2) {
		errno = ENOMEM;
		return -1;
	}
	return real(fd, nstype);
}
C
	cc -shared -fPIC -o "$T/failsetns.so" "$T/failsetns.c" -ldl
	start_sleeper
	# KILL: the old code went on, and the ASan build then hung at exit (LeakSanitizer clones
	# its tracer into the container's pid namespace) with SIGTERM blocked
	run timeout -s KILL 60 env LD_PRELOAD="$T/failsetns.so" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
		"$bin" --root "$STATE" exec --id "$ID" -- /bin/true
	echo "$output"
	# SIGABRT: 128 + 6
	[ "$status" -eq 134 ]
	[[ "$output" == *"cannot go back to this process's pid namespace"* ]]
}
