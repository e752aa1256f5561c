/* pyg_compat.h -- named feature flags for the CPython versions pygreenlet's
 * compiled primitive supports (3.9 to 3.13).
 *
 * Everything else in _speedups/ tests these PYG_* flags, never PY_VERSION_HEX
 * itself: each flag names one thing that changed in CPython and says which
 * change did it, so adding a version means reading this file only.
 */
#ifndef PYG_COMPAT_H
#define PYG_COMPAT_H

#include <Python.h>

#if PY_VERSION_HEX < 0x03090000 || PY_VERSION_HEX >= 0x030E0000
#  error "pygreenlet's compiled primitive supports CPython 3.9 to 3.13 only"
#endif

/* A free-threaded build (3.13t) keeps per-thread state that a switch would
 * also have to move (critical sections, docs/internals/interpreter_state.rst): not supported yet, so the
 * build falls back to the reference backend. */
#ifdef Py_GIL_DISABLED
#  error "pygreenlet's compiled primitive does not support free-threaded CPython yet"
#endif

/* --- where the running Python frame is recorded -------------------------- */

/* tstate->frame is the running PyFrameObject* (removed by the 3.11 frame
 * rewrite, bpo-44590 / GH-88796 "_PyInterpreterFrame"). */
#define PYG_TSTATE_FRAME            (PY_VERSION_HEX < 0x030B0000)

/* tstate->cframe points at a _PyCFrame living on the C stack of the running
 * eval loop (added in 3.10 by bpo-43760; removed in 3.13 by GH-108035). */
#define PYG_CFRAME                  (PY_VERSION_HEX >= 0x030A0000 && PY_VERSION_HEX < 0x030D0000)

/* cframe->use_tracing caches "a tracer is set" per C frame record (3.10,
 * bpo-43760; gone in 3.12 with PEP 669 instrumentation). */
#define PYG_CFRAME_USE_TRACING      (PY_VERSION_HEX >= 0x030A0000 && PY_VERSION_HEX < 0x030C0000)

/* Frames are _PyInterpreterFrame records in per-thread data-stack chunks
 * (3.11, bpo-44590); frame objects are created lazily. */
#define PYG_INTERP_FRAMES           (PY_VERSION_HEX >= 0x030B0000)

/* The top _PyInterpreterFrame is cframe->current_frame (3.11, 3.12)... */
#define PYG_CFRAME_CURRENT_FRAME    (PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030D0000)
/* ...and tstate->current_frame once _PyCFrame is gone (3.13, GH-108035). */
#define PYG_TSTATE_CURRENT_FRAME    (PY_VERSION_HEX >= 0x030D0000)

/* tstate->datastack_chunk/top/limit hold the frame data stack (3.11, bpo-44590). */
#define PYG_DATASTACK               (PY_VERSION_HEX >= 0x030B0000)

/* The eval loop puts an "entry" _PyInterpreterFrame (FRAME_OWNED_BY_CSTACK)
 * on the C stack (3.12, GH-96421 / CPython #113037), so a parked frame chain
 * passes through C-stack memory: we must relink it while parked (docs/internals/hazards.rst: frames on the C stack).
 * Needs the internal pycore_frame.h, hence Py_BUILD_CORE. */
#define PYG_CSTACK_FRAMES           (PY_VERSION_HEX >= 0x030C0000)

/* Creating a frame object can allocate and so run the GC (gevent #1985):
 * on 3.11+ materialize the top frame object with the GC disabled. */
#define PYG_MATERIALIZE_FRAME       (PY_VERSION_HEX >= 0x030B0000)

/* --- recursion counters --------------------------------------------------- */

/* tstate->recursion_depth counts up (3.9, 3.10). */
#define PYG_RECURSION_DEPTH         (PY_VERSION_HEX < 0x030B0000)
/* tstate->recursion_remaining counts down from recursion_limit (3.11, bpo-45829). */
#define PYG_RECURSION_REMAINING     (PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000)
/* Separate Python and C counters: py_recursion_remaining / c_recursion_remaining
 * (3.12, GH-91079 / CPython PR 96510). */
