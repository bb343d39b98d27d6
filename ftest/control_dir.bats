#!/usr/bin/env bats
# The control directory: new -> loaded, rejected + last_error, scale-only and full changes,
# cold start from loaded, SIGHUP; and what a hostile or unlucky directory does: links, FIFOs,
# slow writers, a full or read-only filesystem, leftover claims, releases too big to exec.
load helpers

# A claim as a dead hsup leaves it: .new.claimed.<ns>.<pid>.<start time>; no process started
# at clock tick 1 runs now, whatever its pid.
dead_claim() { echo ".new.claimed.$1.999999.1"; }

# Runs hsup in a mount namespace of its own, after the shell commands $1 (mounts over $CTL).
start_hsup_ns() {
	local setup=$1
	shift
	unshare -m --propagation private sh -c "$setup"' && exec "$0" "$@"' "$HSUP" "$@" \
		>"$T/out" 2>"$T/err" &
	HSUP_PID=$!
}

inns() { nsenter -t "$HSUP_PID" -m -- "$@"; }

# Writes the release on stdin as new, through a temporary file, inside hsup's namespace.
new_in_ns() {
	inns sh -c 'cat >"$1/new.tmp" && mv "$1/new.tmp" "$1/new"' sh "$CTL"
}

release_field() { # release_field KEY: from GET /dynos
	api GET /dynos | python3 -c "import json,sys; print(json.load(sys.stdin)['Release']['$1'])"
}

