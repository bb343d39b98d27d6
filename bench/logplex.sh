#!/bin/bash
# Dyno logs forwarded to logplex against the same lines printed to stdout.
#
#   bench/logplex.sh              (make bench-logplex builds what it needs and runs it)
#
# One dyno prints NLINES lines (seq: 7 bytes a line on average; text: an 81-byte line) through
# `hsup start --oneshot`, which exits once the dyno has ended and, with a logplex URL, once
# every line is delivered. Timed from launch to exit, median of REPS, interleaved:
#   stdout    no URL: lines to stdout (> /dev/null), as without this feature
#   logplex   --logplex-only --logplex-url: lines to bench/logplex_sink only
#   both      --logplex-url: lines to the sink and to stdout
# The sink (bench/logplex_sink, C and epoll, 204 at once) counts the frames it got; every run
# prints whether it got them all (nothing is asserted). Also: hsup's peak RSS in each run, its
# VmRSS idle with one dyno with and without a URL (libcurl loaded or not), and one run against
# ftest/fake_heroku.py (Python) to show whether such an endpoint keeps up.
# BENCH_QUICK=1: fewer lines and runs (indicative only).
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	REPS=2 NLINES=${NLINES_QUICK:-200000}
else
	REPS=${REPS:-5} NLINES=${NLINES:-2000000}
fi
NLINES_PY=${NLINES_PY:-100000}
# shellcheck source=bench/lib.sh
. bench/lib.sh
SINK=${SINK:-$PWD/bench/logplex_sink}
LINE='2024-05-01T12:00:00.000000+00:00 app[web.1]: at=info method=GET path=/ status=200'
RESULTS=${BENCH_RESULTS:-$PWD/bench/results}/logplex-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"
export HSUP_STATE_DIR=$WORK/state

for f in "$HSUP" "$WAITN" "$SINK" /usr/bin/time; do
	if [ ! -x "$f" ]; then
		log "$f is missing: run \`make bench-logplex\`"
		exit 1
	fi
done

SINK_PID=
stop_sink() { # the sink writes its totals line to $WORK/sink.out as it exits
	[ -n "$SINK_PID" ] || return 0
	kill -TERM "$SINK_PID" 2>/dev/null
	wait "$SINK_PID" 2>/dev/null
	SINK_PID=
}
trap 'stop_sink; cleanup' EXIT

start_sink() { # sets URL
	rm -f "$WORK/sink.port"
	"$SINK" "$WORK/sink.port" >"$WORK/sink.out" &
	SINK_PID=$!
	while [ ! -s "$WORK/sink.port" ]; do sleep 0.01; done
	URL="http://token:secret@127.0.0.1:$(cat "$WORK/sink.port")/logs"
}

make_generators() {
	mkdir -p "$WORK/bin"
	printf '#!/bin/bash\nexec -a %q seq %d\n' "$GEN_MARK" "$NLINES" >"$WORK/bin/gen-seq"
	printf '#!/bin/bash\nyes %q | exec -a %q head -n %d\n' "$LINE" "$GEN_MARK" "$NLINES" \
		>"$WORK/bin/gen-text"
	chmod +x "$WORK/bin/gen-seq" "$WORK/bin/gen-text"
}

