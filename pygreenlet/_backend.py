"""The one place that chooses the implementation: PYGREENLET_BACKEND=auto|speedups|reference."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

#: Backend names and the module that implements the API for each.
MODULES = {
    "speedups": "pygreenlet._speedups",
    "reference": "pygreenlet._semantics",
}
#: The primitive (pygreenlet/_primitive.pyi) that each API module runs on.  The
#: compiled semantics binds its primitive at C level too (_speedups.pxd).
PRIMITIVES = {
    "pygreenlet._speedups": "pygreenlet._speedups_prim",
    "pygreenlet._semantics": "pygreenlet._reference",
}


def primitive_for(module_name: str) -> ModuleType:
    """Import and return the primitive that the semantics module *module_name* runs on."""
    return importlib.import_module(PRIMITIVES[module_name])


def load(name: str | None = None) -> ModuleType:
    """Import and return the API module of backend *name* (default: from the environment).

    ``auto`` takes the compiled backend when it imports and the reference one
    otherwise; ``speedups`` requires the compiled backend and raises
    ImportError with the reason if it is not there.
    """
    if name is None:
        name = os.environ.get("PYGREENLET_BACKEND", "auto") or "auto"
    if name == "auto":
        try:
            return importlib.import_module(MODULES["speedups"])
        except ImportError:
            return importlib.import_module(MODULES["reference"])
    if name not in MODULES:
        raise ImportError(
            "PYGREENLET_BACKEND must be auto, speedups or reference, not %r" % (name,)
        )
    try:
        return importlib.import_module(MODULES[name])
    except ImportError as exc:
        reason = str(exc)
        if "Interpreter change detected" in reason:
            # Cython's modules keep their state per process (single-phase init)
            reason = (
                "it can be loaded in only one interpreter of a process, and this is a "
                "subinterpreter (PYGREENLET_BACKEND=auto uses the reference backend here)"
            )
        raise ImportError(
            "pygreenlet: the %r backend is not available: %s" % (name, reason)
        ) from exc


def name_of(module: ModuleType) -> str:
    """Return the backend name of an API module returned by :func:`load`."""
    for name, modname in MODULES.items():
        if module.__name__ == modname:
            return name
    raise ValueError(module.__name__)


BACKEND: str = name_of(load())
