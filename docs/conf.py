"""Sphinx configuration for pygreenlet's documentation."""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, "_ext"))
os.environ.setdefault("PYGREENLET_BACKEND", "reference")

import pygreenlet  # noqa: E402

project = "pygreenlet"
author = "the pygreenlet developers"
copyright = "2026, " + author
version = release = pygreenlet.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "rules",  # _ext/rules.py: the rule directive and the rule-id cross-check
    "benchresults",  # _ext/benchresults.py: the performance table and chart
    "stackfigures",  # _ext/stackfigures.py: the stack-slicing figures (SVG)
]


PYTHON_DOCS = "https://docs.python.org/3"


def python_inventory() -> str | None:
    """Where the objects.inv of Python's docs comes from, for references to them.

    A local file if there is one (Debian's ``python3-doc`` package has it, and
    ``.ci/run`` installs it; ``PYGREENLET_PYTHON_INVENTORY`` names another),
    else None: intersphinx fetches it from docs.python.org, if that can be
    reached.  If neither works, the build stops with one sentence saying so.
    """
    candidates = [os.environ.get("PYGREENLET_PYTHON_INVENTORY", "")]
    candidates += ["/usr/share/doc/python3/html/objects.inv"]
    candidates += [
        "/usr/share/doc/python3.%d/html/objects.inv" % minor for minor in range(20, 8, -1)
    ]
    for path in candidates:
        if path and os.path.exists(path):
            return path
    import urllib.request

    try:
        with urllib.request.urlopen(PYTHON_DOCS + "/objects.inv", timeout=10):
            return None
    except OSError:
        from sphinx.errors import ConfigError

        raise ConfigError(
            "docs: Python's objects.inv is neither on this machine nor reachable at "
            "%s/objects.inv: install Debian's python3-doc, or set "
            "PYGREENLET_PYTHON_INVENTORY to a copy of it" % PYTHON_DOCS
        ) from None


intersphinx_mapping = {"python": (PYTHON_DOCS, python_inventory())}
autodoc_member_order = "bysource"
nitpicky = True
nitpick_ignore = [("py:class", "Any"), ("py:class", "Callable")]
exclude_patterns = ["_build"]
html_theme = "alabaster"
doctest_global_setup = "from pygreenlet import greenlet, getcurrent, GreenletExit"
