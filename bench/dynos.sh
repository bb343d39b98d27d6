#!/bin/bash
# The container dynos' benchmark (-d libcontainer and -d docker), against crun and docker in
# the same run:
#
#   1. per-dyno start (scale web 0->1 through the control socket until the dyno's command runs
#      in its container) and stop (scale to 0 until it is gone), hsup -d libcontainer, hsup
#      -d docker (at the run's own dockerd), crun and `docker run` interleaved, REPS times each
#   2. the same start with a 1 MB and a 200 MB slug (two hsups, one release each)
#   3. a formation of 100 container dynos: until all run, and hsup's VmRSS with them, for
#      -d libcontainer and for -d docker
#
#   bench/dynos.sh                  as root; `make bench-dynos` installs and builds what it needs
#   BENCH_QUICK=1 bench/dynos.sh    a smoke run (fewer repetitions)
#
# Everything runs in a network and a mount namespace of its own, with a private /run and
# /etc/docker, and in cgroups of its own (named $TAG): nothing it makes is seen from the host,
# and on any exit, Ctrl-C included, what is left is stopped and removed and the rest checked
# (no process, mount, loop device, cgroup or veth may outlive it, nor a container or an image of
# hsup's at the run's dockerd; the summary says if any did).
# bench/dynos_bench.py does the measuring and prints the summary, also written to
# $BENCH_RESULTS/<date>/summary.txt with every sample in raw.tsv. Nothing is asserted.
set -eu -o pipefail
cd "$(dirname "$0")/.."

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	REPS=${REPS:-10} FORMATION_REPS=${FORMATION_REPS:-1} RELEASE_REPS=${RELEASE_REPS:-3}
else
	REPS=${REPS:-100} FORMATION_REPS=${FORMATION_REPS:-3} RELEASE_REPS=${RELEASE_REPS:-10}
fi
HSUP=${HSUP:-$PWD/build/hsup}
HSUP_INIT=$PWD/build/hsup-init
HSUP_STACK=$PWD/build/hsup-stack
NSINIT=$PWD/build/nsinit
WAITN=$PWD/bench/waitn
# The slugs are made once (the 200 MB one takes a while) and kept here.
SLUG_CACHE=${SLUG_CACHE:-$PWD/build/bench-slugs}
# Dyno UIDs of this run: away from the defaults, so its containers' names never meet those
# of another hsup on the host.
UID_MIN=40000 UID_MAX=40999
# hsup's state where its default is, on tmpfs (the run's own /run); its data directory on
# the disk, in $WORK, as /var/lib/hsup would be
STATE=/run/hsup-bench
STATE_DOCKER=/run/hsup-bench-docker # the -d docker hsup's
CRUN_ROOT=/run/crun-bench # crun's state, where its default is (/run/crun)

log() { printf '%s\n' "$*" >&2; }

# ---- outside: the namespaces, and afterwards the check that nothing is left ----

# Kills what still runs in the run's cgroups and removes them all; names those that were
# more than the run's own and the parents crun and docker leave ($TAG, $TAG/docker).
sweep_cgroups() {
	local d pids
	while read -r d; do
		[ -n "$d" ] || continue
		pids=$(cat "$d/cgroup.procs" 2>/dev/null || true)
		if [ -n "$pids" ]; then
			echo "processes left in $d: $(echo "$pids" | tr '\n' ' ')"
			# shellcheck disable=SC2086 # one pid a word
			kill -KILL $pids 2>/dev/null || true
			sleep 0.5
		fi
		case $d in
		*/"$TAG" | */"$TAG"/docker) ;;
		*) echo "cgroup left: $d" ;;
		esac
		rmdir "$d" 2>/dev/null || echo "cgroup that could not be removed: $d"
	done < <(find /sys/fs/cgroup -mindepth 2 -maxdepth 7 -depth -type d -path "*$TAG*" \
		2>/dev/null)
}

