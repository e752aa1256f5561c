"""A greenlet subclass written in C: CGreenlet of _pyg_csub.pyx, made the way gevent makes its own.

Cython takes the base type from the header (``ctypedef class <module>.greenlet
[object PyGreenlet]``) and checks its size at import; CGreenlet adds an object
field (``payload``), C ints (``switches``, ``magic``) and a ``cpdef switch``
that calls ``PyGreenlet_Switch``.  Backends without a C API skip.
"""

from __future__ import annotations

import gc
import importlib
import os
import pickle
import subprocess
import sys
import weakref

import pytest
from capi_build import capsule_name, capsule_pointer

KILL_MESSAGE = "Killing the greenlet because all references have vanished."
MAGIC = 0x1234


def _check(proc, expected_stdout=None):
    """The script exited with 0, wrote nothing to stderr (and printed *expected_stdout*)."""
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    assert proc.stderr == "", proc.stderr[-4000:]
    if expected_stdout is not None:
        assert proc.stdout == expected_stdout, proc.stdout[-4000:]


def _out_and_back(api):
    """A run that switches to the main greenlet with "out", then returns "end"."""
    main = api.getcurrent()

    def run():
        main.switch("out")
        return "end"

    return run


# ---- the type ----------------------------------------------------------------


def test_capi_csub_base_is_the_backends_type(csub, api, capsule):
    assert csub.BASE is api.greenlet
    assert csub.CGreenlet.__mro__[1] is api.greenlet
    assert issubclass(csub.CGreenlet, api.greenlet)
    assert csub.CGreenlet.__basicsize__ > api.greenlet.__basicsize__
    # the inherited slots of the object layout
    assert csub.CGreenlet.__dictoffset__ == api.greenlet.__dictoffset__
    assert csub.CGreenlet.__weakrefoffset__ == api.greenlet.__weakrefoffset__
    assert csub.table_address() == capsule_pointer(capsule)


def test_capi_csub_import_accepts_the_size_without_warning(capi_script):
    # Cython compares sizeof(PyGreenlet) with the type's __basicsize__ at
    # import and warns ("size changed") or fails if they differ; the script
    # imports with warnings as errors
    proc = capi_script(
        """
        print(csub.BASE is greenlet, csub.BASE.__basicsize__ == capi.layout()[0])
        """,
        with_csub=True,
    )
    _check(proc, "True True\n")


def test_capi_csub_extern_class_named_by_the_types_module(api, capsule, capi_builder):
    # user code names the type by its public module (the module part of its
    # name: pygreenlet.greenlet, greenlet.greenlet), which may differ from the
    # backend's own module
    holder = api.greenlet.__module__
    if getattr(importlib.import_module(holder), "greenlet", None) is not api.greenlet:
        pytest.skip("%s.greenlet is another backend's type in this process" % holder)
    mod = capi_builder.load(capsule_name(capsule), holder)
    assert mod.BASE is api.greenlet and mod.TYPE_MODULE == holder
    cg = mod.CGreenlet(lambda x: x + 1, payload="p")
    assert cg.switch_with((1,), None) == 2


def test_R21_capi_csub_getcurrent_returns_the_subclass_instance(csub, api):
    main = api.getcurrent()

    def run():
        me = csub.current()
        return me, type(me), api.getcurrent(), type(me.parent)

    cg = csub.CGreenlet(run)
    me, cls, current, parent_type = cg.switch()
    assert me is cg and current is cg and cls is csub.CGreenlet
    assert parent_type is api.greenlet
    assert type(main) is api.greenlet
    assert csub.current() is main


def test_capi_csub_check_accepts_it(csub, capi):
    cg = csub.CGreenlet()
    assert csub.is_greenlet(cg) and capi.check(cg)
    assert not csub.is_greenlet(1)
    assert capi.flags(cg) == (0, 0, 0)


def test_capi_csub_c_fields(csub, api):
    payload = object()
    before = sys.getrefcount(payload)
    cg = csub.CGreenlet(payload=payload)
    assert sys.getrefcount(payload) == before + 1
    assert cg.payload is payload
    assert cg.switches == 0 and cg.magic == MAGIC
    assert cg.field_state() == (payload, 0, MAGIC)
    cg.switches = 41
    cg.payload = None
    assert sys.getrefcount(payload) == before
    assert cg.field_state() == (None, 41, MAGIC)
    with pytest.raises(AttributeError):
        cg.magic = 1
    # the C fields are not in the instance dict
    assert cg.__dict__ == {}
    del cg
    assert sys.getrefcount(payload) == before


def test_capi_csub_constructor_passes_arguments_to_the_base(csub, api):
    p = api.greenlet()

    def run():
        return "ran"

    cg = csub.CGreenlet(run, p, payload=1)
    assert cg.run is run and cg.parent is p and cg.payload == 1
    cg = csub.CGreenlet(run=run, parent=None)
    assert cg.parent is api.getcurrent()
    with pytest.raises(TypeError):
        csub.CGreenlet(run, p, 3)


