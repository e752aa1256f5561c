"""The C API: every slot of the _C_API table, called from C by the _pyg_capi_test extension.

Each C function behaves as its Python counterpart, so tests named after a
rule check that rule through the C API.  Reference counts are checked by
calling a function many times and comparing ``sys.getrefcount`` of the
objects involved before and after.  Backends without a C API skip.
"""

from __future__ import annotations

import gc
import importlib
import sys
import threading
import weakref

import pytest
from capi_build import capsule_name, capsule_pointer

BAD_ARGUMENT = "bad argument type for built-in operation"
KILL_MESSAGE = "Killing the greenlet because all references have vanished."
LOOPS = 1000


def refcounts(objs):
    return [sys.getrefcount(o) for o in objs]


def assert_no_leak(fn, *objs, loops=LOOPS):
    """Call fn() *loops* times: the reference counts of *objs* must not change."""
    for _ in range(10):  # warm up caches, free lists, lazily made objects
        fn()
    before = refcounts(objs)
    for _ in range(loops):
        fn()
    after = refcounts(objs)
    assert after == before, list(zip(objs, before, after))


def parked(api):
    """A started greenlet suspended in a switch to its parent, and its log.

    It loops forever: each value it receives is logged and it switches back
    to its parent with ("got", value).
    """
    log = []

    def run():
        parent = api.getcurrent().parent
        value = parent.switch("parked")
        while True:
            log.append(value)
            value = parent.switch(("got", value))

    g = api.greenlet(run)
    assert g.switch() == "parked"
    return g, log


def dead(api):
    d = api.greenlet(lambda: "done")
    assert d.switch() == "done"
    return d


def in_other_thread(api, fn):
    """Run fn() in a new thread that has a greenlet suspended there; return (data, finish).

    data has the thread's "main" and "suspended" greenlets and fn's "result".
    The thread waits until finish() is called, then lets its greenlet end
    and exits.
    """
    ready = threading.Event()
    release = threading.Event()
    data = {}

    def target():
        data["main"] = api.getcurrent()
        g = api.greenlet(lambda: api.getcurrent().parent.switch())
        g.switch()
        data["suspended"] = g
        data["result"] = fn()
        ready.set()
        release.wait(30)
        g.switch()

    t = threading.Thread(target=target)
    t.start()
    assert ready.wait(30)

    def finish():
        release.set()
        t.join(30)

    return data, finish


# ---- the table ---------------------------------------------------------------


def test_capi_extension_imported_the_backends_table(capi, capsule):
    # PyGreenlet_Import() found the very table of the backend under test
    assert capi.CAPSULE_NAME == capsule_name(capsule)
    assert capi.table_address() == capsule_pointer(capsule)
    assert capi.API_POINTERS == 12
    assert capi.GREENLET_VERSION == "1.0.0"
    slots = [capi.slot_address(i) for i in range(12)]
    assert all(slots), slots
    assert len(set(slots[3:])) == 9, "the nine functions are distinct"


def test_capi_capsule_is_reachable_by_its_name(capsule):
    # PyCapsule_Import(name) imports the module part and takes the attribute
    module, attr = capsule_name(capsule).rsplit(".", 1)
    assert attr == "_C_API"
    assert getattr(importlib.import_module(module), attr) is capsule


def test_capi_type_and_exception_slots(capi, api):
    assert capi.greenlet_type() is api.greenlet
    assert capi.error_type() is api.error
    assert capi.exit_type() is api.GreenletExit


def test_capi_header_layout_matches_the_type(capi, api):
    size, weaklist, dict_ = capi.layout()
    assert api.greenlet.__basicsize__ == size
    assert api.greenlet.__itemsize__ == 0
    assert api.greenlet.__weakrefoffset__ == weaklist
    assert api.greenlet.__dictoffset__ == dict_


def test_R41_capi_struct_dict_field_is_the_instance_dict(capi, api):
    g = api.greenlet()
    g.x = 1
    assert capi.struct_fields(g)[1] is g.__dict__
    replacement = {"y": 2}
    g.__dict__ = replacement
    assert capi.struct_fields(g)[1] is replacement


