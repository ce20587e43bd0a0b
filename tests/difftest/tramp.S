/*
 * The native side's trampoline, copied by native.c into the code page (it
 * is never run where it is linked). Absolute addresses below 2 GiB fit the
 * disp32 of a ModRM with no base, so the code runs wherever it is copied.
 *
 * dt_prologue: called from C; saves the callee-saved registers and RSP,
 * loads GS (unless N_GS_SEL is 0: then native.c set its base), DS, ES, SS,
 * RFLAGS and all 16 GPRs from N_IN. native.c appends the jump to the
 * instruction.
 *
 * With N_VEC set, the prologue also loads MXCSR and YMM0-15 from N_IN
 * (the host's MXCSR kept at N_HOST_MXCSR) and the epilogue stores them to
 * N_OUT, gives the host its MXCSR back and clears the upper halves.
 *
 * dt_epilogue: stores all 16 GPRs and RFLAGS to N_OUT, restores the
 * segments and the C stack, returns. dt_epilogue_taken, just before it,
 * first notes that a branch went to its target.
 */
#include "difftest.h"
#include "native.h"

#define IN(r)  (N_IN + 8 * (r))
#define OUT(r) (N_OUT + 8 * (r))
#define YIN(r)  (N_IN + N_YMM + 32 * (r))
#define YOUT(r) (N_OUT + N_YMM + 32 * (r))

    .text
    .globl dt_prologue, dt_prologue_end
    .globl dt_epilogue_taken, dt_epilogue, dt_epilogue_end

dt_prologue:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, N_SAVED_RSP
    cmpb $0, N_VEC
    je 2f
    stmxcsr N_HOST_MXCSR
    ldmxcsr N_IN + N_MXCSR
    .irp r, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    vmovdqu YIN(\r), %ymm\r
    .endr
2:
    movzwl N_GS_SEL, %eax
    test %eax, %eax
    jz 1f
    mov %eax, %gs
1:
    mov N_DATA_SEL, %ds
    mov N_DATA_SEL, %es
    mov N_DATA_SEL, %ss
    pushq IN(16)
    popfq
    mov IN(0), %rax
    mov IN(1), %rcx
    mov IN(2), %rdx
    mov IN(3), %rbx
    mov IN(5), %rbp
    mov IN(6), %rsi
    mov IN(7), %rdi
    mov IN(8), %r8
    mov IN(9), %r9
    mov IN(10), %r10
    mov IN(11), %r11
    mov IN(12), %r12
    mov IN(13), %r13
    mov IN(14), %r14
    mov IN(15), %r15
    mov IN(4), %rsp
dt_prologue_end:

dt_epilogue_taken:
    movb $1, N_TAKEN
dt_epilogue:
    mov %rax, OUT(0)
    mov %rcx, OUT(1)
    mov %rdx, OUT(2)
    mov %rbx, OUT(3)
    mov %rsp, OUT(4)
    mov %rbp, OUT(5)
    mov %rsi, OUT(6)
    mov %rdi, OUT(7)
    mov %r8, OUT(8)
    mov %r9, OUT(9)
    mov %r10, OUT(10)
    mov %r11, OUT(11)
    mov %r12, OUT(12)
    mov %r13, OUT(13)
    mov %r14, OUT(14)
    mov %r15, OUT(15)
    mov $DT_USER_DS, %eax
    mov %eax, %ss
    mov %eax, %ds
    mov %eax, %es
    mov N_SAVED_RSP, %rsp
    pushfq
    popq OUT(16)
    cld
    cmpb $0, N_VEC
    je 3f
    stmxcsr N_OUT + N_MXCSR
    ldmxcsr N_HOST_MXCSR
    .irp r, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    vmovdqu %ymm\r, YOUT(\r)
    .endr
    vzeroupper
3:
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret
dt_epilogue_end:

    .section .note.GNU-stack, "", @progbits
