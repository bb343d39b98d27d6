#!/bin/bash
# Runs a command (bats) where the functional tests can drive hsup with any dyno driver:
#   ftest/with-drivers.sh DRIVER COMMAND...
# in a mount and a network namespace of its own (nothing mounted or linked outlives it), with
# loopback up, and for libcontainer a small stack of this host's programs, built and mounted
# once for the whole run (every hsup of the run finds it mounted and uses it as it is); for
# docker, a private dockerd for the run and the same stack, imported by the first hsup.
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
if [ "$driver" = docker ]; then
	# a private dockerd for the run (ftest/dockerd.bash), and the stack it imports once: every
	# test's hsup builds its release on the image the first made (DOCKER_IMAGE_CACHE)
	work=$(mktemp -d /tmp/hsup-drivers.XXXXXX)
	# shellcheck source=ftest/dockerd.bash
	. "$here/dockerd.bash"
	stack=$(dirname "$HSUP_REAL")/hsup-stack
	[ -x "$stack" ] || stack=$here/../build/hsup-stack
	# the first hsup mounted the stack to import it
	trap 'set +e; dockerd_stop "$work/docker"
		"$stack" umount -m "$work/manifest.yml" host >/dev/null 2>&1; rm -rf "$work"' EXIT
	dockerd_start "$work/docker"
	if [ -n "$DOCKERD_SKIP" ]; then
		printf '1..1\nok 1 the tests under -d docker # skip %s\n' "$DOCKERD_SKIP"
		exit 0
	fi
	"$stack" host "$work/tree" >/dev/null
	"$stack" build --manifest "$work/manifest.yml" "$work/tree" host 1 "$work" >/dev/null
	rm -rf "$work/tree"
	export HSUP_STACK_MANIFEST=$work/manifest.yml DOCKER_IMAGE_CACHE=1
	# the import now, so that no test's output has its message
	env -u HSUP_CONTROL_DIR HSUP_STATE_DIR="$work" "$HSUP_REAL" -d docker run true >/dev/null 2>&1
fi
"$@"
