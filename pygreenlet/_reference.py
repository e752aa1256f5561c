"""Pure-Python primitive: one OS thread per started stacklet, with a strict hand-off."""

# The contract this module implements is written down in _primitive.pyi.
#
# How it works.  Every greenlet that has been started owns an OS thread (made
# with ``_thread.start_new_thread`` and a small stack).  Each stacklet has a
# "wake" lock that is held while the stacklet is parked.  Switching from A to B
# stores the value in B, releases B's wake lock and then blocks on A's own wake
# lock, so exactly one thread of a *logical* thread (the OS thread that made the
# main greenlet plus all the greenlet threads it started) runs Python code at a
# time.  A parked thread's frames refer to its stacklet, never to the greenlet
# object that owns it, so a suspended greenlet can still be collected.
from __future__ import annotations

import _thread
import ctypes
import gc
import sys
from collections import deque as _deque
from contextvars import Context as _Context
from itertools import chain as _chain
from itertools import repeat as _repeat
from itertools import starmap as _starmap
from typing import Any, Callable

NAME = "reference"

#: Stack size for greenlet threads: as much as the main thread usually has
#: (8 MiB), because the interpreter's recursion checks assume that much: its C
#: recursion limit (3.12+: repr() of deeply nested lists) and, on 3.9/3.10,
#: Python recursion under a raised limit, which runs on the C stack.  Only
#: the pages a greenlet touches are committed, so 10,000 parked greenlets
#: stay cheap.  On 32-bit, address space is scarce: 1 MiB there.
_STACK_SIZE = (8 if sys.maxsize > 2**32 else 1) * 1024 * 1024

_UNWIND = object()  # value that tells a parked stacklet to unwind and end


class _Unwind(BaseException):
    """Raised in a discarded stacklet's thread to unwind it (reference backend only)."""

    _pyg_unwind = True  # the semantics lets it through (_primitive.pyi: discard)


class _UnwindAgain(_Unwind):
    """Raised by a discarded stacklet's next switch(), which hands nothing off."""

    _pyg_unwind = False  # the semantics takes that switch back, then lets it through


# The functions of _thread, taken now: monkey-patching libraries (gevent,
# eventlet) replace them on the _thread module with green versions, which
# would make the OS threads and locks of this primitive greenlets of theirs.
_allocate_lock = _thread.allocate_lock
_start_new_thread = _thread.start_new_thread
_stack_size = _thread.stack_size
_get_ident = _thread.get_ident
_LockType = _thread.LockType
_release = _LockType.release
_acquire = _LockType.acquire
_pop = list.pop  # every wake has put a value first: it never raises

_tls = _thread._local()  # per OS thread: .group (logical thread), .stacklet
_start_lock = _allocate_lock()

# --- the hand-off (docs/internals/reference.rst) --------------------------------------
# Between "wake the target" and "this thread is blocked", the switching thread
# must run no bytecode: at every bytecode boundary the interpreter may run a
# collection (3.12+), a signal handler or a pending call, and that code would
# run beside the target's thread.  So the hand-off is one call into C that
# drains an iterator chain: release the target's lock (or start its thread),
# block on our own lock, and, once woken, pop the value put for us.  Only
# steps that run no code go in: map, starmap, chain, zip over C functions.
# Not iter(callable, sentinel): PyPy runs pending signal handlers in it, so a
# handler could land between two steps (seen as a switch to self, the thread
# state already naming the target, and every later switch() returning ()).
_drain = _deque(maxlen=0).extend


_steps = _chain  # the steps of a hand-off, run one after the other


# Python runs signal handlers only in the process's main OS thread, and runs
# them inside a blocking lock acquire there too: a handler would run beside
# the running greenlet while the main greenlet is parked.  That thread
# therefore blocks signals while parked (the kernel delivers them to another
# thread, and the handlers run once the main greenlet runs again).
try:
    import signal as _signal

    _sigmask: Any = _signal.pthread_sigmask
    _ALL_SIGNALS: Any = tuple(_signal.valid_signals())
    _SIG_BLOCK, _SIG_SETMASK = _signal.SIG_BLOCK, _signal.SIG_SETMASK
    import threading as _threading

    _MAIN_IDENT: Any = _threading.main_thread().ident
    del _threading
