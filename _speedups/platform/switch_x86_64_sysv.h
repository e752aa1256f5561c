/* platform/switch_x86_64_sysv.h -- the stack switch for x86-64, System V ABI
 * on ELF targets (Linux, the BSDs; not macOS, whose Mach-O symbols differ),
 * GCC or Clang.
 *
 * Callee-saved state of the System V AMD64 ABI (psABI 3.2.1, 3.2.3) and what
 * this routine does with it:
 *
 *   register      callee-saved?   here
 *   ------------  -------------   -----------------------------------------
 *   rbx           yes             pushed on the switching stacklet's stack
 *   rbp           yes             pushed (frame pointer or general register)
 *   r12 - r15     yes             pushed; r12/r13 then carry our arguments
 *                                 across the save() call
 *   rsp           yes             IS the switch: saved by save(), which
 *                                 records it as the stacklet's stack_start,
 *                                 and replaced by the target's
 *   MXCSR         control bits    stmxcsr/ldmxcsr: the whole register, so
 *                 yes             rounding mode, FTZ/DAZ and the sticky status
 *                                 flags travel with the stacklet (as upstream)
 *   x87 CW        yes             fnstcw/fldcw: precision and rounding control
 *   x87 SW, ST(*) no              not saved (caller-saved / scratch)
 *   xmm0 - xmm15  no              not saved (all caller-saved on SysV)
 *   rax, rcx, rdx, rsi, rdi, r8 - r11   no (caller-saved)
 *   direction flag   must be clear at calls and returns: nothing to do
 *
 * Because every callee-saved register is pushed on the stack *inside the
 * slice that is copied to the heap*, a stacklet's registers are parked with
 * its stack bytes and come back when those bytes are copied back.
 *
 * The routine is written in assembly, not as C with inline asm, so that the
 * compiler cannot keep anything in a stack slot or register that becomes
 * stale when rsp moves (the class of bug behind upstream #266/#271 and the
 * aarch64 "cached return value" fix); see pyg_switch.h for the protocol:
 *
 *   int pyg_stack_switch(pyg_save_fn save,        rdi
 *                        pyg_restore_fn restore,  rsi
 *                        pyg_start_fn start);     rdx
 *
 *   save(sp) copies the slices that must leave the C stack to the heap and
 *   returns the target's saved stack pointer, or NULL if the target has never
 *   run: then start() is called right here, below our frame, and never
 *   returns.  Otherwise we move rsp there, call restore() (which copies the
 *   target's heap bytes back *above* the new rsp, while its own frame lives
 *   below it), and return 0 into the target's earlier pyg_stack_switch call.
 */
#ifndef PYG_SWITCH_X86_64_SYSV_H
#define PYG_SWITCH_X86_64_SYSV_H

#define PYG_PLATFORM_NAME "x86_64-sysv"

typedef char *(*pyg_save_fn)(char *stack_pointer);
typedef void (*pyg_restore_fn)(void);
typedef void (*pyg_start_fn)(void);

/* Defined in the assembly below; hidden so no other library can interpose it. */
extern int pyg_stack_switch(pyg_save_fn save, pyg_restore_fn restore, pyg_start_fn start)
    __attribute__((visibility("hidden")));

