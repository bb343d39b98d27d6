#!/bin/bash
# hsup's benchmarks, each against peers in the same run: the floor (bench/spawnfloor, a bare
# loop of posix_spawn), s6, foreman and supervisord.
#
#   bench/run.sh [startup] [restart] [memory] [logs]     (default: all four)
#
#   1. startup  launch -> N `sleep` dynos all running (N = 100, 1000)
#   2. restart  SIGKILL one of N dynos -> its replacement running (N = 100, 1000)
#   3. memory   the supervisor's own RSS with 0, 100, 1000 dynos; its idle CPU and wake-ups
#               with 100
#   4. logs     a dyno printing 1,000,000 lines, through the supervisor to /dev/null
#
# Prints medians and hsup/peer ratios; nothing is asserted. Progress goes to stderr, the
# summary to stdout and to $BENCH_RESULTS/<date>/summary.txt with every sample in raw.tsv.
# BENCH_QUICK=1: a smoke run with fewer repetitions and lines (numbers only indicative).
# Needs build/hsup, bench/waitn and bench/spawnfloor (`make bench` builds them).
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/lib.sh
. bench/lib.sh

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	REPS=2 KILLS=5 MEM_REPS=1 IDLE_S=5 SETTLE_S=1 NLINES=${NLINES_QUICK:-200000}
else
	REPS=5 KILLS=20 MEM_REPS=3 IDLE_S=30 SETTLE_S=2
fi
STARTUP_SIZES=(100 1000)
MEM_SIZES=(0 100 1000)
RESTART_SIZES=(100 1000)
FOREMAN_TIMEOUT=${FOREMAN_TIMEOUT:-120}
LINE='2024-05-01T12:00:00.000000+00:00 app[web.1]: at=info method=GET path=/ status=200'

RESULTS=${BENCH_RESULTS:-$PWD/bench/results}/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS"

for f in "$HSUP" "$WAITN" "$SPAWNFLOOR"; do
	if [ ! -x "$f" ]; then
		log "$f is missing: run \`make build/hsup bench/waitn bench/spawnfloor\` (or \`make bench\`)"
		exit 1
	fi
done
PEERS=(floor)
for p in s6 foreman supervisord; do
	if have "$p"; then PEERS+=("$p"); else warn "$p is not installed: no $p column"; fi
done
SUPS=(hsup "${PEERS[@]}")
# The floor supervises nothing: it is in the start-up only. s6's supervisor is a process per
# dyno (s6-supervise) under s6-svscan: its idle cost is summed over them, its memory not shown.
RESTART_SUPS=() MEM_SUPS=() IDLE_SUPS=()
for p in "${SUPS[@]}"; do
	case $p in
	floor) ;;
	s6) RESTART_SUPS+=(s6) IDLE_SUPS+=(s6) ;;
	foreman) MEM_SUPS+=(foreman) IDLE_SUPS+=(foreman) ;; # it stops all when one exits
	*) RESTART_SUPS+=("$p") MEM_SUPS+=("$p") IDLE_SUPS+=("$p") ;;
	esac
done

# Many dynos take many descriptors; every supervisor gets the same limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
	warn "ulimit -n is $(ulimit -n): 1000 dynos may not fit"
fi

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
read -r BUSY_START _ < <(busy_ticks)
T_START=$EPOCHREALTIME

# ---- 1. start-up ----

bench_startup() {
	local rep n sup ms t0
	for ((rep = 1; rep <= REPS; rep++)); do
		for n in "${STARTUP_SIZES[@]}"; do
			for sup in "${SUPS[@]}"; do # interleaved, so load from elsewhere hits all alike
				sleep "$SETTLE_S" # the previous run's teardown is not this one's cost
				start_sup "$sup" "$n"
				if ms=$(wait_dynos "$n"); then
					record "startup.$sup.$n" "$ms"
					log "startup $sup N=$n run $rep/$REPS: $ms ms"
					# While at it: SIGTERM until no dyno is left.
					t0=$EPOCHREALTIME
					kill -TERM "$SUP_PID"
					if ms=$("$WAITN" -s "$t0" -d -n 0 -t 60 -- "${MARK[@]}"); then
						record "stop.$sup.$n" "$ms"
					fi
				fi
				stop_sup
			done
		done
	done
}