except (ImportError, AttributeError):  # no pthread_sigmask (Windows)
    _sigmask = None
    _MAIN_IDENT = None

# --- no collection while a switch is in flight ----------------------------------------
# A collection runs finalizers, which may call getcurrent() or switch.  From
# the moment a thread hands off until the target has made itself current
# (settle()), the thread state's "current" names the wrong greenlet for the
# OS thread that runs: collections are held off, by disabling the GC, for
# that span.  Switches in flight in several threads nest: the GC is back on
# when the last one settles, if it was on before the first.
#
# The bookkeeping takes no lock.  Any bytecode boundary may run a due
# collection (3.12+), a signal handler or another thread, and that code may
# switch greenlets: a greenlet that parked while holding a lock here would
# stop every later settle() (a hang seen with a weakref callback that
# switches).  Instead each update is one C call that drains C-level steps
# (no bytecode runs inside it), like the hand-off itself:
# - _gc_flight has one entry per switch in flight: whether the GC was on when
#   that switch began.  Entries are pushed and popped last in first out, so
#   the bottom one, the last popped, is the state from before the first.
# - a stacklet's _held has one entry per switch into it still to settle.
_gc_flight: list = []
# The pop that settles a switch looks up (the entry popped, how many stay):
# the last one re-enables the GC if it was on before the first.  The value
# is the argument tuples of the gc.enable() calls to make (one, or none).
_GC_AFTER_POP = {(True, 0): ((),)}


def _hold_gc(target: Stacklet) -> None:
    """Hold collections off until *target* settles (a collection due now may run first)."""
    _drain(
        _steps(
            map(list.append, (_gc_flight,), _starmap(gc.isenabled, ((),))),
            _starmap(gc.disable, ((),)),
            map(list.append, (target._held,), (None,)),
        )
    )


def _unhold_gc(stacklet: Stacklet) -> None:
    """Settle one switch into *stacklet* held by _hold_gc (gc.enable() if it was the last)."""
    key = zip(map(_pop, (_gc_flight,)), map(len, (_gc_flight,)))  # pops, then measures
    enable = _starmap(gc.enable, _chain.from_iterable(map(_GC_AFTER_POP.get, key, _repeat(()))))
    _drain(_steps(map(_pop, (stacklet._held,)), enable))


class _Group:
    """One logical thread: the OS thread of its main stacklet and all threads it started."""

    __slots__ = ("data", "on_exit", "running", "__weakref__")

    def __init__(self) -> None:
        self.data: Any = None
        self.on_exit: Callable[[Any], None] | None = None
        self.running: Any = None  # the stacklet whose OS thread runs now (set in the hand-off)


# --- imports while greenlets are parked (docs/internals/reference.rst) -----------------
# A greenlet that switches away in the middle of a module's top-level code
# keeps that module's import lock, which belongs to its OS thread.  Another
# greenlet of the same logical thread that imports the module would wait for
# it forever; with one OS thread per logical thread it gets the partially
# initialised module instead, as in a circular import.  importlib finds that
# case itself when the lock's owner waits, directly or through other
# threads, for the importing thread: it raises _DeadlockError, and "import"
# takes the partial module.  So a parked greenlet's OS thread is entered in
# importlib's wait-for graph (_blocking_on: thread ident to what it waits
# for, a lock before 3.12, a list of them since) as waiting for whichever
# OS thread of its logical thread runs now.
try:
    import _frozen_importlib as _importlib

    _blocking_on: Any = _importlib._blocking_on
    _ImportList: Any = getattr(_importlib, "_List", None)  # 3.12+: a list per thread
except (ImportError, AttributeError):  # pragma: no cover - no importlib bootstrap
    _blocking_on = None


