# Types for the compiled build of _semantics.py, which is compiled as the module
# pygreenlet._speedups (Cython pure-Python mode finds this file by that name).
# Interpreted, _semantics.py ignores this file; compiled, its two state classes
# become extension types with C fields and the switch path's helpers become C
# functions, so a switch does no Python-level attribute lookups or calls
# inside the semantics layer.

cdef class _ThreadState:
    cdef public object main, current, tracer, collector
    cdef public list deleteme, pending_kills
    cdef public bint alive, switching
    cdef object __weakref__

cdef class _State:
    cdef public object run, parent, ts, stacklet, context
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