leftovers() {
	local pids l
	pids=$("$WAITN" -l -- sleep "$MARK_SECS" 2>/dev/null || true)
	if [ -n "$pids" ]; then
		echo "dyno processes left: $(echo "$pids" | tr '\n' ' ')"
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
	fi
	sweep_cgroups
	for l in $(losetup -l -n -O NAME,BACK-FILE 2>/dev/null | awk -v w="$WORK" 'index($2, w) == 1 { print $1 }'); do
		echo "loop device left: $l"
		losetup -d "$l" 2>/dev/null || true
	done
	if grep -q " $WORK" /proc/self/mountinfo; then
		echo "mounts left on the host: $(grep -c " $WORK" /proc/self/mountinfo)"
	fi
}

outer_cleanup() {
	local rc=$? found
	trap - EXIT INT TERM
	found=$(leftovers)
	if [ -n "$found" ]; then
		log "left behind (now removed):"
		log "$found"
		if [ -f "$RESULTS/summary.txt" ]; then
			printf '\nLeft behind by the run (removed after it):\n' >>"$RESULTS/summary.txt"
			printf '   %s\n' "$found" >>"$RESULTS/summary.txt"
		fi
	else
		log "cleanup: nothing was left behind (processes, mounts, loop devices, cgroups)"
	fi
	rm -rf "$WORK"
	exit "$rc"
}

if [ -z "${DYNOS_INNER:-}" ]; then
	if [ "$(id -u)" != 0 ]; then
		log "bench/dynos.sh: container dynos need root"
		exit 1
	fi
	for f in "$HSUP" "$HSUP_INIT" "$HSUP_STACK" "$NSINIT" "$WAITN"; do
		[ -x "$f" ] || { log "$f is missing: run \`make bench-dynos\`"; exit 1; }
	done
	for t in ip unshare losetup python3 tar; do
		command -v "$t" >/dev/null || { log "$t is missing: run \`make bench-dynos\`"; exit 1; }
	done
	TAG=hsup-bench-dynos-$$
	MARK_SECS=86399.$$
	WORK=$(mktemp -d /tmp/hsup-bench-dynos.XXXXXX)
	chmod 755 "$WORK"
	RESULTS=${BENCH_RESULTS:-$PWD/bench/results}/$(date +%Y%m%d-%H%M%S)
	mkdir -p "$RESULTS"
	export DYNOS_INNER=1 TAG MARK_SECS WORK RESULTS
	trap outer_cleanup EXIT
	# In the background, so that a signal is acted on at once: passed on as SIGTERM (an
	# asynchronous command ignores SIGINT), the run cleans up and ends, then this one.
	unshare --net --mount --propagation slave "$0" "$@" &
	INNER=$!
	trap 'log interrupted; kill -TERM "$INNER" 2>/dev/null; wait "$INNER" || true; exit 130' INT
	trap 'kill -TERM "$INNER" 2>/dev/null; wait "$INNER" || true; exit 143' TERM
	wait "$INNER"
	exit 0
fi

# ---- inside the namespaces ----

HSUP_PIDS=()
DOCKERD_PID=
DOCKER=()

