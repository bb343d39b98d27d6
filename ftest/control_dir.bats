#!/usr/bin/env bats
# The control directory: new -> loaded, rejected + last_error, scale-only and full changes,
# cold start from loaded, SIGHUP.
load helpers

web_and_worker() { # $1: web quantity, $2: env JSON, $3: version
	local env=${2:-}
	[ -n "$env" ] || env='{"GREETING": "one"}'
	release "[{\"Type\": \"web\", \"Quantity\": $1, \"Args\": [\"echo web \$GREETING; exec sleep 100\"]},
	          {\"Type\": \"worker\", \"Quantity\": 1, \"Args\": [\"exec sleep 100\"]}]" \
		"$env" new "${3:-1}"
}

@test "a valid new becomes loaded and its dynos run" {
	web_and_worker 1
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	[ ! -e "$CTL/new" ]
	[ -f "$CTL/loaded" ]
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["Env"]["GREETING"] == "one"' "$CTL/loaded"
	[ "$(stat -c %a "$CTL/loaded")" = 600 ] # config vars are secrets
	[ -z "$(ls -A "$CTL" | grep -v '^loaded$')" ]
}

@test "an invalid new is rejected with the reason, and the dynos run on untouched" {
	web_and_worker 1
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	before="$(dyno_pid web.1) $(dyno_pid worker.1)"
	printf '{"Version": 2,\n "Processes": [\n  {"Type": "web" "Quantity": 1}]}\n' >"$CTL/new"
	wait_for '[ -f "$CTL/last_error" ]'
	grep -q "invalid JSON at line 3, column" "$CTL/last_error"
	[ -f "$CTL/rejected" ] && [ ! -e "$CTL/new" ]
	echo '{"Processes": [{"Type": "web", "Quantity": -2, "Args": ["x"]}]}' >"$CTL/new"
	wait_for 'grep -q "Processes\[0\].Quantity is -2" "$CTL/last_error"'
	echo '{"Env": {"BAD NAME": "x"}}' >"$CTL/new"
	wait_for 'grep -q "Env key \"BAD NAME\" is not a valid variable name" "$CTL/last_error"'
	grep -q "GREETING" "$CTL/loaded"
	[ "$(dyno_pid web.1) $(dyno_pid worker.1)" = "$before" ]
	# A good release afterwards clears the rejection.
	web_and_worker 2 '{"GREETING": "one"}' 3
	wait_for '[ ! -e "$CTL/last_error" ] && [ ! -e "$CTL/rejected" ]'
}

@test "a scale-only change starts and stops only the difference" {
	web_and_worker 2
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 web.2 worker.1" ]'
	before="$(dyno_pid web.1) $(dyno_pid worker.1)"
	web_and_worker 3 '{"GREETING": "one"}' 2
	wait_for '[ "$(running_dynos)" = "web.1 web.2 web.3 worker.1" ]'
	[ "$(dyno_pid web.1) $(dyno_pid worker.1)" = "$before" ]
	web_and_worker 1 '{"GREETING": "one"}' 3
	wait_for '[ "$(running_dynos)" = "web.1 worker.1" ]'
	[ "$(dyno_pid web.1) $(dyno_pid worker.1)" = "$before" ]
	[ "$(dyno_field web.1 Release)" = 3 ]
}

@test "an env change replaces every dyno" {
	web_and_worker 1
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	old_web=$(dyno_pid web.1) old_worker=$(dyno_pid worker.1)
	web_and_worker 1 '{"GREETING": "two"}' 2
	wait_for 'grep -q "web.1 *| web two" "$T/out"'
	wait_for '[ "$(running_dynos)" = "web.1 worker.1" ]'
	[ "$(dyno_pid web.1)" != "$old_web" ]
	[ "$(dyno_pid worker.1)" != "$old_worker" ]
	! kill -0 "$old_web" 2>/dev/null
}

@test "a restarted hsup resumes from loaded" {
	web_and_worker 2
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 web.2 worker.1" ]'
	kill -TERM "$HSUP_PID"
	wait_hsup
	[ ! -e "$CTL/new" ] && [ -f "$CTL/loaded" ] && [ ! -e "$SOCK" ]
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 web.2 worker.1" ]'
}

@test "a claim left by a crashed hsup is not lost" {
	web_and_worker 1
	mv "$CTL/new" "$CTL/.new.claimed.999.0"
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	[ -f "$CTL/loaded" ] && [ ! -e "$CTL/.new.claimed.999.0" ]
}

@test "SIGHUP re-reads the control directory" {
	web_and_worker 1
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(running_dynos)" = "web.1 worker.1" ]'
	# Edit loaded in place (no new file event), then ask hsup to look again.
	python3 - "$CTL/loaded" <<-'EOS'
	import json, sys
	d = json.load(open(sys.argv[1])); d["Processes"][0]["Quantity"] = 2
	json.dump(d, open(sys.argv[1], "w"))
	EOS
	sleep 0.3
	[ "$(running_dynos)" = "web.1 worker.1" ]
	kill -HUP "$HSUP_PID"
	wait_for '[ "$(running_dynos)" = "web.1 web.2 worker.1" ]'
}

@test "with no release yet, hsup waits for the first one" {
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && grep -q "waiting for a release: write it to $CTL/new" "$T/err"'
	[ "$(api GET /status)" = '{"Processes":{}}' ]
	web_and_worker 1
	wait_for '[ "$(running_dynos)" = "web.1 worker.1" ]'
}
