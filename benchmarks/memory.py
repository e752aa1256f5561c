"""Memory per suspended greenlet: pygreenlet's backends against upstream greenlet.

For each backend and stack depth, a fresh interpreter starts N greenlets that
each recurse that many Python frames deep and switch back to the main
greenlet, so all N stay suspended; the growth of the process's resident set
(RSS, from /proc/self/statm) divided by N is the memory one suspended
greenlet holds: its objects, its saved slice of the C stack and its frames.
A warm-up round of the same shape runs first, so the allocators' own arenas
are in place before the measurement.  Linux only (``/proc``).

Usage: ``python benchmarks/memory.py [--backends speedups,upstream]
[--count N] [--depths 0,50,500]``; upstream greenlet must be installed for
``upstream``.  Not a pass/fail test: read the ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys

#: Run in a fresh interpreter: argv[1] backend, argv[2] count, argv[3] depth.
PROBE = """
import gc, os, sys
if sys.argv[1] == "upstream":
    import greenlet as api
else:
    os.environ["PYGREENLET_BACKEND"] = sys.argv[1]
    import pygreenlet as api
count, depth = int(sys.argv[2]), int(sys.argv[3])
sys.setrecursionlimit(max(1000, depth + 100))
main = api.getcurrent()

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def down(n):
    if n:
        return down(n - 1)
    main.switch()

def park(n):
    gs = [api.greenlet(down) for _ in range(n)]
    for g in gs:
        g.switch(depth)
    return gs

warm = park(max(100, count // 10))
del warm
gc.collect()
before = rss()
gs = park(count)
gc.collect()
print((rss() - before) / count)
"""


def per_greenlet(backend: str, count: int, depth: int) -> float:
    """Bytes of RSS one suspended greenlet *depth* frames deep holds on *backend*."""
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in [here, env.get("PYTHONPATH", "")] if p)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, backend, str(count), str(depth)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError("%s at depth %d failed:\n%s" % (backend, depth, proc.stderr))
    return float(proc.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="speedups,upstream")
    parser.add_argument("--count", type=int, default=20_000, help="greenlets per measurement")
    parser.add_argument("--depths", default="0,50,500", help="Python frames below each run()")
    args = parser.parse_args()
    backends = args.backends.split(",")
    base = backends[-1]
    print(
        "%s %s on %s, %d suspended greenlets"
        % (
            platform.python_implementation(),
            platform.python_version(),
            platform.machine(),
            args.count,
        )
    )
    print(
        "%-8s" % "depth"
        + "".join("%14s" % b for b in backends)
        + ("   ratios vs %s" % base if len(backends) > 1 else "")
    )
    for depth in map(int, args.depths.split(",")):
        # the reference backend starts an OS thread per greenlet: fewer of them
        sizes = {
            b: per_greenlet(b, args.count // 10 if b == "reference" else args.count, depth)
            for b in backends
        }
        line = "%-8d" % depth + "".join("%12.0f B" % sizes[b] for b in backends)
        if len(backends) > 1:
            line += "   " + "  ".join(
                "%s %.2fx" % (b, sizes[b] / sizes[base]) for b in backends if b != base
            )
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
