"""The run attribute: its lifetime, the main greenlet's lack of it, and subclasses providing it."""

from __future__ import annotations

import abc

import pytest

AFTER_START = "run cannot be set after the start of the greenlet"
MAIN_NO_RUN = "Main greenlets do not have a run attribute."


def _assert_no_run(g):
    with pytest.raises(AttributeError) as info:
        g.run  # noqa: B018
    assert info.value.args == ("run",)


# --------------------------------------------------------------------------------------
# R36 run before and after the start
# --------------------------------------------------------------------------------------


def test_R36_run_readable_settable_deletable_before_start(api):
    def f():
        return "f"

    def h():
        return "h"

    g = api.greenlet(f)
    assert g.run is f
    g.run = h
    assert g.run is h
    del g.run
    _assert_no_run(g)
    g.run = f
    assert g.switch() == "f"


def test_R36_unset_run_raises_attribute_error_run(api):
    g = api.greenlet()
    _assert_no_run(g)
    with pytest.raises(AttributeError) as info:
        g.switch()
    assert info.value.args == ("run",)


def test_R36_run_none_reads_back_none(api):
    g = api.greenlet(None)
    assert g.run is None
    g = api.greenlet(run=None)
    assert g.run is None


def test_R36_deleted_run_fails_start_and_can_be_set_again(api):
    g = api.greenlet(lambda: 1)
    del g.run
    with pytest.raises(AttributeError):
        g.switch()
    assert not g.dead
    g.run = lambda: 2
    assert g.switch() == 2


def test_R36_run_gone_while_running(api):
    seen = []

    def run():
        me = api.getcurrent()
        try:
            me.run  # noqa: B018
        except AttributeError as e:
            seen.append(e.args)
        try:
            me.run = len
        except AttributeError as e:
            seen.append(str(e))

    api.greenlet(run).switch()
    assert seen == [("run",), AFTER_START]


def test_R36_run_gone_while_suspended(api):
    main = api.getcurrent()
    g = api.greenlet(lambda: main.switch())
    g.switch()
    _assert_no_run(g)
    with pytest.raises(AttributeError) as info:
        g.run = len
    assert str(info.value) == AFTER_START
    with pytest.raises(AttributeError) as info:
        del g.run
    assert str(info.value) == AFTER_START
    g.throw()


def test_R36_run_gone_when_dead(api):
    g = api.greenlet(lambda: None)
    g.switch()
    assert g.dead
    _assert_no_run(g)
    with pytest.raises(AttributeError) as info:
        g.run = len
    assert str(info.value) == AFTER_START
    with pytest.raises(AttributeError) as info:
        del g.run
    assert str(info.value) == AFTER_START


def test_R36_run_gone_after_throw_into_unstarted(api):
    g = api.greenlet(lambda: pytest.fail("run must not be called"))
    result = g.throw()
    assert isinstance(result, api.GreenletExit)
    assert g.dead
    _assert_no_run(g)
    with pytest.raises(AttributeError) as info:
        g.run = len
    assert str(info.value) == AFTER_START


# --------------------------------------------------------------------------------------
# R37 main greenlet
# --------------------------------------------------------------------------------------


def test_R37_main_greenlet_has_no_run(api):
    main = api.getcurrent()
    with pytest.raises(AttributeError) as info:
        main.run  # noqa: B018
    assert str(info.value) == MAIN_NO_RUN
    with pytest.raises(AttributeError) as info:
        main.run = len
    assert str(info.value) == MAIN_NO_RUN
    with pytest.raises(AttributeError) as info:
        del main.run
    assert str(info.value) == MAIN_NO_RUN


def test_R37_suspended_main_greenlet_has_no_run(api):
    main = api.getcurrent()
    seen = []

    def run():
        for op in (lambda: main.run, lambda: setattr(main, "run", len)):
            try:
                op()
            except AttributeError as e:
                seen.append(str(e))

    api.greenlet(run).switch()
    assert seen == [MAIN_NO_RUN, MAIN_NO_RUN]


# --------------------------------------------------------------------------------------
# R43 subclasses and the lookup of run
# --------------------------------------------------------------------------------------


