#!/usr/bin/env python3
"""The container dynos' measurements, run by bench/dynos.sh inside the network and mount
namespaces it made, once hsup, the stack, the slugs and dockerd are ready. Prints the summary
and writes it to $RESULTS/summary.txt.

Every dyno, of hsup or a peer, runs the same command through the same init (hsup's dyno init,
bash, the profile scripts, then `exec sleep <MARK>`): a dyno has started when a process with
exactly that command line exists, and has stopped when none does. bench/waitn watches for it,
started before the action it times (`waitn -s -`), so its own start is never counted.

Configuration comes from the environment (see bench/dynos.sh, which sets all of it).
"""
import copy
import ctypes
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse

ENV = os.environ
WAITN = ENV["WAITN"]
MARK = ["sleep", ENV["MARK_SECS"]]
DYNO_CMD = "exec " + " ".join(MARK)
WORK = ENV["WORK"]
REPS = int(ENV["REPS"])
FORMATION_N = int(ENV.get("FORMATION_N", "100"))
FORMATION_REPS = int(ENV.get("FORMATION_REPS", "3"))
RELEASE_REPS = int(ENV.get("RELEASE_REPS", "10"))
RAW = open(os.path.join(ENV["RESULTS"], "raw.tsv"), "a")

SAMPLES = {}
NOTES = []


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def record(key, value):
    SAMPLES.setdefault(key, []).append(value)
    RAW.write(f"{key}\t{value:.3f}\n")
    RAW.flush()


def warn(msg):
    log("WARNING: " + msg)
    NOTES.append(msg)


# ---- timing ----

class Watch:
    """bench/waitn, watching for N processes running the mark (or at most N, down=True) from
    before the action: go() gives it the instant, result() the milliseconds it took."""

    def __init__(self, n, down=False, timeout=60):
        argv = [WAITN, "-s", "-", "-n", str(n), "-t", str(timeout)]
        if down:
            argv.append("-d")
        self.p = subprocess.Popen(argv + ["--"] + MARK, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if line != "ready\n":
            raise RuntimeError(f"waitn: {line!r} {self.p.stderr.read()}")

    def go(self):
        t0 = time.time()
        self.p.stdin.write(f"{t0:.6f}\n")
        self.p.stdin.flush()
        return t0

    def result(self):
        out, err = self.p.communicate()
        if self.p.returncode != 0:
            raise RuntimeError(err.strip())
        return float(out)


def timed(action, n, down=False, timeout=60):
    """Runs action() once waitn watches; returns (ms until n marked processes run, or at most
    n with down, counted from just before the action; the instant the action began)."""
    w = Watch(n, down, timeout)
    t0 = w.go()
    try:
        action()
    except BaseException:
        w.p.kill()
        w.p.wait()
        raise
    return w.result(), t0


def since_ms(t0):
    return (time.time() - t0) * 1000


def wait_until(cond, timeout, what):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.001)


def run(argv, **kw):
    if "input" not in kw:
        kw["stdin"] = subprocess.DEVNULL
    return subprocess.run(argv, check=True, **kw)


def marked():
    out = subprocess.run([WAITN, "-l", "--"] + MARK, stdout=subprocess.PIPE, text=True).stdout
    return [int(x) for x in out.split()]


