"""The build: on a CPU without a stack-switch routine it installs the pure backend.

``_speedups/platform/select.h`` stops the compilation with ``#error`` on any
platform it has no routine for; ``setup.py`` must then build the pure-Python
backend with one message, or fail if ``PYGREENLET_REQUIRE_SPEEDUPS=1``.  The
test builds a copy of the source tree with ``PYG_PLATFORM_NONE`` defined,
which takes that ``#error`` branch on any CPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = ["setup.py", "pyproject.toml", "README.md", "MANIFEST.in", "pygreenlet_as_greenlet.pth"]
FALLBACK = "pygreenlet: could not compile the speedups"


def _needs_build_tools() -> None:
    if not os.path.exists(os.path.join(ROOT, "_speedups", "platform", "select.h")):
        pytest.skip("needs the source tree (the tests run from an sdist without it)")
    for module in ("Cython", "setuptools"):
        try:
            __import__(module)
        except ImportError:
            pytest.skip("building the compiled backend needs %s, not installed here" % module)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the source tree (with the generated C files, if any, so Cython need not rerun)."""
    _needs_build_tools()
    dest = str(tmp_path_factory.mktemp("build") / "src")
    os.makedirs(dest)
    for name in SOURCES:
        if os.path.exists(os.path.join(ROOT, name)):
            shutil.copy2(os.path.join(ROOT, name), dest)
    ignore = shutil.ignore_patterns("*.so", "__pycache__", "*.pyc")
    for folder in ("pygreenlet", "_speedups"):
        shutil.copytree(os.path.join(ROOT, folder), os.path.join(dest, folder), ignore=ignore)
    return dest


def _build(tree: str, out: str, require: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYGREENLET_")}
    env["PYGREENLET_CFLAGS"] = "-DPYG_PLATFORM_NONE"
    if require:
        env["PYGREENLET_REQUIRE_SPEEDUPS"] = "1"
    cmd = [sys.executable, "setup.py", "build_ext", "--build-lib", out, "--build-temp", out]
    return subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=900)


def _built_modules(out: str) -> list[str]:
    return [n for _, _, names in os.walk(out) for n in names if n.endswith((".so", ".pyd"))]


def test_no_switch_routine_builds_the_pure_backend_with_one_message(tree, tmp_path):
    proc = _build(tree, str(tmp_path / "out"), require=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    # the compiler says why (select.h's #error), setup.py says what it does, once
    assert "no stack-switch routine for this platform" in output, output[-4000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith(FALLBACK)]
    assert len(lines) == 1, output[-4000:]
    assert "reference backend only" in lines[0], lines
    assert _built_modules(str(tmp_path / "out")) == []


def test_no_switch_routine_fails_when_speedups_are_required(tree, tmp_path):
    proc = _build(tree, str(tmp_path / "out"), require=True)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output[-4000:]
    assert "no stack-switch routine for this platform" in output, output[-4000:]
    assert FALLBACK not in output, output[-4000:]
