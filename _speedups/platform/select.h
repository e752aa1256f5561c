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

/* The x86_64 routine is System V assembly for ELF targets (it uses ELF
 * directives and unprefixed symbol names): Linux and the BSDs, not macOS. */
#if defined(__x86_64__) && defined(__ELF__) && !defined(__ILP32__) \
    && (defined(__GNUC__) || defined(__clang__))
#  include "switch_x86_64_sysv.h"
#else
#  error "pygreenlet: no stack-switch routine for this platform (supported: x86_64 System V ELF with GCC or Clang)"
#endif

#endif /* PYG_PLATFORM_SELECT_H */
