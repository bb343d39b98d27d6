#!/usr/bin/env bats
# The dyno init as PID 1 of a pid namespace (unshare --pid --fork --mount-proc), in a rootfs
# made of the host's /usr with /app and /etc/profile.d of the test's own, run the way the
# runtime runs it: opened outside the rootfs, then chroot and execveat(fd, "", AT_EMPTY_PATH).
# With build/hsup the init is hsup's built-in one (its sealed memfd); with build/asan/hsup it
# is build/asan/hsup-init, the same program with ASan+UBSan.
load helpers

BUILD=$(dirname "$HSUP")
SLUGTOOL=${SLUGTOOL:-$BUILD/slugtool}
INIT_BIN=$BUILD/hsup-init
INIT_OPT=()
[ "$(basename "$BUILD")" = asan ] && INIT_OPT=(--init "$INIT_BIN")

init_setup() {
	[ "$(id -u)" -eq 0 ] || skip "needs root for pid and mount namespaces"
	R=$T/root
	mkdir -p "$R/usr" "$R/dev" "$R/proc" "$R/tmp" "$R/etc/profile.d" "$R/app/.profile.d"
	local l
	for l in bin sbin lib lib32 lib64; do
		if [ -L "/$l" ]; then ln -s "$(readlink "/$l")" "$R/$l"; fi
	done
	cat >"$T/inner.sh" <<-EOF
		mount --bind /usr "$R/usr" && mount --rbind /dev "$R/dev" &&
			mount -t proc proc "$R/proc" || exit 90
		exec env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/app \
			"$SLUGTOOL" exec-init ${INIT_OPT[*]} "$R" "\$@"
	EOF
}

# Runs the init as PID 1 with the given arguments; output in $T/out.
run_init() {
	unshare -m --propagation private --pid --fork --mount-proc bash "$T/inner.sh" "$@" \
		>"$T/out" 2>&1
}

# The host pid of the init that the backgrounded unshare $1 forked.
init_pid() {
	cat "/proc/$1/task/$1/children" 2>/dev/null | tr -d ' '
}

@test "init: usage errors exit 2 naming the problem" {
	run "$INIT_BIN" --grace x -- true
	[ "$status" -eq 2 ]
	[[ "$output" == *"--grace: not a number of seconds from 0 to 86400: x"* ]]
	run "$INIT_BIN" --grace 5
	[ "$status" -eq 2 ]
	[[ "$output" == *"no command given"* ]]
	run "$INIT_BIN" --bogus -- true
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown option"* ]]
	run "$INIT_BIN" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: dyno-init"* ]]
}

@test "init: profile scripts sourced in order in one shell, then the command in /app as PID 1's child" {
	init_setup
	echo 'ORDER="${ORDER}etc-a "' >"$R/etc/profile.d/a.sh"
	echo 'ORDER="${ORDER}etc-b "; export EXPORTED=1' >"$R/etc/profile.d/b.sh"
	echo 'ORDER=wrong' >"$R/etc/profile.d/c.txt"
	echo 'ORDER="${ORDER}app-a"; UNEXPORTED=seen' >"$R/app/.profile.d/a.sh"
	run_init -- 'echo "order=$ORDER unexported=$UNEXPORTED exported=$EXPORTED"' \
		'"ppid=$PPID leader=$([ "$(cut -d" " -f5 /proc/$$/stat)" = $$ ] && echo yes) cwd=$PWD args=$# home=$HOME"' \
		"\"it's quoted\""
	cat "$T/out"
	grep -qx "order=etc-a etc-b app-a unexported=seen exported=1 ppid=1 leader=yes cwd=/app args=0 home=/app it's quoted" "$T/out"
}

@test "init: exits with the command's status, 128+N when signal N killed it" {
	init_setup
	run_init -- exit 7 || rc=$?
	[ "${rc:-0}" -eq 7 ]
	rc=0
	run_init -- 'kill -SEGV $$' || rc=$?
	[ "$rc" -eq 139 ]
	rc=0
	run_init -- true || rc=$?
	[ "$rc" -eq 0 ]
	rc=0
	run_init --shell /nonexistent -- true || rc=$?
	[ "$rc" -eq 127 ]
	grep -q "cannot run /nonexistent: No such file or directory" "$T/out"
}

