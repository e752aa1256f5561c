"""Lightweight coroutines that switch between whole call stacks, with greenlet's semantics."""

from __future__ import annotations

import os as _os

from ._backend import BACKEND

# The API of the backend in use; _greenlet takes it from _backend.load() and
# adds upstream's module-level names, for code that imports pygreenlet as greenlet.
from ._greenlet import (
    CLOCKS_PER_SEC,
    GREENLET_USE_CONTEXT_VARS,
    GREENLET_USE_GC,
    GREENLET_USE_TRACING,
    GreenletExit,
    enable_optional_cleanup,
    error,
    get_clocks_used_doing_optional_cleanup,
    getcurrent,
    gettrace,
    greenlet,
    settrace,
)
from ._greenlet import _api as _backend_api
from ._standin import as_greenlet, standing_in

__version__ = "0.1.0"

if hasattr(_backend_api, "_C_API"):
    #: The C API (compiled backend only): see :func:`get_include`.
    _C_API = _backend_api._C_API
del _backend_api


def get_include() -> str:
    """The folder of pygreenlet's C header, ``pygreenlet.h`` (and ``greenlet/greenlet.h``).

    C code compiled against it reaches greenlets through the capsule
    ``pygreenlet._C_API``, which only the compiled backend has.
    """
    return _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "include")


__all__ = [
    "BACKEND",
    "CLOCKS_PER_SEC",
    "GREENLET_USE_CONTEXT_VARS",
    "GREENLET_USE_GC",
    "GREENLET_USE_TRACING",
    "GreenletExit",
    "__version__",
    "as_greenlet",
    "enable_optional_cleanup",
    "error",
    "get_clocks_used_doing_optional_cleanup",
    "get_include",
    "getcurrent",
    "gettrace",
    "greenlet",
    "settrace",
    "standing_in",
]