def test_R42_capi_struct_weakreflist_field_holds_the_weakrefs(capi, api):
    g = api.greenlet()
    assert capi.struct_fields(g)[0] is True
    r = weakref.ref(g)
    assert capi.struct_fields(g)[0] is False
    del r
    assert capi.struct_fields(g)[0] is True


def test_capi_check_accepts_greenlets_and_subclasses(capi, api):
    class Sub(api.greenlet):
        pass

    assert capi.check(api.greenlet())
    assert capi.check(Sub())
    assert capi.check(api.getcurrent())
    for other in (1, None, "greenlet", api.greenlet, object()):
        assert not capi.check(other)
    assert not capi.check(capi.NULL)


# ---- PyGreenlet_New ----------------------------------------------------------


def test_R47_capi_new_without_arguments(capi, api):
    g = capi.new()
    assert type(g) is api.greenlet
    assert g.parent is api.getcurrent()
    assert not g and not g.dead
    with pytest.raises(AttributeError):
        g.run  # noqa: B018


def test_R8_capi_new_without_run_cannot_start(capi, api):
    g = capi.new()
    with pytest.raises(AttributeError) as info:
        g.switch()
    assert info.value.args == ("run",)
    assert capi.flags(g) == (0, 0, 0)
    g.run = lambda: "late"
    assert g.switch() == "late"


def test_R47_capi_new_with_run_and_parent(capi, api):
    def run(*args, **kwargs):
        return ("ran", args, kwargs)

    p = api.greenlet(lambda v: ("parent got", v))
    g = capi.new(run, p)
    assert type(g) is api.greenlet
    assert g.run is run
    assert g.parent is p
    # run's result goes to the (unstarted) parent, which starts with it (R7)
    assert g.switch(1, k=2) == ("parent got", ("ran", (1,), {"k": 2}))


def test_R47_capi_new_with_parent_only(capi, api):
    p = api.greenlet()
    g = capi.new(capi.NULL, p)
    assert g.parent is p
    with pytest.raises(AttributeError):
        g.run  # noqa: B018


def test_R36_capi_new_with_run_none(capi, api):
    g = capi.new(None)
    assert g.run is None
    with pytest.raises(TypeError, match="'NoneType' object is not callable"):
        g.switch()
    assert g.dead


def test_R21_capi_new_inside_a_greenlet_gets_it_as_parent(capi, api):
    def run():
        return capi.new().parent is api.getcurrent()

    assert api.greenlet(run).switch() is True


@pytest.mark.parametrize("value", [1, "x", object(), "the type"])
def test_R15_capi_new_parent_must_be_a_greenlet(capi, api, value):
    if value == "the type":
        value = api.greenlet  # the type itself is not a greenlet
    with pytest.raises(TypeError) as info:
        capi.new(capi.NULL, value)
    assert str(info.value) == (
        "GreenletChecker: Expected any type of greenlet, not %s" % type(value).__name__
    )


def test_R18_capi_new_with_parent_of_another_thread(capi, api):
    data, finish = in_other_thread(api, lambda: None)
    try:
        g = capi.new(lambda: "never", data["main"])
        assert g.parent is data["main"]
        with pytest.raises(api.error):
            g.switch()
        assert capi.flags(g) == (0, 0, 0)
    finally:
        finish()


def test_capi_new_does_not_leak(capi, api):
    def run():
        pass

    parent = api.greenlet()

    def make():
        g = capi.new(run, parent)
        assert g.parent is parent

    assert_no_leak(make, run, parent)


def test_capi_new_started_greenlet_does_not_leak(capi, api):
    result = object()

    def run(x):
        return result

    arg = object()
    assert_no_leak(lambda: capi.new(run).switch(arg), run, arg, result)


def test_R23_capi_greenlet_dropped_by_c_code_is_killed(capi, api):
    # PyGreenlet_New, PyGreenlet_Switch, then Py_DECREF of the only
    # reference while the greenlet is suspended: it is killed before
    # new_and_switch returns
    main = api.getcurrent()
    events = []

    def run(x):
        try:
            main.switch(("parked", x))
        except api.GreenletExit as e:
            events.append((e.args, api.getcurrent().parent is main))
            raise
        finally:
            events.append("finally")

    assert capi.new_and_switch(run, capi.NULL, (1,)) == ("parked", 1)
    assert events == [((KILL_MESSAGE,), True), "finally"]


