"""Integration tests: real packages from PyPI that import ``greenlet``, run on pygreenlet.

Nothing here is collected unless ``PYGREENLET_INTEGRATION=1`` (the ordinary
suite, ``pytest tests``, skips this folder).  A run then needs exactly one of:

* ``PYGREENLET_AS_GREENLET=1`` with ``PYGREENLET_BACKEND=speedups|reference``:
  the drop-in, so ``import greenlet`` gives pygreenlet in every interpreter
  started with that environment;
* ``PYGREENLET_INTEGRATION_ORACLE=1``: upstream greenlet, to check the
  workloads themselves.

Anything else fails every test: a misconfigured run must not pass.  Each test
runs a workload script from ``workloads/`` in a fresh interpreter
(``sys.executable``, the environment inherited, so the drop-in is reached the
way a user reaches it) and checks its exit status and the results it printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = os.path.join(HERE, "workloads")

#: Seconds after which a hung workload dumps its stacks and exits by itself.
WATCHDOG = 60

if os.environ.get("PYGREENLET_INTEGRATION") != "1":
    collect_ignore_glob = ["*"]

#: The packages the workloads use, for the report header.
PACKAGES = ["greenlet", "SQLAlchemy", "aiosqlite", "gevent", "eventlet", "pygreenlet"]


@dataclass(frozen=True)
class Mode:
    """What ``import greenlet`` must give the workloads of this run."""

    name: str  # "drop-in" or "oracle"
    backend: str | None = None  # pygreenlet's backend, for the drop-in


def configured_mode() -> Mode:
    """The mode the environment asks for; raise ValueError if it is not a valid one."""
    drop_in = os.environ.get("PYGREENLET_AS_GREENLET") == "1"
    oracle = os.environ.get("PYGREENLET_INTEGRATION_ORACLE") == "1"
    if drop_in == oracle:
        raise ValueError(
            "integration tests need exactly one of PYGREENLET_AS_GREENLET=1 (pygreenlet as "
            "greenlet) and PYGREENLET_INTEGRATION_ORACLE=1 (upstream greenlet); got %s"
            % ("both" if drop_in else "neither")
        )
    if oracle:
        return Mode("oracle")
    backend = os.environ.get("PYGREENLET_BACKEND", "")
    if backend not in ("speedups", "reference"):
        raise ValueError(
            "with PYGREENLET_AS_GREENLET=1, PYGREENLET_BACKEND must name the backend under "
            "test (speedups or reference), not %r" % (backend,)
        )
    return Mode("drop-in", backend)


def pytest_report_header(config: pytest.Config) -> list[str]:
    try:
        mode = configured_mode()
        what = mode.name + (" (%s backend)" % mode.backend if mode.backend else "")
    except ValueError as e:
        what = "MISCONFIGURED: %s" % (e,)
    versions = []
    for name in PACKAGES:
        try:
            versions.append("%s %s" % (name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append("%s (not installed)" % name)
    return ["integration: " + what, "integration packages: " + ", ".join(versions)]


@pytest.fixture(scope="session", autouse=True)
def mode() -> Mode:
    """The run's mode; every test of this folder fails if the environment gives none."""
    try:
        return configured_mode()
    except ValueError as e:
        pytest.fail(str(e), pytrace=False)


@dataclass
class Run:
    """What a workload printed."""

    greenlet: str
    results: dict = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""

    def check(self, expected: dict) -> None:
        """Fail unless the results are exactly *expected* (all differences listed)."""
        problems = []
        for key, value in expected.items():
            if key not in self.results:
                problems.append("%s: missing" % key)
            elif self.results[key] != value:
                problems.append(
                    "%s:\n    got      %s\n    expected %s"
                    % (key, json.dumps(self.results[key]), json.dumps(value))
                )
        problems += ["%s: not expected" % k for k in self.results if k not in expected]
        if problems:
            pytest.fail(
                "workload results differ from the expected ones:\n"
                + "\n".join(problems)
                + "\n--- stderr (last 3000 characters)\n"
                + self.stderr[-3000:],
                pytrace=False,
            )


@pytest.fixture
def run_workload(mode: Mode, tmp_path):
    """Run ``workloads/SCRIPT`` in a fresh interpreter; return its Run if it succeeded.

    It fails the test, showing the whole output, if the script exits non-zero,
    does not finish (the watchdog), or reports a greenlet other than the one
    this run is meant to test.
    """

    def run(script: str, *args: str) -> Run:
        env = dict(
            os.environ,
            PYTHONFAULTHANDLER="1",
            PYTHONUNBUFFERED="1",
            PYGREENLET_INTEGRATION_WATCHDOG=str(WATCHDOG),
        )
        command = [sys.executable, os.path.join(WORKLOADS, script), *args]
        try:
            proc = subprocess.run(
                command,
                cwd=str(tmp_path),
                env=env,
                capture_output=True,
                text=True,
                timeout=WATCHDOG + 60,
            )
        except subprocess.TimeoutExpired as e:
            pytest.fail(
                "%s did not end in %s s (its watchdog did not fire either)\n--- stdout\n%s"
                "\n--- stderr\n%s" % (script, e.timeout, e.stdout, e.stderr),
                pytrace=False,
            )
        lines = proc.stdout.splitlines()
        if proc.returncode != 0 or not lines or lines[-1] != "DONE":
            pytest.fail(
                "%s %s exited with status %d\n--- stdout\n%s\n--- stderr\n%s"
                % (script, " ".join(args), proc.returncode, proc.stdout, proc.stderr),
                pytrace=False,
            )
        run = Run(greenlet="", stdout=proc.stdout, stderr=proc.stderr)
        for line in lines:
            if line.startswith("GREENLET "):
                run.greenlet = line[len("GREENLET ") :]
            elif line.startswith("RESULT "):
                _, name, value = line.split(" ", 2)
                assert name not in run.results, "%s reported twice" % name
                run.results[name] = json.loads(value)
        if mode.name == "oracle":
            assert run.greenlet.startswith("upstream greenlet "), run.greenlet
        else:
            assert run.greenlet.startswith("pygreenlet "), run.greenlet
            assert run.greenlet.endswith(" " + mode.backend), run.greenlet
        return run

    return run
