"""Collection of greenlets: kill on collection, unraisable reports, leaks, finalization."""

from __future__ import annotations

import gc
import os
import platform
import sys
import threading
import time
import weakref

import pytest

PYPY = platform.python_implementation() == "PyPy"

KILL_MESSAGE = "Killing the greenlet because all references have vanished."


# --------------------------------------------------------------------------------------
# R23: kill on collection
# --------------------------------------------------------------------------------------


def test_R23_greenlet_exit_thrown_when_last_reference_goes(api, collect):
    events = []
    main = api.getcurrent()

    def body():
        try:
            main.switch("parked")
        except api.GreenletExit as e:
            events.append((type(e), e.args, api.getcurrent().parent is main))
            raise
        finally:
            events.append("finally")

    g = api.greenlet(body)
    assert g.switch() == "parked"
    del g  # synchronous: everything happens before del returns
    collect(pypy_only=True)  # PyPy: in the GC
    assert events == [(api.GreenletExit, (KILL_MESSAGE,), True), "finally"]


def test_R23_collector_is_a_non_main_greenlet(api, collect):
    # The victim's parent is temporarily whoever drops the last reference.
    events = []

    def victim():
        try:
            api.getcurrent().parent.switch()
        except api.GreenletExit:
            events.append(("parent", api.getcurrent().parent))

    def collector():
        g = api.greenlet(victim)
        g.switch()
        events.append("dropping")
        del g
        collect(pypy_only=True)
        events.append("dropped")
        return api.getcurrent()

    c = api.greenlet(collector)
    me = c.switch()
    assert me is c
    assert events == ["dropping", ("parent", c), "dropped"]


def test_R23_parent_restored_on_kill(api, collect):
    # upstream test_parent_restored_on_kill
    hub = api.greenlet(lambda: None)
    main = api.getcurrent()
    result = []

    def worker():
        try:
            main.switch()
        except api.GreenletExit:
            result.append(api.getcurrent().parent)
            result.append(api.getcurrent())
            hub.switch()

    g = api.greenlet(worker, parent=hub)
    g.switch()
    del g
    collect(pypy_only=True)
    assert result
    assert result[0] is main
    assert result[1].parent is hub
    # the resurrected worker is suspended in hub.switch(); hub is dead now
    assert hub.dead
    resurrected = result.pop()
    assert resurrected and not resurrected.dead
    result.clear()
    resurrected.throw()  # finish it: its parent chain (dead hub) leads back here
    assert resurrected.dead


def test_R23_dealloc_switch_args_not_lost(api, collect):
    # upstream test_dealloc_switch_args_not_lost
    seen = []

    def worker_body():
        value = api.getcurrent().parent.switch()
        del worker[0]
        initiator.parent = api.getcurrent().parent
        try:
            api.getcurrent().parent.switch(value)
        finally:
            seen.append(api.getcurrent())

    def initiator_body():
        return 42

    worker = [api.greenlet(worker_body)]
    worker[0].switch()
    initiator = api.greenlet(initiator_body, worker[0])
    value = initiator.switch()
    collect(pypy_only=True)  # CPython: the worker is killed as it switches away
    assert seen
    assert value == 42


def test_R23_kill_keeps_no_reference_to_the_greenlet_exit_it_threw(api, cpython_only):
    # The victim handles its kill's GreenletExit and goes on; once its except
    # block is over, nothing holds that exception (R11: as upstream, a
    # thrower keeps no reference to what it threw), so the frames in its
    # traceback, and what they held, are gone.  Here one of them held the
    # only other reference to g2: dropping g2 then kills it at once.
    cpython_only("refcounting")
    events = []
    main = api.getcurrent()
    slots = {}

    def switch_to(name):
        sw = slots[name].switch  # this frame holds g2 while it is parked here
        sw()

    def body1():
        try:
            switch_to("g2")
        except api.GreenletExit:
            events.append("g1 handled its kill")
        del slots["g2"]
        events.append("g1 dropped g2")

    def body2():
        try:
            main.switch()
        except api.GreenletExit:
            events.append("g2 killed")

    slots["g1"], slots["g2"] = api.greenlet(body1), api.greenlet(body2)
    slots["g1"].switch()
    del slots["g1"]
    assert events == ["g1 handled its kill", "g2 killed", "g1 dropped g2"]


