"""switch() argument packing, run(*args, **kwargs) on start, switching to oneself (R1-R3)."""

from __future__ import annotations

import pytest

# (positional args, keyword args, what the receiving side gets)
PACKING = [
    pytest.param((), {}, (), id="nothing"),
    pytest.param((1,), {}, 1, id="one"),
    pytest.param((None,), {}, None, id="one-None"),
    pytest.param((1, 2), {}, (1, 2), id="two"),
    pytest.param(((1, 2),), {}, (1, 2), id="one-tuple"),
    pytest.param(((1,),), {}, (1,), id="one-1-tuple"),
    pytest.param(((),), {}, (), id="one-empty-tuple"),
    pytest.param((), {"k": 1}, {"k": 1}, id="kwargs"),
    pytest.param((), {"k": 1, "j": 2}, {"k": 1, "j": 2}, id="two-kwargs"),
    pytest.param((1,), {"k": 1}, ((1,), {"k": 1}), id="one-and-kwargs"),
    pytest.param((1, 2), {"k": 1}, ((1, 2), {"k": 1}), id="two-and-kwargs"),
]


def _send_to_suspended_child(api, args, kwargs):
    """Switch args/kwargs into a child suspended in switch(); return what it received."""
    main = api.getcurrent()
    received = []

    def run():
        received.append(main.switch("parked"))
        return "done"

    g = api.greenlet(run)
    assert g.switch() == "parked"
    assert g.switch(*args, **kwargs) == "done"
    assert g.dead
    assert len(received) == 1
    return received[0]


@pytest.mark.parametrize("args, kwargs, expected", PACKING)
def test_R1_suspended_child_receives_packed_args(api, args, kwargs, expected):
    got = _send_to_suspended_child(api, args, kwargs)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize("args, kwargs, expected", PACKING)
def test_R1_parent_receives_packed_args(api, args, kwargs, expected):
    main = api.getcurrent()

    def run():
        main.switch(*args, **kwargs)

    g = api.greenlet(run)
    got = g.switch()
    assert got == expected
    assert type(got) is type(expected)
    assert not g.dead and g


def test_R1_no_arguments_give_empty_tuple_not_none(api):
    got = _send_to_suspended_child(api, (), {})
    assert got == ()
    assert got is not None


def test_R1_empty_kwargs_treated_as_absent(api):
    assert _send_to_suspended_child(api, (), {}) == ()
    main = api.getcurrent()

    def run():
        a = main.switch()
        b = main.switch()
        return a, b

    g = api.greenlet(run)
    g.switch()
    g.switch(**{})
    assert g.switch(5, **{}) == ((), 5)


def test_R1_single_value_is_passed_by_identity(api):
    obj = object()
    assert _send_to_suspended_child(api, (obj,), {}) is obj
    lst = [1]
    assert _send_to_suspended_child(api, (lst,), {}) is lst


def test_R1_kwargs_values_are_passed_by_identity(api):
    obj = object()
    got = _send_to_suspended_child(api, (), {"x": obj})
    assert type(got) is dict
    assert got["x"] is obj


@pytest.mark.parametrize(
    "value",
    [5, None, (), (5,), (1, 2), {"k": 1}, ((1,), {"k": 1})],
    ids=["int", "None", "empty-tuple", "1-tuple", "2-tuple", "dict", "args-kwargs-shape"],
)
def test_R1_return_value_reaches_parent_unchanged(api, value):
    g = api.greenlet(lambda: value)
    got = g.switch()
    assert got == value
    assert type(got) is type(value)
    assert g.dead


def test_R1_return_value_is_the_same_object(api):
    obj = object()
    assert api.greenlet(lambda: obj).switch() is obj


def test_R1_packing_is_the_same_in_both_directions_repeatedly(api):
    main = api.getcurrent()
    log = []

    def run(*a, **k):
        log.append((a, k))
        log.append(main.switch())
        log.append(main.switch(1))
        log.append(main.switch(1, 2))
        log.append(main.switch(k=3))
        return main.switch(1, k=3)

    g = api.greenlet(run)
    assert g.switch() == ()
    assert g.switch(1, 2) == 1
    assert g.switch(x=1) == (1, 2)
    assert g.switch() == {"k": 3}
    assert g.switch(7) == ((1,), {"k": 3})
    assert g.switch("last") == "last"
    assert g.dead
    assert log == [((), {}), (1, 2), {"x": 1}, (), 7]


