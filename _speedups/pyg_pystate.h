/* pyg_pystate.h -- the per-stacklet part of PyThreadState.
 *
 * CPython keeps per-thread interpreter state in PyThreadState; with several
 * stacklets on one thread, some of it belongs to the *running* stacklet and
 * must follow it (docs/internals/interpreter_state.rst).  The origin of a switch calls
 * pyg_pystate_save() before its stack leaves; the target calls
 * pyg_pystate_restore() as soon as its stack is back; a stacklet that runs
 * for the first time calls pyg_pystate_fresh().  Fields are grouped by the
 * feature flags of pyg_compat.h.
 *
 * The contextvars context is NOT handled here: the semantics layer swaps it
 * through get_context()/set_context().
 */
#ifndef PYG_PYSTATE_H
#define PYG_PYSTATE_H

#include "pyg_compat.h"
#include <string.h>

#if PYG_CSTACK_FRAMES
/* One frame whose `previous` link we changed while its stacklet is parked. */
typedef struct {
    struct _PyInterpreterFrame *frame;
    struct _PyInterpreterFrame *previous;   /* the original link */
} pyg_relink_t;
#endif

typedef struct {
    /* The innermost frame object of the parked stacklet (strong reference),
     * or NULL: what primitive.frame() returns.  On 3.9/3.10 it is also what
     * tstate->frame gets back. */
    PyObject *top_frame;
#if PYG_CFRAME
    pyg_cframe_t *cframe;          /* points into this stacklet's own C stack */
#endif
#if PYG_TSTATE_CURRENT_FRAME
    /* The top of this stacklet's frame chain: tstate must point into the
     * running stacklet's chain (pushes, pops, tracebacks, sys._getframe). */
    struct _PyInterpreterFrame *current_frame;
#endif
#if PYG_FRAME_STACKPOINTER
    /* The top visible frame when parked and the value-stack pointer the eval
     * loop spilled into it before calling us: what it reloads on resume. */
    struct _PyInterpreterFrame *sp_frame;
    _PyStackRef *stackpointer;
#endif
#if PYG_CURRENT_EXECUTOR
    /* The tier-2 executor this stacklet's code was running in (or NULL):
     * another stacklet's code must not run under it, and ours resumes in it. */
    PyObject *current_executor;    /* borrowed, as tstate holds it */
#endif
    int recursion_depth;           /* Python recursion depth (all versions) */
#if PYG_PY_C_RECURSION
    int c_recursion_depth;         /* C recursion depth (3.12, 3.13; 3.14
                                    * checks stack addresses instead:
                                    * PYG_C_STACK_LIMITS, nothing to save) */
#endif
#if PYG_TRASH_NESTING_FIELD || PYG_TRASH_STRUCT
    int trash_delete_nesting;
#endif
#if PYG_DELETE_LATER
    /* Objects this stacklet queued for deferred deallocation.  Borrowed on
     * purpose: they already have refcount 0, a new reference would make the
     * trash can deallocate them twice. */
    PyObject *delete_later;
#endif
    _PyErr_StackItem *exc_info;    /* NULL means &tstate->exc_state */
    _PyErr_StackItem exc_state;    /* owns its references while parked */
#if PYG_DATASTACK
    _PyStackChunk *datastack_chunk;
    PyObject **datastack_top;
    PyObject **datastack_limit;
#endif
#if PYG_CSTACK_FRAMES
    pyg_relink_t *relinked;
    Py_ssize_t n_relinked, relinked_cap;
#endif
} pyg_pystate_t;

/* --- frame exposure (3.12+, docs/internals/hazards.rst: frames on the C stack) -------------------------------------- */
#if PYG_CSTACK_FRAMES
/* A frame a user can see: not the C-stack entry frame, not half-built. */
static inline int
pyg_frame_is_visible(struct _PyInterpreterFrame *f)
{
    return f->owner != FRAME_OWNED_BY_CSTACK && !_PyFrame_IsIncomplete(f);
}

static inline struct _PyInterpreterFrame *
pyg_first_visible(struct _PyInterpreterFrame *f)
{
    while (f != NULL && !pyg_frame_is_visible(f))
        f = f->previous;
    return f;
}

/* Make the parked chain walkable without touching the C stack: link each
 * visible frame straight to the next visible one (the bottom one to NULL),
 * remembering the original links.  The frames live in data-stack chunks or
 * generators (heap), so this writes no C-stack memory. */
