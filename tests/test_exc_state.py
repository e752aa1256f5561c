"""Exception state (sys.exc_info) and recursion depth are saved and restored per greenlet."""

from __future__ import annotations

import platform
import sys

import pytest

PYPY = platform.python_implementation() == "PyPy"


class SomeError(Exception):
    pass


NONE3 = (None, None, None)


# --------------------------------------------------------------------------------------
# R33: sys.exc_info() is per greenlet
# --------------------------------------------------------------------------------------


def test_R33_fresh_greenlet_started_in_except_sees_no_exception(api):
    seen = []

    def h():
        seen.append(sys.exc_info())

    try:
        raise ValueError("main's")
    except ValueError:
        outer = sys.exc_info()
        api.greenlet(h).switch()
        assert sys.exc_info() == outer
    assert seen == [NONE3]


def test_R33_upstream_exc_state_scenario(api):
    # A greenlet inside an except block starts another; both views stay separate.
    checks = []

    def f():
        try:
            raise ValueError("fun")
        except ValueError:
            exc_info = sys.exc_info()
            api.greenlet(h).switch()
            checks.append(exc_info == sys.exc_info())

    def h():
        checks.append(sys.exc_info() == NONE3)

    api.greenlet(f).switch()
    assert checks == [True, True]


def test_R33_bare_raise_in_fresh_greenlet(api):
    def bare():
        try:
            raise
        except RuntimeError as e:
            return str(e)

    try:
        raise KeyError("main")
    except KeyError as outer:
        assert api.greenlet(bare).switch() == "No active exception to reraise"
        assert sys.exc_info()[1] is outer


def test_R33_exception_raised_in_fresh_greenlet_has_no_context(api):
    def raiser():
        try:
            raise TypeError("inner")
        except TypeError as e:
            return e

    try:
        raise KeyError("main")
    except KeyError:
        exc = api.greenlet(raiser).switch()
    assert exc.__context__ is None


def test_R33_caller_state_intact_after_switch_back(api):
    main = api.getcurrent()

    def body():
        assert sys.exc_info() == NONE3
        try:
            raise SomeError("in greenlet")
        except SomeError:
            main.switch(sys.exc_info()[1])  # suspended inside its own except block
            return sys.exc_info()[1]

    g = api.greenlet(body)
    try:
        raise ValueError("main")
    except ValueError as outer:
        g_exc = g.switch()
        assert isinstance(g_exc, SomeError)
        assert sys.exc_info()[1] is outer
        # Resumed, the greenlet still sees its own exception.
        assert g.switch() is g_exc
        assert sys.exc_info()[1] is outer
    assert sys.exc_info() == NONE3


def test_R33_main_without_exception_unaffected_by_suspended_handler(api):
    main = api.getcurrent()

    def body():
        try:
            raise SomeError("parked in handler")
        except SomeError:
            main.switch()
        return sys.exc_info()

    g = api.greenlet(body)
    g.switch()
    assert sys.exc_info() == NONE3
    # After the greenlet left its handler, it has no exception either.
    assert g.switch() == NONE3
    assert sys.exc_info() == NONE3


def test_R33_nested_switches_inside_except_blocks(api):
    main = api.getcurrent()
    log = []

    def name():
        value = sys.exc_info()[1]
        return None if value is None else str(value)

    def a_body():
        log.append(("a start", name()))
        try:
            raise SomeError("A1")
        except SomeError:
            log.append(("a in A1", name()))
            b.switch()
            log.append(("a back in A1", name()))
            try:
                raise SomeError("A2")
            except SomeError:
                log.append(("a in A2", name()))
                main.switch()
                log.append(("a back in A2", name()))
            log.append(("a after A2", name()))
            b.switch()
            log.append(("a end of A1", name()))
        log.append(("a done", name()))

    def b_body():
        log.append(("b start", name()))
        try:
            raise SomeError("B1")
        except SomeError:
            log.append(("b in B1", name()))
            a.switch()
            log.append(("b back in B1", name()))
        log.append(("b done", name()))
        # falls off the end: b's parent is main

    a = api.greenlet(a_body)
    b = api.greenlet(b_body)
    try:
        raise SomeError("M1")
    except SomeError:
        a.switch()
        log.append(("main back in M1", name()))
        a.switch()
        log.append(("main after b finished", name()))
    log.append(("main done", name()))
    a.switch()
    assert a.dead and b.dead
    assert log == [
        ("a start", None),
        ("a in A1", "A1"),
        ("b start", None),
        ("b in B1", "B1"),
        ("a back in A1", "A1"),
        ("a in A2", "A2"),
        ("main back in M1", "M1"),
        ("a back in A2", "A2"),
        ("a after A2", "A1"),
        ("b back in B1", "B1"),
        ("b done", None),
        ("main after b finished", "M1"),
        ("main done", None),
        ("a end of A1", "A1"),
        ("a done", None),
    ]


def test_R33_throw_into_greenlet_suspended_in_except(api):
    main = api.getcurrent()

    def body():
        try:
            raise KeyError("g")
        except KeyError as handled:
            try:
                main.switch()
            except ValueError as e:
                return e, sys.exc_info()[1], e.__context__, handled
        return None

    g = api.greenlet(body)
    g.switch()
    thrown = ValueError("thrown")
    e, current, context, handled = g.throw(thrown)
    assert e is thrown
    assert current is thrown
    # The thrown exception is delivered as is, not chained to the target's handled one.
    assert context is None
    assert isinstance(handled, KeyError)


