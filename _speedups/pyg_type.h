/* The greenlet type's protocol where Cython cannot express it, and the C API table.
 *
 * pygreenlet/_semantics.py declares the greenlet type (a cdef class through
 * pygreenlet/_speedups.pxd when compiled) and decides every rule; this header
 * only installs the few type slots that Cython generates differently from what
 * the rules need, each tagged with its rule id, and builds the capsule of the
 * C API (pygreenlet/include/pygreenlet.h).  docs/internals/type.rst explains
 * the design.
 *
 * The semantics module calls pyg_type_init() once, right after its types are
 * ready, with the types, the offsets of the state fields it reads here, and
 * the C functions that implement the rules.
 */
#ifndef PYG_TYPE_H
#define PYG_TYPE_H

#include <Python.h>
#include "pyg_compat.h"
#include "pyg_prim_api.h"

/* What the semantics module hands over (all set by pyg_type_init). */
static PyTypeObject *pyg_greenlet_type = NULL;  /* the public greenlet type */
static PyTypeObject *pyg_state_type = NULL;     /* _State: everything else a greenlet knows */
static Py_ssize_t pyg_state_off = 0;      /* greenlet -> its _State (the one field of the struct) */
static Py_ssize_t pyg_started_off = 0;    /* _State.started (a C int) */
static Py_ssize_t pyg_finished_off = 0;   /* _State.finished */
static Py_ssize_t pyg_is_main_off = 0;    /* _State.is_main */
static destructor pyg_cython_dealloc = NULL;     /* Cython's tp_dealloc of greenlet */
static inquiry pyg_cython_clear = NULL;          /* Cython's tp_clear of greenlet */
static inquiry pyg_cython_state_clear = NULL;    /* Cython's tp_clear of _State */

/* The rules the slots below need, implemented in _semantics.py. */
typedef int (*pyg_finalize_fn)(PyObject *g);  /* R23-R27 kill: 0, never raises */
static pyg_finalize_fn pyg_finalize = NULL;

#define PYG_INT_FIELD(obj, off) (*(int *)((char *)(obj) + (off)))
#define PYG_STATE_OF(g) (*(PyObject **)((char *)(g) + pyg_state_off))

/* _semantics.py's _st() without Cython's reference counting and subtype
 * call: the state of greenlet `g` (borrowed), or NULL when `g` is not a
 * greenlet or its state is gone (R17), which the rules then handle. */
static inline void *
pyg_state_of(PyObject *g)
{
    PyObject *s;
    if (pyg_greenlet_type == NULL || !PyObject_TypeCheck(g, pyg_greenlet_type))
        return NULL;
    s = PYG_STATE_OF(g);
    return s != Py_None ? (void *)s : NULL;
}

/* A state whose greenlet has a stack that only a kill may end: started, not
 * finished, not a main greenlet. */
static int
pyg_state_is_live(PyObject *s)
{
    return s != NULL && Py_TYPE(s) == pyg_state_type
        && PYG_INT_FIELD(s, pyg_started_off) && !PYG_INT_FIELD(s, pyg_finished_off)
        && !PYG_INT_FIELD(s, pyg_is_main_off);
}

/* R23: a kill on collection from tp_dealloc, as upstream's, for when the
 * finalizer below cannot do it: a PEP 442 finalizer runs once per object, but
 * a greenlet resurrected by its kill and dropped again is killed again, and a
 * Python subclass's __del__ replaces the finalizer but must not skip the kill
 * (subtype_dealloc runs that __del__, then calls our tp_dealloc).  Returns 1
 * if the object was resurrected and must not be freed. */
static int
pyg_kill_in_dealloc(PyObject *self)
{
    PyObject *et, *ev, *etb;
    Py_ssize_t refcnt;

    /* Temporary resurrection: the kill runs Python code in the victim and in
     * the collector, which take and drop references to it.  Its reference
     * count goes back to zero below without Py_DECREF (that would call this
     * function again). */
    Py_SET_REFCNT(self, 1);
    /* R23: the deleter's own exception state is kept across the kill. */
    PyErr_Fetch(&et, &ev, &etb);
    (void)pyg_finalize(self);
    PyErr_Restore(et, ev, etb);

    refcnt = Py_REFCNT(self) - 1;
    Py_SET_REFCNT(self, refcnt);
    if (refcnt == 0)
        return 0;
    /* Resurrected (R23 resurrection, R25 the leak of a greenlet that ignored
     * GreenletExit, R26 a drop queued for its own thread).  subtype_dealloc
     * drops its reference to a heap subclass once this returns; the object
     * lives on and needs that reference, so it takes one. */
    if (PyType_HasFeature(Py_TYPE(self), Py_TPFLAGS_HEAPTYPE))
        Py_INCREF(Py_TYPE(self));
    /* A C subclass's tp_dealloc may have untracked it before calling ours. */
    if (!PyObject_GC_IsTracked(self))
        PyObject_GC_Track(self);
    return 1;
}

/* R23: the first kill runs as the type's PEP 442 finalizer: CPython and
 * Cython call it before a subclass's tp_dealloc clears the subclass's own
 * fields (a C subclass's kill handler can still read them), and the cyclic
 * GC calls it while a garbage cycle is still intact.  The interpreter runs
 * it once per object and handles a resurrection itself. */
