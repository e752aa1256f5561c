/* pyg_switch.h -- stack slicing: every stacklet of a thread runs on the
 * thread's own C stack; switching copies slices to and from the heap.
 *
 * Model (after Stackless and greenlet; docs/internals/stack_slicing.rst).
 * The stack grows down.  A stacklet owns the address range [start, stop):
 *
 *   stop   the first address above its slice: for the main stacklet of a
 *          thread (char *)-1, for the others the stack pointer of the
 *          switch that started them; NULL = has never run
 *   start  its stack pointer when it was last parked (inside
 *          pyg_stack_switch, below its pushed registers)
 *   copy, saved
 *          the lowest `saved` bytes of [start, stop) live on the heap in
 *          `copy`; the rest is still on the C stack.  The buffer (`capacity`
 *          bytes) is kept when the slice is restored: the next park reuses
 *          it, so a steady ping-pong allocates nothing.
 *   prev   the stacklet owning the bytes just above `stop`
 *
 *        high addresses
 *   +---------------------------+ <- main.stop = (char *)-1
 *   | main: Python's own C      |
 *   | frames, then main's       |
 *   | switch() ... registers    |
 *   +---------------------------+ <- main.start   == A.stop   (A.prev = main)
 *   | A: pyg_stacklet_start,    |
 *   | eval loops of A's code,   |
 *   | switch() ... registers    |
 *   +---------------------------+ <- A.start      == B.stop   (B.prev = A)
 *   | B: running                |
 *   |            ...            | <- the stack pointer
 *   +---------------------------+
 *        low addresses
 *
 * Switching from the running stacklet R to a target T:
 *   1. pyg_switch() moves R's interpreter state out of tstate
 *      (pyg_pystate.h) and records origin/target in the thread record.
 *   2. pyg_stack_switch() (platform/ headers) pushes the callee-saved registers
 *      and calls pyg_save_state(sp): R.start = sp; then walking R, R.prev,
 *      ... every slice that lies below T.stop is copied to the heap (the
 *      whole slice of owners entirely below it, the lower part of the one
 *      straddling it).  Copies are incremental: only bytes not yet saved.
 *   3. If T has never run: T.stop = sp, T.prev = R (or, when R has just
 *      finished, the first live stacklet up R's chain), and pyg_stacklet_start()
 *      is called right there, below R's frame: nothing is copied at all.
 *      Otherwise the stack pointer is set to T.start and pyg_restore_state()
 *      copies T's heap bytes back (its own frame lies below T.start, so it
 *      never overwrites itself), recomputes T.prev, and pyg_stack_switch
 *      returns 0 inside T.
 *   4. T, back in its pyg_switch(), restores its interpreter state.  The
 *      references the switch handed over are dropped later, by
 *      pyg_after_switch() (settle()), once the semantics in T has taken its
 *      hand-over: dropping them may run arbitrary code, even switch again.
 * A stacklet whose entry() returned switches away without saving itself:
 * it is marked dead and its slice is simply abandoned.  Dead and discarded
 * stacklets stay in others' prev chains (kept alive by prev_ref) and are
 * skipped by the walks.
 *
 * Functions that must never be inlined:
 *   pyg_save_state     called by address from the assembly, with the stack
 *                      pointer of the slice being parked; its own frame
 *                      must lie below that pointer, outside every slice.
 *   pyg_restore_state  called by address from the assembly after the stack
 *                      pointer moved to the target's slice; it writes the memory just
 *                      above its own frame, so it must be a real call whose
 *                      frame is below the target's stack pointer.
 *   pyg_stacklet_start runs a new stacklet on the stack below the parent's
 *                      switch frame and never returns; inlined into a caller
 *                      it would share (and clobber) the parent's frame.
 *   pyg_switch         the frame that is parked and resumed around the
 *                      assembly call; kept separate so that what lives in it
 *                      across the switch is small and obvious (ts, me, th),
 *                      and so no caller's optimisation spans the switch.
 *   pyg_finish         never returns: its frame is abandoned on the dead
 *                      slice; inlined into pyg_stacklet_start it would grow
 *                      that frame for nothing.
 * The copy functions are also excluded from AddressSanitizer: they read and
 * write stack memory that belongs to other (parked) frames on purpose.
 */