static void
pyg_expose_frames(pyg_pystate_t *s, struct _PyInterpreterFrame *top)
{
    struct _PyInterpreterFrame *f = pyg_first_visible(top);
    s->n_relinked = 0;
    while (f != NULL) {
        struct _PyInterpreterFrame *orig = f->previous;
        struct _PyInterpreterFrame *next = pyg_first_visible(orig);
        if (next != orig) {
            if (s->n_relinked == s->relinked_cap) {
                Py_ssize_t cap = s->relinked_cap ? s->relinked_cap * 2 : 8;
                pyg_relink_t *p = (pyg_relink_t *)PyMem_RawRealloc(
                    s->relinked, (size_t)cap * sizeof(pyg_relink_t));
                if (p == NULL)
                    Py_FatalError("pygreenlet: out of memory while parking a frame chain");
                s->relinked = p;
                s->relinked_cap = cap;
            }
            s->relinked[s->n_relinked].frame = f;
            s->relinked[s->n_relinked].previous = orig;
            s->n_relinked++;
            f->previous = next;
        }
        f = next;
    }
}

/* Undo pyg_expose_frames() before the stacklet runs again. */
static void
pyg_unexpose_frames(pyg_pystate_t *s)
{
    Py_ssize_t i;
    for (i = s->n_relinked - 1; i >= 0; i--)
        s->relinked[i].frame->previous = s->relinked[i].previous;
    s->n_relinked = 0;
}
#endif

#if PYG_CFRAME_CURRENT_FRAME
#  define PYG_TOP_IFRAME(ts) ((ts)->cframe->current_frame)
#elif PYG_TSTATE_CURRENT_FRAME
#  define PYG_TOP_IFRAME(ts) ((ts)->current_frame)
#endif

/* --- data stack (3.11+) -------------------------------------------------- */
#if PYG_DATASTACK
/* A new stacklet's root chunk: its first interpreter frames live here.
 * Left to itself, CPython gives a thread state without a data stack a root
 * chunk of 16 KiB from the object arena allocator at its first frame: an
 * mmap and a munmap for every greenlet.  A stacklet starts instead with a
 * one-page chunk of ours from the same allocator, taken from a small free
 * list (the GIL guards it), so a greenlet's start and finish make no system
 * call in steady state.  A page is what a shallow greenlet touches of
 * CPython's chunk anyway, and mapped on its own it goes back to the system
 * when freed: smaller chunks from malloc's heap held less memory while
 * 100,000 greenlets lived, but once they were dropped the heap kept 2.5
 * (3.12) to 3.7 (3.11) times upstream's memory.  Frames that do not fit go
 * to chunks CPython pushes on top of it (their `previous` is ours), which
 * CPython frees as usual when they empty.  CPython never frees the root
 * chunk: as in its own root chunks, the first slot is skipped, so no frame
 * starts at data[0] (_PyThreadState_PopFrame frees a chunk whose first
 * frame goes).  docs/internals/interpreter_state.rst, notes on the table. */
#define PYG_ROOT_CHUNK 4096           /* bytes: below CPython's smallest chunk */
#define PYG_ROOT_CHUNK_POOL 64        /* free chunks kept: 256 KiB at most */
static _PyStackChunk *pyg_root_chunks[PYG_ROOT_CHUNK_POOL];
static int pyg_root_chunks_free = 0;

/* CPython's chunks are at least DATA_STACK_CHUNK_SIZE (16 KiB, Python/pystate.c),
 * so a root chunk of this size is one of ours. */
#define PYG_IS_OUR_CHUNK(c) ((c)->previous == NULL && (c)->size == PYG_ROOT_CHUNK)

/* Install a root chunk of ours in `ts`; without memory, leave the data stack
 * empty for CPython to allocate on the first push. */
