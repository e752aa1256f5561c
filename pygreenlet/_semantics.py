"""Greenlet semantics, written once: every rule of the API lives here, tagged with its rule id."""

# Rule ids (R<number>) are the vocabulary shared by this file, the tests
# (tests named test_R<n>_...) and the reference chapter of the docs.
#
# This module only decides behaviour.  Moving from one execution context to
# another is the primitive's job (``_prim``: see _primitive.pyi); interpreted,
# the primitive is the pure-Python one in _reference.py.
from __future__ import annotations

import sys
import weakref
from contextvars import Context
from types import TracebackType
from typing import Any, Callable

try:
    import cython  # compiled, ``cython.compiled`` is true (and known at compile time)
except ImportError:  # interpreted, without Cython installed
    from ._nocython import cython  # a stand-in: ``compiled`` is false, ``declare`` a no-op

if cython.compiled:
    # compiled, the primitive is fixed when the module is built: _speedups.pxd
    # cimports it (C calls for a switch); this import gives its Python-level names
    from . import _speedups_prim as _prim  # type: ignore[attr-defined]
else:
    # interpreted, the primitive is chosen where the backends are (_backend.py)
    from ._backend import primitive_for

    _prim = primitive_for(__name__)
from ._exceptions import GreenletExit, error  # R45: BaseException / Exception subclasses

# The primitive's functions are called as ``_prim.name(...)``: compiled, the
# ones a switch uses are declared in _speedups_prim.pxd (cimported by
# _speedups.pxd) and these calls are C calls.


def _finalizing() -> bool:
    """True once the interpreter is shutting down (R27)."""
    if cython.compiled:
        return pyg_sem_is_finalizing() != 0  # noqa: F821 (declared in _speedups.pxd)
    else:
        return sys.is_finalizing()


__all__ = ["greenlet", "getcurrent", "settrace", "gettrace", "GreenletExit", "error"]

_MISSING: Any = object()
#: R6: whether the GreenletExit a finished greenlet hands its parent keeps its traceback.
_EXIT_KEEPS_TRACEBACK = sys.version_info >= (3, 12)
#: What _resolve returns instead of a ``run`` when the target has started
#: already: ``run`` itself may be anything, None included (R36).
_RUNNING: Any = object()
_KILL_MESSAGE = "Killing the greenlet because all references have vanished."

#: Greenlets that ignored the GreenletExit sent when they were collected (R25).
#: Upstream leaks them on purpose; keeping them here is the same leak, made visible.
_leaked: list = []

#: States of greenlets freed while still active, whose stacks are still to be freed.
_orphans: list = []
#: States of such greenlets that their greenlet object still held when last seen.
_held_orphans: list = []


class _ThreadState:
    """What one thread owns: its main greenlet, the running greenlet, its tracer."""

    __slots__ = (
        "main",
        "current",
        "tracer",
        "deleteme",
        "alive",
        "switching",
        "x_origin",
        "x_target",
        "x_args",
        "x_kwargs",
        "x_exc",
        "x_run",
        "__weakref__",
    )

    def __init__(self) -> None:
        self.main: Any = None
        self.current: Any = None
        self.tracer: Any = None
        self.deleteme: list = []  # R26: greenlets dropped by other threads, killed here
        self.alive = True
        # True from the moment a switch starts changing state until the target
        # runs: a greenlet collected then (any allocation may run the GC) is
        # killed later, not in the middle of the switch (docs/internals/hazards.rst:
        # GC during a switch).
        self.switching = False
        # Compiled, the hand-over of the switch in flight (_enter fills it,
        # the target empties it before anything else runs there: _switch,
        # _bootstrap): who switched, to whom, the arguments, the exception to
        # raise, and for a start the run callable.  One set per thread is
        # enough, as only one switch of a thread is in flight: the compiled
        # primitive runs no code between the switch and the target taking
        # these, and drops what a switch leaves behind (which may run code,
        # and so switch) only when asked (_prim.settle()).  The reference
        # primitive cannot promise that (the target's OS thread runs Python
        # code once woken): interpreted, the hand-over is a tuple put for the
        # target's stacklet (_prim.put), which nothing else can overwrite.
        self.x_origin: Any = None
        self.x_target: Any = None
        self.x_args: Any = None
        self.x_kwargs: Any = None
        self.x_exc: Any = None
        self.x_run: Any = None


class _State:
    """Everything a greenlet knows about itself, kept behind one slot of the greenlet."""

    __slots__ = (
        "run",
        "parent",
        "ts",
        "stacklet",
        "started",
        "finished",
        "is_main",
        "context",
        "pending_kills",
    )

    def __init__(self, parent: Any) -> None:
        self.run: Any = _MISSING
        self.parent: Any = parent
        self.ts: Any = None  # owning _ThreadState, set when started (or for a main greenlet)
        self.stacklet: Any = None  # the primitive's execution context while active
        self.started = False
        self.finished = False
        self.is_main = False
        self.context: Any = None  # contextvars.Context while not running (R32)
        # R23: while this greenlet collects (kills) a dropped one, the greenlets
        # it drops meanwhile, to be killed next by the same _finalize call.
        self.pending_kills: Any = None

    def __del__(self) -> None:
        # R23: the greenlet object is gone but its stack may not be: it was
        # freed without a kill (interpreted: it survived a kill by resurrection
        # and was dropped again, and Python runs its __del__ once per object;
        # compiled, tp_dealloc kills it again, so only a collection of a cycle
        # that frees this state before its greenlet gets here).  Its stack is
        # freed at the next API call, unless the greenlet's own finalizer,
        # which the GC may run after this one, kills it first.
        if self.started and not self.finished and not self.is_main:
            _orphans.append(self)


def _new_state(parent: Any) -> _State:
    """A new greenlet's state, as ``_State(parent)`` (compiled: without a Python-level call)."""
    if cython.compiled:
        s = _State.__new__(_State)  # fields start as None and False
        s.run = _MISSING
        s.parent = parent
    else:
        s = _State(parent)
    return s


# --------------------------------------------------------------------------------------
# Thread state
# --------------------------------------------------------------------------------------


def _make_main(ts: _ThreadState) -> Any:
    """Create the main greenlet of the calling thread (R21)."""
    # R21: always exactly the base type, never a subclass, and made without
    # calling the type (its constructor looks up the current greenlet)
    if cython.compiled:
        main = pyg_alloc_greenlet()  # noqa: F821 (declared in _speedups.pxd)
    else:
        main = object.__new__(greenlet)
    s = _State(None)
    s.is_main = True
    s.started = True
    s.ts = ts
    _set_state(main, s)
    s.stacklet = _prim.set_thread_data(ts, _on_thread_exit)
    ts.main = ts.current = main
    _main_greenlets.add(main)
    return main


#: Every main greenlet still alive, for ``_greenlet.get_total_main_greenlets``.
_main_greenlets: Any = weakref.WeakSet()


def _thread_state(kill_deferred: bool = True) -> _ThreadState:
    """Return this thread's state, creating its main greenlet on first use (R21).

    R26: greenlets other threads dropped are killed here, unless *kill_deferred*
    is false (settrace/gettrace do not run them, as upstream).
    """
    ts = cython.declare(_ThreadState, _prim.get_thread_data())
    if ts is None:
        # R27: even while the interpreter finalizes (only getcurrent() refuses then)
        ts = _ThreadState()
        _make_main(ts)
    elif kill_deferred and ts.deleteme:
        _kill_deleteme(ts)
    if _orphans or _held_orphans:
        _free_orphans()
    return ts


