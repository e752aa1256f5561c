# Types for the compiled build of _semantics.py, which is compiled as the module
# pygreenlet._speedups (Cython pure-Python mode finds this file by that name).
# Interpreted, _semantics.py ignores this file; compiled, its two state classes
# become extension types with C fields and the switch path's helpers become C
# functions, so a switch does no Python-level attribute lookups or calls
# inside the semantics layer.

# The primitive's C-level functions: _prim.put(...) etc. compile to C calls.
cimport cython
from pygreenlet cimport _speedups_prim as _prim

cdef class _ThreadState:
    cdef public object main, current, tracer
    cdef public list deleteme
    cdef public bint alive, switching
    # the hand-over of the switch in flight (_semantics.py: _ThreadState)
    cdef object x_origin, x_target, x_args, x_kwargs, x_exc, x_run
    cdef object __weakref__

cdef class _State:
    cdef public object run, parent, ts, stacklet, context, pending_kills
    cdef public bint started, finished, is_main

# The greenlet type: upstream's C layout (pygreenlet/include/pygreenlet.h):
# the object head, the weak-reference list at 16, __dict__ at 24 and one
# pointer, to its _State, at 32 (on 64-bit).  _Slots holds the storage so that
# the interpreted build can have the same shape (a __slots__ class).
cdef class _Slots:
    cdef object __weakref__
    cdef dict __dict__
    cdef _State _s

cdef class greenlet(_Slots):
    pass

cdef _ThreadState _thread_state(bint kill_deferred=*)
cdef bint _active(_State s)
@cython.locals(n=Py_ssize_t)
cdef object _pack(object args, object kwargs)
cdef _ThreadState _lineage_ts(object g)
cdef object _check_switch_allowed(object target, _ThreadState ts)
cdef object _call_tracer(_ThreadState ts, object exc, object origin, object target)
cdef object _fast_call_tracer(object ts, object exc, object origin, object target)
@cython.locals(t=_ThreadState, st=_State)
cdef int _init_fast_path() except -1
@cython.locals(hopped=bint)
cdef tuple _resolve(_ThreadState ts, object target)
cdef object _enter(_ThreadState ts, object target, _State s, object run, object origin,
                   object args, object kwargs, object exc)
@cython.locals(checked=bint)
cdef object _switch(object target, tuple args, object kwargs, object exc)
# The start and finish path makes no Python-level call of its own: a greenlet
# started at the recursion limit must still hand its RecursionError over (R5).
cdef object _die(_ThreadState ts, object result, object exc, list outcome)
cdef object _without_entry_frame(object e, bint keep)
cdef object _raise(object exc)
@cython.locals(s=_State)
cdef _State _new_state(object parent)
cdef object _deactivate(_State s)
cdef _State _st(object g)
cdef _set_state(object g, _State s)
@cython.locals(ts=_ThreadState, collector=_State)
cdef object _finalize(object g)
cdef int _finalize_in_dealloc(object g) noexcept
cdef int _init_args(object g, void *run, void *parent) except -1
cdef int _init_new(object g) except -1
cdef object _capi_getcurrent()
cdef object _capi_switch(object g, tuple args, object kwargs)
cdef object _throw(object g, object typ, object val, object tb)
cdef object _capi_throw(object g, object typ, object val, object tb)
cdef object _capi_set_parent(object g, object parent)
cdef object _set_run_and_parent(object g, object run, object parent)
cdef object _set_run(object g, object value)
cdef object _set_parent(object g, object value)
cdef int _capi_flags(object g) except -1
cdef object _capi_parent(object g)
cdef object _take_back(_ThreadState ts, _State s, bint starting)
cdef object _RUNNING, _MISSING, _entry
cdef list _orphans, _held_orphans
cdef object _main_greenlets
cdef bint _finalizing()

# _finalizing's compiled path: the interpreter's own flag, without a call
# through the sys module (pyg_is_finalizing comes from pyg_compat.h).
cdef extern from "pyg_compat.h":
    int pyg_sem_is_finalizing "pyg_is_finalizing" ()

