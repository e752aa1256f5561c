"""Compare pygreenlet's backends with upstream greenlet in one process: ns per operation."""

from __future__ import annotations

import argparse
import importlib
import json
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


def bench_switch_deep(api: ModuleType, n: int) -> float:
    """Seconds per switch when both greenlets switch from 200 Python frames deep."""
    depth = 200

    def down(k: int, fn: Callable[[], None]) -> None:
        if k:
            down(k - 1, fn)
        else:
            fn()

    def partner() -> None:
        main = api.getcurrent().parent

        def loop() -> None:
            while True:
                main.switch()

        down(depth, loop)

    g = api.greenlet(partner)
    g.switch()
    switch = g.switch
    result: list[float] = []

    def timed() -> None:
        start = time.perf_counter()
        for _ in range(n):
            switch()
        result.append(time.perf_counter() - start)

    down(depth, timed)
    g.throw()
    return result[0] / (2 * n)


def bench_chain(api: ModuleType, n: int) -> float:
    """Seconds per greenlet to start a chain of n parked greenlets and pass a value down it."""
    greenlet = api.greenlet
    main = api.getcurrent()

    def link(target) -> None:
        value = main.switch()  # park until the value arrives
        target.switch(value + 1)

    chain = []
    start = time.perf_counter()
    head = main
    for _ in range(n):
        g = greenlet(link)
        g.switch(head)  # started: it parks, remembering where to pass the value
        chain.append(g)
        head = g
    result = head.switch(0)
    elapsed = time.perf_counter() - start
    assert result == n, result
    # Each greenlet is parked holding the previous one: kill them one by one
    # from the oldest, so that dropping the chain does not kill them
    # recursively (20 000 nested kills overflow the C stack of upstream
    # greenlet 3.5.6 on CPython 3.13.0).
    for g in chain:
        g.throw()
    return elapsed / n


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
    "switch-deep": (bench_switch_deep, 50_000),
    "create+run": (bench_create_run, 50_000),
    "chain": (bench_chain, 20_000),
    "getcurrent": (bench_getcurrent, 500_000),
}


def versions(apis: dict[str, ModuleType]) -> dict[str, str]:
    """The version of each backend's package: pygreenlet's, or upstream greenlet's."""
    found = {}
    for name in apis:
        if name == "upstream":
            found[name] = "greenlet " + importlib.import_module("greenlet").__version__
        else:
            found[name] = "pygreenlet " + importlib.import_module("pygreenlet").__version__
    return found


def save(path: str, entry: dict) -> None:
    """Put this interpreter's entry into the JSON results file, replacing an older one."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        data = {"entries": []}
    key = (entry["implementation"], entry["python"][:4].rstrip("."))
    data["entries"] = [
        e for e in data["entries"] if (e["implementation"], e["python"][:4].rstrip(".")) != key
    ] + [entry]
    data["entries"].sort(
        key=lambda e: (e["implementation"], tuple(map(int, e["python"].split(".")[:2])))
    )
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="speedups,upstream")
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply iteration counts")
    parser.add_argument("--json", metavar="PATH", help="also record the results in this JSON file")
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
    results: dict[str, dict[str, float]] = {}
    for bname, (fn, count) in BENCHMARKS.items():
        n = max(1, int(count * args.scale))
        n_ref = max(1, n // 100)  # the reference backend is ~100x slower
        best: dict[str, float] = {}
        for _ in range(args.repeat):  # interleave backends so machine noise hits all alike
            for name, api in apis.items():
                runs = n_ref if name == "reference" else n
                t = fn(api, runs) * 1e9
                best[name] = min(best.get(name, t), t)
        results[bname] = best
        line = "%-12s" % bname + "".join("%11.0f ns" % best[n] for n in apis)
        if base:
            line += "   " + "  ".join(
                "%s %.2fx" % (n, best[n] / best[base]) for n in apis if n != base
            )
        print(line)
    if args.json:
        save(
            args.json,
            {
                "implementation": platform.python_implementation(),
                "python": platform.python_version(),
                "machine": platform.machine(),
                "date": time.strftime("%Y-%m-%d"),
                "repeat": args.repeat,
                "scale": args.scale,
                "versions": versions(apis),
                "ns": results,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
