"""The greenlet type as an object: API surface, bool/dead, pickling, __dict__, weakrefs."""

from __future__ import annotations

import copy
import gc
import importlib
import pickle
import platform
import re
import struct
import sys
import weakref

import pytest

PYPY = platform.python_implementation() == "PyPy"

API_NAMES = ("greenlet", "getcurrent", "GreenletExit", "error", "settrace", "gettrace")


def _suspended(api):
    """Return a started greenlet that is parked in its first switch back to the caller."""
    main = api.getcurrent()
    g = api.greenlet(lambda: main.switch())
    g.switch()
    return g


def _finished(api):
    g = api.greenlet(lambda: None)
    g.switch()
    return g


# --------------------------------------------------------------------------------------
# §1.1 / §1.2 API surface
# --------------------------------------------------------------------------------------


def test_api_module_has_all_names(api):
    for name in API_NAMES:
        assert hasattr(api, name), name
    assert isinstance(api.greenlet, type)
    assert callable(api.getcurrent) and callable(api.settrace) and callable(api.gettrace)
    assert isinstance(api.getcurrent(), api.greenlet)


def test_package_version_is_str_and_names_exported(api):
    # The package that defines the type (found through the type, not by name).
    pkg = importlib.import_module(api.greenlet.__module__)
    assert isinstance(pkg.__version__, str)
    assert re.match(r"^\d+\.\d+", pkg.__version__)
    exported = set(pkg.__all__)
    for name in ("__version__",) + API_NAMES:
        assert name in exported, name
        assert hasattr(pkg, name), name
    assert pkg.GreenletExit is api.GreenletExit
    assert pkg.error is api.error
    assert isinstance(pkg.greenlet, type)


def test_type_has_no_main_attribute(api):
    main = api.getcurrent()
    assert not hasattr(main, "main")
    assert not hasattr(main, "gr_main")


# --------------------------------------------------------------------------------------
# R39 bool / dead
# --------------------------------------------------------------------------------------


def test_R39_unstarted_is_false_and_not_dead(api):
    g = api.greenlet(lambda: None)
    assert (bool(g), g.dead) == (False, False)


def test_R39_running_is_true_and_not_dead(api):
    seen = []

    def run():
        me = api.getcurrent()
        seen.append((bool(me), me.dead))

    g = api.greenlet(run)
    g.switch()
    assert seen == [(True, False)]


def test_R39_suspended_is_true_and_not_dead(api):
    g = _suspended(api)
    assert (bool(g), g.dead) == (True, False)
    g.throw()
    assert (bool(g), g.dead) == (False, True)


def test_R39_finished_by_return_is_false_and_dead(api):
    g = _finished(api)
    assert (bool(g), g.dead) == (False, True)


def test_R39_finished_by_exception_is_false_and_dead(api):
    def run():
        raise KeyError("boom")

    g = api.greenlet(run)
    with pytest.raises(KeyError):
        g.switch()
    assert (bool(g), g.dead) == (False, True)


def test_R39_main_greenlet_is_true_and_not_dead(api):
    main = api.getcurrent()
    assert (bool(main), main.dead) == (True, False)
    seen = []
    g = api.greenlet(lambda: seen.append((bool(main), main.dead)))
    g.switch()
    assert seen == [(True, False)]  # suspended main


def test_R39_failed_start_stays_unstarted(api):
    g = api.greenlet()
    with pytest.raises(AttributeError):
        g.switch()
    assert (bool(g), g.dead) == (False, False)


# --------------------------------------------------------------------------------------
# R40 pickle / copy
# --------------------------------------------------------------------------------------

_SERIALIZE_BASE = re.compile(r"cannot serialize '[\w.]*greenlet' object")


@pytest.mark.parametrize("state", ["unstarted", "suspended", "dead", "main"])
def test_R40_copy_and_deepcopy_raise(api, state):
    g = {
        "unstarted": lambda: api.greenlet(lambda: None),
        "suspended": lambda: _suspended(api),
        "dead": lambda: _finished(api),
        "main": api.getcurrent,
    }[state]()
    for op in (copy.copy, copy.deepcopy):
        with pytest.raises(TypeError) as info:
            op(g)
        assert _SERIALIZE_BASE.fullmatch(str(info.value)), str(info.value)
    if state == "suspended":
        g.throw()


def test_R40_getstate_raises(api):
    with pytest.raises(TypeError) as info:
        api.greenlet().__getstate__()
    assert _SERIALIZE_BASE.fullmatch(str(info.value)), str(info.value)


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_R40_pickle_raises(api, protocol):
    with pytest.raises(TypeError) as info:
        pickle.dumps(api.greenlet(), protocol)
    assert _SERIALIZE_BASE.fullmatch(str(info.value)), str(info.value)


