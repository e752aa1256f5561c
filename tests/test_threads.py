"""Greenlets and threads: per-thread mains, cross-thread errors, thread death, deferred kills."""

from __future__ import annotations

import ctypes
import gc
import platform
import threading
import time
import weakref

import pytest

PYPY = platform.python_implementation() == "PyPy"

EXITED = "cannot switch to a different thread (which happens to have exited)"


def _join(t: threading.Thread) -> None:
    t.join(30)
    assert not t.is_alive()


def _wait_dead(g) -> None:
    """Wait until *g* (of a thread that ended) reports dead.

    Upstream notices a thread's death asynchronously (a pending call run by
    the interpreter soon after the thread ends), so poll with a deadline.
    """
    deadline = time.monotonic() + 20
    while not g.dead and time.monotonic() < deadline:
        time.sleep(0.001)
        gc.collect()
    assert g.dead, repr(g)


def _cross_thread_message(current, expected) -> str:
    return f"Cannot switch to a different thread\n\tCurrent:  {current!r}\n\tExpected: {expected!r}"


class _OtherThread:
    """A live thread owning a main greenlet, a suspended and an unstarted greenlet."""

    def __init__(self, api):
        self.api = api
        self.ready = threading.Event()
        self.release = threading.Event()
        self.data = {}
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        api = self.api
        self.data["main"] = api.getcurrent()
        g = api.greenlet(lambda: api.getcurrent().parent.switch())
        g.switch()
        self.data["suspended"] = g
        self.data["unstarted"] = api.greenlet(lambda: None)
        self.ready.set()
        self.release.wait(30)
        self.data["resumed"] = g.switch()  # still usable in its own thread

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(30)
        return self.data

    def __exit__(self, *exc):
        self.release.set()
        _join(self.thread)


def _collected_parentless(api):
    """Return an unstarted greenlet whose parent was cleared by the cyclic GC.

    See test_parent.py: the GC clears the greenlet (parent first, then run),
    and its run object resurrects it from its own ``__del__``.
    """
    saved = []

    class Resurrector:
        def __init__(self, g):
            self.ref = weakref.ref(g)
            self.address = id(g)

        def __call__(self):
            return None

        def __del__(self):
            g = self.ref()
            if g is None:
                # CPython 3.14 clears the weak references to garbage once more
                # after running finalizers, so also those this one made: reach
                # the greenlet through its address instead, as C code holding
                # a borrowed pointer to it would.
                g = ctypes.cast(self.address, ctypes.py_object).value
            saved.append(g)

    class Victim(api.greenlet):
        def __del__(self):
            self.run = Resurrector(self)

    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        g = Victim()
        g.cycle = g
        del g
        gc.collect()
    finally:
        if was_enabled:
            gc.enable()
    assert len(saved) == 1, "the GC did not clear and resurrect the greenlet"
    return saved.pop()


# Script prelude for thread-death scenarios (run in a fresh interpreter: a
# greenlet left suspended in an exited thread must not take the test run down).
DEATH_PRELUDE = """
import gc, threading, time
EXITED = "cannot switch to a different thread (which happens to have exited)"

def wait_dead(g):
    # Upstream processes thread death asynchronously (a pending call): poll.
    deadline = time.monotonic() + 20
    while not g.dead and time.monotonic() < deadline:
        time.sleep(0.001)
        gc.collect()
    assert g.dead, repr(g)

def run_thread(target):
    t = threading.Thread(target=target)
    t.start()
    t.join(30)
    assert not t.is_alive()
"""


# --------------------------------------------------------------------------------------
# R20: cross-thread switch/throw
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["main", "suspended", "unstarted"])
@pytest.mark.parametrize("how", ["switch", "throw"])
def test_R20_switch_to_live_other_thread(api, which, how):
    with _OtherThread(api) as other:
        target = other[which]
        expected = _cross_thread_message(api.getcurrent(), other["main"])
        with pytest.raises(api.error) as info:
            if how == "switch":
                target.switch(1, k=2)
            else:
                target.throw(ValueError("x"))
        assert str(info.value) == expected
        assert type(info.value) is api.error
        assert isinstance(info.value, Exception)
        # nothing changed over there
        assert other["suspended"] and not other["suspended"].dead
        assert not other["unstarted"] and not other["unstarted"].dead
    assert other["resumed"] == ()


