#!/usr/bin/env python3
"""Times N sequential create+run+delete of /bin/true per runtime; prints medians, ratios to
crun and runc, and the peak RSS of each runtime process (ru_maxrss of what it waited for)."""
import os
import statistics
import subprocess
import sys
import time


LCTIME = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lctime")


def run_lctime(argv, n):
    """argv may hold %d for the run number; lctime runs it n times after a warm-up."""
    out = subprocess.run([LCTIME, str(n)] + argv, check=True, stdout=subprocess.PIPE,
                         stdin=subprocess.DEVNULL).stdout.decode().split("\n")
    return [tuple(int(x) for x in line.split()) for line in out if line.strip()]


def measure_all(runs, n, rounds=10):
    """Interleaves the runtimes, n/rounds runs each per round, so that whatever else the
    machine does meanwhile weighs on all of them alike."""
    rows = {name: [] for name, _ in runs}
    for r in range(rounds):
        for name, argv in runs:
            argv = [a.replace("%d", f"{r}x%d") for a in argv]
            rows[name] += run_lctime(argv, n // rounds)
    results = []
    for name, _ in runs:
        times = sorted(ns / 1e6 for ns, _ in rows[name])
        results.append({"name": name, "median_ms": statistics.median(times),
                        "p90_ms": times[int(len(times) * 0.9) - 1],
                        "rss_kb": max(r for _, r in rows[name])})
    return results


def main():
    n = int(os.environ.get("N", "100"))
    nsinit, bundle, root = sys.argv[1:4]
    rootfs = os.path.join(bundle, "rootfs")
    runs = [
        ("floor (unshare+chroot)", ["unshare", "-m", "-u", "-i", "-n", "-p", "-f", "chroot",
                                    rootfs, "/bin/true"]),
        ("nsinit", [nsinit, "--root", root + "/nsinit", "run", "--config",
                    bundle + "/config.json", "--id", "b%d"]),
    ]
    for rt in ("crun", "runc"):
        if subprocess.call(["sh", "-c", f"command -v {rt} >/dev/null"]) == 0:
            runs.append((rt, [rt, "--root", f"{root}/{rt}", "run", "--bundle", bundle, "b%d"]))
    results = measure_all(runs, n)
    by = {r["name"]: r for r in results}
    print(f"{n} sequential create+run+delete of /bin/true (busybox rootfs; mnt, uts, ipc, pid, "
          f"net namespaces; memory and pids cgroups; default capabilities and seccomp)")
    print(f"{'runtime':24} {'median ms':>10} {'p90 ms':>8} {'peak RSS MB':>12} "
          f"{'vs crun':>8} {'vs runc':>8}")
    for r in results:
        ratios = []
        for peer in ("crun", "runc"):
            ratios.append(f"{r['median_ms'] / by[peer]['median_ms']:.2f}" if peer in by else "-")
        print(f"{r['name']:24} {r['median_ms']:10.2f} {r['p90_ms']:8.2f} "
              f"{r['rss_kb'] / 1024:12.1f} {ratios[0]:>8} {ratios[1]:>8}")


main()
