"""Fixtures for the C API tests: the backend's capsule and the extensions built for it.

A backend has a C API when it has the ``c-api`` capability (tests/conftest.py)
and then its API module has a ``_C_API`` capsule; the tests skip for one that
has none (the pure-Python reference backend).  For the others a missing
compiler, setuptools or Cython is an error: see capi_build.
"""

from __future__ import annotations

import importlib
import textwrap
from types import ModuleType

import pytest
from capi_build import Builder, capsule_name, type_module_of


@pytest.fixture(scope="session")
def capi_builder(tmp_path_factory: pytest.TempPathFactory) -> Builder:
    return Builder(str(tmp_path_factory.mktemp("capi_build")))


@pytest.fixture
def capsule(api: ModuleType, capable) -> object:
    """The backend's C API capsule; skips for a backend without a C API."""
    c = getattr(api, "_C_API", None)
    if not capable("c-api"):
        assert c is None, "a backend without the c-api capability has a _C_API"
        pytest.skip("this backend has no C API (pure Python)")
    assert c is not None, "a backend with the c-api capability has no _C_API"
    # C code imports the capsule by its name (module "." attribute)
    module, attr = capsule_name(c).rsplit(".", 1)
    holder = importlib.import_module(module)
    if getattr(holder, attr, None) is not c and getattr(holder, "greenlet", None) is not (
        api.greenlet
    ):
        pytest.skip(
            "%s runs another backend in this process, so C code cannot import this "
            "backend's capsule by its name %r" % (module, capsule_name(c))
        )
    return c


@pytest.fixture
def capi(capsule: object, capi_builder: Builder) -> ModuleType:
    """_pyg_capi_test, built (once per capsule name) for the backend's capsule."""
    return capi_builder.load(capsule_name(capsule))


@pytest.fixture
def csub(api: ModuleType, capsule: object, capi_builder: Builder) -> ModuleType:
    """_pyg_csub (the Cython subclass CGreenlet), built against the backend's type."""
    return capi_builder.load(capsule_name(capsule), type_module_of(api))


SCRIPT_PRELUDE = """\
sys.path.insert(0, {root!r})
{alias} = importlib.import_module({module!r})
"""


@pytest.fixture
def capi_script(run_script, capsule: object, api: ModuleType, capi_builder: Builder):
    """Like run_script, with ``capi`` (and ``csub`` if asked) imported in the script."""

    def run(code: str, with_csub: bool = False, timeout: float = 60):
        name = capsule_name(capsule)
        # warnings are errors from here on, the import of the extensions included
        prelude = "import warnings\nwarnings.simplefilter('error')\n"
        prelude += SCRIPT_PRELUDE.format(
            root=capi_builder.root, alias="capi", module=capi_builder.location(name)[1]
        )
        if with_csub:
            prelude += SCRIPT_PRELUDE.format(
                root=capi_builder.root,
                alias="csub",
                module=capi_builder.location(name, type_module_of(api))[1],
            )
        return run_script(prelude + textwrap.dedent(code), timeout=timeout)

    return run
