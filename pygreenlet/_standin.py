"""Stand in for greenlet: make ``import greenlet`` give pygreenlet (docs/guide/dropin.rst)."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from types import ModuleType
from typing import Any

#: Set in the environment, pygreenlet stands in for greenlet from interpreter
#: start (the ``pygreenlet_as_greenlet.pth`` file that pygreenlet installs reads it)
#: and in every Python subprocess that inherits the environment.
ENV = "PYGREENLET_AS_GREENLET"
#: The greenlet release whose behaviour and API pygreenlet follows, given as
#: ``greenlet.__version__`` while standing in (callers compare it).
UPSTREAM_VERSION = "3.5.6"
#: The names of upstream's package; ``__all__`` is upstream's.
PACKAGE_ALL = [
    "__version__",
    "_C_API",
    "GreenletExit",
    "error",
    "getcurrent",
    "greenlet",
    "gettrace",
    "settrace",
]
_PACKAGE_EXTRA = [
    "GREENLET_USE_GC",
    "GREENLET_USE_TRACING",
    "GREENLET_USE_CONTEXT_VARS",
    "CLOCKS_PER_SEC",
    "enable_optional_cleanup",
    "get_clocks_used_doing_optional_cleanup",
]

_modules: dict[str, ModuleType] = {}


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers imports of ``greenlet`` and ``greenlet._greenlet`` with the stand-in modules.

    It comes first on ``sys.meta_path``, so an installed greenlet is never
    found, even after ``del sys.modules["greenlet"]`` or a reload.
    """

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name in _modules:
            return importlib.machinery.ModuleSpec(name, self, is_package=name == "greenlet")
        return None

    def create_module(self, spec: Any) -> ModuleType:
        return _modules[spec.name]

    def exec_module(self, module: ModuleType) -> None:
        pass  # filled when made


def _make_modules() -> None:
    from . import __file__ as package_file
    from . import _greenlet

    private = ModuleType("greenlet._greenlet", _greenlet.__doc__)
    for name in _greenlet.__all__ + ["_C_API"]:
        if hasattr(_greenlet, name):
            setattr(private, name, getattr(_greenlet, name))
    if hasattr(_greenlet, "get_tstate_trash_delete_nesting"):
        private.get_tstate_trash_delete_nesting = _greenlet.get_tstate_trash_delete_nesting
    private.__all__ = [n for n in _greenlet.__all__ if hasattr(private, n)]
    private.__file__ = _greenlet.__file__

    package = ModuleType("greenlet", "pygreenlet, standing in for greenlet.")
    package.__version__ = UPSTREAM_VERSION
    for name in PACKAGE_ALL[1:] + _PACKAGE_EXTRA:
        if hasattr(private, name):
            setattr(package, name, getattr(private, name))
    package.__all__ = [n for n in PACKAGE_ALL if hasattr(package, n)]
    package._greenlet = private
    package.__path__ = []  # a package, as upstream's (its submodule is answered above)
    package.__file__ = package_file
    for module in (package, private):
        module.__spec__ = importlib.machinery.ModuleSpec(
            module.__name__, _FINDER, is_package=module is package
        )
        module.__loader__ = _FINDER
        module.__package__ = "greenlet"
    _modules["greenlet"] = package
    _modules["greenlet._greenlet"] = private


_FINDER = _Finder()


def as_greenlet() -> None:
    """Make ``import greenlet`` give pygreenlet, here and in Python subprocesses started later.

    ``greenlet``, ``greenlet._greenlet`` and the capsule ``greenlet._C_API``
    resolve to pygreenlet's backend, even when the real greenlet is installed;
    the types and exceptions then call themselves ``greenlet.greenlet``,
    ``greenlet.GreenletExit`` and ``greenlet.error``, as upstream's.  Call it
    before anything imports greenlet: if the real one is imported already,
    RuntimeError.  Calling it again does nothing.  Check which one runs with
    ``greenlet.greenlet is pygreenlet.greenlet``.
    """
    present = sys.modules.get("greenlet")
    if present is not None and present is not _modules.get("greenlet"):
        raise RuntimeError(
            "pygreenlet.as_greenlet() must run before greenlet is imported: "
            "%r is imported already" % (getattr(present, "__file__", present),)
        )
    if not _modules:
        _make_modules()
        import pygreenlet

        from . import _backend

        api = _backend.load()
        api._name_type("greenlet")
        pygreenlet.GreenletExit.__module__ = "greenlet"
        pygreenlet.error.__module__ = "greenlet"
        _modules["greenlet._greenlet"].UnswitchableGreenlet.__module__ = "greenlet._greenlet"
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    sys.modules.update(_modules)
    os.environ[ENV] = "1"


def standing_in() -> bool:
    """True while ``import greenlet`` gives pygreenlet in this process."""
    return bool(_modules) and sys.modules.get("greenlet") is _modules["greenlet"]
