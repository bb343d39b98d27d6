#!/usr/bin/env bats
# Dyno logs to logplex: the frames byte for byte, batching, retries, drops told by an L10 line,
# delivery at exit, where the URL comes from, and endpoints that misbehave. The endpoint is
# ftest/fake_heroku.py --mode logplex, which logs every request it gets.
load helpers

FAKE=$BATS_TEST_DIRNAME/fake_heroku.py
LP_AUTH='{"user": "token", "password": "t.secret"}'

eval "helpers_$(declare -f teardown)"
teardown() {
	if [ -n "${LP_PID:-}" ]; then
		kill "$LP_PID" 2>/dev/null || true
		wait "$LP_PID" 2>/dev/null || true
	fi
	helpers_teardown
}

# start_logplex [STATE]: the fake logplex; sets LP_URL (with its credentials) and LP_PID.
start_logplex() {
	set_logplex "${1:-$LP_AUTH}"
	python3 "$FAKE" --mode logplex --state "$T/lp.json" --log "$T/lp.jsonl" \
		--port-file "$T/lp.port" 2>"$T/lp.err" &
	LP_PID=$!
	wait_for '[ -s "$T/lp.port" ]'
	LP_URL="http://token:t.secret@127.0.0.1:$(cat "$T/lp.port")/logs"
}

set_logplex() { # set_logplex STATE
	printf '%s\n' "$1" >"$T/lp.json.tmp"
	mv "$T/lp.json.tmp" "$T/lp.json"
}

# A port nothing listens on.
dead_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# lp_release PROCS [MORE]: a release with these processes and more top-level keys
# ('"Name": "x", "LogplexURL": "..."').
lp_release() {
	printf '{"Version": 1, "Processes": %s%s}\n' "$1" "${2:+, $2}" >"$CTL/new.tmp"
	mv "$CTL/new.tmp" "$CTL/new"
}

# The messages of the frames logplex took (answered 2xx), in the order they came, one a line.
lp_msgs() {
	python3 - "$T/lp.jsonl" <<-'EOS'
	import json, sys
	for line in open(sys.argv[1]):
	    r = json.loads(line)
	    if isinstance(r["status"], int) and 200 <= r["status"] < 300:
	        for f in r.get("frames", []):
	            print(f.split(" - - ", 1)[1][:-1])
	EOS
}

lp_report() { # lp_report FIELD: a field of GET /logplex
	api GET /logplex | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"
}

@test "frames byte for byte, headers and basic auth; the credential is never printed" {
	start_logplex
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["printf '"'"'Hello World\\nh\\xc3\\xa9llo w\\xc3\\xb6rld \\xe2\\x9c\\x93\\ntab\\there\\tand there\\ncarriage return\\r\\n\\nthe last, without a newline'"'"'"]}]' \
		'"Name": "myapp"'
	start_hsup start --oneshot --logplex-url "$LP_URL"
	wait_hsup
	[ "$status" -eq 0 ]
	python3 - "$T/lp.jsonl" <<-'EOS'
	import base64, json, re, sys, time
	reqs = [json.loads(l) for l in open(sys.argv[1])]
	assert reqs and all(r["status"] == 204 for r in reqs), reqs
	body = b"".join(r["body"].encode("latin-1") for r in reqs)
	ts = rb"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.\d{6}\+00:00"
	msgs = [b"Hello World", "héllo wörld ✓".encode(), b"tab\there\tand there",
	        b"carriage return\r", b"", b"the last, without a newline"]
	pos = 0
	for msg in msgs:
	    rest = b" shuttle myapp web.1 - - " + msg + b"\n"
	    m = re.compile(rb"(\d+) <190>1 " + ts + re.escape(rest)).match(body, pos)
	    assert m, (msg, body[pos:pos + 200])
	    n = int(m.group(1))
	    assert n == m.end() - m.start(1) - len(m.group(1)) - 1, (n, m.group(0))
	    t = time.mktime(tuple(int(g) for g in m.groups()[1:]) + (0, 0, 0)) - time.timezone
	    assert abs(t - time.time()) < 60, m.group(0)
	    pos = m.end()
	assert pos == len(body), body[pos:]
	# the example of the design, byte for byte but the time
	hello = re.sub(rb"T[0-9:.]{15}", b"T12:00:00.123456", body[:body.index(b"\n") + 1])
	assert re.sub(rb"\d{4}-\d\d-\d\dT", b"2015-06-01T", hello) == \
	    b"76 <190>1 2015-06-01T12:00:00.123456+00:00 shuttle myapp web.1 - - Hello World\n", hello
	for r in reqs:
	    h = r["headers"]
	    assert r["method"] == "POST" and r["path"] == "/logs", r
	    assert h["content-type"] == "application/logplex-1", h
	    assert h["logplex-msg-count"] == str(len(r["frames"])), h
	    assert h["authorization"] == "Basic " + base64.b64encode(b"token:t.secret").decode(), h
	    assert h["user-agent"].startswith("hsup/"), h
	EOS
	# the lines are still printed, and the credential nowhere
	grep -q 'web.1 *| Hello World$' "$T/out"
	grep -q 'sending dyno logs to http://\*\*\*@127.0.0.1:[0-9]*/logs$' "$T/err"
	run ! grep -q t.secret "$T/out" "$T/err"
}

