#!/usr/bin/env bats
# Hostile clients of the control API: they must not grow hsup, hold it for ever, starve the
# dynos of file descriptors, or take another program's socket.
load helpers

one_web() {
	release '[{"Type": "web", "Quantity": 1, "Args": ["echo started; exec sleep 100"]}]'
	start_hsup start -s "$SOCK"
	wait_for '[ -S "$SOCK" ] && [ -n "$(dyno_pid web.1)" ]'
}

@test "pipelined requests whose answers are not read: hsup stays small, answers all in order" {
	# ASan keeps freed memory in quarantine (256 MB by default), which RSS would count.
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=1" one_web
	run python3 - "$SOCK" "$HSUP_PID" 75000 <<-'EOS'
	import socket, subprocess, sys, threading, time
	path, pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
	def rss():
	    with open(f"/proc/{pid}/status") as f:
	        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
	reqs = b"".join(b"GET /dynos/x%d HTTP/1.1\r\nHost: h\r\n\r\n" % i for i in range(n))
	s = socket.socket(socket.AF_UNIX)
	s.connect(path)
	before = peak = rss()
	def send():
	    s.sendall(reqs)
	    s.shutdown(socket.SHUT_WR)
	sender = threading.Thread(target=send)
	sender.start()
	for _ in range(40):  # 2 s of not reading
	    time.sleep(0.05)
	    peak = max(peak, rss())
	health = subprocess.run(["curl", "-sS", "--max-time", "10", "--unix-socket", path,
	                         "http://h/health"], capture_output=True, text=True)
	print(f"{len(reqs)} bytes of requests; RSS {before} kB before, {peak} kB at most; "
	      f"another client got {health.stdout!r}")
	data = bytearray()
	while chunk := s.recv(1 << 16):
	    data += chunk
	sender.join()
	i = pos = 0
	while pos < len(data):
	    end = data.index(b"\r\n\r\n", pos)
	    head = data[pos:end].decode()
	    length = int(next(l.split(":")[1] for l in head.split("\r\n")
	                      if l.lower().startswith("content-length:")))
	    body = bytes(data[end + 4:end + 4 + length])
	    assert head.startswith("HTTP/1.1 404 "), (i, head)
	    assert body == b'{"Error":"no dyno named \\"x%d\\""}\n' % i, (i, body)
	    i, pos = i + 1, end + 4 + length
	print(f"{i} complete answers in order")
	assert health.stdout == "OK"
	assert i == n, (i, n)
	assert peak - before < 8192, "hsup grew by %d kB" % (peak - before)
	EOS
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(api GET /health)" = OK ]
}

@test "a request trickled a byte at a time is cut off at its deadline" {
	one_web
	run python3 - "$SOCK" <<-'EOS'
	import select, socket, sys, time
	req = b"GET /health HTTP/1.1\r\nHost: h\r\nX-Pace: one byte every 0.5 s\r\n\r\n"  # 63 bytes: 31 s
	s = socket.socket(socket.AF_UNIX)
	s.connect(sys.argv[1])
	got, sent, closed = b"", 0, False
	for byte in req:
	    try:
	        s.send(bytes([byte]))
	        sent += 1
	    except OSError:
	        closed = True
	        break
	    if select.select([s], [], [], 0.5)[0]:
	        chunk = s.recv(4096)
	        got += chunk
	        if not chunk or b"\r\n\r\n" in got:
	            closed = True
	            break
	print(f"sent {sent} of {len(req)} bytes; got {got[:40]!r}; closed: {closed}")
	assert closed and sent < len(req), "the whole request went through"
	assert got == b"" or got.startswith(b"HTTP/1.1 408 "), got
	EOS
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(api GET /health)" = OK ]
}