static void
pyg_greenlet_finalize(PyObject *self)
{
    PyObject *et, *ev, *etb;
    if (!pyg_state_is_live(PYG_STATE_OF(self)))
        return;
    PyErr_Fetch(&et, &ev, &etb);  /* R23: the deleter's exception state is kept */
    (void)pyg_finalize(self);
    PyErr_Restore(et, ev, etb);
}

static void
pyg_greenlet_dealloc(PyObject *self)
{
    if (pyg_state_is_live(PYG_STATE_OF(self))) {
        /* The finalizer first, unless it ran already (this object was killed
         * and resurrected before, or the finalizer of a Python subclass ran
         * from subtype_dealloc): it returns -1 if the object lives on. */
        if (PyObject_CallFinalizerFromDealloc(self) < 0)
            return;
        /* Still live: the finalizer had run before; kill it here, again. */
        if (pyg_state_is_live(PYG_STATE_OF(self)) && pyg_kill_in_dealloc(self))
            return;
    }
    pyg_cython_dealloc(self);
}

/* R17: the cyclic GC must not take a live greenlet's state before the kill
 * that its dealloc runs (the kill needs the stack, the parent and the thread
 * state).  Such a greenlet gives up its __dict__ only; one that never started
 * or has finished is cleared as usual (R17: it becomes an unstarted greenlet
 * without a parent if a finalizer revives it). */
static int
pyg_greenlet_clear(PyObject *self)
{
    PyObject **dictptr = (PyObject **)((char *)self + pyg_greenlet_type->tp_dictoffset);
    if (!pyg_state_is_live(PYG_STATE_OF(self)) && pyg_cython_clear(self) < 0)
        return -1;
    /* No __dict__ is NULL (the interpreter makes a new one when needed);
     * Cython's clear leaves None there, which attribute lookups would take
     * for a dict. */
    Py_CLEAR(*dictptr);
    return 0;
}

/* R17: the same for the state object itself, which the GC may reach first. */
static int
pyg_state_clear(PyObject *s)
{
    if (pyg_state_is_live(s))
        return 0;
    return pyg_cython_state_clear(s);
}

/* A newly allocated greenlet `g` (or NULL) as Cython's tp_new leaves one
 * before __init__: the typed state field holds None, not NULL (its
 * assignments release the old value); __dict__ stays NULL until something
 * uses it. */
static PyObject *
pyg_empty_state(PyObject *g)
{
    if (g != NULL) {
        Py_INCREF(Py_None);
        PYG_STATE_OF(g) = Py_None;
    }
    return g;
}

/* R21: a main greenlet is made without running the type's tp_new (which
 * would look up the current greenlet, which does not exist yet) or any
 * __init__; the caller stores its state right away. */
static PyObject *
pyg_alloc_greenlet(void)
{
    return pyg_empty_state(pyg_greenlet_type->tp_alloc(pyg_greenlet_type, 0));
}

/* R41: __dict__ can be replaced by a dict (the caller checked the type);
 * Cython's own __dict__ descriptor is read-only. */
static int
pyg_set_dict(PyObject *g, PyObject *value)
{
    PyObject **dictptr = (PyObject **)((char *)g + pyg_greenlet_type->tp_dictoffset);
    Py_INCREF(value);
    Py_XSETREF(*dictptr, value);
    return 0;
}

/* R44 and the type's namespace: a static type's dict is written here (Python
 * code may not set attributes of a static type). */
static int
pyg_type_setattr(PyObject *type, PyObject *name, PyObject *value)
{
    PyTypeObject *tp = (PyTypeObject *)type;
    if (PyDict_SetItem(tp->tp_dict, name, value) < 0)
        return -1;
    PyType_Modified(tp);
    return 0;
}

/* R38/R40: the type's name as upstream shapes it, "<module>.greenlet": its
 * repr and __module__ come from tp_name for a static type.  The string must
 * stay valid for the life of the process. */
static void
pyg_type_set_name(PyObject *type, const char *name)
{
    ((PyTypeObject *)type)->tp_name = name;
    PyType_Modified((PyTypeObject *)type);
}

/* greenlet(run, parent) without keywords: Cython's __init__ (``*args,
 * **kwargs``, for R47's exact argument errors) builds a keyword dict on every
 * call.  This tp_init takes the common call, up to two positional arguments
 * and no keywords, straight to the rules (_semantics.py: _init_args) and
 * leaves every other call, errors included, to Cython's.  A subclass that
 * defines __init__ gets its own slot; one calling greenlet.__init__ goes
 * through the type's __init__ attribute, which stays Cython's. */
/* run and parent are borrowed PyObject pointers, NULL when not given (void * for
 * Cython, which cannot type a nullable object argument). */
typedef int (*pyg_init_fn)(PyObject *g, void *run, void *parent);
static pyg_init_fn pyg_init_args = NULL;
static initproc pyg_cython_init = NULL;

static int
pyg_greenlet_init(PyObject *self, PyObject *args, PyObject *kwds)
{
    Py_ssize_t n = PyTuple_GET_SIZE(args);
    if (n <= 2 && (kwds == NULL || PyDict_GET_SIZE(kwds) == 0))
        return pyg_init_args(self, n > 0 ? (void *)PyTuple_GET_ITEM(args, 0) : NULL,
                             n > 1 ? (void *)PyTuple_GET_ITEM(args, 1) : NULL);
    return pyg_cython_init(self, args, kwds);
}