def test_R43_subclass_run_method(api):
    class Sub(api.greenlet):
        def run(self, *args, **kwargs):
            return (self is api.getcurrent(), args, kwargs)

    s = Sub()
    assert s.switch(1, k=2) == (True, (1,), {"k": 2})
    assert s.dead


def test_R43_subclass_run_method_wins_over_constructor_run(api):
    # The class attribute shadows the base type's run descriptor, so the
    # constructor's run is stored but the normal lookup finds the method.
    class Sub(api.greenlet):
        def run(self, x):
            return ("method", x)

    assert Sub(lambda x: ("ctor", x)).switch(1) == ("method", 1)


def test_R43_subclass_instance_attribute_run(api):
    class Sub(api.greenlet):
        def run(self, x):
            return ("method", x)

    s = Sub()
    s.run = lambda x: ("instance", x)
    assert s.__dict__["run"] is s.run
    assert s.switch(2) == ("instance", 2)


def test_R43_abstractmethod_run(api):
    Abstract = abc.ABCMeta(
        "Abstract", (api.greenlet,), {"run": abc.abstractmethod(lambda self: None)}
    )

    class Bad(Abstract):
        pass

    class Good(Abstract):
        def run(self, x):
            return x * 2

    with pytest.raises(TypeError):
        Bad()
    assert Good().switch(21) == 42


def test_R43_run_descriptor_evaluated_at_first_switch(api):
    calls = []

    class Prop(api.greenlet):
        @property
        def run(self):
            calls.append("get")
            return lambda *a: ("prop", a)

    p = Prop()
    assert calls == []
    assert p.switch(3) == ("prop", (3,))
    assert calls == ["get"]


def test_R43_getattribute_sees_run_lookup_once(api):
    class Spy(api.greenlet):
        seen: list = []

        def __getattribute__(self, name):
            type(self).seen.append(name)
            return api.greenlet.__getattribute__(self, name)

    g = Spy(lambda: "done")
    Spy.seen.clear()
    assert g.switch() == "done"
    assert Spy.seen.count("run") == 1


def test_R43_getattribute_sees_only_user_lookups(api):
    # Upstream's state lives in C, so a subclass __getattribute__ sees the
    # attribute lookups of the user's code plus the one of run, nothing else.
    class Spy(api.greenlet):
        seen: list = []

        def __getattribute__(self, name):
            type(self).seen.append(name)
            return api.greenlet.__getattribute__(self, name)

    g = Spy(lambda: "done")
    assert Spy.seen == []
    assert g.switch() == "done"
    assert Spy.seen == ["switch", "run"]
    Spy.seen.clear()
    repr(g)
    bool(g)
    assert g.dead
    assert Spy.seen == ["dead"]


