"""Compare pygreenlet's backends with upstream greenlet in one process: ns per operation."""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
from types import ModuleType
from typing import Callable


def load(name: str) -> ModuleType:
    if name == "upstream":
        return importlib.import_module("greenlet")
    from pygreenlet import _backend

    return _backend.load(name)


def bench_switch(api: ModuleType, n: int) -> float:
    """Seconds per switch between two greenlets (a round trip is two switches)."""

    def partner() -> None:
        main = api.getcurrent().parent
        while True:
            main.switch()

    g = api.greenlet(partner)
    g.switch()
    switch = g.switch
    start = time.perf_counter()
    for _ in range(n):
        switch()
    elapsed = time.perf_counter() - start
    g.throw()
    return elapsed / (2 * n)


def bench_create_run(api: ModuleType, n: int) -> float:
    """Seconds to create a greenlet, start it and let it finish."""
    greenlet = api.greenlet

    def run() -> None:
        return None

    start = time.perf_counter()
    for _ in range(n):
        greenlet(run).switch()
    return (time.perf_counter() - start) / n


def bench_getcurrent(api: ModuleType, n: int) -> float:
    getcurrent = api.getcurrent
    start = time.perf_counter()
    for _ in range(n):
        getcurrent()
    return (time.perf_counter() - start) / n


BENCHMARKS: dict[str, tuple[Callable[[ModuleType, int], float], int]] = {
    "switch": (bench_switch, 200_000),
    "create+run": (bench_create_run, 50_000),
    "getcurrent": (bench_getcurrent, 500_000),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="speedups,upstream")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply iteration counts")
    args = parser.parse_args()
    names = args.backends.split(",")
    apis = {}
    for name in names:
        try:
            apis[name] = load(name)
        except ImportError as exc:
            print("skipping %s: %s" % (name, exc), file=sys.stderr)
    print(
        "%s %s on %s"
        % (platform.python_implementation(), platform.python_version(), platform.machine())
    )
    header = "%-12s" % "benchmark" + "".join("%14s" % n for n in apis)
    base = names[-1] if names[-1] in apis else None
    if base:
        header += "   ratios vs %s" % base
    print(header)
    for bname, (fn, count) in BENCHMARKS.items():
        n = max(1, int(count * args.scale))
        n_ref = max(1, n // 100)  # the reference backend is ~100x slower
        best = {}
        for _ in range(args.repeat):  # interleave backends so machine noise hits all alike
            for name, api in apis.items():
                runs = n_ref if name == "reference" else n
                t = fn(api, runs) * 1e9
                best[name] = min(best.get(name, t), t)
        line = "%-12s" % bname + "".join("%11.0f ns" % best[n] for n in apis)
        if base:
            line += "   " + "  ".join(
                "%s %.2fx" % (n, best[n] / best[base]) for n in apis if n != base
            )
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
