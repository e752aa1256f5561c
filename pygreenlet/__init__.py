"""Lightweight coroutines that switch between whole call stacks, with greenlet's semantics."""

from __future__ import annotations

import os as _os

from ._backend import BACKEND
from ._backend import load as _load

__version__ = "0.1.0"

_api = _load()
greenlet = _api.greenlet
getcurrent = _api.getcurrent
settrace = _api.settrace
gettrace = _api.gettrace
GreenletExit = _api.GreenletExit
error = _api.error
if hasattr(_api, "_C_API"):
    #: The C API (compiled backend only): see :func:`get_include`.
    _C_API = _api._C_API
del _api, _load

# upstream's module-level names, for code that imports pygreenlet as greenlet
from ._greenlet import (  # noqa: E402
    CLOCKS_PER_SEC,
    GREENLET_USE_CONTEXT_VARS,
    GREENLET_USE_GC,
    GREENLET_USE_TRACING,
    enable_optional_cleanup,
    get_clocks_used_doing_optional_cleanup,
)
from ._standin import as_greenlet, standing_in  # noqa: E402


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
