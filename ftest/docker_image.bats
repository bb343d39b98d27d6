#!/usr/bin/env bats
# hsup inside Docker (docker/), from outside: a private dockerd (ftest/dockerd.bash) builds the
# image with `make docker` (its Debian base made by debootstrap and `docker import`, as there
# is no registry), then runs it with the explicit capability set of the README, on a small
# stack of this host's programs passed as a volume: two container dynos, a new release written
# into the control volume from the host, `docker stop`, and nothing left on the host.
# Not helpers.bash: its setup and teardown are for tests that run hsup on the host.
load dockerd
load poll

HSUP=$(readlink -f "${HSUP:-$BATS_TEST_DIRNAME/../build/hsup}")

export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-600}

# Bats 1.8 takes a skip in setup_file for a failure: the reason is kept for setup to give.
setup_file() {
	export SKIP_WHY=
	if [ "$(id -u)" != 0 ]; then
		SKIP_WHY="containers need root"
	elif ! command -v debootstrap >/dev/null; then
		SKIP_WHY="debootstrap is not installed (the image's base is made with it)"
	fi
	[ -z "$SKIP_WHY" ] || return 0
	export S=$(mktemp -d /tmp/hsup-dimg.XXXXXX)
	chmod 755 "$S"
	dockerd_start "$S/docker"
	export DOCKERD_PID
	SKIP_WHY=$DOCKERD_SKIP
	[ -z "$SKIP_WHY" ] || return 0
	export MARK=dimg-$$ IMAGE=hsup-test:$$ NAME=hsup-test-$$
	export DOCKER=/usr/bin/docker
	[ -x "$DOCKER" ] || DOCKER=docker
	local root=$BATS_TEST_DIRNAME/.. start=$SECONDS rc=0 stack
	# The stack, fetched and mounted by hsup inside from its volume (/var/lib/hsup/stacks),
	# made meanwhile
	make_stack "$root/build/hsup-stack" >"$S/stack.log" 2>&1 &
	stack=$!
	# The image, as a user makes it; the first test checks that it was made.
	make -C "$root" docker DOCKER="$DOCKER" DOCKER_IMAGE="$IMAGE" >"$S/build.log" 2>&1 || rc=$?
	echo "$rc $((SECONDS - start))" >"$S/build.status"
	wait "$stack" || { cat "$S/stack.log" >&2; return 1; }
	mkdir -p "$S/ctl" "$S/slugs/app/.profile.d"
	echo 'echo "profile of $DYNO" >&2' >"$S/slugs/app/.profile.d/hello.sh"
	tar -C "$S/slugs" -czf "$S/slugs/slug.tgz" ./app
}

make_stack() { # make_stack HSUP_STACK
	mkdir -p "$S/stacks"
	"$1" host "$S/tree"
	"$1" build --url "file:///var/lib/hsup/stacks/host-$MARK.img.gz" \
		--manifest "$S/stacks/manifest.yml" "$S/tree" host "$MARK" "$S/stacks"
	rm -rf "$S/tree"
}

teardown_file() {
	[ -n "${S:-}" ] || return 0
	if [ -n "${DOCKERD_PID:-}" ]; then
		docker_cli rm -f "$NAME" >/dev/null 2>&1
		dockerd_stop "$S/docker"
	fi
	local l
	for l in $(losetup -l -n -O NAME,BACK-FILE 2>/dev/null | awk -v m="host-$MARK.img" 'index($2, m) { print $1 }'); do
		losetup -d "$l" 2>/dev/null || true
	done
	rm -rf "$S"
}

setup() {
	[ -z "$SKIP_WHY" ] || skip "$SKIP_WHY"
}

# A release of the slug: two worker dynos printing GREETING and their name every 0.2 s. The
# mark in their command finds their processes from the host.
release() { # release VERSION GREETING
	printf '{"Version": %s, "Slug": "/slugs/slug.tgz", "Env": {"GREETING": "%s"}, "Processes": [{"Type": "worker", "Quantity": 2, "Args": ["while :; do echo \\"$GREETING $DYNO uid=$(id -u)\\"; sleep 0.2; done # %s"]}]}\n' \
		"$1" "$2" "$MARK" >"$S/ctl/new.tmp"
	mv "$S/ctl/new.tmp" "$S/ctl/new"
}

logs() { docker_cli logs "$NAME" 2>&1; }

wait_for() { # wait_for CONDITION SECONDS
	poll_until "$1" "$2" && return 0
	echo "timed out after $2 s waiting for: $1" >&2
	return 1
}

