"""The ``parent`` attribute: deletion, type, cycle, collected-chain and thread rules (R14-R19)."""

from __future__ import annotations

import ctypes
import gc
import threading
import weakref

import pytest


def _suspended(api):
    """Return a started greenlet suspended in its first switch back to us."""
    g = api.greenlet(lambda: api.getcurrent().parent.switch())
    g.switch()
    return g


def _finish(g):
    """Let a greenlet made by _suspended() run to its end."""
    g.switch()
    assert g.dead


def _dead(api):
    g = api.greenlet(lambda: None)
    g.switch()
    assert g.dead
    return g


class _OtherThread:
    """A thread that keeps a main greenlet, a suspended and an unstarted greenlet alive."""

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
        g.switch()  # let it finish in its own thread

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(30)
        return self.data

    def __exit__(self, *exc):
        self.release.set()
        self.thread.join(30)
        assert not self.thread.is_alive()
        self.data.clear()


def _collected_parentless(api):
    """Return an unstarted greenlet whose parent was cleared by the cyclic GC.

    The greenlet is in a garbage cycle (through its ``__dict__``); its
    ``__del__`` gives it a ``run`` object that holds a weak reference to it.
    The GC clears the greenlet (dropping its parent, then its run), and the
    run object's ``__del__`` resurrects the greenlet through that weak
    reference (made after the GC cleared the old weak references), or on
    CPython 3.14, which clears it too, through the greenlet's address.
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


# --------------------------------------------------------------------------------------
# R14: deleting the parent
# --------------------------------------------------------------------------------------


def test_R14_delete_parent_of_unstarted(api):
    g = api.greenlet(lambda: None)
    with pytest.raises(AttributeError) as info:
        del g.parent
    assert str(info.value) == "can't delete attribute"
    assert g.parent is api.getcurrent()


def test_R14_delete_parent_of_suspended_and_dead(api):
    g = _suspended(api)
    with pytest.raises(AttributeError) as info:
        del g.parent
    assert str(info.value) == "can't delete attribute"
    assert g.parent is api.getcurrent()
    _finish(g)
    with pytest.raises(AttributeError) as info:
        del g.parent
    assert str(info.value) == "can't delete attribute"
    assert g.parent is api.getcurrent()


def test_R14_delete_parent_of_running_greenlet(api):
    def run():
        me = api.getcurrent()
        try:
            del me.parent
        except AttributeError as e:
            return str(e), me.parent

    main = api.getcurrent()
    assert api.greenlet(run).switch() == ("can't delete attribute", main)


def test_R14_R19_delete_parent_of_main_greenlet(api):
    # Deleting is checked before main-ness: the message is the delete one.
    main = api.getcurrent()
    with pytest.raises(AttributeError) as info:
        del main.parent
    assert str(info.value) == "can't delete attribute"
    assert main.parent is None


# --------------------------------------------------------------------------------------
# R15: the new parent must be a greenlet
# --------------------------------------------------------------------------------------

_NOT_GREENLETS = [None, 1, "42", object(), threading.Event, [None]]


@pytest.mark.parametrize("value", _NOT_GREENLETS, ids=lambda v: type(v).__name__)
def test_R15_parent_must_be_a_greenlet_unstarted(api, value):
    g = api.greenlet(lambda: None)
    with pytest.raises(TypeError) as info:
        g.parent = value
    assert str(info.value) == (
        "GreenletChecker: Expected any type of greenlet, not " + type(value).__name__
    )
    assert g.parent is api.getcurrent()


def test_R15_parent_must_be_a_greenlet_suspended(api):
    g = _suspended(api)
    for value in _NOT_GREENLETS:
        with pytest.raises(TypeError) as info:
            g.parent = value
        assert str(info.value) == (
            "GreenletChecker: Expected any type of greenlet, not " + type(value).__name__
        )
    assert g.parent is api.getcurrent()
    _finish(g)


def test_R15_none_is_rejected_even_though_constructor_accepts_it(api):
    main = api.getcurrent()
    g = api.greenlet(lambda: None, None)  # parent=None in the constructor: current greenlet
    assert g.parent is main
    with pytest.raises(TypeError) as info:
        g.parent = None
    assert str(info.value) == "GreenletChecker: Expected any type of greenlet, not NoneType"


def test_R15_subclass_instances_are_accepted(api):
    class Sub(api.greenlet):
        pass

    p = Sub(lambda x: x * 2)
    g = api.greenlet(lambda: 21, parent=p)
    assert g.parent is p
    g2 = api.greenlet(lambda: 5)
    g2.parent = p
    assert g2.parent is p
    # the child's result starts the unstarted parent (R7), which returns to us
    assert g.switch() == 42


# --------------------------------------------------------------------------------------
# R16: cycles
# --------------------------------------------------------------------------------------


def test_R16_trivial_cycle(api):
    g = api.greenlet(lambda: None)
    with pytest.raises(ValueError) as info:
        g.parent = g
    assert str(info.value) == "cyclic parent chain"
    assert g.parent is api.getcurrent()


def test_R16_deeper_cycle(api):
    g1 = api.greenlet(lambda: None)
    g2 = api.greenlet(lambda: None)
    g3 = api.greenlet(lambda: None)
    g1.parent = g2
    g2.parent = g3
    with pytest.raises(ValueError) as info:
        g3.parent = g1
    assert str(info.value) == "cyclic parent chain"
    assert g3.parent is api.getcurrent()
    assert g1.parent is g2 and g2.parent is g3


def test_R16_cycle_through_running_greenlet(api):
    def run():
        me = api.getcurrent()
        child = api.greenlet(lambda: None)  # child.parent is me
        try:
            me.parent = child
        except ValueError as e:
            return str(e), me.parent

    main = api.getcurrent()
    assert api.greenlet(run).switch() == ("cyclic parent chain", main)


def test_R16_cycle_through_suspended_and_dead_greenlets(api):
    s = _suspended(api)
    d = _dead(api)
    d.parent = s  # allowed: same thread, no cycle
    assert d.parent is s
    with pytest.raises(ValueError) as info:
        s.parent = d
    assert str(info.value) == "cyclic parent chain"
    assert s.parent is api.getcurrent()
    _finish(s)


def test_R16_main_greenlet_check_comes_first(api):
    main = api.getcurrent()
    with pytest.raises(AttributeError) as info:
        main.parent = main
    assert str(info.value) == "cannot set the parent of a main greenlet"


# --------------------------------------------------------------------------------------
# R17: a chain that ends in a collected greenlet
# --------------------------------------------------------------------------------------


def test_R17_parent_cleared_by_gc_is_none(api, cpython_only):
    cpython_only("gc-clear")
    g = _collected_parentless(api)
    assert g.parent is None
    assert not g and not g.dead


def test_R17_parent_must_not_be_garbage_collected(api, cpython_only):
    cpython_only("gc-clear")
    g = _collected_parentless(api)
    x = api.greenlet(lambda: None)
    with pytest.raises(ValueError) as info:
        x.parent = g
    assert str(info.value) == "parent must not be garbage collected"
    assert x.parent is api.getcurrent()


def test_R17_longer_chain_ending_in_collected_greenlet(api, cpython_only):
    cpython_only("gc-clear")
    g = _collected_parentless(api)
    # The collected greenlet is the root of a chain of ordinary greenlets.
    middle = api.greenlet(lambda: None)
    x = api.greenlet(lambda: None)
    x.parent = middle  # fine: middle's chain ends in our main greenlet
    with pytest.raises(ValueError) as info:
        middle.parent = g
    assert str(info.value) == "parent must not be garbage collected"
    assert middle.parent is api.getcurrent()


def test_R17_collected_greenlet_can_get_a_new_parent(api, cpython_only):
    # Giving the collected greenlet a live parent repairs its chain.
    cpython_only("gc-clear")
    g = _collected_parentless(api)
    main = api.getcurrent()
    g.parent = main
    assert g.parent is main
    x = api.greenlet(lambda: None)
    x.parent = g
    assert x.parent is g


# --------------------------------------------------------------------------------------
# R18: threads
# --------------------------------------------------------------------------------------


def test_R18_started_greenlet_parent_on_other_thread(api):
    g = _suspended(api)
    with _OtherThread(api) as other:
        for name in ("main", "suspended", "unstarted"):
            with pytest.raises(ValueError) as info:
                g.parent = other[name]
            assert str(info.value) == "parent cannot be on a different thread"
            assert g.parent is api.getcurrent()
    _finish(g)


def test_R18_dead_greenlet_parent_on_other_thread(api):
    g = _dead(api)
    with _OtherThread(api) as other:
        with pytest.raises(ValueError) as info:
            g.parent = other["main"]
        assert str(info.value) == "parent cannot be on a different thread"
        assert g.parent is api.getcurrent()


def test_R18_running_greenlet_parent_on_other_thread(api):
    with _OtherThread(api) as other:

        def run():
            me = api.getcurrent()
            try:
                me.parent = other["main"]
            except ValueError as e:
                return str(e)

        assert api.greenlet(run).switch() == "parent cannot be on a different thread"


def test_R18_unstarted_may_take_parent_of_other_thread_then_switch_fails(api):
    ran = []
    g = api.greenlet(lambda: ran.append(1))
    with _OtherThread(api) as other:
        g.parent = other["main"]
        assert g.parent is other["main"]
        with pytest.raises(api.error) as info:
            g.switch()
        assert str(info.value).startswith("Cannot switch to a different thread\n\tCurrent:  ")
        with pytest.raises(api.error):
            g.throw(ValueError)
        assert not g and not g.dead
        # Through a suspended greenlet of the other thread too.
        g.parent = other["suspended"]
        with pytest.raises(api.error):
            g.switch()
    assert ran == []
    # Taking a parent of this thread again makes it usable.
    g.parent = api.getcurrent()
    assert g.switch() is None
    assert ran == [1]


def test_R18_unstarted_parent_of_exited_thread(api):
    kept = {}

    def worker():
        kept["main"] = api.getcurrent()

    t = threading.Thread(target=worker)
    t.start()
    t.join(30)
    assert not t.is_alive()
    g = api.greenlet(lambda: None)
    g.parent = kept["main"]
    assert g.parent is kept["main"]
    with pytest.raises(api.error):
        g.switch()
    s = _suspended(api)
    with pytest.raises(ValueError) as info:
        s.parent = kept["main"]
    assert str(info.value) == "parent cannot be on a different thread"
    _finish(s)


def test_R18_same_thread_reparenting_of_started_greenlet_is_allowed(api):
    p = _suspended(api)
    g = api.greenlet(lambda: api.getcurrent().parent.switch("first") or "done")
    assert g.switch() == "first"
    g.parent = p
    assert g.parent is p
    # g ends: its result goes to p's pending switch; p returns it and ends back here.
    assert g.switch() == "done"
    assert g.dead and p.dead


# --------------------------------------------------------------------------------------
# R19: main greenlets
# --------------------------------------------------------------------------------------


def test_R19_main_greenlet_parent_is_none(api):
    main = api.getcurrent()
    assert main.parent is None

    def run():
        return api.getcurrent().parent.parent

    assert api.greenlet(run).switch() is None


@pytest.mark.parametrize("kind", ["greenlet", "None", "int", "self"])
def test_R19_main_greenlet_parent_cannot_be_set(api, kind):
    main = api.getcurrent()
    value = {
        "greenlet": api.greenlet(lambda: None),
        "None": None,
        "int": 1,
        "self": main,
    }[kind]
    with pytest.raises(AttributeError) as info:
        main.parent = value
    assert str(info.value) == "cannot set the parent of a main greenlet"
    assert main.parent is None


def test_R19_main_greenlet_of_other_thread(api):
    with _OtherThread(api) as other:
        m = other["main"]
        assert m.parent is None
        with pytest.raises(AttributeError) as info:
            m.parent = api.getcurrent()
        assert str(info.value) == "cannot set the parent of a main greenlet"
        with pytest.raises(AttributeError) as info:
            del m.parent
        assert str(info.value) == "can't delete attribute"


def test_R19_main_greenlet_parent_from_inside_a_greenlet(api):
    main = api.getcurrent()

    def run():
        try:
            main.parent = api.getcurrent()
        except AttributeError as e:
            return str(e)

    assert api.greenlet(run).switch() == "cannot set the parent of a main greenlet"
    assert main.parent is None
