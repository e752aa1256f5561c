"""Builds the C API test extensions for a capsule name, and reads capsules with ctypes.

A backend has a C API when its API module has a ``_C_API`` capsule (the
compiled backend, and upstream greenlet); the pure-Python reference backend
has none, and the tests skip there.  For a backend with a C API the test
extensions are compiled (with setuptools and Cython, into a temporary folder)
against pygreenlet's header, once per capsule name and target module, so that
they import exactly that capsule; a missing compiler or Cython is then an
error, not a skip.  ``PYGREENLET_CFLAGS`` and ``PYGREENLET_LDFLAGS`` are added
to the compiler and linker flags, as in setup.py (ASan runs set them).
"""

from __future__ import annotations

import ctypes
import importlib
import os
import re
import shlex
import sys
from types import ModuleType

HERE = os.path.dirname(os.path.abspath(__file__))
C_SOURCE = os.path.join(HERE, "_pyg_capi_test.c")
PYX_TEMPLATE = os.path.join(HERE, "_pyg_csub.pyx")

#: warnings for the test extension itself (Cython's generated code gets the
#: same ones, minus the unused static functions that it always leaves)
STRICT_FLAGS = ["-Wall", "-Wextra", "-Werror"]
CYTHON_FLAGS = ["-Wall", "-Wextra", "-Wno-unused-function"]


def _capsule_function(name: str, restype, *argtypes):
    # looked up when used: PyPy's ctypes has no pythonapi (and no C API to test)
    return ctypes.PYFUNCTYPE(restype, *argtypes)((name, ctypes.pythonapi))


def capsule_name(capsule: object) -> str:
    """The name of a capsule object."""
    get = _capsule_function("PyCapsule_GetName", ctypes.c_char_p, ctypes.py_object)
    name = get(capsule)
    assert name is not None, "the capsule has no name"
    return name.decode("ascii")


def capsule_pointer(capsule: object) -> int:
    """The pointer stored in a capsule (the address of the table)."""
    get = _capsule_function(
        "PyCapsule_GetPointer", ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p
    )
    return get(capsule, capsule_name(capsule).encode("ascii"))


def include_dir() -> str:
    """pygreenlet's C header folder."""
    import pygreenlet

    get = getattr(pygreenlet, "get_include", None)
    if get is not None:
        return get()
    return os.path.join(os.path.dirname(os.path.abspath(pygreenlet.__file__)), "include")


def _env_flags(name: str) -> list[str]:
    return shlex.split(os.environ.get(name, ""))


def _tag(*parts: str) -> str:
    return "_".join(re.sub(r"\W", "_", p) for p in parts)


class Builder:
    """Compiles the test extensions into packages under *root* and imports them (cached).

    Each build is a package of its own (``pyg_capi_<tag>``) so that builds for
    different capsules can be imported side by side in one process.
    """

    def __init__(self, root: str) -> None:
        self.root = root
        self._done: dict[tuple[str, ...], str] = {}
        os.makedirs(root, exist_ok=True)
        if root not in sys.path:
            sys.path.insert(0, root)

    def _compile(self, package: str, ext_name: str, source: str, capsule: str, flags) -> None:
        # imported here: a missing setuptools or Cython fails the tests that need them
        from setuptools import Distribution, Extension

        pkgdir = os.path.join(self.root, package)
        os.makedirs(pkgdir, exist_ok=True)
        with open(os.path.join(pkgdir, "__init__.py"), "w") as f:
            f.write("")
        ext = Extension(
            package + "." + ext_name,
            [source],
            include_dirs=[include_dir()],
            define_macros=[("PYGREENLET_CAPSULE_NAME", '"%s"' % capsule)],
            extra_compile_args=list(flags) + _env_flags("PYGREENLET_CFLAGS"),
            extra_link_args=_env_flags("PYGREENLET_LDFLAGS"),
        )
        exts = [ext]
        if source.endswith(".pyx"):
            from Cython.Build import cythonize

            exts = cythonize(
                exts,
                build_dir=os.path.join(self.root, "cython-" + package),
                compiler_directives={"language_level": 3},
                quiet=True,
                force=True,
            )
        dist = Distribution({"name": package, "ext_modules": exts})
        cmd = dist.get_command_obj("build_ext")
        cmd.build_lib = self.root
        cmd.build_temp = os.path.join(self.root, "temp-" + package)
        cmd.inplace = False
        cmd.force = True
        cmd.ensure_finalized()
        cmd.run()

    def location(self, capsule: str, type_module: str | None = None) -> tuple[str, str]:
        """Build (once) and return (sys.path entry, module name) of one extension.

        Without *type_module*: the C module ``_pyg_capi_test``; with it: the
        Cython module ``_pyg_csub`` whose base type comes from *type_module*.
        """
        key = (capsule,) if type_module is None else (capsule, type_module)
        if key not in self._done:
            if type_module is None:
                package = "pyg_capi_" + _tag(capsule)
                self._compile(package, "_pyg_capi_test", C_SOURCE, capsule, STRICT_FLAGS)
                self._done[key] = package + "._pyg_capi_test"
            else:
                package = "pyg_csub_" + _tag(capsule, type_module)
                with open(PYX_TEMPLATE) as f:
                    text = f.read().replace("@TYPE_MODULE@", type_module)
                os.makedirs(os.path.join(self.root, package), exist_ok=True)
                pyx = os.path.join(self.root, package, "_pyg_csub.pyx")
                with open(pyx, "w") as f:
                    f.write(text)
                self._compile(package, "_pyg_csub", pyx, capsule, CYTHON_FLAGS)
                self._done[key] = package + "._pyg_csub"
        return self.root, self._done[key]

    def load(self, capsule: str, type_module: str | None = None) -> ModuleType:
        """Build (once) and import one extension; import warnings are errors."""
        import warnings

        _, name = self.location(capsule, type_module)
        importlib.invalidate_caches()  # the packages are new
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return importlib.import_module(name)


def type_module_of(api: ModuleType) -> str:
    """The module that holds the backend's greenlet type: the API module itself."""
    holder = importlib.import_module(api.__name__)
    assert holder.greenlet is api.greenlet
    return api.__name__