def _free_orphans() -> None:
    if _held_orphans:  # skipped before: look at them again
        _orphans.extend(_held_orphans)
        del _held_orphans[:]
    held = []
    while True:
        try:
            s, refs = _pop_counted(_orphans)
        except IndexError:  # empty (perhaps emptied by another thread meanwhile)
            break
        if s.finished:
            pass
        elif refs > _ORPHAN_REFS:
            # A collection of a cycle runs the finalizers of the greenlet and
            # of its state in either order, even when the greenlet survives:
            # a state its greenlet still holds is no orphan yet.  Its
            # greenlet's finalizer kills it, or the greenlet was resurrected;
            # then the state is freed here once that greenlet is gone (no
            # finalizer runs twice).  PyPy finalizes the greenlet first.
            held.append(s)
        else:
            _deactivate(s)
        del s  # the refcount test above must not count this loop's previous state
    _held_orphans.extend(held)


def _pop_counted(states: list) -> tuple:
    """Pop a state and count its references (0 without refcounts)."""
    # One function for the probe and for _free_orphans: what sys.getrefcount
    # counts for a local depends on the bytecode around it (3.14 passes some
    # locals without a new reference), so both must count the same way.
    s = states.pop()
    return s, (_getrefcount(s) if _getrefcount is not None else 0)


def _orphan_refs() -> int:
    """How many references ``_free_orphans`` sees on a state that only it holds."""
    return _pop_counted([_State(None)])[1]


_getrefcount = getattr(sys, "getrefcount", None)
_ORPHAN_REFS = _orphan_refs()


def _on_thread_exit(ts: _ThreadState) -> None:
    """R22: the thread ended: everything it owned is dead now, and no code runs in it."""
    ts.alive = False
    ts.tracer = None
    deleteme, ts.deleteme = ts.deleteme, []
    for g in deleteme:  # R26: dropped elsewhere, owner gone: free without GreenletExit
        _deactivate(_st(g))
    ts.current = None
    if ts.main is not None:
        # The main greenlet outlives its thread as long as a greenlet of it
        # is referenced (its parent): it needs nothing of the thread then.
        try:
            _st(ts.main).stacklet = None
        except Exception:  # interpreted, at teardown: this module's globals are gone
            pass


def _deactivate(s: _State) -> None:
    """Make a started greenlet dead without running any Python code in it."""
    stacklet = s.stacklet
    s.finished = True
    s.stacklet = None
    s.context = None
    if stacklet is not None and not _finalizing():
        _prim.discard(stacklet)


# --------------------------------------------------------------------------------------
# Helpers for the rules
# --------------------------------------------------------------------------------------


def _active(s: _State) -> bool:
    """R39: started, not finished, and its thread still alive."""
    return s.started and not s.finished and s.ts.alive


def _tp_name(g: Any) -> str:
    """The type's name as upstream's tp_name gives it (R38, R40).

    That is ``module.name`` for a type made in C (the greenlet type itself, a
    C subclass) and ``name`` for a class made by a class statement.
    """
    cls = type(g)
    if (
        cls is greenlet
        or not getattr(cls, "__flags__", _Py_TPFLAGS_HEAPTYPE) & _Py_TPFLAGS_HEAPTYPE
    ):
        return "%s.%s" % (cls.__module__, cls.__name__)
    return cls.__name__


_Py_TPFLAGS_HEAPTYPE = 1 << 9


def _pack(args: tuple, kwargs: Any) -> Any:
    """R1: what the receiving side of a switch gets.

    *args* may be a tuple subclass (from the C API): as upstream, its length
    and items are the tuple's own, whatever the subclass makes of them.
    """
    n = len(cython.cast(tuple, args))
    if kwargs:
        if n:
            return (args, kwargs)
        return kwargs
    if n == 1:
        return cython.cast(tuple, args)[0]
    return args


def _lineage_ts(g: Any) -> Any:
    """The thread state of the first started greenlet on g's parent chain (R20)."""
    while g is not None:
        s = _st(g)
        if s.ts is not None:
            return s.ts
        g = s.parent
    return None


def _check_switch_allowed(target: Any, ts: _ThreadState) -> None:
    """R20: a greenlet can only be switched to from the thread it belongs to."""
    owner = cython.declare(_ThreadState, _lineage_ts(target))
    if owner is None:
        raise error("cannot switch to a garbage collected greenlet")
    if not owner.alive:
        raise error("cannot switch to a different thread (which happens to have exited)")
    if owner is not ts:
        raise error(
            "Cannot switch to a different thread\n\tCurrent:  %r\n\tExpected: %r"
            % (ts.main, owner.main)
        )


def _normalize_throw(typ: Any, val: Any, tb: Any) -> BaseException:
    """R10: validate throw()'s arguments like generator.throw, in the caller."""
    if tb is not None and not isinstance(tb, TracebackType):
        raise TypeError("throw() third argument must be a traceback object")
    if isinstance(typ, type) and issubclass(typ, BaseException):
        if isinstance(val, typ):
            exc = val
        else:
            # As upstream, which normalizes in the target: an exception class
            # that fails to make an instance throws that failure instead.
            try:
                if val is None:
                    made = typ()
                elif isinstance(val, tuple):
                    made = typ(*val)
                else:
                    made = typ(val)
            except BaseException as e:
                made = _without_entry_frame(e, True)  # no cycle through this frame
            if not isinstance(made, BaseException):
                made = TypeError(
                    "calling %r should have returned an instance of BaseException, not %s"
                    % (typ, type(made).__name__)
                )
            exc = made
    elif isinstance(typ, BaseException):
        if val is not None:
            raise TypeError("instance exception may not have a separate value")
        exc = typ
    else:
        raise TypeError("exceptions must be classes, or instances, not %s" % type(typ).__name__)
    if tb is not None:
        _exc_traceback.__set__(exc, tb)  # not with_traceback(): a subclass may override it
    return exc


def _call_tracer(ts: _ThreadState, exc: Any, origin: Any, target: Any) -> Any:
    """R28-R31: report a switch to the thread's tracer, in the target, after the switch.

    Returns the exception to raise in the target: the pending one, or the
    tracer's own if it raised (R31: the tracer is then removed).  Like
    upstream (PyThreadState_EnterTracing), the tracer runs with the thread's
    sys.settrace/sys.setprofile hooks suspended, not removed (R28): they do
    not see its code, sys.gettrace() still answers, one set there stays.
    """
    tracer = ts.tracer
    _prim.enter_tracing()
    try:
        tracer("throw" if exc is not None else "switch", (origin, target))  # R29
    except BaseException as e:  # R31
        ts.tracer = None
        return e
    finally:
        _prim.leave_tracing()
    return exc