#ifndef PYG_SWITCH_H
#define PYG_SWITCH_H

#include "pyg_compat.h"
#include "pyg_pystate.h"
#include "pyg_prim_api.h"
#include "platform/select.h"
#include "pythread.h"

#define PYG_NOINLINE __attribute__((noinline))
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8)
#  define PYG_NO_ASAN_DECL __attribute__((no_sanitize_address))
#else
#  define PYG_NO_ASAN_DECL
#endif
#if defined(__SANITIZE_ADDRESS__)
#  define PYG_ASAN 1
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define PYG_ASAN 1
#  endif
#endif
#ifdef PYG_ASAN
/* The shadow memory of a restored slice still describes the frames that ran
 * there meanwhile: clear it, or ASan reports our own locals. */
#  include <sanitizer/asan_interface.h>
#  define PYG_UNPOISON(p, n) __asan_unpoison_memory_region((p), (size_t)(n))
/* Stale poison below the stack pointer (left by frames of other stacklets
 * that never returned) would make ASan flag CPython's own stack buffers.
 * ASan's own __asan_handle_no_return clears it, but first calls sigaltstack
 * with a buffer in its frame, below ours, which may lie in that stale poison:
 * clear the 64 KiB below us by hand first (only shadow memory is written). */
#  define PYG_UNPOISON_BELOW_SP() do {                                        \
        char *pyg_frame_ = (char *)__builtin_frame_address(0);                \
        PYG_UNPOISON(pyg_frame_ - 65536, 65536);                              \
        __asan_handle_no_return();                                            \
    } while (0)
/* ASan's memcpy interceptor checks the stack bytes we copy on purpose,
 * whatever attribute the caller has: copy them ourselves (volatile, so the
 * compiler cannot turn the loop back into a memcpy call). */
static PYG_NO_ASAN_DECL void
pyg_memcpy(void *dst, const void *src, size_t n)
{
    volatile char *d = (volatile char *)dst;
    const volatile char *s = (const volatile char *)src;
    while (n--)
        *d++ = *s++;
}
#else
#  define PYG_UNPOISON(p, n) ((void)0)
#  define PYG_UNPOISON_BELOW_SP() ((void)0)
#  define pyg_memcpy memcpy
#endif
#define PYG_NO_ASAN PYG_NO_ASAN_DECL

typedef struct pyg_stacklet pyg_stacklet_t;

struct pyg_stacklet {
    char *start;
    char *stop;
    char *copy;
    Py_ssize_t saved;
    Py_ssize_t capacity;           /* bytes allocated at copy (kept across resumptions) */
    pyg_stacklet_t *prev;
    PyObject *prev_ref;            /* strong reference to prev's object */
    PyObject *self;                /* borrowed: the Stacklet object embedding us */
    PyObject *entry;               /* strong until the first run */
    unsigned long owner_thread;    /* PyThread_get_thread_ident() once it ran */
    int dead;                      /* finished or discarded */
    int is_main;
    pyg_pystate_t py;
};

/* One per OS thread that uses the primitive (owned by the thread handle in
 * the thread state's dict). */
typedef struct {
    pyg_stacklet_t *current;       /* the running stacklet; strong reference */
    pyg_stacklet_t *main;
    PyObject *handle;              /* borrowed: the owning thread handle */
    PyObject *data;                /* borrowed: what set_thread_data() stored
                                    * (the handle holds it), NULL once the
                                    * handle lets it go */
    unsigned long ident;           /* PyThread_get_thread_ident() of this thread */
    /* The thread state this record belongs to (it lives in that state's
     * dict and dies with it).  Reading it here saves the thread-local
     * look-up that PyThreadState_Get() makes in libpython (a call to
     * __tls_get_addr) several times per switch. */
    PyThreadState *tstate;
    /* In flight during one switch (no stack variable survives it). */
    pyg_stacklet_t *origin;
    pyg_stacklet_t *target;
    int use_tracing;
    /* References handed over by a switch, dropped by whoever resumes. */
    PyObject *drop_origin;
    PyObject *drop_prev;
    pyg_stacklet_t *finished;      /* holds a reference to its object */
} pyg_thread_t;

