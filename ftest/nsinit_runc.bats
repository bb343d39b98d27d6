#!/usr/bin/env bats
# runc's command line, driven from outside as containerd's runc shim (go-runc) drives it: the
# global options first, the command's options, then the id. What a caller sees: the state
# JSON, the pid file, the console received over the socket, exit codes and the json log.
load nsinit_helpers

SHIM=$BATS_TEST_DIRNAME/payload/runc_shim.py

# runc's argv, as go-runc builds it: --root, --log, --log-format json, then the command.
rc() { "$NSINIT" --root "$STATE" --log "$T/log.json" --log-format json "$@"; }

state_of() { # state_of ID KEY
	rc state "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"
}

@test "runc: create as the shim runs it: the init waits as the subreaper's child, on the shim's pipes" {
	mkconfig 'c["process"]["args"] = ["/bin/sh", "-c", "read l; echo got:$l; echo err >&2; exit 7"]'
	run python3 "$SHIM" pipes "$NSINIT" "$STATE" "$T" "$ID"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field ppid_is_shim)" = True ]
	[ "$(field status)" = created ]
	[ "$(field output)" = "got:hello from the shim|err|" ]
	[ "$(field exit)" = 7 ]
	# stopped: delete leaves nothing
	[ "$(state_of "$ID" status)" = stopped ]
	rc delete "$ID"
	assert_gone "$ID"
}

@test "runc: --console-socket receives a working pty master; the container's stdio is the pty" {
	mkconfig 'c["process"]["terminal"] = True
c["process"]["args"] = ["/bin/sh", "-c", "read l; echo got:$l; [ -t 0 ] && [ -t 1 ] && echo tty; echo done"]'
	run python3 "$SHIM" console "$NSINIT" "$STATE" "$T" "$ID"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(field console_name)" = /dev/ptmx ]
	[ "$(field ppid_is_shim)" = True ]
	[[ "$(field output)" == *"got:hello from the shim|tty|done"* ]]
	[ "$(field exit)" = 0 ]
	rc delete "$ID"
	assert_gone "$ID"
	# a terminal needs the socket to go to, and the socket a terminal
	run rc create --bundle "$T" "$ID"
	[ "$status" -eq 1 ]
	[[ "$output" == *"console socket"* ]]
	mkconfig
	run rc create --bundle "$T" --console-socket "$T/none.sock" "$ID"
	[ "$status" -eq 1 ]
	[[ "$output" == *"console socket"* ]]
	assert_gone "$ID"
}

@test "runc: state JSON, pid file, start, kill by name and number, delete" {
	mkconfig 'c["process"]["args"] = ["/bin/sleep", "1000"]
c["annotations"] = {"org.example.k": "v"}'
	cd /
	rc create --bundle "$T" --pid-file "$T/pid" "$ID" </dev/null >/dev/null 2>&1
	local pid
	pid=$(cat "$T/pid")
	[[ "$pid" =~ ^[0-9]+$ ]]
	run rc state "$ID"
	echo "$output"
	python3 - "$output" "$ID" "$pid" "$T" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
assert s["ociVersion"].startswith("1.0"), s
assert s["id"] == sys.argv[2] and s["pid"] == int(sys.argv[3]), s
assert s["status"] == "created" and s["bundle"] == sys.argv[4], s
assert s["annotations"] == {"org.example.k": "v"}, s
PY
	rc start "$ID"
	[ "$(state_of "$ID" status)" = running ]
	run rc start "$ID"
	[ "$status" -eq 1 ]
	rc kill "$ID" SIGSTOP
	wait_for "grep -q '^State:.*T' /proc/$pid/status"
	rc kill "$ID" CONT
	rc kill "$ID" 9
	wait_for "proc_gone $pid"
	[ "$(state_of "$ID" status)" = stopped ]
	run rc kill "$ID" SIGNOPE
	[ "$status" -eq 1 ]
	rc delete "$ID"
	assert_gone "$ID" "$pid"
}