web_and_worker() { # $1: web quantity, $2: env JSON, $3: version
	local env=${2:-}
	[ -n "$env" ] || env='{"GREETING": "one"}'
	release "[{\"Type\": \"web\", \"Quantity\": $1, \"Args\": [\"echo web \$GREETING; exec sleep 100\"]},
	          {\"Type\": \"worker\", \"Quantity\": 1, \"Args\": [\"exec sleep 100\"]}]" \
		"$env" new "${3:-1}"
}

# bats test_tags=drivers
@test "a valid new becomes loaded and its dynos run" {
	web_and_worker 1
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	[ ! -e "$CTL/new" ]
	[ -f "$CTL/loaded" ]
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["Env"]["GREETING"] == "one"' "$CTL/loaded"
	[ "$(stat -c %a "$CTL/loaded")" = 600 ] # config vars are secrets
	[ -z "$(ls -A "$CTL" | grep -v '^loaded$')" ]
}

# bats test_tags=drivers
@test "an invalid new is rejected with the reason, and the dynos run on untouched" {
	web_and_worker 1
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	before="$(dyno_pid web.1) $(dyno_pid worker.1)"
	printf '{"Version": 2,\n "Processes": [\n  {"Type": "web" "Quantity": 1}]}\n' >"$CTL/new"
	wait_for '[ -f "$CTL/last_error" ]'
	grep -q "invalid JSON at line 3, column" "$CTL/last_error"
	[ -f "$CTL/rejected" ] && [ ! -e "$CTL/new" ]
	echo '{"Processes": [{"Type": "web", "Quantity": -2, "Args": ["x"]}]}' >"$CTL/new"
	wait_for 'grep -q "Processes\[0\].Quantity is -2" "$CTL/last_error"'
	echo '{"Env": {"BAD NAME": "x"}}' >"$CTL/new"
	wait_for 'grep -q "Env key \"BAD NAME\" is not a valid variable name" "$CTL/last_error"'
	grep -q "GREETING" "$CTL/loaded"
	[ "$(dyno_pid web.1) $(dyno_pid worker.1)" = "$before" ]
	# A good release afterwards clears the rejection.
	web_and_worker 2 '{"GREETING": "one"}' 3
	wait_for '[ ! -e "$CTL/last_error" ] && [ ! -e "$CTL/rejected" ]'
}

# bats test_tags=drivers
@test "a scale-only change starts and stops only the difference" {
	web_and_worker 2
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 web.2 worker.1" ]'
	before="$(dyno_pid web.1) $(dyno_pid worker.1)"
	web_and_worker 3 '{"GREETING": "one"}' 2
	wait_for '[ "$(running_dynos)" = "web.1 web.2 web.3 worker.1" ]'
	[ "$(dyno_pid web.1) $(dyno_pid worker.1)" = "$before" ]
	web_and_worker 1 '{"GREETING": "one"}' 3
	wait_for '[ "$(running_dynos)" = "web.1 worker.1" ]'
	[ "$(dyno_pid web.1) $(dyno_pid worker.1)" = "$before" ]
	[ "$(dyno_field web.1 Release)" = 3 ]
}

# bats test_tags=drivers
@test "an env change replaces every dyno" {
	web_and_worker 1
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	old_web=$(dyno_pid web.1) old_worker=$(dyno_pid worker.1)
	web_and_worker 1 '{"GREETING": "two"}' 2
	wait_for 'grep -q "web.1 *| web two" "$T/out"'
	wait_for '[ "$(running_dynos)" = "web.1 worker.1" ]'
	[ "$(dyno_pid web.1)" != "$old_web" ]
	[ "$(dyno_pid worker.1)" != "$old_worker" ]
	! kill -0 "$old_web" 2>/dev/null
}

# bats test_tags=drivers
@test "a restarted hsup resumes from loaded" {
	web_and_worker 2
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 web.2 worker.1" ]'
	kill -TERM "$HSUP_PID"
	wait_hsup
	[ ! -e "$CTL/new" ] && [ -f "$CTL/loaded" ] && [ ! -e "$SOCK" ]
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 web.2 worker.1" ]'
}

# bats test_tags=drivers
@test "a claim left by a crashed hsup is not lost" {
	web_and_worker 1
	claim=$(dead_claim "$(date +%s%N)")
	mv "$CTL/new" "$CTL/$claim"
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	[ -f "$CTL/loaded" ] && [ ! -e "$CTL/$claim" ]
}

# bats test_tags=drivers
@test "of several claims left by a dead hsup, the newest is applied and the others removed" {
	# Version N runs N web dynos; the claim times are fixed so the directory order is too.
	for v in 2 4 1 3; do
		web_and_worker "$v" '{"GREETING": "one"}' "$v"
		mv "$CTL/new" "$CTL/$(dead_claim "1${v}00000000000000000")"
	done
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 web.2 web.3 web.4 worker.1" ]'
	[ "$(release_field Version)" = 4 ]
	wait_for '[ -f "$CTL/loaded" ]'
	grep -q '"Version": 4' "$CTL/loaded"
	[ -z "$(ls -A "$CTL" | grep -v '^loaded$')" ]
}

# bats test_tags=drivers
@test "a new present at start is newer than any claim" {
	web_and_worker 3 '{"GREETING": "one"}' 1
	mv "$CTL/new" "$CTL/$(dead_claim "$(date +%s%N)")"
	web_and_worker 1 '{"GREETING": "one"}' 2
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	[ "$(release_field Version)" = 2 ]
	[ -z "$(ls -A "$CTL" | grep -v '^loaded$')" ]
}

# bats test_tags=drivers
@test "a claim of a live hsup is left alone" {
	cp /bin/sleep "$T/bin/owner" # a live "hsup": its pid and start time name the claim
	"$T/bin/owner" 100 &
	owner=$!
	start=$(sed 's/.*) //' "/proc/$owner/stat" | cut -d' ' -f20)
	web_and_worker 1
	claim=".new.claimed.$(date +%s%N).$owner.$start"
	mv "$CTL/new" "$CTL/$claim"
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && grep -q "waiting for a release" "$T/err"'
	[ "$(api GET /status)" = '{"Processes":{}}' ]
	[ -f "$CTL/$claim" ] && [ ! -e "$CTL/new" ] && [ ! -e "$CTL/loaded" ]
	kill "$owner"
}

# bats test_tags=drivers
@test "a symbolic link as new is refused without being followed" {
	web_and_worker 1
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	echo 'root:TOPSECRET:19000:0:99999:7:::' >"$T/shadow"
	ln -s "$T/shadow" "$CTL/new"
	wait_for '[ -f "$CTL/last_error" ]'
	[ "$(cat "$CTL/last_error")" = "new is a symbolic link, not a regular file: refused without reading it" ]
	[ -L "$CTL/rejected" ] && [ ! -e "$CTL/new" ]
	# said once the take is back on the loop: after last_error, which the take wrote
	wait_for 'grep -q "rejected $CTL/new: new is a symbolic link" "$T/err"'
	! grep -rq TOPSECRET "$CTL" "$T/err" "$T/out"
	[ "$(running_dynos)" = "web.1 worker.1" ]
}

# bats test_tags=drivers
@test "a symbolic link as loaded is refused at start, and as new by hsup build" {
	echo '{"Version": 1, "Processes": [{"Type": "web", "Quantity": 1, "Args": ["sleep 100"]}]}' \
		>"$T/release.json"
	ln -s "$T/release.json" "$CTL/loaded"
	run timeout 10 "$HSUP" start
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ]
	[[ "$output" == *"loaded is a symbolic link, not a regular file: refused without reading it"* ]]
	rm "$CTL/loaded"
	echo 'TOPSECRET' >"$T/secret"
	ln -s "$T/secret" "$CTL/new"
	run "$HSUP" build
	[ "$status" -eq 1 ]
	[[ "$output" == *"new is a symbolic link, not a regular file: refused without reading it"* ]]
	[[ "$output" != *TOPSECRET* ]]
}

