"""Greenlet tracing: per-thread tracers, switch and throw events, first entry, failing tracers."""

from __future__ import annotations

import sys
import threading

import pytest


class SomeError(Exception):
    pass


class Recorder:
    """A greenlet tracer that records ``(event, args, current greenlet)``."""

    def __init__(self, api, fail_on=None):
        self.api = api
        self.events = []
        self.fail_on = fail_on

    def __call__(self, event, args):
        self.events.append((event, args, self.api.getcurrent()))
        if self.fail_on is not None and len(self.events) == self.fail_on:
            raise SomeError("from tracer")

    def pairs(self):
        return [(event, args) for event, args, _ in self.events]


@pytest.fixture
def tracing(api):
    """Install tracers through this; the thread's previous tracer is restored afterwards."""
    previous = api.settrace(None)
    yield api.settrace
    api.settrace(previous)


# --------------------------------------------------------------------------------------
# R28: settrace / gettrace, per thread; the callback runs in the target after the switch
# --------------------------------------------------------------------------------------


def test_R28_settrace_returns_previous_and_none_clears(api, tracing):
    def t1(event, args):
        pass

    def t2(event, args):
        pass

    assert api.gettrace() is None
    assert tracing(t1) is None
    assert api.gettrace() is t1
    assert tracing(t2) is t1
    assert api.gettrace() is t2
    assert tracing(None) is t2
    assert api.gettrace() is None
    assert tracing(None) is None
    assert api.gettrace() is None


def test_R28_same_tracer_set_twice(api, tracing):
    rec = Recorder(api)
    assert tracing(rec) is None
    assert tracing(rec) is rec
    g = api.greenlet(lambda: 7)
    assert g.switch() == 7
    assert tracing(None) is rec
    assert len(rec.events) == 2


def test_R28_cleared_tracer_sees_nothing(api, tracing):
    rec = Recorder(api)
    tracing(rec)
    tracing(None)
    g = api.greenlet(lambda: 1)
    assert g.switch() == 1
    assert rec.events == []


def test_R28_callback_args_and_runs_in_target(api, tracing):
    main = api.getcurrent()
    rec = Recorder(api)

    def body():
        main.switch()

    g = api.greenlet(body)
    tracing(rec)
    g.switch()
    g.switch()
    tracing(None)
    assert [event for event, _, _ in rec.events] == ["switch"] * 4
    for _event, args, current in rec.events:
        assert type(args) is tuple and len(args) == 2
        origin, target = args
        # The callback runs after the switch, in the greenlet being switched to.
        assert current is target
        assert origin is not target
    assert rec.pairs() == [
        ("switch", (main, g)),
        ("switch", (g, main)),
        ("switch", (main, g)),
        ("switch", (g, main)),
    ]


def test_R28_tracer_per_thread(api, tracing):
    main_rec = Recorder(api)
    tracing(main_rec)
    seen = {}

    def in_thread():
        seen["initial"] = api.gettrace()
        rec = Recorder(api)
        seen["previous"] = api.settrace(rec)
        g = api.greenlet(lambda: 5)
        seen["result"] = g.switch()
        seen["thread_events"] = rec.pairs()
        seen["g"] = g
        seen["thread_main"] = api.getcurrent()
        seen["cleared"] = api.settrace(None) is rec

    t = threading.Thread(target=in_thread)
    t.start()
    t.join(30)
    assert not t.is_alive()
    assert seen["initial"] is None
    assert seen["previous"] is None
    assert seen["result"] == 5
    assert seen["cleared"]
    g, tmain = seen["g"], seen["thread_main"]
    assert seen["thread_events"] == [("switch", (tmain, g)), ("switch", (g, tmain))]
    # The thread's switches were not reported to this thread's tracer,
    # and this thread's tracer is still installed.
    assert main_rec.events == []
    assert api.gettrace() is main_rec
    local = api.greenlet(lambda: None)
    local.switch()
    assert main_rec.pairs() == [
        ("switch", (api.getcurrent(), local)),
        ("switch", (local, api.getcurrent())),
    ]


def test_R28_tracer_suppresses_sys_profile_hooks(api, tracing):
    # The callback runs with interpreter tracing disabled: a sys.setprofile
    # hook sees the greenlet's own code but not the tracer's.
    calls = []

    def helper_in_tracer():
        pass

    def tracer(event, args):
        helper_in_tracer()

    def body():
        inner()

    def inner():
        pass

    def profiler(frame, event, arg):
        if event == "call":
            calls.append(frame.f_code.co_name)

    g = api.greenlet(body)
    tracing(tracer)
    old = sys.getprofile()
    sys.setprofile(profiler)
    try:
        g.switch()
    finally:
        sys.setprofile(old)
    tracing(None)
    names = [n for n in calls if n in ("tracer", "helper_in_tracer", "body", "inner")]
    assert names == ["body", "inner"]