# Stops, in this order, what the run started: hsup (which removes its dynos), docker's
# containers and dockerd, crun's containers, then every mount under $WORK.
inner_cleanup() {
	local rc=$? pid m i
	trap - EXIT INT TERM
	for pid in "${HSUP_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${HSUP_PIDS[@]}"; do
		for ((i = 0; i < 600; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$DOCKERD_PID" ]; then
		m=$("${DOCKER[@]}" ps -aq --filter "name=hsup-bench" 2>/dev/null || true)
		# shellcheck disable=SC2086
		[ -z "$m" ] || "${DOCKER[@]}" rm -f $m >/dev/null 2>&1 || true
		docker_leftovers
		kill -TERM "$DOCKERD_PID" 2>/dev/null || true
		for ((i = 0; i < 600; i++)); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.05; done
		kill -KILL "$DOCKERD_PID" 2>/dev/null || true
		wait "$DOCKERD_PID" 2>/dev/null || true
	fi
	if [ -d "$CRUN_ROOT" ]; then
		# shellcheck disable=SC2016 # expanded by that sh
		unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null
			for c in $(crun --root "$1" list -q 2>/dev/null); do
				crun --root "$1" delete --force "$c"
			done' sh "$CRUN_ROOT" || true
	fi
	# deepest first
	awk -v w="$WORK" 'index($5, w) == 1 { print length($5), $5 }' /proc/self/mountinfo |
		sort -rn | cut -d' ' -f2- | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	exit "$rc"
}
# What hsup -d docker left at the run's dockerd once it has stopped: its containers (it removes
# them as it stops) are named in the summary; then they and its images (hsup-release/*, which it
# keeps while a release uses them, and hsup-stack/*) are removed, before dockerd stops.
docker_leftovers() { # each call bounded: a dockerd that hangs must not hang the cleanup
	local c i
	c=$(timeout 60 "${DOCKER[@]}" ps -aq --filter label=hsup.dyno 2>/dev/null || true)
	if [ -n "$c" ]; then
		echo "hsup -d docker's containers left: $(echo "$c" | wc -l)" |
			tee -a "$RESULTS/summary.txt" >&2
		# shellcheck disable=SC2086
		timeout 60 "${DOCKER[@]}" rm -f $c >/dev/null 2>&1 || true
	fi
	i=$(timeout 60 "${DOCKER[@]}" images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null |
		grep -E '^hsup-(release|stack)/' || true)
	# shellcheck disable=SC2086
	[ -z "$i" ] || timeout 60 "${DOCKER[@]}" rmi -f $i >/dev/null 2>&1 || true
	i=$(timeout 60 "${DOCKER[@]}" images -q --filter dangling=true 2>/dev/null || true)
	# shellcheck disable=SC2086
	[ -z "$i" ] || timeout 60 "${DOCKER[@]}" rmi -f $i >/dev/null 2>&1 || true
	c=$(timeout 60 "${DOCKER[@]}" images --format '{{.Repository}}' 2>/dev/null | grep -c -E '^hsup-(release|stack)/' || true)
	[ "${c:-0}" = 0 ] || echo "hsup's images that could not be removed: $c" >&2
}

MEASURE_PID=
stop_measuring() {
	[ -z "$MEASURE_PID" ] || { kill -TERM "$MEASURE_PID" 2>/dev/null; wait "$MEASURE_PID" || true; }
	exit "$1"
}
trap inner_cleanup EXIT
trap 'stop_measuring 130' INT
trap 'stop_measuring 143' TERM

# cgroups of the run's own in every hierarchy, under the ones it was started in: what hsup,
# crun and docker make goes beneath them, and their CPU time is the run's own.
join_cgroups() {
	local ctrls path dir mine
	mine=$(cat /proc/self/cgroup) # read whole: it changes as the loop moves this shell
	while IFS=: read -r _ ctrls path; do
		case $ctrls in
		'') dir=/sys/fs/cgroup/unified ;;
		name=*) dir=/sys/fs/cgroup/${ctrls#name=} ;;
		*) dir=/sys/fs/cgroup/${ctrls%%,*} ;;
		esac
		[ -d "$dir" ] || continue
		dir=${dir}${path%/}/$TAG
		mkdir "$dir"
		if [ -e "$dir/cpuset.cpus" ]; then
			cat "${dir%/*}/cpuset.cpus" >"$dir/cpuset.cpus"
			cat "${dir%/*}/cpuset.mems" >"$dir/cpuset.mems"
		fi
		echo $$ >"$dir/cgroup.procs"
	done <<<"$mine"
}

