# cython: language_level=3
# A greenlet subclass written in C (with Cython), the way gevent writes its own
# greenlets: the base type comes from the C header as an extern class, and the
# subclass adds C fields and a cpdef switch that calls PyGreenlet_Switch.
#
# This file is a template: tests/capi/conftest.py replaces @TYPE_MODULE@ with
# the importable module that holds the greenlet type under test (for example
# greenlet, pygreenlet or pygreenlet._speedups) before cythonizing it, and
# defines PYGREENLET_CAPSULE_NAME for the C compiler.  Cython then imports that
# module when this one is imported, takes its `greenlet` attribute as the base
# type, and checks that the type is as large as the header's PyGreenlet.

from cpython.ref cimport PyObject


cdef extern from "greenlet/greenlet.h":
    ctypedef class @TYPE_MODULE@.greenlet [object PyGreenlet]:
        pass

    void **_PyGreenlet_API
    void PyGreenlet_Import() except *
    greenlet PyGreenlet_GetCurrent()
    object PyGreenlet_Switch(greenlet g, void *args, void *kwargs)
    object PyGreenlet_Throw(greenlet g, object typ, void *val, void *tb)
    bint PyGreenlet_Check(object o)


# At module initialization, as every user of the API must.
PyGreenlet_Import()
if _PyGreenlet_API == NULL:
    raise ImportError("PyGreenlet_Import() gave no table")

TYPE_MODULE = "@TYPE_MODULE@"
BASE = greenlet


def table_address():
    """The address of the table this module imported."""
    return <size_t>_PyGreenlet_API


def current():
    """PyGreenlet_GetCurrent(), typed as the extern class."""
    cdef greenlet g = PyGreenlet_GetCurrent()
    return g


cdef class CGreenlet(greenlet):
    """A greenlet with C fields: an object (payload) and a C int (switches).

    switches counts the calls of this class's own switch(), whatever calls it;
    switches that pygreenlet makes itself, or that go through the C API, do
    not count.
    """

    cdef public object payload
    cdef public int switches
    cdef readonly int magic

    def __cinit__(self, *args, **kwargs):
        self.magic = 0x1234

    def __init__(self, *args, payload=None, **kwargs):
        greenlet.__init__(self, *args, **kwargs)
        self.payload = payload

    cpdef switch(self):
        """Switch to this greenlet without arguments (gevent's kind of override)."""
        self.switches += 1
        # The base type's switch, not self.switch(): that would recurse.
        return PyGreenlet_Switch(self, NULL, NULL)

    cpdef switch_with(self, tuple args, dict kwargs):
        """Switch with packed arguments; None for either means NULL."""
        self.switches += 1
        return PyGreenlet_Switch(
            self,
            <void *>args if args is not None else NULL,
            <void *>kwargs if kwargs is not None else NULL,
        )

    def throw_value(self, typ, val):
        """PyGreenlet_Throw(self, typ, val, NULL) from Cython."""
        return PyGreenlet_Throw(self, typ, <void *>val, NULL)

    def switch_from_c(self):
        """self.switch() called from C: a cpdef call, which honours Python overrides."""
        return self.switch()

    def field_state(self):
        """(payload, switches, magic), with payload "<NULL>" if the field was cleared.

        The object field is read as a pointer first: reading a NULL object
        field as an object would crash.
        """
        cdef PyObject *p = <PyObject *>self.payload
        if p == NULL:
            return ("<NULL>", self.switches, self.magic)
        return (self.payload, self.switches, self.magic)


def is_greenlet(o):
    """PyGreenlet_Check(o) from Cython."""
    return PyGreenlet_Check(o)