@test "runc: kill --all, delete --force leaves no process, cgroup or state" {
	mkconfig 'c["process"]["args"] = ["/bin/sh", "-c", "sleep 1000 & sleep 1000; true"]'
	rc run --detach --bundle "$T" --pid-file "$T/pid" "$ID" </dev/null >/dev/null 2>&1
	local pid
	pid=$(cat "$T/pid")
	wait_for "[ \$(rc ps --format json $ID | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') = 3 ]"
	run rc ps --format json "$ID"
	python3 -c "import json,sys; p=json.loads(sys.argv[1]); assert $pid in p, p" "$output"
	rc kill --all "$ID" TERM
	wait_for "proc_gone $pid"
	# a running one: delete refuses, --force kills it first
	rc run --detach --bundle "$T" --pid-file "$T/pid" "$ID-2" </dev/null >/dev/null 2>&1 || {
		sed -i "s/lc-$ID\"/lc-$ID-2\"/" "$T/config.json"
		rc run --detach --bundle "$T" --pid-file "$T/pid" "$ID-2" </dev/null >/dev/null 2>&1
	}
	local pid2
	pid2=$(cat "$T/pid")
	run rc delete "$ID-2"
	[ "$status" -eq 1 ]
	[[ "$output" == *running* ]]
	rc delete --force "$ID-2"
	rc delete "$ID"
	assert_gone "$ID" "$pid"
	assert_gone "$ID-2" "$pid2"
	# runc's: forcing the delete of what does not exist is no error; without, it is
	rc delete --force "$ID-none"
	run rc delete "$ID-none"
	[ "$status" -eq 1 ]
}

@test "runc: exec --process FILE --detach --pid-file, exec ARGS, and its exit status" {
	mkconfig 'c["process"]["args"] = ["/bin/sleep", "1000"]'
	rc run -d --bundle "$T" "$ID" </dev/null >/dev/null 2>&1
	# go-runc writes the process to a file
	cat >"$T/process.json" <<-'EOF'
	{"args": ["/bin/sh", "-c", "echo $GREETING >/dev/shm/exec; sleep 1000"], "cwd": "/",
	 "env": ["PATH=/bin", "GREETING=hi"], "user": {"uid": 0, "gid": 0}, "terminal": false}
	EOF
	rc exec --process "$T/process.json" --detach --pid-file "$T/exec.pid" "$ID"
	local epid
	epid=$(cat "$T/exec.pid")
	wait_for "[ -s /proc/$epid/root/dev/shm/exec ]"
	[ "$(cat /proc/"$epid"/root/dev/shm/exec)" = hi ]
	run rc ps --format json "$ID"
	python3 -c "import json,sys; p=json.loads(sys.argv[1]); assert $epid in p, p" "$output"
	rm -f "/proc/$epid/root/dev/shm/exec"
	run rc exec --env X=y "$ID" /bin/sh -c 'echo $X; exit 5'
	[ "$status" -eq 5 ]
	[ "$output" = y ]
	run rc exec "$ID"
	[ "$status" -eq 1 ]
	rc delete --force "$ID"
	assert_gone "$ID" "$epid"
}

@test "runc: events --stats prints runc's stats event; update --resources -; pause and resume" {
	mkconfig 'c["process"]["args"] = ["/bin/sleep", "1000"]'
	rc run -d --bundle "$T" "$ID" </dev/null >/dev/null 2>&1
	run rc events --stats "$ID"
	echo "$output"
	[ "$status" -eq 0 ]
	python3 - "$output" "$ID" <<'PY'
import json, sys
e = json.loads(sys.argv[1])
assert e["type"] == "stats" and e["id"] == sys.argv[2], e
d = e["data"]
assert d["cpu"]["usage"]["total"] > 0 and d["memory"]["usage"]["usage"] > 0, d
assert d["pids"]["current"] == 1, d
PY
	echo '{"pids": {"limit": 42}, "memory": {"limit": 67108864}}' | rc update --resources - "$ID"
	local d
	d=$(rc state "$ID" >/dev/null && nsinit state --id "$ID" |
		python3 -c "import json,sys; print(json.load(sys.stdin)['cgroup_paths']['pids'])")
	[ "$(cat "$d/pids.max")" = 42 ]
	rc pause "$ID"
	[ "$(state_of "$ID" status)" = paused ]
	rc resume "$ID"
	[ "$(state_of "$ID" status)" = running ]
	run rc list --format json
	python3 -c "import json,sys; l=json.loads(sys.argv[1]); assert [s['id'] for s in l] == ['$ID'], l" "$output"
	rc delete --force "$ID"
	assert_gone "$ID"
}

