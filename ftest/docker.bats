#!/usr/bin/env bats
# Dynos as Docker containers (-d docker), from outside, against a real dockerd of the file's own
# (ftest/dockerd.bash: its own mount and network namespaces, its data under the file's
# directory), on a small stack of this host's programs built once for the file. Each test's
# hsup runs in a mount namespace of its own (the stack's loop mount goes with it) and checks
# what a user sees: dynos' output and environment, `docker ps` and `docker images`.
load helpers
load dockerd

export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-300}

setup_file() {
	[ "$(id -u)" = 0 ] || skip "dockerd and loop mounts need root"
	export DK=$BATS_FILE_TMPDIR/docker STACKS=$BATS_FILE_TMPDIR/stacks DK_TLS=
	local tls=()
	if command -v openssl >/dev/null; then
		DK_TLS=$BATS_FILE_TMPDIR/tls
		make_certs "$DK_TLS"
		# also on TCP with TLS, verified both ways, in dockerd's network namespace
		tls=(-H tcp://127.0.0.1:2376 --tlsverify --tlscacert "$DK_TLS/ca.pem"
			--tlscert "$DK_TLS/server-cert.pem" --tlskey "$DK_TLS/server-key.pem")
	fi
	dockerd_start "$DK" "${tls[@]}"
	export DOCKERD_SKIP DOCKERD_PID
	[ -z "$DOCKERD_SKIP" ] || return 0
	mkdir -p "$STACKS"
	local hs=$BATS_TEST_DIRNAME/../build/hsup-stack
	"$hs" host "$STACKS/tree" >/dev/null
	"$hs" build --manifest "$STACKS/manifest.yml" "$STACKS/tree" host 1 "$STACKS" >/dev/null
	rm -rf "$STACKS/tree"
}

# A CA, dockerd's certificate for 127.0.0.1 and a client certificate, in DIR as
# DOCKER_CERT_PATH wants them (ca.pem, cert.pem, key.pem).
make_certs() {
	local d=$1
	mkdir -p "$d"
	(
		cd "$d" || exit 1
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca-key.pem -out ca.pem -days 2 \
			-subj /CN=hsup-test-ca
		openssl req -newkey rsa:2048 -nodes -keyout server-key.pem -out server.csr \
			-subj /CN=127.0.0.1
		printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
			-out server-cert.pem -days 2 -extfile server.ext
		openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr -subj /CN=hsup
		printf 'extendedKeyUsage=clientAuth\n' >client.ext
		openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
			-out cert.pem -days 2 -extfile client.ext
	) >/dev/null 2>&1
}

teardown_file() {
	[ -z "${DK:-}" ] || dockerd_stop "$DK"
}

eval "$(declare -f setup | sed '1s/setup/helpers_setup/')"
eval "$(declare -f teardown | sed '1s/teardown/helpers_teardown/')"

setup() {
	[ "$(id -u)" = 0 ] || skip "dockerd and loop mounts need root"
	[ -z "$DOCKERD_SKIP" ] || skip "$DOCKERD_SKIP"
	helpers_setup
	mkdir -p "$T/slug/app"
	export HSUP_STACK_MANIFEST=$STACKS/manifest.yml
	unset DOCKER_IMAGE_CACHE
}

# helpers.bash's, then whatever containers the test left
teardown() {
	local rc=0 ids
	helpers_teardown || rc=$?
	ids=$(docker_cli ps -aq 2>/dev/null)
	# shellcheck disable=SC2086
	[ -z "$ids" ] || docker_cli rm -f $ids >/dev/null 2>&1
	return "$rc"
}

# hsup -d docker in a mount namespace of its own; $! is hsup (unshare execs it).
start_dk() {
	unshare -m --propagation private "$HSUP" -d docker "$@" >>"$T/out" 2>>"$T/err" &
	HSUP_PID=$!
}

