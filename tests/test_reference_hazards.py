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