# ------------------------------------------------------------------------------------------
# R2: an unstarted target is called as run(*args, **kwargs)
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, kwargs",
    [
        pytest.param((), {}, id="nothing"),
        pytest.param((1,), {}, id="one"),
        pytest.param(((1, 2),), {}, id="one-tuple"),
        pytest.param((1, 2, 3), {}, id="three"),
        pytest.param((), {"k": 1}, id="kwargs"),
        pytest.param((1, 2), {"k": 1, "j": 2}, id="both"),
    ],
)
def test_R2_unstarted_target_gets_run_star_args(api, args, kwargs):
    calls = []

    def run(*a, **k):
        calls.append((a, k))
        return "ret"

    g = api.greenlet(run)
    assert g.switch(*args, **kwargs) == "ret"
    assert calls == [(args, kwargs)]


def test_R2_run_binds_arguments_by_name_and_position(api):
    def run(a, b=10, *, c):
        return a, b, c

    assert api.greenlet(run).switch(1, c=3) == (1, 10, 3)
    assert api.greenlet(run).switch(1, 2, c=3) == (1, 2, 3)
    assert api.greenlet(run).switch(c=3, a=4) == (4, 10, 3)


def test_R2_one_tuple_argument_is_not_unpacked(api):
    def run(x):
        return x

    assert api.greenlet(run).switch((1, 2)) == (1, 2)


def test_R2_no_arguments_calls_run_without_arguments(api):
    def run():
        return "called"

    assert api.greenlet(run).switch() == "called"
    assert api.greenlet(run).switch(**{}) == "called"


def test_R2_argument_mismatch_is_a_typeerror_in_the_caller(api):
    def run():
        return "never"

    g = api.greenlet(run)
    with pytest.raises(TypeError) as info:
        g.switch(1)
    assert "positional argument" in str(info.value)
    # run was called (and failed): the greenlet has started and is now dead.
    assert g.dead
    assert not g


def test_R2_subclass_run_method_receives_arguments(api):
    class G(api.greenlet):
        def run(self, *a, **k):
            return self, a, k

    g = G()
    me, a, k = g.switch(1, 2, z=3)
    assert me is g
    assert a == (1, 2)
    assert k == {"z": 3}


def test_R2_arguments_only_used_for_the_first_switch(api):
    main = api.getcurrent()

    def run(*a):
        return a, main.switch("started")

    g = api.greenlet(run)
    assert g.switch(1, 2) == "started"
    assert g.switch(3, 4) == ((1, 2), (3, 4))


# ------------------------------------------------------------------------------------------
# R3: switching to oneself
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, kwargs, expected", PACKING)
def test_R3_switch_to_self_returns_packed_args(api, args, kwargs, expected):
    got = api.getcurrent().switch(*args, **kwargs)
    assert got == expected
    assert type(got) is type(expected)


def test_R3_switch_to_self_examples(api):
    cur = api.getcurrent()
    assert cur.switch(5) == 5
    assert cur.switch() == ()
    assert cur.switch(1, 2) == (1, 2)
    assert cur.switch(k=1) == {"k": 1}
    assert api.getcurrent() is cur


def test_R3_switch_to_self_inside_a_child(api):
    main = api.getcurrent()
    log = []

    def run():
        me = api.getcurrent()
        log.append(me.switch(5))
        log.append(me.switch(a=1))
        log.append(api.getcurrent() is me)
        return "end"

    g = api.greenlet(run)
    assert g.switch() == "end"
    assert log == [5, {"a": 1}, True]
    assert api.getcurrent() is main


def test_R3_switch_to_self_does_not_resume_anyone_else(api):
    main = api.getcurrent()
    log = []

    def run():
        log.append("child resumed")
        main.switch()

    g = api.greenlet(run)
    g.switch()
    log.clear()
    assert main.switch("x") == "x"
    assert log == []
    assert g and not g.dead


def test_R3_tracer_fires_on_switch_to_self(api):
    cur = api.getcurrent()
    events = []

    def tracer(event, args):
        events.append((event, args))

    api.settrace(tracer)
    try:
        assert cur.switch(5) == 5
    finally:
        api.settrace(None)
    assert len(events) == 1
    event, (origin, target) = events[0]
    assert event == "switch"
    assert origin is cur
    assert target is cur


