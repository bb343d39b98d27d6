#!/bin/bash
# What following an app on the Platform API costs, and what libcurl would cost if it were
# linked into hsup rather than loaded by the poller and the logplex forwarder:
#   1. `hsup run -- true` (simple driver) with hsup as built, and with the same objects linked
#      against libcurl: wall time and peak RSS, N runs each, interleaved;
#   2. hsup following an unchanged app (a scripted Platform API on 127.0.0.1, ftest's
#      fake_heroku.py) against the same hsup supervising the same release from a control
#      directory, side by side for SECS seconds: CPU time, wake-ups (voluntary context
#      switches), requests made, RSS.
#   bench/poller.sh [N [SECS]]     defaults: 200 runs, 60 s (BENCH_QUICK=1: 50 runs, 20 s)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${BENCH_QUICK:-}" ]; then N=${1:-50} SECS=${2:-20}; else N=${1:-200} SECS=${2:-60}; fi
INTERVAL=${INTERVAL:-10}
WORK=$(mktemp -d /tmp/hsup-bench-poller.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# ---- 1. linking libcurl ----
LIBS=$(make -s -n build/release/hsup | awk '/-o build\/release\/hsup/ {for (i = 1; i <= NF; i++) if ($i ~ /^-l|^-Wl/) printf "%s ", $i}')
cc -o "$WORK/hsup-linked" build/release/hsupd/main.o build/release/libhsup.a $LIBS \
	-Wl,--no-as-needed -lcurl
for _ in 1 2 3; do
	bench/lctime "$N" build/hsup run -- true >>"$WORK/built.txt" &
	wait $!
	bench/lctime "$N" "$WORK/hsup-linked" run -- true >>"$WORK/linked.txt" &
	wait $!
done
built_ms=$(awk '{print $1 / 1e6}' "$WORK/built.txt" | median)
linked_ms=$(awk '{print $1 / 1e6}' "$WORK/linked.txt" | median)
built_kb=$(awk '{print $2}' "$WORK/built.txt" | median)
linked_kb=$(awk '{print $2}' "$WORK/linked.txt" | median)
echo "hsup run -- true, $((3 * N)) runs each (median):"
printf '  %-30s %8.2f ms  peak RSS %6d kB\n' "as built (libcurl loaded on use)" "$built_ms" "$built_kb"
printf '  %-30s %8.2f ms  peak RSS %6d kB  (%.2fx the time)\n' "linked with libcurl" \
	"$linked_ms" "$linked_kb" "$(echo "$linked_ms / $built_ms" | bc -l)"

# ---- 2. following an unchanged app ----
mkdir -p "$WORK/ctl" "$WORK/slug/app"
echo 'exec sleep 86399' >"$WORK/slug/app/web.sh"
tar -C "$WORK/slug" -czf "$WORK/slug.tgz" ./app
python3 - "$WORK" <<'EOS'
import json, sys
w = sys.argv[1]
json.dump({"token": "t", "app": {"id": "a1", "name": "myapp", "stack": {"name": "heroku-22"}},
           "releases": [{"id": "r1", "version": 1, "status": "succeeded", "slug": {"id": "s1"}}],
           "config_vars": {"r1": {"A": "1"}},
           "slugs": {"s1": {"process_types": {"web": "bash web.sh"}, "file": w + "/slug.tgz"}},
           "formation": [{"type": "web", "quantity": 1, "command": "bash web.sh"}]},
          open(w + "/api.json", "w"))
json.dump({"Version": 1, "Slug": w + "/slug.tgz", "Env": {"A": "1"},
           "Processes": [{"Type": "web", "Quantity": 1, "Args": ["bash web.sh"]}]},
          open(w + "/ctl/new", "w"))
EOS
python3 ftest/fake_heroku.py --mode api --state "$WORK/api.json" --log "$WORK/api.log" \
	--port-file "$WORK/port" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
HEROKU_ACCESS_TOKEN=t HSUP_DATA_DIR=$WORK/data1 HSUP_STATE_DIR=$WORK/state1 build/hsup start \
	-a myapp --api-url "http://127.0.0.1:$(cat "$WORK/port")" --poll-interval "$INTERVAL" \
	>/dev/null 2>&1 &
API_PID=$!
PIDS+=($API_PID)
HSUP_CONTROL_DIR=$WORK/ctl HSUP_DATA_DIR=$WORK/data2 HSUP_STATE_DIR=$WORK/state2 build/hsup \
	start >/dev/null 2>&1 &
DIR_PID=$!
PIDS+=($DIR_PID)
sleep 3 # both running their dyno
# time on a CPU, from the scheduler's own count (ns), finer than the ticks of /proc/PID/stat
cpu_ms() { awk '{printf "%.2f", $1 / 1e6}' "/proc/$1/schedstat"; }
wakeups() { awk '/^voluntary_ctxt_switches/ {print $2}' "/proc/$1/status"; }
rss() { awk '/^VmRSS/ {r = $2} /^RssAnon/ {a = $2} END {printf "%6d kB (anon %5d)", r, a}' "/proc/$1/status"; }
reqs() { wc -l <"$WORK/api.log"; }
a0=$(cpu_ms $API_PID) d0=$(cpu_ms $DIR_PID) aw0=$(wakeups $API_PID) dw0=$(wakeups $DIR_PID)
r0=$(reqs)
sleep "$SECS"
a1=$(cpu_ms $API_PID) d1=$(cpu_ms $DIR_PID) aw1=$(wakeups $API_PID) dw1=$(wakeups $DIR_PID)
r1=$(reqs)
echo "over ${SECS} s with one dyno, an unchanged app, a poll every ${INTERVAL} s:"
printf '  %-28s CPU %5s ms  wake-ups %5d  requests %4d  RSS %s\n' \
	"following the Platform API" "$(echo "$a1 - $a0" | bc)" $((aw1 - aw0)) $((r1 - r0)) "$(rss $API_PID)"
printf '  %-28s CPU %5s ms  wake-ups %5d  requests %4s  RSS %s\n' \
	"control directory" "$(echo "$d1 - $d0" | bc)" $((dw1 - dw0)) - "$(rss $DIR_PID)"
python3 - "$WORK/api.log" "$r0" <<'EOS'
import json, sys
lines = open(sys.argv[1]).read().splitlines()[int(sys.argv[2]):]
st = {}
for l in lines:
    r = json.loads(l)
    st[r["status"]] = st.get(r["status"], 0) + 1
print("  the API's answers meanwhile:", ", ".join(f"{n} x {s}" for s, n in sorted(st.items(), key=str)))
EOS