# A release of the slug in $T/slug: dk_release VERSION PROCESSES [ENV] [STACK]
dk_release() {
	tar -C "$T/slug" -czf "$T/slug-$1.tgz" ./app
	printf '{"Version": %s, "Slug": "%s", "Stack": "%s", "Env": %s, "Processes": %s}\n' \
		"$1" "$T/slug-$1.tgz" "${4:-}" "${3:-null}" "$2" >"$CTL/new.tmp"
	mv "$CTL/new.tmp" "$CTL/new"
}

# Containers (running or not) with the given label value, e.g. hsup.dyno=web.1.
containers() { docker_cli ps -aq --filter "label=$1" | wc -l; }
all_containers() { docker_cli ps -aq | wc -l; }
release_images() { docker_cli images -q 'hsup-release/*' | sort -u | wc -l; }

# bats test_tags=docker
@test "docker: two process types run as the dyno user with the dyno environment; scale, replace and stop" {
	mkdir -p "$T/slug/app/.profile.d"
	echo 'export FROM_PROFILE=yes' >"$T/slug/app/.profile.d/a.sh"
	echo 'echo from-the-slug' >"$T/slug/app/hello.sh"
	dk_release 1 '[{"Type": "web", "Quantity": 2, "Args": ["echo web $DYNO port=$PORT v=$V home=$HOME uid=$(id -u) cwd=$(pwd) profile=$FROM_PROFILE; bash hello.sh; touch /app/mine && echo app-writable; exec sleep 1000"]}, {"Type": "worker", "Quantity": 1, "Args": ["echo worker $DYNO >&2; exec sleep 1000"]}]' '{"V": "one"}'
	start_dk start -s "$SOCK"
	wait_for '[ "$(grep -c "app-writable" "$T/out")" = 2 ] && grep -q "worker worker.1" "$T/out"' 120
	grep -q 'web web.1 port=5000 v=one home=/app uid=2999 cwd=/app profile=yes' "$T/out"
	grep -q 'web.2 .*from-the-slug' "$T/out"
	[ "$(containers hsup.dyno=web.1)" = 1 ]
	[ "$(containers hsup.dyno=worker.1)" = 1 ]
	[ "$(all_containers)" = 3 ]
	# each dyno its own address, shown by the control API
	api GET /status | python3 -c 'import json,sys; s=json.load(sys.stdin)["Processes"]; assert s["web"]["IPAddress"].count(".") == 3, s'
	ip=$(docker_cli inspect -f '{{.NetworkSettings.IPAddress}}' "$(docker_cli ps -q --filter label=hsup.dyno=worker.1)")
	api GET /status | grep -q "\"$ip\""

	"$HSUP" -s "$SOCK" scale web=3 >/dev/null
	wait_for '[ "$(docker_cli ps -q --filter label=hsup.dyno=web.3 | wc -l)" = 1 ]' 60
	"$HSUP" -s "$SOCK" scale web=1 >/dev/null
	wait_for '[ "$(all_containers)" = 2 ]' 60

	# a new release: every container replaced, the new environment seen, the old image gone
	dk_release 2 '[{"Type": "web", "Quantity": 1, "Args": ["echo web $DYNO v=$V; exec sleep 1000"]}, {"Type": "worker", "Quantity": 1, "Args": ["exec sleep 1000"]}]' '{"V": "two"}'
	wait_for 'grep -q "web web.1 v=two" "$T/out"' 120
	wait_for '[ "$(containers hsup.release=v1)" = 0 ] && [ "$(containers hsup.release=v2)" = 2 ]' 60
	wait_for '[ "$(release_images)" = 1 ]' 30
	docker_cli images 'hsup-release/*' | grep -q 'v2-'

	kill -TERM "$HSUP_PID"
	wait_hsup 60
	[ "$status" -eq 0 ]
	[ "$(all_containers)" = 0 ]
	run docker_cli images 'hsup-release/*' --format '{{.Tag}}'
	[[ "$output" != *v1-* ]]
}