@test "make docker builds hsup's image from this tree" {
	read -r rc secs <"$S/build.status"
	echo "# make docker took ${secs} s (base image, then the build)" >&3
	[ "$rc" = 0 ] || { tail -40 "$S/build.log"; false; }
	run docker_cli run --rm --entrypoint hsup "$IMAGE" version
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *0.* ]]
}

@test "hsup in a container (the explicit capability set) runs a release's two dynos as containers" {
	release 1 one
	# the README's set, for a host where --privileged is refused (this one: no CAP_SYS_RESOURCE)
	docker_cli run -d --name "$NAME" --stop-timeout 40 \
		--cgroupns=private --cap-add SYS_ADMIN --cap-add NET_ADMIN \
		--security-opt seccomp=unconfined \
		--device-cgroup-rule 'b 7:* rwm' --device-cgroup-rule 'c 10:237 rwm' \
		-e LIBCONTAINER_DYNO_UID_MIN=21000 -e LIBCONTAINER_DYNO_UID_MAX=21999 \
		-v "$S/ctl:/etc/hsup" -v "$S/stacks:/var/lib/hsup/stacks" -v "$S/slugs:/slugs:ro" \
		"$IMAGE" >"$S/cid"
	wait_for 'logs | grep -q "worker.1 *| one worker.1" && logs | grep -q "worker.2 *| one worker.2"' 120 ||
		{ logs | tail -30; false; }
	logs | grep -v '| one'
	# each in a container of its own: a UID of the range given, the slug's profile sourced
	logs | grep -E -q "worker.1 *\| one worker.1 uid=21[0-9]{3}$"
	logs | grep -q "worker.2 *| profile of worker.2"
	# the control socket, in the control directory's volume, answers the host
	run "$HSUP" -s "$S/ctl/hsup.sock" status
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c '^worker\.[12] *started')" = 2 ]
	# the dynos' processes, seen from the host, are in the container's cgroups
	local pids
	pids=$(pgrep -f "# $MARK")
	[ -n "$pids" ]
	for p in $pids; do grep -q "memory:/docker/$(cat "$S/cid")/" "/proc/$p/cgroup"; done
}

@test "a release written into the control volume from the host reaches the dynos inside" {
	[ -s "$S/cid" ]
	release 2 two
	wait_for 'logs | grep -q "worker.1 *| two worker.1" && logs | grep -q "worker.2 *| two worker.2"' 120 ||
		{ logs | tail -30; false; }
	wait_for '[ ! -e "$S/ctl/new" ]' 10
	grep -q '"Version": 2' "$S/ctl/loaded"
	logs | grep -q "loaded release v2"
}

@test "docker stop stops every dyno within the stop timeout; the container exits with hsup's status" {
	[ -s "$S/cid" ]
	docker_cli stop "$NAME"
	run docker_cli inspect -f '{{.State.ExitCode}} {{.State.OOMKilled}}' "$NAME"
	echo "$output"
	# 0: hsup stopped its dynos and exited by itself (137 had the stop timeout run out)
	[ "$output" = "0 false" ]
	logs | tail -5
	logs | grep -q "Terminated: stopping all dynos"
	logs | grep -q "worker.1 was killed by signal 15"
	logs | grep -q "worker.2 was killed by signal 15"
	[ -z "$(pgrep -f "# $MARK")" ]
	[ ! -e "$S/ctl/hsup.sock" ]
}

@test "a container without NET_ADMIN exits with hsup's status, saying why" {
	[ -s "$S/cid" ]
	run timeout 120 "$DOCKER" run --rm --name "$NAME-bad" \
		--cgroupns=private --cap-add SYS_ADMIN --security-opt seccomp=unconfined \
		--device-cgroup-rule 'b 7:* rwm' --device-cgroup-rule 'c 10:237 rwm' \
		-v "$S/ctl:/etc/hsup" -v "$S/stacks:/var/lib/hsup/stacks" -v "$S/slugs:/slugs:ro" \
		"$IMAGE"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"forwarding and NAT of 172.16.0.0/12"*"Permission denied"* ]]
}

@test "nothing of the container's is left on the host: no process, loop device, mount or cgroup" {
	[ -s "$S/cid" ]
	local cid
	cid=$(cat "$S/cid")
	docker_cli rm "$NAME"
	run pgrep -f "# $MARK"
	[ -z "$output" ]
	run sh -c "losetup -l -n -O NAME,BACK-FILE | grep 'host-$MARK'"
	[ -z "$output" ]
	! grep -q "$S/[cs]" /proc/self/mountinfo
	! grep -q "$S/[cs]" "/proc/$DOCKERD_PID/mountinfo"
	run find /sys/fs/cgroup -maxdepth 4 -path "*$cid*"
	[ -z "$output" ]
}
