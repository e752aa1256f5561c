"""R32: each greenlet has its own contextvars Context, reachable and replaceable via gr_context."""

from __future__ import annotations

import gc
import re
import sys
import threading
from contextvars import Context, ContextVar, copy_context
from functools import partial

import pytest

# Module level, as the contextvars documentation asks.
ID_VAR: ContextVar = ContextVar("pyg_test_id", default=None)
VAR_VAR: ContextVar = ContextVar("pyg_test_var", default=None)
OTHER_VAR: ContextVar = ContextVar("pyg_test_other", default="default")

CONTEXT_TYPE_ERROR = "greenlet context must be a contextvars.Context or None"
GET_OTHER_THREAD = "cannot get context of a greenlet that is running in a different thread"
SET_OTHER_THREAD = "cannot set context of a greenlet that is running in a different thread"


def in_new_context(func, *args):
    """Run *func* in a copy of the current context, so the test's own context is left alone."""
    return copy_context().run(func, *args)


# --------------------------------------------------------------------------------------
# A new greenlet has no context; one is created lazily
# --------------------------------------------------------------------------------------


def test_R32_new_greenlet_has_no_context(api):
    def check():
        OTHER_VAR.set("main value")
        seen = {}

        def body():
            seen["var"] = OTHER_VAR.get()
            seen["gr_context"] = g.gr_context
            seen["copy_empty"] = len(copy_context()) == 0

        g = api.greenlet(body)
        assert g.gr_context is None  # unstarted
        g.switch()
        # Not inherited from the creator (like a new thread, unlike asyncio tasks).
        assert seen == {"var": "default", "gr_context": None, "copy_empty": True}
        assert OTHER_VAR.get() == "main value"

    in_new_context(check)


def test_R32_context_created_lazily_on_first_set(api):
    seen = []

    def body():
        seen.append(g.gr_context)
        ID_VAR.set(1)
        ctx = g.gr_context
        seen.append(ctx)
        seen.append(ctx[ID_VAR] if isinstance(ctx, Context) else None)
        api.getcurrent().parent.switch()

    g = api.greenlet(body)
    g.switch()
    assert seen[0] is None
    assert type(seen[1]) is Context
    assert seen[2] == 1
    # Suspended: gr_context is the stored context, the same object.
    assert g.gr_context is seen[1]
    g.switch()
    assert g.dead


def test_R32_running_greenlet_gr_context_is_current_context(api):
    def check():
        ctx = copy_context()
        seen = []

        def body():
            seen.append(api.getcurrent().gr_context)

        ctx.run(lambda: seen.append(api.getcurrent().gr_context))
        g = api.greenlet(body)
        g.gr_context = ctx
        g.switch()
        assert seen[0] is ctx
        assert seen[1] is ctx

    in_new_context(check)


# --------------------------------------------------------------------------------------
# Assignment while running / suspended / unstarted / dead
# --------------------------------------------------------------------------------------


def test_R32_context_assignment_while_running(api):
    def check():
        ID_VAR.set(None)

        def target():
            assert ID_VAR.get() is None
            assert gr.gr_context is None
            ID_VAR.set(1)  # context created on first use
            assert isinstance(gr.gr_context, Context)
            assert gr.gr_context[ID_VAR] == 1
            old_context = gr.gr_context
            gr.gr_context = None  # assign None while running: takes effect at once
            assert ID_VAR.get() is None
            assert gr.gr_context is None
            ID_VAR.set(2)  # re-created as a new empty context
            assert gr.gr_context is not old_context
            assert gr.gr_context[ID_VAR] == 2
            new_context = gr.gr_context
            api.getcurrent().parent.switch((old_context, new_context))
            # the parent switched us back to old_context
            assert ID_VAR.get() == 1
            gr.gr_context = new_context  # assign non-None while running
            assert ID_VAR.get() == 2
            api.getcurrent().parent.switch()
            # the parent cleared our context while we were suspended
            assert ID_VAR.get() is None
            assert gr.gr_context is None
            gr.gr_context = old_context
            assert ID_VAR.get() == 1
            api.getcurrent().parent.switch()
            assert ID_VAR.get() is None
            assert gr.gr_context is None
            return "done"

        gr = api.greenlet(target)
        assert gr.gr_context is None
        old_context, new_context = gr.switch()
        assert new_context is gr.gr_context
        assert old_context[ID_VAR] == 1
        assert new_context[ID_VAR] == 2
        assert new_context.run(ID_VAR.get) == 2
        assert ID_VAR.get() is None  # the parent's own context is untouched
        gr.gr_context = old_context  # assign non-None while suspended
        gr.switch()
        assert gr.gr_context is new_context
        gr.gr_context = None  # assign None while suspended
        gr.switch()
        assert gr.gr_context is old_context
        gr.gr_context = None
        assert gr.switch() == "done"
        assert gr.dead
        assert gr.gr_context is None
        return old_context, new_context

    old_context, new_context = in_new_context(check)
    gc.collect()
    if hasattr(sys, "getrefcount"):
        # Nothing else keeps the contexts alive: no references leaked.  (As
        # many references as a context only a local holds: what getrefcount
        # counts for its own argument differs between versions.)
        control = Context()
        counts = {sys.getrefcount(c) for c in (old_context, new_context, control)}
        assert len(counts) == 1, counts


