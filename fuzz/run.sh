#!/bin/bash
# Runs the libFuzzer targets that make builds in build/fuzz (fuzz/README.md says more).
#   fuzz/run.sh probe                  can clang build them here? If not, prints why and fails
#   fuzz/run.sh check SECONDS NAME...  each target from its checked-in corpus: every corpus file
#                                      first, then SECONDS of fuzzing; one TAP line per target
#   fuzz/run.sh long SECONDS NAME...   each target on its scratch corpus (build/fuzz/corpus/NAME,
#                                      seeded from fuzz/corpus/NAME); fails naming the findings
#   fuzz/run.sh merge NAME...          adds to fuzz/corpus/NAME the scratch inputs that reach code
#                                      the checked-in corpus does not (libFuzzer's -merge=1)
# Findings (crash-*, leak-*, timeout-*, oom-*) and the log of the last run of a target are kept
# in build/fuzz/findings/NAME/.
set -u
cd "$(dirname "$0")/.."
FUZZ_CC=${FUZZ_CC:-clang}
out=build/fuzz
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

probe() {
	if ! command -v "$FUZZ_CC" >/dev/null; then
		echo "$FUZZ_CC is not installed (scripts/deps.sh installs clang)"
		return 1
	fi
	local dir rc=0
	dir=$(mktemp -d)
	cat >"$dir/probe.c" <<-'EOF'
		#include <stddef.h>
		#include <stdint.h>
		int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
		int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
		{
			return (int)(size && data[0] == 0);
		}
	EOF
	if ! "$FUZZ_CC" -fsanitize=fuzzer,address,undefined "$dir/probe.c" -o "$dir/probe" \
		>"$dir/log" 2>&1; then
		echo "$FUZZ_CC cannot link a libFuzzer target: the fuzzer runtime is missing" \
			"(Debian: libclang-rt-14-dev): $(grep -m1 -i error "$dir/log")"
		rc=1
	fi
	rm -rf "$dir"
	return $rc
}

# The options of every run of target $1; the dictionary fuzz/NAME.dict when there is one.
fuzz_args() {
	args=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$out/findings/$1/")
	[ -f "fuzz/$1.dict" ] && args+=(-dict="fuzz/$1.dict")
}

# Empties the findings of target $1 (they belong to its last run) and names its log.
fresh_findings() {
	rm -rf "$out/findings/$1"
	mkdir -p "$out/findings/$1"
	log=$out/findings/$1/log
}

findings_of() { # the findings of target $1's last run, one a line
	find "$out/findings/$1" -maxdepth 1 -type f \
		\( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort
}

# The sanitizer's or libFuzzer's report in a run's log, up to its SUMMARY line, as TAP comments.
report() {
	awk '/^==[0-9]+==ERROR|runtime error:|broken promise|^ALARM|^==[0-9]+== ERROR: libFuzzer|out-of-memory/ { on = 1 }
	     on && n < 60 { print "# " $0; n++ }
	     on && /^SUMMARY:/ { exit }' "$1"
}

check_one() { # check_one SECONDS NAME
	local secs=$1 name=$2 bin=$out/fuzz_$2 new rc found runs
	if [ ! -x "$bin" ]; then
		echo "not ok - fuzz $name: $bin is not built (make fuzz-build)"
		return
	fi
	fuzz_args "$name"
	fresh_findings "$name"
	# What the run adds goes to a directory thrown away: the checked-in corpus never changes.
	new=$(mktemp -d)
	[ -d "fuzz/corpus/$name" ] && args+=("fuzz/corpus/$name")
	"$bin" -max_total_time="$secs" "$new" "${args[@]}" >"$log" 2>&1
	rc=$?
	rm -rf "$new"
	found=$(findings_of "$name" | tr '\n' ' ')
	runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log")
	if [ "$rc" -eq 0 ] && [ -z "$found" ]; then
		echo "ok - fuzz $name: ${runs:-?} runs, no crash"
	elif [ -n "$found" ]; then
		echo "not ok - fuzz $name: found ${found% } (reproduce: $bin ${found%% *}; log: $log)"
		report "$log"
	else
		echo "not ok - fuzz $name: exited with $rc (log: $log)"
		tail -n 20 "$log" | sed 's/^/# /'
	fi
}

check() { # check SECONDS NAME...
	local secs=$1 name why
	shift
	if ! why=$(probe); then
		for name in "$@"; do
			echo "ok - fuzz $name # skip $why"
		done
		return 0
	fi
	for name in "$@"; do
		check_one "$secs" "$name"
	done
}

long() { # long SECONDS NAME...
	local secs=$1 name scratch rc all="" failed=""
	shift
	for name in "$@"; do
		scratch=$out/corpus/$name
		mkdir -p "$scratch"
		# The scratch corpus keeps what earlier long runs found; the seeds join it.
		[ -d "fuzz/corpus/$name" ] && cp -n "fuzz/corpus/$name"/* "$scratch"/ 2>/dev/null
		fuzz_args "$name"
		fresh_findings "$name"
		echo "fuzz $name: $secs s on $scratch (log: $log)"
		"$out/fuzz_$name" "${args[@]}" -max_total_time="$secs" -print_final_stats=1 \
			"$scratch" 2>&1 | tee "$log" | grep -E --line-buffered '^#[0-9]+.*(pulse|DONE)|^Done|^stat::|==ERROR|runtime error|broken promise'
		rc=${PIPESTATUS[0]}
		all="$all$(findings_of "$name")"$'\n'
		[ "$rc" -ne 0 ] && [ -z "$(findings_of "$name")" ] && failed="$failed $name($rc)"
	done
	all=$(echo "$all" | sed '/^$/d')
	if [ -n "$all" ]; then
		echo "fuzz: found (each file reproduces by running its target on it):"
		echo "$all" | sed 's/^/  /'
	fi
	[ -n "$failed" ] && echo "fuzz: exited with an error and no finding:$failed (see the logs)"
	[ -z "$all" ] && [ -z "$failed" ]
}

merge() { # merge NAME...
	local name scratch before rc=0
	for name in "$@"; do
		scratch=$out/corpus/$name
		if [ ! -d "$scratch" ]; then
			echo "fuzz $name: no scratch corpus in $scratch: run make fuzz first" >&2
			rc=1
			continue
		fi
		mkdir -p "fuzz/corpus/$name"
		before=$(ls "fuzz/corpus/$name" | wc -l)
		fuzz_args "$name"
		fresh_findings "$name"
		if ! "$out/fuzz_$name" "${args[@]}" -merge=1 "fuzz/corpus/$name" "$scratch" >"$log" 2>&1; then
			echo "fuzz $name: the merge failed (log: $log)" >&2
			rc=1
			continue
		fi
		echo "fuzz/corpus/$name: $(($(ls "fuzz/corpus/$name" | wc -l) - before)) new files"
	done
	return $rc
}

cmd=${1:-}
shift || true
case "$cmd" in
probe | check | long | merge) "$cmd" "$@" ;;
*)
	sed -n '2,11s/^# \{0,1\}//p' "$0" >&2
	exit 2
	;;
esac
