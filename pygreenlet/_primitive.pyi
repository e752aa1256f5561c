"""The contract of a primitive: what _semantics.py needs from a backend to move between stacks."""

# Every backend module (pygreenlet._reference; the compiled one) offers exactly
# these names; tests/test_primitive.py checks that.  A "stacklet" is one
# execution context: the main one of a thread, or one started by switch().
from typing import Any, Callable

NAME: str  # "reference" or "speedups"

class Stacklet: ...

def get_thread_data() -> Any:
    """What set_thread_data stored for the calling thread, or None."""

def set_thread_data(data: Any, on_exit: Callable[[Any], None]) -> Stacklet:
    """Store *data* for this thread and return its main stacklet.

    ``on_exit(data)`` is called once after the thread has ended, without any
    stacklet of that thread being resumed.
    """

def new_stacklet(entry: Callable[[], Stacklet]) -> Stacklet:
    """A stacklet that runs ``entry()`` when first switched to.

    ``entry`` reads its value with take(); the stacklet it returns is resumed
    (or started) as this one ends.  It returns None only after discard().
    """

def current() -> Stacklet:
    """The running stacklet."""

def put(stacklet: Stacklet, value: Any) -> None:
    """Store the value that *stacklet* receives when it next runs; None withdraws it.

    (The reference primitive keeps a stack per stacklet, last in first out:
    a switch nested in another's hand-off takes its own value.)
    """

def take() -> Any:
    """Return and forget the value put for the running stacklet."""

def switch(target: Stacklet) -> Any:
    """Park the running stacklet, run *target*; return the value put for us on resumption.

    Runs no Python code in the resumed stacklet: what the switch left behind
    (references to the stacklet it came from, to a finished one) is dropped
    only by settle(), which the resumed stacklet (or a new one's entry) calls
    once it has read what the semantics handed over.
    """

def settle() -> None:
    """Drop what the switch into the running stacklet left behind; may run any code."""

def discard(stacklet: Stacklet) -> None:
    """End a parked stacklet without resuming the semantics in it.

    A primitive may do it by raising, from the stacklet's parked switch(), an
    exception whose type has a true ``_pyg_unwind`` attribute (the reference
    backend unwinds the stacklet's thread; ``finally`` blocks run).  The
    semantics lets it through untouched: that switch had handed off.  Once
    discarded, a stacklet that switches again (its code caught the exception)
    gets such an exception again, a failed switch (nothing handed off, so its
    ``_pyg_unwind`` is false), and it never hands off when it ends.
    """

def frame(stacklet: Stacklet) -> Any:
    """The innermost user frame of a parked stacklet, or None."""

def stack_saved(stacklet: Stacklet) -> int:
    """Bytes of this parked stacklet's C stack currently copied to the heap."""

def get_context() -> Any:
    """The running thread's contextvars.Context object itself, or None."""

def set_context(ctx: Any) -> None:
    """Make *ctx* (a Context or None) the running thread's context."""

def enter_tracing() -> None:
    """Suspend the running thread's trace and profile hooks, which stay set (R28).

    Code run until leave_tracing() is not seen by sys.settrace/sys.setprofile
    hooks; sys.gettrace() still returns the hook, and a hook set meanwhile stays.
    """

def leave_tracing() -> None:
    """Undo one enter_tracing()."""
