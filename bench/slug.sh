#!/bin/bash
# Unpacking slugs: hsup's slug library (build/slugtool unpack, with and without the syncfs that
# makes a tree durable before it is renamed into place) against GNU tar -xzf, in the same run,
# on a 1 MB and a 200 MB slug (gzipped size). Each slug holds what an application's does: many
# small text files in nested directories (sources, gems, node modules) and some binaries.
#   bench/slug.sh [N]   N runs of each (default 5); prints medians in ms and MB/s of the slug
#   BENCH_DIR=/dev/shm bench/slug.sh   the same on tmpfs: the CPU cost alone, without the disk
set -euo pipefail
cd "$(dirname "$0")/.."
SLUGTOOL=${SLUGTOOL:-build/slugtool}
N=${1:-5}
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/hsup-bench-slug.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# make_slug NAME TARGET_BYTES: $WORK/NAME.tgz (bench/mkslug.py says what it holds).
make_slug() {
	python3 bench/mkslug.py "$WORK/$1.tgz" "$2"
}

now_ms() { echo "${EPOCHREALTIME/./}" | sed 's/...$//'; }

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# time_one KIND SLUG: one unpack into a fresh directory, in ms.
time_one() {
	local out=$WORK/out t0 t1
	rm -rf "$out"
	mkdir -p "$out"
	sync
	t0=$(now_ms)
	case $1 in
	hsup) "$SLUGTOOL" unpack "$2" "$out" v1 >/dev/null ;;
	hsup-nosync) "$SLUGTOOL" unpack --sync 0 "$2" "$out" v1 >/dev/null ;;
	tar) mkdir "$out/v1" && tar -C "$out/v1" -xzf "$2" ;;
	esac
	t1=$(now_ms)
	echo $((t1 - t0))
}

printf '%-8s %-12s %9s %9s %6s\n' slug unpacker "ms" "MB/s" "vs tar"
for spec in 1mb:1000000 200mb:200000000; do
	name=${spec%%:*}
	make_slug "$name" "${spec#*:}"
	slug=$WORK/$name.tgz
	mb=$(stat -c %s "$slug" | awk '{ printf "%.1f", $1 / 1e6 }')
	declare -A res=()
	for kind in tar hsup hsup-nosync; do : >"$WORK/$kind.times"; done
	for _ in $(seq "$N"); do # interleaved, so drift hits all alike
		for kind in tar hsup hsup-nosync; do time_one "$kind" "$slug" >>"$WORK/$kind.times"; done
	done
	for kind in tar hsup hsup-nosync; do res[$kind]=$(median <"$WORK/$kind.times"); done
	for kind in tar hsup hsup-nosync; do
		awk -v s="$name ($mb MB)" -v k="$kind" -v ms="${res[$kind]}" -v mb="$mb" -v tar="${res[tar]}" \
			'BEGIN { printf "%-14s %-12s %9d %9.1f %6.2f\n", s, k, ms, mb / (ms > 0 ? ms : 1) * 1000, ms / (tar > 0 ? tar : 1) }'
	done
	rm -f "$slug"
done
