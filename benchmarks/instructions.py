"""Instructions per operation under valgrind (callgrind): repeatable on a busy machine.

For each operation and backend, a loop runs twice, N and 2N rounds, each in a
fresh interpreter under ``valgrind --tool=callgrind``; the difference of the
two totals divided by the operations in N rounds is the cost of one operation,
free of start-up and tear-down costs (the ``for`` loop's own few instructions
are included; loops that need no counter iterate over ``itertools.repeat``,
which, unlike ``range`` past 256, allocates no int per round).  Needs
valgrind, and upstream greenlet installed for ``upstream``.

Operations (``--ops``, default all):

- ``switch``: ping-pong between the main greenlet and a partner, per switch;
- ``getcurrent``: per call;
- ``spawn``: create a greenlet, switch into it, it finishes, per greenlet;
- ``create``: create a greenlet that is never started and drop it, per greenlet;
- ``throw``: throw into a suspended greenlet that catches and switches back,
  per round trip;
- ``deep``, ``deep500``: ping-pong between two child greenlets, each ~50
  (500) Python frames deep, per switch;
- ``switch-arg``: the ping-pong passing one argument each way;
- ``switch-traced``: the ping-pong with a greenlet tracer set (``settrace``);
- ``round-robin``: the main greenlet switching to each of 1,000 parked
  greenlets in turn, each switching back, per switch; ``round-robin-100``,
  ``round-robin-10k`` and ``round-robin-100k`` the same over 100, 10,000 and
  100,000 greenlets;
- ``deep-c50``, ``deep-c200``: as ``deep``, but each of the 50 (200) levels
  is called from C (``map``), so the switched C stack grows with the depth
  (500 levels would pass CPython 3.12's limit on C recursion);
- ``drop``: start a greenlet that parks itself and drop it (killed with
  GreenletExit), per greenlet.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from typing import NamedTuple

#: Imports the backend named by argv[1]; each operation's code then defines run(rounds).
PRELUDE = """
import os, sys
from itertools import repeat
if sys.argv[1] == "upstream":
    import greenlet as api
else:
    os.environ["PYGREENLET_BACKEND"] = sys.argv[1]
    import pygreenlet as api
"""

#: Calls run(rounds) with the rounds in argv[2].
EPILOGUE = """
run(int(sys.argv[2]))
"""


class Op(NamedTuple):
    """One measured operation: its loop, and how many operations one round makes."""

    unit: str
    per_round: int
    code: str


#: The partner of a ping-pong: switches back to its parent, forever.
PARTNER = """def partner():
    main = api.getcurrent().parent
    while True:
        main.switch()
"""

OPS = {
    "switch": Op(
        "switch",
        2,
        """
PARTNER

def run(n):
    g = api.greenlet(partner)
    g.switch()
    switch = g.switch
    for _ in repeat(None, n):
        switch()
""",
    ),
    "getcurrent": Op(
        "call",
        1,
        """
def run(n):
    getcurrent = api.getcurrent
    for _ in repeat(None, n):
        getcurrent()
""",
    ),
    "spawn": Op(
        "greenlet",
        1,
        """
def nothing():
    pass

def run(n):
    greenlet = api.greenlet
    for _ in repeat(None, n):
        greenlet(nothing).switch()
""",
    ),
    "create": Op(
        "greenlet",
        1,
        """
def nothing():
    pass

def run(n):
    greenlet = api.greenlet
    for _ in repeat(None, n):
        greenlet(nothing)
""",
    ),
    "throw": Op(
        "round trip",
        1,
        """
class Bump(Exception):
    pass

def catcher():
    main = api.getcurrent().parent
    while True:
        try:
            main.switch()
        except Bump:
            pass

def run(n):
    g = api.greenlet(catcher)
    g.switch()
    throw = g.throw
    for _ in repeat(None, n):
        throw(Bump)
""",
    ),
}

#: The main greenlet switching to each of POOL parked greenlets in turn.
ROUND_ROBIN = """
PARTNER

def run(n):
    pool = [api.greenlet(partner) for _ in range(POOL)]
    for g in pool:
        g.switch()
    for i in range(n):
        pool[i % POOL].switch()
"""

#: Ping-pong between two child greenlets, each *depth* Python frames deep.
DEEP = """
def descend(depth, then):
    if depth:
        return descend(depth - 1, then)
    return then()

def run(n):
    def ping():
        switch = second.switch
        for _ in repeat(None, n):
            switch()

    def pong():
        switch = first.switch
        while True:
            switch()

    first = api.greenlet(lambda: descend(DEPTH, ping))
    second = api.greenlet(lambda: descend(DEPTH, pong))
    first.switch()
