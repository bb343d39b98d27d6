# Shared by the functional tests: each test gets its own directory, control dir and socket,
# drives the hsup binary in $HSUP from outside, and leaves no process behind.

bats_require_minimum_version 1.5.0
load poll

HSUP=${HSUP:-$BATS_TEST_DIRNAME/../build/hsup}
HSUP=$(readlink -f "$HSUP")

setup() {
	T=$(mktemp -d /tmp/hsup-ftest.XXXXXX)
	CTL=$T/ctl
	SOCK=$T/sock
	mkdir -p "$CTL" "$T/bin"
	# under -d abspath (ftest/with-drivers.sh), a release without a slug runs in the app path
	[ "${HSUP_TEST_DRIVER:-simple}" != abspath ] || mkdir "$T/app"
	export HSUP_CONTROL_DIR=$CTL HSUP_STATE_DIR=$T/state HSUP_DATA_DIR=$T/data HSUP_APP_PATH=$T/app
	unset HSUP_CONTROL_SOCKET HEROKU_ACCESS_TOKEN
	HSUP_PID=
}

teardown() {
	local rc=0
	if [ -n "$HSUP_PID" ] && kill -0 "$HSUP_PID" 2>/dev/null; then
		kill -TERM "$HSUP_PID" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$HSUP_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$HSUP_PID" 2>/dev/null || true
		wait "$HSUP_PID" 2>/dev/null || rc=$?
	fi
	# Anything a test started from its own directory, should hsup have failed to stop it
	# (never with an empty $T, as when a file's own setup replaced this one's: "/" is everyone).
	[ -z "${T:-}" ] || pkill -KILL -f "$T/" 2>/dev/null || true
	check_clean_exit "$rc"
	local clean=$?
	rm -rf "$T"
	return "$clean"
}

# hsup must exit cleanly: no sanitizer report, no handle left open on its loop.
check_clean_exit() {
	if [ "${1:-0}" -ne 0 ] && [ "${1:-0}" -ne 143 ]; then
		echo "hsup exited with $1 when stopped" >&2
		cat "$T/err" >&2 2>/dev/null
		return 1
	fi
	if grep -Eq 'Sanitizer|runtime error:|internal: ' "$T/err" 2>/dev/null; then
		cat "$T/err" >&2
		return 1
	fi
	return 0
}

# Writes a release with the given process JSON list (and optional Env object) to $CTL/$3.
release() {
	local procs=$1 env=${2:-null} file=${3:-new} version=${4:-1}
	printf '{"Version": %s, "Env": %s, "Processes": %s}\n' "$version" "$env" "$procs" \
		>"$CTL/$file.tmp"
	mv "$CTL/$file.tmp" "$CTL/$file"
}

# Starts hsup in the background: output in $T/out, hsup's own messages in $T/err.
start_hsup() {
	"$HSUP" "$@" >"$T/out" 2>"$T/err" &
	HSUP_PID=$!
}

# Waits up to $2 seconds (default 10) for the shell condition $1 to hold.
wait_for() {
	local cond=$1 secs=${2:-10}
	poll_until "$cond" "$secs" && return 0
	echo "timed out after ${secs}s waiting for: $cond" >&2
	echo "--- stdout" >&2; cat "$T/out" >&2 2>/dev/null || true
	echo "--- stderr" >&2; cat "$T/err" >&2 2>/dev/null || true
	return 1
}

api() { # api METHOD PATH [BODY]
	if [ -n "${3:-}" ]; then
		curl -sS --unix-socket "$SOCK" -X "$1" -d "$3" "http://hsup$2"
	else
		curl -sS --unix-socket "$SOCK" -X "$1" "http://hsup$2"
	fi
}

api_code() { # prints the HTTP status
	curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X "$1" ${3:+-d "$3"} \
		"http://hsup$2"
}

# The pid of a dyno, from the control API ("" when it has none).
dyno_pid() {
	api GET "/dynos/$1" | python3 -c 'import json,sys; p=json.load(sys.stdin).get("Pid"); print(p if p else "")'
}

dyno_field() { # dyno_field NAME FIELD
	api GET "/dynos/$1" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2'))"
}

running_dynos() { # names of dynos with a pid, sorted, space separated
	api GET /dynos | python3 -c 'import json,sys; print(" ".join(sorted(d["Name"] for d in json.load(sys.stdin)["Dynos"] if d["Pid"])))'
}

hsup_exited() { ! kill -0 "$HSUP_PID" 2>/dev/null; }

# The process has ended: gone, or a zombie its new parent has not reaped yet.
proc_dead() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

# Waits for hsup to exit and sets $status to its exit code.
wait_hsup() {
	wait_for hsup_exited "${1:-20}"
	status=0
	wait "$HSUP_PID" || status=$?
	HSUP_PID=
	check_clean_exit 0
}

# A slug whose one entry climbs out of its target: ./app/../../escaped.
evil_slug() { # evil_slug FILE
	python3 - "$1" <<-'EOS'
	import io, sys, tarfile
	with tarfile.open(sys.argv[1], "w:gz") as t:
	    i = tarfile.TarInfo("./app/../../escaped"); i.size = 4
	    t.addfile(i, io.BytesIO(b"evil"))
	EOS
}