@test "batches of at most 500 lines, every line once; a lone line goes on its own" {
	start_logplex
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["seq 1200; sleep 1; echo lone; exec sleep 100"]}]'
	start_hsup start -s "$SOCK" --logplex-url "$LP_URL"
	# the lone line comes although no other follows it, while hsup runs
	wait_for 'lp_msgs | grep -qx lone'
	kill -0 "$HSUP_PID"
	wait_for '[ "$(lp_report lines_sent)" -eq 1201 ]'
	[ "$(lp_report lines_buffered)" -eq 0 ]
	kill -TERM "$HSUP_PID"
	wait_hsup
	# batches sent together may land in any order; each keeps its lines in order
	diff <(seq 1200) <(lp_msgs | grep -vx lone | sort -n)
	[ "$(lp_msgs | tail -1)" = lone ]
	python3 - "$T/lp.jsonl" <<-'EOS'
	import json, sys
	reqs = [json.loads(l) for l in open(sys.argv[1])]
	sizes = [len(r["frames"]) for r in reqs]
	assert max(sizes) <= 500 and len(sizes) >= 4, sizes
	assert sizes[-1] == 1, sizes
	for r in reqs[:-1]:
	    mine = [int(f.split(" - - ")[1]) for f in r["frames"]]
	    assert mine == list(range(mine[0], mine[0] + len(mine))), mine
	EOS
}

@test "after 500s the same batch is sent again: every line exactly once" {
	start_logplex '{"user": "token", "password": "t.secret", "statuses": [500, 500, 503]}'
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["seq 300; exec sleep 100"]}]'
	start_hsup start -s "$SOCK" --logplex-url "$LP_URL"
	wait_for '[ "$(lp_msgs | wc -l)" -ge 300 ]'
	[ "$(lp_report batches_failed)" -eq 3 ]
	[[ "$(lp_report last_error)" == "HTTP 503" ]]
	kill -TERM "$HSUP_PID"
	wait_hsup
	diff <(seq 300) <(lp_msgs)
	python3 - "$T/lp.jsonl" <<-'EOS'
	import json, sys
	reqs = [json.loads(l) for l in open(sys.argv[1])]
	assert [r["status"] for r in reqs] == [500, 500, 503, 204], [r["status"] for r in reqs]
	assert len({r["body"] for r in reqs}) == 1  # the same batch each time
	EOS
	grep -q 'logplex: cannot deliver to http://\*\*\*@127.0.0.1:[0-9]*/logs: HTTP 500; trying again' "$T/err"
	grep -q 'logplex: delivering to http://\*\*\*@127.0.0.1:[0-9]*/logs again' "$T/err"
}

@test "after connections closed unanswered no line is lost" {
	start_logplex '{"user": "token", "password": "t.secret", "reset_times": 2}'
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["seq 800; exec sleep 100"]}]'
	start_hsup start -s "$SOCK" --logplex-url "$LP_URL"
	wait_for '[ "$(lp_report lines_sent)" -eq 800 ]'
	kill -TERM "$HSUP_PID"
	wait_hsup
	# a batch may land twice only whole; here the server dropped what it did not answer
	diff <(seq 800) <(lp_msgs | sort -n | uniq)
	[ "$(grep -c '"status": "reset"' "$T/lp.jsonl")" -eq 2 ]
}