# --------------------------------------------------------------------------------------
# R29: 'throw' for throw() and for an exception leaving a dying greenlet, else 'switch'
# --------------------------------------------------------------------------------------


def test_R29_observed_event_sequence(api, tracing):
    main = api.getcurrent()

    def a_body():
        main.switch()  # switch(a -> main); then receives the throw and dies with it

    def b_body():
        raise SomeError("b")

    a = api.greenlet(a_body)
    b = api.greenlet(b_body)
    rec = Recorder(api)
    tracing(rec)
    a.switch()
    with pytest.raises(ValueError):
        a.throw(ValueError("into a"))
    with pytest.raises(SomeError):
        b.switch()
    tracing(None)
    assert rec.pairs() == [
        ("switch", (main, a)),
        ("switch", (a, main)),
        ("throw", (main, a)),
        ("throw", (a, main)),
        ("switch", (main, b)),
        ("throw", (b, main)),
    ]
    assert [current for _, _, current in rec.events] == [a, main, a, main, b, main]
    assert a.dead and b.dead


def test_R29_normal_return_and_caught_throw_are_switch(api, tracing):
    main = api.getcurrent()

    def body():
        try:
            main.switch()
        except SomeError:
            return "handled"

    g = api.greenlet(body)
    rec = Recorder(api)
    tracing(rec)
    g.switch()
    assert g.throw(SomeError) == "handled"
    tracing(None)
    assert rec.pairs() == [
        ("switch", (main, g)),
        ("switch", (g, main)),
        ("throw", (main, g)),
        ("switch", (g, main)),  # caught: the return to the parent is a plain switch
    ]


def test_R29_greenlet_exit_escaping_is_switch(api, tracing):
    # An uncaught GreenletExit becomes a value for the parent: reported as 'switch'.
    main = api.getcurrent()

    def body():
        main.switch()

    g = api.greenlet(body)
    g.switch()
    rec = Recorder(api)
    tracing(rec)
    result = g.throw()
    tracing(None)
    assert isinstance(result, api.GreenletExit)
    assert rec.pairs() == [("throw", (main, g)), ("switch", (g, main))]


def test_R29_throw_into_unstarted(api, tracing):
    main = api.getcurrent()
    ran = []
    g = api.greenlet(lambda: ran.append(1))
    rec = Recorder(api)
    tracing(rec)
    result = g.throw()
    tracing(None)
    assert isinstance(result, api.GreenletExit)
    assert ran == []
    assert rec.pairs() == [("throw", (main, g)), ("switch", (g, main))]
    assert [current for _, _, current in rec.events] == [g, main]


def test_R29_self_switch_and_dead_target_events(api, tracing):
    main = api.getcurrent()
    g = api.greenlet(lambda: None)
    g.switch()
    assert g.dead
    rec = Recorder(api)
    tracing(rec)
    assert main.switch(4) == 4
    assert isinstance(g.throw(), api.GreenletExit)  # routed to main, the caller
    assert g.switch(3) == 3
    with pytest.raises(ValueError):
        g.throw(ValueError)
    tracing(None)
    assert rec.pairs() == [
        ("switch", (main, main)),
        ("switch", (main, main)),
        ("switch", (main, main)),
        ("throw", (main, main)),
    ]


def test_R29_exception_through_parent_chain(api, tracing):
    # The exception leaves `inner` into `outer` (its parent), which lets it go on to main.
    main = api.getcurrent()

    def inner_body():
        raise SomeError("deep")

    def outer_body():
        inner = api.greenlet(inner_body)
        holder.append(inner)
        inner.switch()

    holder = []
    outer = api.greenlet(outer_body)
    rec = Recorder(api)
    tracing(rec)
    with pytest.raises(SomeError, match="deep"):
        outer.switch()
    tracing(None)
    inner = holder[0]
    assert rec.pairs() == [
        ("switch", (main, outer)),
        ("switch", (outer, inner)),
        ("throw", (inner, outer)),
        ("throw", (outer, main)),
    ]


def test_R29_pending_exception_kept_across_tracer(api, tracing):
    # A tracer that raises and handles exceptions of its own does not disturb the throw.
    main = api.getcurrent()
    seen = []

    def tracer(event, args):
        seen.append((event, sys.exc_info()))
        try:
            raise KeyError("inside tracer")
        except KeyError:
            pass

    def body():
        try:
            main.switch()
        except ValueError as e:
            return ("caught", e.args)

    g = api.greenlet(body)
    g.switch()
    tracing(tracer)
    assert g.throw(ValueError, "x") == ("caught", ("x",))
    tracing(None)
    assert seen == [("throw", (None, None, None)), ("switch", (None, None, None))]


