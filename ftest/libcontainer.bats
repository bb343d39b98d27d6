#!/usr/bin/env bats
# Dynos in containers (-d libcontainer), from outside: each test runs hsup in a network
# namespace of its own (`ip netns exec`, which also gives it a mount namespace whose mounts do
# not reach the host), with its own data and state directories, on a small stack of this
# host's programs built once for the file, and checks what a user sees; teardown removes the
# namespace and everything in it, and checks that nothing of hsup's is left on the host.
load helpers

export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-300}

setup_file() {
	[ "$(id -u)" = 0 ] || skip "containers need root"
	command -v ip >/dev/null || skip "ip (iproute2) is not installed"
	export STACKS=$BATS_FILE_TMPDIR/stacks
	mkdir -p "$STACKS"
	local hs=$BATS_TEST_DIRNAME/../build/hsup-stack
	"$hs" host "$STACKS/tree" >/dev/null
	"$hs" build --manifest "$STACKS/manifest.yml" "$STACKS/tree" host 1 "$STACKS" >/dev/null
	rm -rf "$STACKS/tree"
}

teardown_file() {
	[ -n "${STACKS:-}" ] || return 0
	local l
	for l in $(losetup -j "$STACKS/host-1.img" -O NAME -n 2>/dev/null); do
		losetup -d "$l" 2>/dev/null || true
	done
}

setup() {
	T=$(mktemp -d /tmp/hsup-lc.XXXXXX)
	chmod 755 "$T"
	CTL=$T/ctl SOCK=$T/sock NS=hsuplc$$n$BATS_TEST_NUMBER
	mkdir -p "$CTL" "$T/bin" "$T/slug/app/.profile.d"
	ip netns add "$NS"
	ip -n "$NS" link set lo up
	export HSUP_CONTROL_DIR=$CTL HSUP_STATE_DIR=$T/state HSUP_DATA_DIR=$T/data
	export HSUP_STACK_MANIFEST=$STACKS/manifest.yml
	unset HSUP_CONTROL_SOCKET HEROKU_ACCESS_TOKEN LIBCONTAINER_DYNO_EXTRA_INTERFACE \
		LIBCONTAINER_DYNO_EXTRA_ROUTES
	HSUP_PID=
}