/* The initial-exec model: every switch reads this several times, and the
 * default model for a shared library (general dynamic) makes each read a
 * call to __tls_get_addr.  One pointer fits in the static TLS space that the
 * C library keeps for modules loaded later (dlopen). */
#if defined(__GNUC__) && defined(__ELF__)
#  define PYG_TLS __thread __attribute__((tls_model("initial-exec")))
#else
#  define PYG_TLS __thread
#endif
static PYG_TLS pyg_thread_t *pyg_tls_thread = NULL;

/* The calling thread's state: its record's when it has one. */
static inline PyThreadState *
pyg_tstate(void)
{
    pyg_thread_t *th = pyg_tls_thread;
    if (th == NULL)
        return PyThreadState_GET();
    assert(th->tstate == PyThreadState_GET());
    return th->tstate;
}

/* Tie a new record to the calling thread's state (set_thread_data). */
static inline void
pyg_thread_bind(pyg_thread_t *th)
{
    th->tstate = PyThreadState_GET();
}

/* contextvars of the calling thread (pyg_pystate.h) */
static inline PyObject *
pyg_get_context(void)
{
    return pyg_context_of(pyg_tstate());
}

static inline void
pyg_set_context(PyObject *ctx)
{
    pyg_set_context_of(pyg_tstate(), ctx);
}

/* Set by the Cython module at import: the Stacklet type and where the
 * pyg_stacklet_t sits inside its instances. */
static PyTypeObject *pyg_stacklet_type = NULL;
static Py_ssize_t pyg_stacklet_offset = 0;
#define PYG_AS_STACKLET(o) ((pyg_stacklet_t *)((char *)(o) + pyg_stacklet_offset))

/* --- copying slices -------------------------------------------------------- */

/* The largest save buffer a running stacklet keeps for its next park. */
#define PYG_KEEP_BUFFER 16384

/* Make sure the lowest (upto - s->start) bytes of s's slice are on the heap. */
static PYG_NO_ASAN void
pyg_copy_to_heap(pyg_stacklet_t *s, char *upto)
{
    Py_ssize_t want = upto - s->start;
    if (want > s->saved) {
        if (want > s->capacity) {
            char *c = (char *)PyMem_RawRealloc(s->copy, (size_t)want);
            if (c == NULL)
                Py_FatalError("pygreenlet: out of memory while saving a stack slice");
            s->copy = c;
            s->capacity = want;
        }
        pyg_memcpy(s->copy + s->saved, s->start + s->saved, (size_t)(want - s->saved));
        s->saved = want;
    }
}

static PYG_NOINLINE PYG_NO_ASAN char *
pyg_save_state(char *sp)
{
    pyg_thread_t *th = pyg_tls_thread;
    pyg_stacklet_t *cur = th->origin, *target = th->target, *owner;
    char *target_stop = target->stop;

    if (!cur->dead)
        cur->start = sp;
    if (target_stop == NULL) {
        /* First run: the new stacklet owns everything below our frame. */
        owner = cur;
        while (owner->dead)
            owner = owner->prev;
        target->stop = sp;
        target->prev = owner;
        target->prev_ref = owner->self;
        Py_INCREF(owner->self);
        return NULL;
    }
    owner = cur;
    while (owner->stop < target_stop) {
        if (!owner->dead)
            pyg_copy_to_heap(owner, owner->stop);
        owner = owner->prev;
    }
    if (owner != target && !owner->dead && owner->start < target_stop)
        pyg_copy_to_heap(owner, target_stop);
    return target->start;
}

