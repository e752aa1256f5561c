"""What every workload does first: assert which ``greenlet`` it got, and how it reports.

A workload runs as ``python WORKLOAD.py`` in a fresh interpreter that
inherited the test run's environment, so ``import greenlet`` resolves the way
it would for a real user of the drop-in:

* ``PYGREENLET_AS_GREENLET=1``: ``greenlet`` must be pygreenlet, on the
  backend named by ``PYGREENLET_BACKEND``;
* ``PYGREENLET_INTEGRATION_ORACLE=1``: ``greenlet`` must be upstream greenlet
  (the run that checks the workloads themselves).

Results go to stdout as ``RESULT <name> <json>`` lines, read by the test, and
the last line is ``DONE``.  A watchdog (faulthandler) dumps every thread's
stack and exits if the workload hangs, so that nothing outlives its test.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys

#: Seconds after which a hung workload dumps its stacks and exits (code 1).
WATCHDOG = float(os.environ.get("PYGREENLET_INTEGRATION_WATCHDOG", "60"))


def check_greenlet():
    """Assert that ``import greenlet`` is the implementation under test; return the module."""
    faulthandler.dump_traceback_later(WATCHDOG, exit=True)
    drop_in = os.environ.get("PYGREENLET_AS_GREENLET") == "1"
    oracle = os.environ.get("PYGREENLET_INTEGRATION_ORACLE") == "1"
    assert drop_in != oracle, (
        "set exactly one of PYGREENLET_AS_GREENLET=1 and PYGREENLET_INTEGRATION_ORACLE=1"
    )
    import greenlet

    current = greenlet.getcurrent()
    if drop_in:
        import pygreenlet

        assert greenlet.greenlet is pygreenlet.greenlet, (greenlet, greenlet.greenlet)
        assert greenlet.getcurrent is pygreenlet.getcurrent, greenlet.getcurrent
        assert greenlet.GreenletExit is pygreenlet.GreenletExit, greenlet.GreenletExit
        assert greenlet.error is pygreenlet.error, greenlet.error
        assert isinstance(current, pygreenlet.greenlet), type(current)
        backend = os.environ["PYGREENLET_BACKEND"]
        assert pygreenlet.BACKEND == backend, (pygreenlet.BACKEND, backend)
        what = "pygreenlet %s %s" % (pygreenlet.__version__, pygreenlet.BACKEND)
    else:
        where = type(current).__module__ + " " + (greenlet.__file__ or "")
        assert "pygreenlet" not in where, where
        assert "pygreenlet" not in type(current).__qualname__, type(current)
        what = "upstream greenlet %s" % (greenlet.__version__,)
    print("GREENLET", what, flush=True)
    return greenlet


def report(name: str, value) -> None:
    """Print one result for the test to check (*value* must be JSON-serialisable)."""
    print("RESULT", name, json.dumps(value, sort_keys=True), flush=True)


def done() -> None:
    """Print the last line: the workload ran to its end."""
    faulthandler.cancel_dump_traceback_later()
    sys.stdout.flush()
    print("DONE", flush=True)