# ---- switching -----------------------------------------------------------------


def _child(api):
    """A run that logs what it receives and answers ("got", value), forever."""
    log = []

    def run(*args, **kwargs):
        log.append((args, kwargs))
        parent = api.getcurrent().parent
        value = parent.switch("started")
        while True:
            log.append(value)
            value = parent.switch(("got", value))

    return run, log


def test_R2_capi_csub_cpdef_switch_starts_it(csub, api):
    run, log = _child(api)
    cg = csub.CGreenlet(run)
    assert cg.switch() == "started"
    assert log == [((), {})]
    assert cg.switches == 1


@pytest.mark.parametrize(
    "args, kwargs, expected",
    [
        (None, None, ()),
        ((), None, ()),
        ((7,), None, 7),
        ((1, 2), None, (1, 2)),
        ((), {"k": 1}, {"k": 1}),
        ((1,), {"k": 1}, ((1,), {"k": 1})),
        ((1,), {}, 1),
    ],
)
def test_R1_capi_csub_switch_with_packs(csub, api, args, kwargs, expected):
    run, log = _child(api)
    cg = csub.CGreenlet(run)
    assert cg.switch_with((1,), {"k": 2}) == "started"
    assert log == [((1,), {"k": 2})]
    assert cg.switch_with(args, kwargs) == ("got", expected)
    assert log[1:] == [expected]
    assert cg.switches == 2


def test_R1_capi_csub_base_switch_packs(csub, api):
    # the base type's switch, called on the subclass instance, packs as usual
    run, log = _child(api)
    cg = csub.CGreenlet(run)
    assert api.greenlet.switch(cg, 1, k=2) == "started"
    assert api.greenlet.switch(cg, 3, 4) == ("got", (3, 4))
    assert log == [((1,), {"k": 2}), (3, 4)]
    assert cg.switches == 0


def test_capi_csub_switches_that_do_not_go_through_the_override(csub, api, capi):
    cg = csub.CGreenlet(_out_and_back(api))
    assert capi.switch(cg) == "out"  # the C API bypasses the override
    assert cg.switches == 0
    assert cg.switch() == "end"
    assert cg.switches == 1 and cg.dead


def test_capi_csub_parent_is_resumed_without_the_override(csub, api):
    # a CGreenlet parent is resumed by the backend when its child finishes,
    # and by the child's parent.switch() (the override takes no arguments, so
    # the child uses the base type's switch)
    log = []

    def parent_run():
        child = api.greenlet(lambda: "child result")
        log.append(child.switch())
        log.append(api.greenlet.switch(child_two, "to child two"))
        return "parent done"

    def child_two_run(arg):
        assert arg == "to child two"
        return api.greenlet.switch(cg, "back")

    cg = csub.CGreenlet(parent_run)
    child_two = api.greenlet(child_two_run, parent=cg)
    assert cg.switch() == "parent done"
    assert log == ["child result", "back"]
    assert cg.switches == 1


def test_capi_csub_python_override_of_cpdef_switch(csub, api):
    # a Python subclass overrides the cpdef switch; C code calling
    # self.switch() (switch_from_c) dispatches to the override
    class Logged(csub.CGreenlet):
        def switch(self):
            self.payload = (self.payload or 0) + 1
            return csub.CGreenlet.switch(self)

    g = Logged(_out_and_back(api))
    assert g.switch_from_c() == "out"
    assert g.payload == 1 and g.switches == 1
    assert g.switch() == "end"
    assert g.payload == 2 and g.switches == 2


def test_R5_capi_csub_exception_reaches_the_parent(csub, api):
    exc = ValueError("from CGreenlet")

    def run():
        raise exc

    cg = csub.CGreenlet(run)
    with pytest.raises(ValueError) as info:
        cg.switch()
    assert info.value is exc and cg.dead


# ---- throw -------------------------------------------------------------------


def test_R11_capi_csub_throw(csub, api):
    run, log = _child(api)
    cg = csub.CGreenlet(run)
    cg.switch()
    with pytest.raises(KeyError, match="k"):
        cg.throw(KeyError("k"))
    assert cg.dead

    cg = csub.CGreenlet(run)
    cg.switch()
    result = cg.throw_value(api.GreenletExit, "bye")
    assert isinstance(result, api.GreenletExit) and result.args == ("bye",)
    assert cg.dead


def test_R12_capi_csub_throw_into_unstarted(csub, api):
    calls = []
    cg = csub.CGreenlet(lambda: calls.append(1))
    result = cg.throw()
    assert isinstance(result, api.GreenletExit)
    assert cg.dead and calls == []