def _init_fast_path() -> int:
    """Compiled: hand the switch fast path (pyg_type.h: pyg_fast_switch) what it needs.

    The common case of _switch in C reads and writes fields of _ThreadState
    and _State: where they are is found on a probe whose fields all differ.
    """
    t = _ThreadState()
    st = _State(None)
    t.current, t.tracer, t.deleteme = object(), object(), []
    t.x_origin, t.x_target, t.x_args = object(), object(), object()
    t.x_kwargs, t.x_exc, t.x_run = object(), object(), object()
    st.ts, st.stacklet, st.context = object(), object(), object()
    pyg_fast_init(  # noqa: F821 (this and the rest: declared in _speedups.pxd)
        _prim.fast_api(),  # type: ignore[attr-defined]
        _ThreadState,
        pyg_object_field_offset(t, t.current),  # noqa: F821
        pyg_object_field_offset(t, t.tracer),  # noqa: F821
        pyg_object_field_offset(t, t.deleteme),  # noqa: F821
        pyg_offset_of(t, cython.address(t.switching)),  # noqa: F821
        pyg_object_field_offset(t, t.x_origin),  # noqa: F821
        pyg_object_field_offset(t, t.x_target),  # noqa: F821
        pyg_object_field_offset(t, t.x_args),  # noqa: F821
        pyg_object_field_offset(t, t.x_kwargs),  # noqa: F821
        pyg_object_field_offset(t, t.x_exc),  # noqa: F821
        pyg_object_field_offset(t, t.x_run),  # noqa: F821
        pyg_object_field_offset(st, st.ts),  # noqa: F821
        pyg_object_field_offset(st, st.stacklet),  # noqa: F821
        pyg_object_field_offset(st, st.context),  # noqa: F821
        _RUNNING,
        _orphans,
        _held_orphans,
        Context,
        cython.address(_fast_call_tracer),
        cython.address(_raise),
        cython.address(_pack),
    )
    return 0


def _fast_call_tracer(ts: Any, exc: Any, origin: Any, target: Any) -> Any:
    """_call_tracer for the switch fast path (pyg_type.h), whose C knows no _ThreadState."""
    return _call_tracer(ts, exc, origin, target)


def _raise(exc: BaseException) -> Any:
    """Raise *exc* where a switch resumes, without chaining it to the exception being handled.

    Upstream restores the exception as the thread's pending error, so it never
    gets an implicit ``__context__`` from the receiver's ``except`` block (R5, R11).
    """
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context
        # R23: the traceback holds this frame; a frame holding the exception
        # would be a cycle, and whatever the frames of the traceback hold (a
        # killed greenlet's locals) would wait for the cyclic GC.
        del exc, context


# --------------------------------------------------------------------------------------
# The switch
# --------------------------------------------------------------------------------------


def _resolve(ts: _ThreadState, target: Any) -> tuple:
    """Find who actually runs when switching to *target*; return (greenlet, run or _RUNNING).

    R9: a dead target is replaced by its first live ancestor.  R8/R43: an
    unstarted one has its ``run`` looked up (ordinary attribute access, which
    may run code and even switch); if it got started meanwhile, retry.
    """
    hopped = False
    while True:
        s = _st(target)
        if s.started:
            if not s.finished:
                return target, _RUNNING
            target = s.parent  # R9
            hopped = True
            continue
        if type(target) is greenlet and not hopped:
            # R8 for the base type: its own run property, which runs no code,
            # so nothing changed since the caller checked R20 for this target.
            run = s.run
            if run is _MISSING:
                raise AttributeError("run")
            return target, run
        run = target.run  # R8: AttributeError('run') propagates to the caller
        if s.started:  # R43: started re-entrantly while looking up run
            continue
        _check_switch_allowed(target, ts)  # R20: lineage may have changed during lookup
        return target, run


def _enter(
    ts: _ThreadState,
    target: Any,
    s: _State,
    run: Any,
    origin: Any,
    args: Any,
    kwargs: Any,
    exc: Any,
) -> Any:
    """Prepare *target* (whose state is *s*) to run, starting it unless *run* is _RUNNING.

    Fills the thread's hand-over (``ts.x_*``: *origin*, *target*, *args*,
    *kwargs*, *exc*, and *run* for a start) and returns the stacklet to
    switch to.  The target makes itself current when it runs: until then the
    origin still is, so code that runs in between (a finalizer called by a
    garbage collection that an allocation started) sees the truth
    (docs/internals/hazards.rst: GC during a switch).

    Returns None, having changed nothing, when the allocations here ran code
    (a finalizer, through the GC) that started or finished *target*: the
    caller resolves it again (R43; upstream, too, re-checks "started").
    """
    if not cython.compiled:
        handover = (origin, target, args, kwargs, exc, run)  # allocates: may run any code
    if run is not _RUNNING:
        stacklet = _prim.new_stacklet(_entry)  # so does this
        if not cython.compiled:
            # before the start is recorded: an exception raised here (by a
            # signal handler) leaves the target unstarted
            _prim.put(stacklet, handover)
        if s.started:
            return None
        s.started = True
        s.ts = ts
        s.stacklet = stacklet
    elif s.finished:
        return None
    if cython.compiled:
        # Nothing allocates or runs code from here until the target has taken these.
        ts.x_origin = origin
        ts.x_target = target
        ts.x_args = args
        ts.x_kwargs = kwargs
        ts.x_exc = exc
        ts.x_run = run
    elif run is _RUNNING:
        _prim.put(s.stacklet, handover)
    return s.stacklet