# bats test_tags=drivers
@test "a FIFO as new is refused by its type while the loop keeps answering" {
	web_and_worker 1
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	mkfifo "$CTL/new"
	wait_for '[ -f "$CTL/last_error" ]'
	[ "$(cat "$CTL/last_error")" = "new is a FIFO, not a regular file: refused without reading it" ]
	[ -p "$CTL/rejected" ] && [ ! -e "$CTL/new" ]
	[ "$(curl -sS --max-time 5 --unix-socket "$SOCK" http://hsup/health)" = OK ]
	[ "$(running_dynos)" = "web.1 worker.1" ]
	# A good release after it is taken as usual.
	web_and_worker 2 '{"GREETING": "one"}' 2
	wait_for '[ "$(running_dynos)" = "web.1 web.2 worker.1" ] && [ ! -e "$CTL/last_error" ]'
}

# Writes a release as new in place, in two halves 3 s apart, as a slow `cat > new` would.
slow_writer() {
	{
		printf '{"Version": 2, "Env": {"GREETING": "two"},\n'
		sleep 3
		printf ' "Processes": [{"Type": "web", "Quantity": 1, "Args": ["echo web $GREETING; exec sleep 100"]}]}\n'
	} >"$CTL/new"
}

# bats test_tags=drivers
@test "a release still being written is taken only once its writer is done" {
	web_and_worker 1
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	slow_writer
	wait_for 'grep -q "web.1 *| web two" "$T/out"'
	[ "$(release_field Version)" = 2 ]
	[ ! -e "$CTL/rejected" ] && [ ! -e "$CTL/last_error" ]
	wait_for 'grep -q GREETING.*two "$CTL/loaded"'
}

@test "without read leases, a release still being written is not taken either" {
	id nobody >/dev/null 2>&1 || skip "no user nobody to run hsup as"
	command -v setpriv >/dev/null || skip "setpriv is not installed"
	# hsup as nobody holds no lease on root's files (no CAP_LEASE): it falls back to waiting
	# for the writer to close the file.
	chmod 755 "$T" && chmod 777 "$CTL" && mkdir -m 777 "$T/run"
	SOCK=$T/run/sock
	web_and_worker 1
	HSUP_STATE_DIR=$T/run/state setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$HSUP" start -s "$SOCK" >"$T/out" 2>"$T/err" &
	HSUP_PID=$!
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	slow_writer
	wait_for 'grep -q "web.1 *| web two" "$T/out"'
	grep -q "no read lease on new" "$T/err"
	[ "$(release_field Version)" = 2 ]
	[ ! -e "$CTL/rejected" ] && [ ! -e "$CTL/last_error" ]
}

# bats test_tags=drivers
@test "a release with a config var too big to pass to a process is refused" {
	web_and_worker 1
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	before="$(dyno_pid web.1) $(dyno_pid worker.1)"
	big=$(head -c 200000 /dev/zero | tr '\0' x)
	web_and_worker 1 "{\"GREETING\": \"one\", \"BIG\": \"$big\"}" 2
	wait_for '[ -f "$CTL/last_error" ]'
	grep -q "new: Env.BIG is 200004 bytes as KEY=VALUE; the kernel passes a variable of at most 131071 bytes to a process (MAX_ARG_STRLEN)" "$CTL/last_error"
	[ "$(release_field Version)" = 1 ]
	[ "$(dyno_pid web.1) $(dyno_pid worker.1)" = "$before" ]
	grep -q '"Version": 1' "$CTL/loaded"
}

# bats test_tags=drivers
@test "dynos do not inherit the SIGIO hsup ignores" {
	release '[{"Type": "web", "Quantity": 1, "Args": ["grep ^SigIgn: /proc/$$/status; exec sleep 100"]}]'
	start_hsup start -s "$SOCK"
	wait_for 'grep -q "web.1 *| SigIgn:" "$T/out"'
	mask=$(sed -n 's/.*web.1 *| SigIgn:[[:space:]]*//p' "$T/out")
	[ $((0x$mask & (1 << 28))) -eq 0 ] # SIGIO is signal 29
}

