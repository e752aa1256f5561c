"""throw(): argument checks; throwing into suspended, unstarted and dead greenlets (R10-R13)."""

from __future__ import annotations

import sys
import traceback

import pytest


def _suspended(api, parent=None):
    """A started greenlet parked in a switch to main; returns (g, log).

    The log records what its pending switch returned or raised.  A caught
    exception is re-raised, a received value is returned as ("finished", value).
    """
    main = api.getcurrent()
    log = []

    def run():
        try:
            value = main.switch("parked")
        except BaseException as e:
            log.append(("raised", e))
            raise
        log.append(("got", value))
        return ("finished", value)

    g = api.greenlet(run)
    assert g.switch() == "parked"
    if parent is not None:
        g.parent = parent
    return g, log


def _dead(api, parent=None):
    d = api.greenlet(lambda: "first life")
    assert d.switch() == "first life"
    assert d.dead
    if parent is not None:
        d.parent = parent
    return d


def _tb_entries(tb):
    out = []
    while tb is not None:
        out.append(tb)
        tb = tb.tb_next
    return out


def _a_traceback():
    try:
        raise KeyError("for tb")
    except KeyError as e:
        return e.__traceback__


# ------------------------------------------------------------------------------------------
# R10: argument validation in the caller
# ------------------------------------------------------------------------------------------

BAD_THROWS = [
    pytest.param(
        (ValueError, None, "not a tb"),
        "throw() third argument must be a traceback object",
        id="bad-tb",
    ),
    pytest.param(
        (ValueError("x"), None, 42),
        "throw() third argument must be a traceback object",
        id="tb-int",
    ),
    pytest.param(
        ("s", None, "not a tb"),
        "throw() third argument must be a traceback object",
        id="tb-checked-first",
    ),
    pytest.param(
        (ValueError("x"), "v"), "instance exception may not have a separate value", id="inst-val"
    ),
    pytest.param(
        (ValueError("x"), ValueError("y")),
        "instance exception may not have a separate value",
        id="inst-inst",
    ),
    pytest.param(("abc",), "exceptions must be classes, or instances, not str", id="str"),
    pytest.param((1,), "exceptions must be classes, or instances, not int", id="int"),
    pytest.param((int,), "exceptions must be classes, or instances, not type", id="non-exc-class"),
    pytest.param((None,), "exceptions must be classes, or instances, not NoneType", id="None"),
]


@pytest.mark.parametrize("args, message", BAD_THROWS)
def test_R10_suspended_target_is_not_switched_to(api, args, message):
    g, log = _suspended(api)
    main = api.getcurrent()
    with pytest.raises(TypeError) as info:
        g.throw(*args)
    assert str(info.value) == message
    assert log == []
    assert api.getcurrent() is main
    assert g and not g.dead
    assert g.switch("later") == ("finished", "later")


@pytest.mark.parametrize("args, message", BAD_THROWS)
def test_R10_unstarted_target_stays_unstarted(api, args, message):
    called = []
    g = api.greenlet(lambda: called.append(1))
    with pytest.raises(TypeError) as info:
        g.throw(*args)
    assert str(info.value) == message
    assert called == []
    assert not g and not g.dead


@pytest.mark.parametrize("args, message", BAD_THROWS)
def test_R10_validated_before_run_lookup(api, args, message):
    g = api.greenlet()  # no run: a switch would raise AttributeError('run')
    with pytest.raises(TypeError) as info:
        g.throw(*args)
    assert str(info.value) == message


@pytest.mark.parametrize("args, message", BAD_THROWS)
def test_R10_dead_target(api, args, message):
    p, log = _suspended(api)
    d = _dead(api, parent=p)
    with pytest.raises(TypeError) as info:
        d.throw(*args)
    assert str(info.value) == message
    assert log == []  # the live ancestor was not resumed


def test_R10_no_tracer_event_for_invalid_throw(api, collect):
    g, log = _suspended(api)
    events = []
    # Greenlets of earlier tests that only the GC frees (pytest's own reference
    # cycles keep their frames) are killed when it runs, with their own events.
    collect()
    api.settrace(lambda event, args: events.append(event) if g in args else None)
    try:
        with pytest.raises(TypeError):
            g.throw("bad")
    finally:
        api.settrace(None)
    assert events == []