def _switch(target: Any, args: tuple, kwargs: Any, exc: Any) -> Any:
    """Switch from the running greenlet to *target*; return what we get when resumed.

    *exc* may come in a one-item list, which is emptied: then the caller's
    frame, parked across the switch, keeps no reference to the exception
    (R11: as upstream, a thrower does not keep what it threw alive).

    Compiled, the common case of ``greenlet.switch`` and PyGreenlet_Switch
    (an active greenlet of this thread, nothing to kill first, no
    exception) runs the same steps in C instead: pyg_fast_switch in
    _speedups/pyg_type.h (docs/internals/type.rst: "The switch fast path").
    A change to the steps here must be made there too.
    """
    if type(exc) is list:
        exc = exc.pop()
    ts = cython.declare(_ThreadState, _prim.get_thread_data())
    if ts is None or _orphans or _held_orphans:
        ts = _thread_state(False)
    s = _st(target)
    checked = False  # R20 checked for target, and no code ran since
    if not (s.ts is ts and s.started and not s.finished):
        # R20 first: as upstream, a switch to another thread's greenlet fails
        # before the greenlets other threads dropped are killed (R26).  An
        # unstarted greenlet whose parent is a greenlet of this thread (the
        # common start) passes: _lineage_ts would find this very thread.
        if s.started or s.parent is None or _st(s.parent).ts is not ts:
            _check_switch_allowed(target, ts)
        checked = True
    if ts.deleteme:
        _kill_deleteme(ts)
        checked = False
    stacklet: Any = None
    while True:
        if s.ts is ts and s.started and not s.finished:
            run = _RUNNING  # the common case: an active greenlet of this very thread
        else:
            if not checked:
                _check_switch_allowed(target, ts)  # R20
            if not s.started and type(target) is greenlet:
                # R8 for the base type, as in _resolve, without building its tuple
                run = s.run
                if run is _MISSING:
                    raise AttributeError("run")
            else:
                target, run = _resolve(ts, target)
                s = _st(target)
        checked = False
        origin = ts.current
        if target is origin:
            break
        # Leave: save what is per greenlet in the thread's interpreter state (R32).
        # R33/R34: exception state and recursion depth are the primitive's job
        # (its own OS thread here, saved thread-state fields when compiled).
        _st(origin).context = _prim.get_context()
        ts.switching = True
        stacklet = _enter(ts, target, s, run, origin, args, kwargs, exc)
        if stacklet is not None:
            break
        ts.switching = False  # R43: started or finished meanwhile; resolve again
    # What we return (R1): our own arguments for a switch to oneself (R3),
    # else whatever tuple the switch to us brings (the C API's may be a
    # tuple subclass, which the ``tuple`` of this signature would refuse).
    got: Any = args
    if target is not origin:
        starting = run is not _RUNNING
        # Nothing in this frame may keep a greenlet alive while it is parked
        # (R23): ``origin`` travels in the hand-over and is dropped by the
        # receiver; the target (for a dead one, the ancestor that runs
        # instead, R9) is referenced by the hand-over until it runs.
        del origin, args, got, kwargs, exc, target, run
        try:
            handover = _prim.switch(stacklet)
        except BaseException as e:
            if getattr(e, "_pyg_unwind", False):
                # This stacklet was discarded while parked here (_primitive.pyi):
                # the switch had handed off; there is nothing to take back.
                raise
            # The primitive could not start the target (a thread or memory
            # limit; on the reference backend, no new threads at interpreter
            # shutdown on 3.12+): nothing happened, it stays unstarted (R8).
            ts.switching = False
            _take_back(ts, s, starting)
            raise
        # Resumed.  Take the hand-over before anything can run code here.
        if cython.compiled:
            origin = ts.x_origin
            me = ts.x_target
            got = ts.x_args
            kwargs = ts.x_kwargs
            exc = ts.x_exc
            ts.x_origin = ts.x_target = ts.x_args = ts.x_kwargs = ts.x_exc = ts.x_run = None
        else:
            origin, me, got, kwargs, exc, _ = handover
            del handover  # the tuple would keep origin alive after the del below
        ts.current = me
        ts.switching = False
        # Now what the switch left behind may go (it may run any code, even
        # switch); then, R23: whatever this frame held across the switch (a
        # finished greenlet's last references) must go now, not when the
        # caller returns: a drop may be the kill of a victim.
        _prim.settle()
        del s, stacklet
        # We were switched to: restore our state (R32).
        s = _st(me)
        _prim.set_context(s.context)
        s.context = None
        del s, me  # R23: the running greenlet must not be kept alive by its own frame
    if ts.tracer is not None:  # R28; R3: a switch to oneself is reported too
        exc = _call_tracer(ts, exc, origin, ts.current)
    # Dropping ``origin`` may free it, which may kill it (R23) and run code;
    # what we got is in locals, so it is not lost.
    del origin
    if exc is not None:
        try:
            _raise(exc)
        finally:
            del exc  # no cycle through this frame either (see _raise)
    return _pack(got, kwargs)


def _take_back(ts: _ThreadState, s: _State, starting: bool) -> None:
    """Undo _enter after the primitive refused to start the target."""
    if cython.compiled:
        ts.x_origin = ts.x_target = ts.x_args = ts.x_kwargs = ts.x_exc = ts.x_run = None
    else:
        _prim.put(s.stacklet, None)
    if starting:
        s.started = False
        s.ts = None
        s.stacklet = None


def _bootstrap() -> Any:
    """The body of every started greenlet, on its own primitive context (R2, R4-R6).

    Whatever is raised here, by run or by this function itself (a
    RecursionError when the greenlet starts at the recursion limit), is handed
    to the parent (R5); nothing may escape to the primitive.
    """
    ts = cython.declare(_ThreadState, _prim.get_thread_data())
    if cython.compiled:
        origin = ts.x_origin
        me = ts.x_target
        args = ts.x_args
        kwargs = ts.x_kwargs
        exc = ts.x_exc
        run = ts.x_run
        ts.x_origin = ts.x_target = ts.x_args = ts.x_kwargs = ts.x_exc = ts.x_run = None
    else:
        origin, me, args, kwargs, exc, run = _prim.take()
    ts.current = me
    ts.switching = False
    _prim.settle()  # what the switch left behind may go now (see _switch)
    s = _st(me)
    _prim.set_context(s.context)  # R32: a new greenlet has no context unless one was set
    s.context = None
    try:
        if ts.tracer is not None:
            exc = _call_tracer(ts, exc, origin, me)  # R30: before run is called
    except BaseException as e:
        exc = e
    del origin, me, s  # R23: this frame must not keep its own greenlet alive
    result: Any = None
    try:
        if exc is None:
            try:
                result = run(*args, **kwargs) if kwargs else run(*args)  # R2
            except GreenletExit as e:  # R6
                # As upstream: before 3.12 the value has no traceback (upstream
                # fetched the exception as type, value and traceback apart); from
                # 3.12 it keeps the frames of run, not this frame's entry.
                result = _without_entry_frame(e, _EXIT_KEEPS_TRACEBACK)
            except BaseException as e:  # R5
                exc = _without_entry_frame(e, True)
        elif isinstance(exc, GreenletExit):  # R12: never ran; GreenletExit is a value
            result, exc = exc, None
    except BaseException as e:  # raised by this function itself: R5 all the same
        result, exc = None, e
    del run, args, kwargs
    if not cython.compiled:
        # R23: this frame must not hold the outcome when it ends.  The frames
        # of run in the exception's traceback point back to this one
        # (f_back): an outcome kept here would be a cycle, and whatever those
        # frames hold (a greenlet dropped with them, to be killed) would wait
        # for the cyclic GC.  Compiled, no Python frame of this function exists.
        outcome = [result, exc]
        del result, exc
        return _die(ts, None, None, outcome)
    return _die(ts, result, exc, None)


#: What every new stacklet runs (compiled: a C variable, no lookup by name).
_entry: Any = _bootstrap

#: BaseException's own traceback slot, whatever a subclass makes of
#: ``__traceback__`` or ``with_traceback`` (upstream hands the exception over
#: in C, without calling either).
_exc_traceback = BaseException.__dict__["__traceback__"]


def _without_entry_frame(e: BaseException, keep: bool) -> BaseException:
    """*e* with _bootstrap's traceback entry dropped (*keep*) or with no traceback (R5, R6).

    Returns *e* itself in every case: if even that fails (at the recursion
    limit), it goes as it is.
    """
    try:
        tb = _exc_traceback.__get__(e)
        _exc_traceback.__set__(e, tb.tb_next if keep and tb is not None else None)
    except BaseException:
        pass
    return e


