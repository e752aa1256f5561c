"""eventlet, with its green modules and after eventlet.monkey_patch()."""

from __future__ import annotations

import pytest

REFERENCE_SKIP = (
    "eventlet keeps its hub in a threading.local, and on the reference backend each "
    "greenlet runs on an OS thread of its own, so each would see a hub of its own "
    "(the documented thread-identity difference, docs/backends.rst)"
)
ECHO = [["CLIENT %d MESSAGE %d" % (i, k) for k in range(3)] for i in range(8)]
WSGI = [[200, {"path": "/item/%d" % i, "query": "n=%d" % i}] for i in range(8)]
EXPECTED = {
    "identity": [[True, True, True], "eventlet.hubs.epolls"],
    "sleep": [
        ["a", "b", "c"],
        ["x0", "x1", "x2", "y0", "y1", "y2", "z0", "z1", "z2"],
        ["x0", "y0", "z0"],
        ["x2", "y2", "z2"],
    ],
    "threads": [
        [10, 11, 12],
        ["ValueError", "from a green thread"],
        [0, 1, 2],
        ["early", "late"],
        [["curried", 3]],
    ],
    "pools": [[n * n for n in range(10)], [2, 12, 30], [0, 1, 4, 9, 16], [0, 1, 4, 9], 3, 0],
    "events": [0, [[i, "go"] for i in range(4)], True, ["KeyError", "bad key"]],
    "queues": [list(range(20)), True, [0, 1, 2, 3, 4], True],
    "timeouts": [True, True, "too slow", "fallback", "timed out in a green thread"],
    "kills": [
        [
            "g1:GreenletExit",
            "g2:Stop:now",
            "g3:Stop:as exc_info",
            "g4:GreenletExit",
            "g5:Stop:before start",
            "g6:cleaned up",
        ],
        [
            "g1:exit",
            "g1:finally",
            "g2:stop:now",
            "g2:finally",
            "g3:stop:as exc_info",
            "g3:finally",
        ],
        [True] * 6,
    ],
    "echo": [ECHO, True, 0],
    "wsgi": [WSGI, True],
}
LOCALS = [[i, 100 * i] for i in range(4)]


@pytest.mark.parametrize("patching", ["green-modules", "monkey-patched"])
def test_eventlet(run_workload, mode, patching):
    if mode.backend == "reference":
        pytest.skip(REFERENCE_SKIP)
    args = ["--monkey-patch"] if patching == "monkey-patched" else []
    expected = dict(EXPECTED)
    if patching == "monkey-patched":
        # plus: patched threading.Thread objects are green threads, each its own ident
        expected["locals"] = [LOCALS, [4, True], [6, True]]
    else:
        expected["locals"] = [LOCALS, [6, True]]
    run_workload("wl_eventlet.py", *args).check(expected)