@pytest.mark.parametrize("protocol", [0, 1])
def test_R40_pickle_old_protocols_raise_type_error(api, protocol):
    # upstream's message comes from copyreg, which names a C base type by its short name
    with pytest.raises(TypeError, match=r"^cannot pickle 'greenlet' object$"):
        pickle.dumps(api.greenlet(), protocol)

    class MyGreenlet(api.greenlet):
        pass

    with pytest.raises(TypeError, match=r"^cannot serialize 'MyGreenlet' object$"):
        pickle.dumps(MyGreenlet(), protocol)


def test_R40_subclass_message_uses_class_name(api):
    class MyGreenlet(api.greenlet):
        pass

    for op in (copy.copy, copy.deepcopy, pickle.dumps):
        with pytest.raises(TypeError) as info:
            op(MyGreenlet())
        assert str(info.value) == "cannot serialize 'MyGreenlet' object"


# --------------------------------------------------------------------------------------
# R41 __dict__
# --------------------------------------------------------------------------------------


def test_R41_instance_attributes_live_in_dict(api):
    g = api.greenlet()
    assert g.__dict__ == {}
    g.x = 1
    assert g.__dict__ == {"x": 1}


def test_R41_dict_is_made_when_first_used_and_then_kept(api):
    # the compiled type makes a greenlet's __dict__ only when something uses it
    g = api.greenlet()
    g.y = 2  # before anything read __dict__
    assert vars(g) == {"y": 2} and g.y == 2
    h = api.greenlet()
    d = h.__dict__
    assert d == {} and h.__dict__ is d
    h.z = 3
    assert d == {"z": 3}

    class NoInit(api.greenlet):
        def __init__(self):
            pass  # never calls greenlet.__init__

    k = NoInit()
    assert k.__dict__ == {} and k.parent is api.getcurrent()
    k.w = 4
    assert vars(k) == {"w": 4}


def test_R41_dict_settable_to_dict(api):
    g = api.greenlet()
    d = {"a": 1}
    g.__dict__ = d
    assert g.a == 1
    assert g.__dict__ is d


def test_R41_dict_settable_to_dict_subclass(api):
    class D(dict):
        pass

    g = api.greenlet()
    g.__dict__ = D(b=2)
    assert g.b == 2
    assert type(g.__dict__) is D


@pytest.mark.parametrize("value", [5, None, [("a", 1)], "x"])
def test_R41_dict_set_to_non_dict_raises(api, value):
    g = api.greenlet()
    g.keep = 1
    with pytest.raises(TypeError) as info:
        g.__dict__ = value
    assert str(info.value) == "__dict__ must be a dictionary"
    assert g.keep == 1


def test_R41_dict_delete_raises(api):
    g = api.greenlet()
    g.keep = 1
    with pytest.raises(TypeError) as info:
        del g.__dict__
    assert str(info.value) == "__dict__ may not be deleted"
    assert g.__dict__ == {"keep": 1}