static PYG_NOINLINE PYG_NO_ASAN void
pyg_restore_state(void)
{
    pyg_thread_t *th = pyg_tls_thread;
    pyg_stacklet_t *target = th->target, *owner;

    PYG_UNPOISON_BELOW_SP();
    if (target->saved) {
        PYG_UNPOISON(target->start, target->saved);
        pyg_memcpy(target->start, target->copy, (size_t)target->saved);
        target->saved = 0;
        /* A small buffer stays for the next park; a large one (a deep
         * stack, once) is not held while running. */
        if (target->capacity > PYG_KEEP_BUFFER) {
            PyMem_RawFree(target->copy);
            target->copy = NULL;
            target->capacity = 0;
        }
    }
    /* Who owns the bytes above us now: the first live owner above our stop
     * on the origin's chain (which lists every slice still on the stack). */
    owner = th->origin;
    while (owner != NULL && (owner->stop <= target->stop || owner->dead))
        owner = owner->prev;
    if (owner != target->prev) {
        th->drop_prev = target->prev_ref;       /* dropped after the switch */
        target->prev = owner;
        target->prev_ref = owner ? owner->self : NULL;
        Py_XINCREF(target->prev_ref);
    }
}

/* --- after a switch --------------------------------------------------------- */

/* Runs in the resumed (or new) stacklet once its interpreter state is in
 * place: drop what the switch handed over.  May run arbitrary code. */
static void
pyg_after_switch(pyg_thread_t *th)
{
    PyObject *origin = th->drop_origin, *prev = th->drop_prev;
    pyg_stacklet_t *finished = th->finished;
    th->drop_origin = th->drop_prev = NULL;
    th->finished = NULL;
    if (finished != NULL) {
        pyg_pystate_clear(&finished->py, 1);
        Py_DECREF(finished->self);
    }
    Py_XDECREF(prev);
    Py_XDECREF(origin);
}

static void pyg_stacklet_start(void);

/* Switch from th->current to target; returns when we are resumed. */
static PYG_NOINLINE void
pyg_switch(pyg_thread_t *th, pyg_stacklet_t *target)
{
    PyThreadState *ts = th->tstate;
    pyg_stacklet_t *me = th->current;

    assert(ts == PyThreadState_GET());
    pyg_pystate_save(&me->py, ts);
    th->use_tracing = PYG_GET_USE_TRACING(ts);
    Py_INCREF(target->self);
    th->drop_origin = me->self;          /* th->current's reference to us */
    th->origin = me;
    th->target = target;
    th->current = target;
    if (target->stop == NULL)
        target->owner_thread = th->ident;
    if (pyg_stack_switch(pyg_save_state, pyg_restore_state, pyg_stacklet_start) != 0)
        Py_FatalError("pygreenlet: stack switch failed");
    /* Resumed: our slice is back, th->current is us again.  What the switch
     * left behind is dropped by pyg_after_switch, which the semantics calls
     * (settle()) once it has taken its hand-over. */
    pyg_pystate_restore(&me->py, ts);
    PYG_SET_USE_TRACING(ts, th->use_tracing);
}

/* The stacklet `me` has finished: resume `next` (a Stacklet object whose
 * reference we own) and abandon this slice. */
static PYG_NOINLINE void
pyg_finish(pyg_thread_t *th, pyg_stacklet_t *me, PyObject *next)
{
    PyThreadState *ts = th->tstate;
    pyg_stacklet_t *target = PYG_AS_STACKLET(next);

    pyg_pystate_save_finished(&me->py, ts);
    th->use_tracing = PYG_GET_USE_TRACING(ts);
    me->dead = 1;
    me->start = NULL;
    th->finished = me;                   /* takes th->current's reference */
    th->origin = me;
    th->target = target;
    th->current = target;                /* takes our reference to next */
    if (target->stop == NULL)
        target->owner_thread = th->ident;
    pyg_stack_switch(pyg_save_state, pyg_restore_state, pyg_stacklet_start);
    Py_FatalError("pygreenlet: a finished stacklet was resumed");
}