teardown() {
	local rc=0
	if [ -n "$HSUP_PID" ] && kill -0 "$HSUP_PID" 2>/dev/null; then
		kill -TERM "$HSUP_PID"
		for _ in $(seq 100); do kill -0 "$HSUP_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$HSUP_PID" 2>/dev/null || true
		wait "$HSUP_PID" 2>/dev/null || rc=$?
	fi
	# whatever a failed test left running in its namespace
	pids=$(ip netns pids "$NS" 2>/dev/null)
	[ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
	ip netns delete "$NS" 2>/dev/null || true
	check_clean_exit "$rc"
	local clean=$?
	rm -rf "$T"
	return "$clean"
}

# Runs a command in the test's network namespace and a mount namespace of its own whose mounts
# do not reach the host (not `ip netns exec`: it hides /sys/fs/cgroup behind a new sysfs).
# Started in the background, $! is hsup itself: nsenter and unshare exec what they run.
start_lc() {
	nsenter --net="/run/netns/$NS" unshare -m --propagation slave \
		"$HSUP" -d libcontainer "$@" >>"$T/out" 2>>"$T/err" &
	HSUP_PID=$!
}

in_ns() { ip netns exec "$NS" "$@"; }

# The slug: $T/slug/app as a gzipped tar of ./app.
make_slug() {
	tar -C "$T/slug" -czf "$T/slug.tgz" ./app
}

# A release of the slug with the given processes.
slug_release() { # slug_release PROCESSES [ENV] [VERSION]
	make_slug
	printf '{"Version": %s, "Slug": "%s", "Env": %s, "Processes": %s}\n' "${3:-1}" \
		"$T/slug.tgz" "${2:-null}" "$1" >"$CTL/new.tmp"
	mv "$CTL/new.tmp" "$CTL/new"
}

web_app() {
	cat >"$T/slug/app/web.py" <<-'EOF'
	import http.server, os, socketserver
	class H(http.server.BaseHTTPRequestHandler):
	    def do_GET(self):
	        body = ("uid=%d dyno=%s\n" % (os.getuid(), os.environ["DYNO"])).encode()
	        self.send_response(200)
	        self.send_header("Content-Length", str(len(body)))
	        self.end_headers()
	        self.wfile.write(body)
	    def log_message(self, *a):
	        pass
	print("listening on", os.environ["PORT"], flush=True)
	socketserver.TCPServer(("", int(os.environ["PORT"])), H).serve_forever()
	EOF
}

dyno_json() { # dyno_json NAME FIELD
	api GET "/dynos/$1" | python3 -c "import json,sys; print(json.load(sys.stdin).get('$2'))"
}

# The /30 the allocator gives uid with the defaults (172.16.0.28/12 from uid 3000), and its
# host (dyno) address.
expected_address() {
	python3 -c '
import ipaddress, sys
uid = int(sys.argv[1])
net = ((int(ipaddress.IPv4Address("172.16.0.28")) >> 2) + uid - 3000) << 2
print(ipaddress.IPv4Address(net + 2))' "$1"
}

# Nothing of the test's hsup is left: no container, mount, reservation, dyno directory, veth,
# loop device of its stack.
assert_nothing_left() {
	[ -z "$(ls "$T/state/uids" 2>/dev/null)" ] || { ls -la "$T/state/uids" >&2; cat "$T/err" >&2; return 1; }
	[ -z "$(ls "$T/data/dynos" 2>/dev/null)" ] || { ls -la "$T/data/dynos" >&2; return 1; }
	[ -z "$(ls "$T/state/containers" 2>/dev/null)" ] || { ls "$T/state/containers" >&2; return 1; }
	! grep -q "$T" /proc/self/mountinfo || { grep "$T" /proc/self/mountinfo >&2; return 1; }
	! ip -n "$NS" -o link | grep -q hsv || { ip -n "$NS" -o link >&2; return 1; }
}

@test "a container dyno: its own UID, / the stack read-only, a private /app it owns, its environment" {
	cat >"$T/slug/app/info.sh" <<-'EOF'
	echo "uid=$(id -u) user=$(id -un) gid=$(id -g)"
	echo "hostname=$(hostname) home=$HOME pwd=$(pwd) path=$PATH dyno=$DYNO port=$PORT"
	echo "profile=$FROM_PROFILE greeting=$GREETING"
	touch /probe 2>/dev/null && echo "root=writable" || echo "root=read-only"
	echo mine >/app/written && set -- $(ls -l /app/written) && echo "app=$3"
	set -- $(ls -l /app/info.sh) && echo "owner=$3"
	echo "caps=$(grep CapEff /proc/self/status | cut -f2)"
	echo "nnp=$(grep NoNewPrivs /proc/self/status | cut -f2)"
	exec sleep 100
	EOF
	echo 'export FROM_PROFILE=yes' >"$T/slug/app/.profile.d/a.sh"
	slug_release '[{"Type": "worker", "Quantity": 2, "Args": ["bash info.sh"]}]' \
		'{"GREETING": "hi"}'
	start_lc start -s "$SOCK"
	wait_for '[ "$(grep -c "nnp=" "$T/out")" = 2 ]' 60
	cat "$T/out"
	for n in 1 2; do
		line() { grep "worker.$n *| $1" "$T/out"; }
		uid=$(line uid= | sed 's/.*uid=\([0-9]*\).*/\1/')
		[ "$uid" -ge 3000 ] && [ "$uid" -le 11000 ]
		line "uid=$uid user=dyno gid=$uid"
		line "hostname=worker.$n home=/app pwd=/app path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin dyno=worker.$n port=5000"
		line "profile=yes greeting=hi"
		line "root=read-only"
		line "app=dyno"
		line "owner=dyno"
		line "caps=0000000000000000"
		line "nnp=1"
		# on the host, the dyno's processes run as its UID
		pid=$(dyno_json "worker.$n" Pid)
		[ "$(ps -o uid= --ppid "$pid" | tr -d ' ' | head -1)" = "$uid" ]
	done
	# two dynos, two UIDs, and /app is each one's own
	[ "$(grep -o 'uid=[0-9]* user' "$T/out" | sort -u | wc -l)" = 2 ]
	pid1=$(dyno_json worker.1 Pid)
	pid2=$(dyno_json worker.2 Pid)
	[ "$(cat /proc/"$pid1"/root/app/written)" = mine ]
	echo only-mine >/proc/"$pid1"/root/app/written
	[ "$(cat /proc/"$pid2"/root/app/written)" = mine ]
	# the slug's tree is untouched by the dynos' writes
	[ ! -e "$T"/data/slugs/slug-*/written ]
	kill -TERM "$HSUP_PID"
	wait_hsup 60
	assert_nothing_left
}

@test "hsup run on a terminal: a pty of the dyno's own; keys, window size and exit code pass; the terminal is left as it was" {
	command -v script >/dev/null || skip "script (util-linux) is not installed"
	slug_release '[]'
	cat >"$T/session" <<-EOF
	stty -g >"$T/before"
	stty cols 91 rows 17
	stat -L -c %d "\$(tty)" >"$T/outer-devpts"
	nsenter --net=/run/netns/$NS unshare -m --propagation slave "$HSUP" -d libcontainer run -- \
		'test -t 0 && test -t 1 && echo tty-ok; stty size; tty; echo "devpts=\$(stat -L -c %d /proc/self/fd/0)"; read -r l; echo "got \$l"; exit 7'
	echo "rc=\$?"
	stty -g >"$T/after"
	EOF
	run bash -c "printf 'hello\n' | script -qec 'bash $T/session' /dev/null"
	echo "$output"
	[[ "$output" == *tty-ok* ]]
	[[ "$output" == *"17 91"* ]]
	[[ "$output" == *"got hello"* ]]
	[[ "$output" == *rc=7* ]]
	# the dyno's terminal is not the user's (nothing in it can reach the user's shell): the
	# first of the dyno's own devpts, not of the host's
	[[ "$output" == *"/dev/pts/0"* ]]
	inner=$(sed -n 's/^devpts=\([0-9]*\).*/\1/p' <<<"$output" | head -1)
	[ -n "$inner" ] && [ "$inner" != "$(cat "$T/outer-devpts")" ]
	# raw while the dyno ran, as it was once it ended
	[ "$(cat "$T/before")" = "$(cat "$T/after")" ]
	assert_nothing_left
}

@test "hsup run on a terminal that hangs up: the dyno gets SIGHUP and hsup ends" {
	command -v script >/dev/null || skip "script (util-linux) is not installed"
	slug_release '[]'
	local nap=$((100000 + RANDOM)) # a command line no other test runs
	script -qec "nsenter --net=/run/netns/$NS unshare -m --propagation slave '$HSUP' -d libcontainer run -- 'trap \"exit 42\" HUP; sleep $nap & wait'" /dev/null >/dev/null 2>&1 &
	local s=$!
	wait_for '[ -n "$(pgrep -f "^sleep $nap$")" ]' 60
	hsup=$(pgrep -f "$HSUP -d libcontainer run")
	[ -n "$hsup" ]
	kill -KILL "$s"
	# the terminal is gone: hsup passes the hangup on, the dyno ends, and so does hsup
	wait_for '! kill -0 "$hsup" 2>/dev/null' 20
	[ -z "$(pgrep -f "^sleep $nap$")" ] || wait_for '[ -z "$(pgrep -f "^sleep $nap$")" ]' 10
	assert_nothing_left
}

@test "/status and /dynos give each dyno its own address in its /30; HTTP to it is answered" {
	web_app
	slug_release '[{"Type": "web", "Quantity": 2, "Args": ["python3 web.py"]}]'
	start_lc start -s "$SOCK"
	wait_for '[ "$(grep -c "listening on" "$T/out")" = 2 ]' 60
	for n in 1 2; do
		ip=$(dyno_json "web.$n" IPAddress)
		body=$(in_ns curl -s -m 5 "http://$ip:5000/")
		uid=${body#uid=}
		uid=${uid%% *}
		[ "$body" = "uid=$uid dyno=web.$n" ]
		[ "$ip" = "$(expected_address "$uid")" ]
	done
	api GET /status | python3 -c '
import ipaddress, json, sys
web = json.load(sys.stdin)["Processes"]["web"]
assert web["Status"] == "Started" and web["Port"] == 5000, web
assert ipaddress.IPv4Address(web["IPAddress"]) in ipaddress.IPv4Network("172.16.0.0/12"), web'
	# the host side of each veth holds the gateway
	[ "$(ip -n "$NS" -o -4 addr | grep -c ' hsv[0-9]* ')" = 2 ]
}

@test "two hsups at once never share a UID or a subnet" {
	mkdir "$T/ctl2"
	slug_release '[{"Type": "w", "Quantity": 3, "Args": ["exec sleep 100"]}]'
	cp "$CTL/new" "$T/ctl2/new"
	start_lc start -s "$SOCK"
	first=$HSUP_PID
	HSUP_CONTROL_DIR=$T/ctl2 nsenter --net="/run/netns/$NS" unshare -m --propagation slave \
		"$HSUP" -d libcontainer start -s "$T/sock2" >>"$T/out2" 2>>"$T/err2" &
	second=$!
	both() { echo "$(SOCK=$SOCK running_dynos) / $(SOCK=$T/sock2 running_dynos)"; }
	wait_for '[ "$(both)" = "w.1 w.2 w.3 / w.1 w.2 w.3" ]' 60
	addrs=$( (api GET /dynos; SOCK=$T/sock2 api GET /dynos) | python3 -c '
import json, sys
for line in sys.stdin:
    for d in json.loads(line)["Dynos"]:
        print(d["IPAddress"])')
	[ "$(echo "$addrs" | wc -l)" = 6 ]
	[ "$(echo "$addrs" | sort -u | wc -l)" = 6 ]
	[ "$(ls "$T/state/uids" | wc -l)" = 6 ]
	kill -TERM "$second"
	wait "$second"
	HSUP_PID=$first
}

@test "kill -9 of hsup, then a new start: nothing leaks and the dynos come back" {
	slug_release '[{"Type": "w", "Quantity": 2, "Args": ["exec sleep 100"]}]'
	start_lc start -s "$SOCK"
	wait_for '[ "$(running_dynos)" = "w.1 w.2" ]' 60
	old=$(ls "$T/state/uids")
	kill -KILL "$HSUP_PID"
	wait "$HSUP_PID" 2>/dev/null || true
	HSUP_PID=
	# the containers outlive it
	[ "$(ls "$T/state/uids" | wc -l)" = 2 ]
	start_lc start -s "$SOCK"
	wait_for 'grep -q "removed 2 container dynos left by an hsup that died" "$T/err"' 60
	wait_for '[ "$(running_dynos)" = "w.1 w.2" ]' 60
	[ "$(ls "$T/state/uids" | wc -l)" = 2 ]
	[ "$(ip -n "$NS" -o link | grep -c hsv)" = 2 ]
	# the old containers are gone: their reservations went, new ones were taken
	for u in $old; do
		[ ! -e "$T/state/uids/$u" ] || [ "$(ls "$T/state/uids" | grep -c "^$u$")" = 1 ]
	done
	kill -TERM "$HSUP_PID"
	wait_hsup 60
	assert_nothing_left
}

@test "the extra interface and routes are in every dyno" {
	ip -n "$NS" link add hostx type veth peer name hostx-peer
	ip -n "$NS" link set hostx up
	export LIBCONTAINER_DYNO_EXTRA_INTERFACE=hostx:10.77.0.9/24
	export LIBCONTAINER_DYNO_EXTRA_ROUTES=10.88.0.0/16:default:eth0,10.99.0.0/16:10.77.0.1:eth1
	slug_release '[{"Type": "w", "Quantity": 1, "Args": ["ip -o addr; ip route; exec sleep 100"]}]'
	start_lc start -s "$SOCK"
	wait_for 'grep -q "10.99.0.0/16" "$T/out"' 60
	cat "$T/out" "$T/err"
	grep -q "eth1 *inet 10.77.0.9/24" "$T/out"
	grep -q "10.88.0.0/16 via 172.16" "$T/out"
	grep -q "10.99.0.0/16 via 10.77.0.1 dev eth1" "$T/out"
	grep -q "default via 172.16" "$T/out"
}

@test "a malicious slug is refused: nothing is written outside, what runs runs on" {
	slug_release '[{"Type": "w", "Quantity": 1, "Args": ["exec sleep 100"]}]'
	start_lc start -s "$SOCK"
	wait_for '[ "$(running_dynos)" = "w.1" ]' 60
	pid=$(dyno_json w.1 Pid)
	evil_slug "$T/evil.tgz"
	printf '{"Version": 2, "Slug": "%s", "Processes": [{"Type": "w", "Quantity": 1, "Args": ["exec sleep 100"]}]}\n' \
		"$T/evil.tgz" >"$CTL/new"
	wait_for '[ -e "$CTL/last_error" ]' 30
	cat "$CTL/last_error"
	grep -q 'entry "./app/../../escaped"' "$CTL/last_error"
	[ ! -e "$T/escaped" ] && [ ! -e "$T/data/escaped" ] && [ ! -e /escaped ]
	[ "$(dyno_json w.1 Pid)" = "$pid" ]
}

@test "a stack whose image does not match its md5 is refused, with both sums" {
	sed 's/md5: .*/md5: 00000000000000000000000000000000/' "$STACKS/manifest.yml" \
		>"$T/bad-manifest.yml"
	sed -i "s|url: .*|url: file://$STACKS/host-1.img.gz|" "$T/bad-manifest.yml"
	export HSUP_STACK_MANIFEST=$T/bad-manifest.yml
	slug_release '[{"Type": "w", "Quantity": 1, "Args": ["exec sleep 100"]}]'
	start_lc start -s "$SOCK"
	wait_for '[ -e "$CTL/last_error" ]' 60
	cat "$CTL/last_error"
	grep -q "00000000000000000000000000000000" "$CTL/last_error"
	grep -Eq "[0-9a-f]{32}" "$CTL/last_error"
	[ -z "$(running_dynos)" ]
	[ ! -e "$T/host-1.img" ]
}

@test "a dyno past its memory quota gets R14, past the limit R15, and is restarted" {
	cat >"$T/slug/app/hog.py" <<-'EOF'
	import time
	a = bytearray(600 << 20)          # past standard-1x's 512 MB quota
	for i in range(0, len(a), 4096): a[i] = 1
	print("holding 600 MB", flush=True)
	time.sleep(2)
	b = bytearray(600 << 20)          # past its 1 GB limit
	for i in range(0, len(b), 4096): b[i] = 1
	print("not reached", flush=True)
	time.sleep(100)
	EOF
	slug_release '[{"Type": "hog", "Quantity": 1, "Args": ["python3 hog.py"]}]'
	start_lc start -s "$SOCK"
	wait_for 'grep -q "Error R15" "$T/out"' 60
	wait_for '[ "$(dyno_json hog.1 Restarts)" -ge 1 ]' 30
	cat "$T/out" "$T/err"
	grep -q "hog.1 *| Error R14 (Memory quota exceeded)" "$T/out"
	grep -q "hog.1 *| Error R15 (Memory quota vastly exceeded)" "$T/out"
	! grep -q "not reached" "$T/out"
	grep -q "for passing its memory limit" "$T/err"
}