static void
pyg_datastack_fresh(PyThreadState *ts)
{
    _PyStackChunk *c;
    if (pyg_root_chunks_free > 0)
        c = pyg_root_chunks[--pyg_root_chunks_free];
    else {
        PyObjectArenaAllocator alloc;
        PyObject_GetArenaAllocator(&alloc);
        if ((c = (_PyStackChunk *)alloc.alloc(alloc.ctx, PYG_ROOT_CHUNK)) == NULL) {
            ts->datastack_chunk = NULL;
            ts->datastack_top = NULL;
            ts->datastack_limit = NULL;
            return;
        }
    }
    c->previous = NULL;
    c->size = PYG_ROOT_CHUNK;
    c->top = 0;
    ts->datastack_chunk = c;
    ts->datastack_top = &c->data[1];       /* the skipped first slot */
    ts->datastack_limit = (PyObject **)((char *)c + PYG_ROOT_CHUNK);
}

/* Free a chain of data-stack chunks: ours back to the free list while it
 * has room, the others the way CPython allocated them (_PyObject_VirtualAlloc
 * is the object arena allocator, which is exported only through
 * PyObject_GetArenaAllocator; ours come from it too). */
static void
pyg_free_datastack(_PyStackChunk *chunk)
{
    while (chunk != NULL) {
        _PyStackChunk *prev = chunk->previous;
        if (PYG_IS_OUR_CHUNK(chunk) && pyg_root_chunks_free < PYG_ROOT_CHUNK_POOL) {
            pyg_root_chunks[pyg_root_chunks_free++] = chunk;
        } else {
            /* asked for only here: PyObject_GetArenaAllocator takes the
             * runtime's allocator lock (some 200 instructions) */
            PyObjectArenaAllocator alloc;
            PyObject_GetArenaAllocator(&alloc);
            alloc.free(alloc.ctx, chunk, chunk->size);
        }
        chunk = prev;
    }
}
#endif

/* --- the three transitions ------------------------------------------------ */

/* The running stacklet is about to be parked: move its state out of tstate. */
static void
pyg_pystate_save(pyg_pystate_t *s, PyThreadState *ts)
{
#if PYG_TSTATE_FRAME
    s->top_frame = (PyObject *)ts->frame;
    Py_XINCREF(s->top_frame);
#elif PYG_MATERIALIZE_FRAME
#if PYG_CSTACK_FRAMES
    /* The frame that parks here mostly has its frame object already (made
     * when it last parked; the interpreter frame owns it until it returns):
     * nothing to allocate, so no collection to hold off.  The first visible
     * frame is the one PyThreadState_GetFrame() would give. */
    struct _PyInterpreterFrame *top = pyg_first_visible(PYG_TOP_IFRAME(ts));
    if (top == NULL || top->frame_obj != NULL) {
        s->top_frame = top != NULL ? (PyObject *)top->frame_obj : NULL;
        Py_XINCREF(s->top_frame);
    }
    else
#endif
    {
        /* Creating the frame object may allocate; an allocation may start a
         * collection whose finalizers could switch greenlets in the middle of
         * this switch (gevent #1985): keep the GC off meanwhile. */
        int was_enabled = PyGC_Disable();
        s->top_frame = (PyObject *)PyThreadState_GetFrame(ts);
        if (s->top_frame == NULL && PyErr_Occurred())
            PyErr_Clear();
        if (was_enabled)
            PyGC_Enable();
    }
#endif
#if PYG_FRAME_STACKPOINTER
    /* before the relinking below changes what the chain looks like */
    s->sp_frame = pyg_first_visible(ts->current_frame);
    s->stackpointer = s->sp_frame != NULL ? s->sp_frame->stackpointer : NULL;
#endif
#if PYG_CSTACK_FRAMES
    pyg_expose_frames(s, PYG_TOP_IFRAME(ts));
#endif
#if PYG_CFRAME
    s->cframe = ts->cframe;
#endif
#if PYG_TSTATE_CURRENT_FRAME
    s->current_frame = ts->current_frame;
#endif
#if PYG_CURRENT_EXECUTOR
    s->current_executor = ts->current_executor;
#endif
#if PYG_CRITICAL_SECTION
    assert(ts->critical_section == 0);   /* GIL build: never set */
#endif
#if PYG_RECURSION_DEPTH
    s->recursion_depth = ts->recursion_depth;
#elif PYG_RECURSION_REMAINING
    s->recursion_depth = ts->recursion_limit - ts->recursion_remaining;
#elif PYG_PY_RECURSION
    s->recursion_depth = ts->py_recursion_limit - ts->py_recursion_remaining;
#endif
#if PYG_PY_C_RECURSION
    s->c_recursion_depth = PYG_C_RECURSION_LIMIT - ts->c_recursion_remaining;
#endif
#if PYG_TRASH_NESTING_FIELD
    s->trash_delete_nesting = ts->trash_delete_nesting;
#elif PYG_TRASH_STRUCT
    s->trash_delete_nesting = ts->trash.delete_nesting;
#elif PYG_DELETE_LATER
    s->delete_later = ts->delete_later;
#endif
    s->exc_info = ts->exc_info;
    s->exc_state = ts->exc_state;   /* the references move into s */
#if PYG_DATASTACK
    s->datastack_chunk = ts->datastack_chunk;
    s->datastack_top = ts->datastack_top;
    s->datastack_limit = ts->datastack_limit;
#endif
}

