#!/usr/bin/env bats
# Dyno output through every kind of stdout hsup may be given: whatever it is, every line
# arrives, in order per dyno, and a reader that stalls does not stall hsup.
load helpers

LINES_PER_DYNO=20000

# Two dynos print numbered lines (about 2 MB each, more than any buffer between hsup and the
# reader holds), then sleep.
chatty_release() {
	release '[{"Type": "web", "Quantity": 2, "Args": ["for i in $(seq '"$LINES_PER_DYNO"'); do echo \"line $i of $DYNO, padded to be a little longer than most\"; done; exec sleep 100"]}]'
}

# drive KIND: starts hsup with stdout of that kind; the reader stalls for 3 s (while the
# control API must answer), then reads until every line has come; then hsup is stopped. The
# lines read are checked: each dyno's, all and in order; anything else whole.
drive() {
	chatty_release
	run python3 - "$1" "$HSUP" "$SOCK" "$T" "$LINES_PER_DYNO" <<-'EOS'
	import fcntl, os, pty, re, select, signal, socket, subprocess, sys, time
	kind, hsup, sock, tmp, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
	OTHER = 3000  # lines of another writer sharing the pipe

	def nonblocking(fd):
	    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)

	other = None
	if kind in ("socket", "socket-nonblocking"):
	    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
	    if kind == "socket-nonblocking":
	        theirs.setblocking(False)  # the description hsup shares with us
	    rfd, out = mine.detach(), theirs.detach()
	elif kind in ("pipe", "pipe-nonblocking-shared"):
	    rfd, out = os.pipe()
	    if kind == "pipe-nonblocking-shared":
	        nonblocking(out)
	        other = subprocess.Popen([sys.executable, "-c", f"""
	import os, time
	for i in range(1, {OTHER} + 1):
	    while True:
	        try:
	            os.write(1, b"other writer line %d\\n" % i)
	            break
	        except BlockingIOError:
	            time.sleep(0.01)
	"""], stdout=out)
	elif kind == "pty":
	    rfd, out = pty.openpty()
	elif kind == "file":
	    out = os.open(f"{tmp}/stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
	    rfd = os.open(f"{tmp}/stdout", os.O_RDONLY)
	elif kind == "devnull":
	    out, rfd = os.open("/dev/null", os.O_WRONLY), None
	err = open(f"{tmp}/err", "w")
	proc = subprocess.Popen([hsup, "start", "-s", sock], stdin=subprocess.DEVNULL, stdout=out,
	                        stderr=err, pass_fds=())
	os.close(out)
	data = bytearray()

	def read_some(timeout):
	    if rfd is None:
	        time.sleep(timeout)
	        return
	    if kind == "file" or select.select([rfd], [], [], timeout)[0]:
	        try:
	            chunk = os.read(rfd, 1 << 16)
	        except OSError:  # a pty whose other side is gone
	            chunk = b""
	        data.extend(chunk)
	        if kind == "file" and not chunk:
	            time.sleep(min(timeout, 0.05))

	def health():
	    s = socket.socket(socket.AF_UNIX)
	    s.settimeout(5)
	    try:
	        s.connect(sock)
	        s.sendall(b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n")
	        return s.recv(4096).endswith(b"\r\n\r\nOK")
	    except OSError as e:
	        print("health:", e)
	        return False

	def hsup_lines():
	    text = re.sub(r"\x1b\[[0-9;]*m", "", data.decode(errors="replace").replace("\r", ""))
	    return text.split("\n")[:-1]

	seen = {"upto": 0, "mine": 0}

	def complete():  # counts as it goes: a terminal gives little at a time
	    end = data.rfind(b"\n") + 1
	    seen["mine"] += data.count(b", padded to be", seen["upto"], end)
	    seen["upto"] = max(seen["upto"], end)
	    return seen["mine"] >= 2 * n and (other is None or other.poll() is not None)

	try:
	    deadline = time.time() + 30
	    while not os.path.exists(sock) and time.time() < deadline:
	        time.sleep(0.05)
	    time.sleep(3)  # the reader stalls
	    answered = health()
	    print(f"{kind}: the control API answered while the reader stalled: {answered}")
	    if rfd is None:
	        time.sleep(1)
	    else:
	        deadline = time.time() + 60
	        while not complete() and time.time() < deadline:
	            read_some(0.2)
	finally:
	    proc.send_signal(signal.SIGTERM)
	    try:
	        code = proc.wait(20)
	    except subprocess.TimeoutExpired:
	        proc.kill()
	        code = proc.wait()
	    if other:
	        other.kill()
	if rfd is not None:
	    end = time.time() + 2
	    while time.time() < end:
	        r = select.select([rfd], [], [], 0.2)[0]
	        if not r:
	            break
	        try:
	            chunk = os.read(rfd, 1 << 16)
	        except OSError:
	            break
	        if not chunk:
	            break
	        data.extend(chunk)
	print(f"hsup exited with {code}")

	got = {}
	strays = []
	for l in hsup_lines():
	    m = re.match(r"^\d\d:\d\d:\d\d (web\.\d) +\| (.*)$", l)
	    if m:
	        got.setdefault(m.group(1), []).append(m.group(2))
	    elif not re.fullmatch(r"other writer line \d+", l):
	        strays.append(l)
	ok = answered and code in (0, -signal.SIGTERM)
	for dyno in ("web.1", "web.2") if rfd is not None else ():
	    want = [f"line {i} of {dyno}, padded to be a little longer than most"
	            for i in range(1, n + 1)]
	    have = got.get(dyno, [])
	    same = have == want
	    print(f"{dyno}: {len(have)} of {n} lines{'' if same else ', NOT all in order'}")
	    if not same:
	        bad = next((i for i, (a, b) in enumerate(zip(have, want)) if a != b), len(have))
	        print(f"  first difference at {bad}: {have[bad:bad+1]} instead of {want[bad:bad+1]}")
	    ok = ok and same
	if other:
	    others = [l for l in hsup_lines() if l.startswith("other writer line")]
	    print(f"the other writer: {len(others)} of {OTHER} lines, whole")
	    ok = ok and len(others) == OTHER
	if strays:
	    print(f"{len(strays)} torn or stray lines, e.g. {strays[:2]}")
	sys.exit(0 if ok and not strays else 1)
	EOS
	echo "$output"
	[ "$status" -eq 0 ] || cat "$T/err"
	! grep -Eq 'Sanitizer|runtime error:|internal: |dropping it' "$T/err"
	[ "$status" -eq 0 ]
}

@test "stdout a stream socket (a log driver, journald) whose reader stalls" {
	drive socket
}

@test "stdout a non-blocking socket shared with another process" {
	drive socket-nonblocking
}

@test "stdout a blocking pipe whose reader stalls" {
	drive pipe
}

@test "stdout a non-blocking pipe shared with another writer" {
	drive pipe-nonblocking-shared
}

@test "stdout a terminal whose reader stalls" {
	drive pty
}

@test "stdout a file" {
	drive file
}

@test "stdout /dev/null" {
	drive devnull
}

@test "hsup's own messages to a stderr socket that stalls do not stall hsup, and all arrive" {
	# long names make long messages: 150 dynos say some 20 kB
	release '[{"Type": "web-with-a-long-name-to-make-its-messages-long", "Quantity": 150,
	           "Args": ["exec sleep 100"]}]'
	run python3 - "$HSUP" "$SOCK" "$T" <<-'EOS'
	import os, select, socket, subprocess, sys, time
	hsup, sock, tmp = sys.argv[1:4]
	mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
	theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)  # the smallest: a few kB
	proc = subprocess.Popen([hsup, "start", "-s", sock], stdin=subprocess.DEVNULL,
	                        stdout=subprocess.DEVNULL, stderr=theirs.fileno())
	theirs.close()

	def health():
	    s = socket.socket(socket.AF_UNIX)
	    s.settimeout(5)
	    try:
	        s.connect(sock)
	        s.sendall(b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n")
	        return s.recv(4096).endswith(b"\r\n\r\nOK")
	    except OSError:
	        return False
	    finally:
	        s.close()

	# nobody reads stderr for 10 s, while 150 dynos start (one answer may take seconds on a
	# loaded machine with the sanitizers)
	deadline = time.time() + 10
	answered = 0
	while time.time() < deadline:
	    answered += health()
	    time.sleep(0.2)
	print("answered while stalled:", answered)
	data = bytearray()
	while data.count(b" started (pid ") < 150:
	    if not select.select([mine], [], [], 10)[0]:
	        break
	    data.extend(mine.recv(1 << 16))
	print("started lines:", data.count(b" started (pid "))
	proc.terminate()
	mine.settimeout(30)
	while True:
	    chunk = mine.recv(1 << 16)
	    if not chunk:
	        break
	    data.extend(chunk)
	print("exit:", proc.wait(30))
	torn = [l for l in data.split(b"\n")[:-1] if b" hsup | " not in l]
	print("torn lines:", len(torn))
	EOS
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *"answered while stalled: 0"* ]]
	[[ "$output" == *"started lines: 150"* ]]
	[[ "$output" == *"exit: 0"* ]]
	[[ "$output" == *"torn lines: 0"* ]]
}