/* The type's tp_new.  Cython's would make the __dict__ at once (an empty
 * dict for every greenlet, 64 bytes that few greenlets use) and run a
 * Python-level __cinit__ (an argument tuple and keyword dict).  This one
 * allocates the object (a subclass's tp_alloc), leaves __dict__ NULL until it
 * is first used (Cython's __dict__ descriptor and CPython's generic attribute
 * code both make it then, as upstream does) and gives the greenlet its state
 * and parent, as upstream's tp_new does (_semantics.py: _init_new).
 * The arguments are for tp_init. */
typedef int (*pyg_new_fn)(PyObject *g);
static pyg_new_fn pyg_init_new = NULL;

static PyObject *
pyg_greenlet_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *g;
    (void)args;
    (void)kwds;
    if (PyType_HasFeature(type, Py_TPFLAGS_IS_ABSTRACT)) {
        /* a subclass with abstract methods left (abc): object's tp_new
         * raises CPython's own TypeError, as Cython's tp_new has it do */
        PyObject *empty = PyTuple_New(0);
        if (empty == NULL)
            return NULL;
        g = PyBaseObject_Type.tp_new(type, empty, NULL);
        Py_DECREF(empty);
    }
    else
        g = type->tp_alloc(type, 0);
    if ((g = pyg_empty_state(g)) == NULL)
        return NULL;
    if (pyg_init_new(g) < 0) {
        Py_DECREF(g);
        return NULL;
    }
    return g;
}

static int
pyg_type_init(PyObject *greenlet_type, PyObject *state_type, Py_ssize_t state_off,
              Py_ssize_t started_off, Py_ssize_t finished_off, Py_ssize_t is_main_off,
              pyg_finalize_fn finalize, pyg_init_fn init_args, pyg_new_fn init_new)
{
    PyTypeObject *gt = (PyTypeObject *)greenlet_type;
    PyTypeObject *st = (PyTypeObject *)state_type;
    if (pyg_greenlet_type != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "pygreenlet: the greenlet type is set up already");
        return -1;
    }
    if (!(gt->tp_flags & Py_TPFLAGS_HAVE_GC) || !(st->tp_flags & Py_TPFLAGS_HAVE_GC)
            || gt->tp_dictoffset <= 0 || gt->tp_clear == NULL || st->tp_clear == NULL) {
        PyErr_SetString(PyExc_SystemError, "pygreenlet: unexpected layout of the greenlet type");
        return -1;
    }
    Py_INCREF(gt);  /* kept for good, as the module's types are */
    Py_INCREF(st);
    pyg_greenlet_type = gt;
    pyg_state_type = st;
    pyg_state_off = state_off;
    pyg_started_off = started_off;
    pyg_finished_off = finished_off;
    pyg_is_main_off = is_main_off;
    pyg_finalize = finalize;
    pyg_init_args = init_args;
    pyg_init_new = init_new;
    gt->tp_new = pyg_greenlet_new;
    pyg_cython_init = gt->tp_init;
    gt->tp_init = pyg_greenlet_init;
    pyg_cython_dealloc = gt->tp_dealloc;
    gt->tp_dealloc = pyg_greenlet_dealloc;
    gt->tp_finalize = pyg_greenlet_finalize;
    pyg_cython_clear = gt->tp_clear;
    gt->tp_clear = pyg_greenlet_clear;
    pyg_cython_state_clear = st->tp_clear;
    st->tp_clear = pyg_state_clear;
    PyType_Modified(gt);
    PyType_Modified(st);
    return 0;
}

/* ------------------------------------------------------------------------------------
 * The C API: twelve slots in greenlet's order (pygreenlet/include/pygreenlet.h).
 * The functions check their arguments as upstream's do and call the rules in
 * _semantics.py, never a Python-level override (a subclass's switch).
 * ------------------------------------------------------------------------------------ */

typedef PyObject *(*pyg_capi_current_fn)(void);
typedef PyObject *(*pyg_capi_switch_fn)(PyObject *g, PyObject *args, PyObject *kwargs);
typedef PyObject *(*pyg_capi_throw_fn)(PyObject *g, PyObject *typ, PyObject *val, PyObject *tb);
typedef PyObject *(*pyg_capi_setparent_fn)(PyObject *g, PyObject *parent);
typedef int (*pyg_capi_flags_fn)(PyObject *g);
typedef PyObject *(*pyg_capi_parent_fn)(PyObject *g);

/* Bits of what pyg_capi_flags_fn returns (or -1 with an exception). */
#define PYG_FLAG_MAIN 1
#define PYG_FLAG_STARTED 2
#define PYG_FLAG_ACTIVE 4

static struct {
    pyg_capi_current_fn current;
    pyg_capi_switch_fn do_switch;
    pyg_capi_throw_fn do_throw;
    pyg_capi_setparent_fn set_parent;
    pyg_capi_flags_fn flags;
    pyg_capi_parent_fn parent;
    PyObject *missing;  /* what _set_parent takes for "delete" (R14) */
} pyg_capi_impl;

static void *pyg_capi_table[12];

#define PYG_IS_GREENLET(op) ((op) != NULL && PyObject_TypeCheck((op), pyg_greenlet_type))

