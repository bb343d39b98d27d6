#!/usr/bin/env python3
"""What containerd's runc shim does around `create` and `start`, for ftest/nsinit_runc.bats:
as a subreaper, it runs RUNTIME create with pipes as its stdio (or a console socket), reads
the pid file, checks the init is its own child once create exited, starts it, reads what the
container wrote (on the pipes, or on the pty master received over the socket) and reaps it.

usage: runc_shim.py pipes|console RUNTIME ROOT BUNDLE ID
Prints: ppid_is_shim=..., status=..., output=..., exit=..."""
import ctypes, os, socket, subprocess, sys, tempfile

PR_SET_CHILD_SUBREAPER = 36
mode, runtime, root, bundle, cid = sys.argv[1:6]
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
tmp = tempfile.mkdtemp()
pid_file = os.path.join(tmp, "init.pid")
log = os.path.join(tmp, "log.json")
glob = [runtime, "--root", root, "--log", log, "--log-format", "json"]
args = ["create", "--bundle", bundle, "--pid-file", pid_file]
master = None
if mode == "console":
    path = os.path.join(tmp, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    p = subprocess.Popen(glob + args + ["--console-socket", path, cid], stdin=subprocess.DEVNULL)
    conn, _ = srv.accept()
    name, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    master = fds[0]
    print("console_name=" + name.decode())
    rc = p.wait()
    out_r = None
else:
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    rc = subprocess.call(glob + args + [cid], stdin=in_r, stdout=out_w, stderr=out_w)
    os.close(in_r)
    os.close(out_w)
if rc != 0:
    print("create failed: %d %s" % (rc, open(log).read()))
    sys.exit(1)
pid = int(open(pid_file).read())
ppid = int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[1])
print("ppid_is_shim=%s" % (ppid == os.getpid()))
print("status=" + subprocess.check_output(glob + ["state", cid]).decode().split('"status": "')[1].split('"')[0])
subprocess.check_call(glob + ["start", cid])
if master is not None:
    os.write(master, b"hello from the shim\n")
    data = b""
    while b"done" not in data:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
else:
    os.write(in_w, b"hello from the shim\n")
    os.close(in_w)
    data = b""
    while True:
        chunk = os.read(out_r, 4096)
        if not chunk:
            break
        data += chunk
_, st = os.waitpid(pid, 0)
print("output=" + data.decode(errors="replace").replace("\r", "").replace("\n", "|"))
print("exit=%d" % os.waitstatus_to_exitcode(st))
