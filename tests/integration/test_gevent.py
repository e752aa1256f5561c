"""gevent from its binary wheel, its compiled modules loaded (they use greenlet's C API)."""

from __future__ import annotations

import pytest

REFERENCE_SKIP = (
    "gevent's compiled modules call greenlet's C API, which the pure-Python "
    "reference backend does not have"
)
ECHO = [["CLIENT %d MESSAGE %d" % (i, k) for k in range(3)] for i in range(8)]
WSGI = [[200, {"path": "/item/%d" % i, "query": "n=%d" % i}] for i in range(8)]
SQUARES = [n * n for n in range(10)]
KILLED = [True, True, "NoneType", "GreenletExit"]  # dead, successful, exception, value
STOPPED = [True, False, "Stop", "NoneType"]
EXPECTED = {
    "compiled": [[[True, True, True]], "gevent.libev.corecext", "gevent.libev.corecext"],
    "sleep": [
        ["a", "b", "c"],
        ["x0", "y0", "z0", "x1", "y1", "z1", "x2", "y2", "z2"],
        [["early", True], ["middle", True], ["late", True]],
    ],
    "pools": [SQUARES, SQUARES, SQUARES[:5], SQUARES[:4], 3, 0, 3],
    "queues": [list(range(20)), True, [0, 1, 2, 3, 4], True],
    "events": [0, [[i, True] for i in range(4)], False, "the value", ["KeyError", "bad key"], True],
    "timeouts": [True, True, "too slow", "fallback", "Timeout", False],
    "kills": [
        [KILLED, STOPPED, STOPPED, STOPPED, STOPPED, KILLED, [True, True, "NoneType", "str"]],
        "now",
        "cleaned up",
        sorted(
            ["g1:exit", "g1:finally", "g2:stop:now", "g2:finally"]
            + ["g3:stop:not blocking", "g3:finally", "g4:stop:", "g4:finally"]
            + ["g5:stop:", "g5:finally"]
        ),
    ],
    "joins_links": [
        True,
        True,
        True,
        "from a greenlet",
        [["bad exception", "ValueError"], ["bad link", False], ["ok link", True], ["ok value", 42]],
    ],
    "threads": [[[i, i] for i in range(4)], 4, True, True, True],
    "echo": [ECHO, True, 0],
    "wsgi": [WSGI, True],
}


def test_gevent_compiled(run_workload, mode):
    if mode.backend == "reference":
        pytest.skip(REFERENCE_SKIP)
    run_workload("wl_gevent.py").check(EXPECTED)