#define PYG_PY_C_RECURSION          (PY_VERSION_HEX >= 0x030C0000)

#if PY_VERSION_HEX >= 0x030D0000
#  define PYG_C_RECURSION_LIMIT Py_C_RECURSION_LIMIT   /* renamed public in 3.13 */
#elif PY_VERSION_HEX >= 0x030C0000
#  define PYG_C_RECURSION_LIMIT C_RECURSION_LIMIT      /* 3.12 spelling */
#endif

/* --- deferred deallocation ("trash can") ---------------------------------- */

/* tstate->trash_delete_nesting (3.9 to 3.11). */
#define PYG_TRASH_NESTING_FIELD     (PY_VERSION_HEX < 0x030C0000)
/* tstate->trash.delete_nesting (3.12, GH-101659 moved it into a struct). */
#define PYG_TRASH_STRUCT            (PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000)
/* tstate->delete_later is the only per-thread trash state (3.13, GH-117657). */
#define PYG_DELETE_LATER            (PY_VERSION_HEX >= 0x030D0000)

/* --- exception state ------------------------------------------------------- */

/* _PyErr_StackItem holds (type, value, traceback) until 3.10; from 3.11 only
 * exc_value (bpo-45711). */
#define PYG_EXC_TRIPLE              (PY_VERSION_HEX < 0x030B0000)

/* --- small API differences -------------------------------------------------- */

/* PyThreadState_EnterTracing()/LeaveTracing() suspend the interpreter's trace
 * and profile hooks for one thread (public API from 3.11);
 * before, the same is done on tstate->tracing and use_tracing by hand. */
#define PYG_ENTER_TRACING_API       (PY_VERSION_HEX >= 0x030B0000)

/* Py_IsFinalizing() is public from 3.13; _Py_IsFinalizing() before (GH-108014). */
#define PYG_PUBLIC_IS_FINALIZING    (PY_VERSION_HEX >= 0x030D0000)

#if PYG_PUBLIC_IS_FINALIZING
#  define pyg_is_finalizing() Py_IsFinalizing()
#else
#  define pyg_is_finalizing() _Py_IsFinalizing()
#endif

/* The C-frame record type was called CFrame in 3.10 and _PyCFrame from 3.11. */
#if PYG_CFRAME
#  if PY_VERSION_HEX < 0x030B0000
typedef CFrame pyg_cframe_t;
#  else
typedef _PyCFrame pyg_cframe_t;
#  endif
#endif

/* The layouts of _PyInterpreterFrame and PyFrameObject (3.11+) are internal:
 * relinking parked chains (PYG_CSTACK_FRAMES) and handing frames over to
 * their frame objects when a stacklet is discarded (PYG_INTERP_FRAMES,
 * docs/internals/hazards.rst: frames that outlive their stack) need them. */
#if PYG_INTERP_FRAMES
#  ifndef Py_BUILD_CORE
#    define Py_BUILD_CORE 1
#  endif
#  include "internal/pycore_frame.h"
#endif

/* 3.9/3.10: PyFrameObject's fields (f_back, f_gen) are in frameobject.h,
 * which Python.h does not include. */
#if PYG_TSTATE_FRAME
#  include <frameobject.h>
#endif

/* The code object of an interpreter frame: f_code until 3.12, f_executable
 * (a strong reference that may be a code object or None) from 3.13. */
#if PY_VERSION_HEX >= 0x030D0000
#  define PYG_IFRAME_CODE(f)        ((PyCodeObject *)(f)->f_executable)
#elif PYG_INTERP_FRAMES
#  define PYG_IFRAME_CODE(f)        ((f)->f_code)
#endif
/* Its function: f_func (a PyFunctionObject *) in 3.11, f_funcobj from 3.12. */
#if PY_VERSION_HEX >= 0x030C0000
#  define PYG_IFRAME_FUNC(f)        ((f)->f_funcobj)
#elif PYG_INTERP_FRAMES
#  define PYG_IFRAME_FUNC(f)        ((PyObject *)(f)->f_func)
#endif

#endif /* PYG_COMPAT_H */