# ---- PyGreenlet_GetCurrent ---------------------------------------------------


def test_R21_capi_getcurrent_is_getcurrent(capi, api):
    assert capi.getcurrent() is api.getcurrent()
    g = api.greenlet(lambda: capi.getcurrent())
    assert g.switch() is g


def test_R21_capi_getcurrent_in_another_thread(capi, api):
    data, finish = in_other_thread(api, capi.getcurrent)
    try:
        assert data["result"] is data["main"]
        assert data["result"] is not api.getcurrent()
    finally:
        finish()


def test_capi_getcurrent_does_not_leak(capi, api):
    me = api.getcurrent()
    assert_no_leak(capi.getcurrent, me)

    def inside():
        g = api.getcurrent()
        assert_no_leak(capi.getcurrent, g)
        return "ok"

    assert api.greenlet(inside).switch() == "ok"


# ---- PyGreenlet_Switch -------------------------------------------------------

NULL = object()  # stands for the module's NULL in parametrizations

R1_PACKING = [
    (NULL, NULL, ()),
    ((), NULL, ()),
    ((7,), NULL, 7),
    ((1, 2), NULL, (1, 2)),
    (((1, 2),), NULL, (1, 2)),
    (((),), NULL, ()),
    ((), {"k": 1}, {"k": 1}),
    (NULL, {"k": 1}, {"k": 1}),
    ((1,), {"k": 1}, ((1,), {"k": 1})),
    ((1, 2), {"k": 1}, ((1, 2), {"k": 1})),
    ((), {}, ()),
    ((1,), {}, 1),
    # kwargs that are not a dict are ignored
    ((1,), [("k", 1)], 1),
    ((1, 2), "k", (1, 2)),
    (NULL, 5, ()),
]


def c_args(capi, *values):
    return tuple(capi.NULL if v is NULL else v for v in values)


@pytest.mark.parametrize("args, kwargs, expected", R1_PACKING)
def test_R1_capi_switch_to_suspended_child_packs(capi, api, args, kwargs, expected):
    g, log = parked(api)
    assert capi.switch(g, *c_args(capi, args, kwargs)) == ("got", expected)
    assert log == [expected]


@pytest.mark.parametrize("args, kwargs, expected", R1_PACKING)
def test_R1_capi_switch_to_parent_packs(capi, api, args, kwargs, expected):
    main = api.getcurrent()
    g = api.greenlet(lambda: capi.switch(main, *c_args(capi, args, kwargs)))
    assert g.switch() == expected


def test_R1_capi_switch_single_value_by_identity(capi, api):
    g, log = parked(api)
    value = object()
    assert capi.switch(g, (value,))[1] is value
    kwargs = {"k": value}
    got = capi.switch(g, (), kwargs)[1]
    assert got == kwargs and got["k"] is value


@pytest.mark.parametrize(
    "args, kwargs, expected",
    [
        (NULL, NULL, ((), {})),
        ((1, 2), NULL, ((1, 2), {})),
        ((1,), {"k": 2}, ((1,), {"k": 2})),
        (NULL, {"k": 2}, ((), {"k": 2})),
        ((1,), [1], ((1,), {})),
        (((1, 2),), NULL, (((1, 2),), {})),
    ],
)
def test_R2_capi_switch_starts_with_run_star_args(capi, api, args, kwargs, expected):
    g = api.greenlet(lambda *a, **k: (a, k))
    assert capi.switch(g, *c_args(capi, args, kwargs)) == expected
    assert g.dead


def test_R3_capi_switch_to_self(capi, api):
    me = api.getcurrent()
    assert capi.switch(me, (5,)) == 5
    assert capi.switch(me) == ()
    assert capi.switch(me, (1,), {"k": 2}) == ((1,), {"k": 2})


def test_R4_capi_switch_returns_result_of_run(capi, api):
    result = ("a", "tuple")
    g = api.greenlet(lambda: result)
    assert capi.switch(g) is result