# The type protocol Cython cannot express, and the C API table (one header).
cdef extern from "pyg_type.h":
    ctypedef int (*pyg_finalize_fn)(object) noexcept
    ctypedef int (*pyg_init_fn)(object, void *, void *) except -1
    ctypedef int (*pyg_new_fn)(object) except -1
    ctypedef object (*pyg_capi_current_fn)()
    ctypedef object (*pyg_capi_switch_fn)(object, tuple, object)
    ctypedef object (*pyg_capi_throw_fn)(object, object, object, object)
    ctypedef object (*pyg_capi_setparent_fn)(object, object)
    ctypedef int (*pyg_capi_flags_fn)(object) except -1
    ctypedef object (*pyg_capi_parent_fn)(object)
    int PYG_FLAG_MAIN, PYG_FLAG_STARTED, PYG_FLAG_ACTIVE
    int pyg_type_init(object greenlet_type, object state_type, Py_ssize_t state_off,
                      Py_ssize_t started_off, Py_ssize_t finished_off, Py_ssize_t is_main_off,
                      pyg_finalize_fn finalize, pyg_init_fn init_args,
                      pyg_new_fn init_new) except -1
    object pyg_alloc_greenlet()
    void *pyg_state_of(object g)
    int pyg_set_dict(object g, object value) except -1
    int pyg_type_setattr(object type, object name, object value) except -1
    void pyg_type_set_name(object type, const char *name)
    int pyg_capi_init(object error, object exit, object missing, pyg_capi_current_fn current,
                      pyg_capi_switch_fn do_switch, pyg_capi_throw_fn do_throw,
                      pyg_capi_setparent_fn set_parent, pyg_capi_flags_fn flags,
                      pyg_capi_parent_fn parent) except -1
    object pyg_capi_capsule(int dropin)
    int pyg_install_switch(object type, object doc) except -1
    int pyg_fast_init(const void *prim, object ts_type, Py_ssize_t ts_current,
                      Py_ssize_t ts_tracer, Py_ssize_t ts_deleteme, Py_ssize_t ts_switching,
                      Py_ssize_t x_origin, Py_ssize_t x_target, Py_ssize_t x_args,
                      Py_ssize_t x_kwargs, Py_ssize_t x_exc, Py_ssize_t x_run, Py_ssize_t s_ts,
                      Py_ssize_t s_stacklet, Py_ssize_t s_context, object running,
                      object orphans, object held_orphans, object context_type,
                      void *call_tracer, void *raise_, void *pack) except -1
    object pyg_make_getcurrent(object doc, object module)
    int pyg_trash_delete_nesting()
    object pyg_thread_state_dict()

# Where a C field of an object is, for pyg_type_init: of a C int field by
# its address; of an object field (whose address Cython does not give) by
# finding the one pointer-sized field that holds *value*.
cdef extern from *:
    """
    #define pyg_offset_of(obj, field) ((Py_ssize_t)((char *)(field) - (char *)(obj)))

    static Py_ssize_t
    pyg_object_field_offset(PyObject *obj, PyObject *value)
    {
        Py_ssize_t off, found = -1;
        for (off = sizeof(PyObject); off + (Py_ssize_t)sizeof(PyObject *) <= Py_TYPE(obj)->tp_basicsize;
                off += sizeof(PyObject *)) {
            if (*(PyObject **)((char *)obj + off) == value) {
                if (found >= 0)
                    break;
                found = off;
            }
        }
        if (found < 0 || off + (Py_ssize_t)sizeof(PyObject *) <= Py_TYPE(obj)->tp_basicsize) {
            PyErr_SetString(PyExc_SystemError, "pygreenlet: cannot find the state field");
            return -1;
        }
        return found;
    }
    """
    Py_ssize_t pyg_offset_of(object obj, void *field)
    Py_ssize_t pyg_object_field_offset(object obj, object value) except -1