@test "a dead endpoint: the oldest lines are dropped, counted, said, and told by an L10 line once lines go through again" {
	local dead
	dead=$(dead_port)
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["seq 5000; exec sleep 100"]}]' \
		"\"Name\": \"myapp\", \"LogplexURL\": \"http://token:t.secret@127.0.0.1:$dead/logs\""
	HSUP_LOGPLEX_BUFFER=16k start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ "$(lp_report lines_dropped)" -gt 0 ]'
	wait_for 'grep -q "web.1 *| 5000$" "$T/out"'
	grep -q "logplex: the buffer (16384 bytes) is full: dropping the oldest lines until http://\\*\\*\\*@127.0.0.1:$dead/logs takes lines again" "$T/err"
	[ "$(lp_report overflow_reports)" -eq 0 ]
	[[ "$(lp_report last_error)" == *"127.0.0.1 port $dead"* ]]
	# the endpoint comes back: a new release names it
	start_logplex
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["seq 5000; exec sleep 100"]}]' \
		"\"Name\": \"myapp\", \"LogplexURL\": \"$LP_URL\""
	wait_for 'lp_msgs | grep -q "^Error L10"'
	wait_for '[ "$(lp_report lines_buffered)" -eq 0 ]'
	[ "$(lp_report overflow_reports)" -eq 1 ]
	dropped=$(lp_report lines_dropped)
	grep -q "logplex: $dropped lines were dropped since .* (the buffer was full); sending again to http://\\*\\*\\*@127.0.0.1:[0-9]*/logs" "$T/err"
	kill -TERM "$HSUP_PID"
	wait_hsup
	python3 - "$T/lp.jsonl" "$dropped" <<-'EOS'
	import json, re, sys
	frames = [f for l in open(sys.argv[1]) for f in json.loads(l).get("frames", [])]
	l10 = [f for f in frames if "L10" in f]
	assert len(l10) == 1, l10
	ts = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00"
	assert re.fullmatch(r"<172>1 " + ts + r" shuttle heroku logplex - - Error L10 \(output "
	                    r"buffer overflow\): " + sys.argv[2] + " messages dropped since " + ts +
	                    r"\.\n", l10[0]), l10
	# what was dropped is the oldest of what was not in flight: the lines that came are the
	# first (in flight when the buffer filled) and the last, each once, each batch in order
	lines = [int(f.split(" - - ")[1]) for f in frames if "web.1" in f]
	got = sorted(lines)
	first = next((i for i in range(len(got)) if got[i] != i + 1), len(got))
	assert got[first:] == list(range(5001 - (len(got) - first), 5001)), got
	assert len(lines) + int(sys.argv[2]) == 5000, (len(lines), sys.argv[2])
	for l in open(sys.argv[1]):
	    mine = [int(f.split(" - - ")[1]) for f in json.loads(l).get("frames", []) if "web.1" in f]
	    assert mine == sorted(mine), mine
	EOS
}

@test "an endpoint slower than the dyno, but answering, holds the dyno back: nothing is dropped" {
	start_logplex '{"user": "token", "password": "t.secret", "delay": 0.1}'
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["seq 3000; echo done >$T/done; exec sleep 100"]}]'
	HSUP_LOGPLEX_BUFFER=16k start_hsup start -s "$SOCK" --logplex-url "$LP_URL"
	wait_for '[ -S "$SOCK" ] && [ "$(lp_report holding_dynos)" = True ]'
	[ ! -e "$T/done" ] # the dyno waits in its write
	wait_for '[ "$(lp_report lines_sent)" -eq 3000 ]' 30
	[ "$(lp_report lines_dropped)" -eq 0 ]
	[ "$(lp_report holding_dynos)" = False ]
	kill -TERM "$HSUP_PID"
	wait_hsup
	diff <(seq 3000) <(lp_msgs | sort -n)
	run ! grep -q dropping "$T/err"
}

@test "the last lines of a dyno that exits are delivered" {
	start_logplex
	lp_release '[{"Type": "once", "Quantity": 1, "Args": ["echo first; printf second"]}]'
	start_hsup start --oneshot --logplex-url "$LP_URL"
	wait_hsup
	[ "$status" -eq 0 ]
	diff <(printf 'first\nsecond\n') <(lp_msgs)
}

@test "on SIGTERM, lines buffered for a slow endpoint are delivered before hsup exits" {
	start_logplex '{"user": "token", "password": "t.secret", "delay": 1}'
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["seq 3000; exec sleep 100"]}]'
	start_hsup start -s "$SOCK" --logplex-url "$LP_URL"
	wait_for '[ -S "$SOCK" ] && [ "$(lp_report in_flight)" -gt 0 ]'
	[ "$(lp_report lines_buffered)" -gt 0 ]
	kill -TERM "$HSUP_PID"
	wait_hsup
	diff <(seq 3000) <(lp_msgs | sort -n)
	run ! grep -q "not delivered" "$T/err"
}