@test "connections past the cap get 503 at once; the others are served" {
	one_web
	run python3 - "$SOCK" 70 "$HSUP" <<-'EOS'
	import select, socket, subprocess, sys, time
	path, n, hsup = sys.argv[1], int(sys.argv[2]), sys.argv[3]
	conns = []
	for _ in range(n):
	    s = socket.socket(socket.AF_UNIX)
	    s.connect(path)
	    conns.append(s)
	time.sleep(0.5)
	refused = select.select(conns, [], [], 0)[0]
	for s in refused:
	    data = s.recv(4096)
	    assert data.startswith(b"HTTP/1.1 503 ") and b"too many connections" in data, data
	print(f"{len(refused)} of {n} refused")
	assert len(refused) == n - 64
	# hsup's own client says so.
	cli = subprocess.run([hsup, "-s", path, "status"], capture_output=True, text=True)
	print(f"hsup status: {cli.returncode} {cli.stderr.strip()}")
	assert cli.returncode == 1 and "too many connections" in cli.stderr
	# The ones kept are served.
	kept = [s for s in conns if s not in refused]
	kept[0].settimeout(5)
	kept[0].sendall(b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n")
	assert kept[0].recv(4096).endswith(b"\r\n\r\nOK")
	EOS
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(api GET /health)" = OK ]
}

@test "with few file descriptors, idle connections cannot keep a crashed dyno from restarting" {
	release '[{"Type": "web", "Quantity": 1, "Args": ["echo started; exec sleep 100"]}]'
	(
		ulimit -n 80
		exec "$HSUP" start -s "$SOCK" >"$T/out" 2>"$T/err"
	) &
	HSUP_PID=$!
	wait_for '[ -S "$SOCK" ] && [ -n "$(dyno_pid web.1)" ]'
	run python3 - "$SOCK" "$(dyno_pid web.1)" "$T/out" <<-'EOS'
	import os, select, signal, socket, sys, time
	path, dyno, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
	conns = []
	for _ in range(100):
	    s = socket.socket(socket.AF_UNIX)
	    s.connect(path)
	    conns.append(s)
	time.sleep(0.5)
	refused = 0
	for s in select.select(conns, [], [], 0)[0]:
	    refused += s.recv(4096).startswith(b"HTTP/1.1 503 ")
	print(f"{refused} of {len(conns)} connections refused with 503")
	os.kill(dyno, signal.SIGKILL)  # a crash, while the others are held open
	for _ in range(100):
	    if open(out).read().count("web.1 | started") >= 2:
	        print("web.1 restarted while the connections were held")
	        break
	    time.sleep(0.1)
	EOS
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"web.1 restarted while the connections were held"* ]]
	[[ "$output" != *" 0 of 100 connections refused"* ]]
	[ "$(dyno_field web.1 Restarts)" -ge 1 ]
	! grep -i "too many open files" "$T/err"
}

@test "with fewer file descriptors than the reserve, one connection is still served" {
	release '[{"Type": "web", "Quantity": 1, "Args": ["echo started; exec sleep 100"]}]'
	(
		ulimit -n 48 # fewer than hsup's own and 4 per dyno + 32 kept free
		exec "$HSUP" start -s "$SOCK" >"$T/out" 2>"$T/err"
	) &
	HSUP_PID=$!
	wait_for '[ -S "$SOCK" ] && [ -n "$(dyno_pid web.1)" ]'
	run python3 - "$SOCK" <<-'EOS'
	import socket, sys
	first, second = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
	first.connect(sys.argv[1])
	second.connect(sys.argv[1])
	second.settimeout(5)
	print(second.recv(4096).split(b"\r\n")[0].decode())
	first.settimeout(5)
	first.sendall(b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n")
	print(first.recv(4096).split(b"\r\n")[0].decode())
	EOS
	echo "$output"
	[ "${lines[0]}" = "HTTP/1.1 503 Service Unavailable" ]
	[ "${lines[1]}" = "HTTP/1.1 200 OK" ]
	run "$HSUP" -s "$SOCK" scale web=0
	[ "$status" -eq 0 ]
}

@test "on exit hsup removes its socket, not one that has replaced it" {
	one_web
	mv "$SOCK" "$T/moved"
	python3 - "$SOCK" "$T/ready" <<-'EOS' &
	import socket, sys, time
	s = socket.socket(socket.AF_UNIX)
	s.bind(sys.argv[1])
	s.listen()
	open(sys.argv[2], "w").close()
	time.sleep(60)
	EOS
	listener=$!
	wait_for '[ -e "$T/ready" ]'
	kill -TERM "$HSUP_PID"
	wait_hsup
	[ -S "$SOCK" ]
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$SOCK"
	kill "$listener"
	wait "$listener" || true
}

@test "a request target with bytes that are not printable ASCII is a 400 that says why" {
	one_web
	run python3 - "$SOCK" <<-'EOS'
	import socket, sys
	s = socket.socket(socket.AF_UNIX)
	s.connect(sys.argv[1])
	s.settimeout(5)
	s.sendall(b"POST /dynos/web.\x98/restart HTTP/1.1\r\nHost: h\r\n\r\n")
	print(s.recv(4096).decode(errors="replace"))
	EOS
	echo "$output"
	[[ "${lines[0]}" == "HTTP/1.1 400 Bad Request"* ]]
	[[ "$output" == *'{"Error":"the request target is not a valid path"}'* ]]
}
