/*
 * callgate64.c's CPL-3 programs and the procedures its gates lead to, and
 * the way in and out of CPL 3. A program is entered with DS null and ends
 * with UD2 (or with the fault it tests); it stores what it sees with RIP-
 * relative addressing, which DS does not take part in in 64-bit mode.
 */
#include "callgate64.h"

    .text
    .code64

/* long user_enter(const char *prog, void *stack_top): runs prog at CPL 3
 * with IRETQ; returns what user_leave is given. */
    .globl user_enter
user_enter:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, enter_rsp(%rip)
    pushq $USER_DS
    push %rsi
    pushq $2
    pushq $USER_CS
    push %rdi
    iretq

/* void user_leave(long value), from a trap handler at CPL 0. */
    .globl user_leave
user_leave:
    mov %rdi, %rax
    mov enter_rsp(%rip), %rsp
    mov $KERNEL_DS, %ecx
    mov %ecx, %ss               /* a gate from CPL 3 left SS null */
    mov %ecx, %ds
    mov %ecx, %es
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

/* Far call through GATE_KERNEL; the offset of the pointer is ignored. */
    .globl user_call, user_call_ret
user_call:
    mov %ds, u_ds_entry(%rip)   /* IRETQ to CPL 3 nulled the kernel's DS */
    mov $USER_DS, %eax
    mov %eax, %ds
    movabs $USER_MARK, %rbx
    mov %rsp, u_rsp_before(%rip)
    lcall *gate_kernel_ptr(%rip)
user_call_ret:
    mov %rax, u_result(%rip)
    mov %rsp, u_rsp_after(%rip)
    mov %rbx, u_rbx_after(%rip)
    mov %cs, u_cs_after(%rip)
    mov %ss, u_ss_after(%rip)
    mov %ds, u_ds_after(%rip)
    ud2

/* CPL 0 through GATE_KERNEL: records its stack, loads DS with the kernel's
 * data segment and returns with LRETQ. */
    .globl gate_entry
gate_entry:
    mov %rsp, gate_rsp(%rip)
    mov %cs, gate_cs(%rip)
    mov %ss, gate_ss(%rip)
    mov %ds, gate_ds(%rip)
    mov (%rsp), %rax
    mov %rax, gate_frame(%rip)
    mov 8(%rsp), %rax
    mov %rax, gate_frame + 8(%rip)
    mov 16(%rsp), %rax
    mov %rax, gate_frame + 16(%rip)
    mov 24(%rsp), %rax
    mov %rax, gate_frame + 24(%rip)
    mov $KERNEL_DS, %eax
    mov %eax, %ds
    mov $0x600d, %eax
    lretq

/* Far call through GATE_SAME: CPL 3 to CPL 3. */
    .globl user_call_same, user_call_same_ret
user_call_same:
    mov %rsp, u_rsp_before(%rip)
    lcall *gate_same_ptr(%rip)
user_call_same_ret:
    mov %rsp, u_rsp_after(%rip)
    ud2

    .globl same_entry
same_entry:
    mov %rsp, gate_rsp(%rip)
    mov %cs, gate_cs(%rip)
    mov (%rsp), %rax
    mov %rax, gate_frame(%rip)
    mov 8(%rsp), %rax
    mov %rax, gate_frame + 8(%rip)
    lretq

/* Each faults on its far call. */
    .globl user_call_dpl0, user_call_absent, user_call_badtop
user_call_dpl0:
    lcall *gate_dpl0_ptr(%rip)
    ud2
user_call_absent:
    lcall *gate_absent_ptr(%rip)
    ud2
user_call_badtop:
    lcall *gate_badtop_ptr(%rip)
    ud2

    .section .rodata
    .balign 8
/* m16:32 far pointers: offset, then selector (RPL 3). */
gate_kernel_ptr: .long 0
                 .word GATE_KERNEL | 3
gate_same_ptr:   .long 0
                 .word GATE_SAME | 3
gate_dpl0_ptr:   .long 0
                 .word GATE_DPL0 | 3
gate_absent_ptr: .long 0
                 .word GATE_ABSENT | 3
gate_badtop_ptr: .long 0
                 .word GATE_BADTOP | 3

    .bss
    .balign 8
    .globl u_ds_entry, u_rsp_before, u_result, u_rsp_after, u_rbx_after, u_cs_after, u_ss_after
    .globl u_ds_after, gate_rsp, gate_cs, gate_ss, gate_ds, gate_frame
enter_rsp:    .quad 0
u_ds_entry:   .quad 0
u_rsp_before: .quad 0
u_result:     .quad 0
u_rsp_after:  .quad 0
u_rbx_after:  .quad 0
u_cs_after:   .quad 0
u_ss_after:   .quad 0
u_ds_after:   .quad 0
gate_rsp:     .quad 0
gate_cs:      .quad 0
gate_ss:      .quad 0
gate_ds:      .quad 0
gate_frame:   .space 4 * 8
