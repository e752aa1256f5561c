"""Sphinx configuration for pygreenlet's documentation."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
os.environ.setdefault("PYGREENLET_BACKEND", "reference")

import pygreenlet  # noqa: E402

project = "pygreenlet"
author = "the pygreenlet developers"
copyright = "2026, " + author
version = release = pygreenlet.__version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.doctest", "sphinx.ext.intersphinx"]
intersphinx_mapping: dict = {}
autodoc_member_order = "bysource"
nitpicky = True
nitpick_ignore = [("py:class", "Any"), ("py:class", "Callable")]
exclude_patterns = ["_build"]
html_theme = "alabaster"
doctest_global_setup = "from pygreenlet import greenlet, getcurrent, GreenletExit"