def test_R5_capi_switch_raises_the_childs_exception(capi, api):
    exc = ValueError("boom")

    def run():
        raise exc

    with pytest.raises(ValueError) as info:
        capi.switch(api.greenlet(run))
    assert info.value is exc


def test_R6_capi_switch_greenletexit_is_a_value(capi, api):
    exc = api.GreenletExit("bye")

    def run():
        raise exc

    assert capi.switch(api.greenlet(run)) is exc


def test_R9_capi_switch_to_dead_greenlet(capi, api):
    d = dead(api)
    assert capi.switch(d, (7,)) == 7
    assert capi.switch(d) == ()
    g, log = parked(api)
    d2 = dead(api)
    capi.setparent(d2, g)
    assert capi.switch(d2, (3,)) == ("got", 3)


def test_R20_capi_switch_to_another_thread(capi, api):
    data, finish = in_other_thread(api, lambda: None)
    try:
        for g in (data["main"], data["suspended"]):
            with pytest.raises(api.error, match="^Cannot switch to a different thread"):
                capi.switch(g, (1,))
            assert capi.flags(g)[2] == 1
    finally:
        finish()


def test_capi_switch_bypasses_a_python_override(capi, api):
    calls = []

    class Sub(api.greenlet):
        def switch(self, *args, **kwargs):
            calls.append(args)
            return super().switch(*args, **kwargs)

    g = Sub(lambda x: x * 2)
    assert capi.switch(g, (21,)) == 42
    assert calls == []
    h = Sub(lambda x: x * 2)
    assert h.switch(21) == 42
    assert calls == [(21,)]


@pytest.mark.parametrize("target", [1, None, "g", NULL])
def test_capi_switch_to_non_greenlet_is_bad_argument(capi, api, target):
    target = capi.NULL if target is NULL else target
    with pytest.raises(TypeError) as info:
        capi.switch(target, (1,))
    assert str(info.value) == BAD_ARGUMENT


def test_capi_switch_between_greenlets_does_not_leak(capi, api):
    g, log = parked(api)
    value = object()
    args = (value,)
    kwargs = {"k": value}

    def both():
        log.clear()
        assert capi.switch(g, args)[1] is value
        assert capi.switch(g, args, kwargs)[1] == ((value,), {"k": value})

    assert_no_leak(both, value, args, kwargs, g)


def test_capi_switch_start_and_finish_does_not_leak(capi, api):
    value = object()
    result = object()
    args = (value,)
    kwargs = {"k": value}

    def run(v, k):
        assert v is value and k is value
        return result

    def once():
        g = api.greenlet(run)
        assert capi.switch(g, args, kwargs) is result
        assert g.dead

    assert_no_leak(once, value, result, args, kwargs, run)


def test_capi_switch_exception_does_not_leak(capi, api):
    exc = ValueError("x")

    def run():
        raise exc

    def once():
        with pytest.raises(ValueError):
            capi.switch(api.greenlet(run))
        exc.__traceback__ = None

    assert_no_leak(once, exc, run)


# ---- C code in greenlets -----------------------------------------------------


def test_capi_c_run_switches_from_c(capi, api):
    # run is a C function that switches to its parent through the API; the C
    # stack it leaves (buffer, locals) must come back intact each time
    g = capi.new(capi.ping_parent)
    got = [g.switch(5)]

    def clobber(n):
        # use the C stack that g's C frames occupied, from Python and from
        # another greenlet, before resuming g
        return n if n == 0 else clobber(n - 1) + 1

    for i in range(4):
        assert clobber(200) == 200
        assert api.greenlet(clobber).switch(150) == 150
        got.append(g.switch(10 * i))
    assert got == [0, 1, 2, 3, 4]
    assert g.switch(40) == 0 + 10 + 20 + 30 + 40
    assert g.dead


def test_capi_both_sides_in_c(capi, api):
    g = capi.new(capi.ping_parent)
    assert g.switch(6) == 0
    # the main greenlet switches from C too: sends 0..5, gets 1..5 and the sum
    assert capi.switch_in_c(g, 6) == [1, 2, 3, 4, 5, 15]
    assert g.dead