def test_R33_propagated_exception_not_chained_to_parent_handler(api):
    def boom():
        raise ValueError("boom")

    try:
        raise KeyError("main")
    except KeyError as outer:
        with pytest.raises(ValueError) as info:
            api.greenlet(boom).switch()
        assert sys.exc_info()[1] is outer
    assert info.value.__context__ is None


def test_R33_exception_state_in_thread_greenlets(api):
    import threading

    out = {}

    def in_thread():
        def body():
            out["g"] = sys.exc_info()

        try:
            raise SomeError("thread main")
        except SomeError as e:
            api.greenlet(body).switch()
            out["main"] = sys.exc_info()[1] is e

    t = threading.Thread(target=in_thread)
    t.start()
    t.join(30)
    assert not t.is_alive()
    assert out == {"g": NONE3, "main": True}


# --------------------------------------------------------------------------------------
# R34: recursion depth per greenlet
# --------------------------------------------------------------------------------------


def recursion_budget():
    """How many more nested Python calls fit before RecursionError."""
    n = 0

    def rec():
        nonlocal n
        n += 1
        rec()

    try:
        rec()
    except RecursionError:
        pass
    return n


def at_depth(depth, func, *args):
    """Call func(*args) with *depth* extra frames on the stack."""
    if depth == 0:
        return func(*args)
    return at_depth(depth - 1, func, *args)


def _limit_ok():
    return sys.getrecursionlimit() >= 900


def test_R34_parked_deep_greenlet_does_not_reduce_main_budget(api, cpython_only):
    cpython_only("recursion-limit")
    if not _limit_ok():
        pytest.skip("recursion limit too small")
    main = api.getcurrent()
    baseline = recursion_budget()
    assert baseline > 600

    def parked():
        at_depth(600, main.switch)
        return "unparked"

    g = api.greenlet(parked)
    g.switch()
    # Main can still recurse about as deep as before (the parked 600 frames don't count).
    with_parked = recursion_budget()
    assert abs(with_parked - baseline) <= 5
    assert g.switch() == "unparked"


def test_R34_sibling_budget_unaffected_by_parked_greenlet(api, cpython_only):
    cpython_only("recursion-limit")
    if not _limit_ok():
        pytest.skip("recursion limit too small")
    main = api.getcurrent()
    before = api.greenlet(recursion_budget).switch()

    def parked():
        at_depth(500, main.switch)

    g = api.greenlet(parked)
    g.switch()
    during = api.greenlet(recursion_budget).switch()
    assert abs(during - before) <= 5
    g.switch()
    assert g.dead


def test_R34_greenlet_keeps_its_own_depth_across_switches(api, cpython_only):
    cpython_only("recursion-limit")
    if not _limit_ok():
        pytest.skip("recursion limit too small")
    main = api.getcurrent()

    def body():
        start = recursion_budget()

        def deep():
            main.switch(start)
            return recursion_budget()

        return at_depth(300, deep)

    g = api.greenlet(body)
    start = g.switch()
    # Main recursing deep meanwhile does not change what the greenlet has left.
    assert recursion_budget() > start - 100
    deep_budget = at_depth(200, g.switch)
    assert abs((start - deep_budget) - 300) <= 10


def test_R34_main_depth_restored_after_greenlet_recursed(api, cpython_only):
    cpython_only("recursion-limit")
    if not _limit_ok():
        pytest.skip("recursion limit too small")
    main = api.getcurrent()
    baseline = recursion_budget()

    def body():
        at_depth(400, main.switch)
        at_depth(300, main.switch)

    g = api.greenlet(body)
    g.switch()
    assert abs(recursion_budget() - baseline) <= 5
    g.switch()
    assert abs(recursion_budget() - baseline) <= 5
    g.switch()
    assert g.dead


def test_R34_recursion_error_in_greenlet_propagates_to_parent(api):
    def endless():
        return endless()

    def body():
        if PYPY:  # its limit does not count frames one by one: recurse without end
            return endless()
        return at_depth(sys.getrecursionlimit() + 50, lambda: "unreachable")

    g = api.greenlet(body)
    with pytest.raises(RecursionError):
        g.switch()
    assert g.dead
    # Main recovered its full budget.
    assert recursion_budget() > 500


def test_R34_new_greenlet_inherits_depth_where_first_switched_to(
    api, known_difference, cpython_only
):
    cpython_only("recursion-limit")
    known_difference("recursion-depth")
    if not _limit_ok():
        pytest.skip("recursion limit too small")
    shallow = api.greenlet(recursion_budget).switch()
    deep = at_depth(500, api.greenlet(recursion_budget).switch)
    # Started 500 frames deeper, the greenlet has about 500 frames less budget.
    assert abs((shallow - deep) - 500) <= 10


def test_R34_inherited_depth_is_fixed_at_first_switch(api, known_difference, cpython_only):
    cpython_only("recursion-limit")
    # The depth counts from where the greenlet was started, not where it is resumed.
    known_difference("recursion-depth")
    if not _limit_ok():
        pytest.skip("recursion limit too small")
    main = api.getcurrent()
    shallow = api.greenlet(recursion_budget).switch()

    def body():
        main.switch()
        return recursion_budget()

    g = api.greenlet(body)
    at_depth(400, g.switch)  # started 400 frames deep
    resumed = g.switch()  # resumed from a shallow frame
    assert abs((shallow - resumed) - 400) <= 10