private_dirs() {
	ip link set lo up
	mount -t tmpfs -o mode=755 tmpfs /run # ip netns, dockerd, containerd and iptables' lock
	mkdir /run/netns /run/lock
	[ ! -d /etc/docker ] || mount -t tmpfs -o mode=755 tmpfs /etc/docker
}

make_stack() {
	log "building the stack (hsup-stack host)"
	mkdir -p "$WORK/stacks"
	"$HSUP_STACK" host "$WORK/stacks/tree" >/dev/null
	"$HSUP_STACK" build --manifest "$WORK/stacks/manifest.yml" "$WORK/stacks/tree" host 1 \
		"$WORK/stacks" >/dev/null 2>&1
	rm -rf "$WORK/stacks/tree"
	# fetched here, so that neither hsup does it (and maps libcurl) before its memory is read
	"$HSUP_STACK" fetch -m "$WORK/stacks/manifest.yml" host >/dev/null
}

slug() { # slug MB: the path of a slug of MB megabytes (gzipped), made if missing
	local f=$SLUG_CACHE/slug-$1mb.tgz
	if [ ! -s "$f" ]; then
		log "making a $1 MB slug into $SLUG_CACHE (once)"
		mkdir -p "$SLUG_CACHE"
		python3 bench/mkslug.py "$f.tmp" "$(($1 * 1000000))"
		mv "$f.tmp" "$f"
	fi
	echo "$f"
}

# start_hsup NAME SLUG [DRIVER]: an hsup (-d libcontainer unless DRIVER says) whose release
# runs the marked command as web, 0 of them yet; -d docker's at the run's dockerd
start_hsup() {
	local d=$WORK/$1 driver=${3:-libcontainer} state=$STATE
	[ "$driver" = libcontainer ] || state=$STATE_DOCKER
	mkdir -p "$d/ctl"
	printf '{"Version": 1, "Slug": "%s", "Processes": [{"Type": "web", "Quantity": 0, "Args": ["exec sleep %s"]}]}\n' \
		"$2" "$MARK_SECS" >"$d/ctl/new"
	HSUP_CONTROL_DIR=$d/ctl HSUP_STATE_DIR=$state HSUP_DATA_DIR=$d/data \
		HSUP_STACK_MANIFEST=$WORK/stacks/manifest.yml \
		LIBCONTAINER_DYNO_UID_MIN=$UID_MIN LIBCONTAINER_DYNO_UID_MAX=$UID_MAX \
		DOCKER_HOST=unix://$WORK/docker/sock \
		"$HSUP" -d "$driver" start -s "$d/sock" >"$d/out" 2>"$d/err" &
	HSUP_PIDS+=($!)
}

wait_loaded() { # wait_loaded NAME: until its release is built and applied
	local d=$WORK/$1 i
	for ((i = 0; i < 3000; i++)); do
		[ ! -e "$d/ctl/loaded" ] || return 0
		if [ -e "$d/ctl/last_error" ]; then
			log "$1: $(cat "$d/ctl/last_error")"
			return 1
		fi
		sleep 0.1
	done
	log "$1: its release was not loaded within 300 s"
	cat "$d/err" >&2
	return 1
}

