"""Lightweight coroutines that switch between whole call stacks, with greenlet's semantics."""

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
del _api, _load

__all__ = [
    "BACKEND",
    "GreenletExit",
    "__version__",
    "error",
    "getcurrent",
    "gettrace",
    "greenlet",
    "settrace",
]