def test_R10_tb_none_is_accepted(api):
    g, log = _suspended(api)
    with pytest.raises(ValueError, match="x"):
        g.throw(ValueError, "x", None)
    assert len(log) == 1 and isinstance(log[0][1], ValueError)


def test_R10_class_and_value_make_an_instance(api):
    g, log = _suspended(api)
    with pytest.raises(ValueError):
        g.throw(ValueError, "msg")
    exc = log[0][1]
    assert type(exc) is ValueError
    assert exc.args == ("msg",)


def test_R10_class_and_tuple_value_are_constructor_arguments(api):
    g, log = _suspended(api)
    with pytest.raises(ValueError):
        g.throw(ValueError, ("a", "b"))
    assert log[0][1].args == ("a", "b")


def test_R10_class_and_instance_of_it_uses_the_instance(api):
    g, log = _suspended(api)
    k = KeyError("k")
    with pytest.raises(KeyError) as info:
        g.throw(LookupError, k)
    assert info.value is k
    assert log == [("raised", k)]


def test_R10_class_and_unrelated_instance_wraps_it(api):
    g, log = _suspended(api)
    k = KeyError(2)
    with pytest.raises(ValueError) as info:
        g.throw(ValueError, k)
    assert type(info.value) is ValueError
    assert info.value.args[0] is k


def test_R10_instance_alone(api):
    g, log = _suspended(api)
    e = ValueError("inst")
    with pytest.raises(ValueError) as info:
        g.throw(e)
    assert info.value is e
    assert log == [("raised", e)]


def test_R10_traceback_argument_is_kept(api):
    g, log = _suspended(api)
    tb = _a_traceback()
    with pytest.raises(ValueError) as info:
        g.throw(ValueError, None, tb)
    # the supplied traceback is at the end of the chain, in the target and in the caller
    assert _tb_entries(log[0][1].__traceback__)[-1] is tb
    assert _tb_entries(info.value.__traceback__)[-1] is tb


# ------------------------------------------------------------------------------------------
# R11: throw into a suspended greenlet
# ------------------------------------------------------------------------------------------


def test_R11_default_is_greenletexit_and_kills(api):
    g, log = _suspended(api)
    result = g.throw()
    assert type(result) is api.GreenletExit
    assert result.args == ()
    assert log == [("raised", result)]
    assert g.dead and not g


def test_R11_greenletexit_class(api):
    g, log = _suspended(api)
    result = g.throw(api.GreenletExit)
    assert type(result) is api.GreenletExit
    assert g.dead


def test_R11_raised_at_the_pending_switch(api):
    main = api.getcurrent()
    where = []

    def run():
        try:
            main.switch()
        except KeyError:
            tb = sys.exc_info()[2]
            where.append((tb.tb_frame, tb.tb_lineno))
            return "caught"
        return "not thrown"

    g = api.greenlet(run)
    g.switch()
    frame = g.gr_frame
    line = frame.f_lineno
    assert g.throw(KeyError) == "caught"
    assert where == [(frame, line)]


def test_R11_target_can_catch_and_continue(api):
    main = api.getcurrent()

    def run():
        caught = []
        while True:
            try:
                main.switch(list(caught))
            except ValueError as e:
                caught.append(e.args[0])
            except api.GreenletExit:
                return ("exiting", caught)

    g = api.greenlet(run)
    assert g.switch() == []
    assert g.throw(ValueError, 1) == [1]
    assert g.throw(ValueError("2")) == [1, "2"]
    assert g and not g.dead
    assert g.throw() == ("exiting", [1, "2"])
    assert g.dead


def test_R11_uncaught_exception_raised_in_caller(api):
    g, log = _suspended(api)
    err = ValueError("uncaught")
    with pytest.raises(ValueError) as info:
        g.throw(err)
    assert info.value is err
    assert log == [("raised", err)]
    assert g.dead