# hsup_run GEN MODE: one timed run; records the wall time, the peak RSS, and for logplex
# modes what the sink got.
hsup_run() {
	local gen=$1 mode=$2 dir=$WORK/run t0 t1 rc got
	local -a flags=()
	rm -rf "$dir"
	mkdir -p "$dir"
	printf '{"Version": 1, "Processes": [%s]}\n' \
		"{\"Type\": \"log\", \"Quantity\": 1, \"Args\": [\"$WORK/bin/gen-$gen\"]}" >"$dir/new"
	case $mode in
	logplex) start_sink && flags=(--logplex-only --logplex-url "$URL") ;;
	both) start_sink && flags=(--logplex-url "$URL") ;;
	esac
	t0=$EPOCHREALTIME
	HSUP_CONTROL_DIR=$dir /usr/bin/time -o "$dir/rss" -f %M \
		"$HSUP" start --oneshot "${flags[@]}" >/dev/null 2>"$dir/err"
	rc=$?
	t1=$EPOCHREALTIME
	[ "$rc" -eq 0 ] || warn "$gen $mode: hsup exited with $rc: $(tail -3 "$dir/err")"
	record "logplex.$mode.$gen" "$(elapsed_ms "$t0" "$t1")"
	record "logplex.rss.$mode.$gen" "$(tail -1 "$dir/rss")"
	[ "$mode" = stdout ] && return 0
	stop_sink
	got=$(cat "$WORK/sink.out")
	got=${got#*frames=}
	got=${got%% *}
	record "logplex.delivered.$mode.$gen" "$got"
	[ "$got" = "$NLINES" ] ||
		warn "$gen $mode: the sink got $got frames of $NLINES ($(grep -c dropped "$dir/err") drop messages)"
	grep -q 'bad=0' "$WORK/sink.out" || warn "$gen $mode: the sink found bad requests: $(cat "$WORK/sink.out")"
}

# idle_rss URL|"": VmRSS and RssAnon of hsup supervising one sleep dyno, after it settled.
idle_rss() {
	local dir=$WORK/idle key=${1:+with_url}
	key=${key:-no_url}
	rm -rf "$dir"
	mkdir -p "$dir"
	printf '{"Version": 1, "Processes": [%s]}\n' \
		"{\"Type\": \"web\", \"Quantity\": 1, \"Args\": [\"exec ${MARK[*]}\"]}" >"$dir/new"
	HSUP_CONTROL_DIR=$dir "$HSUP" start ${1:+--logplex-url "$1"} >/dev/null 2>"$dir/err" &
	SUP_PID=$!
	SUP_NAME=hsup
	"$WAITN" -n 1 -t 10 -- "${MARK[@]}" >/dev/null || warn "idle: the dyno did not start"
	sleep 1
	record "logplex.idle_rss.$key" "$(status_kb "$SUP_PID" VmRSS)"
	record "logplex.idle_anon.$key" "$(status_kb "$SUP_PID" RssAnon)"
	grep -q libcurl "/proc/$SUP_PID/maps" && record "logplex.idle_curl.$key" 1
	stop_sup
}

