"""Build script: the compiled backend is optional unless PYGREENLET_REQUIRE_SPEEDUPS=1."""
from __future__ import annotations

import os
import platform
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIRE = os.environ.get("PYGREENLET_REQUIRE_SPEEDUPS") == "1"
PURE = os.environ.get("PYGREENLET_PURE") == "1"
SOURCE = os.path.join("_speedups", "_speedups.pyx")


def why_not_compiled() -> str | None:
    """Return why no extension is built here, or None if it should be."""
    if PURE:
        return "PYGREENLET_PURE=1 asks for a pure wheel"
    if platform.python_implementation() != "CPython":
        return "the compiled backend is for CPython only"
    if not os.path.exists(os.path.join(HERE, SOURCE)):
        return "this source tree has no compiled backend yet"
    return None


def extensions() -> list:
    reason = why_not_compiled()
    if reason is not None:
        if REQUIRE:
            sys.exit("pygreenlet: speedups were required but cannot be built: " + reason)
        print("pygreenlet: building a pure wheel: " + reason)
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    ext = Extension(
        "pygreenlet._speedups",
        [SOURCE],
        include_dirs=["_speedups"],
        extra_compile_args=["-Wall", "-Wextra"],
    )
    return cythonize([ext], language_level=3, compiler_directives={"embedsignature": True})


class OptionalBuildExt(build_ext):
    """Fall back to a pure wheel with one message when compiling fails (unless required)."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            self._fallback(exc)

    def build_extension(self, ext) -> None:  # noqa: ANN001
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._fallback(exc)

    def _fallback(self, exc: Exception) -> None:
        if REQUIRE:
            raise
        print("pygreenlet: could not compile the speedups (%s); building a pure wheel" % exc)


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