start_dockerd() {
	local d=$WORK/docker i dockerd cli
	if ! dockerd=$(command -v dockerd); then
		DOCKER_SKIP="dockerd is not installed (Debian's docker.io)"
		return 0
	fi
	if [ ! -d /etc/docker ]; then
		DOCKER_SKIP="no /etc/docker, which the run hides behind a tmpfs of its own"
		return 0
	fi
	# the client of the same package, not another one earlier in PATH
	cli=${dockerd%/sbin/dockerd}/bin/docker
	[ -x "$cli" ] || cli=$(command -v docker) || {
		DOCKER_SKIP="no docker client"
		return 0
	}
	mkdir -p "$d"
	export DOCKER_CONFIG=$d/config
	log "starting dockerd (overlay2, data in $d)"
	"$dockerd" --storage-driver=overlay2 --data-root "$d/data" --exec-root /run/docker-bench \
		--pidfile "$d/pid" -H "unix://$d/sock" --iptables=false --cgroup-parent docker \
		>"$d/log" 2>&1 &
	DOCKERD_PID=$!
	DOCKER=("$cli" -H "unix://$d/sock")
	for ((i = 0; i < 300; i++)); do
		"${DOCKER[@]}" info >/dev/null 2>&1 && break
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! "${DOCKER[@]}" info >/dev/null 2>&1; then
		DOCKER_SKIP="dockerd did not start: $(grep -i -m1 -E 'level=(fatal|error)' "$d/log" || tail -1 "$d/log")"
		return 0
	fi
	log "importing the stack with the 1 MB slug at /app as a docker image"
	if ! tar -C "$STACK_ROOTFS" -c --exclude=./app . -C "${SLUG_TREE%/*}" \
		--transform "s,^${SLUG_TREE##*/},app," "${SLUG_TREE##*/}" |
		"${DOCKER[@]}" import - "$TAG:1" >/dev/null; then
		DOCKER_SKIP="docker import of the stack failed"
		return 0
	fi
	DOCKER_VERSION="docker $("${DOCKER[@]}" version --format '{{.Server.Version}}' 2>/dev/null)"
	# hsup -d docker, with the 1 MB slug: its release becomes an image (the stack imported,
	# the slug added and committed) before it is loaded
	log "starting hsup -d docker with the 1 MB slug (its stack and release images)"
	start_hsup hsupd "$1" docker
	HSUPD_PID=${HSUP_PIDS[-1]}
	if ! wait_loaded hsupd; then
		DOCKERD_SKIP="hsup -d docker's release was not loaded: $(cat "$WORK/hsupd/ctl/last_error" 2>/dev/null || tail -1 "$WORK/hsupd/err")"
		return 0
	fi
}

slug_info() { # slug_info SLUG TREE: its size and what it unpacks to
	printf '%s: %s MB gzipped, %s files, %s MB unpacked' "${1##*/}" \
		"$(awk -v s="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", s / 1e6 }')" \
		"$(find "$2" -type f | wc -l)" "$(du -sm "$2" | cut -f1)"
}

machine() {
	echo "$(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r), $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM"
}

