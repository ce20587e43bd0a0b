/*
 * Interrupt entry stubs, one per vector, ISR_STUB_SIZE bytes apart from
 * isr_stubs so that idt.c can compute each one's address. A stub pushes a
 * zero error code where the CPU pushes none, then the vector, and joins
 * isr_common, which saves the general registers as struct trap_frame lays
 * them out and calls trap_dispatch(frame).
 */
#define ISR_STUB_SIZE 16

    .text
    .code64

/* The vectors for which the CPU pushes an error code: #DF, #TS, #NP, #SS,
 * #GP, #PF, #AC, #CP (SDM Vol. 3A §6.3.1, Table 6-1), #VC and #SX (AMD APM
 * Vol. 2 §8.2). */
.macro stub vector
    .balign ISR_STUB_SIZE
    has_error_code = 0
    .irp v, 8, 10, 11, 12, 13, 14, 17, 21, 29, 30
    .if \vector == \v
    has_error_code = 1
    .endif
    .endr
    .if has_error_code == 0
    pushq $0
    .endif
    pushq $\vector
    jmp isr_common
.endm

    .balign ISR_STUB_SIZE
    .globl isr_stubs
isr_stubs:
    .altmacro
.irp hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
.irp lo, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    stub %(\hi * 16 + \lo)
.endr
.endr
    .noaltmacro

/* The CPU aligned RSP to 16 bytes before pushing SS, RSP, RFLAGS, CS and RIP
 * (SDM Vol. 3A §6.14.2); with the error code, the vector and 15 registers
 * that makes 22 quadwords, so RSP is 16-byte aligned at the call, as the ABI
 * wants. */
isr_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, %rdi
    cld
    call trap_dispatch
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp       /* the vector and the error code */
    iretq
