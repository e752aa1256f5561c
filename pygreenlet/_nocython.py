"""What _semantics.py uses of Cython's pure-Python mode, for where Cython is not installed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


def _declare(_type: Any, value: Any) -> Any:
    """``cython.declare(type, value)`` interpreted: the value itself."""
    return value


#: ``compiled`` is false; ``declare`` returns its value.
cython = SimpleNamespace(compiled=False, declare=_declare)
