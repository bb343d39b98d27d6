#!/bin/bash
# Runs every test and ends with one line: N passed, N failed, N skipped.
#   unit tests (cmocka) of the release and the ASan+UBSan builds,
#   the runtime's functional tests (bats) driving build/nsinit, the daemon's tagged `drivers`
#   under -d abspath and -d libcontainer with build/hsup, and meanwhile: every functional test
#   with the ASan+UBSan hsup and nsinit, hsup's Docker image (built, then run by a private
#   dockerd) and the daemon's tests under -d docker,
#   every fuzz target (fuzz/fuzz_*.c) for a short time from its checked-in corpus (beside the
#   driver runs),
#   the clang-format check.
set -u
cd "$(dirname "$0")/.."
# Debian's programs first: the tests use python3, curl and the rest as Debian ships them, and
# a version manager's shims ahead of them in PATH (pyenv's python3) cost up to a second a call,
# in checks that run many times a second.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=99}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
pass=0 fail=0 skip=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Echoes TAP from $log and counts its results.
count() {
	local ok=0 bad=0 line
	while IFS= read -r line; do
		echo "$line"
		case "$line" in
		# cmocka marks a skipped test "not ok N # SKIP"
		"ok "*"# skip"* | "ok "*"# SKIP"* | "not ok "*"# SKIP"*) skip=$((skip + 1)) ;;
		"ok "*) pass=$((pass + 1)); ok=$((ok + 1)) ;;
		"not ok "*) fail=$((fail + 1)); bad=$((bad + 1)) ;;
		esac
	done <"$log"
	COUNTED=$((ok + bad))
	BAD=$bad
}

unit() { # unit BUILD_DIR
	local t rc
	for t in "$1"/tests/test_*; do
		[ -x "$t" ] || continue
		echo "# unit: $t"
		CMOCKA_MESSAGE_OUTPUT=TAP timeout 300 "$t" >"$log" 2>&1
		rc=$?
		count
		if [ "$rc" -ne 0 ] && [ "$BAD" -eq 0 ]; then
			echo "not ok - $t exited with $rc"
			fail=$((fail + 1))
		fi
	done
}

# Run on their own, beside the others (docker_image below): they test what the Docker image
# builds (its own hsup), and need the network (debootstrap of the image's base), which the
# ASan+UBSan run has not.
APART='/docker_image\.bats$'
# The runtime under containerd: its time is containerd's, ctr's and the shim's (45-70 s with
# runc here, most of it Go programs starting), not the runtime's, which runs for a few ms
# per command; twice would add a minute to make check for little. Once, with the ASan+UBSan
# nsinit, which also finds memory errors in what the shim's calls reach.
NSINIT_ONCE='/nsinit_containerd\.bats$'

