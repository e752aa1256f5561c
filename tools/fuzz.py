"""The differential fuzzer's long run (tox -e fuzz), one seed's details, and reduction.

    python tools/fuzz.py [--seeds N] [--start S] [--jobs J] [--backends a,b,c]
    python tools/fuzz.py --show SEED        # the program and each backend's trace
    python tools/fuzz.py --reduce SEED      # the smallest program that still diverges
    python tools/fuzz.py --ops '[["new", 0, "plain", "default", "reraise"], ...]'

The seed count defaults to $PYGREENLET_FUZZ_SEEDS (else 1000); the backends to
$PYGREENLET_TEST_BACKENDS, else reference, speedups (if built) and upstream
greenlet (if installed), upstream first as the oracle.  Exits 1 if any
program crashed or diverged.  The generator and the worker are tests/_fuzz.py.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
try:
    import pygreenlet  # noqa: F401 - the installed one, in tox
except ImportError:
    sys.path.insert(0, ROOT)

import _fuzz  # noqa: E402


def backends_from_env() -> list[str]:
    if os.environ.get("PYGREENLET_TEST_BACKENDS"):
        return _fuzz.available_backends()
    found = _fuzz.available_backends()
    if "upstream" not in found and importlib.util.find_spec("greenlet") is not None:
        found.append("upstream")
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=int(os.environ.get("PYGREENLET_FUZZ_SEEDS", 1000)))
    ap.add_argument("--start", type=int, default=int(os.environ.get("PYGREENLET_FUZZ_START", 0)))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--backends", default=None)
    ap.add_argument("--show", type=int, default=None)
    ap.add_argument("--reduce", type=int, default=None)
    ap.add_argument("--ops", default=None, help="run this program (JSON, as --reduce prints)")
    ap.add_argument("--max-reports", type=int, default=10)
    ap.add_argument(
        "--sample-flags", action="store_true", help="keep KNOWN_BUGS out, as the in-suite sample"
    )
    a = ap.parse_args()
    backends = a.backends.split(",") if a.backends else backends_from_env()
    backends = _fuzz.order(backends)
    print(f"fuzz: python {sys.version.split()[0]}, backends {', '.join(backends)}", flush=True)

    if a.show is not None or a.ops is not None:
        if a.ops is not None:
            ops = json.loads(a.ops)
        else:
            ops = _fuzz.generate(a.show, sample=a.sample_flags)
        print(_fuzz.format_program(ops))
        for b in backends:
            res = _fuzz.run_backend(b, [(0, ops)])[0]
            print(f"--- {b}")
            print("\n".join(_fuzz.outcome(res)))
            if res.get("stderr"):
                print(res["stderr"])
        return 0

    if a.reduce is not None:
        ops = _fuzz.generate(a.reduce, sample=a.sample_flags)
        first = _fuzz.compare({b: _fuzz.run_backend(b, [(0, ops)]) for b in backends}, backends)
        if not first:
            print("no finding for this seed")
            return 0
        kinds = {f["kind"] for f in first}
        print(f"findings: {sorted(kinds)}; reducing {len(ops)} operations", flush=True)
        small = _fuzz.reduce(ops, backends, lambda fs: bool(kinds & {f["kind"] for f in fs}))
        print(_fuzz.format_program(small))
        print(f"as one line, for --ops: {json.dumps(small)}")
        for f in _fuzz.compare({b: _fuzz.run_backend(b, [(0, small)]) for b in backends}, backends):
            print(f"== {f['backend']}: {f['kind']}")
            print(f.get("diff") or f.get("stderr") or f.get("detail"))
        return 0

    t0 = time.monotonic()
    seeds = range(a.start, a.start + a.seeds)
    results, findings, events = _fuzz.run_seeds(seeds, backends, jobs=a.jobs, sample=a.sample_flags)
    wall = time.monotonic() - t0
    by_kind = collections.Counter((f["backend"], f["kind"]) for f in findings)
    crashes = sum(1 for f in findings if f["kind"] == "crash")
    divs = sum(1 for f in findings if f["kind"].startswith("divergence"))
    print(
        f"fuzz: seeds {a.start}..{a.start + a.seeds - 1}: {a.seeds} programs x "
        f"{len(backends)} backends in {wall:.0f} s"
    )
    for b in backends:
        print(f"  {b}: {events[b]} events")
    print(f"  crashes: {crashes}, divergences: {divs} (against {backends[0]})")
    for (b, k), n in sorted(by_kind.items()):
        seeds_k = [f["id"] for f in findings if f["backend"] == b and f["kind"] == k]
        print(f"    {b:10s} {k:32s} {n:5d}  seeds {seeds_k[:8]}")
    for f in findings[: a.max_reports]:
        print(f"\n== seed {f['id']} on {f['backend']}: {f['kind']}")
        print(f.get("diff") or f"{f.get('detail')}\n{f.get('stderr', '')}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