class _ParkedOn:
    """What importlib sees a parked greenlet's OS thread wait for."""

    __slots__ = ("group",)

    def __init__(self, group: _Group) -> None:
        self.group = group

    @property
    def owner(self) -> Any:
        """The ident of the OS thread that runs the logical thread now."""
        running = self.group.running
        return None if running is None else running._ident


def _park_imports(me: Stacklet) -> Any:
    """Enter *me*'s OS thread in importlib's wait-for graph; return what _unpark_imports takes."""
    if _blocking_on is None:
        return None
    waits = me._parked_on
    if waits is None:
        waits = me._parked_on = _ParkedOn(_tls.group)
    if _ImportList is not None:
        entry = _blocking_on.setdefault(me._ident, _ImportList())
        entry.append(waits)
        return entry  # kept alive by the parked frame (the dict holds it weakly)
    # Before 3.12, one lock per thread: keep what was there (a finalizer
    # that switched in the middle of an import lock's acquire).
    before = _blocking_on.get(me._ident)
    _blocking_on[me._ident] = waits
    return (before,)


def _unpark_imports(me: Stacklet, token: Any) -> None:
    if token is None:
        return
    if type(token) is tuple:
        if token[0] is None:
            _blocking_on.pop(me._ident, None)
        else:
            _blocking_on[me._ident] = token[0]
    else:
        token.remove(me._parked_on)


class _ExitSentinel:
    """Lives only in the main OS thread's thread-local storage; dies with that thread."""

    __slots__ = ("group",)

    def __init__(self, group: _Group) -> None:
        self.group = group

    def __del__(self) -> None:
        group = self.group
        callback, data = group.on_exit, group.data
        group.on_exit = group.data = None
        if callback is not None:
            callback(data)


class Stacklet:
    """One execution context: the main one of a logical thread or a started one."""

    __slots__ = (
        "_wake",
        "_inbox",
        "_frame",
        "_done",
        "_trace",
        "_profile",
        "_entry",
        "_held",
        "_ident",
        "_parked_on",
        "_late",
        "_unmask",
        "_discarded",
        "__weakref__",
    )

    def __init__(self) -> None:
        self._wake = _allocate_lock()
        self._wake.acquire()  # held = parked (or not yet started)
        # Values put for this stacklet, last in first out: a switch that code
        # run in the middle of another switch makes (a finalizer, a signal
        # handler) puts and takes its own value above the one in flight.
        self._inbox: list = []
        self._frame: Any = None  # the frame that parked, while parked
        self._done = _allocate_lock()  # held while this stacklet's thread runs
        self._trace: Any = None  # the sys.settrace/setprofile hooks handed over
        self._profile: Any = None
        self._entry: Any = None  # set until the stacklet's thread is started
        self._held: list = []  # one entry per switch into it that holds the GC off until it settles
        self._ident: Any = None  # its OS thread's ident, once that runs
        self._parked_on: Any = None  # importlib's view of what it waits for while parked
        self._late: Any = None  # an exception raised here just after the hand-off
        self._unmask: Any = None  # the signal mask its new thread starts with
        self._discarded = False  # set by discard(): it unwinds, never to hand off again


def get_thread_data() -> Any:
    """Return what set_thread_data stored for this logical thread, or None."""
    group = getattr(_tls, "group", None)
    return None if group is None else group.data


def set_thread_data(data: Any, on_exit: Callable[[Any], None]) -> Stacklet:
    """Store *data* for this logical thread; return the stacklet of its main greenlet.

    ``on_exit(data)`` is called once when the OS thread that called this ends.
    """
    group = _Group()
    group.data, group.on_exit = data, on_exit
    main = Stacklet()
    main._ident = _get_ident()
    group.running = main
    _tls.group, _tls.stacklet, _tls.sentinel = group, main, _ExitSentinel(group)
    return main


def new_stacklet(entry: Callable[[], Stacklet]) -> Stacklet:
    """Return a stacklet that will run ``entry()`` when first switched to.

    ``entry`` gets its value with take().  When it returns a stacklet, this
    one ends and that one (started or not) runs with the value put for it.
    """
    stacklet = Stacklet()
    stacklet._entry = entry
    return stacklet