@test "an endpoint that never answers: hsup exits after the flush timeout, saying what was lost" {
	start_logplex '{"user": "token", "password": "t.secret", "delay": 3600}'
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["seq 10; exec sleep 100"]}]'
	HSUP_LOGPLEX_FLUSH_TIMEOUT=1 start_hsup start --logplex-url "$LP_URL"
	wait_for 'grep -q "web.1 *| 10$" "$T/out"'
	sleep 0.5 # the batch is in flight
	kill -TERM "$HSUP_PID"
	SECONDS=0
	wait_hsup 10
	[ "$SECONDS" -le 5 ]
	grep -q "logplex: exiting with 10 lines not delivered to http://\\*\\*\\*@127.0.0.1:[0-9]*/logs (HSUP_LOGPLEX_FLUSH_TIMEOUT: 1.0 s)" "$T/err"
	# a second SIGTERM while delivering gives up at once
	HSUP_LOGPLEX_FLUSH_TIMEOUT=60 start_hsup start -s "$SOCK" --logplex-url "$LP_URL"
	wait_for '[ -S "$SOCK" ] && [ "$(lp_report in_flight)" -gt 0 ]'
	kill -TERM "$HSUP_PID"
	wait_for '[ ! -e "$SOCK" ]' # the dynos are gone, the control API closed: delivering
	kill -TERM "$HSUP_PID"
	wait_hsup 10
	grep -q "logplex: exiting with 10 lines not delivered to http://\\*\\*\\*@127.0.0.1:[0-9]*/logs (Terminated)" "$T/err"
}

@test "--logplex-only: dyno lines go to logplex alone, hsup's messages stay on stderr" {
	start_logplex
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["echo only there"]}]'
	start_hsup start --oneshot --logplex-only --logplex-url "$LP_URL"
	wait_hsup
	[ "$(lp_msgs)" = "only there" ]
	[ ! -s "$T/out" ]
	grep -q "web.1 exited with code 0" "$T/err"
}

@test "a release without LogplexURL ends forwarding: lines go back to stdout" {
	start_logplex
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["echo one; exec sleep 100"]}]' \
		"\"LogplexURL\": \"$LP_URL\""
	start_hsup start -s "$SOCK" --logplex-only
	wait_for '[ "$(lp_msgs)" = one ]'
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["echo two; exec sleep 100"]}]'
	wait_for 'grep -q "web.1 *| two$" "$T/out"'
	kill -TERM "$HSUP_PID"
	wait_hsup
	[ "$(lp_msgs)" = one ]
	run ! grep -q "| one$" "$T/out"
	grep -q "the release has no LogplexURL: dyno logs are no longer sent to http://\\*\\*\\*@127.0.0.1:[0-9]*/logs" "$T/err"
}

@test "the URL of HSUP_LOGPLEX_URL wins over the release's; -a names the app" {
	start_logplex
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["echo from env"]}]' \
		"\"Name\": \"relname\", \"LogplexURL\": \"http://127.0.0.1:$(dead_port)/logs\""
	HSUP_LOGPLEX_URL=$LP_URL start_hsup start --oneshot -a flagname
	wait_hsup
	grep -Eq '"[0-9]+ <190>1 [^ ]+ shuttle flagname web\.1 - - from env\\n"' "$T/lp.jsonl"
}

@test "the URL of the release's LogplexURL; the release's Name is the app, else app" {
	start_logplex
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["echo from the release"]}]' \
		"\"Name\": \"relname\", \"LogplexURL\": \"$LP_URL\""
	start_hsup start --oneshot
	wait_hsup
	grep -q 'shuttle relname web\.1 - - from the release\\n' "$T/lp.jsonl"
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["echo nameless"]}]' \
		"\"LogplexURL\": \"$LP_URL\""
	start_hsup start --oneshot
	wait_hsup
	grep -q 'shuttle app web\.1 - - nameless\\n' "$T/lp.jsonl"
}

@test "without a URL nothing is loaded and GET /logplex is 404; with one, libcurl is" {
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["exec sleep 100"]}]'
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ -n "$(running_dynos)" ]'
	run ! grep -q libcurl "/proc/$HSUP_PID/maps"
	[ "$(api_code GET /logplex)" = 404 ]
	kill -TERM "$HSUP_PID"
	wait_hsup
	start_logplex
	start_hsup start -s "$SOCK" --logplex-url "$LP_URL"
	wait_for '[ -S "$SOCK" ] && [ -n "$(running_dynos)" ]'
	grep -q libcurl "/proc/$HSUP_PID/maps"
	[ "$(api_code GET /logplex)" = 200 ]
	[ "$(lp_report url)" = "http://***@127.0.0.1:$(cat "$T/lp.port")/logs" ]
}