def test_R32_assign_to_unstarted(api):
    def check():
        ctx = Context()
        ctx.run(VAR_VAR.set, "preset")
        seen = []

        def body():
            seen.append(VAR_VAR.get())
            VAR_VAR.set("changed")

        g = api.greenlet(body)
        g.gr_context = ctx
        assert g.gr_context is ctx
        g.switch()
        assert seen == ["preset"]
        assert g.gr_context is ctx  # a dead greenlet keeps its last context
        assert ctx[VAR_VAR] == "changed"
        assert VAR_VAR.get() is None

    in_new_context(check)


def test_R32_assign_to_dead(api):
    g = api.greenlet(lambda: VAR_VAR.set("x"))
    g.switch()
    assert g.dead
    ctx = g.gr_context
    assert type(ctx) is Context and ctx[VAR_VAR] == "x"
    other = Context()
    g.gr_context = other
    assert g.gr_context is other
    g.gr_context = None
    assert g.gr_context is None


def test_R32_assign_to_suspended_main_greenlet(api):
    # From a greenlet, the suspended main greenlet's context can be replaced; main sees
    # the new context when resumed.  In a thread, so the test's own context is untouched.
    ctx = Context()
    ctx.run(VAR_VAR.set, "for main")
    out = {}

    def in_thread():
        main = api.getcurrent()
        VAR_VAR.set("original")
        original = main.gr_context

        def body():
            out["main_ctx_seen_from_g"] = main.gr_context is original
            main.gr_context = ctx
            main.switch()

        g = api.greenlet(body)
        g.switch()
        out["after"] = VAR_VAR.get()
        out["main_ctx"] = main.gr_context is ctx
        g.switch()
        # CPython 3.14 runs a thread's target inside Context.run(), which
        # refuses to exit while another context is current (R32)
        main.gr_context = original

    t = threading.Thread(target=in_thread)
    t.start()
    t.join(30)
    assert not t.is_alive()
    assert out == {"main_ctx_seen_from_g": True, "after": "for main", "main_ctx": True}


# --------------------------------------------------------------------------------------
# Errors: other thread, wrong type, delete
# --------------------------------------------------------------------------------------


def test_R32_other_thread_get_set_errors(api):
    ctx = Context()
    is_running = threading.Event()
    should_suspend = threading.Event()
    did_suspend = threading.Event()
    should_exit = threading.Event()
    holder = []

    def greenlet_in_thread():
        VAR_VAR.set(1)
        is_running.set()
        should_suspend.wait(30)
        VAR_VAR.set(2)
        api.getcurrent().parent.switch()
        holder.append(VAR_VAR.get())

    def thread_fn():
        gr = api.greenlet(greenlet_in_thread)
        gr.gr_context = ctx
        holder.append(gr)
        gr.switch()
        did_suspend.set()
        should_exit.wait(30)
        gr.switch()

    thread = threading.Thread(target=thread_fn)
    thread.start()
    try:
        assert is_running.wait(30)
        gr = holder[0]
        # Running in another thread: no access at all.
        with pytest.raises(ValueError) as info:
            gr.gr_context  # noqa: B018
        assert str(info.value) == GET_OTHER_THREAD
        with pytest.raises(ValueError) as info:
            gr.gr_context = None
        assert str(info.value) == SET_OTHER_THREAD
        with pytest.raises(ValueError) as info:
            gr.gr_context = Context()
        assert str(info.value) == SET_OTHER_THREAD
    finally:
        should_suspend.set()
    assert did_suspend.wait(30)
    # Suspended in another thread: readable and writable.
    assert gr.gr_context is ctx
    assert gr.gr_context[VAR_VAR] == 2
    gr.gr_context = None
    should_exit.set()
    thread.join(30)
    assert not thread.is_alive()
    assert holder == [gr, None]
    # Dead: still readable and writable.
    assert gr.dead
    assert gr.gr_context is None
    gr.gr_context = ctx
    assert gr.gr_context is ctx


