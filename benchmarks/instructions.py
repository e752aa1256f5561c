"""Instructions per switch under valgrind (callgrind): repeatable on a busy machine.

Each backend runs a loop of round trips between two greenlets twice, N and 2N
times, in a fresh interpreter under ``valgrind --tool=callgrind``; the
difference of the two totals divided by 2N is the cost of one switch, free of
start-up costs.  Needs valgrind, and upstream greenlet installed for
``upstream``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

LOOP = """
import os, sys
if sys.argv[1] == "upstream":
    import greenlet as api
else:
    os.environ["PYGREENLET_BACKEND"] = sys.argv[1]
    import pygreenlet as api

def partner():
    main = api.getcurrent().parent
    while True:
        main.switch()

g = api.greenlet(partner)
g.switch()
switch = g.switch
for _ in range(int(sys.argv[2])):
    switch()
"""


def total_instructions(backend: str, rounds: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--callgrind-out-file=" + os.path.join(tmp, "out"),
                sys.executable,
                "-c",
                LOOP,
                backend,
                str(rounds),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if found is None:
        raise RuntimeError("no instruction count in valgrind's output:\n" + proc.stderr)
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="speedups,upstream")
    parser.add_argument("--rounds", type=int, default=10_000, help="round trips of the short run")
    args = parser.parse_args()
    per_switch = {}
    for backend in args.backends.split(","):
        short = total_instructions(backend, args.rounds)
        long = total_instructions(backend, 2 * args.rounds)
        per_switch[backend] = (long - short) / (2 * args.rounds)  # two switches per round
    base = per_switch.get("upstream")
    for backend, count in per_switch.items():
        ratio = " (%.2fx upstream)" % (count / base) if base and backend != "upstream" else ""
        print("%-10s %6.0f instructions per switch%s" % (backend, count, ratio))
    return 0


if __name__ == "__main__":
    sys.exit(main())
