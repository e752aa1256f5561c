# cython: language_level=3, embedsignature=True
"""Compiled primitive: stacklets that share their thread's C stack (stack slicing)."""
# The contract is pygreenlet/_primitive.pyi; the behaviour on top of it lives
# in pygreenlet/_semantics.py.  Everything that touches the C stack or the
# thread state is in the C headers next to this file: pyg_switch.h (slices),
# pyg_pystate.h (interpreter state), platform/ (the assembly switch).
cimport cython
import contextvars as _contextvars

#: The type set_context() accepts, as a C variable: no module-global lookup per switch.
cdef type _Context = _contextvars.Context
from cpython.object cimport PyObject, PyTypeObject
from cpython.ref cimport Py_INCREF, Py_XDECREF

cdef extern from "Python.h":
    PyObject *PyThreadState_GetDict()
    void PyErr_WriteUnraisable(object)

cdef extern from "pyg_switch.h":
    ctypedef struct pyg_pystate_t:
        PyObject *top_frame
    ctypedef struct pyg_stacklet_t:
        char *start
        char *stop
        Py_ssize_t saved
        PyObject *self
        PyObject *entry
        unsigned long owner_thread
        int dead
        int is_main
        pyg_pystate_t py
    ctypedef struct pyg_thread_t:
        pyg_stacklet_t *current
        pyg_stacklet_t *main
        PyObject *handle
        PyObject *data
        unsigned long ident
    pyg_thread_t *pyg_tls_thread
    const void *pyg_prim_api_ptr "(const void *)&pyg_prim_api"
    PyTypeObject *pyg_stacklet_type
    Py_ssize_t pyg_stacklet_offset
    const char *PYG_PLATFORM_NAME
    void pyg_thread_bind(pyg_thread_t *th)
    void pyg_switch(pyg_thread_t *th, pyg_stacklet_t *target)
    void pyg_after_switch(pyg_thread_t *th)
    void pyg_stacklet_discard(pyg_stacklet_t *s, int free_datastack)
    void pyg_stacklet_dealloc(pyg_stacklet_t *s, int free_datastack)
    void pyg_enter_tracing()
    void pyg_leave_tracing()
    object pyg_get_context()
    void pyg_set_context(object ctx)
    int pyg_is_finalizing()
    unsigned long PyThread_get_thread_ident()

NAME = "speedups"

_THREAD_KEY = "pygreenlet._speedups_prim.thread"


@cython.final
@cython.trashcan(True)
@cython.freelist(64)
cdef class Stacklet:
    """One execution context: the main one of a thread, or one started by switch()."""

    cdef pyg_stacklet_t st
    cdef object value

    def __cinit__(self):
        self.st.self = <PyObject *>self

    def __dealloc__(self):
        # Nobody can resume it any more: free its memory, run nothing in it.
        # (Frame objects may outlive data-stack chunks during finalization.)
        pyg_stacklet_dealloc(&self.st, not pyg_is_finalizing())

    def __repr__(self):
        if self.st.is_main:
            kind = "main"
        elif self.st.dead:
            kind = "dead"
        elif self.st.stop == NULL:
            kind = "new"
        else:
            kind = "started"
        return "<%s stacklet at 0x%x, %d bytes saved>" % (kind, id(self), self.st.saved)


@cython.final
cdef class _ThreadHandle:
    """Lives in the thread state's dict: dies (and calls on_exit) when the thread ends."""

    cdef pyg_thread_t th
    cdef object data
    cdef object on_exit
    cdef Stacklet main

    def __dealloc__(self):
        global pyg_tls_thread
        cdef pyg_thread_t *th = &self.th
        if pyg_tls_thread == th:
            pyg_tls_thread = NULL
        if self.main is not None:
            self.main.st.dead = 1        # R22: the thread is gone, and so is its main stack
        cdef PyObject *current = NULL
        if th.current != NULL:
            current = th.current.self
            th.current = NULL
            Py_XDECREF(current)          # th.current's own reference
        th.data = NULL                   # the thread's data is about to go
        callback, data = self.on_exit, self.data
        self.on_exit = self.data = None
        if callback is not None and not pyg_is_finalizing():
            try:
                callback(data)
            except BaseException:
                PyErr_WriteUnraisable(callback)


# The functions of a switch are cpdef: the compiled semantics (pygreenlet._speedups)
# cimports them (pygreenlet/_speedups_prim.pxd) and calls them as C functions.
# Their arguments are typed ``object`` there, so each checks its Stacklet itself.


cdef inline Stacklet _stacklet(object x, str what):
    """*x* as a Stacklet (the type is final: an exact check), or TypeError."""
    if type(x) is not Stacklet:
        raise TypeError("%s must be a Stacklet, not %s" % (what, type(x).__name__))
    return <Stacklet>x


cpdef object get_thread_data():
    """What set_thread_data stored for the calling thread, or None."""
    cdef pyg_thread_t *th = pyg_tls_thread
    if th == NULL:
        return None
    return (<_ThreadHandle>th.handle).data