static PyObject *
pyg_capi_New(PyObject *run, PyObject *parent)
{
    PyObject *kwargs, *args, *g = NULL;
    if ((kwargs = PyDict_New()) == NULL)
        return NULL;
    if ((run != NULL && PyDict_SetItemString(kwargs, "run", run) < 0)
            || (parent != NULL && PyDict_SetItemString(kwargs, "parent", parent) < 0)) {
        Py_DECREF(kwargs);
        return NULL;
    }
    if ((args = PyTuple_New(0)) != NULL) {
        g = PyObject_Call((PyObject *)pyg_greenlet_type, args, kwargs);
        Py_DECREF(args);
    }
    Py_DECREF(kwargs);
    return g;
}

static PyObject *pyg_current(void);  /* with the fast path, below */

static PyObject *
pyg_capi_GetCurrent(void)
{
    return pyg_current();
}

static PyObject *
pyg_capi_Throw(PyObject *g, PyObject *typ, PyObject *val, PyObject *tb)
{
    if (!PYG_IS_GREENLET(g)) {
        PyErr_BadArgument();
        return NULL;
    }
    return pyg_capi_impl.do_throw(g, typ ? typ : Py_None, val ? val : Py_None, tb ? tb : Py_None);
}

/* ------------------------------------------------------------------------------------
 * The switch fast path (docs/internals/type.rst: "The switch fast path").
 *
 * _semantics.py's _switch() decides every switch.  This is the same code for
 * its most common case only, in C, without Cython's reference counting of
 * every local and without its calls across the two modules: the target is a
 * started, unfinished greenlet of the running thread (so R20 holds) that is
 * not the running one, nothing waits to be killed (R26: no queued drops, no
 * orphans), no exception is thrown, the keywords are a plain dict or none.
 * Anything else returns PYG_NOT_FAST before anything has changed, and the
 * Cython code takes the switch.  The hand-over (the x_* fields of the
 * _ThreadState) is the one _enter() fills and _switch() empties, so either
 * end of a switch may be the fast one; the rarer parts of resuming (a
 * greenlet tracer, R28; an exception to raise, R11; keywords to pack, R1)
 * call the very functions of _semantics.py that _switch() calls.
 * ------------------------------------------------------------------------------------ */

typedef PyObject *(*pyg_fast_tracer_fn)(PyObject *ts, PyObject *exc, PyObject *origin,
                                        PyObject *target);
typedef PyObject *(*pyg_fast_raise_fn)(PyObject *exc);
typedef PyObject *(*pyg_fast_pack_fn)(PyObject *args, PyObject *kwargs);

/* The x_* fields of _ThreadState, in this order. */
enum { PYG_X_ORIGIN, PYG_X_TARGET, PYG_X_ARGS, PYG_X_KWARGS, PYG_X_EXC, PYG_X_RUN, PYG_X_COUNT };

static struct {
    const pyg_prim_api_t *prim;   /* NULL until pyg_fast_init(): always the general path */
    PyTypeObject *ts_type;        /* _ThreadState */
    Py_ssize_t ts_current, ts_tracer, ts_deleteme, ts_switching;  /* offsets */
    Py_ssize_t ts_x[PYG_X_COUNT];
    Py_ssize_t s_ts, s_stacklet, s_context;  /* offsets in _State */
    PyObject *running;            /* _semantics._RUNNING: the x_run of a resumption */
    PyObject *orphans, *held_orphans;   /* _semantics._orphans, _held_orphans (lists) */
    PyObject *context_type;       /* contextvars.Context */
    pyg_fast_tracer_fn call_tracer;     /* _semantics._call_tracer */
    pyg_fast_raise_fn raise_;           /* _semantics._raise */
    pyg_fast_pack_fn pack;              /* _semantics._pack */
} pyg_fast;

/* "Not taken here": a pointer that is no object. */
#define PYG_NOT_FAST ((PyObject *)&pyg_fast)
#define PYG_OBJ_FIELD(obj, off) (*(PyObject **)((char *)(obj) + (off)))

/* Called once by the semantics module: the primitive's table, the offsets,
 * the objects and the functions named above.  Holds the objects for good. */
static int
pyg_fast_init(const void *prim, PyObject *ts_type, Py_ssize_t ts_current, Py_ssize_t ts_tracer,
              Py_ssize_t ts_deleteme, Py_ssize_t ts_switching, Py_ssize_t x_origin,
              Py_ssize_t x_target, Py_ssize_t x_args, Py_ssize_t x_kwargs, Py_ssize_t x_exc,
              Py_ssize_t x_run, Py_ssize_t s_ts, Py_ssize_t s_stacklet, Py_ssize_t s_context,
              PyObject *running, PyObject *orphans, PyObject *held_orphans,
              PyObject *context_type, void *call_tracer, void *raise_, void *pack)
{
    if (!PyType_Check(ts_type) || !PyList_CheckExact(orphans) || !PyList_CheckExact(held_orphans)
            || !PyType_Check(context_type)) {
        PyErr_SetString(PyExc_SystemError, "pygreenlet: pyg_fast_init: bad arguments");
        return -1;
    }
    Py_INCREF(ts_type);
    Py_INCREF(running);
    Py_INCREF(orphans);
    Py_INCREF(held_orphans);
    Py_INCREF(context_type);
    pyg_fast.ts_type = (PyTypeObject *)ts_type;
    pyg_fast.ts_current = ts_current;
    pyg_fast.ts_tracer = ts_tracer;
    pyg_fast.ts_deleteme = ts_deleteme;
    pyg_fast.ts_switching = ts_switching;
    pyg_fast.ts_x[PYG_X_ORIGIN] = x_origin;
    pyg_fast.ts_x[PYG_X_TARGET] = x_target;
    pyg_fast.ts_x[PYG_X_ARGS] = x_args;
    pyg_fast.ts_x[PYG_X_KWARGS] = x_kwargs;
    pyg_fast.ts_x[PYG_X_EXC] = x_exc;
    pyg_fast.ts_x[PYG_X_RUN] = x_run;
    pyg_fast.s_ts = s_ts;
    pyg_fast.s_stacklet = s_stacklet;
    pyg_fast.s_context = s_context;
    pyg_fast.running = running;
    pyg_fast.orphans = orphans;
    pyg_fast.held_orphans = held_orphans;
    pyg_fast.context_type = context_type;
    pyg_fast.call_tracer = (pyg_fast_tracer_fn)call_tracer;
    pyg_fast.raise_ = (pyg_fast_raise_fn)raise_;
    pyg_fast.pack = (pyg_fast_pack_fn)pack;
    pyg_fast.prim = (const pyg_prim_api_t *)prim;
    return 0;
}