"""
OPS["deep"] = Op("switch", 2, DEEP.replace("DEPTH", "50"))
# each child starts at its starter's recursion depth, as with upstream
OPS["deep500"] = Op("switch", 2, "sys.setrecursionlimit(5000)\n" + DEEP.replace("DEPTH", "500"))
# the same through C recursion: each level is called by map(), a C function,
# so every level nests the interpreter's C frames too (the slice to copy grows)
DEEP_C = DEEP.replace(
    "return descend(depth - 1, then)", "return next(map(descend, (depth - 1,), (then,)))"
)
OPS["deep-c50"] = Op("switch", 2, DEEP_C.replace("DEPTH", "50"))
# (500 levels would pass CPython 3.12's limit on C recursion)
OPS["deep-c200"] = Op("switch", 2, "sys.setrecursionlimit(5000)\n" + DEEP_C.replace("DEPTH", "200"))

OPS.update(
    {
        "switch-arg": Op(
            "switch",
            2,
            """
def partner(value):
    main = api.getcurrent().parent
    while True:
        value = main.switch(value)

def run(n):
    g = api.greenlet(partner)
    g.switch(0)
    switch = g.switch
    for i in range(n):
        switch(i)
""",
        ),
        "switch-traced": Op(
            "switch",
            2,
            """
PARTNER

def tracer(event, args):
    pass

def run(n):
    g = api.greenlet(partner)
    g.switch()
    api.settrace(tracer)
    switch = g.switch
    for _ in repeat(None, n):
        switch()
    api.settrace(None)
""",
        ),
        "round-robin": Op("switch", 2, ROUND_ROBIN.replace("POOL", "1000")),
        "drop": Op(
            "greenlet",
            1,
            """
def parked():
    api.getcurrent().parent.switch()

def run(n):
    greenlet = api.greenlet
    for _ in repeat(None, n):
        g = greenlet(parked)
        g.switch()
        del g  # killed: GreenletExit thrown in, it finishes
""",
        ),
    }
)

for size, label in ((100, "100"), (10_000, "10k"), (100_000, "100k")):
    OPS["round-robin-" + label] = Op("switch", 2, ROUND_ROBIN.replace("POOL", str(size)))

# the ping-pongs share their partner
OPS = {name: op._replace(code=op.code.replace("PARTNER\n", PARTNER)) for name, op in OPS.items()}


def child_env() -> dict:
    """The environment of a measured interpreter: fixed hashing, no stand-in, no backend choice."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    for name in ("PYGREENLET_AS_GREENLET", "PYGREENLET_BACKEND"):
        env.pop(name, None)
    return env


def total_instructions(op: str, backend: str, rounds: int, keep: str | None = None) -> int:
    """Instructions of one interpreter running ``op`` for ``rounds`` rounds under callgrind.

    With ``keep``, callgrind's output file is left there as ``OP-BACKEND-ROUNDS.out``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(keep or tmp, "%s-%s-%d.out" % (op, backend, rounds))
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=" + out,
                sys.executable,
                "-c",
                PRELUDE + OPS[op].code + EPILOGUE,
                backend,
                str(rounds),
            ],
            capture_output=True,
            text=True,
            env=child_env(),
            cwd=tmp,  # not the caller's folder, which -c would put first on sys.path
        )
    if proc.returncode:
        raise RuntimeError("%s on %s failed:\n%s" % (op, backend, proc.stderr))
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if found is None:
        raise RuntimeError("no instruction count in valgrind's output:\n" + proc.stderr)
    return int(found.group(1))


def per_operation(op: str, backend: str, rounds: int, keep: str | None = None) -> float:
    """Instructions of one ``op`` on ``backend``: (total at 2N - total at N) / operations at N."""
    short = total_instructions(op, backend, rounds, keep)
    long = total_instructions(op, backend, 2 * rounds, keep)
    return (long - short) / (rounds * OPS[op].per_round)


def table(results: dict, backends: list) -> str:
    """One row per operation: instructions per backend, and each backend's ratio to upstream."""
    others = [b for b in backends if b != "upstream"] if "upstream" in backends else []
    header = ["op", "per"] + backends + ["%s/upstream" % b for b in others]
    rows = [header]
    for op, counts in results.items():
        row = [op, OPS[op].unit] + ["%.0f" % counts[b] for b in backends]
        row += ["%.2fx" % (counts[b] / counts["upstream"]) for b in others]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for row in rows:
        cells = [
            cell.ljust(w) if i < 2 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def main() -> int:
    """Measure the chosen operations on the chosen backends; print a table, maybe write JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default="speedups,upstream")
    parser.add_argument(
        "--ops", default=",".join(OPS), help="comma-separated, of: " + ", ".join(OPS)
    )
    parser.add_argument("--rounds", type=int, default=10_000, help="rounds of the short run")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers there")
    parser.add_argument("--keep", metavar="DIR", help="keep callgrind's output files in DIR")
    args = parser.parse_args()
    backends = args.backends.split(",")
    ops = args.ops.split(",")
    unknown = [op for op in ops if op not in OPS]
    if unknown:
        parser.error("unknown ops: %s (known: %s)" % (", ".join(unknown), ", ".join(OPS)))
    results = {
        op: {b: per_operation(op, b, args.rounds, args.keep) for b in backends} for op in ops
    }
    print(table(results, backends))
    if args.json:
        data = {
            "python": sys.version.split()[0],
            "rounds": args.rounds,
            "ops": {op: {"per": OPS[op].unit, "instructions": results[op]} for op in ops},
        }
        with open(args.json, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