@test "hsup run forwards run.1's stdout and stderr, which stay apart on hsup's" {
	start_logplex
	unset HSUP_CONTROL_DIR
	HSUP_LOGPLEX_URL=$LP_URL run --separate-stderr "$HSUP" run 'echo to stdout; echo to stderr >&2; exit 3' </dev/null
	[ "$status" -eq 3 ]
	[ "$output" = "to stdout" ]
	[ "$stderr" = "to stderr" ]
	diff <(printf 'to stdout\nto stderr\n') <(lp_msgs | sort -r)
	grep -q 'shuttle app run\.1 - - to stdout' "$T/lp.jsonl"
}

@test "bad settings are refused at start" {
	run "$HSUP" start --logplex-url ftp://x
	[ "$status" -eq 2 ]
	HSUP_LOGPLEX_URL=nope run "$HSUP" run true
	[ "$status" -eq 2 ]
	[[ "$output" == *'HSUP_LOGPLEX_URL "nope" is not a valid URL'* ]]
	HSUP_LOGPLEX_BUFFER=8X run "$HSUP" run true
	[ "$status" -eq 2 ]
	[[ "$output" == *'HSUP_LOGPLEX_BUFFER "8X" must be a size'* ]]
	HSUP_LOGPLEX_FLUSH_TIMEOUT=-1 run "$HSUP" run true
	[ "$status" -eq 2 ]
	run "$HSUP" --logplex-url 'http://token:t.secret@bad host/' run true
	[ "$status" -eq 2 ]
	[[ "$output" == *'--logplex-url "http://***@bad host/" is not a valid URL'* ]]
}

# A logplex that answers 200 with a body that never ends: fast (huge) or a byte at a time.
hostile_logplex() { # hostile_logplex MODE
	python3 - "$1" "$T/hostile.port" <<-'EOS' &
	import os, socket, sys, threading, time
	mode, portfile = sys.argv[1], sys.argv[2]
	srv = socket.socket()
	srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	srv.bind(("127.0.0.1", 0))
	srv.listen(16)
	open(portfile + ".tmp", "w").write(str(srv.getsockname()[1]))
	os.rename(portfile + ".tmp", portfile)
	def serve(c):
	    try:
	        head = b""
	        while b"\r\n\r\n" not in head:
	            head += c.recv(65536)
	        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n")
	        while True:
	            if mode == "huge":
	                c.sendall(b"x" * 65536)
	            else:
	                c.sendall(b"x")
	                time.sleep(0.1)
	    except OSError:
	        c.close()
	while True:
	    c, _ = srv.accept()
	    threading.Thread(target=serve, args=(c,), daemon=True).start()
	EOS
	LP_PID=$!
	wait_for '[ -s "$T/hostile.port" ]'
	LP_URL="http://127.0.0.1:$(cat "$T/hostile.port")/logs"
}

@test "a hostile endpoint: a huge answer and one that never ends neither grow nor hang hsup" {
	hostile_logplex huge
	lp_release '[{"Type": "web", "Quantity": 1, "Args": ["for i in $(seq 20); do seq 100; sleep 0.1; done; exec sleep 100"]}]'
	start_hsup start -s "$SOCK" --logplex-url "$LP_URL"
	wait_for '[ -S "$SOCK" ] && [ "$(lp_report lines_sent)" -eq 2000 ]' 20
	[ "$(status_kb "$HSUP_PID" VmRSS)" -lt 98304 ] # kB; ASan's own included
	kill -TERM "$HSUP_PID"
	wait_hsup
	kill "$LP_PID"
	rm -f "$T/hostile.port"
	hostile_logplex trickle
	HSUP_LOGPLEX_FLUSH_TIMEOUT=1 start_hsup start -s "$SOCK" --logplex-url "$LP_URL"
	wait_for '[ -S "$SOCK" ] && [ "$(lp_report in_flight)" -gt 0 ]'
	sleep 1
	[ "$(api_code GET /health)" = 200 ]
	kill -TERM "$HSUP_PID"
	wait_hsup 10
	grep -q "logplex: exiting with [0-9]* lines not delivered" "$T/err"
}

status_kb() { # status_kb PID FIELD
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