def test_R20_message_reprs_are_seen_from_the_calling_thread(api):
    # "Current" is our running main greenlet; "Expected" is the other thread's
    # main greenlet which, seen from here, is not current: it is suspended.
    with _OtherThread(api) as other:
        with pytest.raises(api.error) as info:
            other["suspended"].switch()
        head, current, expected = str(info.value).split("\n")
        assert head == "Cannot switch to a different thread"
        assert current.startswith("\tCurrent:  <")
        assert current.endswith(" current active started main>")
        assert expected.startswith("\tExpected: <")
        assert expected.endswith(" suspended active started main>")
        assert f"0x{id(other['main']):x}" in expected
        assert f"0x{id(api.getcurrent()):x}" in current


def test_R20_switch_from_a_non_main_greenlet(api):
    # "Current" names this thread's main greenlet, even when a child switches.
    main = api.getcurrent()
    with _OtherThread(api) as other:

        def run():
            try:
                other["suspended"].switch()
            except api.error as e:
                return str(e), _cross_thread_message(main, other["main"])

        message, expected = api.greenlet(run).switch()
        assert message == expected
        assert message.split("\n")[1].endswith(" suspended active started main>")


def test_R20_unstarted_child_of_other_thread_greenlet(api):
    # The owning thread is found through the parent chain.
    with _OtherThread(api) as other:
        g = api.greenlet(lambda: None)
        g.parent = other["unstarted"]
        with pytest.raises(api.error) as info:
            g.switch()
        assert str(info.value).startswith("Cannot switch to a different thread")
        assert not g and not g.dead


def test_R20_exited_thread_main_and_unstarted(api):
    kept = {}

    def worker():
        kept["main"] = api.getcurrent()
        kept["unstarted"] = api.greenlet(lambda: None)

    t = threading.Thread(target=worker)
    t.start()
    _join(t)
    _wait_dead(kept["main"])
    for g in (kept["main"], kept["unstarted"]):
        with pytest.raises(api.error) as info:
            g.switch()
        assert str(info.value) == EXITED
        with pytest.raises(api.error) as info:
            g.throw()
        assert str(info.value) == EXITED
        with pytest.raises(api.error) as info:
            g.throw(ValueError, ValueError("v"), None)
        assert str(info.value) == EXITED
    assert not kept["unstarted"] and not kept["unstarted"].dead


