#!/usr/bin/env python3
"""Times `ctr run --rm IMAGE ID /bin/true` through containerd's runc shim with each runtime as
its runc (`--runc-binary`), interleaved (one run of each in turn, N rounds), and prints medians,
p90 and ratios to crun and runc. A runtime whose first run fails is reported as failing, with
what ctr said, and left out; nothing is asserted.
    bench/containerd_bench.py CONTAINERD_PID IMAGE NAME=BINARY...   (N in the environment)"""
import os
import re
import statistics
import subprocess
import sys
import time


def ctr_run(pid, image, binary, cid):
    """One `ctr run --rm` in containerd's mount namespace (ctr_cli of ftest/containerd.bash);
    returns (seconds, error or None)."""
    argv = ["nsenter", "-t", pid, "-m", "--", "ctr", "run", "--rm", "--null-io",
            "--runc-binary", binary, image, cid, "/bin/true"]
    start = time.perf_counter()
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=120)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        said = (p.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
        # the shim's note that the runtime left no log.json says nothing of why it failed
        said = re.sub(r"unable to retrieve OCI runtime error \(.*?\): ", "", said)
        return elapsed, f"exit {p.returncode}: {said[:400]}"
    return elapsed, None


def main():
    n = int(os.environ.get("N", "50"))
    pid, image = sys.argv[1:3]
    runtimes = [a.split("=", 1) for a in sys.argv[3:]]
    ok, failed, times = [], [], {}
    for name, binary in runtimes:  # a first run of each: the warm-up, and whether it works
        _, err = ctr_run(pid, image, binary, f"bench-{name}-warm")
        if err:
            failed.append((name, err))
        else:
            ok.append((name, binary))
            times[name] = []
    for i in range(n):
        for name, binary in ok:
            elapsed, err = ctr_run(pid, image, binary, f"bench-{name}-{i}")
            if err:
                print(f"# {name}, run {i}: {err}")
                continue
            times[name].append(elapsed * 1000)
    print(f"{n} interleaved `ctr run --rm` of /bin/true (busybox image, containerd "
          f"{containerd_version()}, runc shim v2; ctr's own start included)")
    print(f"{'runtime':24} {'median ms':>10} {'p90 ms':>8} {'vs crun':>8} {'vs runc':>8}")
    medians = {name: statistics.median(t) for name, t in times.items() if t}
    for name, _ in ok:
        t = sorted(times[name])
        if not t:
            print(f"{name:24} every run failed")
            continue
        ratios = [f"{medians[name] / medians[p]:.2f}" if p in medians else "-"
                  for p in ("crun", "runc")]
        print(f"{name:24} {medians[name]:10.2f} {t[max(int(len(t) * 0.9) - 1, 0)]:8.2f} "
              f"{ratios[0]:>8} {ratios[1]:>8}")
    for name, err in failed:
        print(f"{name:24} fails under containerd, not timed: {err}")


def containerd_version():
    out = subprocess.run(["containerd", "--version"], stdout=subprocess.PIPE, text=True).stdout
    return out.split()[2] if len(out.split()) > 2 else "?"


main()