main() {
	local one two
	join_cgroups
	private_dirs
	make_stack
	one=$(slug 1)
	two=$(slug 200)
	log "starting two hsups (-d libcontainer): one with the 1 MB slug, one with the 200 MB slug"
	start_hsup hsup1 "$one"
	start_hsup hsup200 "$two"
	wait_loaded hsup1
	wait_loaded hsup200
	STACK_ROOTFS=$("$HSUP_STACK" list -m "$WORK/stacks/manifest.yml" | awk '$1 == "host" { print $NF }')
	SLUG_TREE=$(echo "$WORK"/hsup1/data/slugs/slug-*)
	if [ ! -d "$STACK_ROOTFS/bin" ] || [ ! -d "$SLUG_TREE" ]; then
		log "the stack ($STACK_ROOTFS) or the slug's tree ($SLUG_TREE) is not there"
		exit 1
	fi
	CRUN_SKIP='' CRUN_VERSION=''
	if command -v crun >/dev/null; then
		CRUN_VERSION=$(crun --version | head -1 | sed 's/ version / /')
	else
		CRUN_SKIP="crun is not installed"
	fi
	DOCKER_SKIP='' DOCKER_VERSION='' DOCKERD_SKIP='' HSUPD_PID=''
	start_dockerd "$one"
	[ -z "$DOCKER_SKIP" ] || DOCKERD_SKIP="no dockerd: $DOCKER_SKIP"
	HSUP_STATE=$STATE DOCKER_IMAGE=$TAG:1 DOCKER_CLI="${DOCKER[*]}" CGROUP_REL=$TAG
	HSUP1_SOCK=$WORK/hsup1/sock HSUP1_PID=${HSUP_PIDS[0]} HSUP1_DATA=$WORK/hsup1/data
	HSUP200_SOCK=$WORK/hsup200/sock HSUP200_PID=${HSUP_PIDS[1]} HSUP200_DATA=$WORK/hsup200/data
	HSUP1_CTL=$WORK/hsup1/ctl HSUP1_SLUG_PATH=$one HSUP1_SLUG="1 MB"
	HSUP200_CTL=$WORK/hsup200/ctl HSUP200_SLUG_PATH=$two HSUP200_SLUG="200 MB"
	HSUPD_SOCK=$WORK/hsupd/sock HSUPD_DATA=$WORK/hsupd/data HSUPD_CTL=$WORK/hsupd/ctl
	HSUPD_SLUG_PATH=$one HSUPD_STATE=$STATE_DOCKER DOCKERD_SOCK=$WORK/docker/sock
	SLUGS_INFO="$(slug_info "$one" "$WORK"/hsup1/data/slugs/slug-*), $(slug_info "$two" "$WORK"/hsup200/data/slugs/slug-*)"
	HSUP_VERSION="$("$HSUP" version) (git $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
	MACHINE=$(machine)
	CPUACCT_OURS=$(find /sys/fs/cgroup/cpuacct/ -maxdepth 4 -type d -name "$TAG" | head -1)
	export WAITN MARK_SECS WORK RESULTS REPS FORMATION_REPS RELEASE_REPS QUICK STACK_ROOTFS \
		SLUG_TREE HSUP_INIT NSINIT CRUN_SKIP CRUN_VERSION CRUN_ROOT DOCKER_SKIP DOCKER_VERSION \
		HSUP_STATE DOCKER_IMAGE DOCKER_CLI CGROUP_REL HSUP_VERSION MACHINE CPUACCT_OURS \
		HSUP1_SOCK HSUP1_PID HSUP1_DATA HSUP1_CTL HSUP1_SLUG_PATH HSUP1_SLUG \
		HSUP200_SOCK HSUP200_PID HSUP200_DATA HSUP200_CTL HSUP200_SLUG_PATH HSUP200_SLUG \
		SLUGS_INFO HSUPD_SOCK HSUPD_PID HSUPD_DATA HSUPD_CTL HSUPD_SLUG_PATH HSUPD_STATE \
		DOCKERD_SOCK DOCKERD_SKIP
	log "measuring: $REPS rounds of start and stop, then the formation of 100"
	# crun 1.8 refuses this host's hybrid cgroups: its containers are made where the v2 mount
	# is not (DESIGN §5)
	# (in the background, the python process itself, so that a signal reaches it at once:
	# it removes the peers' container it was timing, if any, and ends)
	unshare -m sh -c 'umount /sys/fs/cgroup/unified 2>/dev/null; exec python3 bench/dynos_bench.py' &
	MEASURE_PID=$!
	wait "$MEASURE_PID"
	MEASURE_PID=
	hsup_said
}

# What the hsups said beyond the expected lines, for the summary: errors show here.
hsup_said() {
	local n f lines
	for n in hsup1 hsup200 hsupd; do
		f=$WORK/$n/err
		[ -f "$f" ] || continue
		# -d docker's dynos end with their command's status, 143 (SIGTERM), forwarded by the init
		lines=$(grep -v -E 'hsup \| (loaded release v[0-9]+ from|importing stack [^ ]+ into docker$|[a-z]+\.[0-9]+ (started \(pid [0-9]+\)|was killed by signal 15 \(Terminated\)|exited with code 143)$)' "$f" || true)
		[ -n "$lines" ] || continue
		{
			echo
			echo "$n said ($(echo "$lines" | wc -l) lines, the first 20):"
			echo "$lines" | head -20 | sed 's/^/   /'
		} | tee -a "$RESULTS/summary.txt"
	done
}

main