def test_R32_other_thread_main_greenlet_running(api):
    # The main greenlet of a live thread, running there, can't be inspected from here.
    ready = threading.Event()
    stop = threading.Event()
    holder = []

    def thread_fn():
        holder.append(api.getcurrent())
        ready.set()
        stop.wait(30)

    t = threading.Thread(target=thread_fn)
    t.start()
    try:
        assert ready.wait(30)
        with pytest.raises(ValueError, match=re.escape(GET_OTHER_THREAD)):
            holder[0].gr_context  # noqa: B018
        with pytest.raises(ValueError, match=re.escape(SET_OTHER_THREAD)):
            holder[0].gr_context = Context()
    finally:
        stop.set()
        t.join(30)
    assert not t.is_alive()


@pytest.mark.parametrize(
    "value",
    [object(), {}, 1, "ctx", copy_context, (lambda: Context()), pytest],
    ids=["object", "dict", "int", "str", "function", "lambda", "module"],
)
def test_R32_wrong_type_rejected(api, value):
    g = api.greenlet()
    with pytest.raises(TypeError) as info:
        g.gr_context = value
    assert str(info.value) == CONTEXT_TYPE_ERROR
    assert g.gr_context is None


def test_R32_wrong_type_rejected_on_running_greenlet(api):
    current = api.getcurrent()
    before = current.gr_context
    with pytest.raises(TypeError) as info:
        current.gr_context = {"a": 1}
    assert str(info.value) == CONTEXT_TYPE_ERROR
    assert current.gr_context is before


def test_R32_delete_raises(api):
    g = api.greenlet()
    with pytest.raises(AttributeError) as info:
        del g.gr_context
    assert str(info.value) == "can't delete context attribute"
    with pytest.raises(AttributeError) as info:
        del api.getcurrent().gr_context
    assert str(info.value) == "can't delete context attribute"


# --------------------------------------------------------------------------------------
# Propagation modes (upstream test_contextvars scenarios)
# --------------------------------------------------------------------------------------


def _increment(api, greenlet_id, counts, expect):
    callback = api.getcurrent().parent.switch
    assert ID_VAR.get() == expect
    ID_VAR.set(greenlet_id)
    for _ in range(2):
        counts[ID_VAR.get()] += 1
        callback()


def _propagation_scenario(api, propagate_by):
    ID_VAR.set(0)
    counts = {i: 0 for i in range(5)}
    expects = {
        "share": lambda i: i - 1,
        "set": lambda i: 0,
        "run": lambda i: 0,
        None: lambda i: None,
    }[propagate_by]
    lets = []
    for i in range(1, 5):
        func = partial(_increment, api, i, counts, expects(i))
        if propagate_by == "run":
            func = partial(copy_context().run, func)
        lets.append(api.greenlet(func))
    for let in lets:
        if propagate_by == "set":
            let.gr_context = copy_context()
        elif propagate_by == "share":
            let.gr_context = api.getcurrent().gr_context
    for _ in range(2):
        counts[ID_VAR.get()] += 1
        for let in lets:
            let.switch()
    if propagate_by == "run":
        for let in reversed(lets):  # leave each Context.run in reverse order of entry
            let.switch()
    else:
        for let in lets:
            let.switch()
    for let in lets:
        assert let.dead
        if propagate_by == "run":
            # run() was left as the greenlet died: no context underneath.
            assert let.gr_context is None
        else:
            assert let.gr_context is not None
    if propagate_by == "share":
        assert counts == {0: 1, 1: 1, 2: 1, 3: 1, 4: 6}
        assert ID_VAR.get() == 4  # the shared context is main's own
    else:
        assert set(counts.values()) == {2}
        assert ID_VAR.get() == 0


@pytest.mark.parametrize("propagate_by", ["run", "set", None, "share"])
def test_R32_context_propagation(api, propagate_by):
    in_new_context(_propagation_scenario, api, propagate_by)


# --------------------------------------------------------------------------------------
# Context.run across greenlets
# --------------------------------------------------------------------------------------


def test_R32_context_run_need_not_nest_across_greenlets(api):
    def check():
        let1 = api.greenlet(copy_context().run)
        let2 = api.greenlet(copy_context().run)
        main = api.getcurrent()
        let1.switch(main.switch)
        let2.switch(main.switch)
        # let1 leaves its Context.run while let2 is still inside its own: no error.
        assert let1.switch() == ()
        assert let1.dead
        assert let2.switch() == ()
        assert let2.dead

    in_new_context(check)


def test_R32_context_run_out_of_order_with_values(api):
    def check():
        main = api.getcurrent()

        def body(value):
            VAR_VAR.set(value)
            main.switch()
            return VAR_VAR.get()

        ctx1, ctx2 = copy_context(), copy_context()
        let1 = api.greenlet(partial(ctx1.run, body))
        let2 = api.greenlet(partial(ctx2.run, body))
        let1.switch("one")
        let2.switch("two")
        assert VAR_VAR.get() is None
        assert let1.switch() == "one"
        assert let2.switch() == "two"
        assert ctx1[VAR_VAR] == "one" and ctx2[VAR_VAR] == "two"
        assert VAR_VAR.get() is None

    in_new_context(check)


