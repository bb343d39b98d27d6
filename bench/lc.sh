#!/bin/bash
# The container runtime benchmark: nsinit against crun and runc on the same bundle in the same
# run, and the floor (unshare + chroot). Runs in a mount namespace of its own, where the
# cgroup v2 mount of this hybrid host is unmounted: crun 1.8 refuses hybrid cgroups otherwise
# (DESIGN §5); nsinit and runc use the v1 controllers either way.
#   N=100 bench/lc.sh [build/nsinit]
set -eu
cd "$(dirname "$0")/.."
NSINIT=$(readlink -f "${1:-build/nsinit}")
W=$(mktemp -d /tmp/lc-bench.XXXXXX)
chmod 755 "$W"
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/bundle/rootfs/bin" "$W/bundle/rootfs/proc" "$W/bundle/rootfs/sys" \
	"$W/bundle/rootfs/dev" "$W/state"
cp /bin/busybox "$W/bundle/rootfs/bin/busybox"
for a in $(/bin/busybox --list); do
	[ "$a" = busybox ] || ln -s busybox "$W/bundle/rootfs/bin/$a"
done
"$NSINIT" config | python3 -c '
import json, sys
c = json.load(sys.stdin)
c["root"]["path"] = sys.argv[1]
c["process"]["args"] = ["/bin/true"]
c["linux"]["resources"]["memory"] = {"limit": 268435456}
c["linux"]["resources"]["pids"] = {"limit": 1024}
json.dump(c, open(sys.argv[2], "w"), indent=1)
' "$W/bundle/rootfs" "$W/bundle/config.json"
unshare -m --propagation private sh -c '
	umount /sys/fs/cgroup/unified 2>/dev/null || true
	python3 bench/lc_bench.py "$0" "$1" "$2"' "$NSINIT" "$W/bundle" "$W/state"
