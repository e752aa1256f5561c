"""Scripted scenarios: every backend must produce exactly the event trace upstream greenlet does."""

from __future__ import annotations

import pytest


def names(api, log, **greenlets):
    """A tracer that logs (event, origin name, target name)."""
    by_id = {}

    def name(g):
        if g in by_id:
            return by_id[g]
        for k, v in greenlets.items():
            if v is g:
                return k
        return "main" if g.parent is None else "?"

    def tracer(event, args):
        origin, target = args
        log.append((event, name(origin), name(target)))

    return tracer


def scenario_ping_pong(api, log):
    gs = {}

    def ping():
        for i in range(2):
            log.append(("ping", i, gs["pong"].switch(i)))

    def pong(v):
        while True:
            log.append(("pong", v))
            v = gs["ping"].switch(v * 10)

    gs["ping"] = api.greenlet(ping)
    gs["pong"] = api.greenlet(pong)
    api.settrace(names(api, log, **gs))
    try:
        log.append(("main got", gs["ping"].switch()))
    finally:
        api.settrace(None)
    return [
        ("switch", "main", "ping"),
        ("switch", "ping", "pong"),
        ("pong", 0),
        ("switch", "pong", "ping"),
        ("ping", 0, 0),
        ("switch", "ping", "pong"),
        ("pong", 1),
        ("switch", "pong", "ping"),
        ("ping", 1, 10),
        ("switch", "ping", "main"),
        ("main got", None),
    ]


def scenario_throw_and_propagate(api, log):
    gs = {}

    def a():
        try:
            api.getcurrent().parent.switch()
        except KeyError:
            log.append("a caught KeyError")
            raise ValueError("from a")

    def b():
        raise IndexError("from b")

    gs["a"] = api.greenlet(a)
    gs["b"] = api.greenlet(b)
    api.settrace(names(api, log, **gs))
    try:
        gs["a"].switch()
        try:
            gs["a"].throw(KeyError)
        except ValueError as e:
            log.append("main got %s" % e)
        try:
            gs["b"].switch()
        except IndexError as e:
            log.append("main got %s" % e)
    finally:
        api.settrace(None)
    return [
        ("switch", "main", "a"),
        ("switch", "a", "main"),
        ("throw", "main", "a"),
        "a caught KeyError",
        ("throw", "a", "main"),
        "main got from a",
        ("switch", "main", "b"),
        ("throw", "b", "main"),
        "main got from b",
    ]


def scenario_parent_chain(api, log):
    gs = {}
    gs["outer"] = api.greenlet(lambda v: log.append(("outer got", v)) or "outer done")
    gs["dead"] = api.greenlet(lambda: "x", parent=gs["outer"])
    gs["inner"] = api.greenlet(lambda: "inner result", parent=gs["dead"])
    gs["dead"].parent = api.getcurrent()
    gs["dead"].switch()  # finishes at once
    gs["dead"].parent = gs["outer"]
    api.settrace(names(api, log, **gs))
    try:
        log.append(("main got", gs["inner"].switch()))
    finally:
        api.settrace(None)
    return [
        ("switch", "main", "inner"),
        ("switch", "inner", "outer"),
        ("outer got", "inner result"),
        ("switch", "outer", "main"),
        ("main got", "outer done"),
    ]


def scenario_kill_on_collection(api, log):
    import gc

    def victim():
        try:
            api.getcurrent().parent.switch()
        except api.GreenletExit as e:
            log.append(("victim got", str(e)))

    for _ in range(3):  # greenlets left by earlier tests die now, untraced (PyPy)
        gc.collect()
    g = api.greenlet(victim)
    g.switch()
    api.settrace(lambda event, args: log.append((event, args[1] is api.getcurrent())))
    try:
        del g
        gc.collect()
    finally:
        api.settrace(None)
    return [
        ("throw", True),
        ("victim got", "Killing the greenlet because all references have vanished."),
        ("switch", True),
    ]


SCENARIOS = [
    scenario_ping_pong,
    scenario_throw_and_propagate,
    scenario_parent_chain,
    scenario_kill_on_collection,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__[len("scenario_") :])
def test_R29_scenario_trace_matches_upstream(api, scenario):
    log: list = []
    expected = scenario(api, log)
    assert log == expected
