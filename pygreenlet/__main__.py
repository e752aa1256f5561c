"""``python -m pygreenlet``: report the installation, run a self-check and a switch benchmark."""

from __future__ import annotations

import gc
import platform
import sys
import time

import pygreenlet
from pygreenlet import GreenletExit, getcurrent, greenlet


def _check_switch() -> None:
    def run(a: int, b: int = 0) -> int:
        x = getcurrent().parent.switch(a + b)
        return x * 2

    g = greenlet(run)
    assert g.switch(1, b=2) == 3, "switch() did not pass arguments"
    assert g.switch(21) == 42, "return value did not reach the parent"
    assert g.dead, "finished greenlet is not dead"


def _check_throw() -> None:
    def run() -> None:
        try:
            getcurrent().parent.switch()
        except KeyError as e:
            raise ValueError(e.args[0]) from None

    g = greenlet(run)
    g.switch()
    try:
        g.throw(KeyError, "x")
    except ValueError as e:
        assert e.args == ("x",), "wrong exception delivered"
    else:
        raise AssertionError("throw() did not propagate the exception")


def _check_parent() -> None:
    seen = []
    outer = greenlet(lambda v: seen.append(v) or "outer done")
    inner = greenlet(lambda: "inner result", parent=outer)
    assert inner.switch() == "outer done", "parent chain did not deliver the result"
    assert seen == ["inner result"], "unstarted parent was not started with the result"


def _check_kill() -> None:
    killed = []

    def run() -> None:
        try:
            getcurrent().parent.switch()
        except GreenletExit:
            killed.append(True)
            raise

    g = greenlet(run)
    g.switch()
    del g
    gc.collect()
    assert killed == [True], "a dropped suspended greenlet was not killed"


CHECKS = [
    ("switch", _check_switch),
    ("throw", _check_throw),
    ("parent delivery", _check_parent),
    ("kill on collection", _check_kill),
]


def benchmark(seconds: float = 1.0) -> float:
    """Return nanoseconds per switch between two greenlets, measured for about *seconds*."""

    def partner() -> None:
        main = getcurrent().parent
        while True:
            main.switch()

    g = greenlet(partner)
    g.switch()
    n, total, start = 1000, 0, time.perf_counter()
    while True:
        for _ in range(n):
            g.switch()
        total += 2 * n
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    g.throw()
    return elapsed / total * 1e9


def main() -> int:
    """Print the report; return the process exit status."""
    print("pygreenlet %s" % pygreenlet.__version__)
    print("backend:     %s" % pygreenlet.BACKEND)
    print("interpreter: %s %s" % (platform.python_implementation(), platform.python_version()))
    print("platform:    %s %s" % (platform.system(), platform.machine()))
    print(
        "C API:       %s" % ("yes" if hasattr(pygreenlet, "_C_API") else "no (reference backend)")
    )
    print(
        "as greenlet: %s"
        % ("yes (import greenlet gives pygreenlet)" if pygreenlet.standing_in() else "no")
    )
    failed = 0
    for name, check in CHECKS:
        try:
            check()
        except Exception as e:  # report every failing check, not only the first
            failed += 1
            print("self-check %-20s FAILED: %r" % (name, e))
        else:
            print("self-check %-20s ok" % name)
    if failed:
        print("%d self-check(s) failed" % failed)
        return 1
    print("switch:      %.0f ns/switch" % benchmark())
    return 0


if __name__ == "__main__":
    sys.exit(main())
