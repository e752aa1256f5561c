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
        "GreenletExit",
        "__version__",
        "error",
        "getcurrent",
        "gettrace",
        "greenlet",
        "settrace",
    }
    assert isinstance(pygreenlet.__version__, str)


@pytest.mark.parametrize("forced", ["reference"])
def test_main_self_check_passes(forced):
    proc = run_python(
        "import runpy; runpy.run_module('pygreenlet', run_name='__main__')",
        PYGREENLET_BACKEND=forced,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in ("backend:     " + forced, "self-check switch", "ns/switch"):
        assert line in proc.stdout
    assert "FAILED" not in proc.stdout
