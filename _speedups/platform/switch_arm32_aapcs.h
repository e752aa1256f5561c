/* platform/switch_arm32_aapcs.h -- the stack switch for 32-bit ARM (ARMv7 or
 * later), AAPCS with the VFP hard-float variant (Debian's armhf), on ELF
 * targets, GCC or Clang; in Thumb-2 code (Debian's default) or ARM code
 * (-marm), whichever the compiler generates.
 *
 * Callee-saved state of the AAPCS (section 5.1.1, and 5.1.2.1 for VFP) and
 * what this routine does with it:
 *
 *   register      callee-saved?   here
 *   ------------  -------------   -----------------------------------------
 *   r4 - r11      yes             pushed on this stacklet's slice; r4/r5 then
 *                                 carry restore/start across the save() call.
 *                                 The frame pointer is among them: r7 in
 *                                 Thumb code, r11 in ARM code
 *   lr (r14)      return address  pushed: it is where the target resumes,
 *                                 and every blx below overwrites it; popped
 *                                 straight into pc (which also switches to
 *                                 the caller's instruction set)
 *   sp (r13)      yes             IS the switch: saved by save(), which
 *                                 records it as the stacklet's stack_start,
 *                                 and replaced by the target's; 8-byte
 *                                 aligned at every call (the frame is 104
 *                                 bytes)
 *   d8 - d15      yes (VFP)       vpush/vpop (s16 - s31)
 *   FPSCR         control bits    vmrs/vmsr: bits 8-26 (trap enables, Len,
 *                                 Stride, rounding mode, flush-to-zero,
 *                                 default NaN, alternative half precision)
 *                                 travel with the stacklet (upstream greenlet
 *                                 keeps none of them); the condition flags
 *                                 and cumulative exception flags (bits 0-7,
 *                                 27-31) stay with the thread
 *   r0 - r3, r12, d0 - d7, d16 - d31   no (caller-saved); r0 - r2 bring the
 *                                 arguments, r3 is scratch
 *
 * Every callee-saved register is pushed on the stack *inside the slice that
 * is copied to the heap*, so a stacklet's registers are parked with its stack
 * bytes and come back when those bytes are copied back.
 *
 * The routine is written in assembly, not as C with inline asm, so that the
 * compiler cannot keep anything in a stack slot or register that becomes
 * stale when sp moves; see pyg_switch.h for the protocol:
 *
 *   int pyg_stack_switch(pyg_save_fn save,        r0
 *                        pyg_restore_fn restore,  r1
 *                        pyg_start_fn start);     r2
 *
 * Frame (104 bytes, lowest address first): FPSCR (4), d8 - d15 (64),
 * r4 - r11 (32), lr (4).
 *
 * It is assembled in the instruction set the compiler uses for the rest of
 * the file (__thumb__ or not), so the assembler's state is the same after it
 * as before.  The function pointers are called with blx, which works whether
 * they are Thumb or ARM code; ".thumb_func" gives our own symbol the Thumb
 * bit in Thumb builds.  The encodings used (push/pop of r4 - r11, mov to and
 * from sp, movw/movt) are all valid in both Thumb-2 and ARM state.
 */
#ifndef PYG_SWITCH_ARM32_AAPCS_H
#define PYG_SWITCH_ARM32_AAPCS_H

#if defined(__thumb__)
#  define PYG_PLATFORM_NAME "arm32-aapcs-vfp-thumb2"
#  define PYG_ARM32_ISA \
    "    .thumb\n"                      /* assemble Thumb-2, as the compiler does here */ \
    "    .thumb_func\n"                 /* the symbol below is Thumb code: its address gets bit 0 */
#else
#  define PYG_PLATFORM_NAME "arm32-aapcs-vfp-arm"
#  define PYG_ARM32_ISA \
    "    .arm\n"                        /* assemble ARM (A32) code, as the compiler does here */
#endif

typedef char *(*pyg_save_fn)(char *stack_pointer);
typedef void (*pyg_restore_fn)(void);
typedef void (*pyg_start_fn)(void);

/* Defined in the assembly below; hidden so no other library can interpose it. */
extern int pyg_stack_switch(pyg_save_fn save, pyg_restore_fn restore, pyg_start_fn start)
    __attribute__((visibility("hidden")));