# bats test_tags=drivers
@test "when loaded cannot be written for want of space, hsup says so and retries until it can" {
	command -v nsenter >/dev/null || skip "nsenter is not installed"
	start_hsup_ns "mount -t tmpfs -o size=64k tmpfs '$CTL'" start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && grep -q "waiting for a release" "$T/err"'
	echo '{"Version": 1, "Processes": [{"Type": "web", "Quantity": 1, "Args": ["exec sleep 100"]}]}' | new_in_ns
	wait_for '[ "$(running_dynos)" = web.1 ] && inns test -f "$CTL/loaded"'
	# Fill the filesystem but for one page, which the next release takes.
	inns dd if=/dev/zero of="$CTL/reserve" bs=4k count=1 status=none
	inns dd if=/dev/zero of="$CTL/fill" bs=4k status=none || true
	inns rm "$CTL/reserve"
	echo '{"Version": 2, "Processes": [{"Type": "web", "Quantity": 2, "Args": ["exec sleep 100"]}]}' | new_in_ns
	wait_for '[ "$(running_dynos)" = "web.1 web.2" ]'
	[ "$(release_field Version)" = 2 ]
	wait_for '[[ "$(release_field Note)" == *"loaded is out of date: release v2 runs, but writing it failed"*"No space left on device"* ]]'
	grep -q "loaded is out of date: release v2 runs.*No space left on device" "$T/err"
	run "$HSUP" -s "$SOCK" status
	[[ "$output" == *"warning: loaded is out of date"* ]]
	inns grep -q '"Version": 1' "$CTL/loaded"
	inns rm "$CTL/fill"
	wait_for 'inns grep -q "\"Version\": 2" "$CTL/loaded"' 70
	wait_for '[ "$(release_field Note)" = None ]'
	grep -q "loaded written (release v2) after [0-9]* failed attempts" "$T/err"
	[ -z "$(inns ls -A "$CTL" | grep -v '^loaded$')" ]
}

# bats test_tags=drivers
@test "in a read-only directory, the newest release left in a claim runs and the note says why loaded is stale" {
	command -v nsenter >/dev/null || skip "nsenter is not installed"
	web_and_worker 1 '{"GREETING": "one"}' 1
	mv "$CTL/new" "$CTL/loaded"
	web_and_worker 2 '{"GREETING": "one"}' 2
	claim=$(dead_claim "$(date +%s%N)")
	mv "$CTL/new" "$CTL/$claim"
	start_hsup_ns "mount --bind '$CTL' '$CTL' && mount -o remount,bind,ro '$CTL'" start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 web.2 worker.1" ]'
	[ "$(release_field Version)" = 2 ]
	wait_for '[[ "$(release_field Note)" == *"loaded is out of date: release v2 runs"*"Read-only file system"* ]]'
	grep -q '"Version": 1' "$CTL/loaded" && [ -f "$CTL/$claim" ]
}

# bats test_tags=drivers
@test "SIGHUP re-reads the control directory" {
	web_and_worker 1
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	# Edit loaded in place (no new file event), then ask hsup to look again.
	python3 - "$CTL/loaded" <<-'EOS'
	import json, sys
	d = json.load(open(sys.argv[1])); d["Processes"][0]["Quantity"] = 2
	json.dump(d, open(sys.argv[1], "w"))
	EOS
	sleep 0.3
	[ "$(running_dynos)" = "web.1 worker.1" ]
	kill -HUP "$HSUP_PID"
	wait_for '[ "$(running_dynos)" = "web.1 web.2 worker.1" ]'
}

# bats test_tags=drivers
@test "with no release yet, hsup waits for the first one" {
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && grep -q "waiting for a release: write it to $CTL/new" "$T/err"'
	[ "$(api GET /status)" = '{"Processes":{}}' ]
	web_and_worker 1
	wait_for '[ "$(running_dynos)" = "web.1 worker.1" ]'
}

# Every thread of hsup's: how often each has gone to sleep and been woken, summed.
wakeups() {
	cat "/proc/$HSUP_PID"/task/*/status | awk '$1 == "voluntary_ctxt_switches:" { s += $2 } END { print s }'
}

# bats test_tags=drivers
@test "an idle hsup does not wake up: inotify tells it of a new release, which it takes at once" {
	web_and_worker 1
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	sleep 1
	local w0 w1
	w0=$(wakeups)
	sleep 6 # three of the polls it made every 2 s before, six of libcurl's speed checks
	w1=$(wakeups)
	echo "woke $((w1 - w0)) times in 6 s"
	[ "$((w1 - w0))" -eq 0 ]
	web_and_worker 1 '{"GREETING": "two"}' 2
	wait_for 'grep -q "web.1 *| web two" "$T/out"'
}