/* The bottom C frame of every stacklet but the main ones. */
static PYG_NOINLINE void
pyg_stacklet_start(void)
{
    pyg_thread_t *th = pyg_tls_thread;
    pyg_stacklet_t *me = th->current;
    PyThreadState *ts = th->tstate;
    PyObject *entry, *next;
    PYG_UNPOISON_BELOW_SP();
    assert(ts == PyThreadState_GET());
#if PYG_CFRAME
    pyg_cframe_t cframe;                 /* this stacklet's own C frame record */
    pyg_pystate_fresh(ts, &cframe);
#else
    pyg_pystate_fresh(ts, NULL);
#endif
    /* The entry drops what the switch left behind (pyg_after_switch, through
     * settle()) once it has taken its hand-over. */

    entry = me->entry;
    me->entry = NULL;
    next = PyObject_CallObject(entry, NULL);
    Py_DECREF(entry);
    if (next == NULL || Py_TYPE(next) != pyg_stacklet_type
            || PYG_AS_STACKLET(next)->dead || PYG_AS_STACKLET(next) == me) {
        if (next == NULL)
            PyErr_Print();
        /* None is only allowed after discard(), and a discarded stacklet
         * never runs again here: anything else is a semantics bug. */
        Py_FatalError("pygreenlet: a stacklet's entry must return another live stacklet");
    }
    pyg_finish(th, me, next);
}

/* --- the table of pyg_prim_api.h ------------------------------------------ */

static void *
pyg_api_thread(PyObject **data)
{
    pyg_thread_t *th = pyg_tls_thread;
    if (th == NULL || th->data == NULL)
        return NULL;
    *data = th->data;
    return th;
}

/* The checks of the primitive's switch() that a resumption needs: a parked
 * Stacklet of this thread, started before, not the running one. */
static int
pyg_api_resumable(void *th_, PyObject *stacklet)
{
    pyg_thread_t *th = (pyg_thread_t *)th_;
    pyg_stacklet_t *t;
    if (Py_TYPE(stacklet) != pyg_stacklet_type)
        return 0;
    t = PYG_AS_STACKLET(stacklet);
    return t != th->current && !t->dead && t->stop != NULL && t->owner_thread == th->ident;
}

static void
pyg_api_switch_to(void *th, PyObject *stacklet)
{
    pyg_switch((pyg_thread_t *)th, PYG_AS_STACKLET(stacklet));
}

static void
pyg_api_settle(void *th)
{
    pyg_after_switch((pyg_thread_t *)th);
}

static PyObject *
pyg_api_get_context(void *th)
{
    return pyg_context_of(((pyg_thread_t *)th)->tstate);
}

static void
pyg_api_set_context(void *th, PyObject *ctx)
{
    pyg_set_context_of(((pyg_thread_t *)th)->tstate, ctx);
}

static const pyg_prim_api_t pyg_prim_api = {
    pyg_api_thread,
    pyg_api_resumable,
    pyg_api_switch_to,
    pyg_api_settle,
    pyg_api_get_context,
    pyg_api_set_context,
};

/* --- discarding -------------------------------------------------------------- */

/* Free everything of a parked stacklet without running it. */
static void
pyg_stacklet_discard(pyg_stacklet_t *s, int free_datastack)
{
    PyObject *entry = s->entry;
    s->entry = NULL;
    s->dead = 1;
    s->start = NULL;
    PyMem_RawFree(s->copy);
    s->copy = NULL;
    s->saved = 0;
    s->capacity = 0;
    pyg_pystate_clear(&s->py, free_datastack);
    Py_XDECREF(entry);
}

/* The Stacklet object is being deallocated: nothing refers to it any more. */
static void
pyg_stacklet_dealloc(pyg_stacklet_t *s, int free_datastack)
{
    PyObject *prev = s->prev_ref;
    pyg_stacklet_discard(s, free_datastack);
    s->prev = NULL;
    s->prev_ref = NULL;
    Py_XDECREF(prev);
}

#endif /* PYG_SWITCH_H */