def _bootstrap(group: _Group, stacklet: Stacklet, entry: Callable[[Any], Any]) -> None:
    _tls.group, _tls.stacklet = group, stacklet
    stacklet._ident = _get_ident()
    if stacklet._unmask is not None:  # started by the main OS thread, which blocked signals
        _sigmask(_SIG_SETMASK, stacklet._unmask)
        stacklet._unmask = None
    del group
    if _settable(stacklet._trace):
        sys.settrace(stacklet._trace)
    if _settable(stacklet._profile):
        sys.setprofile(stacklet._profile)
    try:
        target = entry()
    except _Unwind:
        target = None
    except BaseException:  # the semantics layer must never let anything escape
        import os
        import traceback

        traceback.print_exc()
        sys.stderr.write("pygreenlet: fatal: a greenlet's entry raised\n")
        sys.stderr.flush()
        os.abort()
    stacklet._trace = stacklet._profile = None
    if stacklet._discarded:  # its entry returned although it was discarded
        target = None
    if target is None:  # discarded
        stacklet._done.release()
        return
    del entry
    _prepare(target)
    # The last hand-off of this thread, then it ends: nothing runs here after
    # the target's lock is released but returns (which check nothing).
    try:
        done = map(_release, (stacklet._done,))
        _drain(_steps(_current_steps(target), done, _wake_steps(target, [])))
    except BaseException:
        # a thread or memory limit kept the target from starting: nobody can
        # be told any more (the semantics has already handed the outcome on)
        import os

        sys.stderr.write("pygreenlet: fatal: the greenlet to resume could not run\n")
        sys.stderr.flush()
        os.abort()


def _prepare(target: Stacklet) -> None:
    """What a hand-off to *target* does before it wakes it (may run code: a collection)."""
    _hold_gc(target)
    # sys.settrace/setprofile hooks are per OS thread here, but per thread state
    # (so shared by all greenlets of a thread) on CPython greenlet: carry them.
    target._trace = sys.gettrace()
    target._profile = sys.getprofile()


def _current_steps(target: Stacklet) -> Any:
    """The C-level step that makes the greenlet *target* runs the current one.

    Done in the same C call that wakes the target, so that no code (a signal
    handler, a collection) ever runs on the target's OS thread while the
    thread state still names the greenlet that switched.  The value put for
    the target is the semantics' hand-over tuple, whose second item is that
    greenlet.  The step also records *target* as the stacklet that runs its
    logical thread (what importlib's deadlock check follows).  Its references
    are consumed by the step (a list popped empty): the parked switcher's
    frame, which holds these steps, keeps nothing alive.
    """
    group = _tls.group
    box = [(group, "running", target)]
    inbox = target._inbox
    value = inbox[-1] if inbox else None
    if type(value) is tuple:
        box.append((group.data, "current", value[1]))
    return _starmap(setattr, map(_pop, (box,) * len(box)))


def _mark(progress: list, what: str) -> Any:
    """A C-level step that records *what* in *progress* (list.append: no code runs)."""
    return map(list.append, (progress,), (what,))


def _wake_steps(target: Stacklet, progress: list) -> Any:
    """The C-level steps that wake *target*: release its lock, or start its thread.

    Starting one records "locked" in *progress* once the start lock is taken
    (the steps release it right after the start).
    """
    entry = target._entry
    if entry is None:
        return map(_release, (target._wake,))
    # Its thread starts with the stack size it needs (a process-wide setting,
    # restored at once: the start lock keeps other threads from seeing it).
    target._entry = None
    target._done.acquire()
    old = _stack_size()
    group = _tls.group
    return _steps(
        map(_acquire, (_start_lock,)),
        _mark(progress, "locked"),
        _starmap(_stack_size, ((_STACK_SIZE,),)),
        _starmap(_start_new_thread, ((_bootstrap, (group, target, entry)),)),
        _starmap(_stack_size, ((old,),)),
        map(_release, (_start_lock,)),
    )


