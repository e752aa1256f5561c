"""What _semantics.py uses of Cython's pure-Python mode, for where Cython is not installed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


def _declare(_type: Any, value: Any) -> Any:
    """``cython.declare(type, value)`` interpreted: the value itself."""
    return value


def _cast(_type: Any, value: Any) -> Any:
    """``cython.cast(type, value)`` interpreted, for a value of that type: the value itself."""
    return value


#: ``compiled`` is false; ``declare`` and ``cast`` return their value.
cython = SimpleNamespace(compiled=False, declare=_declare, cast=_cast)
