# Types for the compiled build of _semantics.py, which is compiled as the module
# pygreenlet._speedups (Cython pure-Python mode finds this file by that name).
# Interpreted, _semantics.py ignores this file; compiled, its two state classes
# become extension types with C fields and the switch path's helpers become C
# functions, so a switch does no Python-level attribute lookups or calls
# inside the semantics layer.

# The primitive's C-level functions: _prim.put(...) etc. compile to C calls.
from pygreenlet cimport _speedups_prim as _prim

cdef class _ThreadState:
    cdef public object main, current, tracer
    cdef public list deleteme
    cdef public bint alive, switching
    cdef object __weakref__

cdef class _State:
    cdef public object run, parent, ts, stacklet, context, pending_kills
    cdef public bint started, finished, is_main

cdef _ThreadState _thread_state(bint kill_deferred=*)
cdef bint _active(_State s)
cdef object _pack(tuple args, object kwargs)
cdef object _lineage_ts(object g)
cdef object _check_switch_allowed(object target, _ThreadState ts)
cdef object _call_tracer(_ThreadState ts, object exc, object origin, object target)
cdef tuple _resolve(_ThreadState ts, object target)
cdef object _enter(_ThreadState ts, object target, _State s, object run, tuple payload)
cdef object _switch(object target, tuple args, object kwargs, object exc)
cdef _State _st(object g)
cdef object _take_back(_State s, object stacklet, object run)
cdef object _RUNNING
cdef list _orphans, _held_orphans
cdef bint _finalizing()

# _st's fast path: the hidden state slot of a greenlet, read at its offset.
# pyg_init_state_slot takes the slot's member descriptor and the class that
# owns it; pyg_state_slot checks that g is an instance of that class (else,
# like an empty slot, it gives None) and returns a new reference.
cdef extern from *:
    """
    #include <structmember.h>  /* PyMemberDescrObject/PyMemberDef before 3.12 */
    static Py_ssize_t pyg_state_offset = -1;
    static PyTypeObject *pyg_slots_type = NULL;

    static int
    pyg_init_state_slot(PyObject *descr, PyObject *owner)
    {
        if (!PyType_Check(owner) || Py_TYPE(descr) != &PyMemberDescr_Type
                || ((PyMemberDescrObject *)descr)->d_member->type != T_OBJECT_EX) {
            PyErr_SetString(PyExc_TypeError, "pygreenlet: the state slot is not an object slot");
            return -1;
        }
        pyg_state_offset = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_INCREF(owner);  /* kept for good: the type check below reads it */
        pyg_slots_type = (PyTypeObject *)owner;
        return 0;
    }

    static PyObject *
    pyg_state_slot(PyObject *g)
    {
        PyObject *v = NULL;
        if (pyg_slots_type != NULL && PyObject_TypeCheck(g, pyg_slots_type))
            v = *(PyObject **)((char *)g + pyg_state_offset);
        if (v == NULL)
            v = Py_None;
        Py_INCREF(v);
        return v;
    }
    """
    int pyg_init_state_slot(object descr, object owner) except -1
    object pyg_state_slot(object g)

# _finalizing's compiled path: the interpreter's own flag, without a call
# through the sys module.
cdef extern from *:
    """
    #if PY_VERSION_HEX >= 0x030D0000
    #  define pyg_sem_is_finalizing() Py_IsFinalizing()
    #else
    #  define pyg_sem_is_finalizing() _Py_IsFinalizing()
    #endif
    """
    int pyg_sem_is_finalizing()
