#!/usr/bin/env bats
# The control API on its unix socket, and the hsup status/stop/restart/scale commands.
load helpers

two_types() {
	release '[{"Type": "web", "Quantity": 2, "Args": ["exec sleep 100"]},
	          {"Type": "worker", "Quantity": 1, "Args": ["exec sleep 100"]}]'
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 web.2 worker.1" ]'
}

@test "the original endpoints: health, status by type, stop" {
	two_types
	[ "$(api GET /health)" = OK ]
	[ "$(api GET /status)" = '{"Processes":{"web":{"IPAddress":"127.0.0.1","Port":5000,"Status":"Started"},"worker":{"IPAddress":"127.0.0.1","Port":5100,"Status":"Started"}}}' ]
	[ "$(api POST /control/stop '{"Processes": ["web"]}')" = '{"StoppedProcesses":["web","web"]}' ]
	wait_for '[ "$(running_dynos)" = "worker.1" ]'
	# Stopped types stay stopped (no restart by the formation).
	sleep 0.5
	[ "$(running_dynos)" = "worker.1" ]
}

# bats test_tags=drivers
@test "wrong method 405, bad JSON 400, unknown path 404; the daemon lives on" {
	two_types
	[ "$(api_code GET /control/stop)" = 405 ]
	[ "$(api_code POST /health)" = 405 ]
	[ "$(api_code POST /control/stop '{"Processes": [')" = 400 ]
	[[ "$(api POST /control/stop '{nope')" == *'"Error":"invalid JSON at line 1'* ]]
	[ "$(api_code POST /control/stop '{"Processes": "web"}')" = 400 ]
	[ "$(api_code GET /nope)" = 404 ]
	[ "$(api_code GET /dynos/web.9)" = 404 ]
	# Malformed HTTP gets a 400 and does not hurt the daemon.
	python3 - "$SOCK" "$T/garbage" <<-'EOS'
	import socket, sys
	s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
	s.sendall(b"GARBAGE\x01\x02 / HTTP/9.9\r\n\r\n"); s.settimeout(2)
	open(sys.argv[2], "wb").write(s.recv(4096))
	EOS
	grep -q "400 Bad Request" "$T/garbage"
	[ "$(api GET /health)" = OK ]
	kill -0 "$HSUP_PID"
}

@test "per-dyno status, stop and restart" {
	two_types
	api GET /dynos/web.2 | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["Name"] == "web.2" and d["Type"] == "web" and d["State"] == "started", d
assert d["Pid"] > 1 and d["Restarts"] == 0 and d["Uptime"] >= 0 and d["LastExit"] is None, d
assert d["Port"] == 5001 and d["IPAddress"] == "127.0.0.1", d'
	old=$(dyno_pid web.1)
	run "$HSUP" -s "$SOCK" restart web.1
	[ "$status" -eq 0 ]
	[ "$output" = "web.1: restarting 1 dyno" ]
	wait_for '[ -n "$(dyno_pid web.1)" ] && [ "$(dyno_pid web.1)" != "$old" ]'
	[ "$(dyno_field web.1 Restarts)" = 1 ]
	[ "$(dyno_field web.1 CrashesInARow)" = 0 ]
	run "$HSUP" -s "$SOCK" stop web.2
	[ "$output" = "web.2: stopping 1 dyno" ]
	wait_for '[ "$(running_dynos)" = "web.1 worker.1" ]'
	run "$HSUP" -s "$SOCK" stop web.7
	[ "$status" -eq 1 ]
	[[ "$output" == *'no process type or dyno named "web.7"'* ]]
	run "$HSUP" -s "$SOCK" restart web.2
	[ "$status" -eq 0 ]
	wait_for '[ "$(running_dynos)" = "web.1 web.2 worker.1" ]'
	run "$HSUP" -s "$SOCK" status
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == DYNO*STATE*PID*RESTARTS*UPTIME*"LAST EXIT" ]]
	[[ "$output" == *"worker.1"*"started"* ]]
	run "$HSUP" -s "$SOCK" status worker
	[ "${#lines[@]}" -eq 2 ]
}

# bats test_tags=drivers
@test "scale through the API and hsup scale" {
	two_types
	run "$HSUP" -s "$SOCK" scale web=3 worker=0
	[ "$status" -eq 0 ]
	[[ "$output" == *"web=3"*"worker=0"* ]]
	wait_for '[ "$(running_dynos)" = "web.1 web.2 web.3" ]'
	run "$HSUP" -s "$SOCK" scale nope=1
	[ "$status" -eq 1 ]
	[[ "$output" == *'no process type "nope"'* ]]
	[ "$(api_code POST /control/scale '{"web": -1}')" = 400 ]
	api GET /formation | grep -q '"Quantity":3,"Running":3,"Type":"web"'
}

# bats test_tags=drivers
@test "a scale request naming a type twice is refused, naming it; nothing changes" {
	two_types
	run curl -sS --unix-socket "$SOCK" -w '\n%{http_code}' -d '{"web": 1, "web": 3}' \
		http://hsup/control/scale
	[ "${lines[1]}" = 400 ]
	[[ "${lines[0]}" == *'"Error":"invalid JSON'*'duplicate object key'*'web'* ]]
	api GET /formation | grep -q '"Quantity":2,"Running":2,"Type":"web"'
	[ "$(running_dynos)" = "web.1 web.2 worker.1" ]
}

# bats test_tags=drivers
@test "socket mode 0770, stale socket replaced, live hsup refused, removed on exit" {
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK"
	[ -S "$SOCK" ]
	two_types
	[ "$(stat -c %a "$SOCK")" = 770 ]
	mkdir "$T/ctl2"
	HSUP_CONTROL_DIR=$T/ctl2 run "$HSUP" start -s "$SOCK"
	[ "$status" -ne 0 ]
	[[ "$output" == *"another hsup is running"* ]]
	[ "$(api GET /health)" = OK ]
	touch "$T/file"
	run "$HSUP" run -s "$T/file" true
	[ "$status" -ne 0 ]
	[[ "$output" == *"exists and is not a socket"* ]]
	[ -f "$T/file" ]
	kill -TERM "$HSUP_PID"
	wait_hsup
	[ ! -e "$SOCK" ]
}

@test "a run dyno reports its state through the API" {
	unset HSUP_CONTROL_DIR
	start_hsup run -s "$SOCK" "exec sleep 100"
	wait_for '[ -S "$SOCK" ] && [ -n "$(dyno_pid run.1)" ]'
	[[ "$(api GET /status)" == '{"Processes":{"run":{"IPAddress":"127.0.0.1","Port":5000,"Status":"Started"}}}' ]]
}