def _die(ts: _ThreadState, result: Any, exc: Any, outcome: list | None) -> Any:
    """R4/R5/R7: the running greenlet finished; hand the outcome to its parent chain.

    The outcome is *result* and *exc* (the exception, or None), or, when
    *outcome* is a list, ``[result, exception]`` in it, which is emptied.
    Returns the stacklet that the primitive resumes as this one ends, or None
    when the stacklet was discarded.
    """
    if outcome is not None:
        result, exc = outcome
        outcome.clear()
    me = ts.current
    if me is None:
        return None  # discarded (R22, R23): end without switching anywhere
    s = _st(me)
    if s.stacklet is not _prim.current():
        return None  # the same
    ts.switching = True
    s.context = _prim.get_context()  # a dead greenlet keeps its last context (R32)
    _prim.set_context(None)
    s.finished = True
    s.stacklet = None
    parent = s.parent
    del s  # R23: the dying greenlet's state holds nothing for us any more
    args = () if exc is not None else (result,)
    del result  # it travels in args; the parent alone decides how long it lives
    stacklet: Any = None
    while parent is not None:  # R7: try each ancestor until one takes it
        try:
            ps = _st(parent)
            if ps.ts is ts and ps.started and not ps.finished:
                # the common case: an active greenlet of this thread (R20 holds)
                stacklet = _enter(ts, parent, ps, _RUNNING, me, args, None, exc)
            else:
                _check_switch_allowed(parent, ts)
                target, run = _resolve(ts, parent)
                stacklet = _enter(ts, target, _st(target), run, me, args, None, exc)
                del target, run
            del ps
            if stacklet is not None:
                break
            continue  # R43: started or finished meanwhile; resolve it again
        except BaseException as e:
            args, exc = (), e
            parent = _st(parent).parent
    if stacklet is None:
        # R7: no ancestor could take it: the thread's main greenlet does
        # (upstream stops the process with a fatal error).
        stacklet = _enter(ts, ts.main, _st(ts.main), _RUNNING, me, args, None, exc)
    # R23: no cycle through this frame (in the traceback of the exception it
    # hands over, interpreted) keeps the outcome or the greenlets alive.
    del me, args, exc, parent
    return stacklet


# --------------------------------------------------------------------------------------
# Collection (R23-R27)
# --------------------------------------------------------------------------------------


def _kill(g: Any, ts: _ThreadState) -> None:
    """R23-R25: throw GreenletExit into a collected, suspended greenlet of this thread."""
    s = _st(g)
    parent = s.parent
    s.parent = ts.current  # R23: come back to the collector when the victim ends
    try:
        # In a list that _switch empties: this parked frame must not keep the
        # GreenletExit (and through its traceback the victim's frames, and
        # what they hold) alive while the victim handles it (R11).
        _switch(g, (), None, [GreenletExit(_KILL_MESSAGE)])
    finally:
        s.parent = parent  # R23: restored, in case the victim was resurrected
    # R25 is checked by the caller, which knows whether the object was resurrected.


def _kill_deleteme(ts: _ThreadState) -> None:
    """R26: kill the greenlets other threads dropped, now that their owner runs."""
    while ts.deleteme:
        g = ts.deleteme.pop()
        try:
            _kill(g, ts)
        except BaseException:
            _write_unraisable(g)  # R24
        if _active(_st(g)):
            _report_not_killed(g)
        del g  # R23: the kill is over; the loop must not keep it alive meanwhile


def _report_not_killed(g: Any) -> None:
    """R25: a greenlet that ignored GreenletExit is reported and leaked, like upstream."""
    sys.stderr.write("GreenletExit did not kill %r\n" % (g,))
    _leaked.append(g)


_UnraisableHookArgs = None  # found on first use


def _write_unraisable(g: Any) -> None:
    """R24: report the exception being handled through sys.unraisablehook, about *g*."""
    exc_type, exc_value, exc_traceback = sys.exc_info()
    sys.unraisablehook(_unraisable_args((exc_type, exc_value, exc_traceback, None, g)))


def _unraisable_args(fields: tuple) -> Any:
    """Build the argument sys.unraisablehook takes (the default hook accepts only its own type)."""
    global _UnraisableHookArgs
    if _UnraisableHookArgs is None:
        seen: list = []
        hook, sys.unraisablehook = sys.unraisablehook, seen.append

        class _Probe:
            def __del__(self) -> None:
                raise RuntimeError

        try:
            _Probe()
            if not seen:
                import gc

                gc.collect()
        finally:
            sys.unraisablehook = hook
        _UnraisableHookArgs = type(seen[0]) if seen else _FallbackUnraisableArgs
        # The probe's report holds its traceback, whose frames hold this one:
        # drop it, so this call leaves no cycle that keeps *fields* alive.
        seen.clear()
    return _UnraisableHookArgs(fields)


class _FallbackUnraisableArgs:
    """The shape sys.unraisablehook expects, where its own type cannot be found."""

    __slots__ = ("exc_type", "exc_value", "exc_traceback", "err_msg", "object")

    def __init__(self, fields: tuple) -> None:
        self.exc_type, self.exc_value, self.exc_traceback, self.err_msg, self.object = fields


def _finalize(g: Any) -> None:
    """R23-R27: what happens when a greenlet object loses its last reference."""
    s = _st(g)
    if s.is_main or not s.started or s.finished:
        return
    ts = s.ts
    if not ts.alive or _finalizing():
        _deactivate(s)  # R22/R27: no code runs in it
        return
    if ts.switching or _prim.get_thread_data() is not ts:
        # R26: killed when its own thread next uses the API; also when the GC
        # found it in the middle of a switch of this thread.
        ts.deleteme.append(g)
        return
    del s  # _kill_and_report compares refcounts: this frame must not hold extra ones
    collector = _st(ts.current)
    if collector.pending_kills is not None:
        # R23: dropped by this greenlet while it is the collector of a kill
        # that is finishing (the victim's frames or result held it): the
        # _finalize running below us in this greenlet kills it next.  Killing
        # it here would nest one kill per greenlet in a chain of parked
        # greenlets each holding the next, and run the collector out of stack.
        # (The list belongs to the collecting greenlet, not to the thread:
        # kills in several greenlets may be suspended and end in any order.)
        collector.pending_kills.append(g)
        return
    collector.pending_kills = pending = []
    try:
        _kill_and_report(g, ts)
        del g  # R25: a greenlet that survived its kill is freed when its last holder goes
        while pending:  # in the order they were dropped
            _kill_and_report(pending.pop(0), ts)
    finally:
        collector.pending_kills = None
        if pending:  # left by an exception: killed at the next API call
            ts.deleteme.extend(pending)


def _kill_and_report(g: Any, ts: _ThreadState) -> None:
    """Kill *g* (R23), reporting what its kill raised (R24) or that it survived (R25)."""
    s = _st(g)
    before = _refcount(g)
    try:
        _kill(g, ts)
    except BaseException:
        _write_unraisable(g)  # R24
    # R25: still active, and nobody took a new reference during the kill.
    if _active(s) and _refcount(g) <= before:
        _report_not_killed(g)


def _refcount(g: Any) -> int:
    """How many references *g* has, or (PyPy) how many referrers outside pygreenlet."""
    getrefcount = getattr(sys, "getrefcount", None)
    if getrefcount is not None:
        return getrefcount(g)
    import gc  # PyPy: no reference counts, but the GC can list referrers

    return sum(
        1
        for r in gc.get_referrers(g)
        if not (
            hasattr(r, "f_globals") and r.f_globals.get("__name__", "").startswith("pygreenlet")
        )
    )


# --------------------------------------------------------------------------------------
# The greenlet type
# --------------------------------------------------------------------------------------


class _Slots:
    """The storage of a greenlet: its ``__dict__``, its weak references and its state (R42).

    R48: compiled, this is upstream's C struct (see _speedups.pxd): basicsize
    40, weak references at 16, ``__dict__`` at 24 and the state at 32 on 64-bit.
    """

    if not cython.compiled:
        __slots__ = ("_s", "__dict__", "__weakref__")