/* Set field `off` of `obj` to `value` (a new reference, taken) and drop the
 * one before: here always None or an object someone else still holds, so
 * nothing runs. */
static inline void
pyg_fast_set(PyObject *obj, Py_ssize_t off, PyObject *value)
{
    PyObject *old = PYG_OBJ_FIELD(obj, off);
    PYG_OBJ_FIELD(obj, off) = value;
    Py_DECREF(old);
}

/* The calling thread's primitive record, and in *ts its _ThreadState
 * (borrowed), when nothing waits to be done first: the thread has used
 * greenlets before, and there are no orphans to free and no drops of other
 * threads to kill (R26).  Else NULL: the Cython code does all that. */
static inline void *
pyg_fast_thread(PyObject **ts)
{
    PyObject *deleteme;
    void *th;
    /* (what set_thread_data() stored is the semantics' _ThreadState, unless
     * someone else used the private primitive in this thread) */
    if (pyg_fast.prim == NULL || (th = pyg_fast.prim->thread(ts)) == NULL
            || Py_TYPE(*ts) != pyg_fast.ts_type)
        return NULL;
    if (PyList_GET_SIZE(pyg_fast.orphans) || PyList_GET_SIZE(pyg_fast.held_orphans))
        return NULL;
    deleteme = PYG_OBJ_FIELD(*ts, pyg_fast.ts_deleteme);  /* a list (typed so) or None */
    if (deleteme != Py_None && PyList_GET_SIZE(deleteme))
        return NULL;
    return th;
}

/* getcurrent()'s common case (_capi_getcurrent): the running greenlet, a new
 * reference, or PYG_NOT_FAST. */
static PyObject *
pyg_fast_getcurrent(void)
{
    PyObject *ts = NULL, *current;
    if (pyg_is_finalizing() || pyg_fast_thread(&ts) == NULL)
        return PYG_NOT_FAST;           /* R27 raises; R21, R26 */
    current = PYG_OBJ_FIELD(ts, pyg_fast.ts_current);
    Py_INCREF(current);
    return current;
}

/* Switch from the running greenlet to `target` with `args` (a tuple) and
 * `kwargs` (a dict or None): what the switch returns when we are resumed,
 * NULL with an exception, or PYG_NOT_FAST when this is not the common case
 * (nothing changed).  The caller holds `target`, `args` and `kwargs`. */