# The daemon's functional tests, against the ASan+UBSan hsup (LeakSanitizer on): the release
# hsup runs those of them tagged `drivers` under -d abspath, -d libcontainer and -d docker
# (drivers below), and in the Docker image. Once each keeps make check within its time on two
# CPUs: most of its time is CPU, not waiting.
daemon_tests() { # daemon_tests HSUP_BINARY
	echo "# functional: $1"
	# shellcheck disable=SC2046
	HSUP=$1 bats --tap $(ls ftest/*.bats | grep -v '/nsinit' | grep -Ev "$APART") >"$log" 2>&1
	after_bats $?
}

# The runtime's (ftest/nsinit*.bats), against both builds: the release nsinit is static, the
# other is not, and has the sanitizers. They mount and unshare: they run in a mount namespace
# of their own, so nothing they mount can outlive them on the host.
runtime_tests() { # runtime_tests NSINIT_BINARY [all]
	echo "# functional: $1"
	# shellcheck disable=SC2046
	NSINIT=$1 unshare -m --propagation private bats --tap $(ls ftest/nsinit*.bats |
		if [ "${2:-}" = all ]; then cat; else grep -Ev "$NSINIT_ONCE"; fi) >"$log" 2>&1
	after_bats $?
}

# The tests tagged `drivers` (the daemon's behaviour, whatever runs the dynos) again with
# other drivers (by default -d abspath and -d libcontainer), each run in namespaces of its own
# (ftest/with-drivers.sh).
drivers() { # drivers HSUP_BINARY [DRIVER...]
	local d files list=("${@:2}")
	[ ${#list[@]} -gt 0 ] || list=(abspath libcontainer)
	if [ "$(id -u)" != 0 ]; then
		echo "ok - the functional tests under -d ${list[*]} # skip they need root"
		skip=$((skip + 1))
		return 0
	fi
	files=$(grep -l '^# bats test_tags=drivers' ftest/*.bats)
	for d in "${list[@]}"; do
		echo "# functional, -d $d: $1"
		# shellcheck disable=SC2086
		HSUP=$1 ftest/with-drivers.sh "$d" bats --tap --filter-tags drivers $files >"$log" 2>&1
		after_bats $?
	done
}

# hsup's Docker image, built from this tree and run (ftest/docker_image.bats): mostly waiting on
# debootstrap and dockerd, so it runs beside the other phases.
docker_image() { # docker_image HSUP_BINARY
	echo "# functional, the Docker image: $1"
	HSUP=$1 bats --tap ftest/docker_image.bats >"$log" 2>&1
	after_bats $?
}

after_bats() { # after_bats EXIT_CODE
	local rc=$1
	count
	if [ "$rc" -ne 0 ] && [ "$BAD" -eq 0 ]; then
		echo "not ok - bats exited with $rc"
		fail=$((fail + 1))
	fi
}

# Each libFuzzer target runs every file of fuzz/corpus/NAME (so a file that once crashed is a
# regression test), then fuzzes for FUZZ_CHECK_SECONDS; one TAP line per target.
fuzz() {
	local names
	names=$(ls fuzz/fuzz_*.c 2>/dev/null | sed 's|^fuzz/fuzz_\(.*\)\.c$|\1|')
	[ -n "$names" ] || return 0
	echo "# fuzz: ${FUZZ_CHECK_SECONDS:-5} s each"
	# shellcheck disable=SC2086
	fuzz/run.sh check "${FUZZ_CHECK_SECONDS:-5}" $names >"$log" 2>&1
	count
}

format() {
	if ! command -v clang-format >/dev/null; then
		echo "ok - clang-format # skip clang-format is not installed"
		skip=$((skip + 1))
	elif make -s format-check >"$log" 2>&1; then
		echo "ok - sources are clang-formatted"
		pass=$((pass + 1))
	else
		cat "$log"
		echo "not ok - sources are not clang-formatted (make format)"
		fail=$((fail + 1))
	fi
}

# Each phase says how long it took, so that the whole stays well under 15 minutes.
timed() {
	local start=$SECONDS
	"$@"
	echo "# $* took $((SECONDS - start)) s"
}

# Some phases run beside the others, each as this script run again in a mode of its own with
# its output in a file of its own, to keep make check short: most of the tests' time is
# waiting, not computing. The ASan+UBSan functional tests run in a network namespace of their
# own (their dynos' ports cannot meet the others').
case "${1:-}" in
asan-functional)
	ip link set lo up
	timed daemon_tests build/asan/hsup
	exit 0
	;;
docker-image)
	timed docker_image build/hsup
	# dockerd's work more than hsup's: beside the others too
	timed drivers build/hsup docker
	exit 0
	;;
fuzz-only)
	timed fuzz
	exit 0
	;;
esac
declare -A side_pid=() side_out=()
# beside MODE [unshare -n]: starts this script in MODE in the background
beside() {
	side_out[$1]=$(mktemp)
	"${@:2}" "$0" "$1" >"${side_out[$1]}" 2>&1 &
	side_pid[$1]=$!
}
# joined MODE: waits for it and counts what it said
joined() {
	wait "${side_pid[$1]}"
	cp "${side_out[$1]}" "$log"
	rm -f "${side_out[$1]}"
	unset "side_pid[$1]"
	count
}
trap 'rm -f "$log" "${side_out[@]}"; [ ${#side_pid[@]} -eq 0 ] || kill "${side_pid[@]}" 2>/dev/null' EXIT
root=
[ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null && root=1
[ -z "$root" ] || beside asan-functional unshare -n
[ -z "$root" ] || beside docker-image

timed unit build/release
timed unit build/asan
timed runtime_tests build/nsinit
beside fuzz-only
timed drivers build/hsup
timed runtime_tests build/asan/nsinit all
if [ -n "$root" ]; then
	joined asan-functional
	joined docker-image
else
	timed daemon_tests build/asan/hsup
	timed docker_image build/hsup
	timed drivers build/hsup docker
fi
joined fuzz-only
format

line="$pass passed, $fail failed"
[ "$skip" -gt 0 ] && line="$line, $skip skipped"
echo "$line"
[ "$fail" -eq 0 ]