def test_R11_capi_throw_into_greenlet_suspended_in_c(capi, api):
    g = capi.new(capi.ping_parent)
    assert g.switch(3) == 0
    exc = KeyError("into C")
    with pytest.raises(KeyError) as info:
        capi.throw(g, exc)
    assert info.value is exc
    assert g.dead


def test_R23_capi_greenlet_suspended_in_c_is_killed(capi, api):
    # GreenletExit comes out of PyGreenlet_Switch in C, which returns NULL
    g = capi.new(capi.ping_parent)
    assert g.switch(3) == 0
    r = weakref.ref(g)
    del g
    gc.collect()
    assert r() is None


def test_capi_c_run_does_not_leak(capi, api):
    def once():
        g = capi.new(capi.ping_parent)
        assert g.switch(3) == 0
        assert capi.switch_in_c(g, 3) == [1, 2, 3]

    parent = api.getcurrent()
    assert_no_leak(once, parent, capi.ping_parent, loops=300)


# ---- PyGreenlet_Throw --------------------------------------------------------


def test_capi_throw_without_greenlet_is_bad_argument(capi, api):
    for target in (1, None, capi.NULL):
        with pytest.raises(TypeError) as info:
            capi.throw(target, ValueError)
        assert str(info.value) == BAD_ARGUMENT


def _traceback():
    try:
        raise KeyError
    except KeyError as e:
        return e.__traceback__


@pytest.mark.parametrize(
    "typ, val, tb, message",
    [
        (ValueError, NULL, 1, "throw() third argument must be a traceback object"),
        (ValueError, "v", "tb", "throw() third argument must be a traceback object"),
        (ValueError(), 1, NULL, "instance exception may not have a separate value"),
        ("boom", NULL, NULL, "exceptions must be classes, or instances, not str"),
        (None, NULL, NULL, "exceptions must be classes, or instances, not NoneType"),
        (int, NULL, NULL, "exceptions must be classes, or instances, not type"),
    ],
)
def test_R10_capi_throw_validation(capi, api, typ, val, tb, message):
    run_calls = []
    unstarted = api.greenlet(lambda: run_calls.append(1))
    g, log = parked(api)
    for target in (unstarted, g, dead(api)):
        flags = capi.flags(target)
        with pytest.raises(TypeError) as info:
            capi.throw(target, *c_args(capi, typ, val, tb))
        assert str(info.value) == message
        assert capi.flags(target) == flags
    assert log == [] and run_calls == []


def test_R10_capi_throw_builds_the_exception(capi, api):
    main = api.getcurrent()
    caught = []

    def run():
        while True:
            try:
                main.switch()
            except Exception as e:
                caught.append(e)

    g = api.greenlet(run)
    g.switch()
    capi.throw(g, ValueError)
    capi.throw(g, ValueError, "v")
    capi.throw(g, ValueError, (1, 2))
    inst = ValueError("same")
    capi.throw(g, ValueError, inst)
    capi.throw(g, inst)
    other = KeyError("other")
    capi.throw(g, ValueError, other)
    tb = _traceback()
    capi.throw(g, ValueError, capi.NULL, tb)
    capi.throw(g, ValueError, capi.NULL, None)
    assert [type(e) for e in caught] == [ValueError] * 8
    assert [e.args for e in caught[:3]] == [(), ("v",), (1, 2)]
    assert caught[3] is inst and caught[4] is inst
    assert caught[5].args == (other,)
    t = caught[6].__traceback__
    while t.tb_next is not None:
        t = t.tb_next
    assert t is tb


def test_R11_capi_throw_greenletexit_kills(capi, api):
    g, log = parked(api)
    result = capi.throw(g, api.GreenletExit)
    assert isinstance(result, api.GreenletExit) and result.args == ()
    assert g.dead and log == []


def test_R11_capi_throw_uncaught_goes_to_parent(capi, api):
    g, log = parked(api)
    with pytest.raises(ZeroDivisionError):
        capi.throw(g, ZeroDivisionError, "x")
    assert g.dead