# ---- 2. restart latency ----

bench_restart() {
	local sup n i ms rss0 out
	local -a pids
	for n in "${RESTART_SIZES[@]}"; do
		for sup in "${RESTART_SUPS[@]}"; do
			start_sup "$sup" "$n"
			if ! wait_dynos "$n" >/dev/null; then
				stop_sup
				continue
			fi
			sleep "$SETTLE_S"
			rss0=$(status_kb "$SUP_PID" VmRSS)
			# Each kill hits a different dyno, never one that crashed before: hsup (rightly)
			# backs off from the second crash of the same dyno on.
			mapfile -t pids < <("$WAITN" -l -- "${MARK[@]}")
			for ((i = 0; i < KILLS && i < ${#pids[@]}; i++)); do
				if out=$("$WAITN" -k "${pids[$i]}" -n "$n" -t 10 -- "${MARK[@]}" 2>&1)
				then
					record "restart.$sup.$n" "$out"
					log "restart $sup N=$n kill $((i + 1))/$KILLS: $out ms"
				else
					warn "restart $sup N=$n: $out"
				fi
				sleep 0.2
			done
			sleep "$SETTLE_S"
			record "restart.$sup.$n.rss_before" "$rss0"
			record "restart.$sup.$n.rss_after" "$(status_kb "$SUP_PID" VmRSS)"
			stop_sup
		done
	done
}

# ---- 3. memory and idle CPU ----

# idle_counters: "CPU_MS WAKEUPS" so far, summed over the supervisor's own processes (each
# thread's voluntary context switches: how often it went to sleep and was woken).
idle_counters() {
	local p cpu=0 w=0
	for p in $(sup_pids); do
		cpu=$(awk -v a="$cpu" -v b="$(cpu_ms "$p" 2>/dev/null || echo 0)" 'BEGIN { print a + b }')
		w=$((w + $(cat /proc/"$p"/task/*/status 2>/dev/null |
			awk '$1 == "voluntary_ctxt_switches:" { s += $2 } END { print s + 0 }')))
	done
	echo "$cpu $w"
}

bench_memory() {
	local rep n sup c0 c1 w0 w1
	for ((rep = 1; rep <= MEM_REPS; rep++)); do
		for n in "${MEM_SIZES[@]}"; do
			for sup in "${IDLE_SUPS[@]}"; do
				[[ " ${MEM_SUPS[*]} " == *" $sup "* ]] || [ "$n" = 100 ] || continue
				start_sup "$sup" "$n"
				if ! wait_dynos "$n" >/dev/null; then
					stop_sup
					continue
				fi
				sleep "$SETTLE_S"
				if [[ " ${MEM_SUPS[*]} " == *" $sup "* ]]; then
					record "mem.$sup.$n" "$(status_kb "$SUP_PID" VmRSS)"
					record "anon.$sup.$n" "$(status_kb "$SUP_PID" RssAnon)"
					log "memory $sup N=$n run $rep/$MEM_REPS: VmRSS" \
						"$(status_kb "$SUP_PID" VmRSS) kB"
				fi
				if [ "$n" = 100 ] && [ "$rep" = 1 ]; then
					read -r c0 w0 < <(idle_counters)
					log "idle $sup: measuring for ${IDLE_S} s"
					sleep "$IDLE_S"
					read -r c1 w1 < <(idle_counters)
					record "idle.$sup" "$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')"
					record "wakeups.$sup" "$((w1 - w0))"
					[[ " ${MEM_SUPS[*]} " != *" $sup "* ]] ||
						record "mem_after_idle.$sup" "$(status_kb "$SUP_PID" VmRSS)"
				fi
				stop_sup
			done
		done
	done
}

# ---- 4. log throughput ----

make_generators() {
	mkdir -p "$WORK/bin"
	printf '#!/bin/bash\nexec -a %q seq %d\n' "$GEN_MARK" "$NLINES" >"$WORK/bin/gen-seq"
	printf '#!/bin/bash\nyes %q | exec -a %q head -n %d\n' "$LINE" "$GEN_MARK" "$NLINES" \
		>"$WORK/bin/gen-text"
	printf '#!/bin/bash\nexit 0\n' >"$WORK/bin/gen-empty"
	chmod +x "$WORK/bin/gen-empty" "$WORK/bin/gen-seq" "$WORK/bin/gen-text"
}

# hsup_oneshot GEN [WRAPPER...]: a fresh control directory whose release runs GEN once, then
# hsup (run through WRAPPER, if given) on it.
hsup_oneshot() {
	local dir=$WORK/logs-hsup gen=$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	printf '{"Version": 1, "Env": null, "Processes": [%s]}\n' \
		"{\"Type\": \"log\", \"Quantity\": 1, \"Args\": [\"$WORK/bin/gen-$gen\"]}" \
		>"$dir/new"
	HSUP_CONTROL_DIR=$dir "$@" "$HSUP" start --oneshot 2>"$dir/err"
}

# timed KEY CMD...: runs CMD in the foreground and records its wall time under KEY.
timed() {
	local key=$1 t0 t1 rc
	shift
	t0=$EPOCHREALTIME
	"$@"
	rc=$?
	t1=$EPOCHREALTIME
	if [ "$rc" -ne 0 ]; then
		warn "$key: exited with $rc"
		return "$rc"
	fi
	record "$key" "$(elapsed_ms "$t0" "$t1")"
}

to_null() { "$@" >/dev/null; }
to_cat() { "$@" | cat >/dev/null; }

foreman_logs() { # foreman_logs GEN: foreman until the generator ends, or FOREMAN_TIMEOUT
	local dir=$WORK/logs-foreman rc t0 t1
	mkdir -p "$dir"
	echo "log: $WORK/bin/gen-$1" >"$dir/Procfile"
	t0=$EPOCHREALTIME
	timeout --foreground -k 5 "$FOREMAN_TIMEOUT" foreman start -f "$dir/Procfile" \
		>/dev/null 2>"$dir/err"
	rc=$?
	t1=$EPOCHREALTIME
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		record "logs.foreman_hung.$1" 1
		warn "foreman ($1) did not finish within ${FOREMAN_TIMEOUT} s: killed (hung)"
		kill_marked >/dev/null
	elif [ "$rc" -ne 0 ]; then
		warn "foreman ($1) exited with $rc"
	else
		record "logs.foreman.$1" "$(elapsed_ms "$t0" "$t1")"
	fi
}

bench_logs() {
	local gen rep lines
	make_generators
	for gen in empty seq text; do
		for ((rep = 1; rep <= REPS; rep++)); do
			timed "logs.bare.$gen" to_null "$WORK/bin/gen-$gen"
			timed "logs.bare_cat.$gen" to_cat "$WORK/bin/gen-$gen"
			timed "logs.hsup.$gen" to_null hsup_oneshot "$gen"
			timed "logs.hsup_cat.$gen" to_cat hsup_oneshot "$gen"
			if have foreman; then foreman_logs "$gen"; fi
			log "logs $gen run $rep/$REPS done"
		done
		# Untimed: does every line come through, and how much memory does hsup take?
		lines=$(hsup_oneshot "$gen" | wc -l)
		[ "$gen" = empty ] || [ "$lines" = "$NLINES" ] ||
			warn "hsup printed $lines lines of $gen, not $NLINES"
		if [ -x /usr/bin/time ]; then
			hsup_oneshot "$gen" /usr/bin/time -o "$WORK/rss" -f %M >/dev/null
			record "logs.hsup_peak_rss.$gen" "$(tail -1 "$WORK/rss")"
			hsup_oneshot "$gen" /usr/bin/time -o "$WORK/rss" -f %M | cat >/dev/null
			record "logs.hsup_cat_peak_rss.$gen" "$(tail -1 "$WORK/rss")"
		fi
	done
}

# ---- the summary ----

cell() { # cell KEY [DECIMALS]: the median of KEY, or "-"
	median "$1" "${2:-1}"
}

summary() {
	echo "hsup benchmarks, $(date '+%Y-%m-%d %H:%M')$([ "$QUICK" = 1 ] && echo ' (BENCH_QUICK: indicative only)')"
	echo "hsup: $("$HSUP" version 2>/dev/null) (git $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
	echo "machine: $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM"
	local noisy=""
	[ "$OTHERS_PCT" -le 5 ] || noisy=" (noisy: rerun when the machine is quieter)"
	echo "load average: at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg);" \
		"other programs used ${OTHERS_PCT}% of the CPUs meanwhile$noisy"
	have foreman && echo "foreman $(foreman version 2>/dev/null | head -1) (ruby $(ruby -e 'print RUBY_VERSION')): dyno = /bin/sh -c 'exec sleep ...'"
	have supervisord && echo "supervisord $(supervisord --version) (python $(python3 -c 'import platform; print(platform.python_version())')): dyno = sleep ... exec'd directly"
	have s6 && echo "s6 $(dpkg-query -W -f '${Version}' s6 2>/dev/null): s6-svscan, an s6-supervise per dyno; dyno = a bash run script: exec sleep ..."
	echo "floor: bench/spawnfloor, a bare loop of posix_spawn, one thread; dyno = bash -c 'exec sleep ...'"
	echo "hsup dyno = bash -c 'exec sleep ...'"
	local b
	for b in "${WHICH[@]}"; do
		echo
		"summary_$b"
	done
	if [ "${#WARNINGS[@]}" -gt 0 ]; then
		echo
		echo "Warnings:"
		printf '   %s\n' "${WARNINGS[@]}"
	fi
}

summary_startup() {
	local n sup
	echo "1. Start-up: launch until all N sleep dynos run (ms, median of $REPS; min-max)"
	printf '   %-6s' N
	for sup in "${SUPS[@]}"; do printf ' %21s' "$sup"; done
	for sup in "${PEERS[@]}"; do printf ' %13s' "hsup/$sup"; done
	echo
	for n in "${STARTUP_SIZES[@]}"; do
		printf '   %-6s' "$n"
		for sup in "${SUPS[@]}"; do
			printf ' %21s' "$(cell "startup.$sup.$n") ($(spread "startup.$sup.$n"))"
		done
		for sup in "${PEERS[@]}"; do
			printf ' %13s' "$(ratio "$(cell "startup.hsup.$n")" "$(cell "startup.$sup.$n")")"
		done
		echo
	done
	echo "   per dyno (the median over N, ms)"
	for n in "${STARTUP_SIZES[@]}"; do
		printf '   %-6s' "$n"
		for sup in "${SUPS[@]}"; do
			printf ' %21s' "$(awk -v t="$(cell "startup.$sup.$n")" -v n="$n" \
				'BEGIN { if (t == "-") print "-"; else printf "%.2f\n", t / n }')"
		done
		echo
	done
	echo "   and from SIGTERM to the supervisor until no dyno is left (ms, median of $REPS)"
	for n in "${STARTUP_SIZES[@]}"; do
		printf '   %-6s' "$n"
		for sup in "${SUPS[@]}"; do
			printf ' %21s' "$(cell "stop.$sup.$n") ($(spread "stop.$sup.$n"))"
		done
		for sup in "${PEERS[@]}"; do
			printf ' %13s' "$(ratio "$(cell "stop.hsup.$n")" "$(cell "stop.$sup.$n")")"
		done
		echo
	done
	awk -v a="$(cell startup.hsup.100)" -v b="$(cell startup.floor.100)" \
		-v c="$(cell startup.hsup.1000)" -v d="$(cell startup.floor.1000)" 'BEGIN {
		if (a == "-" || b == "-" || c == "-" || d == "-") exit
		printf "   hsup goals: 100 dynos at the floor: %s (%.2f); 1000 within 1.15 times it: %s (%.2f)\n",
			a / b <= 1.05 ? "met" : "MISSED", a / b, c / d <= 1.15 ? "met" : "MISSED", c / d
	}'
}

summary_restart() {
	local sup n hs
	echo "2. Restart: SIGKILL one of N dynos until its replacement runs (ms, median of $KILLS kills, each a different dyno)"
	for n in "${RESTART_SIZES[@]}"; do
		hs=$(cell "restart.hsup.$n")
		printf '   N=%-5s %-12s %10s  (%s)  supervisor RSS %s -> %s kB\n' "$n" hsup "$hs" \
			"$(spread "restart.hsup.$n")" "$(cell "restart.hsup.$n.rss_before" 0)" \
			"$(cell "restart.hsup.$n.rss_after" 0)"
		for sup in "${RESTART_SUPS[@]}"; do
			[ "$sup" != hsup ] || continue
			printf '   N=%-5s %-12s %10s  (%s)  hsup/%s = %s\n' "$n" "$sup" \
				"$(cell "restart.$sup.$n")" "$(spread "restart.$sup.$n")" "$sup" \
				"$(ratio "$hs" "$(cell "restart.$sup.$n")")"
		done
	done
	have foreman && printf '   %-20s %8s  (foreman does not restart: when one process exits it stops them all)\n' foreman n/a
	return 0
}

summary_memory() {
	local n sup
	echo "3. Memory: the supervisor process's own VmRSS (RssAnon) in kB, median of $MEM_REPS; idle CPU and wake-ups with 100 dynos"
	printf '   %-26s' dynos
	for sup in "${IDLE_SUPS[@]}"; do printf ' %18s' "$sup"; done
	echo
	for n in "${MEM_SIZES[@]}"; do
		printf '   %-26s' "$n"
		for sup in "${IDLE_SUPS[@]}"; do
			printf ' %18s' "$(cell "mem.$sup.$n" 0) ($(cell "anon.$sup.$n" 0))"
		done
		echo
	done
	printf '   %-26s' "per extra dyno (100->1000)"
	for sup in "${IDLE_SUPS[@]}"; do
		printf ' %18s' "$(awk -v a="$(cell "mem.$sup.100")" -v b="$(cell "mem.$sup.1000")" \
			'BEGIN { if (a == "-" || b == "-") print "-"; else printf "%.1f kB\n", (b - a) / 900 }')"
	done
	echo
	printf '   %-26s' "idle CPU, ${IDLE_S} s (ms)"
	for sup in "${IDLE_SUPS[@]}"; do printf ' %18s' "$(cell "idle.$sup" 0)"; done
	echo
	printf '   %-26s' "idle wake-ups, ${IDLE_S} s"
	for sup in "${IDLE_SUPS[@]}"; do printf ' %18s' "$(cell "wakeups.$sup" 0)"; done
	echo
	printf '   %-26s' "VmRSS after the idle wait"
	for sup in "${IDLE_SUPS[@]}"; do printf ' %18s' "$(cell "mem_after_idle.$sup" 0)"; done
	echo
	printf '   %-26s' "hsup/peer VmRSS, 100 dynos"
	for sup in "${IDLE_SUPS[@]}"; do
		[ "$sup" = hsup ] && printf ' %18s' "" && continue
		printf ' %18s' "$(ratio "$(cell mem.hsup.100)" "$(cell "mem.$sup.100")")"
	done
	echo
	have s6 && echo "   s6: CPU and wake-ups summed over s6-svscan and its s6-supervise processes; memory not shown (one process per dyno)"
	awk -v r100="$(cell mem.hsup.100)" -v r1000="$(cell mem.hsup.1000)" \
		-v idle="$(cell idle.hsup)" -v w="$(cell wakeups.hsup 0)" -v s="$IDLE_S" 'BEGIN {
		if (r100 == "-" || r1000 == "-") exit
		per = (r1000 - r100) / 900
		printf "   hsup goals: < 5 MB with 100 dynos: %s (%.1f MB); < 20 kB per extra dyno: %s (%.1f kB); ~0 idle CPU: %s (%s ms in %d s); no idle wake-up: %s (%s)\n",
			r100 < 5 * 1024 ? "met" : "MISSED", r100 / 1024, per < 20 ? "met" : "MISSED", per,
			idle == "-" ? "?" : (idle <= 10 ? "met" : "MISSED"), idle, s,
			w == "-" ? "?" : (w == 0 ? "met" : "MISSED"), w
	}'
}

summary_logs() {
	local gen v label hung
	echo "4. Log throughput: one dyno printing $NLINES lines, wall time (ms, median of $REPS)"
	echo "   seq: seq $NLINES (7 bytes a line on average); text: yes '<${#LINE}-byte line>' | head -n $NLINES;"
	echo "   empty: prints nothing (what running the command at all costs); per line: both times less"
	echo "   their empty run"
	printf '   %-34s %12s %12s %12s\n' "" empty seq text
	for v in bare:'bare command > /dev/null' bare_cat:'bare command | cat > /dev/null' \
		hsup:'hsup start --oneshot > /dev/null' hsup_cat:'hsup start --oneshot | cat' \
		foreman:'foreman start > /dev/null'; do
		label=${v#*:} v=${v%%:*}
		[ "$v" != foreman ] || have foreman || continue
		printf '   %-34s' "$label"
		for gen in empty seq text; do printf ' %12s' "$(cell "logs.$v.$gen")"; done
		echo
	done
	for v in 'hsup:bare:hsup>null / bare>null' 'hsup:bare_cat:hsup>null / bare|cat' \
		'hsup_cat:bare_cat:hsup|cat / bare|cat' 'hsup:foreman:hsup>null / foreman'; do
		label=${v#*:*:} v=${v%:*}
		[ "${v#*:}" != foreman ] || have foreman || continue
		printf '   %-34s' "ratio $label"
		for gen in empty seq text; do
			printf ' %12s' "$(ratio "$(cell "logs.${v%%:*}.$gen")" "$(cell "logs.${v#*:}.$gen")")"
		done
		echo
	done
	# What hsup costs per line, its fixed cost (the empty run) set aside.
	printf "   %-34s" "per line: hsup>null / bare>null"
	for gen in empty seq text; do
		printf ' %12s' "$(awk -v h="$(cell "logs.hsup.$gen")" -v h0="$(cell logs.hsup.empty)" \
			-v b="$(cell "logs.bare.$gen")" -v b0="$(cell logs.bare.empty)" 'BEGIN {
			if (h == "-" || h0 == "-" || b == "-" || b0 == "-" || b - b0 <= 0) print "-"
			else printf "%.2f\n", (h - h0) / (b - b0) }')"
	done
	echo
	printf '   %-34s' "hsup>null peak RSS (kB)"
	for gen in empty seq text; do printf ' %12s' "$(cell "logs.hsup_peak_rss.$gen" 0)"; done
	echo
	printf '   %-34s' "hsup|cat peak RSS (kB)"
	for gen in empty seq text; do printf ' %12s' "$(cell "logs.hsup_cat_peak_rss.$gen" 0)"; done
	echo
	for gen in empty seq text; do
		hung=$(count "logs.foreman_hung.$gen")
		[ "$hung" = 0 ] || echo "   foreman ($gen) hung in $hung of $REPS runs (killed after ${FOREMAN_TIMEOUT} s; the median is of the others)"
	done
}

# ---- main ----

WHICH=("$@")
[ "${#WHICH[@]}" -gt 0 ] || WHICH=(startup restart memory logs)
log "hsup benchmarks: ${WHICH[*]} (results in $RESULTS)"
for b in "${WHICH[@]}"; do
	case $b in
	startup | restart | memory | logs) "bench_$b" ;;
	*)
		log "unknown benchmark $b (startup, restart, memory, logs)"
		exit 2
		;;
	esac
done
others_pct "$BUSY_START" "$T_START"
summary | tee "$RESULTS/summary.txt"