# One run against the Python fake logplex of the tests, with fewer lines: does it keep up?
python_run() {
	local dir=$WORK/py t0 t1 got
	[ -f ftest/fake_heroku.py ] || return 0
	rm -rf "$dir"
	mkdir -p "$dir"
	echo '{}' >"$dir/state.json"
	python3 ftest/fake_heroku.py --mode logplex --state "$dir/state.json" \
		--log "$dir/requests.jsonl" --port-file "$dir/port" 2>/dev/null &
	local py=$!
	while [ ! -s "$dir/port" ]; do sleep 0.05; done
	printf '#!/bin/bash\nexec -a %q seq %d\n' "$GEN_MARK" "$NLINES_PY" >"$WORK/bin/gen-py"
	chmod +x "$WORK/bin/gen-py"
	printf '{"Version": 1, "Processes": [%s]}\n' \
		"{\"Type\": \"log\", \"Quantity\": 1, \"Args\": [\"$WORK/bin/gen-py\"]}" >"$dir/new"
	t0=$EPOCHREALTIME
	HSUP_CONTROL_DIR=$dir HSUP_LOGPLEX_FLUSH_TIMEOUT=60 "$HSUP" start --oneshot --logplex-only \
		--logplex-url "http://127.0.0.1:$(cat "$dir/port")/logs" >/dev/null 2>"$dir/err"
	t1=$EPOCHREALTIME
	kill "$py"
	wait "$py" 2>/dev/null
	got=$(python3 -c 'import json, sys
print(sum(len(json.loads(l).get("frames", [])) for l in open(sys.argv[1]) if json.loads(l)["status"] == 204))' "$dir/requests.jsonl")
	record logplex.python.ms "$(elapsed_ms "$t0" "$t1")"
	record logplex.python.delivered "$got"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
make_generators
for gen in seq text; do
	for ((rep = 1; rep <= REPS; rep++)); do
		for mode in stdout logplex both; do
			hsup_run "$gen" "$mode"
		done
		log "$gen run $rep/$REPS: stdout $(median "logplex.stdout.$gen") ms, logplex $(median "logplex.logplex.$gen") ms, both $(median "logplex.both.$gen") ms (medians so far)"
	done
done
for ((rep = 1; rep <= 3; rep++)); do
	idle_rss ""
	start_sink
	idle_rss "$URL"
	stop_sink
done
python_run

rate() { # rate MS: lines per second, in millions
	awk -v ms="$1" -v n="$2" 'BEGIN { if (ms == "-" || ms == 0) print "-"; else printf "%.2f M/s\n", n / ms / 1000 }'
}

summary() {
	local gen mode
	echo "hsup dyno logs to logplex, $(date '+%Y-%m-%d %H:%M')$([ "$QUICK" = 1 ] && echo ' (BENCH_QUICK: indicative only)')"
	echo "hsup: $("$HSUP" version) (git $(git rev-parse --short HEAD 2>/dev/null || echo '?')); machine: $(nproc) CPUs, Linux $(uname -r); load average at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "One dyno prints $NLINES lines; hsup start --oneshot from launch until it exits (every line delivered), ms, median of $REPS (min-max), and lines/s"
	printf '   %-34s %28s %28s\n' "" "seq (7 bytes)" "text (81 bytes)"
	for mode in stdout:'stdout only (no URL)' logplex:'logplex only (--logplex-only)' both:'logplex and stdout'; do
		printf '   %-34s' "${mode#*:}"
		for gen in seq text; do
			local m
			m=$(median "logplex.${mode%%:*}.$gen")
			printf ' %28s' "$m ($(spread "logplex.${mode%%:*}.$gen")) $(rate "$m" "$NLINES")"
		done
		echo
	done
	for mode in logplex both; do
		printf '   %-34s' "$mode / stdout"
		for gen in seq text; do
			printf ' %28s' "$(ratio "$(median "logplex.$mode.$gen")" "$(median "logplex.stdout.$gen")")"
		done
		echo
	done
	printf '   %-34s' "frames the sink got, each run"
	for gen in seq text; do
		# shellcheck disable=SC2086 # one value a word
		printf ' %28s' "$(printf '%s\n' ${SAMPLES[logplex.delivered.logplex.$gen]:-} ${SAMPLES[logplex.delivered.both.$gen]:-} | sort -u | tr '\n' ' ')"
	done
	echo "(of $NLINES)"
	printf '   %-34s' "peak RSS, kB (stdout/logplex/both)"
	for gen in seq text; do
		printf ' %28s' "$(median "logplex.rss.stdout.$gen" 0) / $(median "logplex.rss.logplex.$gen" 0) / $(median "logplex.rss.both.$gen" 0)"
	done
	echo
	echo "   hsup idle with one dyno, VmRSS (RssAnon) kB, median of 3: without a URL $(median logplex.idle_rss.no_url 0) ($(median logplex.idle_anon.no_url 0)), libcurl $([ "$(count logplex.idle_curl.no_url)" = 0 ] && echo 'not loaded' || echo LOADED);" \
		"with --logplex-url $(median logplex.idle_rss.with_url 0) ($(median logplex.idle_anon.with_url 0)), libcurl $([ "$(count logplex.idle_curl.with_url)" = 0 ] && echo 'not loaded' || echo loaded)"
	if [ "$(count logplex.python.ms)" -gt 0 ]; then
		echo "   against ftest/fake_heroku.py (Python) instead of the sink, $NLINES_PY seq lines:" \
			"$(median logplex.python.ms) ms ($(rate "$(median logplex.python.ms)" "$NLINES_PY")), $(median logplex.python.delivered 0) frames delivered"
	fi
	if [ "${#WARNINGS[@]}" -gt 0 ]; then
		echo
		echo "Warnings:"
		printf '   %s\n' "${WARNINGS[@]}"
	fi
}

summary | tee "$RESULTS/summary.txt"