__asm__(
    "    .text\n"
    "    .syntax unified\n"
    "    .p2align 2\n"
    "    .globl  pyg_stack_switch\n"
    "    .hidden pyg_stack_switch\n"
    "    .type   pyg_stack_switch, %function\n"
    PYG_ARM32_ISA
    "pyg_stack_switch:\n"
    "    .cfi_startproc\n"
    "    push    {r4-r11, lr}\n"         /* save r4-r11 (callee-saved) and the return address */
    "    .cfi_adjust_cfa_offset 36\n"    /* unwind info: CFA is 36 bytes further away */
    "    .cfi_rel_offset r4, 0\n"        /* unwind info: r4 at [sp, #0] */
    "    .cfi_rel_offset r5, 4\n"        /* unwind info */
    "    .cfi_rel_offset r6, 8\n"        /* unwind info */
    "    .cfi_rel_offset r7, 12\n"       /* unwind info */
    "    .cfi_rel_offset r8, 16\n"       /* unwind info */
    "    .cfi_rel_offset r9, 20\n"       /* unwind info */
    "    .cfi_rel_offset r10, 24\n"      /* unwind info */
    "    .cfi_rel_offset r11, 28\n"      /* unwind info */
    "    .cfi_rel_offset lr, 32\n"       /* unwind info: the return address at [sp, #32] */
    "    vpush   {d8-d15}\n"             /* save d8-d15 (callee-saved with VFP) */
    "    .cfi_adjust_cfa_offset 64\n"    /* unwind info */
    "    vmrs    r3, fpscr\n"            /* r3 = FPSCR (rounding mode, flush-to-zero, ...) */
    "    push    {r3}\n"                 /* park it; 104 bytes pushed: sp is 8-aligned again */
    "    .cfi_adjust_cfa_offset 4\n"     /* unwind info */
    "    mov     r4, r1\n"               /* keep restore() in r4: callee-saved, survives save() */
    "    mov     r5, r2\n"               /* keep start() in r5 */
    "    mov     r3, r0\n"               /* r3 = save() */
    "    mov     r0, sp\n"               /* arg 0: our stack pointer = lowest byte of our slice */
    "    blx     r3\n"                   /* r0 = save(sp): target's stack pointer, or NULL */
    "    cmp     r0, #0\n"               /* NULL means: the target has never run */
    "    beq     1f\n"                   /* -> start it on this stack, below our frame */
    "    mov     sp, r0\n"               /* THE SWITCH: from here on we are on the target's slice */
    "    blx     r4\n"                   /* restore(): copy the target's saved bytes back above sp */
    "    movw    r1, #0xff00\n"          /* r1 = 0x07ffff00, the FPSCR control bits 8-26 ... */
    "    movt    r1, #0x07ff\n"          /* ... (upper half) */
    "    ldr     r3, [sp]\n"             /* r3 = the target's FPSCR, now that its bytes are back */
    "    vmrs    r2, fpscr\n"            /* r2 = this thread's FPSCR: its flags stay */
    "    and     r3, r3, r1\n"           /* the target's control bits ... */
    "    bic     r2, r2, r1\n"           /* ... and the thread's flags ... */
    "    orr     r3, r3, r2\n"           /* ... together */
    "    vmsr    fpscr, r3\n"            /* reload FPSCR */
    "    movs    r0, #0\n"               /* force the return value 0 now that the target's bytes are back */
    "    add     sp, sp, #4\n"           /* drop the FPSCR slot */
    "    .cfi_remember_state\n"          /* unwind info: remember the full frame for label 1 */
    "    .cfi_adjust_cfa_offset -4\n"    /* unwind info */
    "    vpop    {d8-d15}\n"             /* the target's d8-d15 */
    "    .cfi_adjust_cfa_offset -64\n"   /* unwind info */
    "    pop     {r4-r11, pc}\n"         /* the target's r4-r11; return 0 into its pyg_stack_switch call */
    "1:\n"
    "    .cfi_restore_state\n"           /* unwind info: back to the full frame */
    "    blx     r5\n"                   /* start(): the new stacklet runs below this frame */
    "    udf     #0\n"                   /* start() never returns; trap if it does */
    "    .cfi_endproc\n"                 /* unwind info: end */
    "    .size   pyg_stack_switch, .-pyg_stack_switch\n"  /* symbol size for tools */
);

#undef PYG_ARM32_ISA

#endif /* PYG_SWITCH_ARM32_AAPCS_H */
