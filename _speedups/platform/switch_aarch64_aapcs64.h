/* platform/switch_aarch64_aapcs64.h -- the stack switch for AArch64 (64-bit
 * ARM), Procedure Call Standard AAPCS64, on ELF targets (Linux, the BSDs; not
 * macOS or Windows), GCC or Clang.
 *
 * Callee-saved state of AAPCS64 (section 6.1) and what this routine does:
 *
 *   register      callee-saved?   here
 *   ------------  -------------   -----------------------------------------
 *   x19 - x28     yes             stored (stp) in this stacklet's slice;
 *                                 x19/x20 then carry restore/start across
 *                                 the save() call
 *   x29 (FP)      yes             stored with x30 at the bottom of the frame
 *   x30 (LR)      return address  stored: it is where the target resumes,
 *                                 and every blr below overwrites it
 *   sp            yes             IS the switch: saved by save(), which
 *                                 records it as the stacklet's stack_start,
 *                                 and replaced by the target's; always
 *                                 16-byte aligned (the frame is 176 bytes)
 *   d8 - d15      yes (low 64     stored (the upper halves of v8 - v15 are
 *                 bits only)      not callee-saved)
 *   FPCR          control         mrs/msr: rounding mode, flush-to-zero,
 *                                 default NaN, alternative half precision
 *                                 travel with the stacklet (upstream greenlet
 *                                 keeps none of them; x86_64 here keeps MXCSR
 *                                 and the x87 control word likewise)
 *   FPSR          status          not saved: the cumulative exception flags
 *                                 stay with the thread
 *   x18           platform        not touched
 *   x0 - x17, v0 - v7, v16 - v31  no (caller-saved); x0 - x2 bring the
 *                                 arguments, x9 is scratch
 *
 * Every callee-saved register is stored *inside the slice that is copied to
 * the heap*, so a stacklet's registers are parked with its stack bytes and
 * come back when those bytes are copied back.
 *
 * The routine is written in assembly, not as C with inline asm, so that the
 * compiler cannot keep anything in a stack slot or register that becomes
 * stale when sp moves (upstream greenlet's AArch64 switch once returned a
 * value it had cached in a stack slot that the restore had overwritten);
 * see pyg_switch.h for the protocol:
 *
 *   int pyg_stack_switch(pyg_save_fn save,        x0
 *                        pyg_restore_fn restore,  x1
 *                        pyg_start_fn start);     x2
 *
 * Frame (176 bytes, sp-relative, lowest address first):
 *
 *   [sp, #0]    x29, x30        [sp, #96]   d8, d9
 *   [sp, #16]   x19, x20        [sp, #112]  d10, d11
 *   [sp, #32]   x21, x22        [sp, #128]  d12, d13
 *   [sp, #48]   x23, x24        [sp, #144]  d14, d15
 *   [sp, #64]   x25, x26        [sp, #160]  FPCR (8 bytes), 8 bytes padding
 *   [sp, #80]   x27, x28
 *
 * Branch protection: the function is only called directly (bl from
 * pyg_switch), never through a pointer, and returns with an unsigned x30
 * that it stored itself, so it needs no return-address signing.  When the
 * compiler builds with BTI on (it then marks the whole object as BTI
 * compatible, this assembly included), the function still opens with a
 * "bti c" landing pad, in case a linker veneer ever reaches it indirectly.
 */
#ifndef PYG_SWITCH_AARCH64_AAPCS64_H
#define PYG_SWITCH_AARCH64_AAPCS64_H

#define PYG_PLATFORM_NAME "aarch64-aapcs64"

typedef char *(*pyg_save_fn)(char *stack_pointer);
typedef void (*pyg_restore_fn)(void);
typedef void (*pyg_start_fn)(void);

/* Defined in the assembly below; hidden so no other library can interpose it. */
extern int pyg_stack_switch(pyg_save_fn save, pyg_restore_fn restore, pyg_start_fn start)
    __attribute__((visibility("hidden")));

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#  define PYG_AARCH64_LANDING_PAD \
    "    hint    #34\n"              /* bti c: landing pad (a no-op on CPUs without BTI) */
#else
#  define PYG_AARCH64_LANDING_PAD
#endif

