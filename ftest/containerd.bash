# shellcheck shell=bash
# A private containerd for the tests and benchmarks that need one: Debian's containerd, started
# by hand (this machine has no init system) as a plain process, in a mount and network namespace
# of its own, its root, state, config and socket in a directory of the caller's. /run is a
# private tmpfs in that namespace: the shims' sockets (/run/containerd/s), the runtime's state
# (/run/containerd/runc) and ctr's FIFOs (/run/containerd/fifo) never touch the host's, so ctr
# runs in that mount namespace too (ctr_cli). Processes are the host's (no pid namespace).
#   containerd_start DIR   sets CONTAINERD_PID, CONTAINERD_ADDRESS and CONTAINERD_NAMESPACE
#                          (exported, for ctr; the namespace, hsupNNN, also names the
#                          containers' cgroups: /sys/fs/cgroup/CTRL/NS/ID), or CONTAINERD_SKIP
#                          with the reason it cannot run here. With CONTAINERD_NO_CGROUP2=1,
#                          the cgroup v2 mount of this hybrid host is unmounted in its
#                          namespace: crun 1.8 refuses hybrid cgroups (DESIGN §5).
#   containerd_stop DIR    kills and deletes every task and container, stops containerd, kills
#                          any shim or container process left, removes the containers'
#                          cgroups and DIR; safe to call twice, or after a failed start
#   ctr_cli ARGS...        ctr on that containerd, in its mount namespace
#   containerd_cgroups     the containers' cgroup directories left (one a line)

containerd_start() {
	local dir=$1 i p
	CONTAINERD_SKIP= CONTAINERD_PID=
	for p in containerd ctr containerd-shim-runc-v2 nsenter unshare ip; do
		command -v "$p" >/dev/null && continue
		CONTAINERD_SKIP="$p is not installed (Debian's containerd, util-linux, iproute2)"
		return 0
	done
	if [ "$(id -u)" != 0 ]; then
		CONTAINERD_SKIP="containerd needs root"
		return 0
	fi
	mkdir -p "$dir"
	containerd_config "$dir" >"$dir/config.toml"
	unshare -m -n --propagation private sh -c '
		ip link set lo up
		mount -t tmpfs -o mode=755 tmpfs /run
		if [ "$2" = 1 ] && mountpoint -q /sys/fs/cgroup/unified; then
			umount /sys/fs/cgroup/unified
		fi
		exec containerd --config "$1/config.toml"' sh "$dir" "${CONTAINERD_NO_CGROUP2:-}" \
		>"$dir/log" 2>&1 </dev/null &
	CONTAINERD_PID=$!
	export CONTAINERD_PID CONTAINERD_ADDRESS=$dir/sock
	export CONTAINERD_NAMESPACE=${CONTAINERD_NAMESPACE:-hsup$$}
	for ((i = 0; i < 300; i++)); do
		ctr_cli version >/dev/null 2>&1 && return 0
		kill -0 "$CONTAINERD_PID" 2>/dev/null || break
		sleep 0.1
	done
	CONTAINERD_SKIP="containerd did not start: $(grep -i -m1 -E 'level=(fatal|error)' "$dir/log" ||
		tail -1 "$dir/log")"
	containerd_stop "$dir"
}

# Everything under DIR; the plugins that cannot work here, or are not wanted, are off: CRI
# (Kubernetes' API: CNI, a pause image from a registry), the snapshotters for
# filesystems this machine lacks, /opt, tracing. (The v1 runtime stays: containerd 1.6's task
# service will not load without it.) No debug or metrics listener.
containerd_config() { # containerd_config DIR
	cat <<EOF
version = 2
root = "$1/root"
state = "$1/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "$1/sock"

[ttrpc]
  address = "$1/sock.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""
EOF
}

ctr_cli() {
	nsenter -t "$CONTAINERD_PID" -m -- ctr "$@"
}

containerd_cgroups() {
	local d
	for d in /sys/fs/cgroup/*/"$CONTAINERD_NAMESPACE"/* /sys/fs/cgroup/"$CONTAINERD_NAMESPACE"/*; do
		[ -d "$d" ] && echo "$d"
	done
	return 0
}

# Every step may fail (nothing left to kill, a containerd that never started): none stops the
# rest, under set -e too (bats, the benchmark).
containerd_stop() {
	local dir=$1 i t c d
	[ -n "${CONTAINERD_PID:-}" ] || return 0
	if kill -0 "$CONTAINERD_PID" 2>/dev/null; then
		for t in $(ctr_cli task ls -q 2>/dev/null || true); do
			ctr_cli task resume "$t" >/dev/null 2>&1 || true
			ctr_cli task kill -s KILL "$t" >/dev/null 2>&1 || true
			ctr_cli task delete -f "$t" >/dev/null 2>&1 || true
		done
		for c in $(ctr_cli container ls -q 2>/dev/null || true); do
			ctr_cli container delete "$c" >/dev/null 2>&1 || true
		done
		kill -TERM "$CONTAINERD_PID" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$CONTAINERD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$CONTAINERD_PID" 2>/dev/null || true
	fi
	wait "$CONTAINERD_PID" 2>/dev/null || true
	# shims whose containerd was this one (they outlive it), then what they ran
	pkill -KILL -f -- "-address $dir/sock" 2>/dev/null || true
	for d in $(containerd_cgroups); do
		# a paused task's processes die only once thawed
		[ ! -f "$d/freezer.state" ] || echo THAWED >"$d/freezer.state" 2>/dev/null || true
		[ ! -f "$d/cgroup.procs" ] || xargs -r kill -KILL <"$d/cgroup.procs" 2>/dev/null || true
	done
	for d in $(containerd_cgroups) /sys/fs/cgroup/*/"$CONTAINERD_NAMESPACE" \
		/sys/fs/cgroup/"$CONTAINERD_NAMESPACE"; do
		[ -d "$d" ] || continue
		for ((i = 0; i < 50; i++)); do
			rmdir "$d" 2>/dev/null && break
			sleep 0.1
		done
	done
	CONTAINERD_PID=
	# its mounts went with its mount namespace
	rm -rf "$dir"
	return 0
}
