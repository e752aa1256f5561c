/* pyg_compat.h -- named feature flags for the CPython versions pygreenlet's
 * compiled primitive supports (3.9 to 3.14).
 *
 * Everything else in _speedups/ tests these PYG_* flags, never PY_VERSION_HEX
 * itself: each flag names one thing that changed in CPython and says which
 * change did it, so adding a version means reading this file only.
 */
#ifndef PYG_COMPAT_H
#define PYG_COMPAT_H

#include <Python.h>

#if PY_VERSION_HEX < 0x03090000 || PY_VERSION_HEX >= 0x030F0000
#  error "pygreenlet's compiled primitive supports CPython 3.9 to 3.14 only"
#endif

/* A free-threaded build (3.13t, 3.14t) keeps per-thread state that a switch
 * would also have to move (critical sections, and on 3.14t the C-stack
 * references of _PyThreadStateImpl.c_stack_refs;
 * docs/internals/interpreter_state.rst): not supported yet, so the build
 * falls back to the reference backend. */
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

/* The internal frame headers are split (3.14 moved the
 * _PyInterpreterFrame layout out of pycore_frame.h): the struct is in
 * pycore_interpframe_structs.h, the inline helpers we use
 * (_PyFrame_IsIncomplete) in pycore_interpframe.h. */
#define PYG_SPLIT_INTERPFRAME_HEADERS (PY_VERSION_HEX >= 0x030E0000)

/* The eval loop keeps a frame's value-stack pointer in a local variable while
 * it runs, and writes it to frame->stackpointer only around calls that can
 * escape (3.14; debug builds set the field to NULL meanwhile and assert on
 * both transitions).  A parked stacklet's top frame is inside such a call
 * (our switch), so its stackpointer is what the eval loop reloads when the
 * stacklet resumes: we record it on park and check and restore it on resume
 * (docs/internals/interpreter_state.rst). */
#define PYG_FRAME_STACKPOINTER      (PY_VERSION_HEX >= 0x030E0000)

/* tstate->current_executor is the tier-2 (JIT or micro-op interpreter)
 * executor running on this thread (3.14 keeps it in the thread
 * state): it belongs to the code of the running stacklet. */
#define PYG_CURRENT_EXECUTOR        (PY_VERSION_HEX >= 0x030E0000)

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
/* The Python depth is py_recursion_remaining, counting down from
 * py_recursion_limit (3.12, GH-91079 / CPython PR 96510; still so in 3.14). */
#define PYG_PY_RECURSION            (PY_VERSION_HEX >= 0x030C0000)
/* ...and the C depth a separate counter, c_recursion_remaining, counting down
 * from a compile-time limit (3.12 and 3.13 only). */
#define PYG_PY_C_RECURSION          (PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030E0000)

#if PY_VERSION_HEX >= 0x030E0000
/* No C recursion counter any more (3.14):
 * the eval loop and the recursive C paths compare the machine stack pointer
 * with c_stack_soft_limit / c_stack_hard_limit of _PyThreadStateImpl,
 * computed once per thread from the OS thread's stack bounds.  Every stacklet
 * runs on the thread's own C stack (its slice sits below the slices it was
 * started under), so those limits are true for each of them and a switch
 * leaves them alone: a greenlet started deep in the stack has less room left,
 * exactly as much as the OS gives it.  Nothing to save
 * (docs/internals/interpreter_state.rst: the C stack). */
#  define PYG_C_STACK_LIMITS 1
#elif PY_VERSION_HEX >= 0x030D0000
#  define PYG_C_STACK_LIMITS 0
#  define PYG_C_RECURSION_LIMIT Py_C_RECURSION_LIMIT   /* renamed public in 3.13 */
#elif PY_VERSION_HEX >= 0x030C0000
#  define PYG_C_STACK_LIMITS 0
#  define PYG_C_RECURSION_LIMIT C_RECURSION_LIMIT      /* 3.12 spelling */
#else
#  define PYG_C_STACK_LIMITS 0
#endif

/* --- deferred deallocation ("trash can") ---------------------------------- */

/* tstate->trash_delete_nesting (3.9 to 3.11). */
#define PYG_TRASH_NESTING_FIELD     (PY_VERSION_HEX < 0x030C0000)
/* tstate->trash.delete_nesting (3.12, GH-101659 moved it into a struct). */
#define PYG_TRASH_STRUCT            (PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030D0000)
/* tstate->delete_later is the only per-thread trash state (3.13, GH-117657). */
#define PYG_DELETE_LATER            (PY_VERSION_HEX >= 0x030D0000)

/* --- free-threading state present in every build ---------------------------- */

/* tstate->critical_section chains the per-object locks of free-threaded
 * builds from the C stack (3.13, PEP 703).  A GIL build never sets it (it is
 * always zero there) and free-threaded builds are refused above, so a switch
 * only checks that it is zero. */
#define PYG_CRITICAL_SECTION        (PY_VERSION_HEX >= 0x030D0000)

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
#  if PYG_SPLIT_INTERPFRAME_HEADERS
/* 3.14's internal headers have inline functions with unused parameters: they
 * are CPython's, not ours, so -Wextra is quiet for them only. */
#    if defined(__GNUC__)
#      pragma GCC diagnostic push
#      pragma GCC diagnostic ignored "-Wunused-parameter"
#    endif
#    include "internal/pycore_interpframe_structs.h"
#    include "internal/pycore_interpframe.h"
#    include "internal/pycore_frame.h"      /* PyFrameObject (PYG_STACKREF_FRAMES) */
#    if defined(__GNUC__)
#      pragma GCC diagnostic pop
#    endif
#  else
#    include "internal/pycore_frame.h"
#  endif
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
/* A frame's slots (code, function, locals, value stack) are _PyStackRef
 * tagged references and its stack depth a pointer (3.14): a discarded
 * stacklet's frames are not handed over to their frame objects there; its
 * data-stack chunks are kept instead while a frame object or a running
 * generator can still reach them (docs/internals/hazards.rst: frames that
 * outlive their stack). */
#define PYG_STACKREF_FRAMES         (PY_VERSION_HEX >= 0x030E0000)

/* Its function: f_func (a PyFunctionObject *) in 3.11, f_funcobj from 3.12. */
#if PY_VERSION_HEX >= 0x030C0000
#  define PYG_IFRAME_FUNC(f)        ((f)->f_funcobj)
#elif PYG_INTERP_FRAMES
#  define PYG_IFRAME_FUNC(f)        ((PyObject *)(f)->f_func)
#endif

#endif /* PYG_COMPAT_H */
