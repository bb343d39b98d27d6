#!/bin/bash
# The runtime under containerd: `ctr run --rm` of the same busybox image with nsinit, crun and
# runc as the runc shim's runtime, interleaved in the same run, against a private containerd
# (ftest/containerd.bash: namespaces of its own, everything in a temporary directory); then the
# runtime's own create+start+delete against crun and runc (bench/lc.sh, as make bench-lc).
# Nothing is asserted: a runtime that cannot run under containerd is reported with the reason.
# The cgroup v2 mount of this hybrid host is unmounted in containerd's mount namespace, for
# every runtime alike: crun 1.8 refuses hybrid cgroups otherwise (DESIGN §5), as in bench/lc.sh.
#   N=50 LC_N=100 bench/containerd.sh [build/nsinit]
set -eu
cd "$(dirname "$0")/.."
NSINIT=$(readlink -f "${1:-build/nsinit}")
W=$(mktemp -d /tmp/containerd-bench.XXXXXX)
# shellcheck source=ftest/containerd.bash
. ftest/containerd.bash
trap 'containerd_stop "$W/containerd"; rm -rf "$W"' EXIT
CONTAINERD_NO_CGROUP2=1 containerd_start "$W/containerd"
if [ -n "$CONTAINERD_SKIP" ]; then
	echo "ctr run --rm: not measured: $CONTAINERD_SKIP"
else
	IMG=docker.io/hsup/busybox:bench
	python3 ftest/mkoci.py /bin/busybox "$IMG" "$W/busybox.tar"
	ctr_cli image import "$W/busybox.tar" >/dev/null
	runtimes=("nsinit=$NSINIT")
	for rt in crun runc; do
		p=$(command -v "$rt") && runtimes+=("$rt=$p")
	done
	python3 bench/containerd_bench.py "$CONTAINERD_PID" "$IMG" "${runtimes[@]}"
fi
echo
N=${LC_N:-100} bench/lc.sh "$NSINIT"