@test "runc: run without --detach waits and exits with the status; features and --version" {
	mkconfig 'c["process"]["args"] = ["/bin/sh", "-c", "echo ran; exit 3"]'
	run rc run --bundle "$T" "$ID" </dev/null
	[ "$status" -eq 3 ]
	[ "$output" = ran ]
	assert_gone "$ID"
	run "$NSINIT" features
	[ "$status" -eq 0 ]
	python3 - "$output" <<'PY'
import json, sys
f = json.loads(sys.argv[1])
assert f["ociVersionMin"] == "1.0.0" and f["ociVersionMax"].startswith("1."), f
assert "mount" in f["linux"]["namespaces"] and "CAP_SYS_ADMIN" in f["linux"]["capabilities"]
assert f["linux"]["cgroup"]["v1"] and not f["linux"]["cgroup"]["systemd"]
assert "SCMP_ACT_ERRNO" in f["linux"]["seccomp"]["actions"] and "bind" in f["mountOptions"]
assert set(f["hooks"]) == {"prestart", "createRuntime", "createContainer", "startContainer",
                           "poststart", "poststop"}, f["hooks"]
PY
	run "$NSINIT" --version
	[[ "$output" == *version* && "$output" == *"spec: 1.0"* ]]
}

@test "runc: errors go to --log as json lines and to stderr, exit 1; --systemd-cgroup refused" {
	run rc state "$ID-missing"
	[ "$status" -eq 1 ]
	[[ "$output" == *"does not exist"* ]]
	python3 - "$T/log.json" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines[-1]["level"] == "error" and "does not exist" in lines[-1]["msg"], lines
assert lines[-1]["time"].endswith("Z"), lines
PY
	run "$NSINIT" --root "$STATE" --log "$T/log.txt" state "$ID-missing"
	[ "$status" -eq 1 ]
	grep -q '^time=".*" level=error msg=".*does not exist"$' "$T/log.txt"
	run "$NSINIT" --root "$STATE" --systemd-cgroup create --bundle "$T" "$ID"
	[ "$status" -eq 1 ]
	[[ "$output" == *"systemd"*"not supported"* ]]
	run rc create --bogus "$ID"
	[ "$status" -eq 1 ]
	[[ "$output" == *"flag provided but not defined"* ]]
	run rc create --bundle "$T/nowhere" "$ID"
	[ "$status" -eq 1 ]
	assert_gone "$ID"
}

@test "runc: nsinit's own dialect still works beside it (--id, --config, --)" {
	mkconfig 'c["process"]["args"] = ["/bin/sleep", "1000"]'
	nsinit create --config "$T/config.json" --id "$ID" </dev/null >/dev/null 2>&1
	[ "$(nsinit state --id "$ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')" = created ]
	# the same container through runc's line
	[ "$(state_of "$ID" status)" = created ]
	nsinit start --id "$ID"
	nsinit kill --id "$ID" KILL
	wait_for "[ \$(state_of $ID status) = stopped ]"
	nsinit delete --id "$ID"
	assert_gone "$ID"
	run nsinit exec --config "$T/config.json" --id "$ID" -- /bin/echo old
	[ "$status" -eq 0 ]
	[ "$output" = old ]
}

@test "runc: invoked as hsup-runc, always runc's dialect" {
	ln -s "$NSINIT" "$T/hsup-runc"
	run "$T/hsup-runc" --root "$STATE" list
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == ID*PID*STATUS*BUNDLE* ]]
}