# bats test_tags=docker
@test "docker: a container killed behind hsup's back is noticed and started again" {
	dk_release 1 '[{"Type": "web", "Quantity": 1, "Args": ["echo up; exec sleep 1000"]}]'
	start_dk start -s "$SOCK"
	wait_for '[ "$(docker_cli ps -q --filter label=hsup.dyno=web.1 | wc -l)" = 1 ]' 120
	first=$(docker_cli ps -q --filter label=hsup.dyno=web.1)
	docker_cli kill "$first" >/dev/null
	wait_for 'grep -q "web.1 exited with code 137" "$T/err"' 30
	wait_for 'n=$(docker_cli ps -q --filter label=hsup.dyno=web.1); [ -n "$n" ] && [ "$n" != "$first" ]' 60
	[ "$(all_containers)" = 1 ]
	[ "$(grep -c up "$T/out")" -ge 2 ]
}

# bats test_tags=docker
@test "docker: a dyno past its memory limit is killed, says R15, and is restarted" {
	cat >"$T/slug/app/hog.py" <<-'EOF'
	print("hogging", flush=True)
	a = bytearray(1200 << 20)         # past standard-1x's 1 GB limit
	for i in range(0, len(a), 4096): a[i] = 1
	print("not reached", flush=True)
	EOF
	dk_release 1 '[{"Type": "hog", "Quantity": 1, "Args": ["python3 hog.py"]}]'
	start_dk start -s "$SOCK"
	wait_for 'grep -q "Error R15" "$T/out"' 120
	wait_for '[ "$(grep -c hogging "$T/out")" -ge 2 ]' 60
	grep -q "hog.1 *| Error R15 (Memory quota vastly exceeded)" "$T/out"
	! grep -q "not reached" "$T/out"
	grep -q "hog.1 was killed by signal 9 (Killed) for passing its memory limit" "$T/err"
}

# bats test_tags=docker
@test "docker: hsup killed with -9 and started again stops the leftovers and runs exactly one set" {
	dk_release 1 '[{"Type": "web", "Quantity": 2, "Args": ["trap \"echo got TERM; exit 0\" TERM; echo up; while :; do sleep 0.2; done"]}]'
	start_dk start -s "$SOCK"
	wait_for '[ "$(docker_cli ps -q --filter label=hsup.dyno=web.2 | wc -l)" = 1 ] && [ "$(docker_cli ps -q | wc -l)" = 2 ]' 120
	old=$(docker_cli ps -q | sort)
	kill -KILL "$HSUP_PID"
	wait "$HSUP_PID" 2>/dev/null || true
	HSUP_PID=
	[ "$(docker_cli ps -q | wc -l)" = 2 ] # they outlive it
	: >"$T/err"
	start_dk start -s "$SOCK"
	wait_for '[ "$(running_dynos 2>/dev/null)" = "web.1 web.2" ]' 120
	wait_for '[ "$(docker_cli ps -aq | wc -l)" = 2 ]' 60
	now=$(docker_cli ps -q | sort)
	for id in $old; do [[ "$now" != *"$id"* ]]; done
	grep -q 'died leaving 2 dynos running' "$T/err"
	sleep 2
	[ "$(docker_cli ps -aq | wc -l)" = 2 ]
}

# bats test_tags=docker
@test "docker: containers of other programs, and of another hsup's state, are never touched" {
	dk_release 1 '[{"Type": "web", "Quantity": 1, "Args": ["exec sleep 1000"]}]'
	# a second hsup with a state of its own, running the same release
	mkdir "$T/ctl2"
	cp "$CTL/new" "$T/ctl2/new"
	HSUP_CONTROL_DIR=$T/ctl2 HSUP_STATE_DIR=$T/state2 unshare -m --propagation private \
		"$HSUP" -d docker start -s "$T/sock2" >>"$T/out2" 2>>"$T/err2" &
	local other=$! foreign
	start_dk start -s "$SOCK"
	wait_for '[ "$(docker_cli ps -q --filter label=hsup.dyno=web.1 | wc -l)" = 2 ]' 120
	# and another program's container, with a label like hsup's
	foreign=$(docker_cli create --label hsup.owner=someone-else hsup-stack/host:1 /bin/true)
	# each hsup has its image of the release: the first one's end removes only its own
	[ "$(release_images)" = 2 ]
	kill -TERM "$HSUP_PID"
	wait_hsup 60
	[ "$(docker_cli ps -q --filter label=hsup.dyno=web.1 | wc -l)" = 1 ]
	[ "$(release_images)" = 1 ]
	# the other's dyno, killed, is started again from its image
	docker_cli kill "$(docker_cli ps -q --filter label=hsup.dyno=web.1)" >/dev/null
	wait_for 'grep -q "web.1 exited with code 137" "$T/err2"' 30
	wait_for '[ "$(grep -c "web.1 started" "$T/err2")" = 2 ]' 60
	kill -TERM "$other"
	wait "$other"
	[ "$(docker_cli ps -aq --no-trunc)" = "$foreign" ]
	[ "$(release_images)" = 0 ]
}

