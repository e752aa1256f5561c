"""Upstream greenlet's private module ``greenlet._greenlet``, answered by pygreenlet's backend."""

# Programs and upstream's own test suite import a few names from
# greenlet._greenlet; while pygreenlet stands in for greenlet (docs/guide/dropin.rst)
# this module is what they get.  Names that mean nothing here behave as callers
# rely on; the guide says, for each, what it does.
from __future__ import annotations

import os
import sys
from typing import Any

from . import _backend

_api = _backend.load()

greenlet = _api.greenlet
getcurrent = _api.getcurrent
settrace = _api.settrace
gettrace = _api.gettrace
GreenletExit = _api.GreenletExit
error = _api.error

#: Legacy feature flags of greenlet's C module: these features are always on.
GREENLET_USE_GC = 1
GREENLET_USE_TRACING = 1
GREENLET_USE_CONTEXT_VARS = 1
#: Threads are the standard library's (greenlet's build option for other thread libraries).
GREENLET_USE_STANDARD_THREADING = 1
#: The unit of :func:`get_clocks_used_doing_optional_cleanup` (``clock()`` ticks per second).
CLOCKS_PER_SEC = 1000000

_optional_cleanup = [True]


def enable_optional_cleanup(enabled: bool) -> None:
    """Switch the optional cleanup at thread exit on or off (on by default).

    Upstream scans for leftover references to a dead thread's main greenlet
    with the garbage collector when a thread ends.  pygreenlet needs no such
    scan (a thread's greenlets are released with its thread state), so the
    setting only changes what :func:`get_clocks_used_doing_optional_cleanup`
    reports.
    """
    _optional_cleanup[0] = bool(enabled)


def get_clocks_used_doing_optional_cleanup() -> Any:
    """Clock ticks spent in the optional cleanup: always 0 (there is none), None when disabled."""
    return 0 if _optional_cleanup[0] else None


def get_pending_cleanup_count() -> int:
    """How many collected greenlets' stacks are queued and not yet freed (0 once all are)."""
    return _api._pending_cleanup_count()


def get_total_main_greenlets() -> int:
    """How many main greenlets are alive: one per thread that used greenlets, until freed."""
    return _api._total_main_greenlets()


def set_thread_local(key: Any, value: Any) -> None:
    """Store *value* under *key* in the running thread's state dict, until the thread ends."""
    _api._thread_state_dict()[key] = value


if sys.version_info < (3, 13):

    def get_tstate_trash_delete_nesting() -> int:
        """How deeply deallocations nest in this thread (CPython's "trash can").

        The compiled backend reads the interpreter's counter; the reference
        backend cannot reach it and reports 0.
        """
        return _api._trash_delete_nesting()


class UnswitchableGreenlet(greenlet):  # type: ignore[misc, valid-type]
    """Undocumented internal class for testing error conditions.

    Setting ``force_switch_error`` makes the next ``switch()`` into it fail
    with SystemError before anything moves; ``force_slp_switch_error`` makes
    it a fatal error, as if the low-level stack switch had failed.
    """

    force_switch_error = False
    force_slp_switch_error = False

    def switch(self, *args: Any, **kwargs: Any) -> Any:
        """Switch into this greenlet, unless one of the forced errors is set."""
        if self.force_slp_switch_error:
            sys.stderr.write(
                "Fatal Python error: g_switchstack: greenlet: Failed low-level "
                "slp_switch(). The stack is probably corrupt.\n"
            )
            sys.stderr.flush()
            os.abort()
        if self.force_switch_error:
            if self:
                raise SystemError("Failed to switch stacks into a running greenlet.")
            raise SystemError("Failed to switch stacks into a greenlet for the first time.")
        return greenlet.switch(self, *args, **kwargs)


if hasattr(_api, "_C_API_AS_GREENLET"):  # the compiled backend has a C API
    #: The C API table under upstream's capsule name, "greenlet._C_API".
    _C_API = _api._C_API_AS_GREENLET

__all__ = [
    "CLOCKS_PER_SEC",
    "GREENLET_USE_CONTEXT_VARS",
    "GREENLET_USE_GC",
    "GREENLET_USE_STANDARD_THREADING",
    "GREENLET_USE_TRACING",
    "GreenletExit",
    "UnswitchableGreenlet",
    "enable_optional_cleanup",
    "error",
    "get_clocks_used_doing_optional_cleanup",
    "get_pending_cleanup_count",
    "get_total_main_greenlets",
    "getcurrent",
    "gettrace",
    "greenlet",
    "set_thread_local",
    "settrace",
]