def _undo_start(target: Stacklet, entry: Any, old_size: int, progress: list) -> None:
    """The hand-off did not start *target*'s thread: leave it unstarted."""
    target._entry = entry
    target._done.release()
    target._unmask = None
    if "locked" in progress:  # the thread's start itself failed
        _stack_size(old_size)
        _start_lock.release()


def _settable(hook: Any) -> bool:
    """Whether sys.settrace/sys.setprofile can install *hook* (or remove one, for None).

    A C-level hook (cProfile's profiler before 3.12) shows up in
    sys.getprofile() as an object that is not callable: it is neither carried
    to another greenlet's thread nor replaced there ("c-hooks").
    """
    return hook is None or callable(hook)


def current() -> Stacklet:
    """Return the running stacklet."""
    return _tls.stacklet


def put(stacklet: Stacklet, value: Any) -> None:
    """Store the value *stacklet* receives when it next runs; None withdraws the last one put.

    (Withdrawing is for a switch that could not happen: the semantics puts
    the hand-over before it switches.)
    """
    if value is None:
        if stacklet._inbox:
            stacklet._inbox.pop()
        return
    stacklet._inbox.append(value)


def take() -> Any:
    """Return (and forget) the value put for the running stacklet; used by an entry."""
    inbox = _tls.stacklet._inbox
    return inbox.pop() if inbox else None


def switch(target: Stacklet) -> Any:
    """Park the current stacklet and resume (or start) *target*.

    Returns the value that is put for the current stacklet before it is
    resumed.  Values travel through put() rather than as an argument so that
    no frame of the parked stacklet keeps them alive.  Raises, having handed
    nothing off, if *target* could not be started.
    """
    me: Stacklet = _tls.stacklet
    if me._discarded:
        # Its code caught the _Unwind of discard() and switches: this thread
        # is no longer the running one of its logical thread; unwind again.
        raise _UnwindAgain
    if sys.is_finalizing() and target is not me:
        # Once the interpreter finalizes, other OS threads can no longer take
        # the GIL (they exit when they try): a woken or new greenlet thread
        # would never run, and this one would wait forever ("shutdown-start").
        if target._entry is not None:
            raise RuntimeError("can't create new thread at interpreter shutdown")
        raise RuntimeError("cannot switch to another greenlet's thread at interpreter shutdown")
    entry = target._entry
    old_size = 0
    mask = None
    woken: Any = _deque(maxlen=1)  # gets our value once we are woken
    progress: list = []
    held = len(target._held)
    steps = parked = None
    try:
        # Everything that may run code (a collection due now runs in here,
        # while this greenlet is still the current one) comes before the hand-off.
        _prepare(target)
        me._frame = sys._getframe(1)
        if _MAIN_IDENT is not None and _get_ident() == _MAIN_IDENT:
            mask = _sigmask(_SIG_BLOCK, _ALL_SIGNALS)
            if entry is not None:
                target._unmask = mask
        if entry is not None:
            old_size = _stack_size()
        parked = _park_imports(me)
        steps = _steps(
            _current_steps(target),
            _wake_steps(target, progress),
            map(_acquire, (me._wake,)),
            _mark(progress, "woken"),
            map(_pop, (me._inbox,)),
        )
        woken.extend(steps)
    except BaseException as e:
        if "woken" not in progress:  # nothing was handed off
            me._frame = None
            _unpark_imports(me, parked)
            if entry is not None and target._entry is None:
                _undo_start(target, entry, old_size, progress)
            if len(target._held) > held:
                _unhold_gc(target)
            if mask is not None:
                _sigmask(_SIG_SETMASK, mask)
            raise
        _defer(me, e)  # raised here after we were woken (a signal handler)
    del target, entry, steps
    try:
        me._frame = None
        _unpark_imports(me, parked)
        if mask is not None:
            _sigmask(_SIG_SETMASK, mask)  # a signal that arrived meanwhile is handled now
        hook = sys.gettrace()
        if hook is not me._trace and _settable(hook) and _settable(me._trace):
            sys.settrace(me._trace)
        hook = sys.getprofile()
        if hook is not me._profile and _settable(hook) and _settable(me._profile):
            sys.setprofile(me._profile)
        del hook
    except BaseException as e:
        _defer(me, e)
    value = woken[0]
    if value is _UNWIND:
        raise _Unwind
    return value


