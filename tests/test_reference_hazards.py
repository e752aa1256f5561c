"""Programs that once broke the reference backend's thread hand-off or its finalizers.

Each states what upstream greenlet does with the same program (the oracle);
the ones that could crash or hang run in a fresh interpreter with a timeout
and assert its exit status (docs/internals/hazards.rst names each hazard).
"""

from __future__ import annotations


def _ok(proc, *expected: str) -> list[str]:
    """Assert the script exited cleanly and printed *expected* lines (in order)."""
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    lines = proc.stdout.splitlines()
    if expected:
        assert lines == list(expected), (lines, proc.stderr[-2000:])
    return lines


# --------------------------------------------------------------------------------------
# R23: a __del__ given to a greenlet subclass after the class was made
# --------------------------------------------------------------------------------------


def _parks_and_logs(api, log: list):
    """A run that parks in its parent and logs its kill and its finally block."""

    def body():
        try:
            api.getcurrent().parent.switch()
        except api.GreenletExit:
            log.append("killed")
            raise
        finally:
            log.append("finally")

    return body


def test_R23_del_set_on_the_class_later_runs_before_the_kill(api, collect, cpython_only):
    cpython_only("late-del")
    log = []

    class Late(api.greenlet):
        pass

    Late.__del__ = lambda self: log.append("del")
    g = Late(_parks_and_logs(api, log))
    g.switch()
    del g
    collect()
    assert log == ["del", "killed", "finally"]


def test_R23_del_set_later_on_a_mixin_base_runs_before_the_kill(api, collect, cpython_only):
    cpython_only("late-del")
    log = []

    class Mixin:
        pass

    class Mixed(Mixin, api.greenlet):
        pass

    Mixin.__del__ = lambda self: log.append("mixin del")
    g = Mixed(_parks_and_logs(api, log))
    g.switch()
    del g
    collect()
    assert log == ["mixin del", "killed", "finally"]


def test_R23_del_replaced_later_runs_instead_and_the_kill_still_happens(api, collect, cpython_only):
    cpython_only("late-del")
    log = []

    class Replaced(api.greenlet):
        def __del__(self):
            log.append("first del")

    Replaced.__del__ = lambda self: log.append("second del")
    g = Replaced(_parks_and_logs(api, log))
    g.switch()
    del g
    collect()
    assert log == ["second del", "killed", "finally"]


def test_R23_late_del_that_resurrects_leaves_the_greenlet_unkilled(api, collect, cpython_only):
    cpython_only("late-del")
    log, keep = [], []

    class Late(api.greenlet):
        pass

    def resurrect(self):
        log.append("del")
        keep.append(self)

    Late.__del__ = resurrect
    g = Late(_parks_and_logs(api, log))
    g.switch()
    del g
    collect()
    assert log == ["del"]
    assert keep and not keep[0].dead
    g = keep.pop()
    g.throw()
    assert g.dead and log == ["del", "killed", "finally"]


def test_R23_del_set_while_the_greenlet_is_suspended_runs_before_the_kill(
    api, collect, cpython_only, known_difference
):
    cpython_only("late-del")
    known_difference("late-del-suspended")
    log = []

    class Late(api.greenlet):
        pass

    g = Late(_parks_and_logs(api, log))
    g.switch()
    Late.__del__ = lambda self: log.append("del")  # no greenlet of Late made since
    del g
    collect()
    assert log == ["del", "killed", "finally"]


# --------------------------------------------------------------------------------------
# Signal handlers that raise while greenlets switch (docs/internals/hazards.rst: Signals)
# --------------------------------------------------------------------------------------


def test_signal_handler_raising_during_switches_never_breaks_the_hand_off(run_script):
    # SIGALRM every millisecond; its handler raises.  Upstream: the exception
    # appears at some switch() (or in the code around it) of whichever
    # greenlet runs, and the program goes on.  The exception may land in the
    # middle of pygreenlet's own switch code: that must never lose a value,
    # misroute one, or leave the thread's state half switched.
    proc = run_script(
        """
import signal

class Tick(Exception):
    pass

ticks = [0]
armed = [True]

acked = [True]

def on_alarm(signum, frame):
    # Raises again only once the code below has caught the last Tick and
    # gone back into its try block: a Tick never lands where nothing catches
    # it (an except clause, or the backward jump of a loop, which CPython
    # 3.13 leaves outside the try block of its body).
    if armed[0] and acked[0]:
        acked[0] = False
        ticks[0] += 1
        raise Tick

main = getcurrent()
N = 20000
count = [0]

def child_steps():
    while count[0] < N:
        main.switch(count[0])
        count[0] += 1

def child():
    while True:
        try:
            acked[0] = True
            child_steps()
            return "end"
        except Tick:
            pass

g = greenlet(child)
signal.signal(signal.SIGALRM, on_alarm)

def drive():
    if not started:
        started.append(signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001))
    while not g.dead:
        g.switch()

def until_done():
    while True:
        try:
            acked[0] = True
            drive()
            armed[0] = False
            return
        except Tick:
            pass

started = []
until_done()
signal.setitimer(signal.ITIMER_REAL, 0, 0)
signal.signal(signal.SIGALRM, signal.SIG_DFL)

# Nothing is left half switched: exact values, both ways, afterwards.
def echo(x):
    while True:
        x = main.switch(x * 2)

e = greenlet(echo)
assert [e.switch(i) for i in range(1000)] == [2 * i for i in range(1000)]
print("ticked", ticks[0] > 0, "child ended", g.dead)
""",
        timeout=180,
    )
    _ok(proc, "ticked True child ended True")