def status_kb(pid, field="VmRSS"):
    """A kB line of /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


# ---- hsup, through its control API ----

def api(sock, method, path, body=None, http="1.1"):
    """A call on a unix socket; HTTP/1.0 for dockerd's, whose longer answers would be chunked
    in 1.1."""
    data = json.dumps(body).encode() if body is not None else b""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sock)
        s.sendall(f"{method} {path} HTTP/{http}\r\nHost: hsup\r\nConnection: close\r\n"
                  f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    finally:
        s.close()
    head, _, body_out = b"".join(chunks).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        raise RuntimeError(f"{method} {path}: {status} {body_out.decode(errors='replace')}")
    return json.loads(body_out) if body_out else None


class Hsup:
    def __init__(self, name, prefix):
        self.name = name
        self.sock = ENV[prefix + "_SOCK"]
        self.pid = int(ENV[prefix + "_PID"])
        self.dynos_dir = ENV[prefix + "_DATA"] + "/dynos"
        self.uids_dir = ENV["HSUP_STATE"] + "/uids"
        self.ctl = ENV[prefix + "_CTL"]
        self.slug = ENV[prefix + "_SLUG_PATH"]
        self.version = 1

    def scale(self, n):
        api(self.sock, "POST", "/control/scale", {"web": n})

    def started(self, n):
        dynos = api(self.sock, "GET", "/dynos")["Dynos"]
        return sum(1 for d in dynos if d["State"] == "started" and d["Pid"]) == n

    def loaded(self):
        with open(self.ctl + "/loaded") as f:
            return json.load(f).get("Version") == self.version

    def all_removed(self):
        """No dyno directory and no UID reserved (uids/.lock stays)."""
        return not any(not e.startswith(".") for d in (self.dynos_dir, self.uids_dir)
                       for e in os.listdir(d))

    def one(self, key):
        ms, _ = timed(lambda: self.scale(1), 1)
        record(f"start.{key}", ms)
        wait_until(lambda: self.started(1), 30, f"{self.name}: web.1 started")
        ms, t0 = timed(lambda: self.scale(0), 0, down=True)
        record(f"stop.{key}", ms)
        wait_until(self.all_removed, 30, f"{self.name}: the dyno's container removed")
        record(f"removed.{key}", since_ms(t0))

    def release(self, quantity):
        """A new release as an operator gives one: written to a temporary file, renamed to
        new. The same slug and command, for a type of its own: web's count is the scale's
        now (a scale outlasts releases, as on Heroku)."""
        self.version += 1
        doc = {"Version": self.version, "Slug": self.slug, "Processes": [
            {"Type": "web", "Quantity": 0, "Args": [DYNO_CMD]},
            {"Type": "rel", "Quantity": quantity, "Args": [DYNO_CMD]}]}
        with open(self.ctl + "/new.tmp", "w") as f:
            json.dump(doc, f)
        os.rename(self.ctl + "/new.tmp", self.ctl + "/new")

    def by_release(self, key):
        ms, _ = timed(lambda: self.release(1), 1)
        record(f"release_start.{key}", ms)
        wait_until(lambda: self.started(1), 30, f"{self.name}: web.1 started")
        ms, _ = timed(lambda: self.release(0), 0, down=True)
        record(f"release_stop.{key}", ms)
        wait_until(self.all_removed, 30, f"{self.name}: the dyno's container removed")
        wait_until(self.loaded, 30, f"{self.name}: release v{self.version} loaded")

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))


class HsupDocker(Hsup):
    """hsup -d docker, at the run's dockerd: its dynos are gone once dockerd has no container
    of its label left (hsup removes each once its dyno has ended and its output is read)."""

    def __init__(self, name, prefix):
        self.name = name
        self.sock = ENV[prefix + "_SOCK"]
        self.pid = int(ENV[prefix + "_PID"])
        self.ctl = ENV[prefix + "_CTL"]
        self.slug = ENV[prefix + "_SLUG_PATH"]
        self.dockerd = ENV["DOCKERD_SOCK"]
        self.version = 1

    def all_removed(self):
        q = urllib.parse.quote(json.dumps({"label": ["hsup.dyno"]}))
        return not api(self.dockerd, "GET", f"/containers/json?all=1&filters={q}",
                       http="1.0")


# ---- crun: an equivalent bundle, set up as a dyno is ----

LIBC = ctypes.CDLL(None, use_errno=True)
MS_NOSUID, MS_NODEV, MNT_DETACH = 2, 4, 2
PATH_VAR = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
GiB = 1 << 30


def bind(dest, source, ro):
    opts = ["rbind", "nosuid", "nodev"] + (["ro"] if ro else [])
    return {"destination": dest, "type": "bind", "source": source, "options": opts}


def tmpfs(dest):
    return {"destination": dest, "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777", "size=536870912"]}


class Peer:
    """A peer runtime: start() runs the dyno's command, stop() ends it, remove() takes away
    what start() made; live is set while there is something to remove."""

    live = None

    def one(self, key):
        try:
            ms, _ = timed(self.start, 1)
            record(f"start.{key}", ms)
            ms, t0 = timed(self.stop, 0, down=True)
            record(f"stop.{key}", ms)
            self.remove()
            record(f"removed.{key}", since_ms(t0))
        finally:
            if self.live:
                self.remove()


class Crun(Peer):
    """What hsup does for a dyno, by hand: a directory with the overlay of /app (the slug's
    tree as lower layer, a private upper one owned by the dyno's UID), passwd and group; a
    network namespace with a veth pair and addresses (ip); the config (the in-tree runtime's
    defaults, as hsup's, with hsup's changes); then `crun run --detach`."""

    UID = 20000  # outside hsup's dyno UIDs

    def __init__(self):
        self.root = ENV["CRUN_ROOT"]
        self.dynos = os.path.join(WORK, "crun-dynos")
        os.makedirs(self.root, exist_ok=True)
        os.makedirs(self.dynos, exist_ok=True)
        self.rootfs = ENV["STACK_ROOTFS"]
        self.slug_tree = ENV["SLUG_TREE"]
        self.init = ENV["HSUP_INIT"]
        self.base = json.loads(subprocess.run([ENV["NSINIT"], "config"], check=True,
                                              stdout=subprocess.PIPE).stdout)
        self.n = 0
        self.live = None  # (id, dir) of the container now; its netns is named as it is

    def config(self, cid, d, netns):
        c = copy.deepcopy(self.base)
        c["root"] = {"path": self.rootfs, "readonly": True}
        c["hostname"] = "web.1"
        p = c["process"]
        p.pop("capabilities", None)  # none at all, as a dyno
        p.update({"user": {"uid": self.UID, "gid": self.UID},
                  "args": ["/dev/init", "--grace", "30", "--", DYNO_CMD],
                  "env": [PATH_VAR, "HOME=/app", "PORT=5000", "DYNO=web.1"], "cwd": "/app",
                  "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 10000, "soft": 10000}],
                  "noNewPrivileges": True})
        lx = c["linux"]
        lx["namespaces"] = [ns for ns in lx["namespaces"] if ns["type"] != "network"] + [
            {"type": "network", "path": netns}, {"type": "cgroup"}]
        lx["resources"].update({"memory": {"limit": GiB, "swap": GiB},
                                "cpu": {"shares": 1024}, "pids": {"limit": 256}})
        lx["cgroupsPath"] = f"{ENV['CGROUP_REL']}/crun-{cid}"
        c["mounts"] += [tmpfs("/tmp"), tmpfs("/var/tmp"), bind("/app", d + "/app", False),
                        bind("/etc/passwd", d + "/passwd", True),
                        bind("/etc/group", d + "/group", True),
                        bind("/etc/resolv.conf", "/etc/resolv.conf", True),
                        bind("/dev/init", self.init, True)]
        with open(d + "/config.json", "w") as f:
            json.dump(c, f)

    def prepare_dir(self, d):
        os.mkdir(d, 0o711)
        for sub, mode in (("upper", 0o755), ("work", 0o700), ("app", 0o755)):
            os.mkdir(f"{d}/{sub}", mode)
        os.chown(d + "/upper", self.UID, self.UID)
        u = self.UID
        with open(d + "/passwd", "w") as f:
            f.write(f"root:x:0:0:root:/root:/bin/bash\ndyno:x:{u}:{u}:dyno:/app:/bin/bash\n"
                    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
        with open(d + "/group", "w") as f:
            f.write(f"root:x:0:\ndyno:x:{u}:\nnogroup:x:65534:\n")
        data = f"lowerdir={self.slug_tree},upperdir={d}/upper,workdir={d}/work"
        if LIBC.mount(b"overlay", f"{d}/app".encode(), b"overlay", MS_NOSUID | MS_NODEV,
                      data.encode()) < 0:
            raise OSError(ctypes.get_errno(), f"mount the overlay on {d}/app")

    @staticmethod
    def network(name, i):
        # a /30 of 10.231.0.0/16 inside the benchmark's own network namespace
        net = (i % 16384) * 4
        gw = f"10.231.{net // 256}.{net % 256 + 1}"
        host = f"10.231.{net // 256}.{net % 256 + 2}"
        veth = f"hcb{i}"
        run(["ip", "-batch", "-"], input=(
            f"netns add {name}\nlink add {veth} type veth peer name eth0 netns {name}\n"
            f"addr add {gw}/30 dev {veth}\nlink set {veth} up\n").encode())
        run(["ip", "-n", name, "-batch", "-"], input=(
            f"link set lo up\naddr add {host}/30 dev eth0\nlink set eth0 up\n"
            f"route add default via {gw}\n").encode())
        return f"/run/netns/{name}"

    def start(self):
        self.n += 1
        cid = f"hsup-bench-{os.getpid()}-{self.n}"
        d = os.path.join(self.dynos, cid)
        self.live = (cid, d)
        self.prepare_dir(d)
        netns = self.network(cid, self.n)
        self.config(cid, d, netns)
        run(["crun", "--root", self.root, "run", "--detach", "--bundle", d, cid],
            stdout=subprocess.DEVNULL)

    def stop(self):
        run(["crun", "--root", self.root, "kill", self.live[0], "TERM"])

    def remove(self):
        """Whatever of the container is there: each step skips what is not."""
        cid, d = self.live
        subprocess.run(["crun", "--root", self.root, "delete", "--force", cid],
                       stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        LIBC.umount2(f"{d}/app".encode(), MNT_DETACH)
        subprocess.run(["rm", "-rf", d])
        subprocess.run(["ip", "netns", "del", cid], stderr=subprocess.DEVNULL)
        self.live = None


# ---- docker: the stack and the slug imported as an image ----

class Docker(Peer):
    """`docker run --detach` of the stack imported as an image with the slug at /app (its
    writable layer is the container's private /app), the same init and command, user, limits
    and no capability; the default bridge network gives it a veth pair."""

    def __init__(self):
        self.cli = ENV["DOCKER_CLI"].split()
        self.image = ENV["DOCKER_IMAGE"]
        self.n = 0
        self.live = None

    def start(self):
        self.n += 1
        self.live = f"hsup-bench-{os.getpid()}-{self.n}"
        run(self.cli + [
            "run", "--detach", "--name", self.live, "--user", f"{Crun.UID}:{Crun.UID}",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--hostname", "web.1",
            "--memory", "1g", "--memory-swap", "1g", "--cpu-shares", "1024",
            "--pids-limit", "256", "--ulimit", "nofile=10000:10000",
            "--tmpfs", "/tmp:size=512m", "--tmpfs", "/var/tmp:size=512m",
            "--volume", f"{ENV['HSUP_INIT']}:/dev/init:ro", "--entrypoint", "/dev/init",
            "--workdir", "/app", "--env", "HOME=/app", "--env", "PORT=5000",
            "--env", "DYNO=web.1", "--log-driver", "none",
            "--cgroup-parent", "docker",  # beneath dockerd's own, the run's
            self.image, "--grace", "30", "--", DYNO_CMD], stdout=subprocess.DEVNULL)

    def stop(self):
        run(self.cli + ["stop", "--time", "30", self.live], stdout=subprocess.DEVNULL)

    def remove(self):
        subprocess.run(self.cli + ["rm", "--force", self.live], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.live = None


# ---- a formation of many dynos at once ----

def memory(h, when):
    record(f"rss.{when}", status_kb(h.pid))
    record(f"anon.{when}", status_kb(h.pid, "RssAnon"))
    record(f"fds.{when}", h.fds())


def formation(h, sfx="", timeout=120):
    """FORMATION_REPS times: scale web to FORMATION_N and back to 0; sfx names the samples
    (formation<sfx>.up, rss.formation<sfx>, ...), "" for -d libcontainer."""
    n = FORMATION_N
    f = "formation" + sfx
    for rep in range(FORMATION_REPS):
        ms, _ = timed(lambda: h.scale(n), n, timeout=timeout)
        record(f"{f}.up", ms)
        wait_until(lambda: h.started(n), timeout, f"{h.name}: {n} dynos started")
        time.sleep(1)  # what the starts left behind settles: the RSS of a steady formation
        memory(h, f)
        ms, t0 = timed(lambda: h.scale(0), 0, down=True, timeout=timeout)
        record(f"{f}.down", ms)
        wait_until(h.all_removed, timeout, f"{h.name}: {n} containers removed")
        record(f"{f}.removed", since_ms(t0))
        log(f"{h.name}: formation {rep + 1}/{FORMATION_REPS}: {n} up in "
            f"{SAMPLES[f + '.up'][-1]:.0f} ms, down in {ms:.0f} ms, all removed in "
            f"{SAMPLES[f + '.removed'][-1]:.0f} ms; hsup VmRSS "
            f"{SAMPLES['rss.' + f][-1]:.0f} kB (RssAnon {SAMPLES['anon.' + f][-1]:.0f}),"
            f" {status_kb(h.pid, 'RssAnon')} kB RssAnon once they are removed")


# ---- how busy the rest of the machine was ----

def busy_ns():
    """The machine's busy CPU time, and the run's own (its cgroup's cpuacct), in ns."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    total = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * 1_000_000_000 // hz
    with open(os.path.join(ENV["CPUACCT_OURS"], "cpuacct.usage")) as f:
        return total, int(f.read())


# ---- statistics and the summary ----

def median(key):
    v = SAMPLES.get(key)
    return statistics.median(v) if v else None


def p90(key):
    """The nearest-rank 90th percentile."""
    v = sorted(SAMPLES.get(key) or [])
    return v[max(0, -(-len(v) * 9 // 10) - 1)] if v else None


def fmt(x, d=1):
    return "-" if x is None else f"{x:.{d}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    r = a / b
    return f"{r:.3f}" if r < 0.1 else f"{r:.2f}"


def spread(key):
    v = SAMPLES.get(key)
    return f"{min(v):.0f}-{max(v):.0f}" if v else "-"


def header(others, load0, load1):
    noisy = "" if others <= 5 else " (shared: the figures are slower than on a quiet machine)"
    yield (f"hsup container dynos benchmark, {time.strftime('%Y-%m-%d %H:%M')}"
           + (" (BENCH_QUICK: indicative only)" if ENV.get("QUICK") == "1" else ""))
    yield f"hsup: {ENV['HSUP_VERSION']}; {ENV['MACHINE']}"
    yield f"slugs: {ENV['SLUGS_INFO']}"
    yield (f"load average: at start {load0}, at end {load1}; other programs used "
           f"{others:.0f}% of the CPUs during the measurements{noisy}")
    yield ("every dyno runs hsup's dyno init, which runs bash, the profile scripts, then "
           "`exec sleep ...`, on the same stack (hsup-stack host), with its own UID, no "
           "capability, no_new_privs, seccomp, 1 GB memory and 256 pids limits, its own "
           "network namespace with a veth pair")


def section_per_dyno(systems):
    yield (f"1. Per-dyno start (the change applied -> the dyno's command runs in its "
           f"container) and stop (the request -> the command gone), ms, {REPS} of each, "
           f"interleaved")
    yield (f"   {'':26} {'start median':>12} {'p90':>7} {'stop median':>11} {'p90':>6} "
           f"{'removed':>8}")
    for key, label, _ in systems:
        yield (f"   {label:26} {fmt(median('start.' + key)):>12} "
               f"{fmt(p90('start.' + key)):>7} {fmt(median('stop.' + key)):>11} "
               f"{fmt(p90('stop.' + key)):>6} {fmt(median('removed.' + key)):>8}")
    for h, hl in (("hsup1", "hsup (1 MB)"), ("hsupd", "hsup -d docker")):
        if not SAMPLES.get("start." + h):
            continue
        hs, hstop = median("start." + h), median("stop." + h)
        for key, label, _ in systems:
            if not key.startswith("hsup") or (h == "hsupd" and key == "hsup1"):
                yield (f"   {hl} / {label}: start {ratio(hs, median('start.' + key))} "
                       f"(p90 {ratio(p90('start.' + h), p90('start.' + key))}), stop "
                       f"{ratio(hstop, median('stop.' + key))}")
    yield ("   removed: from the stop request until the container, its mounts, network and "
           "directory are gone (median)")
    yield "   how each is started and stopped:"
    for key, label, how in systems:
        yield f"     {label}: {how}"
    if SAMPLES.get("release_start.hsup1"):
        k = len(SAMPLES["release_start.hsup1"])
        yield (f"   hsup with a new release instead of a scale (a type's Quantity 0 -> 1 -> 0, "
               f"renamed into the control directory; its build step and the write of `loaded` "
               f"included), median of {k}: start {fmt(median('release_start.hsup1'))} ms, stop "
               f"{fmt(median('release_stop.hsup1'))} ms")


def section_slug():
    a, b = median("start.hsup1"), median("start.hsup200")
    yield (f"2. Slug size: hsup's per-dyno start with the {ENV['HSUP200_SLUG']} slug / with "
           f"the {ENV['HSUP1_SLUG']} one: {ratio(b, a)} (medians {fmt(b)} and {fmt(a)} ms, "
           f"p90 {fmt(p90('start.hsup200'))} and {fmt(p90('start.hsup1'))} ms)")


def formation_rows(prefix, n):
    """The up, down and removed times of a formation whose samples are named prefix.*."""
    for key, label in (("up", f"until all {n} commands run"),
                       ("down", "scale to 0 until none runs"),
                       ("removed", "scale to 0 until every container is removed")):
        yield (f"   {label:46} {fmt(median(prefix + '.' + key), 0):>7} "
               f"({spread(prefix + '.' + key)})")


def section_formation():
    n = FORMATION_N
    yield (f"3. A formation of {n} container dynos (hsup, 1 MB slug; scale web 0 -> {n}), ms, "
           f"median of {FORMATION_REPS} (min-max)")
    yield from formation_rows("formation", n)
    yield (f"   hsup's own memory, VmRSS (RssAnon) kB: {fmt(median('rss.idle'), 0)} "
           f"({fmt(median('anon.idle'), 0)}) with no dyno before the runs; "
           f"{fmt(median('rss.formation'), 0)} ({fmt(median('anon.formation'), 0)}) with "
           f"{n} dynos; {fmt(median('rss.after'), 0)} ({fmt(median('anon.after'), 0)}) with "
           f"none after all the runs")
    yield (f"   hsup's open files: {fmt(median('fds.idle'), 0)} before, "
           f"{fmt(median('fds.formation'), 0)} with {n} dynos, {fmt(median('fds.after'), 0)} "
           f"after")
    if not SAMPLES.get("formation_docker.up"):
        return
    yield (f"   The same with hsup -d docker (1 MB slug; {n} containers of the run's dockerd), "
           f"ms, median of {len(SAMPLES['formation_docker.up'])} (min-max)")
    yield from formation_rows("formation_docker", n)
    yield (f"   hsup -d docker's own memory, VmRSS (RssAnon) kB: "
           f"{fmt(median('rss.idle_docker'), 0)} ({fmt(median('anon.idle_docker'), 0)}) with "
           f"no dyno before the runs; {fmt(median('rss.formation_docker'), 0)} "
           f"({fmt(median('anon.formation_docker'), 0)}) with {n} dynos; "
           f"{fmt(median('rss.after_docker'), 0)} ({fmt(median('anon.after_docker'), 0)}) with "
           f"none after; open files {fmt(median('fds.idle_docker'), 0)}, "
           f"{fmt(median('fds.formation_docker'), 0)}, {fmt(median('fds.after_docker'), 0)}")


def section_goals():
    hs, h200, up = median("start.hsup1"), median("start.hsup200"), median("formation.up")

    def goal(v, limit, unit):
        return "-" if v is None else ("met" if v < limit else "MISSED") + f" ({v:.1f} {unit})"
    yield (f"Goals: per-dyno start under 15 ms: {goal(hs, 15, 'ms')}; the same start with "
           f"the 200 MB slug: {ratio(h200, hs)} of the 1 MB one; {FORMATION_N} dynos up "
           f"under 2 s: {goal(up, 2000, 'ms')}")


def summary(systems, others, load0, load1):
    out = list(header(others, load0, load1))
    for part in (section_per_dyno(systems), section_slug(), section_formation(),
                 section_goals()):
        out.append("")
        out.extend(part)
    if NOTES:
        out += ["", "Notes:"] + ["   " + m for m in NOTES]
    return "\n".join(out)


def peers(systems):
    if ENV.get("DOCKERD_SKIP"):
        warn(f"no hsup -d docker column: {ENV['DOCKERD_SKIP']}")
    else:
        systems.append(("hsupd", "hsup -d docker, 1 MB slug", HsupDocker(
            "hsup -d docker", "HSUPD"), (
            "the same scale, to an hsup -d docker at the run's dockerd (its release an image: "
            "the stack imported, the slug committed at /app)")))
    if ENV.get("CRUN_SKIP"):
        warn(f"no crun column: {ENV['CRUN_SKIP']}")
    else:
        systems.append(("crun", ENV["CRUN_VERSION"], Crun(), (
            "mkdir + overlay mount of /app (slug tree as lower layer) + ip netns add, veth "
            "pair, addresses, route (two `ip -batch`) + config.json + `crun run --detach`; "
            "`crun kill TERM`")))
    if ENV.get("DOCKER_SKIP"):
        warn(f"no docker column: {ENV['DOCKER_SKIP']}")
    else:
        systems.append(("docker", ENV["DOCKER_VERSION"], Docker(), (
            "`docker run --detach` of the stack with the 1 MB slug at /app imported as an "
            "image (default bridge network: a veth pair); `docker stop`")))


def main():
    hsup1 = Hsup("hsup (1 MB slug)", "HSUP1")
    hsup200 = Hsup("hsup (200 MB slug)", "HSUP200")
    systems = [
        ("hsup1", f"hsup, {ENV['HSUP1_SLUG']} slug", hsup1,
         "`POST /control/scale {\"web\": 1}` on the control socket (then 0)"),
        ("hsup200", f"hsup, {ENV['HSUP200_SLUG']} slug", hsup200,
         "the same, to another hsup whose release has the big slug"),
    ]
    peers(systems)
    hsupd = next((s for k, _, s, _ in systems if k == "hsupd"), None)
    memory(hsup1, "idle")
    if hsupd:
        memory(hsupd, "idle_docker")
    with open("/proc/loadavg") as f:
        load0 = " ".join(f.read().split()[:3])
    started_at, (total0, ours0) = time.time(), busy_ns()
    for r in range(REPS):
        for key, _, s, _ in systems:
            s.one(key)
        if (r + 1) % 10 == 0 or r + 1 == REPS:
            log(f"per-dyno start/stop: {r + 1}/{REPS} rounds; medians so far (ms): " + ", ".join(
                f"{k} {median('start.' + k):.1f}/{median('stop.' + k):.1f}"
                for k, _, _, _ in systems))
    formation(hsup1)
    if hsupd:
        formation(hsupd, "_docker", timeout=int(ENV.get("DOCKER_FORMATION_TIMEOUT", "600")))
    for _ in range(RELEASE_REPS):
        hsup1.by_release("hsup1")
    time.sleep(1)
    memory(hsup1, "after")
    if hsupd:
        memory(hsupd, "after_docker")
    total1, ours1 = busy_ns()
    others = max(0.0, ((total1 - total0) - (ours1 - ours0))
                 / ((time.time() - started_at) * 1e9 * os.cpu_count()) * 100)
    with open("/proc/loadavg") as f:
        load1 = " ".join(f.read().split()[:3])
    left = marked()
    if left:
        warn(f"{len(left)} marked processes still run after the measurements")
    rows = [(k, label, how) for k, label, _, how in systems]
    text = summary(rows, others, load0, load1)
    print(text, flush=True)
    with open(os.path.join(ENV["RESULTS"], "summary.txt"), "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    # stopped by bench/dynos.sh: the `finally`s remove what was being timed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