def test_R3_tracer_fires_on_self_switch_in_child(api):
    events = []

    def run():
        me = api.getcurrent()
        events.clear()
        r = me.switch(k=1)
        seen = list(events)
        return r, seen, me

    def tracer(event, args):
        events.append((event, args[0], args[1]))

    api.settrace(tracer)
    try:
        r, seen, me = api.greenlet(run).switch()
    finally:
        api.settrace(None)
    assert r == {"k": 1}
    assert seen == [("switch", me, me)]


def test_R1_switches_from_hot_loops(run_script, monkeypatch):
    # Two greenlets switch from loops hot enough for CPython's JIT, turned on
    # where the interpreter has one (3.14+): each resumes its loop where it
    # left it, with its own values, also when parked inside compiled code.
    monkeypatch.setenv("PYTHON_JIT", "1")
    proc = run_script(
        """
        def producer(n):
            peer = getcurrent().parent
            total = 0
            for i in range(n):
                total += i & 7
                if i % 3 == 0:
                    got = peer.switch(total)
                    assert got == total + 1, (got, total)
            return -total

        def consumer(g):
            seen = 0
            value = g.switch(60000)
            while not g.dead:
                seen += 1
                value = g.switch(value + 1)
            return seen, value

        seen, last = consumer(greenlet(producer))
        expected = sum(i & 7 for i in range(60000))
        assert (seen, last) == (20000, -expected), (seen, last, expected)
        print("ok")
        """
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    assert proc.stdout.strip() == "ok"


def test_R1_R11_R28_a_parked_switch_resumes_alike_whatever_resumes_it(api):
    # A greenlet parked in switch() is resumed in turn by every kind of
    # switch: plain values, keywords, a throw, a switch under a tracer, a
    # switch from a sibling, the outcome of a finished child, a redirection
    # through a dead greenlet (R9).  Each resumption delivers what was sent.
    main = api.getcurrent()
    got = []

    def child():
        while True:
            try:
                got.append(main.switch("parked"))
            except ValueError as e:
                got.append(("caught", e.args))
            if got[-1] == "stop":
                return "child done"

    g = api.greenlet(child)
    assert g.switch() == "parked"
    assert g.switch(1) == "parked"
    assert g.switch(1, 2) == "parked"
    assert g.switch(k=3) == "parked"
    assert g.switch(4, k=5) == "parked"
    assert g.throw(ValueError, "thrown") == "parked"
    events = []
    api.settrace(lambda event, args: events.append((event, args[0], args[1])))
    try:
        assert g.switch("traced") == "parked"
    finally:
        api.settrace(None)
    assert events == [("switch", main, g), ("switch", g, main)]
    sibling = api.greenlet(lambda: g.switch("from a sibling"))
    assert sibling.switch() == "parked"
    assert sibling.switch("back") == "back"  # it finishes: nothing left suspended
    assert sibling.dead
    dead = api.greenlet(lambda: None, parent=g)
    dead.switch()  # finished: its outcome (None) went to g, whose switch() got it
    assert dead.dead
    assert dead.switch("via the dead") == "parked"  # R9: goes to g
    assert g.switch("stop") == "child done"
    assert got == [
        1,
        (1, 2),
        {"k": 3},
        ((4,), {"k": 5}),
        ("caught", ("thrown",)),
        "traced",
        "from a sibling",
        None,
        "via the dead",
        "stop",
    ]


def test_R28_R31_a_tracer_set_while_parked_sees_the_resumption_and_may_raise(api):
    # A tracer installed while a greenlet is parked in switch() runs when
    # that greenlet resumes (R28); if it raises, the exception comes out of
    # the resumed switch() and the tracer is removed (R31).
    main = api.getcurrent()
    seen = []

    def child():
        seen.append(main.switch())
        try:
            main.switch()
        except KeyError as e:
            seen.append(("raised", e.args))
        main.switch()

    g = api.greenlet(child)
    g.switch()

    def tracer(event, args):
        seen.append((event, args[0] is main, args[1] is g))

    api.settrace(tracer)
    try:
        g.switch("resumed")
    finally:
        api.settrace(None)
    assert seen[:2] == [("switch", True, True), "resumed"]

    def bad_tracer(event, args):
        if args[1] is g:
            raise KeyError("from the tracer")

    api.settrace(bad_tracer)
    try:
        g.switch()
        assert api.gettrace() is None  # R31: removed
    finally:
        api.settrace(None)
    assert seen[-1] == ("raised", ("from the tracer",))
    g.switch()
    assert g.dead