def test_R11_capi_throw_to_self_raises_at_once(capi, api):
    exc = KeyError("self")
    with pytest.raises(KeyError) as info:
        capi.throw(api.getcurrent(), exc)
    assert info.value is exc


def test_R12_capi_throw_into_unstarted(capi, api):
    calls = []
    g = api.greenlet(lambda: calls.append(1))
    result = capi.throw(g, api.GreenletExit("early"))
    assert isinstance(result, api.GreenletExit) and result.args == ("early",)
    assert g.dead and calls == []
    h = capi.new()
    with pytest.raises(AttributeError) as info:
        capi.throw(h, ValueError)
    assert info.value.args == ("run",)
    assert capi.flags(h) == (0, 0, 0)


def test_R13_capi_throw_into_dead(capi, api):
    exc = api.GreenletExit("again")
    assert capi.throw(dead(api), exc) is exc
    with pytest.raises(ValueError, match="^x$"):
        capi.throw(dead(api), ValueError, "x")


def test_R20_capi_throw_into_another_thread(capi, api):
    data, finish = in_other_thread(api, lambda: None)
    try:
        with pytest.raises(api.error, match="^Cannot switch to a different thread"):
            capi.throw(data["suspended"], ValueError)
        assert not data["suspended"].dead
    finally:
        finish()


def test_capi_throw_does_not_leak(capi, api):
    main = api.getcurrent()
    exc = ValueError("caught")
    value = "v"

    def run():
        while True:
            try:
                main.switch("parked")
            except ValueError as e:
                e.__traceback__ = None

    g = api.greenlet(run)
    g.switch()

    def both():
        assert capi.throw(g, exc) == "parked"
        assert capi.throw(g, ValueError, value) == "parked"

    assert_no_leak(both, exc, value, ValueError, g)
    tb = _traceback()
    assert_no_leak(lambda: capi.throw(g, ValueError, capi.NULL, tb), tb)

    def unstarted_kill():
        e = api.GreenletExit()
        assert capi.throw(api.greenlet(lambda: None), e) is e

    assert_no_leak(unstarted_kill, api.GreenletExit)


# ---- PyGreenlet_SetParent and PyGreenlet_GetParent ---------------------------


def test_R4_capi_setparent(capi, api):
    g = api.greenlet(lambda: "to the new parent")
    p = api.greenlet(lambda v: ("new parent got", v))
    assert capi.setparent(g, p) == 0
    assert g.parent is p
    assert capi.getparent(g) is p
    assert g.switch() == ("new parent got", "to the new parent")


def test_R14_capi_setparent_null_is_deletion(capi, api):
    g, _ = parked(api)
    for target in (api.greenlet(), g, dead(api), api.getcurrent()):
        before = target.parent
        with pytest.raises(AttributeError) as info:
            capi.setparent(target, capi.NULL)
        assert str(info.value) == "can't delete attribute"
        assert target.parent is before


@pytest.mark.parametrize("value", [1, None, "p", object()])
def test_R15_capi_setparent_to_non_greenlet(capi, api, value):
    g = api.greenlet()
    with pytest.raises(TypeError) as info:
        capi.setparent(g, value)
    assert str(info.value) == (
        "GreenletChecker: Expected any type of greenlet, not %s" % type(value).__name__
    )
    assert g.parent is api.getcurrent()


def test_R15_capi_setparent_to_subclass_instance(capi, api):
    class Sub(api.greenlet):
        pass

    g = api.greenlet()
    s = Sub()
    assert capi.setparent(g, s) == 0
    assert g.parent is s


def test_R16_capi_setparent_cycle(capi, api):
    a = api.greenlet()
    b = api.greenlet(parent=a)
    for g, p in ((a, a), (a, b)):
        before = g.parent
        with pytest.raises(ValueError) as info:
            capi.setparent(g, p)
        assert str(info.value) == "cyclic parent chain"
        assert g.parent is before