_dict_slot = _Slots.__dict__["__dict__"]
if not cython.compiled:
    # The state slot is reached only through its descriptor, which is taken off
    # the class: user code (a subclass's __getattribute__, an attribute named
    # ``_s``) can neither see nor replace it, as with upstream's C struct field
    # (compiled, it is a C field without any descriptor).
    _state_slot = _Slots.__dict__["_s"]
    del _Slots._s
    _get_state = _state_slot.__get__
    _put_state = _state_slot.__set__


def _st(g: Any) -> _State:
    """The state of greenlet *g*."""
    if cython.compiled:
        p = pyg_state_of(g)  # noqa: F821 (declared in _speedups.pxd)
        if p:
            return cython.cast(_State, p)
    else:
        try:
            return _get_state(g)
        except AttributeError:
            pass
    # R17: the GC's clear step emptied the slot and a finalizer revived the
    # object; like upstream, it is now an unstarted greenlet without a parent.
    s = _State(None)
    _set_state(g, s)
    return s


def _set_state(g: Any, s: _State) -> None:
    """Give greenlet *g* its state (TypeError for anything else)."""
    if cython.compiled:
        if not isinstance(g, greenlet):
            raise TypeError("expected a greenlet, not " + type(g).__name__)
        cython.cast(greenlet, g)._s = s
    else:
        _put_state(g, s)


def _get_dict(g: Any) -> Any:
    return _dict_slot.__get__(g)


def _set_dict(g: Any, value: Any) -> None:
    if not isinstance(value, dict):
        raise TypeError("__dict__ must be a dictionary")  # R41
    if cython.compiled:
        pyg_set_dict(g, value)  # noqa: F821 (Cython's own descriptor is read-only)
    else:
        _dict_slot.__set__(g, value)


def _del_dict(g: Any) -> None:
    raise TypeError("__dict__ may not be deleted")  # R41


def _chain_del(cls: Any) -> None:
    """Interpreted only: wrap the ``__del__`` a greenlet subclass runs so that it kills (R23)."""
    # R23: the kill on collection must happen even if a subclass defines
    # __del__ (or inherits one from a mixin placed before greenlet, or has one
    # set on it or on a base after it was made: checked again by __new__) and
    # does not call ours.  As upstream, whose kill comes after the finalizer,
    # a __del__ that resurrects the greenlet leaves it alive and unkilled.
    user_del = getattr(cls, "__del__", None)
    if user_del is not None and not getattr(user_del, "_pyg_chained", False):

        def __del__(self: Any) -> None:
            before = _refcount(self)
            try:
                user_del(self)
            except BaseException:
                # reported as CPython reports a failing __del__; the
                # traceback would hold self and look like a resurrection
                _write_unraisable(self)
            if _refcount(self) <= before:
                _finalize(self)

        __del__._pyg_chained = True  # type: ignore[attr-defined]
        cls.__del__ = __del__  # type: ignore[method-assign]


class greenlet(_Slots):
    """greenlet(run=None, parent=None) -> greenlet

    A lightweight coroutine: a separate call stack that runs ``run`` and can
    switch to and from other greenlets of the same thread.

    :param run: the callable to invoke on the first :meth:`switch`.  A
        subclass may define a ``run`` method instead.
    :param parent: the greenlet that receives ``run``'s result or exception.
        The default is the greenlet that is current when this one is created.
    """

    # R44: these names are also reachable through the type.
    GreenletExit = GreenletExit
    error = error

    if not cython.compiled:
        # Compiled, the same is done by the type's slots in
        # _speedups/pyg_type.h (tp_new calling _init_new, the kill in
        # tp_dealloc, the __dict__ setter).
        __slots__ = ()
        __dict__ = property(_get_dict, _set_dict, _del_dict)  # type: ignore[assignment]

        def __new__(cls, *args: Any, **kwargs: Any) -> greenlet:
            self = object.__new__(cls)
            _init_new(self)
            if not getattr(cls.__del__, "_pyg_chained", False):
                _chain_del(cls)  # R23: a __del__ set on the class after it was made
            return self

        def __init_subclass__(cls, **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)
            _chain_del(cls)

        def __del__(self) -> None:
            # R23: a suspended greenlet that loses its last reference is killed.
            _finalize(self)

        __del__._pyg_chained = True  # type: ignore[attr-defined]  (no wrapper for ours)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # R47: greenlet(run=None, parent=None), with CPython's argument errors
        if len(args) + len(kwargs) > 2:
            raise TypeError(
                "green() takes at most 2 arguments (%d given)" % (len(args) + len(kwargs))
            )
        run = args[0] if len(args) > 0 else _MISSING
        parent = args[1] if len(args) > 1 else _MISSING
        for key, value in kwargs.items():
            if key == "run":
                if run is not _MISSING:
                    raise TypeError("argument for green() given by name ('run') and position (1)")
                run = value
            elif key == "parent":
                if parent is not _MISSING:
                    raise TypeError(
                        "argument for green() given by name ('parent') and position (2)"
                    )
                parent = value
            elif sys.version_info >= (3, 13):  # R47: CPython 3.13's wording
                raise TypeError("green() got an unexpected keyword argument '%s'" % key)
            else:
                raise TypeError("'%s' is an invalid keyword argument for green()" % key)
        _set_run_and_parent(self, run, parent)

    def switch(self, *args: Any, **kwargs: Any) -> Any:
        """switch(*args, **kwargs)

        Switch execution to this greenlet.

        If it has not started yet, it starts: ``run(*args, **kwargs)`` is
        called.  If it is suspended, its pending :meth:`switch` returns
        ``args[0]`` for one argument, the args tuple otherwise (``()`` for
        none), the kwargs dict for keyword arguments only, or
        ``(args, kwargs)`` for both (R1).  If it is dead, the switch goes to its
        first live ancestor (R9).

        Returns (or raises) whatever is later switched back into the caller,
        packed the same way; the return value of a finished child arrives here
        as a single value, its uncaught exception is raised here.
        """
        try:
            return _switch(self, args, kwargs, None)
        except BaseException:
            # R23: the exception's traceback keeps this frame (interpreted):
            # it must not keep the greenlet switched to alive.
            del self, args, kwargs
            raise

    def throw(self, typ: Any = GreenletExit, val: Any = None, tb: Any = None) -> Any:
        """throw([typ, [val, [tb]]])

        Switch to this greenlet and raise an exception in it immediately.

        The default exception is :class:`GreenletExit`, which kills the
        greenlet quietly (R11).  The arguments follow ``generator.throw``; they
        are checked before switching (R10).  An unstarted greenlet is started
        without calling ``run`` and dies at once (R12).  A dead greenlet turns
        ``GreenletExit`` into a value for its parent and raises anything else
        there (R13).
        """
        try:
            return _throw(self, typ, val, tb)
        except BaseException:
            del self, typ, val, tb  # R23, as in switch()
            raise

    # -- run ---------------------------------------------------------------------------

    @property
    def run(self) -> Any:
        """The callable run by this greenlet; gone once it has started (R36, R37)."""
        s = _st(self)
        if s.is_main:
            raise AttributeError("Main greenlets do not have a run attribute.")  # R37
        if s.started or s.run is _MISSING:
            raise AttributeError("run")  # R36
        return s.run

    @run.setter
    def run(self, value: Any) -> None:
        _set_run(self, value)

    @run.deleter
    def run(self) -> None:
        _set_run(self, _MISSING)

    # -- parent ------------------------------------------------------------------------

    @property
    def parent(self) -> Any:
        """The greenlet that gets this one's result; None for a main greenlet (R19).

        Setting it checks the type (R15), cycles (R16), collected chains (R17)
        and threads (R18).
        """
        return _st(self).parent

    @parent.setter
    def parent(self, value: Any) -> None:
        _set_parent(self, value)

    @parent.deleter
    def parent(self) -> None:
        _set_parent(self, _MISSING)

    # -- state -------------------------------------------------------------------------

    @property
    def dead(self) -> bool:
        """True if this greenlet has finished, or its thread has exited (R39, R22)."""
        s = _st(self)
        if s.started and not s.finished and not s.ts.alive:
            _deactivate(s)  # R22: like upstream, free what a dead thread's greenlet holds
        return s.started and not _active(s)

    def __bool__(self) -> bool:
        """True while active: started and not dead (R39)."""
        return _active(_st(self))

    @property
    def gr_frame(self) -> Any:
        """The frame where a suspended greenlet will resume; None otherwise (R35)."""
        s = _st(self)
        if not _active(s) or s.ts.current is self:
            return None
        return _prim.frame(s.stacklet)

    @property
    def gr_context(self) -> Any:
        """This greenlet's ``contextvars.Context``, or None before it has one (R32)."""
        s = _st(self)
        if s.started and _active(s) and s.ts.current is self:
            if s.ts is not _prim.get_thread_data():
                raise ValueError(
                    "cannot get context of a greenlet that is running in a different thread"
                )
            return _prim.get_context()
        return s.context

    @gr_context.setter
    def gr_context(self, value: Any) -> None:
        if value is not None and type(value) is not Context:
            raise TypeError("greenlet context must be a contextvars.Context or None")
        s = _st(self)
        if s.started and _active(s) and s.ts.current is self:
            if s.ts is not _prim.get_thread_data():
                raise ValueError(
                    "cannot set context of a greenlet that is running in a different thread"
                )
            _prim.set_context(value)
        else:
            s.context = value

    @gr_context.deleter
    def gr_context(self) -> None:
        raise AttributeError("can't delete context attribute")

    @property
    def _stack_saved(self) -> int:
        """Bytes of this greenlet's C stack currently copied to the heap (R46)."""
        s = _st(self)
        if not _active(s) or s.ts.current is self:
            return 0
        return _prim.stack_saved(s.stacklet)

    # -- object protocol ---------------------------------------------------------------

    def __getstate__(self) -> Any:
        """Greenlets cannot be pickled or copied (R40)."""
        raise TypeError("cannot serialize '%s' object" % _tp_name(self))

    def __reduce_ex__(self, protocol: Any) -> Any:
        if type(self) is greenlet and protocol in (0, 1):
            # R40: upstream's base type goes through copyreg's old-protocol
            # path, which refuses a C type by its short name
            raise TypeError("cannot pickle 'greenlet' object")
        raise TypeError("cannot serialize '%s' object" % _tp_name(self))  # R40

    def __repr__(self) -> str:
        """R38: ``<type object at addr (otid=...) state flags>``."""
        s = _st(self)
        ts = s.ts
        head = "<%s object at 0x%x (otid=%s)" % (
            _tp_name(self),
            id(self),
            "0x%x" % id(ts) if ts is not None and ts.alive else "0x(nil)",
        )
        if not s.started:
            return head + " pending>"
        exited = " (thread exited)" if not ts.alive else ""
        if not _active(s):
            return head + exited + " dead>"
        running_here = ts.current is self and ts is _prim.get_thread_data()
        where = " current" if running_here else " suspended"
        return head + where + " active started" + (" main>" if s.is_main else ">")