__asm__(
    "    .text\n"
    "    .p2align 4\n"
    "    .globl  pyg_stack_switch\n"
    "    .hidden pyg_stack_switch\n"
    "    .type   pyg_stack_switch, @function\n"
    "pyg_stack_switch:\n"
    "    .cfi_startproc\n"
    "    pushq   %rbp\n"                 /* save rbp (callee-saved) on this stacklet's slice */
    "    .cfi_adjust_cfa_offset 8\n"     /* unwind info: CFA is 8 bytes further away */
    "    .cfi_rel_offset %rbp, 0\n"      /* unwind info: rbp saved at 0(%rsp) */
    "    pushq   %rbx\n"                 /* save rbx (callee-saved) */
    "    .cfi_adjust_cfa_offset 8\n"     /* unwind info */
    "    .cfi_rel_offset %rbx, 0\n"      /* unwind info: rbx saved at 0(%rsp) */
    "    pushq   %r12\n"                 /* save r12 (callee-saved; reused below for restore) */
    "    .cfi_adjust_cfa_offset 8\n"     /* unwind info */
    "    .cfi_rel_offset %r12, 0\n"      /* unwind info */
    "    pushq   %r13\n"                 /* save r13 (callee-saved; reused below for start) */
    "    .cfi_adjust_cfa_offset 8\n"     /* unwind info */
    "    .cfi_rel_offset %r13, 0\n"      /* unwind info */
    "    pushq   %r14\n"                 /* save r14 (callee-saved) */
    "    .cfi_adjust_cfa_offset 8\n"     /* unwind info */
    "    .cfi_rel_offset %r14, 0\n"      /* unwind info */
    "    pushq   %r15\n"                 /* save r15 (callee-saved) */
    "    .cfi_adjust_cfa_offset 8\n"     /* unwind info */
    "    .cfi_rel_offset %r15, 0\n"      /* unwind info */
    "    subq    $8, %rsp\n"             /* room for MXCSR (4 bytes) + x87 CW (2); rsp is now 16-aligned */
    "    .cfi_adjust_cfa_offset 8\n"     /* unwind info */
    "    stmxcsr (%rsp)\n"               /* save MXCSR: SSE rounding/FTZ/DAZ (+ sticky flags) */
    "    fnstcw  4(%rsp)\n"              /* save the x87 control word (precision, rounding) */
    "    movq    %rsi, %r12\n"           /* keep restore() in r12: callee-saved, survives save() */
    "    movq    %rdx, %r13\n"           /* keep start() in r13 */
    "    movq    %rdi, %rax\n"           /* rax = save() */
    "    movq    %rsp, %rdi\n"           /* arg 0: our stack pointer = lowest byte of our slice */
    "    call    *%rax\n"                /* rax = save(sp): target's stack pointer, or NULL */
    "    testq   %rax, %rax\n"           /* NULL means: the target has never run */
    "    jz      1f\n"                   /* -> start it on this stack, below our frame */
    "    movq    %rax, %rsp\n"           /* THE SWITCH: from here on we are on the target's slice */
    "    call    *%r12\n"                /* restore(): copy the target's saved bytes back above rsp */
    "    xorl    %eax, %eax\n"           /* force the return value 0 now that the target's bytes are back */
    "    ldmxcsr (%rsp)\n"               /* reload the target's MXCSR */
    "    fldcw   4(%rsp)\n"              /* reload the target's x87 control word */
    "    addq    $8, %rsp\n"             /* drop the MXCSR/CW slot */
    "    .cfi_remember_state\n"          /* unwind info: remember the full frame for label 1 */
    "    .cfi_adjust_cfa_offset -8\n"    /* unwind info */
    "    popq    %r15\n"                 /* the target's r15 */
    "    .cfi_adjust_cfa_offset -8\n"    /* unwind info */
    "    .cfi_restore %r15\n"            /* unwind info */
    "    popq    %r14\n"                 /* the target's r14 */
    "    .cfi_adjust_cfa_offset -8\n"    /* unwind info */
    "    .cfi_restore %r14\n"            /* unwind info */
    "    popq    %r13\n"                 /* the target's r13 */
    "    .cfi_adjust_cfa_offset -8\n"    /* unwind info */
    "    .cfi_restore %r13\n"            /* unwind info */
    "    popq    %r12\n"                 /* the target's r12 */
    "    .cfi_adjust_cfa_offset -8\n"    /* unwind info */
    "    .cfi_restore %r12\n"            /* unwind info */
    "    popq    %rbx\n"                 /* the target's rbx */
    "    .cfi_adjust_cfa_offset -8\n"    /* unwind info */
    "    .cfi_restore %rbx\n"            /* unwind info */
    "    popq    %rbp\n"                 /* the target's rbp */
    "    .cfi_adjust_cfa_offset -8\n"    /* unwind info */
    "    .cfi_restore %rbp\n"            /* unwind info */
    "    ret\n"                          /* return 0 into the target's own pyg_stack_switch call */
    "1:\n"
    "    .cfi_restore_state\n"           /* unwind info: back to the full frame */
    "    call    *%r13\n"                /* start(): the new stacklet runs below this frame */
    "    ud2\n"                          /* start() never returns; trap if it does */
    "    .cfi_endproc\n"                 /* unwind info: end */
    "    .size   pyg_stack_switch, .-pyg_stack_switch\n"  /* symbol size for tools */
);

#endif /* PYG_SWITCH_X86_64_SYSV_H */