static PyObject *
pyg_fast_switch(PyObject *target, PyObject *args, PyObject *kwargs)
{
    const pyg_prim_api_t *prim = pyg_fast.prim;
    PyObject *ts = NULL, *s, *os, *origin, *stacklet, *me, *ms, *exc, *ctx, *r;
    PyObject *x[PYG_X_COUNT];
    void *th;
    int i;

    s = PYG_STATE_OF(target);
    if (s == NULL || Py_TYPE(s) != pyg_state_type || !PYG_INT_FIELD(s, pyg_started_off)
            || PYG_INT_FIELD(s, pyg_finished_off))
        return PYG_NOT_FAST;           /* a start (first of all), or a dead target */
    if ((th = pyg_fast_thread(&ts)) == NULL || PYG_OBJ_FIELD(s, pyg_fast.s_ts) != ts)
        return PYG_NOT_FAST;           /* not an active greenlet of this thread */
    origin = PYG_OBJ_FIELD(ts, pyg_fast.ts_current);
    stacklet = PYG_OBJ_FIELD(s, pyg_fast.s_stacklet);
    if (origin == target || origin == Py_None || !prim->resumable(th, stacklet))
        return PYG_NOT_FAST;           /* R3 (to itself), no main greenlet yet, or the
                                        * primitive's errors */
    os = PYG_STATE_OF(origin);
    if (os == NULL || Py_TYPE(os) != pyg_state_type
            || PYG_OBJ_FIELD(os, pyg_fast.s_context) != Py_None)
        return PYG_NOT_FAST;
    if (kwargs != Py_None && !PyDict_CheckExact(kwargs))
        return PYG_NOT_FAST;
#ifndef NDEBUG
    /* Outside a switch the hand-over is empty: whoever takes it clears it. */
    for (i = 0; i < PYG_X_COUNT; i++)
        assert(PYG_OBJ_FIELD(ts, pyg_fast.ts_x[i]) == Py_None);
#endif

    /* Leave (R32): the running greenlet's context goes to its state. */
    pyg_fast_set(os, pyg_fast.s_context, prim->get_context(th));
    PYG_INT_FIELD(ts, pyg_fast.ts_switching) = 1;
    /* The hand-over, as _enter() fills it for a resumption.  Like _switch(),
     * this frame keeps no reference to the origin across the switch (R23):
     * the hand-over's is the one the receiver takes. */
    Py_INCREF(origin);
    pyg_fast_set(ts, pyg_fast.ts_x[PYG_X_ORIGIN], origin);
    Py_INCREF(target);
    pyg_fast_set(ts, pyg_fast.ts_x[PYG_X_TARGET], target);
    Py_INCREF(args);
    pyg_fast_set(ts, pyg_fast.ts_x[PYG_X_ARGS], args);
    Py_INCREF(kwargs);
    pyg_fast_set(ts, pyg_fast.ts_x[PYG_X_KWARGS], kwargs);
    Py_INCREF(pyg_fast.running);
    pyg_fast_set(ts, pyg_fast.ts_x[PYG_X_RUN], pyg_fast.running);
    /* What _switch()'s frame holds across the switch: the thread state, the
     * target's state and its stacklet (dropped after settle(), as there). */
    Py_INCREF(ts);
    Py_INCREF(s);
    Py_INCREF(stacklet);
    origin = NULL;

    prim->switch_to(th, stacklet);

    /* Resumed: take the hand-over before anything can run code here. */
    for (i = 0; i < PYG_X_COUNT; i++) {
        x[i] = PYG_OBJ_FIELD(ts, pyg_fast.ts_x[i]);
        Py_INCREF(Py_None);
        PYG_OBJ_FIELD(ts, pyg_fast.ts_x[i]) = Py_None;
    }
    origin = x[PYG_X_ORIGIN];
    me = x[PYG_X_TARGET];
    args = x[PYG_X_ARGS];
    kwargs = x[PYG_X_KWARGS];
    exc = x[PYG_X_EXC];
    Py_DECREF(x[PYG_X_RUN]);           /* _RUNNING */
    Py_INCREF(me);                     /* one for ts.current, one for this frame */
    r = PYG_OBJ_FIELD(ts, pyg_fast.ts_current);
    PYG_OBJ_FIELD(ts, pyg_fast.ts_current) = me;
    Py_DECREF(r);                      /* as _switch() does at this point */
    PYG_INT_FIELD(ts, pyg_fast.ts_switching) = 0;
    /* What the switch left behind may go now (any code may run, even a
     * switch); then what this frame held (R23). */
    prim->settle(th);
    Py_DECREF(s);
    Py_DECREF(stacklet);
    /* We were switched to: restore our state (R32). */
    ms = PYG_STATE_OF(me);
    ctx = ms != NULL && Py_TYPE(ms) == pyg_state_type ? PYG_OBJ_FIELD(ms, pyg_fast.s_context) : NULL;
    if (ctx == NULL || (ctx != Py_None && Py_TYPE(ctx) != (PyTypeObject *)pyg_fast.context_type)) {
        /* cannot be: _State.context is only ever a Context or None */
        PyErr_SetString(PyExc_SystemError, "pygreenlet: a greenlet's saved context is corrupt");
        r = NULL;
        Py_DECREF(me);
        goto done;
    }
    prim->set_context(th, ctx);
    Py_INCREF(Py_None);
    pyg_fast_set(ms, pyg_fast.s_context, Py_None);
    Py_DECREF(me);                     /* R23: the running greenlet is ts.current's */
    if (PYG_OBJ_FIELD(ts, pyg_fast.ts_tracer) != Py_None) {  /* R28 */
        r = pyg_fast.call_tracer(ts, exc, origin, PYG_OBJ_FIELD(ts, pyg_fast.ts_current));
        if (r == NULL)
            goto done;
        Py_SETREF(exc, r);
    }
    /* Dropping the origin may free it, which may kill it (R23) and run
     * code; what we got is held here. */
    Py_CLEAR(origin);
    if (exc != Py_None) {
        r = pyg_fast.raise_(exc);      /* R11: NULL, with exc raised */
        goto done;
    }
    if (kwargs != Py_None && (!PyDict_CheckExact(kwargs) || PyDict_GET_SIZE(kwargs))) {
        r = pyg_fast.pack(args, kwargs);  /* R1 with keywords */
    } else if (PyTuple_GET_SIZE(args) == 1) {
        r = PyTuple_GET_ITEM(args, 0);    /* R1: one argument, itself */
        Py_INCREF(r);
    } else {
        r = args;                          /* R1: the tuple */
        Py_INCREF(r);
    }
done:
    Py_XDECREF(origin);
    Py_DECREF(exc);
    Py_DECREF(args);
    Py_DECREF(kwargs);
    Py_DECREF(ts);
    return r;
}

/* getcurrent() with its rules: the fast path, else _capi_getcurrent. */
static PyObject *
pyg_current(void)
{
    PyObject *r = pyg_fast_getcurrent();
    if (r != PYG_NOT_FAST)
        return r;
    return pyg_capi_impl.current();
}

/* The base type's switch with its rules: the fast path, else _capi_switch. */
static PyObject *
pyg_do_switch(PyObject *g, PyObject *args, PyObject *kwargs)
{
    PyObject *r = pyg_fast_switch(g, args, kwargs);
    if (r != PYG_NOT_FAST)
        return r;
    return pyg_capi_impl.do_switch(g, args, kwargs);
}