__asm__(
    "    .text\n"
    "    .p2align 4\n"
    "    .globl  pyg_stack_switch\n"
    "    .hidden pyg_stack_switch\n"
    "    .type   pyg_stack_switch, %function\n"
    "pyg_stack_switch:\n"
    "    .cfi_startproc\n"
    PYG_AARCH64_LANDING_PAD
    "    stp     x29, x30, [sp, #-176]!\n"  /* open the frame; store FP and LR (the return address) */
    "    .cfi_def_cfa_offset 176\n"      /* unwind info: CFA is sp + 176 */
    "    .cfi_offset x29, -176\n"        /* unwind info: x29 at [sp, #0] */
    "    .cfi_offset x30, -168\n"        /* unwind info: x30 at [sp, #8] */
    "    stp     x19, x20, [sp, #16]\n"  /* store x19, x20 (callee-saved; reused below) */
    "    .cfi_offset x19, -160\n"        /* unwind info */
    "    .cfi_offset x20, -152\n"        /* unwind info */
    "    stp     x21, x22, [sp, #32]\n"  /* store x21, x22 (callee-saved) */
    "    .cfi_offset x21, -144\n"        /* unwind info */
    "    .cfi_offset x22, -136\n"        /* unwind info */
    "    stp     x23, x24, [sp, #48]\n"  /* store x23, x24 (callee-saved) */
    "    .cfi_offset x23, -128\n"        /* unwind info */
    "    .cfi_offset x24, -120\n"        /* unwind info */
    "    stp     x25, x26, [sp, #64]\n"  /* store x25, x26 (callee-saved) */
    "    .cfi_offset x25, -112\n"        /* unwind info */
    "    .cfi_offset x26, -104\n"        /* unwind info */
    "    stp     x27, x28, [sp, #80]\n"  /* store x27, x28 (callee-saved) */
    "    .cfi_offset x27, -96\n"         /* unwind info */
    "    .cfi_offset x28, -88\n"         /* unwind info */
    "    stp     d8, d9, [sp, #96]\n"    /* store d8, d9 (low halves of v8, v9: callee-saved) */
    "    .cfi_offset d8, -80\n"          /* unwind info */
    "    .cfi_offset d9, -72\n"          /* unwind info */
    "    stp     d10, d11, [sp, #112]\n" /* store d10, d11 */
    "    .cfi_offset d10, -64\n"         /* unwind info */
    "    .cfi_offset d11, -56\n"         /* unwind info */
    "    stp     d12, d13, [sp, #128]\n" /* store d12, d13 */
    "    .cfi_offset d12, -48\n"         /* unwind info */
    "    .cfi_offset d13, -40\n"         /* unwind info */
    "    stp     d14, d15, [sp, #144]\n" /* store d14, d15 */
    "    .cfi_offset d14, -32\n"         /* unwind info */
    "    .cfi_offset d15, -24\n"         /* unwind info */
    "    mrs     x9, fpcr\n"             /* x9 = FPCR: rounding mode, flush-to-zero, default NaN */
    "    str     x9, [sp, #160]\n"       /* park it with the other registers */
    "    mov     x19, x1\n"              /* keep restore() in x19: callee-saved, survives save() */
    "    mov     x20, x2\n"              /* keep start() in x20 */
    "    mov     x9, x0\n"               /* x9 = save() */
    "    mov     x0, sp\n"               /* arg 0: our stack pointer = lowest byte of our slice */
    "    blr     x9\n"                   /* x0 = save(sp): target's stack pointer, or NULL */
    "    cbz     x0, 1f\n"               /* NULL means: the target has never run -> start it here */
    "    mov     sp, x0\n"               /* THE SWITCH: from here on we are on the target's slice */
    "    blr     x19\n"                  /* restore(): copy the target's saved bytes back above sp */
    "    ldr     x9, [sp, #160]\n"       /* the target's FPCR, now that its bytes are back */
    "    msr     fpcr, x9\n"             /* reload it */
    "    mov     w0, #0\n"               /* force the return value 0 now that the target's bytes are back */
    "    .cfi_remember_state\n"          /* unwind info: remember the full frame for label 1 */
    "    ldp     d14, d15, [sp, #144]\n" /* the target's d14, d15 */
    "    .cfi_restore d14\n"             /* unwind info */
    "    .cfi_restore d15\n"             /* unwind info */
    "    ldp     d12, d13, [sp, #128]\n" /* the target's d12, d13 */
    "    .cfi_restore d12\n"             /* unwind info */
    "    .cfi_restore d13\n"             /* unwind info */
    "    ldp     d10, d11, [sp, #112]\n" /* the target's d10, d11 */
    "    .cfi_restore d10\n"             /* unwind info */
    "    .cfi_restore d11\n"             /* unwind info */
    "    ldp     d8, d9, [sp, #96]\n"    /* the target's d8, d9 */
    "    .cfi_restore d8\n"              /* unwind info */
    "    .cfi_restore d9\n"              /* unwind info */
    "    ldp     x27, x28, [sp, #80]\n"  /* the target's x27, x28 */
    "    .cfi_restore x27\n"             /* unwind info */
    "    .cfi_restore x28\n"             /* unwind info */
    "    ldp     x25, x26, [sp, #64]\n"  /* the target's x25, x26 */
    "    .cfi_restore x25\n"             /* unwind info */
    "    .cfi_restore x26\n"             /* unwind info */
    "    ldp     x23, x24, [sp, #48]\n"  /* the target's x23, x24 */
    "    .cfi_restore x23\n"             /* unwind info */
    "    .cfi_restore x24\n"             /* unwind info */
    "    ldp     x21, x22, [sp, #32]\n"  /* the target's x21, x22 */
    "    .cfi_restore x21\n"             /* unwind info */
    "    .cfi_restore x22\n"             /* unwind info */
    "    ldp     x19, x20, [sp, #16]\n"  /* the target's x19, x20 */
    "    .cfi_restore x19\n"             /* unwind info */
    "    .cfi_restore x20\n"             /* unwind info */
    "    ldp     x29, x30, [sp], #176\n" /* the target's FP and return address; close the frame */
    "    .cfi_restore x29\n"             /* unwind info */
    "    .cfi_restore x30\n"             /* unwind info */
    "    .cfi_def_cfa_offset 0\n"        /* unwind info: CFA is sp again */
    "    ret\n"                          /* return 0 into the target's own pyg_stack_switch call */
    "1:\n"
    "    .cfi_restore_state\n"           /* unwind info: back to the full frame */
    "    blr     x20\n"                  /* start(): the new stacklet runs below this frame */
    "    brk     #0x3e8\n"               /* start() never returns; trap if it does */
    "    .cfi_endproc\n"                 /* unwind info: end */
    "    .size   pyg_stack_switch, .-pyg_stack_switch\n"  /* symbol size for tools */
);

#undef PYG_AARCH64_LANDING_PAD

#endif /* PYG_SWITCH_AARCH64_AAPCS64_H */
