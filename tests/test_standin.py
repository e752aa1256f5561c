"""pygreenlet standing in for greenlet, and upstream's private module greenlet._greenlet."""

from __future__ import annotations

import os
import signal
import site
import subprocess
import sys
import textwrap

import pytest

import pygreenlet

HERE = os.path.dirname(os.path.dirname(os.path.abspath(pygreenlet.__file__)))

# Where pygreenlet is installed, its .pth file ran at start-up; in the source
# tree, the same file (at the root of the tree) is read by site.addsitedir.
START = """\
import os, site, sys
here = {here!r}
if here not in site.getsitepackages():
    site.addsitedir(here)
"""


def python(
    code: str, backend: str, private: bool | None = None, **env: str
) -> subprocess.CompletedProcess:
    """Run *code* in a fresh interpreter on *backend*, after the start-up hook.

    Unless *private* is None, the code starts with a private module imported
    as ``m``: upstream's if *private* is true, else pygreenlet's answer to it.
    """
    full = dict(os.environ, PYGREENLET_BACKEND=backend, PYTHONPATH=HERE)
    full.pop("PYGREENLET_AS_GREENLET", None)
    full.update(env)
    src = START.format(here=HERE) + (private_module(private) if private is not None else "")
    src += textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", src], capture_output=True, text=True, env=full, timeout=120
    )


@pytest.fixture
def ours(backend: str, pygreenlet_only: None) -> str:
    """The backend, for tests of pygreenlet's own stand-in (upstream has none)."""
    return backend


def private_module(upstream: bool) -> str:
    """Code that imports upstream's private module, or pygreenlet's answer to it, as ``m``."""
    if upstream:  # the oracle itself
        return "import greenlet, greenlet._greenlet as m\n"
    return "import pygreenlet as greenlet, pygreenlet._greenlet as m\n"