def test_R18_capi_setparent_started_greenlet_to_another_thread(capi, api):
    data, finish = in_other_thread(api, lambda: None)
    try:
        g, _ = parked(api)
        for target in (g, dead(api)):
            with pytest.raises(ValueError) as info:
                capi.setparent(target, data["main"])
            assert str(info.value) == "parent cannot be on a different thread"
            assert target.parent is api.getcurrent()
        # an unstarted greenlet may take it
        u = api.greenlet()
        assert capi.setparent(u, data["suspended"]) == 0
        assert capi.getparent(u) is data["suspended"]
    finally:
        finish()


def test_R19_capi_setparent_of_main_greenlet(capi, api):
    main = api.getcurrent()
    for value in (main, api.greenlet(), 1):
        with pytest.raises(AttributeError) as info:
            capi.setparent(main, value)
        assert str(info.value) == "cannot set the parent of a main greenlet"


def test_R19_capi_getparent_of_main_is_null_without_exception(capi, api):
    # the wrapper returns capi.NULL only for a NULL result with no exception
    assert capi.getparent(api.getcurrent()) is capi.NULL
    data, finish = in_other_thread(api, lambda: capi.getparent(api.getcurrent()))
    try:
        assert data["result"] is capi.NULL
        assert capi.getparent(data["main"]) is capi.NULL
        assert capi.getparent(data["suspended"]) is data["main"]
    finally:
        finish()


def test_capi_getparent_of_user_greenlets(capi, api):
    main = api.getcurrent()
    g, _ = parked(api)
    assert capi.getparent(api.greenlet()) is main
    assert capi.getparent(g) is main
    assert capi.getparent(dead(api)) is main
    p = api.greenlet()
    assert capi.getparent(api.greenlet(parent=p)) is p
    inner = api.greenlet(lambda: capi.getparent(api.getcurrent()))
    assert inner.switch() is main


@pytest.mark.parametrize("target", [1, None, NULL])
def test_capi_getparent_of_non_greenlet_is_bad_argument(capi, target):
    target = capi.NULL if target is NULL else target
    with pytest.raises(TypeError) as info:
        capi.getparent(target)
    assert str(info.value) == BAD_ARGUMENT


def test_capi_parent_functions_do_not_leak(capi, api):
    p1, p2 = api.greenlet(), api.greenlet()
    g = api.greenlet(parent=p1)
    main = api.getcurrent()

    def flip():
        assert capi.setparent(g, p2) == 0
        assert capi.getparent(g) is p2
        assert capi.setparent(g, p1) == 0
        assert capi.getparent(g) is p1
        assert capi.getparent(main) is capi.NULL

    assert_no_leak(flip, g, p1, p2, main)

    bad = object()

    def fail():
        with pytest.raises(ValueError):
            capi.setparent(p1, g)
        with pytest.raises(TypeError):
            capi.setparent(g, bad)

    assert_no_leak(fail, g, p1, bad)


# ---- PyGreenlet_MAIN, PyGreenlet_STARTED, PyGreenlet_ACTIVE ------------------


def test_R39_capi_flags_follow_the_states(capi, api):
    main = api.getcurrent()
    seen = []

    def run():
        seen.append(capi.flags(api.getcurrent()))
        seen.append(capi.flags(main))
        main.switch()

    g = api.greenlet(run)
    assert capi.flags(g) == (0, 0, 0)  # unstarted
    g.switch()
    assert seen == [(0, 1, 1), (1, 1, 1)]  # running; the suspended main
    assert capi.flags(g) == (0, 1, 1)  # suspended
    g.switch()
    assert capi.flags(g) == (0, 1, 0)  # dead
    assert capi.flags(main) == (1, 1, 1)
    assert [capi.is_main(g), capi.is_started(g), capi.is_active(g)] == [0, 1, 0]
    assert bool(g) is False and g.dead


def test_R8_capi_flags_after_failed_start(capi, api):
    g = capi.new()
    with pytest.raises(AttributeError):
        g.switch()
    assert capi.flags(g) == (0, 0, 0)


def test_R12_capi_flags_after_throw_into_unstarted(capi, api):
    g = api.greenlet(lambda: None)
    g.throw()
    assert capi.flags(g) == (0, 1, 0)


