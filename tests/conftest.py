"""The backend fixture: every behaviour test runs once per backend."""

from __future__ import annotations

import gc
import importlib
import os
import platform
import subprocess
import sys
import textwrap
from types import ModuleType

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def expected_backends() -> list[str]:
    """Backends this run must test: $PYGREENLET_TEST_BACKENDS, else reference (+ speedups if built).

    ``upstream`` (the greenlet package from PyPI) can be added to check that
    the tests describe upstream's behaviour.
    """
    names = os.environ.get("PYGREENLET_TEST_BACKENDS", "")
    if names:
        return [n.strip() for n in names.split(",") if n.strip()]
    found = ["reference"]
    try:
        importlib.import_module("pygreenlet._speedups")
    except ImportError:
        pass
    else:
        found.append("speedups")
    return found


def load_api(name: str) -> ModuleType:
    """Import the API module for backend *name*; a missing expected backend is an error."""
    if name == "upstream":
        return importlib.import_module("greenlet")
    from pygreenlet import _backend

    return _backend.load(name)


@pytest.fixture(params=expected_backends(), scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test (only for subprocess scripts and skips)."""
    return request.param


@pytest.fixture(scope="session")
def api(backend: str) -> ModuleType:
    """The greenlet API (greenlet, getcurrent, GreenletExit, error, settrace, gettrace)."""
    return load_api(backend)


#: True where objects are not freed when their last reference goes, only by the GC.
NO_REFCOUNTING = platform.python_implementation() == "PyPy"


def collect_garbage(passes: int = 3) -> None:
    """Run the GC until objects freed by finalizers (greenlet kills, __del__) are gone too."""
    for _ in range(passes):
        gc.collect()


class Collector:
    """The ``collect`` fixture: ``collect()`` runs the GC (three passes, or *passes*).

    ``collect(pypy_only=True)`` runs it only where there is no reference
    counting (PyPy): use it right after dropping a last reference in a test
    that checks, on CPython, that something happens at once (before ``del``
    returns).  On CPython it does nothing, so the test keeps checking that;
    on PyPy it is where the same thing happens.
    """

    def __call__(self, pypy_only: bool = False, passes: int = 3) -> None:
        if not pypy_only or NO_REFCOUNTING:
            collect_garbage(passes)


@pytest.fixture
def collect() -> Collector:
    """Collect garbage, always or only on PyPy (see Collector)."""
    return Collector()


#: CPython-only mechanisms that PyPy cannot have: key -> reason.  Only for
#: tests that have no meaningful variant on PyPy; prefer ``collect``.
CPYTHON_ONLY = {
    "gc-clear": (
        "PyPy's GC never clears the fields of garbage objects (it has no tp_clear), "
        "so a greenlet whose parent the GC cleared cannot be made there"
    ),
    "finalizers-at-exit": (
        "PyPy runs no __del__ of the objects left when the interpreter exits, "
        "so no code can run while it is finalizing"
    ),
    "refcounting": (
        "PyPy frees objects in collections, not when their last reference goes, "
        "so what a drop frees at once cannot be observed there"
    ),
    "subinterpreters": ("PyPy has no subinterpreters"),
    "gc-thresholds": "PyPy's GC has no generation thresholds to set (gc.set_threshold)",
    "tracemalloc": "PyPy has no tracemalloc to count a program's memory with",
    "late-del": (
        "PyPy decides when a class is made which __del__ its instances run: one set "
        "on the class afterwards (as the reference backend's chaining does for a "
        "__del__ inherited from a mixin placed before greenlet) is never called"
    ),
    "recursion-limit": (
        "PyPy's recursion limit is not a count of Python frames: the frames a "
        "greenlet may still nest depend on the C stack of its OS thread (and on the JIT)"
    ),
}


@pytest.fixture
def cpython_only():
    """Skip this test on PyPy, for one of the reasons in CPYTHON_ONLY."""

    def skip(key: str) -> None:
        if NO_REFCOUNTING:
            pytest.skip(f"not on PyPy: {CPYTHON_ONLY[key]}")

    return skip


#: What the tests may need to know about a backend: capabilities, never its name.
#:   pygreenlet     it is pygreenlet (not upstream greenlet, the oracle)
#:   stack-slicing  greenlets share their thread's C stack, copied to the heap in slices
#:   c-api          the greenlet type has a C API (the _C_API capsule)
CAPABILITIES = {
    "reference": {"pygreenlet"},
    "speedups": {"pygreenlet", "stack-slicing", "c-api"},
    "upstream": {"stack-slicing", "c-api"},
}


@pytest.fixture
def capable(backend: str):
    """``capable("stack-slicing")``: whether the backend under test has a capability."""
    return lambda name: name in CAPABILITIES[backend]


@pytest.fixture
def upstream_bug(capable, request: pytest.FixtureRequest):
    """Mark this test as an xfail on upstream greenlet, for a defect of upstream's.

    The test states what pygreenlet does; on upstream greenlet (the backend
    without the ``pygreenlet`` capability) it must fail (strict), so that a
    fix there shows up.  Only for crashes and similar defects of upstream's;
    ``intermittent=True`` for a crash upstream does not have on every run.
    """

    def mark(reason: str, intermittent: bool = False) -> None:
        if not capable("pygreenlet"):
            request.applymarker(
                pytest.mark.xfail(reason="upstream: " + reason, strict=not intermittent)
            )

    return mark


def _upstream_version() -> tuple[int, ...] | None:
    """The installed greenlet's version as (major, minor), or None."""
    try:
        from importlib.metadata import version

        return tuple(int(part) for part in version("greenlet").split(".")[:2])
    except Exception:
        return None


#: The oracle's version: greenlet 3.2 is the last series for CPython 3.9.
UPSTREAM_VERSION = _upstream_version()


@pytest.fixture
def upstream_since(capable, request: pytest.FixtureRequest):
    """Mark this test as an xfail on an upstream greenlet older than the behaviour it checks.

    ``upstream_since((3, 3), "why")``: the test states the behaviour of
    upstream's newer releases (and pygreenlet's); an older oracle (greenlet
    3.2 on CPython 3.9) must fail it (strict), and every other backend pass.
    """

    def mark(version: tuple[int, ...], reason: str) -> None:
        if (
            not capable("pygreenlet")
            and UPSTREAM_VERSION is not None
            and UPSTREAM_VERSION < version
        ):
            request.applymarker(
                pytest.mark.xfail(
                    reason="greenlet %d.%d: %s" % (UPSTREAM_VERSION[:2] + (reason,)), strict=True
                )
            )

    return mark


@pytest.fixture
def pygreenlet_only(backend: str) -> None:
    """Skip for upstream greenlet: for tests of pygreenlet's own additions."""
    if "pygreenlet" not in CAPABILITIES[backend]:
        pytest.skip("tests an addition of pygreenlet's; upstream greenlet has none")


def differences_of(backend: str) -> set[str]:
    """The keys of DIFFERENCES that apply to *backend*."""
    return {key for key, (backends, _) in DIFFERENCES.items() if backend in backends}


PRELUDE = """\
import os, sys, importlib
sys.path.insert(0, {tests!r})
from conftest import load_api, collect_garbage, NO_REFCOUNTING, CAPABILITIES, differences_of
api = load_api(os.environ["PYG_TEST_BACKEND"])
#: this backend's capabilities and documented differences (see conftest.py)
CAPS = CAPABILITIES[os.environ["PYG_TEST_BACKEND"]]
DIFFS = differences_of(os.environ["PYG_TEST_BACKEND"])
greenlet, getcurrent, GreenletExit = api.greenlet, api.getcurrent, api.GreenletExit
"""


@pytest.fixture
def run_script(backend: str):
    """Run a script in a fresh interpreter with ``api`` bound to this backend.

    Returns the CompletedProcess; scripts that may crash or hang go here.
    """

    def run(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
        import pygreenlet

        # the pygreenlet this run tests (installed or the source tree), first
        here = os.path.dirname(os.path.dirname(os.path.abspath(pygreenlet.__file__)))
        env = dict(
            os.environ, PYG_TEST_BACKEND=backend, PYTHONFAULTHANDLER="1", PYTHONUNBUFFERED="1"
        )
        env["PYTHONPATH"] = os.pathsep.join(p for p in [here, env.get("PYTHONPATH", "")] if p)
        src = PRELUDE.format(tests=os.path.join(ROOT, "tests")) + textwrap.dedent(code)
        return subprocess.run(
            [sys.executable, "-c", src],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )

    return run


#: Things a user can observe differently on some backends: key -> (backends, reason).
#: docs/backends.rst lists the same items; keep them in step.
DIFFERENCES = {
    "thread-identity": (
        {"reference"},
        "each greenlet runs on its own OS thread: threading.get_ident(), "
        "current_thread() and threading.local differ between greenlets of one thread",
    ),
    "recursion-depth": (
        {"reference"},
        "a new greenlet starts at recursion depth 0 instead of inheriting "
        "the depth at which it was first switched to",
    ),
    "frame-bottom": (
        {"reference"},
        "the f_back of a greenlet's outermost frame leads into pygreenlet's "
        "bootstrap frames instead of being None",
    ),
    "traceback-frames": (
        {"reference", "speedups"},
        "tracebacks of exceptions that cross a switch also show pygreenlet's "
        "own switch functions (Python and Cython add a traceback entry per function)",
    ),
    "second-kill": (
        {"reference"},
        "a greenlet that resurrected itself while being killed gets no second "
        "GreenletExit when it is dropped again (Python runs __del__ once per object); "
        "its OS thread is unwound then (finally blocks run; it cannot switch any more)",
    ),
    "dead-thread-eager": (
        {"reference", "speedups"},
        "a greenlet suspended in a thread that exited is inactive at once: bool(g) is "
        "False and gr_frame None before its dead attribute is first read (upstream "
        "notices the exit only when dead is read)",
    ),
    "exit-traceback": (
        {"reference", "speedups"},
        "before CPython 3.12, a GreenletExit handed to the parent as a value has no "
        "traceback; upstream keeps the one it had when it last passed an except or "
        "finally block in run",
    ),
    "suspended-cycle": (
        {"upstream"},
        "upstream greenlet before CPython 3.15 never collects a reference cycle that "
        "goes through a suspended greenlet (its type reports active greenlets as not "
        "collectable); pygreenlet collects it and kills the greenlet",
    ),
    "dead-thread-restart": (
        {"upstream"},
        "once upstream has noticed that a greenlet's thread exited, the greenlet looks "
        "unstarted again (run and parent can be set) and switching to it crashes; "
        "pygreenlet keeps it dead",
    ),
    "exit-to-unstarted": (
        {"upstream"},
        "a GreenletExit handed to an unstarted parent is passed where run()'s argument "
        "tuple is expected (a crash if the exception has a __dict__); pygreenlet passes "
        "it as the single argument, as any result (R7)",
    ),
    "c-layout": (
        {"reference"},
        "the interpreted greenlet type is a __slots__ class: it has upstream's size, but "
        "its weak-reference list comes after __dict__, and it has no C API",
    ),
    "stack-saved-start": (
        {"upstream"},
        "upstream copies a few hundred bytes of a parent's stack to the heap when it "
        "starts a child, although the child runs below it; pygreenlet saves nothing then",
    ),
    "stack-saved-zero": (
        {"reference"},
        "nothing is copied on the reference backend: _stack_saved is always 0",
    ),
    "shutdown-start": (
        {"reference"},
        "on CPython 3.12 no thread can be started once the interpreter is shutting "
        "down, so a greenlet cannot be started in an atexit handler (RuntimeError); "
        "once it finalizes (a module global's __del__ at exit) no other OS thread "
        "can run on any version: switching to another greenlet raises RuntimeError",
    ),
    "c-hooks": (
        {"reference"},
        "a trace or profile hook set in C (cProfile before 3.12) stays on the OS thread "
        "that set it: code run in other greenlets is not seen by it; before CPython 3.11 "
        "and on PyPy, hooks set from Python are taken off while the greenlet tracer runs "
        "and put back after it (sys.settrace audit events; sys.gettrace() is None there)",
    ),
    "late-del-suspended": (
        {"reference"},
        "a __del__ set on a greenlet subclass (or a base of it) after the last greenlet "
        "of that class was made is run, but does not kill a greenlet suspended since "
        "then: its stack is freed without GreenletExit (finally blocks run)",
    ),
    "parked-lock": (
        {"reference"},
        "a threading lock (RLock, Lock, Condition) held by a suspended greenlet belongs "
        "to that greenlet's own OS thread: another greenlet of the thread that acquires "
        "it waits forever (upstream: an RLock is re-entrant for all greenlets of a thread). "
        "Module import locks are the exception: importing a half-imported module works",
    ),
    "parked-import-pypy": (
        {"reference"} if sys.implementation.name == "pypy" else set(),
        "on PyPy, importing a module whose top-level code another greenlet of the "
        "thread is suspended in raises importlib's _DeadlockError (PyPy's import "
        "statement takes the module lock, which belongs to the suspended greenlet's "
        "OS thread) instead of returning the partial module",
    ),
    "dead-thread-finally": (
        {"reference"},
        "a greenlet suspended in a thread that exited runs its finally "
        "blocks (without GreenletExit) when it is collected",
    ),
}


@pytest.fixture
def known_difference(backend: str, request: pytest.FixtureRequest):
    """Mark this test as a strict xfail on the backends where a documented difference applies.

    Use ``known_difference("frame-bottom")``: the test still runs and must fail
    there (strict), and must pass everywhere else.
    """

    def mark(key: str) -> None:
        backends, reason = DIFFERENCES[key]
        if backend in backends:
            request.applymarker(pytest.mark.xfail(reason=reason, strict=True))

    return mark