def _defer(me: Stacklet, exc: BaseException) -> None:
    """Keep an exception raised in the hand-off just after waking: settle() raises it."""
    if me._late is not None:
        exc.__context__ = me._late
    me._late = exc


def settle() -> None:
    """Let collections run again and raise what landed in the hand-off after waking.

    Called once the resumed greenlet is current again: from here on a
    finalizer or signal handler sees the truth.
    """
    me: Stacklet = _tls.stacklet
    if me._held:
        _unhold_gc(me)
    late = me._late
    if late is not None:
        me._late = None
        try:
            raise late
        finally:
            del late


def discard(stacklet: Stacklet) -> None:
    """End a parked stacklet without resuming the greenlet semantics in it.

    On this backend its thread is unwound with an internal BaseException, so
    ``finally`` blocks in it do run (the compiled backend just frees the
    saved stack).  Waits until that thread has ended.
    """
    stacklet._discarded = True
    stacklet._inbox.append(_UNWIND)
    _drain(_steps(map(_release, (stacklet._wake,)), map(_acquire, (stacklet._done,))))
    stacklet._done.release()


def frame(stacklet: Stacklet) -> Any:
    """Return the innermost frame of user code in a parked stacklet, or None."""
    f = stacklet._frame
    while f is not None and f.f_globals.get("__name__", "").startswith("pygreenlet._"):
        f = f.f_back
    return f


def stack_saved(stacklet: Stacklet) -> int:
    """Bytes of C stack saved to the heap: always 0 here (each stacklet has its own thread)."""
    return 0


# --- tracing suspended around the greenlet tracer (R28) ---------------------------------
# CPython 3.11+ has PyThreadState_EnterTracing/LeaveTracing, reached through
# ctypes.  Elsewhere (older CPython, PyPy) only hooks set from Python can be
# taken off and put back: a C-level profiler (cProfile) cannot be handed back
# through sys.setprofile, so it stays in place and sees the tracer's code
# (the "c-hooks" difference).

if sys.implementation.name == "cpython" and sys.version_info >= (3, 11):
    _enter_tracing = ctypes.pythonapi.PyThreadState_EnterTracing
    _enter_tracing.argtypes = [ctypes.c_void_p]
    _enter_tracing.restype = None
    _leave_tracing = ctypes.pythonapi.PyThreadState_LeaveTracing
    _leave_tracing.argtypes = [ctypes.c_void_p]
    _leave_tracing.restype = None
    _get_tstate = ctypes.pythonapi.PyThreadState_Get
    _get_tstate.restype = ctypes.c_void_p

    def enter_tracing() -> None:
        """Suspend the running thread's trace and profile hooks (they stay set)."""
        _enter_tracing(_get_tstate())

    def leave_tracing() -> None:
        """Undo one enter_tracing()."""
        _leave_tracing(_get_tstate())

else:

    def _from_python(hook: Any) -> bool:
        return hook is not None and _settable(hook)

    def enter_tracing() -> None:
        """Suspend the running thread's trace and profile hooks set from Python."""
        saved = (sys.gettrace(), sys.getprofile())
        if not hasattr(_tls, "tracing"):
            _tls.tracing = []
        _tls.tracing.append(saved)
        if _from_python(saved[0]):
            sys.settrace(None)
        if _from_python(saved[1]):
            sys.setprofile(None)

    def leave_tracing() -> None:
        """Undo one enter_tracing(); a hook set meanwhile stays."""
        trace, profile = _tls.tracing.pop()
        if _from_python(trace) and sys.gettrace() is None:
            sys.settrace(trace)
        if _from_python(profile) and sys.getprofile() is None:
            sys.setprofile(profile)