# ---- Python subclasses of the C subclass ------------------------------------


def test_R43_capi_csub_python_subclass_with_run_method(csub, api):
    class Task(csub.CGreenlet):
        def __init__(self, name, factor):
            # a different signature: the base's __new__ gets these arguments too
            super().__init__(payload=name)
            self.factor = factor

        def run(self, x):
            return (self.payload, x * self.factor, self.switches)

    t = Task("double", 2)
    assert t.parent is api.getcurrent()
    assert t.switch_with((21,), None) == ("double", 42, 1)
    assert t.dead and t.__dict__ == {"factor": 2}
    assert isinstance(t, api.greenlet)
    r = weakref.ref(t)
    del t
    assert r() is None


def test_R38_capi_csub_repr(csub, api):
    # a C type's name (tp_name) is its module and name; a Python subclass's is its __name__
    cls = csub.CGreenlet
    cg = cls()
    assert repr(cg).startswith("<%s.%s object at %#x " % (cls.__module__, cls.__name__, id(cg)))
    assert repr(cg).endswith(" pending>")

    class PySub(csub.CGreenlet):
        pass

    assert repr(PySub()).startswith("<PySub object at ")


def test_R40_capi_csub_cannot_be_pickled(csub):
    cls = csub.CGreenlet
    with pytest.raises(TypeError) as info:
        pickle.dumps(cls(), protocol=2)
    assert str(info.value) == "cannot serialize '%s.%s' object" % (cls.__module__, cls.__name__)


# ---- dict, weak references, collection ----------------------------------------


def test_R41_capi_csub_dict(csub, capi):
    cg = csub.CGreenlet(payload="p")
    cg.x = 1
    assert cg.__dict__ == {"x": 1}
    assert capi.struct_fields(cg)[1] is cg.__dict__
    cg.__dict__ = {"y": 2}
    assert cg.y == 2 and not hasattr(cg, "x")
    assert cg.payload == "p"
    with pytest.raises(TypeError):
        del cg.__dict__


def test_R42_capi_csub_weakrefs(csub, api):
    main = api.getcurrent()
    cg = csub.CGreenlet(lambda: main.switch())
    called = []
    r = weakref.ref(cg, called.append)
    p = weakref.proxy(cg)
    assert r() is cg and p.magic == MAGIC
    cg.switch()
    assert r() is cg
    cg.switch()
    assert cg.dead
    del cg
    assert r() is None and called == [r]
    with pytest.raises(ReferenceError):
        p.magic  # noqa: B018


@pytest.mark.parametrize("state", ["unstarted", "dead"])
def test_R42_capi_csub_cycle_through_the_c_field_is_collected(csub, api, state):
    class Tracked:
        pass

    cg = csub.CGreenlet(lambda: None)
    if state == "dead":
        cg.switch()
    marker = Tracked()
    cg.payload = [cg, marker]  # cg -> list -> cg, only through the C field
    r_cg, r_marker = weakref.ref(cg), weakref.ref(marker)
    del cg, marker
    assert r_cg() is not None  # a cycle: refcounting alone cannot free it
    gc.collect()
    assert r_cg() is None and r_marker() is None


def test_R42_capi_csub_suspended_cycle_through_the_c_field(csub, api, known_difference):
    # a suspended CGreenlet whose only reference is its own C field: the
    # collector kills it (with its C int fields intact) and frees it
    known_difference("suspended-cycle")
    main = api.getcurrent()
    seen = []

    def run():
        try:
            main.switch()
        except api.GreenletExit:
            seen.append(api.getcurrent().field_state()[1:])
            raise

    cg = csub.CGreenlet(run)
    cg.switch()
    cg.payload = cg
    r = weakref.ref(cg)
    del cg
    gc.collect()
    gc.collect()
    assert seen == [(1, MAGIC)]
    assert r() is None


def test_R42_capi_csub_self_reference_in_c_field_is_collected(csub, api):
    cg = csub.CGreenlet()
    cg.payload = cg
    r = weakref.ref(cg)
    del cg
    gc.collect()
    assert r() is None


# ---- kill on collection (in subprocesses) -------------------------------------

KILL_SCRIPT = """
main = getcurrent()
events = []

class Payload:
    def __del__(self):
        events.append("payload freed")

def run():
    try:
        main.switch("parked")
    except GreenletExit as e:
        me = getcurrent()
        events.append((type(me).__name__, e.args[0] == {kill!r}, me.parent is main))
        state = me.field_state()
        events.append(state[1:])
        events.append(state[0] if state[0] == "<NULL>" else type(state[0]).__name__)
        del state
        raise
    finally:
        events.append("finally")

cg = csub.CGreenlet(run, payload=Payload())
assert cg.switch() == "parked"
cg.switches = 7
del cg
events.append("deleted")
for e in events:
    print(e)
"""