def test_R32_same_context_entered_twice_raises(api):
    def check():
        main = api.getcurrent()
        ctx = copy_context()
        let1 = api.greenlet(ctx.run)
        let1.switch(main.switch)  # let1 is now suspended inside ctx.run
        let2 = api.greenlet(ctx.run)
        with pytest.raises(RuntimeError) as info:
            let2.switch(main.switch)
        message = str(info.value)
        assert message.startswith("cannot enter context: ")
        assert message.endswith(" is already entered")
        assert let2.dead
        assert let1.switch() == ()
        assert let1.dead
        # Once let1 left it, the context can be entered again.
        let3 = api.greenlet(ctx.run)
        assert let3.switch(lambda: "entered") == "entered"

    in_new_context(check)


def test_R32_attribute_instead_of_context_run(api):
    def check():
        main = api.getcurrent()
        let1 = api.greenlet(main.switch)
        let2 = api.greenlet(main.switch)
        let1.gr_context = copy_context()
        let2.gr_context = copy_context()
        let1.switch()
        let2.switch()
        let1.switch()
        let2.switch()
        assert let1.dead and let2.dead

    in_new_context(check)


# --------------------------------------------------------------------------------------
# Many greenlets, each with its own values (and lookup caches invalidated)
# --------------------------------------------------------------------------------------


def test_R32_many_greenlets_each_with_own_values(api):
    def check():
        ID_VAR.set("main")
        main = api.getcurrent()
        errors = []

        def body(n):
            ID_VAR.set(n)
            OTHER_VAR.set(("other", n))
            for round_ in range(5):
                if ID_VAR.get() != n or OTHER_VAR.get() != ("other", n):
                    errors.append((n, round_, ID_VAR.get(), OTHER_VAR.get()))
                main.switch()
            return ID_VAR.get()

        lets = [api.greenlet(body) for _ in range(100)]
        for n, let in enumerate(lets):
            let.switch(n)
            assert ID_VAR.get() == "main"
        for _ in range(4):
            for let in lets:
                let.switch()
                # Read right after each switch: a cached lookup must not leak across.
                assert ID_VAR.get() == "main"
                assert OTHER_VAR.get() == "default"
        results = [let.switch() for let in lets]
        assert results == list(range(100))
        assert errors == []
        assert [let.gr_context[ID_VAR] for let in lets] == list(range(100))

    in_new_context(check)


def test_R32_lookup_cache_invalidated_on_switch(api):
    # The same ContextVar read repeatedly on both sides of switches.
    def check():
        VAR_VAR.set("main")
        main = api.getcurrent()
        log = []

        def body():
            VAR_VAR.set("g")
            while True:
                log.append(VAR_VAR.get())
                if main.switch() == "stop":
                    return

        g = api.greenlet(body)
        for _ in range(10):
            g.switch()
            log.append(VAR_VAR.get())
        g.switch("stop")
        assert log == ["g", "main"] * 10

    in_new_context(check)


# --------------------------------------------------------------------------------------
# Greenlets left suspended in a thread that exited
# --------------------------------------------------------------------------------------

EXITED_THREAD_SCRIPT = """
import gc, threading, weakref
from contextvars import ContextVar

VAR = ContextVar("var")

class Value:
    pass

holder = []

def thread_fn():
    def body():
        value = Value()
        holder.append(weakref.ref(value))
        VAR.set(value)
        del value
        getcurrent().parent.switch()

    g = greenlet(body)
    g.switch()
    holder.append(g)

t = threading.Thread(target=thread_fn)
t.start()
t.join(30)
assert not t.is_alive()
ref, g = holder
del holder[:]
gc.collect()
print("dead", g.dead)
print("gr_context", g.gr_context)
if NO_REFCOUNTING:  # PyPy: the released context and its value are freed by the GC
    collect_garbage()
print("value released", ref() is None)
{after}
"""


def test_R32_exited_thread_greenlet_has_no_context(run_script):
    # The thread's death releases the context of greenlets suspended in it.
    proc = run_script(EXITED_THREAD_SCRIPT.format(after="import os; os._exit(0)"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["dead True", "gr_context None", "value released True"]


def test_R32_exited_thread_greenlet_dropped_cleanly(run_script):
    # Dropping such a greenlet afterwards does not crash the interpreter.
    proc = run_script(EXITED_THREAD_SCRIPT.format(after="del g\ngc.collect()\nprint('survived')"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "survived"