# --- contextvars: the current thread's context object ---------------------------------
# CPython has no Python-level way to read or replace the running thread's
# Context object (only copies); greenlet swaps ``tstate->context`` on every
# switch.  PyPy exposes the same operation in __pypy__.  On CPython we find the
# field's offset in PyThreadState once, by entering a known Context and
# looking for it, and check that the next word is ``context_ver`` (it is on
# 3.9-3.13).  Writing it bumps ``context_ver`` as CPython does, which
# invalidates ContextVar lookup caches.


def _check_context(ctx: Any) -> None:
    """The interpreter trusts the thread's context field: anything else would crash it."""
    if ctx is not None and type(ctx) is not _Context:
        raise TypeError(
            "set_context() needs a contextvars.Context or None, not %s" % type(ctx).__name__
        )


if sys.implementation.name == "pypy":  # pragma: no cover - exercised in the pypy3 env
    from __pypy__ import get_contextvar_context as get_context
    from __pypy__ import set_contextvar_context as _pypy_set_context

    def set_context(ctx: Any) -> None:
        """Make *ctx* (a Context or None) the running thread's context."""
        _check_context(ctx)
        _pypy_set_context(ctx)

else:
    import contextvars

    _ts_get = ctypes.pythonapi.PyThreadState_Get
    _ts_get.restype = ctypes.c_void_p
    # Both take addresses: a py_object argument is converted by Python code,
    # which fails (ArgumentError) at the recursion limit.
    _incref = ctypes.pythonapi.Py_IncRef
    _incref.argtypes = [ctypes.c_void_p]
    _decref = ctypes.pythonapi.Py_DecRef
    _decref.argtypes = [ctypes.c_void_p]

    #: A pointer's size: the thread state is scanned in words of this size.
    _WORD = ctypes.sizeof(ctypes.c_void_p)

    def _find_offsets() -> tuple[int, int]:
        """Return the offsets of ``context`` and ``context_ver`` in PyThreadState."""

        def probe(ctx: Any) -> tuple[int, list[int]]:
            words = (ctypes.c_void_p * 256).from_address(_ts_get())
            return 0, [i for i, w in enumerate(words) if w == id(ctx)]

        a, b = contextvars.Context(), contextvars.Context()
        hits_a = set(a.run(probe, a)[1])
        hits_b = set(b.run(probe, b)[1])
        hits = sorted(hits_a & hits_b)
        if len(hits) != 1:
            raise ImportError("pygreenlet reference backend: cannot locate tstate->context")
        ctx_offset = _WORD * hits[0]
        # context_ver (a uint64_t) follows the pointer at the next offset its
        # alignment allows: right after it on 64-bit CPUs, 4 bytes further on
        # 32-bit ones that align 64-bit integers to 8 (32-bit ARM)
        align = ctypes.alignment(ctypes.c_uint64)
        ver_offset = (ctx_offset + _WORD + align - 1) // align * align

        def versions() -> int:
            return ctypes.c_uint64.from_address(_ts_get() + ver_offset).value

        v1, v2 = a.run(lambda: (versions(), b.run(versions)))
        if v2 != v1 + 1:
            raise ImportError("pygreenlet reference backend: tstate->context_ver not found")
        return ctx_offset, ver_offset

    _CTX_OFFSET, _CTX_VER_OFFSET = _find_offsets()

    def get_context() -> Any:
        """Return the running thread's Context object itself, or None if it has none."""
        where = _ts_get() + _CTX_OFFSET
        if not ctypes.c_void_p.from_address(where).value:
            return None
        return ctypes.py_object.from_address(where).value  # (no call that converts arguments)

    def set_context(ctx: Any) -> None:
        """Make *ctx* (a Context or None) the running thread's context."""
        _check_context(ctx)
        ts = _ts_get()
        slot = ctypes.c_void_p.from_address(ts + _CTX_OFFSET)
        old = slot.value
        if ctx is not None:
            _incref(id(ctx))
        slot.value = None if ctx is None else id(ctx)
        ctypes.c_uint64.from_address(ts + _CTX_VER_OFFSET).value += 1
        if old:
            _decref(old)