# --------------------------------------------------------------------------------------
# R30: on first entry the tracer runs inside the new greenlet, before run
# --------------------------------------------------------------------------------------


def test_R30_tracer_runs_in_new_greenlet_before_run(api, tracing):
    main = api.getcurrent()
    log = []

    def body(x, y=None):
        log.append(("run", x, y))
        return x

    g = api.greenlet(body)

    def tracer(event, args):
        log.append((event, args, api.getcurrent(), bool(g), g.dead))

    tracing(tracer)
    assert g.switch(1, y=2) == 1
    tracing(None)
    assert log == [
        ("switch", (main, g), g, True, False),
        ("run", 1, 2),
        ("switch", (g, main), main, False, True),
    ]


def test_R30_subclass_run_called_after_tracer(api, tracing):
    log = []

    class G(api.greenlet):
        def run(self):
            log.append("run")
            return "done"

    g = G()

    def tracer(event, args):
        log.append((event, api.getcurrent() is args[1]))

    tracing(tracer)
    assert g.switch() == "done"
    tracing(None)
    assert log == [("switch", True), "run", ("switch", True)]


def test_R30_tracer_can_switch_back_before_run(api, tracing):
    # The tracer runs in the new greenlet, so a switch from it parks that greenlet
    # before its run starts; run starts when the greenlet is resumed.
    main = api.getcurrent()
    log = []

    def body():
        log.append("run")
        return "finished"

    g = api.greenlet(body)

    def tracer(event, args):
        origin, target = args
        if target is g and event == "switch" and not log:
            log.append("tracer in g")
            api.settrace(None)
            main.switch("parked")

    tracing(tracer)
    assert g.switch() == "parked"
    assert log == ["tracer in g"]
    assert g and not g.dead
    assert g.switch() == "finished"
    assert log == ["tracer in g", "run"]


# --------------------------------------------------------------------------------------
# R31: a raising tracer is removed and its exception raised in the target
# --------------------------------------------------------------------------------------


def test_R31_raising_tracer_removed_exception_in_suspended_target(api, tracing):
    main = api.getcurrent()

    def body():
        try:
            main.switch()
        except SomeError as e:
            return ("target caught", str(e))
        return "no exception"

    g = api.greenlet(body)
    g.switch()
    rec = Recorder(api, fail_on=1)
    tracing(rec)
    assert g.switch("value") == ("target caught", "from tracer")
    assert api.gettrace() is None
    assert rec.pairs() == [("switch", (main, g))]
    assert g.dead


def test_R31_uncaught_tracer_exception_propagates_from_target(api, tracing):
    main = api.getcurrent()

    def body():
        main.switch()

    g = api.greenlet(body)
    g.switch()
    rec = Recorder(api, fail_on=1)
    tracing(rec)
    with pytest.raises(SomeError):
        g.switch()
    assert api.gettrace() is None
    # Removed before the exception travelled back: only the first event was seen.
    assert rec.pairs() == [("switch", (main, g))]
    assert g.dead


def test_R31_raising_tracer_first_start_never_calls_run(api, tracing):
    main = api.getcurrent()
    ran = []
    g = api.greenlet(lambda *a: ran.append(a))
    rec = Recorder(api, fail_on=1)
    tracing(rec)
    with pytest.raises(SomeError, match="from tracer"):
        g.switch(1, 2)
    assert api.gettrace() is None
    assert ran == []
    assert g.dead
    assert not g
    assert rec.pairs() == [("switch", (main, g))]
    assert rec.events[0][2] is g


def test_R31_raising_tracer_replaces_thrown_exception(api, tracing):
    main = api.getcurrent()

    def body():
        try:
            main.switch()
        except SomeError:
            return "tracer's exception"
        except ValueError:
            return "thrown exception"

    g = api.greenlet(body)
    g.switch()
    tracing(Recorder(api, fail_on=1))
    assert g.throw(ValueError) == "tracer's exception"
    assert api.gettrace() is None


def test_R31_raising_tracer_replaces_value_for_main(api, tracing):
    # The target of the reporting switch is main: main's pending switch raises instead
    # of returning the greenlet's result.
    main = api.getcurrent()
    g = api.greenlet(lambda: "result")
    rec = Recorder(api, fail_on=2)
    tracing(rec)
    with pytest.raises(SomeError):
        g.switch()
    assert api.gettrace() is None
    assert rec.pairs() == [("switch", (main, g)), ("switch", (g, main))]
    assert rec.events[1][2] is main
    assert g.dead


def test_R31_raising_tracer_on_self_switch(api, tracing):
    main = api.getcurrent()
    rec = Recorder(api, fail_on=1)
    tracing(rec)
    with pytest.raises(SomeError):
        main.switch(1)
    assert api.gettrace() is None
    assert rec.pairs() == [("switch", (main, main))]
