/*
 * The fpu guest's way to CPL 3 and back: fpu_user_run() goes down with
 * IRETQ and calls the program; the program's return runs UD2 at
 * fpu_user_exit, whose #UD handler calls fpu_user_leave(), which returns
 * from fpu_user_run(). (The FPU code runs at CPL 3 because a software KVM
 * such as PVM runs user mode natively but emulates kernel mode, x87 and
 * SSE included, instruction by instruction, and most of it not at all.)
 */
#define USER_CS      0x2b
#define USER_DS      0x23
#define KERNEL_DS    0x10
#define RFLAGS_FIXED 0x2

    .text
    .code64

/* void fpu_user_run(void (*prog)(void), void *stack_top) */
    .globl fpu_user_run
fpu_user_run:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, kernel_rsp(%rip)
    pushq $USER_DS
    push %rsi
    pushq $RFLAGS_FIXED
    pushq $USER_CS
    lea user_start(%rip), %rax
    push %rax
    iretq

/* __attribute__((noreturn)) void fpu_user_leave(void): from the kernel
 * side of a trap taken at CPL 3, back to fpu_user_run's caller. */
    .globl fpu_user_leave
fpu_user_leave:
    mov kernel_rsp(%rip), %rsp
    /* An interrupt from CPL 3 left SS null (SDM Vol. 3A §6.14.4). */
    mov $KERNEL_DS, %ecx
    mov %ecx, %ss
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

user_start:
    call *%rdi
    .globl fpu_user_exit
fpu_user_exit:
    ud2

    .bss
    .balign 8
kernel_rsp: .quad 0

    .section .note.GNU-stack, "", @progbits