def test_R23_greenlet_dropped_again_after_surviving_its_kill_disturbs_nobody(run_script):
    # A greenlet resurrects itself during its kill, then is dropped again,
    # and its handler swallows every exception and switches to another
    # greenlet.  Upstream
    # kills it a second time; the reference backend frees it by unwinding its
    # OS thread ("second-kill").  Either way the collecting greenlet goes on
    # and the thread works as before (the unwinding greenlet once handed
    # off to the other greenlet for real, and the process hung).
    r = run_script(
        """
main = getcurrent()
saved = []
other = greenlet(lambda: main.switch())
other.switch()
def body():
    for i in range(3):
        try:
            main.switch()
        except BaseException:
            if i == 0:
                saved.append(getcurrent())
            else:
                other.switch()
g = greenlet(body)
g.switch()
del g
collect_garbage()
del saved[:]
collect_garbage()
echo = greenlet(lambda x: main.switch(x * 2))
print("after", echo.switch(21), getcurrent() is main)
""",
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "after 42 True", r.stdout + r.stderr


def test_R23_resurrection_keeps_greenlet_alive(api, collect):
    saved = []
    main = api.getcurrent()

    def body():
        try:
            main.switch()
        except api.GreenletExit as e:
            saved.append(api.getcurrent())
            # back to the collector, staying suspended
            x = api.getcurrent().parent.switch("resurrected")
            return ("finished", x, e.args)

    g = api.greenlet(body)
    g.switch()
    ref = weakref.ref(g)
    del g
    collect(pypy_only=True)
    assert len(saved) == 1
    g = saved.pop()
    # PyPy clears weak references to an object before its finalizer runs
    assert ref() is (None if PYPY else g)
    assert g and not g.dead
    assert g.parent is main  # restored
    assert g.switch("later") == ("finished", "later", (KILL_MESSAGE,))
    assert g.dead


def test_R23_resurrected_then_dropped_again_is_killed_again(api, known_difference):
    known_difference("second-kill")
    saved = []
    kills = []
    main = api.getcurrent()

    def body():
        while True:
            try:
                main.switch()
            except api.GreenletExit as e:
                kills.append(e.args)
                if len(kills) == 1:
                    saved.append(api.getcurrent())
                    continue
                raise

    g = api.greenlet(body)
    g.switch()
    del g
    assert kills == [(KILL_MESSAGE,)]
    g = saved.pop()
    assert g and not g.dead
    r = weakref.ref(g)
    del g
    assert kills == [(KILL_MESSAGE,), (KILL_MESSAGE,)]
    gc.collect()
    assert r() is None


def test_R23_a_kill_leaves_no_cycles(api, cpython_only):
    """What a killed greenlet's frames held is freed by the kill, not by the cyclic GC."""
    cpython_only("refcounting")

    class Held:
        pass

    def park(held, exc_class):
        try:
            api.getcurrent().parent.switch()
        finally:
            if exc_class is not None:
                raise exc_class("from finally")

    # the greenlet dies of GreenletExit (a value for its parent), or of another
    # exception that the kill reports as unraisable
    for exc_class in (None, ValueError):
        held = Held()
        ref = weakref.ref(held)
        g = api.greenlet(park)
        g.switch(held, exc_class)
        del held
        seen: list = []
        hook = sys.unraisablehook
        sys.unraisablehook = lambda args, seen=seen: seen.append(args.exc_type)  # no traceback
        gc.disable()
        try:
            del g  # killed here; its frames, and what they hold, go with it
            assert ref() is None, exc_class
        finally:
            gc.enable()
            sys.unraisablehook = hook
        assert seen == ([] if exc_class is None else [exc_class])


def test_R5_a_dying_greenlets_exception_leaves_no_cycles(api, cpython_only):
    """The exception a child dies of, once handled, frees the child's frames at once."""
    cpython_only("refcounting")

    class Held:
        pass

    def die(held):
        raise ValueError("boom")

    for kind in ("raise", "exit"):
        held = Held()
        ref = weakref.ref(held)
        gc.disable()
        try:
            if kind == "raise":
                with pytest.raises(ValueError):
                    api.greenlet(die).switch(held)
            else:
                g = api.greenlet(lambda held: api.getcurrent().parent.switch())
                g.switch(held)
                assert isinstance(g.throw(), api.GreenletExit)
                del g
            del held
            assert ref() is None, kind
        finally:
            gc.enable()


def test_R23_unstarted_and_dead_greenlets_run_nothing(api, collect):
    calls = []
    g = api.greenlet(lambda: calls.append("ran"))
    r = weakref.ref(g)
    del g
    collect(pypy_only=True)
    assert r() is None
    g = api.greenlet(lambda: calls.append("ran"))
    g.switch()
    r = weakref.ref(g)
    del g
    collect(pypy_only=True)
    assert r() is None
    assert calls == ["ran"]


def test_R23_kill_in_collect_of_cycle_of_objects_holding_greenlet(api):
    # A suspended greenlet held only by a garbage cycle is killed when the
    # GC frees that cycle.
    events = []
    main = api.getcurrent()

    def body():
        try:
            main.switch()
        except api.GreenletExit as e:
            events.append(e.args)

    class Holder:
        pass

    h = Holder()
    h.self = h
    h.g = api.greenlet(body)
    h.g.switch()
    del h
    assert events == []
    gc.collect()
    assert events == [(KILL_MESSAGE,)]


def test_R23_deleters_exception_state_is_kept(api):
    main = api.getcurrent()

    def body():
        try:
            main.switch()
        except api.GreenletExit:
            try:
                raise KeyError("inside")
            except KeyError:
                pass

    g = api.greenlet(body)
    g.switch()
    try:
        raise ValueError("outer")
    except ValueError:
        del g
        assert sys.exc_info()[0] is ValueError
        assert str(sys.exc_info()[1]) == "outer"


# --------------------------------------------------------------------------------------
# R24: other exceptions go to sys.unraisablehook
# --------------------------------------------------------------------------------------


def test_R24_exception_from_killed_greenlet_is_unraisable(api, monkeypatch, collect):
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    main = api.getcurrent()

    def body():
        try:
            main.switch()
        except api.GreenletExit:
            raise ValueError("boom")

    g = api.greenlet(body)
    g.switch()
    expected_object = g
    ident = id(g)
    del expected_object
    del g
    collect(pypy_only=True)
    assert len(reports) == 1
    report = reports[0]
    assert report.exc_type is ValueError
    assert str(report.exc_value) == "boom"
    assert isinstance(report.exc_value, ValueError)
    assert id(report.object) == ident
    assert report.object.dead
    reports.clear()


def test_R24_deleter_is_not_disturbed(api, monkeypatch, collect):
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    main = api.getcurrent()

    def body():
        try:
            main.switch()
        finally:
            raise RuntimeError("from finally")

    g = api.greenlet(body)
    g.switch()
    try:
        raise KeyError("mine")
    except KeyError:
        del g
        collect(pypy_only=True)
        assert sys.exc_info()[0] is KeyError
    assert [type(r.exc_value) for r in reports] == [RuntimeError]
    # the collector just continues
    assert api.getcurrent() is main
    reports.clear()


def test_R24_greenlet_exit_subclass_is_not_reported(api, monkeypatch, collect):
    reports = []
    monkeypatch.setattr(sys, "unraisablehook", reports.append)
    main = api.getcurrent()

    class MyExit(api.GreenletExit):
        pass

    def body():
        try:
            main.switch()
        except api.GreenletExit:
            raise MyExit("replaced")

    g = api.greenlet(body)
    g.switch()
    del g
    collect(pypy_only=True)
    assert reports == []


# --------------------------------------------------------------------------------------
# R25: a victim that survives the kill
# --------------------------------------------------------------------------------------


def _survivor(ref: weakref.ref, ident: int):
    """The object *ref* pointed to (id *ident*), when it outlived its finalizer."""
    if not PYPY:
        return ref()
    # PyPy clears weak references to an object before its finalizer runs, even
    # if the object survives that: find it among the live objects instead.
    return next((o for o in gc.get_objects() if id(o) == ident), None)


def test_R25_greenlet_that_ignores_the_kill_is_reported_and_leaked(api, capsys, collect):
    keep_going = [True]
    kills = []

    def body():
        while keep_going[0]:
            try:
                api.getcurrent().parent.switch()
            except api.GreenletExit as e:
                kills.append(e.args)

    g = api.greenlet(body)
    g.switch()
    expected = repr(g)
    r, ident = weakref.ref(g), id(g)
    capsys.readouterr()
    del g
    collect(pypy_only=True)
    out, err = capsys.readouterr()
    assert kills == [(KILL_MESSAGE,)]
    assert err == f"GreenletExit did not kill {expected}\n"
    assert out == ""
    gc.collect()
    g = _survivor(r, ident)
    assert g is not None  # leaked on purpose
    assert g and not g.dead
    # clean up
    keep_going[0] = False
    g.switch()
    assert g.dead


def test_R25_greenlet_that_switches_elsewhere_is_reported(api, capsys, collect):
    main = api.getcurrent()
    kills = []

    def body():
        try:
            main.switch()
        except api.GreenletExit as e:
            kills.append(e.args)
            main.switch("elsewhere")  # never comes back
        return "finished"

    g = api.greenlet(body)
    g.switch()
    expected = repr(g)
    r, ident = weakref.ref(g), id(g)
    capsys.readouterr()
    del g
    collect(pypy_only=True)
    _, err = capsys.readouterr()
    assert kills == [(KILL_MESSAGE,)]
    assert err == f"GreenletExit did not kill {expected}\n"
    g = _survivor(r, ident)
    assert g is not None and g and not g.dead
    assert g.switch() == "finished"


def test_R25_resurrected_greenlet_is_not_reported(api, capsys, collect):
    saved = []
    main = api.getcurrent()

    def body():
        try:
            main.switch()
        except api.GreenletExit:
            saved.append(api.getcurrent())
            main.switch()

    g = api.greenlet(body)
    g.switch()
    capsys.readouterr()
    del g
    collect(pypy_only=True)
    _, err = capsys.readouterr()
    assert err == ""
    assert len(saved) == 1 and saved[0]
    saved[0].throw()
    assert saved[0].dead


# --------------------------------------------------------------------------------------
# R42: weak references and GC of greenlets that are not active
# --------------------------------------------------------------------------------------


def test_R42_weakref_to_greenlets(api, collect):
    main = api.getcurrent()
    assert weakref.ref(main)() is main
    g = api.greenlet(lambda: None)
    callbacks = []
    r = weakref.ref(g, callbacks.append)
    assert r() is g
    del g
    collect(pypy_only=True)
    assert r() is None
    assert callbacks == [r]


def test_R42_weakref_proxy(api):
    g = api.greenlet(lambda x: x + 1)
    p = weakref.proxy(g)
    assert p.switch(1) == 2
    assert p.dead


@pytest.mark.parametrize("state", ["unstarted", "dead"])
def test_R42_self_referencing_greenlets_are_collected(api, state):
    g = api.greenlet(lambda: None)
    g.me = g
    g.cycle = [g, {"g": g}]
    if state == "dead":
        g.switch()
        assert g.dead
    r = weakref.ref(g)
    del g
    assert r() is not None
    gc.collect()
    assert r() is None


def test_R42_greenlet_referencing_itself_through_run_is_collected(api):
    class Sub(api.greenlet):
        def run(self):
            return self

    g = Sub()
    g.own_run = g.run
    r = weakref.ref(g)
    del g
    gc.collect()
    assert r() is None
    g = Sub()
    assert g.switch() is g
    r = weakref.ref(g)
    del g
    gc.collect()
    assert r() is None


def test_R42_parent_chain_of_unstarted_greenlets_collected(api, collect):
    gs = [api.greenlet(lambda: None)]
    for _ in range(10):
        gs.append(api.greenlet(lambda: None, parent=gs[-1]))
    refs = [weakref.ref(g) for g in gs]
    del gs
    gc.collect()
    # PyPy finalizes a chain of objects with finalizers one link per two collections
    collect(pypy_only=True, passes=2 * len(refs))
    assert [r() for r in refs] == [None] * 11


# --------------------------------------------------------------------------------------
# R27: interpreter finalization
# --------------------------------------------------------------------------------------


def test_R27_getcurrent_works_in_atexit_handler(run_script, known_difference):
    if sys.version_info[:2] == (3, 12):
        known_difference("shutdown-start")
    r = run_script(
        """
import atexit, os
main = getcurrent()
def late():
    cur = getcurrent()
    g = greenlet(lambda x: getcurrent().parent.switch(x * 2) or "end")
    v = g.switch(21)
    os.write(1, ("atexit %s %s %s %s\\n" % (cur is main, v, g.switch(), g.dead)).encode())
atexit.register(late)
print("registered", flush=True)
"""
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["registered", "atexit True 42 end True"], r.stdout
    assert "Error" not in r.stderr, r.stderr


def test_R27_getcurrent_raises_when_finalizing(run_script, cpython_only, upstream_since):
    cpython_only("finalizers-at-exit")
    upstream_since((3, 3), "getcurrent() still answers while the interpreter finalizes")
    r = run_script(
        """
import gc, os
gc.disable()
class Checker:
    def __del__(self, getcurrent=getcurrent, os=os, RuntimeError=RuntimeError):
        try:
            getcurrent()
        except RuntimeError as e:
            os.write(1, ("RuntimeError: %s\\n" % (e,)).encode())
        else:
            os.write(1, b"no error\\n")
a = Checker()
b = {"a": a}
a.cycle = b
del a, b
print("OK", flush=True)
"""
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "OK\nRuntimeError: greenlet is being finalized\n", r.stdout + r.stderr


def test_R27_first_use_of_a_thread_while_finalizing_creates_and_switches(
    run_script, cpython_only, known_difference
):
    # Upstream: a thread's first greenlet use during finalization (a module
    # global's __del__ at exit) still makes its main greenlet, and greenlets
    # start and switch; only getcurrent() refuses.
    cpython_only("finalizers-at-exit")
    known_difference("shutdown-start")
    r = run_script(
        """
import os
class AtExit:
    def __del__(self, greenlet=greenlet, os=os):
        try:
            g = greenlet(lambda x: x * 2)
            os.write(1, b"switch %d\\n" % g.switch(21))
        except RuntimeError as e:
            os.write(1, ("greenlet: %s\\n" % (e,)).encode())
at_exit = AtExit()
print("OK", flush=True)
"""
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "OK\nswitch 42\n", r.stdout + r.stderr


def test_R27_suspended_greenlets_left_at_exit(run_script):
    # Greenlets still suspended when the interpreter finalizes are made dead
    # without running their code: no GreenletExit, exit status 0.
    r = run_script(
        """
import os
def body(i, write=os.write, GreenletExit=GreenletExit):
    try:
        getcurrent().parent.switch(i)
    except GreenletExit:
        write(1, b"GreenletExit\\n")
        raise
kept = []
for i in range(20):
    g = greenlet(body)
    assert g.switch(i) == i
    kept.append(g)
def outer():
    inner = greenlet(body)
    kept.append(inner)
    inner.switch(-1)
    getcurrent().parent.switch()
nested = greenlet(outer)
nested.switch()
print("OK", flush=True)
"""
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "OK\n", r.stdout + r.stderr
    assert "Fatal" not in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_R27_suspended_greenlet_in_cycle_at_exit(run_script):
    r = run_script(
        """
import gc, os
gc.disable()
def body(write=os.write, GreenletExit=GreenletExit):
    try:
        getcurrent().parent.switch()
    except GreenletExit:
        write(1, b"GreenletExit\\n")
        raise
class Holder:
    pass
h = Holder()
h.cycle = h
h.g = greenlet(body)
h.g.switch()
del h
print("OK", flush=True)
"""
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "OK\n", r.stdout + r.stderr


def test_R27_threads_with_suspended_greenlets_at_exit(run_script):
    r = run_script(
        """
import threading
kept = []
started = threading.Event()
def worker():
    g = greenlet(lambda: getcurrent().parent.switch())
    g.switch()
    kept.append(g)
    started.set()
t = threading.Thread(target=worker)
t.start()
assert started.wait(30)
t.join(30)
print("OK", flush=True)
"""
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == "OK\n", r.stdout + r.stderr


# --------------------------------------------------------------------------------------
# Leaks
# --------------------------------------------------------------------------------------


def _os_threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _os_threads_after_exits(at_most: int) -> int:
    """_os_threads(), once the threads of ended greenlets had time to exit (PyPy)."""
    if PYPY:
        # an ended greenlet's thread hands off, then still has to unwind and
        # exit; PyPy takes longer for that, and collects in between
        deadline = time.monotonic() + 10
        while _os_threads() > at_most and time.monotonic() < deadline:
            gc.collect()
            time.sleep(0.01)
    return _os_threads()


#: Types not counted: on PyPy, gc.get_objects() also lists ints and strs the
#: interpreter keeps for itself (a few hundred more after the first large run,
#: then no more growth however long the workload runs), not only the program's.
UNCOUNTED = {"int", "str"} if PYPY else set()


def _type_counts() -> dict:
    for _ in range(3):
        gc.collect()
    counts: dict = {}
    for o in gc.get_objects():
        name = type(o).__name__
        if name not in UNCOUNTED:
            counts[name] = counts.get(name, 0) + 1
    return counts


def _workload(api, n):
    main = api.getcurrent()
    for i in range(n):
        # create, switch, finish
        g = api.greenlet(lambda x: x + 1)
        assert g.switch(i) == i + 1
        # suspended, then resumed to the end
        g = api.greenlet(lambda: main.switch("p") or "e")
        assert g.switch() == "p"
        assert g.switch() == "e"
    # suspended, then dropped (killed on collection)
    for _ in range(n // 10):
        g = api.greenlet(lambda: main.switch())
        g.switch()
        del g
    # raising greenlets
    for _ in range(n // 10):
        g = api.greenlet(lambda: 1 / 0)
        try:
            g.switch()
        except ZeroDivisionError:
            pass
    # a self-referencing dead greenlet
    for _ in range(n // 10):
        g = api.greenlet(lambda: None)
        g.me = g
        g.switch()
    del g


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_leak_create_switch_finish_and_drop(api):
    if PYPY:
        # PyPy's JIT keeps a few objects it saw while compiling alive for good:
        # a suspended greenlet among them would never be collected
        import pypyjit

        pypyjit.set_param("off")
        try:
            _leak_create_switch_finish_and_drop(api)
        finally:
            pypyjit.set_param("default")
    else:
        _leak_create_switch_finish_and_drop(api)


def _leak_create_switch_finish_and_drop(api):
    threads_before = _os_threads()
    _workload(api, 500)  # warm up caches, free lists, lazily made objects
    before = _type_counts()
    _workload(api, 2000)
    after = _type_counts()
    grown = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    grown = {k: v for k, v in grown.items() if v > 20}
    assert grown == {}, grown
    assert sum(after.values()) - sum(before.values()) < 200
    # every OS thread a greenlet may have used is gone again
    assert _os_threads_after_exits(threads_before) <= threads_before


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")
def test_leak_many_suspended_greenlets_dropped_at_once(api):
    # On PyPy each of these kills, run by a finalizer, takes tens of
    # milliseconds (PyPy 7.3.11): fewer there.
    n = 30 if PYPY else 300
    threads_before = _os_threads()
    main = api.getcurrent()
    finished = []

    def body(i):
        try:
            main.switch()
        finally:
            finished.append(i)

    gs = []
    for i in range(n):
        g = api.greenlet(body)
        g.switch(i)
        gs.append(g)
    del g
    refs = [weakref.ref(g) for g in gs]
    del gs
    gc.collect()
    assert sorted(finished) == list(range(n))
    assert all(r() is None for r in refs)
    assert _os_threads_after_exits(threads_before) <= threads_before


def test_R26_cycle_collected_by_another_thread_kills_in_the_owner(
    api, cpython_only, known_difference
):
    """A suspended greenlet in a garbage cycle, collected by another thread, gets its
    GreenletExit in its own thread at that thread's next API call, once."""
    cpython_only("refcounting")
    known_difference("suspended-cycle")
    parked, collected, done = threading.Event(), threading.Event(), threading.Event()
    killed, seen, where = [], [], [None]

    def park():
        try:
            api.getcurrent().parent.switch()
        except api.GreenletExit:
            killed.append(where[0])
            raise

    def owner():
        g = api.greenlet(park)
        g.switch()
        g.cycle = g  # only the collector can free it
        del g
        parked.set()
        collected.wait(30)
        where[0] = "owner"
        api.getcurrent()  # the deferred kill runs here, in this thread
        done.set()

    hook = sys.unraisablehook
    sys.unraisablehook = lambda args: seen.append(args.exc_type)
    gc.disable()
    try:
        t = threading.Thread(target=owner)
        t.start()
        assert parked.wait(30)
        where[0] = "collector"
        gc.collect()  # finalizes the greenlet and its state, in some order
        api.getcurrent()  # an API call in this thread must not free it behind the owner's back
        collected.set()
        assert done.wait(30)
        t.join(30)
    finally:
        gc.enable()
        sys.unraisablehook = hook
    assert seen == []
    assert killed == ["owner"]


def test_R23_kills_that_end_out_of_order_leave_later_drops_killed(api, cpython_only):
    """Two greenlets each collecting a victim that switches away: whichever kill ends
    first, a greenlet dropped afterwards is still killed at once."""
    cpython_only("refcounting")
    main = api.getcurrent()
    log = []

    def parker(name, switch_to):
        def body():
            try:
                main.switch()
            except api.GreenletExit:
                log.append(name + " killed")
                switch_to().switch()  # survives its kill by switching away

        return body

    held = {}

    def b_body():
        main.switch()
        del held["v2"]  # b collects v2, which switches to main
        log.append("b resumed")
        main.switch()

    b = api.greenlet(b_body)
    b.switch()
    v1 = api.greenlet(parker("v1", lambda: b))
    v1.switch()
    held["v2"] = api.greenlet(parker("v2", lambda: main))
    held["v2"].switch()
    seen = []
    hook = sys.unraisablehook
    sys.unraisablehook = lambda args, seen=seen: seen.append(args.exc_type)
    old_stderr, sys.stderr = sys.stderr, None  # "GreenletExit did not kill" reports (R25)
    try:
        del v1  # main collects v1, which switches to b, which collects v2
        log.append("main resumed")
        b.switch()  # b's collection ends after main's
        log.append("main again")

        def x_body():
            try:
                main.switch()
            finally:
                log.append("x finally")

        x = api.greenlet(x_body)
        x.switch()
        del x  # must be killed here, whoever collected before
        log.append("x dropped")
    finally:
        sys.stderr = old_stderr
        sys.unraisablehook = hook
    assert log == [
        "v1 killed",
        "v2 killed",
        "main resumed",
        "b resumed",
        "main again",
        "x finally",
        "x dropped",
    ], log


def test_R23_resurrected_in_a_cycle_then_dropped_again_is_freed(
    api, cpython_only, known_difference
):
    """A greenlet found by the cyclic GC that survives its kill, and is dropped again
    later, is killed again then, and what its frames hold is freed."""
    cpython_only("refcounting")
    known_difference("suspended-cycle")
    keep, refs = [], []

    class Held:
        pass

    def body():
        held = Held()
        refs.append(weakref.ref(held))
        try:
            api.getcurrent().parent.switch()
        except api.GreenletExit:
            keep.append(api.getcurrent())  # resurrected: survives the kill
            api.getcurrent().parent.switch()

    g = api.greenlet(body)
    g.switch()
    g.cycle = g  # only the cyclic GC frees it
    del g
    old_stderr, sys.stderr = sys.stderr, None
    try:
        gc.collect()
        api.getcurrent()
    finally:
        sys.stderr = old_stderr
    assert len(keep) == 1 and refs[0]() is not None
    keep.clear()  # dropped again: no finalizer runs a second time
    for _ in range(3):
        gc.collect()
        api.getcurrent()
    assert refs[0]() is None
