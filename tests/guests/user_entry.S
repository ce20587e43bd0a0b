/*
 * Ways between CPL 0 and CPL 3 for the user guest: user_enter() goes down
 * with IRETQ, SYSCALL comes up at syscall_entry and goes back with SYSRET,
 * and user_leave() ends the user program, returning from user_enter().
 *
 * A program ends with UD2 at user_exit (the kernel's #UD handler calls
 * user_leave with its RAX) rather than with a system call, so that a broken
 * SYSCALL or INT n fails only its own checks.
 */
#include "user.h"

    .text
    .code64

/* long user_enter(long (*prog)(void), void *stack_top): runs prog at CPL 3
 * on the given stack with interrupts off and IOPL 0; returns what
 * user_leave() is given. */
    .globl user_enter
user_enter:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, user_enter_rsp(%rip)
    pushq $USER_DS
    push %rsi
    pushq $RFLAGS_FIXED
    pushq $USER_CS
    lea user_start(%rip), %rax
    push %rax
    iretq

/* __attribute__((noreturn)) void user_leave(long value): from kernel code
 * entered from the user program, returns value from user_enter(). */
    .globl user_leave
user_leave:
    mov %rdi, %rax
    mov user_enter_rsp(%rip), %rsp
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

/* CPL 3: calls the program in RDI, then exits with its result in RAX. */
user_start:
    call *%rdi
    .globl user_exit
user_exit:
    ud2

/* SYSCALL leaves RSP as it was: switch to syscall_rsp first. The user's
 * registers survive but for RAX (the result), RCX and R11, as on Linux.
 * Calls syscall_dispatch(a = RDI, b = RSI, c = RDX, d = R10, nr = RAX,
 * user_rflags = R11). */
    .globl syscall_entry
syscall_entry:
    mov %rsp, user_rsp(%rip)
    mov syscall_rsp(%rip), %rsp
    pushfq
    popq syscall_rflags(%rip)   /* as SYSCALL left them, for the SFMASK check */
    cld
    push %rcx                   /* the user's RIP */
    push %r11                   /* the user's RFLAGS */
    push %rdi
    push %rsi
    push %rdx
    push %r8
    push %r9
    push %r10
    mov %r10, %rcx
    mov %rax, %r8
    mov %r11, %r9
    call syscall_dispatch
    pop %r10
    pop %r9
    pop %r8
    pop %rdx
    pop %rsi
    pop %rdi
    pop %r11
    pop %rcx
    mov user_rsp(%rip), %rsp
    sysretq

    .bss
    .balign 8
user_enter_rsp: .quad 0
user_rsp:       .quad 0