/* A stacklet whose Python code has returned is leaving for good: move out
 * what still needs releasing (exception state, data-stack chunks). */
static void
pyg_pystate_save_finished(pyg_pystate_t *s, PyThreadState *ts)
{
    s->exc_info = NULL;
    s->exc_state = ts->exc_state;
#if PYG_DATASTACK
    s->datastack_chunk = ts->datastack_chunk;
#endif
#if PYG_DELETE_LATER
    s->delete_later = NULL;
#endif
}

/* Our stack is back: put our state into tstate again. */
static void
pyg_pystate_restore(pyg_pystate_t *s, PyThreadState *ts)
{
#if PYG_CSTACK_FRAMES
    pyg_unexpose_frames(s);
#endif
#if PYG_TSTATE_FRAME
    ts->frame = (PyFrameObject *)s->top_frame;
#endif
#if PYG_CFRAME
    ts->cframe = s->cframe;
#endif
#if PYG_TSTATE_CURRENT_FRAME
    ts->current_frame = s->current_frame;
#endif
#if PYG_FRAME_STACKPOINTER
    if (s->sp_frame != NULL) {
        /* Nothing writes a parked frame's stack pointer: a mismatch means
         * CPython started doing so and this file needs a look. */
        assert(s->sp_frame->stackpointer == s->stackpointer);
        s->sp_frame->stackpointer = s->stackpointer;
    }
    s->sp_frame = NULL;
    s->stackpointer = NULL;
#endif
#if PYG_CURRENT_EXECUTOR
    ts->current_executor = s->current_executor;
    s->current_executor = NULL;
#endif
#if PYG_RECURSION_DEPTH
    ts->recursion_depth = s->recursion_depth;
#elif PYG_RECURSION_REMAINING
    ts->recursion_remaining = ts->recursion_limit - s->recursion_depth;
#elif PYG_PY_RECURSION
    ts->py_recursion_remaining = ts->py_recursion_limit - s->recursion_depth;
#endif
#if PYG_PY_C_RECURSION
    ts->c_recursion_remaining = PYG_C_RECURSION_LIMIT - s->c_recursion_depth;
#endif
#if PYG_TRASH_NESTING_FIELD
    ts->trash_delete_nesting = s->trash_delete_nesting;
#elif PYG_TRASH_STRUCT
    ts->trash.delete_nesting = s->trash_delete_nesting;
#elif PYG_DELETE_LATER
    ts->delete_later = s->delete_later;
    s->delete_later = NULL;
#endif
    ts->exc_state = s->exc_state;   /* the references move back */
    ts->exc_info = s->exc_info != NULL ? s->exc_info : &ts->exc_state;
    memset(&s->exc_state, 0, sizeof(s->exc_state));
    s->exc_info = NULL;
#if PYG_DATASTACK
    ts->datastack_chunk = s->datastack_chunk;
    ts->datastack_top = s->datastack_top;
    ts->datastack_limit = s->datastack_limit;
    s->datastack_chunk = NULL;
#endif
    /* The frame is alive as long as its eval loop runs: this never frees it. */
    Py_CLEAR(s->top_frame);
}

/* First run of a stacklet, on its fresh piece of C stack: no frame, no
 * handled exception, no data stack, no trash; the recursion depth is
 * inherited from the stacklet that started it (upstream behaviour, 1.12), and
 * so is the tier-2 executor (3.14), as for any call from C into Python.
 * `cframe` is storage in the new stacklet's own bottom C frame. */
