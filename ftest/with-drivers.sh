#!/bin/bash
# Runs a command (bats) where the functional tests can drive hsup with any dyno driver:
#   ftest/with-drivers.sh DRIVER COMMAND...
# in a mount and a network namespace of its own (nothing mounted or linked outlives it), with
# loopback up, and for libcontainer a small stack of this host's programs, built and mounted
# once for the whole run (every hsup of the run finds it mounted and uses it as it is).
set -eu
driver=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
if [ "${WITH_DRIVERS_INSIDE:-}" != 1 ]; then
	HSUP_REAL=$(readlink -f "${HSUP:-$here/../build/hsup}")
	export HSUP_TEST_DRIVER=$driver HSUP_REAL HSUP=$here/driver-hsup
	exec env WITH_DRIVERS_INSIDE=1 unshare -m -n --propagation private "$0" "$driver" "$@"
fi
ip link set lo up
if [ "$driver" = libcontainer ]; then
	stacks=$(mktemp -d /tmp/hsup-drivers.XXXXXX)
	trap '"$stack" umount -m "$stacks/manifest.yml" host >/dev/null 2>&1; rm -rf "$stacks"' EXIT
	stack=$(dirname "$HSUP_REAL")/hsup-stack
	[ -x "$stack" ] || stack=$here/../build/hsup-stack
	"$stack" host "$stacks/tree" >/dev/null
	"$stack" build --manifest "$stacks/manifest.yml" "$stacks/tree" host 1 "$stacks" >/dev/null
	rm -rf "$stacks/tree"
	"$stack" mount -m "$stacks/manifest.yml" host >/dev/null
	export HSUP_STACK_MANIFEST=$stacks/manifest.yml
	# UIDs (and so container names and cgroups) no other test's hsup takes at the same time:
	# reservations are shared through a state directory, and each test has its own
	export LIBCONTAINER_DYNO_UID_MIN=20000 LIBCONTAINER_DYNO_UID_MAX=20999
fi
"$@"
