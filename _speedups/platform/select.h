/* platform/select.h -- pick the stack-switch routine for this CPU and ABI.
 *
 * Each platform header defines one function,
 *
 *     int pyg_stack_switch(pyg_save_fn save, pyg_restore_fn restore,
 *                          pyg_start_fn start);
 *
 * written in assembly (see pyg_switch.h for the protocol), and the macro
 * PYG_PLATFORM_NAME.  One #if ladder; anything else is an #error so that
 * setup.py falls back to the pure-Python backend with a clear message.
 */
#ifndef PYG_PLATFORM_SELECT_H
#define PYG_PLATFORM_SELECT_H

/* PYG_PLATFORM_NONE pretends this CPU has no routine: the tests build with it
 * to check that the build falls back to the pure backend (see setup.py). */
#if defined(PYG_PLATFORM_NONE)
#  error "pygreenlet: no stack-switch routine for this platform (PYG_PLATFORM_NONE is defined)"

/* Every routine is assembly for ELF targets (ELF directives, unprefixed
 * symbol names) and GNU-style inline assembly: Linux and the BSDs with GCC or
 * Clang, not macOS or Windows. */
#elif !defined(__ELF__) || !(defined(__GNUC__) || defined(__clang__))
#  error "pygreenlet: no stack-switch routine for this platform (the routines need an ELF target and GCC or Clang)"

/* x86_64, System V ABI; not x32 (ILP32). */
#elif defined(__x86_64__) && !defined(__ILP32__)
#  include "switch_x86_64_sysv.h"

/* AArch64, AAPCS64; not ILP32. */
#elif defined(__aarch64__) && defined(__LP64__) && !defined(__ILP32__)
#  include "switch_aarch64_aapcs64.h"

/* 32-bit ARM, ARMv7 or later (movw/movt, Thumb-2), hard-float AAPCS (VFP
 * registers pass arguments, so d8-d15 exist and are callee-saved). */
#elif defined(__arm__) && defined(__ARM_PCS_VFP) && defined(__ARM_ARCH) \
    && __ARM_ARCH >= 7 && (!defined(__thumb__) || defined(__thumb2__))
#  include "switch_arm32_aapcs.h"

#else
#  error "pygreenlet: no stack-switch routine for this platform (supported: x86_64 System V, AArch64, 32-bit ARMv7 hard-float; ELF, GCC or Clang)"
#endif

#endif /* PYG_PLATFORM_SELECT_H */