# bats test_tags=docker
@test "docker: dockerd's errors are shown in its own words, with the call that failed" {
	dk_release 1 '[{"Type": "web", "Quantity": 1, "Args": ["exec sleep 1000"]}]'
	start_dk start -s "$SOCK"
	wait_for '[ "$(docker_cli ps -q --filter label=hsup.dyno=web.1 | wc -l)" = 1 ]' 120
	# the release's image untagged behind hsup's back: the next dyno cannot be created
	docker_cli rmi -f "$(docker_cli images 'hsup-release/*' --format '{{.Repository}}:{{.Tag}}')" >/dev/null
	"$HSUP" -s "$SOCK" scale web=2 >/dev/null
	wait_for 'grep -q "web.2 failed to start: docker: POST /containers/create: 404: No such image: hsup-release/" "$T/err"' 30
	kill -TERM "$HSUP_PID"
	wait_hsup 60
}

# bats test_tags=docker
@test "docker: a stack the manifest lacks, and a dockerd that does not answer, refuse the release with the reason" {
	dk_release 1 '[{"Type": "web", "Quantity": 1, "Args": ["exec sleep 1000"]}]' null nosuchstack
	start_dk start -s "$SOCK"
	wait_for '[ -e "$CTL/last_error" ] || grep -q nosuchstack "$T/err"' 60
	grep -qs nosuchstack "$CTL/last_error" "$T/err"
	kill -TERM "$HSUP_PID"
	wait_hsup 60
	rm -f "$CTL/last_error" "$CTL/rejected" "$CTL/loaded"
	: >"$T/err"
	dk_release 2 '[{"Type": "web", "Quantity": 1, "Args": ["exec sleep 1000"]}]'
	DOCKER_HOST=unix://$T/no-dockerd.sock start_dk start -s "$SOCK"
	wait_for 'grep -q "docker: GET /containers/json: .*no-dockerd.sock" "$T/err" "$CTL/last_error" 2>/dev/null' 60
	[ "$(all_containers)" = 0 ]
}

# bats test_tags=docker
@test "docker: a dyno's output arrives whole, stdout and stderr, however much of it comes at once" {
	dk_release 1 '[{"Type": "web", "Quantity": 1, "Args": ["seq 1 200000; echo to-stderr >&2; echo done; exec sleep 1000"]}]'
	start_dk start -s "$SOCK"
	# dockerd copies a container's stdout and stderr to the attach stream each on its own:
	# a stderr line may come after stdout lines written later
	wait_for 'grep -q "web.1 *| done" "$T/out" && grep -q "web.1 *| to-stderr" "$T/out"' 120
	[ "$(grep -c 'web.1 *| [0-9]*$' "$T/out")" = 200000 ]
	grep -q 'web.1 *| 199999$' "$T/out"
	[ "$(api_code GET /health)" = 200 ]
}