static void
pyg_pystate_fresh(PyThreadState *ts, void *cframe)
{
#if PYG_CFRAME
    pyg_cframe_t *cf = (pyg_cframe_t *)cframe;
    *cf = *ts->cframe;               /* carries use_tracing on 3.10/3.11 */
    cf->previous = &ts->root_cframe;
#  if PYG_CFRAME_CURRENT_FRAME
    cf->current_frame = NULL;
#  endif
    ts->cframe = cf;
#else
    (void)cframe;
#endif
#if PYG_TSTATE_FRAME
    ts->frame = NULL;
#endif
#if PYG_TSTATE_CURRENT_FRAME
    ts->current_frame = NULL;
#endif
#if PYG_TRASH_NESTING_FIELD
    ts->trash_delete_nesting = 0;
#elif PYG_TRASH_STRUCT
    ts->trash.delete_nesting = 0;
#elif PYG_DELETE_LATER
    ts->delete_later = NULL;
#endif
    memset(&ts->exc_state, 0, sizeof(ts->exc_state));  /* moved out by save() */
    ts->exc_info = &ts->exc_state;
#if PYG_DATASTACK
    pyg_datastack_fresh(ts);         /* a root chunk of ours, not CPython's 16 KiB */
#endif
}

/* --- frames that outlive their stacklet (3.11+) ---------------------------
 * A discarded stacklet (its thread exited, or it was freed without a kill)
 * frees its data-stack chunks, where its interpreter frames live.  A frame
 * object that someone still holds (sys._getframe(), a traceback, a gr_frame
 * taken earlier) points into them: hand such frames over to their frame
 * objects first, as CPython does for a frame whose function returns while
 * its frame object lives on.  Generators that were running in the stacklet
 * can never resume: they are marked finished (docs/internals/hazards.rst:
 * frames that outlive their stack). */
#if PYG_INTERP_FRAMES && !PYG_STACKREF_FRAMES
/* Move interpreter frame `f` (in a chunk) into its frame object `fo`. */
static void
pyg_frame_take_ownership(PyFrameObject *fo, struct _PyInterpreterFrame *f)
{
    int nlocals = PYG_IFRAME_CODE(f)->co_nlocalsplus;
    struct _PyInterpreterFrame *copy;
    PyFrameObject *back;
    /* A frame that called into C (our switch, a C function that called
     * Python) has no recorded stack depth (-1): its value stack lives in
     * the abandoned C frame of its eval loop.  Keep the locals only (the
     * value stack's references are lost with the chunk). */
    if (f->stacktop < nlocals)
        f->stacktop = nlocals;
    /* f_back is materialized from the link before the frame moves: the
     * frame below gets a frame object too and is handed over next. */
    back = PyFrame_GetBack(fo);             /* new reference, or NULL */
    if (back == NULL && PyErr_Occurred())
        PyErr_Clear();
    copy = (struct _PyInterpreterFrame *)fo->_f_frame_data;
    memcpy(copy, f, (size_t)((char *)&f->localsplus[f->stacktop] - (char *)f));
    copy->owner = FRAME_OWNED_BY_FRAME_OBJECT;
    copy->previous = NULL;
    copy->frame_obj = NULL;                 /* as CPython's own hand-over */
    fo->f_frame = copy;
    if (fo->f_back == NULL)
        fo->f_back = back;                  /* takes the reference */
    else
        Py_XDECREF(back);
    if (!PyObject_GC_IsTracked((PyObject *)fo))
        PyObject_GC_Track((PyObject *)fo);
}

/* Release what a frame nobody can see any more holds, as CPython does when a
 * frame is cleared: its locals, cells, function, code.  Its value stack is
 * not: a frame that was calling C when parked has no recorded depth, so
 * what was on it stays referenced (docs/internals/hazards.rst). */
static void
pyg_frame_clear(struct _PyInterpreterFrame *f)
{
    int i, nlocals = PYG_IFRAME_CODE(f)->co_nlocalsplus;
    PyObject *code = (PyObject *)PYG_IFRAME_CODE(f), *func = PYG_IFRAME_FUNC(f);
    PyObject *locals = f->f_locals;
    f->f_locals = NULL;
    f->stacktop = 0;
    for (i = 0; i < nlocals; i++)
        Py_CLEAR(f->localsplus[i]);
    Py_XDECREF(locals);
    Py_XDECREF(func);
    Py_XDECREF(code);
}

