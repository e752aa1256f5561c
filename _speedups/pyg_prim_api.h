/* The compiled primitive's C-level entry points for the switch fast path.
 *
 * pygreenlet._speedups_prim owns the stacklets, the thread records and the
 * C stack; pygreenlet._speedups (the compiled semantics) normally reaches them
 * through the primitive's cpdef functions (pygreenlet/_speedups_prim.pxd), one
 * Cython call each.  The switch fast path of pyg_type.h (the common case of
 * _semantics.py's _switch, docs/internals/type.rst: "The switch fast path")
 * instead takes this table once, from _speedups_prim.fast_api(), and calls
 * these directly with the thread record it got from `thread`, so that one
 * switch reads the primitive's thread-local pointer once.
 *
 * The record is opaque here: only the primitive (pyg_switch.h) knows its
 * layout.  Every function is for the calling thread and runs no Python code
 * unless it says so.
 */
#ifndef PYG_PRIM_API_H
#define PYG_PRIM_API_H

#include <Python.h>

typedef struct {
    /* The calling thread's record, and in *data what the semantics stored with
     * set_thread_data() (borrowed); NULL (and *data untouched) if the thread
     * has none. */
    void *(*thread)(PyObject **data);
    /* 1 if `stacklet` is a parked stacklet of this thread that has run before
     * and is not the running one, so that switch_to() can resume it at once;
     * else 0 (the semantics' general path then goes through switch(), which
     * raises the primitive's errors). */
    int (*resumable)(void *th, PyObject *stacklet);
    /* Park the running stacklet and resume `stacklet` (resumable() said 1);
     * returns when the running stacklet is resumed.  Runs no Python code. */
    void (*switch_to)(void *th, PyObject *stacklet);
    /* settle(): drop what the switch into the running stacklet left behind
     * (may run any code, even switch). */
    void (*settle)(void *th);
    /* The running thread's contextvars.Context, new reference, None for none. */
    PyObject *(*get_context)(void *th);
    /* Make `ctx` (a Context, checked by the caller, or None) the thread's
     * context.  Drops the thread's reference to the one before, which a
     * greenlet's state still holds in every use of the semantics. */
    void (*set_context)(void *th, PyObject *ctx);
} pyg_prim_api_t;

#endif /* PYG_PRIM_API_H */