def _throw(g: Any, typ: Any, val: Any, tb: Any) -> Any:
    """greenlet.throw of the base type (also the C API's PyGreenlet_Throw)."""
    exc = _normalize_throw(typ, val, tb)  # R10
    s = _st(g)
    if s.started and not _active(s) and isinstance(exc, GreenletExit):
        return _switch(g, (exc,), None, None)  # R13
    box = [exc]  # R11: handed over, not kept by this frame across the switch
    del exc, s, typ, val, tb
    try:
        return _switch(g, (), None, box)
    except BaseException:
        del g  # R23, as in switch()
        raise


def _set_run_and_parent(g: Any, run: Any, parent: Any) -> None:
    """The end of greenlet.__init__: *run* and *parent* as given (_MISSING: not given)."""
    if run is not _MISSING:
        _set_run(g, run)
    if parent is not _MISSING and parent is not None:
        _set_parent(g, parent)


def _init_new(g: Any) -> int:
    """A new greenlet's state, its parent the current greenlet (compiled: the type's tp_new).

    Set when the object is made, as upstream's tp_new does, so a subclass
    whose __init__ never calls greenlet.__init__ still has its parent.
    """
    _set_state(g, _new_state(_thread_state().current))
    return 0


def _init_args(g: Any, run: Any, parent: Any) -> int:
    """greenlet(run, parent) with positional arguments only (compiled: the type's fast tp_init).

    *run* and *parent* are C pointers there, NULL when not given.
    """
    _set_run_and_parent(
        g,
        cython.cast(object, run) if run else _MISSING,
        cython.cast(object, parent) if parent else _MISSING,
    )
    return 0


def _set_run(g: Any, value: Any) -> None:
    s = _st(g)
    if s.is_main:
        raise AttributeError("Main greenlets do not have a run attribute.")  # R37
    if s.started:
        raise AttributeError("run cannot be set after the start of the greenlet")  # R36
    s.run = value


def _set_parent(g: Any, value: Any) -> None:
    s = _st(g)
    if value is _MISSING:
        raise AttributeError("can't delete attribute")  # R14 (main greenlets too)
    if s.is_main:
        raise AttributeError("cannot set the parent of a main greenlet")  # R19
    if not isinstance(value, greenlet):
        raise TypeError(
            "GreenletChecker: Expected any type of greenlet, not " + type(value).__name__
        )  # R15
    owner = None
    p = value
    while p is not None:
        if p is g:
            raise ValueError("cyclic parent chain")  # R16
        owner = _st(p).ts
        p = _st(p).parent
    if owner is None:
        raise ValueError("parent must not be garbage collected")  # R17
    if s.started and s.ts is not owner:
        raise ValueError("parent cannot be on a different thread")  # R18
    s.parent = value


_TYPE_MODULE = "pygreenlet"  # the type's __module__; "greenlet" while standing in


def _set_type_attr(name: str, value: Any) -> None:
    """Set an attribute of the greenlet type (a static type, compiled: written in C)."""
    if cython.compiled:
        pyg_type_setattr(greenlet, name, value)  # noqa: F821 (declared in _speedups.pxd)
    else:
        setattr(greenlet, name, value)


def _name_type(module: str) -> None:
    """R38/R40: make the type ``<module>.greenlet``, the name in its repr and messages."""
    global _TYPE_MODULE
    _TYPE_MODULE = module
    if cython.compiled:
        # tp_name must outlive the type: static strings
        if module == "greenlet":
            pyg_type_set_name(greenlet, b"greenlet.greenlet")  # noqa: F821
        else:
            pyg_type_set_name(greenlet, b"pygreenlet.greenlet")  # noqa: F821
    else:
        greenlet.__module__ = module