static void
pyg_detach_frames(PyObject *top_frame)
{
    struct _PyInterpreterFrame *f = ((PyFrameObject *)top_frame)->f_frame;
    int was_enabled = PyGC_Disable();       /* no collection sees a half-moved chain */
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);            /* an error pending in the caller survives */
    Py_DECREF(top_frame);                   /* ours; f->frame_obj still holds it */
    while (f != NULL) {
        struct _PyInterpreterFrame *next = f->previous;
        PyFrameObject *fo = f->frame_obj;
        if (f->owner == FRAME_OWNED_BY_GENERATOR) {
            /* Running here when the stacklet was dropped: it is over. */
            PyGenObject *gen = _PyFrame_GetGenerator(f);
            int nlocals = PYG_IFRAME_CODE(f)->co_nlocalsplus;
            if (f->stacktop < nlocals)
                f->stacktop = nlocals;      /* its locals are freed with it */
            f->previous = NULL;
            gen->gi_frame_state = FRAME_COMPLETED;
        }
        else if (f->owner == FRAME_OWNED_BY_THREAD) {
            f->frame_obj = NULL;
            if (fo != NULL && Py_REFCNT(fo) > 1 && !_PyFrame_IsIncomplete(f))
                pyg_frame_take_ownership(fo, f);   /* fo owns the references now */
            else
                pyg_frame_clear(f);
            Py_XDECREF(fo);                 /* the interpreter frame's reference */
        }
        f = next;
    }
    PyErr_Restore(et, ev, etb);
    if (was_enabled)
        PyGC_Enable();
}
#endif

#if PYG_TSTATE_FRAME
/* 3.9/3.10: frames are heap objects, and every running one but a
 * generator's is also held by the C function that evaluates it (released
 * when it returns).  Those functions are on the abandoned stack: drop their
 * references, so that the chain is freed once nobody else holds it. */
static void
pyg_release_frames(PyObject *top_frame)
{
    PyFrameObject *f = (PyFrameObject *)top_frame;   /* our reference */
    while (f != NULL) {
        PyFrameObject *next = f->f_back;
        if (f->f_gen != NULL) {
            /* A generator that was running here: it can never resume.  Its
             * link to its caller goes (as when it yields), the reference
             * passing to us. */
            f->f_back = NULL;
        }
        else {
            Py_XINCREF(next);
            Py_DECREF(f);                   /* its evaluator's; ours keeps it */
            if (Py_REFCNT(f) > 1 && !PyObject_GC_IsTracked((PyObject *)f))
                PyObject_GC_Track((PyObject *)f);   /* as the evaluator would */
        }
        Py_DECREF(f);                       /* ours: may free f, never next */
        f = next;
    }
}
#endif

#if PYG_STACKREF_FRAMES
/* 3.14: whether anything but the chain itself (and our reference to its top
 * frame object) can reach the frames of a parked chain. */
static int
pyg_frames_reachable(PyObject *top_frame)
{
    struct _PyInterpreterFrame *f = ((PyFrameObject *)top_frame)->f_frame;
    while (f != NULL) {
        PyFrameObject *fo = f->frame_obj;
        if (f->owner == FRAME_OWNED_BY_GENERATOR)
            return 1;                       /* a generator that ran here */
        if (fo != NULL && Py_REFCNT(fo) > ((PyObject *)fo == top_frame ? 2 : 1))
            return 1;                       /* a frame object held elsewhere */
        f = f->previous;
    }
    return 0;
}
#endif

/* Drop everything a parked, finished or discarded stacklet still holds.
 * `free_datastack` is 0 during interpreter finalization, when frame objects
 * pointing into the chunks may still be deallocated later. */