def check(proc: subprocess.CompletedProcess) -> list[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.split()


def test_env_var_makes_import_greenlet_give_pygreenlet(ours):
    out = check(
        python(
            """
            import greenlet, greenlet._greenlet, pygreenlet
            assert greenlet.greenlet is pygreenlet.greenlet
            assert greenlet._greenlet.greenlet is pygreenlet.greenlet
            assert sys.modules["greenlet._greenlet"] is greenlet._greenlet
            assert greenlet.getcurrent() is pygreenlet.getcurrent()
            assert pygreenlet.standing_in()
            print(greenlet.greenlet.__module__, greenlet.GreenletExit.__module__)
            print(repr(greenlet.getcurrent()).split()[0], sorted(greenlet.__all__) == sorted(
                ["__version__", "_C_API", "GreenletExit", "error", "getcurrent", "greenlet",
                 "gettrace", "settrace"]) or pygreenlet.BACKEND == "reference")
            print(greenlet.GREENLET_USE_GC, type(greenlet.__version__).__name__)
            """,
            ours,
            PYGREENLET_AS_GREENLET="1",
        )
    )
    assert out == ["greenlet", "greenlet", "<greenlet.greenlet", "True", "1", "str"]


def test_capsule_answers_as_greenlets_when_compiled(ours):
    out = check(
        python(
            """
            import ctypes, greenlet, pygreenlet
            if not hasattr(pygreenlet, "_C_API"):
                print("no-c-api", hasattr(greenlet, "_C_API"))
            else:
                name = ctypes.pythonapi.PyCapsule_GetName
                name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
                imp = ctypes.pythonapi.PyCapsule_Import
                imp.restype, imp.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int]
                ptr = ctypes.pythonapi.PyCapsule_GetPointer
                ptr.restype, ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
                a = imp(b"greenlet._C_API", 0)
                b = imp(b"pygreenlet._C_API", 0)
                assert a and a == b == ptr(pygreenlet._C_API, b"pygreenlet._C_API")
                print(name(greenlet._C_API).decode(), name(pygreenlet._C_API).decode())
            """,
            ours,
            PYGREENLET_AS_GREENLET="1",
        )
    )
    assert out in (["greenlet._C_API", "pygreenlet._C_API"], ["no-c-api", "False"])


def test_subprocesses_inherit_it_from_as_greenlet(ours):
    out = check(
        python(
            """
            import subprocess, pygreenlet
            assert "greenlet" not in sys.modules
            pygreenlet.as_greenlet()
            pygreenlet.as_greenlet()  # again: nothing more happens
            import greenlet
            assert greenlet.greenlet is pygreenlet.greenlet
            child = subprocess.run([sys.executable, "-c", (
                "import site, sys; here = %r\\n"
                "if here not in site.getsitepackages(): site.addsitedir(here)\\n"
                "import greenlet, pygreenlet; print(greenlet.greenlet is pygreenlet.greenlet)"
            ) % here], capture_output=True, text=True)
            print(child.stdout.strip() or child.stderr)
            """,
            ours,
        )
    )
    assert out == ["True"]


def test_it_survives_a_reload_and_a_removal_from_sys_modules(ours):
    out = check(
        python(
            """
            import importlib, greenlet, pygreenlet
            importlib.reload(greenlet)
            del sys.modules["greenlet"], sys.modules["greenlet._greenlet"]
            import greenlet._greenlet
            print(greenlet.greenlet is pygreenlet.greenlet, greenlet._greenlet.greenlet is
                  pygreenlet.greenlet)
            """,
            ours,
            PYGREENLET_AS_GREENLET="1",
        )
    )
    assert out == ["True", "True"]


def test_too_late_once_another_greenlet_is_imported(ours):
    out = check(
        python(
            """
            import types, pygreenlet
            sys.modules["greenlet"] = types.ModuleType("greenlet")  # as if imported first
            try:
                pygreenlet.as_greenlet()
            except RuntimeError as e:
                print(str(e).split(":")[0])
            print(pygreenlet.standing_in())
            """,
            ours,
        )
    )
    assert out == "pygreenlet.as_greenlet() must run before greenlet is imported False".split()


def test_without_the_env_var_nothing_is_imported_at_start(ours):
    out = check(
        python(
            """
            print("pygreenlet" in sys.modules, "greenlet" in sys.modules)
            import pygreenlet
            print(pygreenlet.standing_in(), "greenlet" in sys.modules)
            print(pygreenlet.greenlet.__module__)
            """,
            ours,
        )
    )
    assert out == ["False", "False", "False", "False", "pygreenlet"]


# --------------------------------------------------------------------------------------
# greenlet._greenlet (upstream runs the same checks: it is the oracle here)
# --------------------------------------------------------------------------------------


def test_private_module_flags_and_optional_cleanup(backend, capable, upstream_since):
    upstream_since((3, 3), "the GREENLET_USE_* flags are True, not 1")
    out = check(
        python(
            """
            print(m.GREENLET_USE_GC, m.GREENLET_USE_TRACING, m.GREENLET_USE_CONTEXT_VARS,
                  m.GREENLET_USE_STANDARD_THREADING, m.CLOCKS_PER_SEC > 0)
            print(m.enable_optional_cleanup(False), m.get_clocks_used_doing_optional_cleanup())
            m.enable_optional_cleanup(True)
            print(m.get_clocks_used_doing_optional_cleanup() >= 0)
            print(hasattr(m, "get_tstate_trash_delete_nesting") == (sys.version_info < (3, 13)))
            if sys.version_info < (3, 13):
                print(m.get_tstate_trash_delete_nesting())
            """,
            backend,
            private=not capable("pygreenlet"),
        )
    )
    assert out[:9] == ["1", "1", "1", "1", "True", "None", "None", "True", "True"]
    assert out[9:] == (["0"] if sys.version_info < (3, 13) else [])


def test_private_module_counts_main_greenlets_and_pending_cleanup(backend, capable):
    out = check(
        python(
            """
            import gc, threading, time, weakref
            greenlet.getcurrent()
            before = m.get_total_main_greenlets()
            started, done = threading.Event(), threading.Event()
            seen = []
            def body():
                greenlet.getcurrent()
                seen.append(m.get_total_main_greenlets())
                started.set()
                done.wait()
            t = threading.Thread(target=body)
            t.start()
            started.wait()
            done.set()
            t.join()
            for _ in range(100):  # the dead thread's main greenlet goes at a collection
                gc.collect()
                greenlet.getcurrent()
                if m.get_total_main_greenlets() == before and not m.get_pending_cleanup_count():
                    break
                time.sleep(0.01)
            print(before >= 1, seen == [before + 1], m.get_total_main_greenlets() == before,
                  m.get_pending_cleanup_count())
            """,
            backend,
            private=not capable("pygreenlet"),
        )
    )
    assert out == ["True", "True", "True", "0"]


def test_private_module_set_thread_local_lives_as_long_as_the_thread(backend, capable):
    out = check(
        python(
            """
            import gc, threading, weakref
            class Value:
                pass
            refs = []
            def body():
                v = Value()
                refs.append(weakref.ref(v))
                m.set_thread_local("pygreenlet-test", v)
                del v
                gc.collect()
                print(refs[0]() is not None)
            t = threading.Thread(target=body)
            t.start()
            t.join()
            gc.collect()
            print(refs[0]() is None)
            """,
            backend,
            private=not capable("pygreenlet"),
        )
    )
    assert out == ["True", "True"]


def test_unswitchable_greenlet_switch_errors(backend, capable):
    out = check(
        python(
            """
            u = m.UnswitchableGreenlet(lambda: greenlet.getcurrent().parent.switch("up"))
            print(u.force_switch_error, u.force_slp_switch_error)
            u.force_switch_error = True
            try:
                u.switch()
            except SystemError as e:
                print(repr(str(e)))
            print(bool(u), u.dead)
            u.force_switch_error = False
            print(u.switch())
            u.force_switch_error = True
            try:
                u.switch()
            except SystemError as e:
                print(repr(str(e)))
            print(bool(u), isinstance(u, greenlet.greenlet))
            """,
            backend,
            private=not capable("pygreenlet"),
        )
    )
    assert out == [
        "False",
        "False",
        "'Failed",
        "to",
        "switch",
        "stacks",
        "into",
        "a",
        "greenlet",
        "for",
        "the",
        "first",
        "time.'",
        "False",
        "False",
        "up",
        "'Failed",
        "to",
        "switch",
        "stacks",
        "into",
        "a",
        "running",
        "greenlet.'",
        "True",
        "True",
    ]


def test_unswitchable_greenlet_low_level_error_is_fatal(backend, capable):
    proc = python(
        """
        u = m.UnswitchableGreenlet(lambda: None)
        u.force_slp_switch_error = True
        u.switch()
        print("survived")
        """,
        backend,
        private=not capable("pygreenlet"),
    )
    assert proc.returncode == -signal.SIGABRT, proc.stdout + proc.stderr
    assert "survived" not in proc.stdout
    assert "Failed low-level slp_switch(). The stack is probably corrupt." in proc.stderr


def test_site_hook_file_is_installed_beside_the_package():
    # The wheel puts the .pth at the top of site-packages, beside the package;
    # the source tree has it at its root, also beside the package.
    assert os.path.isfile(os.path.join(HERE, "pygreenlet_as_greenlet.pth"))
    assert HERE in site.getsitepackages() or os.path.isfile(os.path.join(HERE, "setup.py"))
