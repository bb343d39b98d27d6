# shellcheck shell=bash
# A private dockerd for the tests that need one: Debian's docker.io, started by hand (this
# machine has no init system), in a mount and network namespace of its own, so that its bridge,
# its mounts and its /run never touch the host's. Processes are the host's (no pid namespace):
# a test sees its containers' processes. Loaded by the bats files that use it.
#   dockerd_start DIR [DOCKERD-ARG...]
#                       data under DIR, the API at unix://DIR/sock (and wherever the further
#                       arguments say: -H tcp://127.0.0.1:2376 --tlsverify ...); sets DOCKER_HOST and
#                       DOCKERD_PID, or DOCKERD_SKIP with the reason it cannot run here
#   dockerd_stop DIR    removes every container, stops dockerd, waits for it
#   docker_cli ARGS...  the client of the same package, on that dockerd

dockerd_start() {
	local dir=$1 i
	shift
	DOCKERD_SKIP=
	if ! command -v dockerd >/dev/null; then
		DOCKERD_SKIP="dockerd is not installed (Debian's docker.io)"
		return 0
	fi
	mkdir -p "$dir"
	export DOCKER_CONFIG=$dir/config
	# /run and /etc/docker are private tmpfs: containerd's sockets, the netns and iptables'
	# lock, and no daemon.json of the host's
	unshare -m -n --propagation private sh -c '
		ip link set lo up
		mount -t tmpfs -o mode=755 tmpfs /run && mkdir -p /run/lock /run/netns
		[ ! -d /etc/docker ] || mount -t tmpfs -o mode=755 tmpfs /etc/docker
		d=$1; shift
		exec dockerd --storage-driver=overlay2 --data-root "$d/data" --exec-root /run/docker \
			--pidfile "$d/pid" -H "unix://$d/sock" --iptables=false --ip-masq=false "$@"' \
		sh "$dir" "$@" >"$dir/log" 2>&1 &
	DOCKERD_PID=$!
	export DOCKER_HOST=unix://$dir/sock
	for ((i = 0; i < 600; i++)); do
		docker_cli info >/dev/null 2>&1 && return 0
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.1
	done
	DOCKERD_SKIP="dockerd did not start: $(grep -i -m1 -E 'level=(fatal|error)' "$dir/log" ||
		tail -1 "$dir/log")"
	dockerd_stop "$dir"
}

docker_cli() {
	local cli=/usr/bin/docker
	[ -x "$cli" ] || cli=docker
	"$cli" "$@"
}

dockerd_stop() {
	local dir=$1 ids i
	[ -n "${DOCKERD_PID:-}" ] || return 0
	if kill -0 "$DOCKERD_PID" 2>/dev/null; then
		ids=$(docker_cli ps -aq 2>/dev/null)
		# shellcheck disable=SC2086 # one id a word
		[ -z "$ids" ] || docker_cli rm -f $ids >/dev/null 2>&1
		kill -TERM "$DOCKERD_PID" 2>/dev/null
		for ((i = 0; i < 300; i++)); do
			kill -0 "$DOCKERD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$DOCKERD_PID" 2>/dev/null
	fi
	wait "$DOCKERD_PID" 2>/dev/null
	# containerd and its shims, should dockerd have left any
	pkill -KILL -f "$dir/data" 2>/dev/null
	DOCKERD_PID=
	return 0
}