def test_R11_exception_goes_to_parent_not_thrower(api):
    main = api.getcurrent()
    p, p_log = _suspended(api)
    g, g_log = _suspended(api, parent=p)
    err = KeyError("k")

    def thrower():
        try:
            g.throw(err)
        except KeyError:
            return "thrower caught it"  # must not happen
        return "thrower resumed normally"

    t = api.greenlet(thrower)
    # g dies of err; it goes to p (which re-raises it), then to main.
    with pytest.raises(KeyError) as info:
        t.switch()
    assert info.value is err
    assert g_log == [("raised", err)]
    assert p_log == [("raised", err)]
    assert api.getcurrent() is main
    assert t and not t.dead
    assert t.switch("x") == "thrower resumed normally"


def test_R11_greenletexit_value_goes_to_parent(api):
    p, p_log = _suspended(api)
    g, g_log = _suspended(api, parent=p)
    result = g.throw()
    assert result[0] == "finished"
    exc = result[1]
    assert type(exc) is api.GreenletExit
    assert p_log == [("got", exc)]
    assert g.dead and p.dead


def test_R11_traceback_in_caller_contains_target_frame(api):
    main = api.getcurrent()

    def waiter():
        main.switch()

    g = api.greenlet(waiter)
    g.switch()
    with pytest.raises(ValueError) as info:
        g.throw(ValueError)
    here = __file__
    names = [
        fs.name for fs in traceback.extract_tb(info.value.__traceback__) if fs.filename == here
    ]
    assert names == ["test_R11_traceback_in_caller_contains_target_frame", "waiter"]


def test_R11_throw_to_self_raises_immediately(api):
    main = api.getcurrent()
    with pytest.raises(KeyError):
        main.throw(KeyError("self"))
    assert api.getcurrent() is main

    def run():
        try:
            api.getcurrent().throw(ValueError)
        except ValueError:
            return "caught in self"

    assert api.greenlet(run).switch() == "caught in self"


# ------------------------------------------------------------------------------------------
# R12: throw into an unstarted greenlet
# ------------------------------------------------------------------------------------------


def test_R12_no_run_is_attributeerror_and_stays_unstarted(api):
    g = api.greenlet()
    with pytest.raises(AttributeError) as info:
        g.throw(ValueError)
    assert info.value.args == ("run",)
    assert not g and not g.dead
    g.run = lambda: "ran later"
    assert g.switch() == "ran later"


def test_R12_run_never_called_greenletexit_returned(api):
    called = []
    g = api.greenlet(lambda *a: called.append(a))
    result = g.throw()
    assert type(result) is api.GreenletExit
    assert called == []
    assert g.dead and not g


def test_R12_greenletexit_instance_returned_by_identity(api):
    g = api.greenlet(lambda: None)
    exc = api.GreenletExit("x")
    assert g.throw(exc) is exc
    assert g.dead


def test_R12_greenletexit_subclass_returned(api):
    class MyExit(api.GreenletExit):
        pass

    g = api.greenlet(lambda: None)
    result = g.throw(MyExit)
    assert type(result) is MyExit
    assert g.dead


def test_R12_other_exception_raised_in_caller(api):
    called = []
    g = api.greenlet(lambda: called.append(1))
    err = ValueError("z")
    with pytest.raises(ValueError) as info:
        g.throw(err)
    assert info.value is err
    assert called == []
    assert g.dead and not g


def test_R12_run_is_looked_up_once_but_not_called(api):
    lookups = []
    called = []

    class G(api.greenlet):
        @property
        def run(self):
            lookups.append(1)
            return lambda: called.append(1)

    g = G()
    assert type(g.throw()) is api.GreenletExit
    assert lookups == [1]
    assert called == []
    assert g.dead


def test_R12_run_lookup_error_propagates_to_caller(api):
    err = KeyError("lookup")

    class G(api.greenlet):
        @property
        def run(self):
            raise err

    g = G()
    with pytest.raises(KeyError) as info:
        g.throw(ValueError)
    assert info.value is err
    assert not g and not g.dead


def test_R12_exception_goes_to_parent(api):
    p, p_log = _suspended(api)
    called = []
    g = api.greenlet(lambda: called.append(1), p)
    err = ValueError("to p")
    with pytest.raises(ValueError) as info:
        g.throw(err)
    assert info.value is err
    assert p_log == [("raised", err)]
    assert called == []
    assert g.dead


def test_R12_greenletexit_goes_to_parent_as_value(api):
    p, p_log = _suspended(api)
    g = api.greenlet(lambda: None, p)
    result = g.throw()
    assert result[0] == "finished"
    assert type(result[1]) is api.GreenletExit
    assert p_log == [("got", result[1])]
    assert g.dead