static void
pyg_pystate_clear(pyg_pystate_t *s, int free_datastack)
{
    PyObject *tmp;
#if PYG_DATASTACK
    _PyStackChunk *chunk = s->datastack_chunk;
    s->datastack_chunk = NULL;
    if (chunk != NULL && free_datastack) {
        int keep = 0;
        if (s->top_frame != NULL) {         /* parked: its frames are in the chunks */
            tmp = s->top_frame;
            s->top_frame = NULL;
#if PYG_STACKREF_FRAMES
            keep = pyg_frames_reachable(tmp);
            Py_DECREF(tmp);
#else
            pyg_detach_frames(tmp);
#endif
        }
        if (!keep)
            pyg_free_datastack(chunk);
        /* else (3.14): left allocated for good, with what its frames hold */
    }
#elif PYG_TSTATE_FRAME
    if (s->top_frame != NULL && free_datastack) {   /* parked: drop its frames */
        tmp = s->top_frame;
        s->top_frame = NULL;
        pyg_release_frames(tmp);
    }
#else
    (void)free_datastack;
#endif
#if PYG_CSTACK_FRAMES
    PyMem_RawFree(s->relinked);
    s->relinked = NULL;
    s->n_relinked = s->relinked_cap = 0;
#endif
#if PYG_CFRAME
    s->cframe = NULL;
#endif
#if PYG_DELETE_LATER
    s->delete_later = NULL;
#endif
#if PYG_FRAME_STACKPOINTER
    s->sp_frame = NULL;
    s->stackpointer = NULL;
#endif
#if PYG_CURRENT_EXECUTOR
    s->current_executor = NULL;    /* borrowed, like tstate's own */
#endif
    s->exc_info = NULL;
#if PYG_EXC_TRIPLE
    tmp = s->exc_state.exc_type;  s->exc_state.exc_type = NULL;  Py_XDECREF(tmp);
    tmp = s->exc_state.exc_traceback;  s->exc_state.exc_traceback = NULL;  Py_XDECREF(tmp);
#endif
    tmp = s->exc_state.exc_value;  s->exc_state.exc_value = NULL;  Py_XDECREF(tmp);
    s->exc_state.previous_item = NULL;
    tmp = s->top_frame;  s->top_frame = NULL;  Py_XDECREF(tmp);
}

/* sys.settrace state that must follow the thread across switches
 * (3.10/3.11 cache it per C frame record; upstream #256). */
#if PYG_CFRAME_USE_TRACING
#  define PYG_GET_USE_TRACING(ts)     ((int)(ts)->cframe->use_tracing)
#  define PYG_SET_USE_TRACING(ts, v)  ((ts)->cframe->use_tracing = (v))
#else
#  define PYG_GET_USE_TRACING(ts)     0
#  define PYG_SET_USE_TRACING(ts, v)  ((void)(v))
#endif
/* Where "a hook is set" is cached before 3.11: the C frame record (3.10) or
 * the thread state (3.9). */
#if PYG_CFRAME_USE_TRACING
#  define PYG_SET_USE_TRACING_FLAG(ts, v)  ((ts)->cframe->use_tracing = (v))
#elif !PYG_ENTER_TRACING_API
#  define PYG_SET_USE_TRACING_FLAG(ts, v)  ((ts)->use_tracing = (v))
#endif

/* R28: the greenlet tracer runs with the thread's own trace and profile
 * hooks suspended, not removed: inside it sys.gettrace() still answers, a
 * sys.settrace() made there stays, and a C profiler (cProfile) is never
 * handed back through sys.setprofile().  The same as CPython does around a
 * call of a trace function. */
static inline void
pyg_enter_tracing(void)
{
    PyThreadState *ts = PyThreadState_GET();
#if PYG_ENTER_TRACING_API
    PyThreadState_EnterTracing(ts);
#else
    ts->tracing++;
    PYG_SET_USE_TRACING_FLAG(ts, 0);
#endif
}

static inline void
pyg_leave_tracing(void)
{
    PyThreadState *ts = PyThreadState_GET();
#if PYG_ENTER_TRACING_API
    PyThreadState_LeaveTracing(ts);
#else
    ts->tracing--;
    PYG_SET_USE_TRACING_FLAG(ts, ts->c_tracefunc != NULL || ts->c_profilefunc != NULL);
#endif
}

/* contextvars: the running thread's Context, bumping context_ver on change
 * so that ContextVar caches notice (as CPython's own context switches do). */
static inline PyObject *
pyg_context_of(PyThreadState *ts)
{
    PyObject *ctx = ts->context;
    if (ctx == NULL)
        ctx = Py_None;
    Py_INCREF(ctx);
    return ctx;
}

static inline void
pyg_set_context_of(PyThreadState *ts, PyObject *ctx)
{
    PyObject *old = ts->context;
    if (ctx == Py_None)
        ctx = NULL;
    Py_XINCREF(ctx);
    ts->context = ctx;
    ts->context_ver++;
    Py_XDECREF(old);
}

#endif /* PYG_PYSTATE_H */