static PyObject *
pyg_capi_Switch(PyObject *g, PyObject *args, PyObject *kwargs)
{
    PyObject *r;
    if (!PYG_IS_GREENLET(g)) {
        PyErr_BadArgument();
        return NULL;
    }
    if (args == NULL) {
        if ((args = PyTuple_New(0)) == NULL)
            return NULL;
    } else if (!PyTuple_Check(args)) {
        PyErr_SetString(PyExc_TypeError, "PyGreenlet_Switch: args must be a tuple or NULL");
        return NULL;
    } else {
        Py_INCREF(args);
    }
    if (kwargs != NULL && !PyDict_Check(kwargs))
        kwargs = NULL;  /* as upstream: anything but a dict means no keywords */
    /* The greenlet may be dropped by whoever switches back: hold it here. */
    Py_INCREF(g);
    r = pyg_do_switch(g, args, kwargs ? kwargs : Py_None);
    Py_DECREF(g);
    Py_DECREF(args);
    return r;
}

static int
pyg_capi_SetParent(PyObject *g, PyObject *parent)
{
    PyObject *r;
    if (!PYG_IS_GREENLET(g)) {  /* the message of the parent check (R15) */
        PyErr_Format(PyExc_TypeError, "GreenletChecker: Expected any type of greenlet, not %s",
                     g != NULL ? Py_TYPE(g)->tp_name : "NULL");
        return -1;
    }
    r = pyg_capi_impl.set_parent(g, parent ? parent : pyg_capi_impl.missing);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int
pyg_capi_flag(PyObject *g, int bit)
{
    int flags;
    if (!PYG_IS_GREENLET(g)) {
        PyErr_BadArgument();
        return -1;
    }
    flags = pyg_capi_impl.flags(g);
    return flags < 0 ? -1 : (flags & bit) != 0;
}

static int pyg_capi_MAIN(PyObject *g) { return pyg_capi_flag(g, PYG_FLAG_MAIN); }
static int pyg_capi_STARTED(PyObject *g) { return pyg_capi_flag(g, PYG_FLAG_STARTED); }
static int pyg_capi_ACTIVE(PyObject *g) { return pyg_capi_flag(g, PYG_FLAG_ACTIVE); }

static PyObject *
pyg_capi_GetParent(PyObject *g)
{
    PyObject *p;
    if (!PYG_IS_GREENLET(g)) {
        PyErr_BadArgument();
        return NULL;
    }
    p = pyg_capi_impl.parent(g);
    if (p == Py_None) {  /* a main greenlet: NULL, and no exception */
        Py_DECREF(p);
        return NULL;
    }
    return p;
}

/* The switch entry of the type (greenlet.switch).  Cython gives a cdef
 * class's ``def switch(self, *args, **kwargs)`` the METH_VARARGS calling
 * convention: each call builds a tuple of its arguments, then another without
 * self, and a keyword dict.  This one is a fast-call method descriptor: the
 * arguments arrive as an array, become the one tuple the rules take, and a
 * dict is made only when keywords are passed.  It runs the rules of the base
 * type's switch (_semantics.py: greenlet.switch, which _capi_switch calls). */
static PyMethodDef pyg_switch_def;
static PyObject *pyg_switch_doc;  /* keeps ml_doc's UTF-8 buffer alive */

static PyObject *
pyg_greenlet_switch(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *tuple, *kwargs = NULL, *r;
    Py_ssize_t i, nkw = kwnames != NULL ? PyTuple_GET_SIZE(kwnames) : 0;

    if ((tuple = PyTuple_New(nargs)) == NULL)
        return NULL;
    for (i = 0; i < nargs; i++) {
        Py_INCREF(args[i]);
        PyTuple_SET_ITEM(tuple, i, args[i]);
    }
    if (nkw > 0) {
        if ((kwargs = PyDict_New()) == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        for (i = 0; i < nkw; i++) {
            if (PyDict_SetItem(kwargs, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0) {
                Py_DECREF(kwargs);
                Py_DECREF(tuple);
                return NULL;
            }
        }
    }
    r = pyg_do_switch(self, tuple, kwargs != NULL ? kwargs : Py_None);
    Py_XDECREF(kwargs);
    Py_DECREF(tuple);
    return r;
}

/* Fill `def` for a C function of ours with the docstring of the def it
 * replaces (*doc*, a str or None); *keep* holds *doc* for good, since ml_doc
 * points into its UTF-8 buffer. */
static int
pyg_fill_method_def(PyMethodDef *def, const char *name, void (*meth)(void), int flags,
                    PyObject *doc, PyObject **keep)
{
    const char *text = NULL;
    if (doc != Py_None && (text = PyUnicode_AsUTF8(doc)) == NULL)
        return -1;
    Py_XINCREF(doc);
    *keep = doc;
    def->ml_name = name;
    def->ml_meth = (PyCFunction)meth;
    def->ml_flags = flags;
    def->ml_doc = text;
    return 0;
}

/* Put pyg_greenlet_switch into the type's dict as "switch", with *doc*. */
static int
pyg_install_switch(PyObject *type, PyObject *doc)
{
    PyObject *descr;
    if (pyg_fill_method_def(&pyg_switch_def, "switch", (void (*)(void))pyg_greenlet_switch,
                            METH_FASTCALL | METH_KEYWORDS, doc, &pyg_switch_doc) < 0)
        return -1;
    if ((descr = PyDescr_NewMethod((PyTypeObject *)type, &pyg_switch_def)) == NULL)
        return -1;
    if (pyg_type_setattr(type, PyDescr_NAME(descr), descr) < 0) {
        Py_DECREF(descr);
        return -1;
    }
    Py_DECREF(descr);
    return 0;
}

/* getcurrent() as a METH_FASTCALL builtin function.  Cython makes a
 * module-level def a cyfunction, which the interpreter calls through the
 * generic vectorcall path; CPython 3.11+ specializes a call of a
 * METH_FASTCALL builtin instead (CALL_BUILTIN_FAST and its earlier names),
 * calling the C function directly: about a sixth of a getcurrent() call's
 * instructions.  It runs _semantics.py's _capi_getcurrent, the rules of the
 * def getcurrent it replaces (R27), as PyGreenlet_GetCurrent does.  Upstream's
 * is a builtin too, so the type, repr and argument errors are the same. */
static PyMethodDef pyg_getcurrent_def;
static PyObject *pyg_getcurrent_doc;     /* keeps ml_doc's UTF-8 buffer alive */
static PyObject *pyg_getcurrent_module;  /* the builtin's __module__ */

static PyObject *
pyg_getcurrent(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    (void)args;
    if (nargs != 0) {
        /* METH_NOARGS's message, as CPython (3.9+) words it for upstream's
         * builtin (keywords are refused by CPython itself: no METH_KEYWORDS) */
        PyErr_Format(PyExc_TypeError, "%U.getcurrent() takes no arguments (%zd given)",
                     pyg_getcurrent_module, nargs);
        return NULL;
    }
    return pyg_current();
}

/* The builtin, named getcurrent in *module* (a str), with *doc*; call after
 * pyg_capi_init. */
static PyObject *
pyg_make_getcurrent(PyObject *doc, PyObject *module)
{
    if (pyg_fill_method_def(&pyg_getcurrent_def, "getcurrent", (void (*)(void))pyg_getcurrent,
                            METH_FASTCALL, doc, &pyg_getcurrent_doc) < 0)
        return NULL;
    Py_INCREF(module);
    pyg_getcurrent_module = module;
    return PyCFunction_NewEx(&pyg_getcurrent_def, NULL, module);
}

/* Fill the table; error and exit are the module's exception types. */
static int
pyg_capi_init(PyObject *error, PyObject *exit, PyObject *missing, pyg_capi_current_fn current,
              pyg_capi_switch_fn do_switch, pyg_capi_throw_fn do_throw,
              pyg_capi_setparent_fn set_parent, pyg_capi_flags_fn flags,
              pyg_capi_parent_fn parent)
{
    Py_INCREF(error);   /* the table's references, kept for good */
    Py_INCREF(exit);
    Py_INCREF(missing);
    pyg_capi_impl.current = current;
    pyg_capi_impl.do_switch = do_switch;
    pyg_capi_impl.do_throw = do_throw;
    pyg_capi_impl.set_parent = set_parent;
    pyg_capi_impl.flags = flags;
    pyg_capi_impl.parent = parent;
    pyg_capi_impl.missing = missing;
    pyg_capi_table[0] = (void *)pyg_greenlet_type;
    pyg_capi_table[1] = (void *)error;
    pyg_capi_table[2] = (void *)exit;
    pyg_capi_table[3] = (void *)pyg_capi_New;
    pyg_capi_table[4] = (void *)pyg_capi_GetCurrent;
    pyg_capi_table[5] = (void *)pyg_capi_Throw;
    pyg_capi_table[6] = (void *)pyg_capi_Switch;
    pyg_capi_table[7] = (void *)pyg_capi_SetParent;
    pyg_capi_table[8] = (void *)pyg_capi_MAIN;
    pyg_capi_table[9] = (void *)pyg_capi_STARTED;
    pyg_capi_table[10] = (void *)pyg_capi_ACTIVE;
    pyg_capi_table[11] = (void *)pyg_capi_GetParent;
    return 0;
}

/* A capsule of the table under *name* ("pygreenlet._C_API" or, for the
 * drop-in, "greenlet._C_API"): PyCapsule_Import checks the name against the
 * path it imported, so each place the table is reachable has its own. */
static PyObject *
pyg_capi_capsule(int dropin)
{
    return PyCapsule_New((void *)pyg_capi_table,
                         dropin ? "greenlet._C_API" : "pygreenlet._C_API", NULL);
}

/* ------------------------------------------------------------------------------------
 * For pygreenlet._greenlet, upstream's private module.
 * ------------------------------------------------------------------------------------ */

/* The running thread's trash-can nesting: how deep deallocations nest before
 * CPython defers them.  3.13 keeps no such counter per thread (upstream's
 * module drops the function there too). */
static int
pyg_trash_delete_nesting(void)
{
#if PYG_TRASH_NESTING_FIELD
    return PyThreadState_Get()->trash_delete_nesting;
#elif PYG_TRASH_STRUCT
    return PyThreadState_Get()->trash.delete_nesting;
#else
    return 0;
#endif
}

/* The thread state's dict (new reference), which lives until the thread ends. */
static PyObject *
pyg_thread_state_dict(void)
{
    PyObject *d = PyThreadState_GetDict();
    if (d == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "pygreenlet: no thread state dict");
        return NULL;
    }
    Py_INCREF(d);
    return d;
}

#endif /* PYG_TYPE_H */