def test_R41_any_attribute_name_belongs_to_the_user(run_script):
    # Instance and subclass attributes never clash with the greenlet's own state.
    proc = run_script(
        """
        names = ["_s", "_state", "_impl", "_run", "_parent", "_main", "_started"]
        ns = {name: "class-" + name for name in names}
        ns["run"] = lambda self, x: ("ran", x)
        Sub = type("Sub", (greenlet,), ns)
        s = Sub()
        print(s.switch(1), [getattr(s, n) == "class-" + n for n in names])
        g = greenlet(lambda: getcurrent().parent.switch("parked"))
        for n in names:
            setattr(g, n, "inst-" + n)
        print(g.switch(), sorted(g.__dict__) == sorted(names))
        print(isinstance(g.throw(), GreenletExit), g.dead)
        del s, g
        import gc
        gc.collect()
        print("end")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [
        "('ran', 1) " + repr([True] * 7),
        "parked True",
        "True True",
        "end",
    ]


def test_R41_main_greenlet_has_dict(api):
    seen = []

    def run():
        main = api.getcurrent().parent
        main.note = "n"
        seen.append(main.__dict__.get("note"))

    api.greenlet(run).switch()
    main = api.getcurrent()
    assert seen == ["n"]
    assert main.note == "n"
    del main.note


# --------------------------------------------------------------------------------------
# R42 weak references
# --------------------------------------------------------------------------------------


def test_R42_weakref_to_running_and_main(api):
    main = api.getcurrent()
    assert weakref.ref(main)() is main
    seen = []

    def run():
        me = api.getcurrent()
        seen.append(weakref.ref(me)() is me)

    api.greenlet(run).switch()
    assert seen == [True]


def test_R42_unstarted_weakref_cleared(api, collect):
    calls = []
    g = api.greenlet(lambda: None)
    r = weakref.ref(g, calls.append)
    assert r() is g
    del g
    gc.collect()
    collect(pypy_only=True)  # PyPy calls the callback a collection after the finalizer
    assert r() is None
    assert calls == [r]


def test_R42_dead_weakref_cleared(api):
    g = _finished(api)
    r = weakref.ref(g)
    del g
    gc.collect()
    assert r() is None


def test_R42_weak_proxy(api):
    g = api.greenlet(lambda: 6)
    p = weakref.proxy(g)
    assert p.switch() == 6
    assert p.dead
    del g
    gc.collect()
    with pytest.raises(ReferenceError):
        p.switch()


def test_R42_weakref_alive_during_kill_then_cleared(api, collect):
    main = api.getcurrent()
    seen = []

    def victim():
        try:
            main.switch()
        except api.GreenletExit as e:
            seen.append((r() is api.getcurrent(), str(e)))

    g = api.greenlet(victim)
    g.switch()
    r = weakref.ref(g, lambda ref: seen.append("callback"))
    del g
    gc.collect()
    collect(pypy_only=True)
    # PyPy clears weak references to an object before its finalizer runs, and
    # calls their callbacks before or after it, in an order of its own
    alive_during_kill = not PYPY
    expected = [
        (alive_during_kill, "Killing the greenlet because all references have vanished."),
        "callback",
    ]
    if PYPY:
        assert sorted(seen, key=repr) == sorted(expected, key=repr)
    else:
        assert seen == expected
    assert r() is None


def test_R42_weak_value_dictionary(api):
    d = weakref.WeakValueDictionary()
    g = api.greenlet(lambda: None)
    d["g"] = g
    assert d["g"] is g
    del g
    gc.collect()
    assert "g" not in d


# --------------------------------------------------------------------------------------
# R44 names reachable through the type
# --------------------------------------------------------------------------------------


def test_R44_module_names_on_the_type(api):
    t = api.greenlet
    assert t.GreenletExit is api.GreenletExit
    assert t.error is api.error
    assert t.getcurrent() is api.getcurrent()
    assert api.greenlet().getcurrent() is api.getcurrent()


def test_R44_getcurrent_takes_no_arguments(api):
    for args, kwargs in (((1,), {}), ((), {"x": 1})):
        with pytest.raises(TypeError, match=r"getcurrent\(\)"):
            api.getcurrent(*args, **kwargs)
    assert api.greenlet.getcurrent.__name__ == api.getcurrent.__name__ == "getcurrent"


def test_R44_settrace_gettrace_on_the_type(api):
    events = []

    def tracer(event, args):
        events.append(event)

    old = api.greenlet.settrace(tracer)
    try:
        assert api.greenlet.gettrace() is tracer
        assert api.gettrace() is tracer
        api.greenlet(lambda: None).switch()
    finally:
        assert api.greenlet.settrace(old) is tracer
    assert api.gettrace() is old
    assert events == ["switch", "switch"]


# --------------------------------------------------------------------------------------
# R45 exception hierarchy
# --------------------------------------------------------------------------------------


def test_R45_greenlet_exit_is_base_exception_not_exception(api):
    assert issubclass(api.GreenletExit, BaseException)
    assert not issubclass(api.GreenletExit, Exception)
    with pytest.raises(api.GreenletExit):
        try:
            raise api.GreenletExit("x")
        except Exception:  # must not catch it
            pytest.fail("GreenletExit caught by 'except Exception'")


def test_R45_error_is_exception(api):
    assert issubclass(api.error, Exception)
    assert not issubclass(api.error, api.GreenletExit)
    assert not issubclass(api.GreenletExit, api.error)
    assert api.error.__name__ == "error"
    assert api.GreenletExit.__name__ == "GreenletExit"


def test_R45_except_exception_in_greenlet_does_not_swallow_kill(api):
    main = api.getcurrent()
    seen = []

    def run():
        try:
            main.switch()
        except Exception:
            seen.append("swallowed")
        seen.append("after")

    g = api.greenlet(run)
    g.switch()
    result = g.throw()
    assert isinstance(result, api.GreenletExit)
    assert seen == []
    assert g.dead


# --------------------------------------------------------------------------------------
# R46 _stack_saved
# --------------------------------------------------------------------------------------


def test_R46_stack_saved_zero_for_running_and_main(api):
    main = api.getcurrent()
    assert type(main._stack_saved) is int
    assert main._stack_saved == 0
    seen = []
    g = api.greenlet(lambda: seen.append(api.getcurrent()._stack_saved))
    g.switch()
    assert seen == [0]


def test_R46_stack_saved_nonnegative_int_in_every_state(api):
    g = api.greenlet(lambda: None)
    assert g._stack_saved == 0
    s = _suspended(api)
    assert type(s._stack_saved) is int
    assert s._stack_saved >= 0
    s.throw()
    assert s._stack_saved == 0
    assert _finished(api)._stack_saved == 0


def test_R46_overwritten_stack_is_saved(api, known_difference):
    """A greenlet started where a suspended one's stack was has copied that stack away."""
    known_difference("stack-saved-zero")
    main = api.getcurrent()
    a = api.greenlet(lambda: main.switch())
    b = api.greenlet(lambda: main.switch())
    a.switch()
    b.switch()  # starts at the depth where a's stack is: a's part goes to the heap
    assert a._stack_saved > 0
    a.switch()  # a runs again (its stack restored) and finishes
    assert a.dead and a._stack_saved == 0
    b.switch()


def test_R46_stack_saved_read_only(api):
    g = api.greenlet()
    with pytest.raises(AttributeError):
        g._stack_saved = 1


# --------------------------------------------------------------------------------------
# R47 constructor
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs, n",
    [
        ((None, None, None), {}, 3),
        ((1, 2, 3, 4), {}, 4),
        ((None, None), {"foo": 1}, 3),
        ((None,), {"parent": None, "foo": 1}, 3),
    ],
)
def test_R47_too_many_arguments(api, args, kwargs, n):
    with pytest.raises(TypeError) as info:
        api.greenlet(*args, **kwargs)
    assert str(info.value) == f"green() takes at most 2 arguments ({n} given)"


