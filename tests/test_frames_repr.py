"""gr_frame in every greenlet state, and the repr of greenlets in every state."""

from __future__ import annotations

import re
import sys

import pytest

HEAD = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+ \(otid=0x(?:[0-9a-f]+|\(nil\))\)")


def _suspended(api):
    main = api.getcurrent()
    g = api.greenlet(lambda: main.switch())
    g.switch()
    return g


# --------------------------------------------------------------------------------------
# R35 gr_frame
# --------------------------------------------------------------------------------------


def test_R35_unstarted_has_no_frame(api):
    g = api.greenlet(lambda: None)
    assert g.gr_frame is None
    failed = api.greenlet()
    with pytest.raises(AttributeError):
        failed.switch()
    assert failed.gr_frame is None


def test_R35_running_has_no_frame(api):
    assert api.getcurrent().gr_frame is None
    seen = []

    def run():
        me = api.getcurrent()
        seen.append((me.gr_frame, api.getcurrent().gr_frame))

    api.greenlet(run).switch()
    assert seen == [(None, None)]


def test_R35_suspended_frame_is_the_frame_that_called_switch(api):
    main = api.getcurrent()

    def run():
        f = sys._getframe(0)
        main.switch(f)
        marker = "second"  # noqa: F841
        main.switch(sys._getframe(0))

    g = api.greenlet(run)
    frame = g.switch()
    assert g.gr_frame is frame
    assert frame.f_code is run.__code__
    line1 = g.gr_frame.f_lineno
    frame2 = g.switch()
    assert frame2 is frame  # same function, same frame object
    assert g.gr_frame is frame
    assert g.gr_frame.f_lineno > line1  # now parked at the second switch
    assert g.gr_frame.f_locals["marker"] == "second"
    g.switch()
    assert g.dead


def test_R35_suspended_frame_of_nested_call(api):
    main = api.getcurrent()

    def inner(v):
        main.switch()

    def outer():
        inner(1)

    g = api.greenlet(outer)
    g.switch()
    f = g.gr_frame
    assert f.f_code is inner.__code__
    assert f.f_locals["v"] == 1
    assert f.f_back.f_code is outer.__code__
    g.switch()


def test_R35_frame_bottom_f_back_is_none(api, known_difference):
    known_difference("frame-bottom")
    main = api.getcurrent()

    def inner():
        main.switch()

    def outer():
        inner()

    g = api.greenlet(outer)
    g.switch()
    f = g.gr_frame
    assert f.f_code is inner.__code__
    assert f.f_back.f_code is outer.__code__
    assert f.f_back.f_back is None
    g.switch()


def test_R35_frame_bottom_of_run_itself(api, known_difference):
    known_difference("frame-bottom")
    main = api.getcurrent()
    g = api.greenlet(lambda: main.switch())
    g.switch()
    assert g.gr_frame.f_back is None
    g.switch()


def test_R35_frame_of_greenlet_suspended_in_switch_to_child(api):
    main = api.getcurrent()
    seen = []

    def child():
        parent = api.getcurrent().parent
        seen.append(parent.gr_frame.f_code.co_name)
        main.switch()

    def parent_run():
        api.greenlet(child).switch()

    p = api.greenlet(parent_run)
    p.switch()
    assert seen == ["parent_run"]
    assert p.gr_frame.f_code is parent_run.__code__
    p.throw()


def test_R35_suspended_main_frame_is_where_main_switched(api):
    main = api.getcurrent()
    seen = []

    def run():
        f = main.gr_frame
        seen.append((f.f_code.co_name, f.f_locals.get("marker")))

    marker = "main-side"  # noqa: F841
    api.greenlet(run).switch()
    assert seen == [("test_R35_suspended_main_frame_is_where_main_switched", "main-side")]
    assert main.gr_frame is None