def test_R20_exited_thread_suspended_greenlet(run_script):
    r = run_script(
        DEATH_PRELUDE
        + """
kept = []
def worker():
    g = greenlet(lambda: getcurrent().parent.switch())
    g.switch()
    kept.append(g)
    kept.append(getcurrent())
run_thread(worker)
wait_dead(kept[1])
for args in [(), (1,)]:
    try:
        kept[0].switch(*args)
    except api.error as e:
        assert str(e) == EXITED, str(e)
    else:
        raise AssertionError("no error")
for args in [(), (ValueError,), (api.GreenletExit,)]:
    try:
        kept[0].throw(*args)
    except api.error as e:
        assert str(e) == EXITED, str(e)
    else:
        raise AssertionError("no error")
print("OK")
"""
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("OK"), r.stdout + r.stderr


def test_R20_garbage_collected_lineage(api, cpython_only):
    cpython_only("gc-clear")
    g = _collected_parentless(api)
    for call in (g.switch, g.throw):
        with pytest.raises(api.error) as info:
            call()
        assert str(info.value) == "cannot switch to a garbage collected greenlet"
    assert not g and not g.dead
    assert repr(g).endswith(" pending>")


# --------------------------------------------------------------------------------------
# R21: main greenlets
# --------------------------------------------------------------------------------------


def test_R21_each_thread_has_its_own_main(api):
    results = {}
    all_started = threading.Barrier(3, timeout=30)

    def worker(name):
        m1 = api.getcurrent()
        m2 = api.getcurrent()
        g = api.greenlet(lambda: api.getcurrent().parent)
        results[name] = (m1, m1 is m2, type(m1), m1.parent, bool(m1), m1.dead, g.switch())
        all_started.wait()  # all three alive at once

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        _join(t)
    here = api.getcurrent()
    mains = [results[i][0] for i in range(3)] + [here]
    assert len({id(m) for m in mains}) == 4
    for i in range(3):
        m, same, tp, parent, b, dead, started_parent = results[i]
        assert same
        assert tp is api.greenlet
        assert parent is None
        assert b is True and dead is False
        assert started_parent is m  # a greenlet made in that thread has its main as parent


def test_R21_main_is_exactly_the_base_type_even_with_subclasses(api):
    class Sub(api.greenlet):
        pass

    out = {}

    def worker():
        Sub(lambda: None).switch()
        out["main"] = api.getcurrent()

    t = threading.Thread(target=worker)
    t.start()
    _join(t)
    assert type(out["main"]) is api.greenlet


def test_R21_main_greenlet_seen_from_another_thread(api):
    with _OtherThread(api) as other:
        m = other["main"]
        assert m is not api.getcurrent()
        assert bool(m) is True
        assert m.dead is False
        assert m.parent is None
        assert repr(m).endswith(" suspended active started main>")


def test_R21_this_threads_main_is_current(api):
    m = api.getcurrent()
    assert m.parent is None
    assert bool(m) is True and m.dead is False
    assert repr(m).endswith(" current active started main>")


def test_R21_parent_defaults_to_current_of_creating_thread(api):
    out = {}

    def worker():
        out["main"] = api.getcurrent()
        out["g"] = api.greenlet()

    t = threading.Thread(target=worker)
    t.start()
    _join(t)
    assert out["g"].parent is out["main"]
    assert out["main"] is not api.getcurrent()


# --------------------------------------------------------------------------------------
# R22: thread death
# --------------------------------------------------------------------------------------


def test_R22_main_greenlet_of_exited_thread_is_dead(run_script):
    r = run_script(
        DEATH_PRELUDE
        + """
kept = []
run_thread(lambda: kept.append(getcurrent()))
m = kept[0]
wait_dead(m)
assert m.dead is True
assert bool(m) is False
assert m.gr_frame is None
assert m.parent is None
assert repr(m).endswith(" (thread exited) dead>"), repr(m)
for word in ("suspended", "active", "started", "current", "main>"):
    assert word not in repr(m), repr(m)
print("OK")
"""
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "OK", r.stdout + r.stderr


def test_R22_suspended_greenlet_of_exited_thread_is_dead(run_script):
    r = run_script(
        DEATH_PRELUDE
        + """
kept = []
events = []
def body():
    try:
        getcurrent().parent.switch()
    except GreenletExit:
        events.append("GreenletExit")
        raise
def worker():
    g = greenlet(body)
    g.switch()
    kept.append(g)
    kept.append(getcurrent())
run_thread(worker)
g, m = kept
wait_dead(m)
wait_dead(g)
assert g.dead is True and bool(g) is False
assert g.gr_frame is None
assert repr(g).endswith(" (thread exited) dead>"), repr(g)
assert g.parent is m
for call in (g.switch, g.throw):
    try:
        call()
    except api.error as e:
        assert str(e) == EXITED
    else:
        raise AssertionError("switch to a greenlet of an exited thread worked")
assert events == [], events
print("OK")
"""
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "OK", r.stdout + r.stderr


def test_R22_dropping_greenlet_of_exited_thread_runs_no_code(run_script):
    # No GreenletExit is delivered when a greenlet of a dead thread is dropped,
    # and dropping it does not disturb the interpreter.
    r = run_script(
        DEATH_PRELUDE
        + """
kept = []
events = []
def body():
    try:
        getcurrent().parent.switch()
    except GreenletExit:
        events.append("GreenletExit")
        raise
def worker():
    g = greenlet(body)
    g.switch()
    kept.append(g)
    kept.append(getcurrent())
run_thread(worker)
wait_dead(kept[1])
del kept[:]
gc.collect()
assert events == [], events
assert getcurrent().switch(5) == 5
print("OK")
"""
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "OK", r.stdout + r.stderr


def test_R22_finally_of_exited_thread_greenlet_never_runs(run_script, known_difference):
    known_difference("dead-thread-finally")
    r = run_script(
        DEATH_PRELUDE
        + """
kept = []
events = []
def body():
    try:
        getcurrent().parent.switch()
    finally:
        events.append("finally")
def worker():
    g = greenlet(body)
    g.switch()
    kept.append(g)
    kept.append(getcurrent())
run_thread(worker)
wait_dead(kept[1])
del kept[:]
for _ in range(3):
    gc.collect()
print("events", events)
"""
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "events []", r.stdout + r.stderr


def test_R22_unstarted_greenlet_of_exited_thread(api):
    kept = {}

    def worker():
        kept["main"] = api.getcurrent()
        kept["g"] = api.greenlet(lambda: None)

    t = threading.Thread(target=worker)
    t.start()
    _join(t)
    _wait_dead(kept["main"])
    g = kept["g"]
    assert not g and not g.dead
    assert repr(g).endswith(" pending>")
    assert g.gr_frame is None


def test_R22_local_greenlets_dropped_before_thread_ends_get_greenlet_exit(api, collect):
    # In contrast: a greenlet whose last reference goes while its thread still
    # runs (locals released as the thread function returns) is killed normally.
    events = []

    def body():
        try:
            api.getcurrent().parent.switch()
        except api.GreenletExit as e:
            events.append(("exit", e.args))
            raise
        finally:
            events.append("finally")

    def worker():
        g = api.greenlet(body)
        g.switch()
        events.append("returning")
        if PYPY:  # locals are freed only by the GC: run it before the thread ends
            del g
            collect()

    t = threading.Thread(target=worker)
    t.start()
    _join(t)
    assert events == [
        "returning",
        ("exit", ("Killing the greenlet because all references have vanished.",)),
        "finally",
    ]


# --------------------------------------------------------------------------------------
# R26: greenlets dropped by another thread
# --------------------------------------------------------------------------------------


class _Owner:
    """A thread that owns a suspended greenlet, hands it over, then runs a trigger."""

    def __init__(self, api, trigger):
        self.api = api
        self.trigger = trigger
        self.events = []
        self.box = []
        self.handed = threading.Event()
        self.dropped = threading.Event()
        self.checked = threading.Event()
        self.finish = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _body(self):
        api = self.api
        try:
            api.getcurrent().parent.switch()
        except api.GreenletExit as e:
            self.events.append(("exit", e.args, api.getcurrent().parent is self.main))
            raise

    def _run(self):
        api = self.api
        self.main = api.getcurrent()
        g = api.greenlet(self._body)
        g.switch()
        self.box.append(g)
        del g
        other = api.greenlet(lambda: api.getcurrent().parent.switch())
        other.switch()
        self.handed.set()
        self.dropped.wait(30)
        self.events.append("before")
        self.trigger(api, other)
        self.events.append("after")
        self.checked.set()
        self.finish.wait(30)
        api.getcurrent()  # flush whatever is left, in this thread
        other.switch()

    def start(self):
        self.thread.start()
        assert self.handed.wait(30)

    def stop(self):
        self.finish.set()
        self.dropped.set()
        _join(self.thread)


KILLED = ("exit", ("Killing the greenlet because all references have vanished.",), True)

TRIGGERS = {
    "getcurrent": lambda api, other: api.getcurrent(),
    "greenlet": lambda api, other: api.greenlet(),
    "switch": lambda api, other: other.switch(),
}


@pytest.mark.parametrize("trigger", sorted(TRIGGERS))
def test_R26_kill_deferred_until_owner_uses_greenlets(api, trigger):
    owner = _Owner(api, TRIGGERS[trigger])
    owner.start()
    try:
        owner.box.clear()  # the last reference goes, in this thread
        gc.collect()
        api.getcurrent()  # our own API calls do not run it either
        api.greenlet()
        assert owner.events == []
        owner.dropped.set()
        assert owner.checked.wait(30)
        # killed in the owner thread (parent temporarily its current greenlet),
        # by the trigger
        assert owner.events == ["before", KILLED, "after"]
    finally:
        owner.stop()


def test_R26_trace_functions_do_not_run_the_deferred_kill(api):
    def trigger(api, other):
        api.settrace(None)
        api.gettrace()

    owner = _Owner(api, trigger)
    owner.start()
    try:
        owner.box.clear()
        gc.collect()
        owner.dropped.set()
        assert owner.checked.wait(30)
        assert owner.events == ["before", "after"]
    finally:
        owner.stop()
    assert owner.events == ["before", "after", KILLED]


def test_R26_nothing_happens_without_a_trigger(api):
    owner = _Owner(api, lambda api, other: None)
    owner.start()
    try:
        owner.box.clear()
        gc.collect()
        owner.dropped.set()
        assert owner.checked.wait(30)
        assert owner.events == ["before", "after"]
    finally:
        owner.stop()
    # the owner's final getcurrent() ran it
    assert owner.events == ["before", "after", KILLED]


def test_R26_owner_thread_dead_no_code_runs(run_script):
    # Dropped here while the owner lives, then the owner exits without
    # touching greenlets: the greenlet is deactivated without GreenletExit.
    r = run_script(
        DEATH_PRELUDE
        + """
events = []
box = []
handed = threading.Event()
dropped = threading.Event()
def body():
    try:
        getcurrent().parent.switch()
    except GreenletExit:
        events.append("GreenletExit")
        raise
def worker():
    g = greenlet(body)
    g.switch()
    box.append(g)
    box.append(getcurrent())
    del g
    handed.set()
    dropped.wait(30)
t = threading.Thread(target=worker)
t.start()
assert handed.wait(30)
m = box.pop()
box.clear()
gc.collect()
dropped.set()
t.join(30)
assert not t.is_alive()
wait_dead(m)
for _ in range(20):
    time.sleep(0.005)
    gc.collect()
assert getcurrent().switch(3) == 3
print("events", events)
"""
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "events []", r.stdout + r.stderr


def test_R26_owner_thread_dead_finally_never_runs(run_script, known_difference):
    known_difference("dead-thread-finally")
    r = run_script(
        DEATH_PRELUDE
        + """
events = []
box = []
handed = threading.Event()
dropped = threading.Event()
def body():
    try:
        getcurrent().parent.switch()
    finally:
        events.append("finally")
def worker():
    g = greenlet(body)
    g.switch()
    box.append(g)
    box.append(getcurrent())
    del g
    handed.set()
    dropped.wait(30)
t = threading.Thread(target=worker)
t.start()
assert handed.wait(30)
m = box.pop()
box.clear()
gc.collect()
dropped.set()
t.join(30)
assert not t.is_alive()
wait_dead(m)
for _ in range(20):
    time.sleep(0.005)
    gc.collect()
print("events", events)
"""
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "events []", r.stdout + r.stderr


def test_R22_exited_threads_greenlet_looks_active_until_dead_is_read(api, known_difference):
    known_difference("dead-thread-eager")
    box = []

    def body():
        g = api.greenlet(lambda: api.getcurrent().parent.switch())
        g.switch()
        box.append(g)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    gc.collect()
    g = box.pop()
    # upstream: still looks suspended until ``dead`` is read...
    assert bool(g) and g.gr_frame is not None
    # ...which notices the exit, and from then on it is dead
    assert g.dead and not g and g.gr_frame is None


def test_greenlets_do_not_use_a_monkey_patched_thread_module(run_script):
    """Libraries that monkey-patch (gevent, eventlet) replace _thread's functions after
    greenlet is imported; greenlets made afterwards must not go through them."""
    proc = run_script(
        """
        import _thread
        def refuse(*args, **kwargs):
            raise AssertionError("a patched _thread function was called")
        for name in ("start_new_thread", "allocate_lock", "stack_size"):
            setattr(_thread, name, refuse)
        main = getcurrent()
        gs = [greenlet(lambda i=i: main.switch(i) * 2) for i in range(5)]
        assert [g.switch() for g in gs] == list(range(5))
        assert [g.switch(i) for i, g in enumerate(gs)] == [0, 2, 4, 6, 8]
        print("ok")
        """
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