def test_R47_invalid_keyword(api):
    with pytest.raises(TypeError) as info:
        api.greenlet(foo=1)
    if sys.version_info >= (3, 13):  # the interpreter's parser reworded it
        assert str(info.value) == "green() got an unexpected keyword argument 'foo'"
    else:
        assert str(info.value) == "'foo' is an invalid keyword argument for green()"


def test_R47_argument_given_twice(api):
    with pytest.raises(TypeError) as info:
        api.greenlet(None, run=None)
    assert str(info.value) == "argument for green() given by name ('run') and position (1)"


def test_R47_positional_and_keyword_arguments(api):
    main = api.getcurrent()
    p = api.greenlet(lambda *a: ("p", a))
    g1 = api.greenlet(len, p)
    g2 = api.greenlet(run=len, parent=p)
    for g in (g1, g2):
        assert g.run is len
        assert g.parent is p
    assert api.greenlet(parent=None).parent is main
    assert api.greenlet().parent is main
    # run is not checked for being callable at construction
    assert api.greenlet(run=5).run == 5


def test_R47_subclass_init_without_base_init(api):
    class NoInit(api.greenlet):
        def __init__(self, x):
            self.x = x

        def run(self):
            return self.x, self.parent

    main = api.getcurrent()
    n = NoInit(5)
    assert n.parent is main
    assert n.switch() == (5, main)
    assert n.dead

    def child():
        inner = NoInit(7)
        return inner.parent is api.getcurrent(), inner.switch()

    c = api.greenlet(child)
    assert c.switch() == (True, (7, c))


# --------------------------------------------------------------------------------------
# R48 the C layout
# --------------------------------------------------------------------------------------


def test_R48_layout_is_upstreams_c_struct(api, known_difference, cpython_only):
    cpython_only("refcounting")  # PyPy's object layout is its own
    known_difference("c-layout")
    ptr = struct.calcsize("P")
    t = api.greenlet
    assert (t.__basicsize__, t.__weakrefoffset__, t.__dictoffset__) == (5 * ptr, 2 * ptr, 3 * ptr)
    assert t.__flags__ & (1 << 10)  # Py_TPFLAGS_BASETYPE: C code may subclass it
    assert t.__flags__ & (1 << 14)  # Py_TPFLAGS_HAVE_GC
    assert not t.__flags__ & (1 << 9)  # not a heap type: a static C type, as upstream's
    assert hasattr(api, "_C_API")


def test_R48_type_name_and_module(api):
    t = api.greenlet
    assert t.__name__ == "greenlet" and t.__qualname__ == "greenlet"
    assert repr(t) == "<class '%s.greenlet'>" % t.__module__
    assert repr(api.getcurrent()).startswith("<%s.greenlet object at 0x" % t.__module__)


def test_R48_subclass_keeps_the_layout_and_adds_its_own(api):
    class Sub(api.greenlet):
        __slots__ = ("extra",)

    g = Sub(lambda: 5)
    g.extra = 1
    g.other = 2  # the base's __dict__ still works
    assert g.switch() == 5 and g.extra == 1 and g.__dict__ == {"other": 2}
    if not PYPY:  # PyPy's types have no C layout to compare
        assert Sub.__basicsize__ > api.greenlet.__basicsize__
