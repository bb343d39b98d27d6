# shellcheck shell=bash
# Shared by bench/run.sh: the work directory and its cleanup, the supervisors under test
# (hsup and its peers), and small statistics helpers. Sourced, never run.

HSUP=${HSUP:-$PWD/build/hsup}
WAITN=${WAITN:-$PWD/bench/waitn}
SPAWNFLOOR=${SPAWNFLOOR:-$PWD/bench/spawnfloor}

# Every dyno of a run is `sleep $SECS`: a command line no other program on the machine runs,
# so counting and cleaning up by it cannot touch anyone else's processes.
SECS="86399.$$"
MARK=(sleep "$SECS")
# The log generators exec under this name (bash's exec -a), for the same reason: their command
# lines are "$GEN_MARK $NLINES" and "$GEN_MARK -n $NLINES".
GEN_MARK="hsup-bench-gen-$$"
NLINES=${NLINES:-1000000}

WORK=$(mktemp -d /tmp/hsup-bench.XXXXXX)
SUP_PID=      # the supervisor running now, if any
SUP_NAME=
declare -a WARNINGS=()

log() { printf '%s\n' "$*" >&2; }

warn() {
	log "WARNING: $*"
	WARNINGS+=("$*")
}

# ---- processes ----

# Is PID running (not gone, not a zombie)?
alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# Waits up to $2 seconds for PID $1 to end.
wait_gone() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		alive "$1" || return 0
		sleep 0.05
	done
	! alive "$1"
}

# SIGKILLs whatever still runs one of our marked command lines; says so when it finds any.
kill_marked() {
	local pids
	pids=$("$WAITN" -l -- "${MARK[@]}"
		"$WAITN" -l -- "$GEN_MARK" "$NLINES"
		"$WAITN" -l -- "$GEN_MARK" -n "$NLINES")
	[ -n "$pids" ] || return 0
	# shellcheck disable=SC2086 # one pid a word
	kill -KILL $pids 2>/dev/null
	echo "$pids" | wc -l
}

# Stops the running supervisor (SIGTERM, SIGKILL after 30 s) and checks that none of its dynos
# survived it.
stop_sup() {
	[ -n "$SUP_PID" ] || return 0
	kill -TERM "$SUP_PID" 2>/dev/null
	if ! wait_gone "$SUP_PID" 30; then
		warn "$SUP_NAME (pid $SUP_PID) did not exit within 30 s of SIGTERM: killed"
		kill -KILL "$SUP_PID" 2>/dev/null
	fi
	wait "$SUP_PID" 2>/dev/null
	SUP_PID=
	# A dyno may take a moment to be reaped after its supervisor exits.
	if ! "$WAITN" -d -n 0 -t 5 -- "${MARK[@]}" >/dev/null 2>&1; then
		warn "$SUP_NAME left $(kill_marked) dyno(s) running after it exited: killed"
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$SUP_PID" ]; then
		kill -TERM "$SUP_PID" 2>/dev/null
		wait_gone "$SUP_PID" 10 || kill -KILL "$SUP_PID" 2>/dev/null
		wait "$SUP_PID" 2>/dev/null
	fi
	local n
	n=$(kill_marked)
	[ -z "$n" ] || log "cleanup: killed $n leftover benchmark process(es)"
	rm -rf "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'exit 143' TERM

# ---- the supervisors ----

have() {
	case $1 in
	hsup) [ -x "$HSUP" ] ;;
	floor) [ -x "$SPAWNFLOOR" ] ;;
	s6) command -v s6-svscan >/dev/null ;;
	*) command -v "$1" >/dev/null ;;
	esac
}

supervisord_conf() { # supervisord_conf DIR N
	cat <<EOF
[unix_http_server]
file=$1/supervisor.sock

[supervisord]
logfile=$1/supervisord.log
pidfile=$1/supervisord.pid
childlogdir=$1
minfds=10000
minprocs=200

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
EOF
	[ "$2" -gt 0 ] || return 0
	cat <<EOF

[program:web]
command=${MARK[*]}
numprocs=$2
process_name=%(program_name)s_%(process_num)d
autorestart=true
startsecs=0
redirect_stderr=true
stdout_logfile=/dev/null
stdout_logfile_maxbytes=0
EOF
}

# s6_scandir DIR N: an s6 scan directory of N services, each run by bash as hsup's dynos are.
s6_scandir() {
	local i
	mkdir -p "$1"
	for ((i = 1; i <= $2; i++)); do
		mkdir "$1/web.$i"
		printf '#!/bin/bash\nexec %s\n' "${MARK[*]}" >"$1/web.$i/run"
		chmod +x "$1/web.$i/run"
	done
}