def test_R43_restrictive_getattribute_does_not_break_switching(run_script):
    # A subclass that hides private names must still work as a greenlet (in a
    # fresh interpreter: a broken implementation fails in __del__ too).
    proc = run_script(
        """
        class Strict(greenlet):
            def __getattribute__(self, name):
                if name.startswith("_") and name not in ("__dict__", "__class__"):
                    raise AttributeError(name)
                return greenlet.__getattribute__(self, name)

        main = getcurrent()
        g = Strict(lambda x: main.switch(x + 1))
        print(g.switch(1), bool(g))
        print(isinstance(g.throw(), GreenletExit), g.dead)
        del g
        import gc
        gc.collect()
        print("end")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == ["2 True", "True True", "end"]


def test_R43_getattribute_error_on_run_raised_in_caller(api):
    class Raiser(api.greenlet):
        def __getattribute__(self, name):
            if name == "run":
                raise KeyError("nope")
            return api.greenlet.__getattribute__(self, name)

    g = Raiser(lambda: pytest.fail("not called"))
    with pytest.raises(KeyError):
        g.switch()
    assert (bool(g), g.dead) == (False, False)
    # R12: throw looks run up too; the lookup error reaches the caller.
    with pytest.raises(KeyError):
        g.throw(ValueError)
    assert (bool(g), g.dead) == (False, False)


def test_R43_getattribute_run_switches_to_other_greenlet(api):
    main = api.getcurrent()
    log = []

    def helper():
        log.append("helper")
        main.switch("from helper")  # goes back into the pending lookup

    h = api.greenlet(helper)

    class Looky(api.greenlet):
        def __getattribute__(self, name):
            if name == "run":
                log.append(("lookup", h.switch()))
            return api.greenlet.__getattribute__(self, name)

        def run(self, x):
            log.append(("run", x))
            return x + 1

    assert Looky().switch(1) == 2
    assert log == ["helper", ("lookup", "from helper"), ("run", 1)]
    h.throw()


def test_R43_started_reentrantly_during_lookup_not_started_twice(api):
    class Convoluted(api.greenlet):
        def __init__(self):
            api.greenlet.__init__(self)
            self.count = 0
            self.got = []

        def __getattribute__(self, name):
            if name == "run" and object.__getattribute__(self, "count") == 0:
                self.count = 1
                self.got.append(("inner switch returned", self.switch(43)))
            return api.greenlet.__getattribute__(self, name)

        def run(self, value):
            self.got.append(("run", value))
            while True:
                value = self.parent.switch(value)
                self.got.append(("resumed", value))

    c = Convoluted()
    # The inner switch starts it with 43; the outer one then resumes it with 42.
    assert c.switch(42) == 42
    assert c.got == [("run", 43), ("inner switch returned", 43), ("resumed", 42)]
    assert c.switch(44) == 44
    assert c.got[-1] == ("resumed", 44)
    assert isinstance(c.throw(), api.GreenletExit)
    assert c.dead


def test_R43_initialstub_already_started(run_script):
    # Upstream's fail_initialstub_already_started scenario: C starts B; B's run
    # lookup switches to B itself (starting it), B switches to main; when C
    # resumes, its pending start of B becomes an ordinary switch to B.
    proc = run_script(
        """
        main = getcurrent()
        results = []

        def a_run(*args):
            results.append(("Begin A", args))

        def c_run():
            results.append("Begin C")
            results.append(("C got", b.switch("From C")))
            results.append("C done")

        class B(greenlet):
            doing_it = False

            def __getattribute__(self, name):
                if name == "run" and not self.doing_it:
                    self.doing_it = True
                    results.append(("lookup in C", getcurrent() is c))
                    results.append(("lookup got", b.switch()))
                if name == "run":
                    name = "_B_run"
                return object.__getattribute__(self, name)

            def _B_run(self, *args):
                results.append(("Begin B", args))
                results.append(("B got", main.switch("From B")))

        a = greenlet(a_run)
        b = B(parent=a)
        c = greenlet(c_run, b)
        results.append(("main from c", c.switch()))
        results.append(("main from c.1", c.switch("x")))
        results.append(("dead", a.dead, b.dead, c.dead))
        results.append(("main from c.2", c.switch()))
        results.append(("dead", a.dead, b.dead, c.dead))
        print("RESULTS", results)
        """,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    expected = [
        "Begin C",
        ("lookup in C", True),
        ("Begin B", ()),
        ("main from c", "From B"),
        ("lookup got", "x"),
        ("B got", "From C"),
        ("Begin A", (None,)),
        ("main from c.1", None),
        ("dead", True, True, False),
        ("C got", ()),
        "C done",
        ("main from c.2", None),
        ("dead", True, True, True),
    ]
    assert proc.stdout.strip() == "RESULTS " + repr(expected)


def test_R36_run_none_is_called_like_any_run(api):
    """greenlet(None) starts like any greenlet: calling None fails in it, and it dies."""
    g = api.greenlet(None)
    with pytest.raises(TypeError, match=r"^'NoneType' object is not callable$"):
        g.switch()
    assert g.dead
    # a child whose parent's run is None starts that parent with its result (R7)
    parent = api.greenlet(None)
    child = api.greenlet(lambda: 42, parent=parent)
    with pytest.raises(TypeError, match=r"^'NoneType' object is not callable$"):
        child.switch()
    assert child.dead and parent.dead