# ------------------------------------------------------------------------------------------
# R13: throw into a dead greenlet
# ------------------------------------------------------------------------------------------


def test_R13_dead_throw_returns_greenletexit_instance(api):
    d = _dead(api)
    result = d.throw()
    assert type(result) is api.GreenletExit
    assert isinstance(result, BaseException)
    assert result.args == ()
    assert d.dead


def test_R13_dead_throw_greenletexit_instance_returned_by_identity(api):
    d = _dead(api)
    exc = api.GreenletExit("x")
    assert d.throw(exc) is exc


def test_R13_dead_throw_greenletexit_class_with_value(api):
    d = _dead(api)
    result = d.throw(api.GreenletExit, "why")
    assert type(result) is api.GreenletExit
    assert result.args == ("why",)


def test_R13_dead_throw_greenletexit_subclass_returned(api):
    class MyExit(api.GreenletExit):
        pass

    d = _dead(api)
    assert type(d.throw(MyExit)) is MyExit


def test_R13_dead_throw_other_exception_raised_in_caller(api):
    d = _dead(api)
    err = ValueError("x")
    with pytest.raises(ValueError) as info:
        d.throw(err)
    assert info.value is err
    assert d.dead


def test_R13_dead_throw_class_raised_in_caller(api):
    d = _dead(api)
    with pytest.raises(KeyError):
        d.throw(KeyError)


def test_R13_dead_throw_routed_to_suspended_parent_as_exception(api):
    p, p_log = _suspended(api)
    d = _dead(api, parent=p)
    err = ValueError("to p")
    with pytest.raises(ValueError) as info:
        d.throw(err)
    assert info.value is err
    assert p_log == [("raised", err)]
    assert p.dead


def test_R13_dead_throw_greenletexit_routed_to_suspended_parent_as_value(api):
    p, p_log = _suspended(api)
    d = _dead(api, parent=p)
    result = d.throw()
    assert result[0] == "finished"
    assert type(result[1]) is api.GreenletExit
    assert p_log == [("got", result[1])]


def test_R13_dead_throw_skips_dead_ancestors(api):
    p, p_log = _suspended(api)
    d1 = _dead(api, parent=p)
    d2 = _dead(api, parent=d1)
    exc = api.GreenletExit("x")
    assert d2.throw(exc) == ("finished", exc)
    assert p_log == [("got", exc)]


def test_R13_dead_throw_from_child_goes_to_main(api):
    main = api.getcurrent()
    d = _dead(api)  # parent: main

    def run():
        d.throw(KeyError("to main"))
        return "child end"

    g = api.greenlet(run)
    with pytest.raises(KeyError, match="to main"):
        g.switch()
    assert api.getcurrent() is main
    assert g and not g.dead


def test_R13_dead_throw_to_unstarted_parent_kills_it_without_running(api):
    called = []
    u = api.greenlet(lambda *a: called.append(a))
    d = _dead(api, parent=u)
    err = ValueError("q")
    with pytest.raises(ValueError) as info:
        d.throw(err)
    assert info.value is err
    assert called == []
    assert u.dead and not u


def test_R10_class_whose_init_raises_throws_that_error_into_the_target(api):
    # Upstream normalizes the exception in the target: the error made while
    # instantiating the class is what the target receives (and may catch).
    class Unmakeable(Exception):
        def __init__(self, *args):
            raise KeyError("init")

    def body():
        try:
            api.getcurrent().parent.switch("ready")
        except KeyError as e:
            return ("caught", e.args)

    for args in ((), ("value",)):
        g = api.greenlet(body)
        assert g.switch() == "ready"
        assert g.throw(Unmakeable, *args) == ("caught", ("init",))
        assert g.dead


def test_R10_class_whose_new_returns_no_exception_throws_typeerror_into_the_target(api):
    class NotAnException(Exception):
        def __new__(cls, *args):
            return 5

    def body():
        try:
            api.getcurrent().parent.switch("ready")
        except TypeError as e:
            return str(e)

    g = api.greenlet(body)
    g.switch()
    assert g.throw(NotAnException) == (
        "calling %r should have returned an instance of BaseException, not int" % NotAnException
    )