# start_sup NAME N: launches supervisor NAME running N marker dynos in the background.
# Sets SUP_PID (the supervisor's own process) and T0 (bash's $EPOCHREALTIME at launch).
start_sup() {
	local name=$1 n=$2 dir
	dir=$WORK/$name-$n
	rm -rf "$dir"
	mkdir -p "$dir"
	SUP_NAME=$name
	case $name in
	hsup)
		printf '{"Version": 1, "Env": null, "Processes": [%s]}\n' \
			"{\"Type\": \"web\", \"Quantity\": $n, \"Args\": [\"exec ${MARK[*]}\"]}" \
			>"$dir/new"
		T0=$EPOCHREALTIME
		HSUP_CONTROL_DIR=$dir "$HSUP" start >"$dir/out" 2>"$dir/err" &
		;;
	foreman)
		echo "web: exec ${MARK[*]}" >"$dir/Procfile"
		T0=$EPOCHREALTIME
		foreman start -f "$dir/Procfile" -m "web=$n" >"$dir/out" 2>&1 &
		;;
	floor)
		T0=$EPOCHREALTIME
		"$SPAWNFLOOR" "$n" "${MARK[@]}" >"$dir/out" 2>&1 &
		;;
	s6)
		s6_scandir "$dir/scan" "$n"
		T0=$EPOCHREALTIME
		s6-svscan -c "$((n + 10))" "$dir/scan" >"$dir/out" 2>&1 &
		;;
	supervisord)
		supervisord_conf "$dir" "$n" >"$dir/supervisord.conf"
		T0=$EPOCHREALTIME
		supervisord -n -c "$dir/supervisord.conf" >"$dir/out" 2>&1 &
		;;
	*)
		log "unknown supervisor $name"
		return 1
		;;
	esac
	SUP_PID=$!
}

# Waits until N dynos run; prints the milliseconds since T0. Fails (and says why) on timeout.
wait_dynos() { # wait_dynos N [TIMEOUT_S]
	local out
	if out=$("$WAITN" -s "$T0" -n "$1" -t "${2:-120}" -- "${MARK[@]}" 2>&1); then
		echo "$out"
	else
		warn "$SUP_NAME: $out"
		return 1
	fi
}

# ---- /proc readings ----

# sup_pids: the running supervisor's own processes: SUP_PID and its descendants but the dynos.
sup_pids() {
	ps -e -o pid=,ppid=,args= | awk -v root="$SUP_PID" -v mark="${MARK[*]}" '
		{ pid = $1; ppid = $2; $1 = $2 = ""; sub(/^ +/, ""); up[pid] = ppid; args[pid] = $0 }
		END {
			for (p in up) {
				for (q = p; q in up && q != root && q > 1; q = up[q]) {}
				if (q == root && args[p] != mark) print p
			}
		}'
}

status_kb() { # status_kb PID FIELD: a "kB" line of /proc/PID/status
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

cpu_ms() { # cpu_ms PID: user + system CPU time of PID itself, in milliseconds
	local stat
	stat=$(cat "/proc/$1/stat") || return 1
	stat=${stat##*) }
	# After "pid (comm) ": field 1 is the state, 12 utime, 13 stime (in clock ticks).
	echo "$stat" | awk -v hz="$(getconf CLK_TCK)" '{ print ($12 + $13) * 1000 / hz }'
}

# ---- statistics ----

declare -A SAMPLES=()

# record KEY VALUE: one measurement, kept for the summary and written to raw.tsv.
record() {
	SAMPLES[$1]="${SAMPLES[$1]:-} $2"
	printf '%s\t%s\n' "$1" "$2" >>"$RESULTS/raw.tsv"
}

count() { # count KEY: how many measurements KEY has
	local -a v
	read -r -a v <<<"${SAMPLES[$1]:-}"
	echo "${#v[@]}"
}

median() { # median KEY [DECIMALS]: of the measurements of KEY (default 1 decimal), or "-"
	# shellcheck disable=SC2086 # one value a word
	printf '%s\n' ${SAMPLES[$1]:-} | sort -g | awk -v d="${2:-1}" '
		NF { v[++n] = $1 }
		END {
			if (n == 0) { print "-"; exit }
			m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			printf "%.*f\n", d, m
		}'
}

spread() { # spread KEY: "min-max" of KEY's measurements
	# shellcheck disable=SC2086
	printf '%s\n' ${SAMPLES[$1]:-} | sort -g | awk '
		NF && !n++ { lo = $1 }
		NF { hi = $1 }
		END { if (n) printf "%.1f-%.1f\n", lo, hi; else print "-" }'
}

ratio() { # ratio A B: A / B with 2 decimals (3 under 0.1), or "-"
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) { print "-"; exit }
		r = a / b
		printf(r < 0.1 ? "%.3f\n" : "%.2f\n", r)
	}'
}

elapsed_ms() { # elapsed_ms T0 [T1]: milliseconds between two $EPOCHREALTIME readings
	awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }'
}

# ---- how busy the rest of the machine was ----

busy_ticks() { # the machine's busy and total CPU time so far, in clock ticks
	awk '$1 == "cpu" { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6 }' /proc/stat
}

# others_pct BUSY0 T0: sets OTHERS_PCT to the share of the machine's CPU (all CPUs, in %) that
# went to anything but this script and what it started, since busy_ticks printed BUSY0 at
# $EPOCHREALTIME T0. Call it in the script's own shell, not in $(...) nor a pipeline: `times`
# only counts the children of the shell it runs in.
others_pct() {
	local busy now ours
	read -r busy _ < <(busy_ticks)
	now=$EPOCHREALTIME
	times >"$WORK/times" # this shell's user and system time, then its waited-for children's
	ours=$(tr 'ms' '  ' <"$WORK/times" | awk '{ t += $1 * 60 + $2 + $3 * 60 + $4 } END { print t }')
	# shellcheck disable=SC2034 # read by run.sh
	OTHERS_PCT=$(awk -v b0="$1" -v b1="$busy" -v t0="$2" -v t1="$now" -v ours="$ours" \
		-v hz="$(getconf CLK_TCK)" -v n="$(nproc)" 'BEGIN {
		p = ((b1 - b0) / hz - ours) / ((t1 - t0) * n) * 100
		printf "%.0f\n", p < 0 ? 0 : p }')
}
