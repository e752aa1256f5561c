"""Build script: the compiled backend is optional unless PYGREENLET_REQUIRE_SPEEDUPS=1."""

from __future__ import annotations

import os
import platform
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
REQUIRE = os.environ.get("PYGREENLET_REQUIRE_SPEEDUPS") == "1"
PURE = os.environ.get("PYGREENLET_PURE") == "1"
PRIM_SOURCE = os.path.join("_speedups", "_speedups_prim.pyx")
SEMANTICS_SOURCE = os.path.join("pygreenlet", "_semantics.py")
#: Every C header of the compiled backend: a change to any rebuilds it.
HEADERS = sorted(
    os.path.relpath(os.path.join(folder, name), HERE)
    for folder, _, names in os.walk(os.path.join(HERE, "_speedups"))
    for name in names
    if name.endswith(".h")
)


def why_not_compiled() -> str | None:
    """Return why no extension is built here, or None if it should be."""
    if PURE:
        return "PYGREENLET_PURE=1 asks for a pure wheel"
    if platform.python_implementation() != "CPython":
        return "the compiled backend is for CPython only"
    if not os.path.exists(os.path.join(HERE, PRIM_SOURCE)):
        return "this source tree has no compiled backend"
    try:
        import Cython  # noqa: F401
    except ImportError:
        return "Cython is not installed"
    return None


def extensions() -> list:
    reason = why_not_compiled()
    if reason is not None:
        if REQUIRE and not PURE:
            sys.exit("pygreenlet: speedups were required but cannot be built: " + reason)
        sys.stderr.write("pygreenlet: building a pure wheel: %s\n" % reason)
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    flags = ["-Wall", "-Wextra"] + os.environ.get("PYGREENLET_CFLAGS", "").split()
    link = os.environ.get("PYGREENLET_LDFLAGS", "").split()
    exts = [
        # the stack-slicing primitive
        Extension(
            "pygreenlet._speedups_prim",
            [PRIM_SOURCE],
            include_dirs=["_speedups"],
            depends=HEADERS,
            extra_compile_args=flags,
            extra_link_args=link,
        ),
        # the very same semantics module, compiled (it picks the primitive
        # above when its module name is pygreenlet._speedups)
        Extension(
            "pygreenlet._speedups",
            [SEMANTICS_SOURCE],
            include_dirs=["_speedups"],
            depends=["pygreenlet/_speedups.pxd", "pygreenlet/_speedups_prim.pxd"] + HEADERS,
            extra_compile_args=flags + ["-Wno-unused-function"],
            extra_link_args=link,
        ),
    ]
    # Cython finds the augmenting _speedups.pxd by module name, but its
    # dependency check looks for _semantics.pxd: regenerate by hand.
    generated = os.path.join(HERE, SEMANTICS_SOURCE[: -len(".py")] + ".c")
    if os.path.exists(generated):
        made = os.path.getmtime(generated)
        if any(
            os.path.getmtime(os.path.join(HERE, p)) > made
            for p in ("pygreenlet/_speedups.pxd", "pygreenlet/_speedups_prim.pxd")
        ):
            os.remove(generated)
    return cythonize(
        exts,
        language_level=3,
        # types come from _semantics.pxd, not from the annotations (which are
        # for readers and mypy: Cython would take ``-> dict`` as "exactly dict")
        compiler_directives={
            "embedsignature": True,
            "binding": True,
            "annotation_typing": False,
            # greenlets cannot be pickled (R40): no generated __reduce__
            "auto_pickle": False,
        },
    )


class OptionalBuildExt(build_ext):
    """Fall back to a pure wheel with one message when compiling fails (unless required).

    The primitive is built first; if it fails, the compiled semantics (which
    cannot work without it) is not built either.
    """

    failed = False

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            self._fallback(exc)

    def build_extension(self, ext) -> None:  # noqa: ANN001
        if self.failed:
            return
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._fallback(exc)

    def _fallback(self, exc: Exception) -> None:
        if REQUIRE and not PURE:
            raise
        if not self.failed:
            sys.stderr.write(
                "pygreenlet: could not compile the speedups (%s); "
                "installing the pure-Python reference backend only\n" % exc
            )
        self.failed = True


#: Installed at the top of site-packages: at interpreter start, it makes
#: pygreenlet stand in for greenlet when PYGREENLET_AS_GREENLET=1 (and does
#: nothing, importing nothing, otherwise).  docs/guide/dropin.rst.
PTH_FILE = "pygreenlet_as_greenlet.pth"


class BuildPyWithPth(build_py):
    """build_py that also puts the stand-in's .pth file at the root of the wheel."""

    def run(self) -> None:
        super().run()
        self.copy_file(os.path.join(HERE, PTH_FILE), os.path.join(self.build_lib, PTH_FILE))

    def get_outputs(self, include_bytecode: bool = True) -> list:
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH_FILE)]


setup(
    ext_modules=extensions(),
    cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithPth},
)
