# The C-level interface of the compiled primitive (_speedups/_speedups_prim.pyx),
# for the compiled semantics: pygreenlet/_speedups.pxd cimports it, so the
# functions a switch calls are direct C calls there, not Python calls between
# two extension modules.  Same names and behaviour as the Python-level
# functions of the contract (pygreenlet/_primitive.pyi).

cpdef object get_thread_data()
cpdef object current()
cpdef object new_stacklet(object entry)
cpdef object put(object stacklet, object value)
cpdef object take()
cpdef object switch(object target)
cpdef object settle()
cpdef object get_context()
cpdef object set_context(object ctx)
cpdef object enter_tracing()
cpdef object leave_tracing()
cdef const void *fast_api() noexcept