def set_thread_data(data, on_exit):
    """Store *data* for this thread and return its main stacklet."""
    global pyg_tls_thread
    if pyg_tls_thread != NULL:
        raise RuntimeError("pygreenlet: this thread already has its data")
    cdef PyObject *d = PyThreadState_GetDict()
    if d == NULL:
        raise RuntimeError("pygreenlet: no thread state dict")
    cdef _ThreadHandle h = _ThreadHandle.__new__(_ThreadHandle)
    cdef Stacklet m = Stacklet.__new__(Stacklet)
    m.st.is_main = 1
    m.st.stop = <char *>(<size_t>-1)
    m.st.owner_thread = h.th.ident = PyThread_get_thread_ident()
    pyg_thread_bind(&h.th)
    h.data = data
    h.on_exit = on_exit
    h.main = m
    h.th.handle = <PyObject *>h
    h.th.data = <PyObject *>data         # h.data holds it
    h.th.main = &m.st
    h.th.current = &m.st
    Py_INCREF(m)                        # th.current's own reference
    (<dict>d)[_THREAD_KEY] = h
    pyg_tls_thread = &h.th
    return m


cpdef object new_stacklet(object entry):
    """A stacklet that runs ``entry()`` when first switched to."""
    cdef Stacklet s = Stacklet.__new__(Stacklet)
    Py_INCREF(entry)
    s.st.entry = <PyObject *>entry
    return s


cpdef object current():
    """The running stacklet."""
    cdef pyg_thread_t *th = pyg_tls_thread
    if th == NULL:
        return None
    return <Stacklet>th.current.self


cpdef object put(object stacklet, object value):
    """Store the value that *stacklet* receives when it next runs."""
    _stacklet(stacklet, "stacklet").value = value


cpdef object take():
    """Return and forget the value put for the running stacklet."""
    cdef pyg_thread_t *th = pyg_tls_thread
    if th == NULL:
        return None
    cdef Stacklet me = <Stacklet>th.current.self
    value = me.value
    me.value = None
    return value


cpdef object switch(object target):
    """Park the running stacklet, run *target*; return the value put for us on resumption."""
    cdef Stacklet t = _stacklet(target, "target")
    cdef pyg_thread_t *th = pyg_tls_thread
    cdef pyg_stacklet_t *me
    if th == NULL:
        raise RuntimeError("pygreenlet: switch() before set_thread_data() in this thread")
    me = th.current
    if &t.st != me:
        if t.st.dead:
            raise RuntimeError("pygreenlet: cannot switch to a finished stacklet")
        if t.st.stop == NULL:
            if t.st.entry == NULL:
                raise RuntimeError("pygreenlet: stacklet has no entry")
        elif t.st.owner_thread != th.ident:
            raise RuntimeError("pygreenlet: cannot switch to a stacklet of another thread")
        pyg_switch(th, &t.st)
    # Resumed: `me` is the running stacklet again.
    cdef Stacklet s = <Stacklet>me.self
    value = s.value
    s.value = None
    return value


cpdef object settle():
    """Drop what the switch into the running stacklet left behind (may run any code)."""
    cdef pyg_thread_t *th = pyg_tls_thread
    if th != NULL:
        pyg_after_switch(th)


def discard(Stacklet stacklet not None):
    """End a parked stacklet without resuming the semantics in it."""
    cdef pyg_thread_t *th = pyg_tls_thread
    if th != NULL and th.current == &stacklet.st:
        raise RuntimeError("pygreenlet: cannot discard the running stacklet")
    stacklet.value = None
    pyg_stacklet_discard(&stacklet.st, 1)


def frame(Stacklet stacklet not None):
    """The innermost user frame of a parked stacklet, or None."""
    if stacklet.st.dead or stacklet.st.py.top_frame == NULL:
        return None
    f = <object>stacklet.st.py.top_frame
    # Frames of pygreenlet's own interpreted modules are not user frames.
    while f is not None and f.f_globals.get("__name__", "").startswith("pygreenlet._"):
        f = f.f_back
    return f


def stack_saved(Stacklet stacklet not None):
    """Bytes of this parked stacklet's C stack currently copied to the heap."""
    return stacklet.st.saved


cdef const void *fast_api() noexcept:
    """The primitive's C entry points for the semantics' switch fast path (pyg_prim_api.h)."""
    return pyg_prim_api_ptr


cpdef object get_context():
    """The running thread's contextvars.Context object itself, or None."""
    return pyg_get_context()


cpdef object set_context(object ctx):
    """Make *ctx* (a Context or None) the running thread's context."""
    # The interpreter trusts tstate->context to be a Context: anything else
    # would crash the next ContextVar lookup.
    if ctx is not None and type(ctx) is not _Context:
        raise TypeError("set_context() needs a contextvars.Context or None, not %s"
                        % type(ctx).__name__)
    pyg_set_context(ctx)


cpdef object enter_tracing():
    """Suspend the running thread's trace and profile hooks (they stay set)."""
    pyg_enter_tracing()


cpdef object leave_tracing():
    """Undo one enter_tracing()."""
    pyg_leave_tracing()


cdef _init():
    global pyg_stacklet_type, pyg_stacklet_offset
    cdef Stacklet probe = Stacklet.__new__(Stacklet)
    pyg_stacklet_type = <PyTypeObject *>Stacklet
    pyg_stacklet_offset = <char *>&probe.st - <char *><PyObject *>probe

_init()