def test_R23_capi_csub_killed_when_dropped(capi_script):
    # the kill runs while the greenlet is being freed; its C int fields are
    # intact then
    proc = capi_script(KILL_SCRIPT.format(kill=KILL_MESSAGE), with_csub=True)
    _check(proc)
    lines = proc.stdout.splitlines()
    # when the payload is freed, before or after the kill: see the next test
    assert lines.count("payload freed") == 1
    lines.remove("payload freed")
    assert lines[0] == "('CGreenlet', True, True)"
    assert lines[1] == "(7, %d)" % MAGIC
    assert lines[2] in ("Payload", "<NULL>")
    assert lines[3:] == ["finally", "deleted"]


def test_R23_capi_csub_kill_sees_the_object_fields(capi_script, upstream_bug):
    # during the kill the object field still holds the payload, which is freed
    # with the greenlet afterwards: the backend kills before the subclass's
    # tp_dealloc clears its fields (from tp_finalize, which Cython calls first)
    upstream_bug(
        "the kill runs in the base type's tp_dealloc, after Cython's tp_dealloc "
        "has cleared the subclass's object fields (reading one as an object crashes)"
    )
    proc = capi_script(KILL_SCRIPT.format(kill=KILL_MESSAGE), with_csub=True)
    _check(proc)
    lines = proc.stdout.splitlines()
    assert lines[2:] == ["Payload", "finally", "payload freed", "deleted"], lines


def test_R23_capi_csub_python_subclass_killed_when_dropped(capi_script):
    proc = capi_script(
        """
        main = getcurrent()

        class Sub(csub.CGreenlet):
            pass

        def run():
            try:
                main.switch()
            except GreenletExit:
                print("killed", type(getcurrent()).__name__, getcurrent().switches)
                raise

        s = Sub(run, payload=1)
        s.switch()
        del s
        print("deleted")
        """,
        with_csub=True,
    )
    _check(proc, "killed Sub 1\ndeleted\n")


def test_R23_capi_csub_suspended_at_exit(capi_script):
    proc = capi_script(
        """
        main = getcurrent()
        keep = []
        for i in range(3):
            cg = csub.CGreenlet(lambda: main.switch(), payload=[i])
            cg.payload.append(cg)
            cg.switch()
            keep.append(cg)
        print("exiting")
        """,
        with_csub=True,
    )
    _check(proc, "exiting\n")


# ---- extensions built for greenlet, with pygreenlet standing in ---------------

STANDIN_SCRIPT = """
import importlib, os, sys, warnings
sys.path.insert(0, {tests!r})
import pygreenlet
from capi_build import capsule_pointer
assert pygreenlet.BACKEND == {backend!r}, pygreenlet.BACKEND
pygreenlet.as_greenlet()
warnings.simplefilter("error")
sys.path.insert(0, {root!r})
capi = importlib.import_module({capi_module!r})  # PyCapsule_Import("greenlet._C_API")
csub = importlib.import_module({csub_module!r})  # ctypedef class greenlet.greenlet
import greenlet
print(greenlet.greenlet is pygreenlet.greenlet, capi.greenlet_type() is greenlet.greenlet)
print(csub.BASE is greenlet.greenlet, csub.TYPE_MODULE)
table = capsule_pointer(greenlet._C_API)
print(capi.table_address() == table == csub.table_address())
main = greenlet.getcurrent()
cg = csub.CGreenlet(lambda x: main.switch(x * 2) + 1, payload="p")
print(capi.switch(cg, (21,)), capi.flags(cg), cg.switch_with((9,), None), cg.dead)
"""


def test_capi_standin_extensions_built_for_greenlet(
    backend, pygreenlet_only, capsule, capi_builder
):
    # an extension compiled the way one is against greenlet's own header
    # (capsule "greenlet._C_API", base type greenlet.greenlet), imported while
    # pygreenlet stands in for greenlet, gets pygreenlet's type and table
    import pygreenlet

    capi_root, capi_module = capi_builder.location("greenlet._C_API")
    csub_root, csub_module = capi_builder.location("greenlet._C_API", "greenlet")
    assert capi_root == csub_root
    here = os.path.dirname(os.path.dirname(os.path.abspath(pygreenlet.__file__)))
    env = dict(os.environ, PYGREENLET_BACKEND=backend, PYTHONPATH=here)
    env.pop("PYGREENLET_AS_GREENLET", None)
    code = STANDIN_SCRIPT.format(
        tests=os.path.dirname(os.path.abspath(__file__)),
        backend=backend,
        root=capi_root,
        capi_module=capi_module,
        csub_module=csub_module,
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    _check(proc, "True True\nTrue greenlet\nTrue\n42 (0, 1, 1) 10 True\n")