_name_type("pygreenlet")
if cython.compiled:
    _set_type_attr("__dict__", property(_get_dict, _set_dict, _del_dict))


# --------------------------------------------------------------------------------------
# Module functions
# --------------------------------------------------------------------------------------


def getcurrent() -> greenlet:
    """Return the greenlet running in this thread, creating its main greenlet if needed.

    Raises RuntimeError once the interpreter is finalizing (R27).
    """
    # compiled, a fast-call builtin running _capi_getcurrent replaces this def
    # (the end of this module)
    return _capi_getcurrent()


def settrace(callback: Callable[[str, tuple], Any] | None) -> Any:
    """Set this thread's greenlet tracer (None clears it); return the previous one (R28).

    The tracer is called as ``callback(event, (origin, target))`` with event
    ``'switch'`` or ``'throw'``, in the target greenlet, after each switch.
    """
    ts = _thread_state(False)
    previous, ts.tracer = ts.tracer, callback
    return previous


def gettrace() -> Any:
    """Return this thread's greenlet tracer, or None (R28)."""
    return _thread_state(False).tracer


# R44: upstream copies these into the type's namespace too.
_set_type_attr("getcurrent", staticmethod(getcurrent))
_set_type_attr("settrace", staticmethod(settrace))
_set_type_attr("gettrace", staticmethod(gettrace))


# --------------------------------------------------------------------------------------
# What pygreenlet._greenlet reports (upstream's private module)
# --------------------------------------------------------------------------------------


def _total_main_greenlets() -> int:
    """How many main greenlets exist: one per thread that used the API and is not freed."""
    return len(_main_greenlets)


def _pending_cleanup_count() -> int:
    """How many stacks of collected greenlets are still to be freed (R23, R26)."""
    return len(_orphans) + len(_held_orphans)


def _trash_delete_nesting() -> int:
    """The running thread's deallocation nesting (the "trash can"), where it can be read."""
    if cython.compiled:
        nesting = pyg_trash_delete_nesting()  # noqa: F821 (declared in _speedups.pxd)
    else:
        nesting = 0  # the reference backend cannot read it (docs/guide/dropin.rst)
    return nesting


def _thread_state_dict() -> dict:
    """The running thread's state dict (``PyThreadState_GetDict``), which lives as long."""
    if cython.compiled:
        d = pyg_thread_state_dict()  # noqa: F821 (declared in _speedups.pxd)
    else:
        try:
            import ctypes

            get = ctypes.pythonapi.PyThreadState_GetDict
        except (ImportError, AttributeError):  # PyPy: no C API through ctypes
            import threading

            local = _thread_local_fallback.setdefault("local", threading.local())
            if not hasattr(local, "d"):
                local.d = {}
            d = local.d
        else:
            # a borrowed reference: taken as an address, so that ctypes does
            # not release a reference it never got
            get.restype = ctypes.c_void_p
            get.argtypes = []
            d = ctypes.cast(get(), ctypes.py_object).value
    return d


_thread_local_fallback: dict = {}


# --------------------------------------------------------------------------------------
# The compiled type's protocol and the C API (compiled only; see _speedups/pyg_type.h)
# --------------------------------------------------------------------------------------

# R48: the C API's functions run the rules above; pyg_type.h checks their
# arguments (not a greenlet: TypeError) and turns NULL into None or _MISSING.


def _finalize_in_dealloc(g: Any) -> int:
    """R23: the kill on collection, run by the type's tp_dealloc; reports, never raises."""
    try:
        _finalize(g)
    except BaseException:
        _write_unraisable(g)  # R24
    return 0


def _capi_getcurrent() -> Any:
    """getcurrent() and PyGreenlet_GetCurrent.

    Compiled, its common case runs in C: pyg_fast_getcurrent (pyg_type.h).
    """
    if _finalizing():
        raise RuntimeError("greenlet is being finalized")  # R27
    ts = cython.declare(_ThreadState, _prim.get_thread_data())
    if ts is None or ts.deleteme or _orphans or _held_orphans:
        ts = _thread_state()  # the first use in this thread, or work to do first (R26)
    return ts.current


def _capi_switch(g: Any, args: tuple, kwargs: Any) -> Any:
    """PyGreenlet_Switch: the base type's switch, whatever a subclass overrides."""
    return _switch(g, args, kwargs, None)


def _capi_throw(g: Any, typ: Any, val: Any, tb: Any) -> Any:
    """PyGreenlet_Throw."""
    return _throw(g, typ, val, tb)


def _capi_set_parent(g: Any, parent: Any) -> Any:
    """PyGreenlet_SetParent (R14-R19)."""
    _set_parent(g, parent)


def _capi_flags(g: Any) -> int:
    """PyGreenlet_MAIN, _STARTED and _ACTIVE, as bits (R39)."""
    s = _st(g)
    flags = 0
    if cython.compiled:
        if s.is_main:
            flags |= PYG_FLAG_MAIN  # noqa: F821 (declared in _speedups.pxd)
        if s.started:
            flags |= PYG_FLAG_STARTED  # noqa: F821
        if _active(s):
            flags |= PYG_FLAG_ACTIVE  # noqa: F821
    return flags


def _capi_parent(g: Any) -> Any:
    """PyGreenlet_GetParent: the parent, None for a main greenlet."""
    return _st(g).parent


if cython.compiled:
    _probe_state = _State(None)
    _probe_slots = _Slots()
    cython.cast(_Slots, _probe_slots)._s = _probe_state
    pyg_type_init(  # noqa: F821 (declared in _speedups.pxd)
        greenlet,
        _State,
        pyg_object_field_offset(_probe_slots, _probe_state),  # noqa: F821
        pyg_offset_of(_probe_state, cython.address(cython.cast(_State, _probe_state).started)),  # noqa: F821
        pyg_offset_of(_probe_state, cython.address(cython.cast(_State, _probe_state).finished)),  # noqa: F821
        pyg_offset_of(_probe_state, cython.address(cython.cast(_State, _probe_state).is_main)),  # noqa: F821
        cython.address(_finalize_in_dealloc),
        cython.address(_init_args),
        cython.address(_init_new),
    )
    del _probe_state, _probe_slots
    pyg_capi_init(  # noqa: F821
        error,
        GreenletExit,
        _MISSING,
        cython.address(_capi_getcurrent),
        cython.address(_capi_switch),
        cython.address(_capi_throw),
        cython.address(_capi_set_parent),
        cython.address(_capi_flags),
        cython.address(_capi_parent),
    )
    # greenlet.switch as a fast-call method (its rules are the def above)
    pyg_install_switch(greenlet, greenlet.__dict__["switch"].__doc__)  # noqa: F821
    _init_fast_path()
    # getcurrent as a fast-call builtin (its rules are _capi_getcurrent); the
    # type holds the builtin itself, as upstream's does (R44)
    getcurrent = pyg_make_getcurrent(getcurrent.__doc__, __name__)  # noqa: F821
    _set_type_attr("getcurrent", getcurrent)
    #: The C API (pygreenlet/include/pygreenlet.h), as ``pygreenlet._C_API``.
    _C_API = pyg_capi_capsule(0)  # noqa: F821
    #: The same table, as ``greenlet._C_API`` while pygreenlet stands in for greenlet.
    _C_API_AS_GREENLET = pyg_capi_capsule(1)  # noqa: F821