# bats test_tags=docker
@test "docker: a stalled log reader pauses the dyno's stream; hsup answers meanwhile and no line is lost" {
	mkfifo "$T/fifo"
	exec 8<>"$T/fifo" # open, never read: hsup's output stalls, then the dyno's pipe fills
	dk_release 1 '[{"Type": "web", "Quantity": 1, "Args": ["seq 1 1000000; echo done; exec sleep 1000"]}]'
	unshare -m --propagation private "$HSUP" -d docker start -s "$SOCK" >"$T/fifo" 2>>"$T/err" 8<&- &
	HSUP_PID=$!
	wait_for '[ "$(docker_cli ps -q --filter label=hsup.dyno=web.1 | wc -l)" = 1 ]' 120
	sleep 3
	[ "$(api_code GET /health)" = 200 ]
	[ "$(dyno_field web.1 State)" = started ]
	cat "$T/fifo" >"$T/out" 8<&- &
	reader=$!
	wait_for 'grep -q "web.1 *| done" "$T/out"' 120
	exec 8<&-
	[ "$(grep -c 'web.1 *| [0-9]*$' "$T/out")" = 1000000 ]
	kill -TERM "$HSUP_PID"
	wait_hsup 60
	wait "$reader"
}

# bats test_tags=docker
@test "docker: hsup run relays stdin and output whole, both ways, to a reader slower than the dyno" {
	unset HSUP_CONTROL_DIR
	head -c 4000000 /dev/urandom >"$T/in"
	local want rdk="unshare -m --propagation private '$HSUP' -d docker run"
	want=$(sha256sum <"$T/in" | cut -d' ' -f1)
	# the dyno's stdin is the file, to its end
	run bash -c "$rdk 'wc -c' <'$T/in' 2>/dev/null"
	[ "$status" -eq 0 ]
	[ "$output" = 4000000 ]
	# and back, much larger than a pipe, to a reader that starts late
	run bash -c "$rdk 'cat' <'$T/in' 2>/dev/null | (sleep 2; sha256sum)"
	[ "${output%% *}" = "$want" ]
	# stdin from a pipe that ends later than the dyno starts; stdout and stderr apart
	run bash -c "(sleep 1; echo late) | $rdk 'cat; echo to-err >&2' 2>'$T/err2'"
	[ "$output" = late ]
	grep -qx to-err "$T/err2"
	[ "$(all_containers)" = 0 ]
}

# bats test_tags=docker
@test "docker: DOCKER_HOST tcp:// with DOCKER_CERT_PATH speaks TLS, verified both ways" {
	[ -n "$DK_TLS" ] || skip "openssl is not installed"
	dk_release 1 '[{"Type": "web", "Quantity": 1, "Args": ["echo over-tls; exec sleep 1000"]}]'
	DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_CERT_PATH=$DK_TLS \
		nsenter --net="/proc/$DOCKERD_PID/ns/net" unshare -m --propagation private \
		"$HSUP" -d docker start -s "$SOCK" >>"$T/out" 2>>"$T/err" &
	HSUP_PID=$!
	wait_for 'grep -q "web.1 *| over-tls" "$T/out"' 120
	kill -TERM "$HSUP_PID"
	wait_hsup 60
	[ "$status" -eq 0 ]
	[ "$(all_containers)" = 0 ]
	# hsup run's stdin goes over the same TLS connection, and its end reaches the dyno
	run bash -c "printf 'a\nb\n' | DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_CERT_PATH=$DK_TLS \
		nsenter --net=/proc/$DOCKERD_PID/ns/net unshare -m --propagation private \
		'$HSUP' -d docker run 'wc -l; exit 4' 2>/dev/null"
	[ "$status" -eq 4 ]
	[ "$output" = 2 ]
	# without a client certificate hsup does not start, and says which file is missing
	mkdir "$T/certs"
	cp "$DK_TLS/ca.pem" "$DK_TLS/cert.pem" "$T/certs/"
	DOCKER_HOST=tcp://127.0.0.1:2376 DOCKER_CERT_PATH=$T/certs run "$HSUP" -d docker start
	[ "$status" -ne 0 ]
	[[ "$output" == *"DOCKER_CERT_PATH: $T/certs/key.pem"* ]]
}