@test "init: SIGUSR1 and SIGTERM sent to it reach the command's whole process group" {
	init_setup
	unshare -m --propagation private --pid --fork --mount-proc bash "$T/inner.sh" -- '
		trap "echo main got USR1" USR1
		trap "echo main got TERM; exit 3" TERM
		sh -c "trap \"echo child got USR1\" USR1; trap \"echo child got TERM; exit 0\" TERM
			while :; do sleep 0.05; done" &
		touch /tmp/ready
		while :; do sleep 0.05; done' >"$T/out" 2>&1 &
	local upid=$!
	wait_for "[ -e '$R/tmp/ready' ] && [ -n \"\$(init_pid $upid)\" ]"
	local ipid
	ipid=$(init_pid "$upid")
	kill -USR1 "$ipid"
	wait_for "grep -q 'main got USR1' '$T/out' && grep -q 'child got USR1' '$T/out'"
	kill -TERM "$ipid"
	local rc=0
	wait "$upid" || rc=$?
	cat "$T/out"
	[ "$rc" -eq 3 ]
	grep -qx "main got TERM" "$T/out"
	grep -qx "child got TERM" "$T/out"
}

@test "init: orphans are reaped, no zombie stays" {
	init_setup
	run_init -- '
		for i in 1 2 3; do (sleep 0.1 & exit 0); done
		setsid sh -c "sleep 0.1 &"
		# Every orphan is a child of PID 1 (bash only: the rootfs has no /etc/alternatives);
		# once they exit, only a reaper makes them go.
		for i in $(seq 200); do
			n=0
			for f in /proc/[0-9]*/status; do
				while read -r k v; do
					[ "$k" = PPid: ] && [ "$v" = 1 ] && n=$((n + 1))
				done <"$f"
			done 2>/dev/null
			[ "$n" -le 1 ] && { echo reaped; exit 0; }
			sleep 0.05
		done
		grep -l "^State:.*Z" /proc/[0-9]*/status
		exit 1' || rc=$?
	cat "$T/out"
	[ "${rc:-0}" -eq 0 ]
	grep -qx reaped "$T/out"
}

@test "init: what is left when the command exits gets SIGTERM, then SIGKILL after the grace" {
	init_setup
	local nap=$((100000 + RANDOM)) # a command line no other test runs
	run_init --grace 1 -- '
		setsid sh -c "trap \"echo left got TERM > /app/left; exit 0\" TERM; touch /tmp/a; while :; do sleep 0.05; done" &
		sh -c "trap \"\" TERM; touch /tmp/b; exec sleep '"$nap"'" &
		while [ ! -e /tmp/a ] || [ ! -e /tmp/b ]; do sleep 0.05; done
		exit 5' || rc=$?
	cat "$T/out"
	[ "${rc:-0}" -eq 5 ]
	# Another session: only the init's SIGTERM to everything left could reach it.
	[ "$(cat "$R/app/left")" = "left got TERM" ]
	! pgrep -f "sleep $nap"
}

@test "init: not PID 1, it is a subreaper and signals only the command's group" {
	init_setup
	cat >"$T/inner-nopid.sh" <<-EOF
		mount --bind /usr "$R/usr" && mount --rbind /dev "$R/dev" &&
			mount -t proc proc "$R/proc" || exit 90
		exec env -i PATH=/usr/bin:/bin "$SLUGTOOL" exec-init ${INIT_OPT[*]} "$R" "\$@"
	EOF
	local rc=0
	unshare -m --propagation private bash "$T/inner-nopid.sh" --grace 1 -- \
		'(trap "echo group got TERM > /app/group; exit 0" TERM; touch /tmp/g; while :; do sleep 0.05; done) &
		 while [ ! -e /tmp/g ]; do sleep 0.05; done; exit 4' >"$T/out" 2>&1 || rc=$?
	cat "$T/out"
	[ "$rc" -eq 4 ]
	[ "$(cat "$R/app/group")" = "group got TERM" ]
	# what left the group (setsid) cannot be signalled from here: it is not waited for either
	rc=0
	SECONDS=0
	unshare -m --propagation private bash "$T/inner-nopid.sh" --grace 20 -- \
		'setsid sleep 30 & e=$!
		 # out of the group (its own session) before the command ends and the group is signalled
		 while read -r -a st </proc/$e/stat && [ "${st[5]}" != "$e" ]; do sleep 0.01; done
		 echo $e >/app/escaped; exit 5' >"$T/out" 2>&1 || rc=$?
	cat "$T/out"
	[ "$rc" -eq 5 ]
	[ "$SECONDS" -lt 15 ]
	kill -KILL "$(cat "$R/app/escaped")"
}
