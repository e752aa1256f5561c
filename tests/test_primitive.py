"""Every primitive offers exactly the contract written in _primitive.pyi."""

from __future__ import annotations

import ast
import importlib
import os

import pytest

import pygreenlet
from pygreenlet import _backend

STUB = os.path.join(os.path.dirname(pygreenlet.__file__), "_primitive.pyi")
PRIMITIVES = {name: _backend.PRIMITIVES[module] for name, module in _backend.MODULES.items()}


def contract_names() -> set[str]:
    with open(STUB) as f:
        tree = ast.parse(f.read())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
    return names


def test_contract_is_not_empty():
    assert {"switch", "new_stacklet", "put", "take", "get_context"} <= contract_names()


def test_primitive_offers_exactly_the_contract(backend):
    if backend not in PRIMITIVES:
        pytest.skip("not a pygreenlet backend")
    prim = importlib.import_module(PRIMITIVES[backend])
    public = {n for n in vars(prim) if not n.startswith("_")}
    # names a module gets from its imports are not part of its offer
    public -= {"annotations", "Any", "Callable", "ctypes", "gc", "sys", "contextvars"}
    assert public == contract_names()
    assert prim.NAME == backend


def test_primitive_set_context_refuses_what_is_not_a_context(backend):
    """The thread's context field is trusted by the interpreter: a wrong type is a TypeError."""
    if backend not in PRIMITIVES:
        pytest.skip("upstream greenlet has no primitive")
    prim = importlib.import_module(PRIMITIVES[backend])
    before = prim.get_context()
    for bad in (42, "context", {}):
        with pytest.raises(TypeError, match="contextvars.Context or None"):
            prim.set_context(bad)
        assert prim.get_context() is before


def test_state_fields_are_the_same_in_the_pxd_and_the_py():
    """The compiled state classes (``_speedups.pxd``) and the interpreted ones
    (``__slots__`` in ``_semantics.py``) declare the same fields."""
    import re

    from pygreenlet import _semantics

    # the source tree's .pxd (wheels do not ship it)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pygreenlet", "_speedups.pxd")) as f:
        pxd = f.read()
    for cls in (_semantics._ThreadState, _semantics._State):
        body = re.search(r"^cdef class %s:\n((?:    .*\n)+)" % cls.__name__, pxd, re.M)
        assert body, cls.__name__
        fields = set()
        for line in body.group(1).splitlines():
            decl = re.match(r"\s+cdef (?:public |readonly )?\w+ (.*)", line)
            if decl:
                fields |= {name.strip() for name in decl.group(1).split(",")}
        assert fields == set(cls.__slots__), cls.__name__