def test_R35_dead_has_no_frame(api):
    g = api.greenlet(lambda: None)
    g.switch()
    assert g.gr_frame is None

    def boom():
        raise KeyError

    g = api.greenlet(boom)
    with pytest.raises(KeyError):
        g.switch()
    assert g.gr_frame is None

    g = _suspended(api)
    assert g.gr_frame is not None
    g.throw()
    assert g.gr_frame is None

    g = api.greenlet(lambda: None)
    g.throw()
    assert g.gr_frame is None


def test_R35_suspended_frame_cannot_be_cleared(api):
    main = api.getcurrent()

    def run():
        local = "kept"  # noqa: F841
        main.switch()
        return "finished"

    g = api.greenlet(run)
    g.switch()
    with pytest.raises(RuntimeError):
        g.gr_frame.clear()
    assert g.gr_frame.f_locals["local"] == "kept"
    assert g.switch() == "finished"


def test_R35_gr_frame_read_only(api):
    g = _suspended(api)
    with pytest.raises(AttributeError):
        g.gr_frame = None
    assert g.gr_frame is not None
    g.throw()


# --------------------------------------------------------------------------------------
# R38 repr
# --------------------------------------------------------------------------------------


def _check(g, suffix):
    r = repr(g)
    assert type(r) is str
    assert str(g) == r
    assert r.startswith("<")
    assert f" object at 0x{id(g):x} " in r
    m = HEAD.match(r)
    assert m, r
    assert r[m.end() :] == suffix, r
    return r


def test_R38_main_current(api):
    _check(api.getcurrent(), " current active started main>")


def test_R38_main_suspended_and_child_current(api):
    main = api.getcurrent()
    seen = []

    def run():
        seen.append((repr(main), repr(api.getcurrent())))

    g = api.greenlet(run)
    g.switch()
    main_repr, me_repr = seen[0]
    assert main_repr.endswith(" suspended active started main>")
    assert me_repr.endswith(" current active started>")
    assert HEAD.match(main_repr) and HEAD.match(me_repr)
    assert "otid=0x(nil)" not in me_repr


def test_R38_unstarted_pending(api):
    r = _check(api.greenlet(lambda: None), " pending>")
    assert "active" not in r and "started" not in r


def test_R38_failed_start_still_pending(api):
    g = api.greenlet()
    with pytest.raises(AttributeError):
        g.switch()
    _check(g, " pending>")


def test_R38_suspended(api):
    g = _suspended(api)
    _check(g, " suspended active started>")
    g.throw()


@pytest.mark.parametrize("how", ["return", "raise", "throw-suspended", "throw-unstarted"])
def test_R38_dead(api, how):
    if how == "return":
        g = api.greenlet(lambda: None)
        g.switch()
    elif how == "raise":

        def boom():
            raise KeyError

        g = api.greenlet(boom)
        with pytest.raises(KeyError):
            g.switch()
    elif how == "throw-suspended":
        g = _suspended(api)
        g.throw()
    else:
        g = api.greenlet(lambda: None)
        g.throw()
    r = _check(g, " dead>")
    for word in ("suspended", "started", "active", "current", "pending"):
        assert word not in r


def test_R38_same_otid_for_greenlets_of_one_thread(api):
    def otid(g):
        return re.search(r"otid=(0x[0-9a-f]+)", repr(g)).group(1)

    g = _suspended(api)
    assert otid(g) == otid(api.getcurrent())
    g.throw()


def test_R38_subclass_repr_uses_class_name(api):
    class MyGreenlet(api.greenlet):
        pass

    g = MyGreenlet(lambda: None)
    r = _check(g, " pending>")
    assert r.startswith("<MyGreenlet object at 0x")


def test_R38_subclass_repr_override_not_used_by_base(api):
    class Named(api.greenlet):
        def __repr__(self):
            return "<Named " + api.greenlet.__repr__(self) + ">"

    g = Named(lambda: None)
    assert repr(g).startswith("<Named <Named object at 0x")
    assert repr(g).endswith(" pending>>")