def test_R21_capi_flags_of_other_threads_greenlets(capi, api):
    data, finish = in_other_thread(api, lambda: capi.flags(api.getcurrent()))
    try:
        assert data["result"] == (1, 1, 1)
        assert capi.flags(data["main"]) == (1, 1, 1)
        assert capi.flags(data["suspended"]) == (0, 1, 1)
    finally:
        finish()


@pytest.mark.parametrize("fn", ["is_main", "is_started", "is_active"])
@pytest.mark.parametrize("target", [1, None, NULL, "greenlet"])
def test_capi_flags_of_non_greenlet_are_bad_argument(capi, fn, target):
    target = capi.NULL if target is NULL else target
    with pytest.raises(TypeError) as info:
        getattr(capi, fn)(target)
    assert str(info.value) == BAD_ARGUMENT


# ---- crash-prone checks, in a subprocess ------------------------------------


def _check(proc, expected_stdout):
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    assert proc.stderr == "", proc.stderr[-4000:]
    assert proc.stdout == expected_stdout, proc.stdout[-4000:]


@pytest.mark.parametrize("target", [1, None, "g"])
def test_R15_capi_setparent_target_not_a_greenlet(capi, api, target):
    # the greenlet argument is checked as a new parent would be
    with pytest.raises(TypeError) as info:
        capi.setparent(target, api.getcurrent())
    assert str(info.value) == (
        "GreenletChecker: Expected any type of greenlet, not %s" % type(target).__name__
    )


def test_capi_setparent_of_null(capi_script, upstream_bug):
    upstream_bug("PyGreenlet_SetParent(NULL, parent) dereferences NULL (segfault)")
    proc = capi_script(
        """
        for parent in (getcurrent(), capi.NULL):
            try:
                capi.setparent(capi.NULL, parent)
            except TypeError:
                print("TypeError")
        """
    )
    _check(proc, "TypeError\n" * 2)


def test_R23_capi_kill_of_greenlet_suspended_in_c_at_exit(capi_script):
    # greenlets suspended inside C code (ping_parent) when the interpreter
    # exits, and one dropped there: no crash, no output
    proc = capi_script(
        """
        keep = []
        for n in (2, 3):
            g = capi.new(capi.ping_parent)
            assert g.switch(n) == 0
            keep.append(g)
        g = capi.new(capi.ping_parent)
        assert g.switch(2) == 0
        del g
        collect_garbage()
        print("done")
        """
    )
    _check(proc, "done\n")


def test_R22_capi_not_active_after_thread_exit(capi_script):
    # in a subprocess: a greenlet stays suspended in a thread that exits
    proc = capi_script(
        """
        import threading, time

        def wait_dead(g):
            deadline = time.monotonic() + 20
            while not g.dead and time.monotonic() < deadline:
                time.sleep(0.001)
                collect_garbage(1)
            assert g.dead, repr(g)

        kept = []

        def worker():
            g = greenlet(lambda: getcurrent().parent.switch())
            g.switch()
            kept.extend([getcurrent(), g])

        t = threading.Thread(target=worker)
        t.start()
        t.join(30)
        for g in kept:
            wait_dead(g)
            print(capi.is_active(g), bool(g))
        """
    )
    _check(proc, "0 False\n0 False\n")


class _TupleSub(tuple):
    """A tuple subclass whose Python-level length and items would lie."""

    def __len__(self):
        return 99

    def __getitem__(self, i):
        raise AssertionError("the switch must read the tuple itself")


def test_R1_capi_switch_with_a_tuple_subclass_as_args(capi, api):
    # PyGreenlet_Switch takes any tuple as args.  The receiver gets it as it
    # gets an exact tuple (R1), read at C level, whether it was parked in a
    # greenlet's start (its parent here) or in a later switch.
    main = api.getcurrent()
    pair, one = _TupleSub((1, 2)), _TupleSub(("x",))
    got = []

    def child():
        got.append(capi.switch(main, pair))  # main parked starting us
        got.append(capi.switch(main, one))  # main parked in a resumption
        return "done"

    g = api.greenlet(child)
    first = g.switch()
    assert first is pair
    assert g.switch() == "x"
    assert api.getcurrent() is main
    assert g.switch() == "done"
    assert api.greenlet(lambda: 42).switch() == 42
