"""Backend selection happens in one place and reports what it chose."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import pygreenlet
from pygreenlet import _backend


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    here = os.path.dirname(os.path.dirname(os.path.abspath(pygreenlet.__file__)))
    full_env = dict(os.environ, PYTHONPATH=here, **env)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120
    )


def test_backend_reports_a_known_name():
    assert pygreenlet.BACKEND in _backend.MODULES
    assert pygreenlet.greenlet is _backend.load(pygreenlet.BACKEND).greenlet


def test_reference_can_be_forced():
    proc = run_python(
        "import pygreenlet; print(pygreenlet.BACKEND)", PYGREENLET_BACKEND="reference"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "reference"


def test_reference_works_where_cython_is_not_installed():
    # _semantics.py imports Cython only for its pure-Python-mode helpers; where
    # it is missing (PyPy, a machine without a compiler) a stand-in takes over.
    code = """
import sys
sys.modules["cython"] = None  # import cython raises ImportError
import pygreenlet
from pygreenlet import greenlet, getcurrent
def child(x):
    y = getcurrent().parent.switch(x + 1)
    return y * 2
g = greenlet(child)
print(pygreenlet.BACKEND, g.switch(1), g.switch(5), g.dead)
"""
    proc = run_python(code, PYGREENLET_BACKEND="reference")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["reference", "2", "10", "True"]


def test_unknown_backend_is_an_import_error():
    proc = run_python("import pygreenlet", PYGREENLET_BACKEND="turbo")
    assert proc.returncode != 0
    assert "PYGREENLET_BACKEND must be auto, speedups or reference, not 'turbo'" in proc.stderr


def test_speedups_required_means_speedups_or_a_clear_error():
    proc = run_python("import pygreenlet; print(pygreenlet.BACKEND)", PYGREENLET_BACKEND="speedups")
    if proc.returncode == 0:
        assert proc.stdout.strip() == "speedups"
    else:
        assert "the 'speedups' backend is not available" in proc.stderr


def test_auto_prefers_speedups_when_importable():
    proc = run_python(
        "import importlib.util, pygreenlet;"
        "has = importlib.util.find_spec('pygreenlet._speedups') is not None;"
        "print(pygreenlet.BACKEND == ('speedups' if has else 'reference'))",
        PYGREENLET_BACKEND="auto",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


def test_public_names():
    assert set(pygreenlet.__all__) == {
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
    }
    assert all(hasattr(pygreenlet, name) for name in pygreenlet.__all__)
    assert isinstance(pygreenlet.__version__, str)
    # the C API exactly where the compiled backend runs
    assert hasattr(pygreenlet, "_C_API") == (pygreenlet.BACKEND == "speedups")


def test_get_include_holds_the_header():
    folder = pygreenlet.get_include()
    assert os.path.isfile(os.path.join(folder, "pygreenlet.h"))
    assert os.path.isfile(os.path.join(folder, "greenlet", "greenlet.h"))


@pytest.mark.parametrize("forced", ["reference"])
def test_main_self_check_passes(forced):
    proc = run_python(
        "import runpy; runpy.run_module('pygreenlet', run_name='__main__')",
        PYGREENLET_BACKEND=forced,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in ("backend:     " + forced, "self-check switch", "ns/switch", "as greenlet: no"):
        assert line in proc.stdout
    assert "FAILED" not in proc.stdout
