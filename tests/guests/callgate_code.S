/*
 * The two sides of callgate.c's far calls: CPL-3 programs, each entered
 * with DS null and SS = USER_DS and ended by UD2 (or by the fault they
 * test), and the procedures the gates lead to. Everything a program sees is
 * stored through SS, as a return to CPL 3 may null DS.
 */
#include "callgate.h"

    .text
    .code32

/* Calls through GATE_KERNEL with two parameters. */
    .globl user_call, user_call_ret
user_call:
    mov %ds, %ss:u_ds_entry      /* IRET to CPL 3 nulled the kernel's DS */
    mov %esp, %ss:u_esp_before
    pushl $PARAM1
    pushl $PARAM2
    mov %esp, %ss:u_esp_at_call
    mov %ss, %eax
    mov %eax, %ds               /* gate_entry replaces it with KERNEL_DS */
    lcall $GATE_KERNEL | 3, $0
user_call_ret:
    mov %eax, %ss:u_result
    mov %esp, %ss:u_esp_after
    mov %cs, %ss:u_cs_after
    mov %ds, %ss:u_ds_after
    ud2

/* CPL 0 through GATE_KERNEL: records its stack and returns PARAM1 +
 * PARAM2, popping the parameters off both stacks (RET imm16). */
    .globl gate_entry
gate_entry:
    mov %esp, %ss:gate_esp
    mov %cs, %ss:gate_cs
    mov %ss, %ss:gate_ss
    mov %ds, %ss:gate_ds
    mov $KERNEL_DS, %eax
    mov %eax, %ds
    mov %eax, %es
    mov $6, %ecx
    xor %edx, %edx
1:  mov (%esp,%edx,4), %eax
    mov %eax, gate_frame(,%edx,4)
    inc %edx
    loop 1b
    mov 8(%esp), %eax
    add 12(%esp), %eax
    lret $8

/* Calls through GATE_SAME: a gate to CPL 3 code from CPL 3. */
    .globl user_call_same, user_call_same_ret
user_call_same:
    mov %esp, %ss:u_esp_before
    lcall $GATE_SAME | 3, $0
user_call_same_ret:
    mov %esp, %ss:u_esp_after
    ud2

    .globl same_entry
same_entry:
    mov %esp, %ss:gate_esp
    mov %cs, %ss:gate_cs
    mov (%esp), %eax
    mov %eax, %ss:gate_frame
    mov 4(%esp), %eax
    mov %eax, %ss:gate_frame + 4
    lret

/* Each faults on its far call. */
    .globl user_call_dpl0, user_call_absent
user_call_dpl0:
    lcall $GATE_DPL0 | 3, $0
    ud2
user_call_absent:
    lcall $GATE_ABSENT | 3, $0
    ud2

    .bss
    .balign 4
    .globl u_ds_entry, u_esp_before, u_esp_at_call, u_result, u_esp_after, u_cs_after
    .globl u_ds_after
    .globl gate_esp, gate_cs, gate_ss, gate_ds, gate_frame
u_ds_entry:    .long 0
u_esp_before:  .long 0
u_esp_at_call: .long 0
u_result:      .long 0
u_esp_after:   .long 0
u_cs_after:    .long 0
u_ds_after:    .long 0
gate_esp:      .long 0
gate_cs:       .long 0
gate_ss:       .long 0
gate_ds:       .long 0
gate_frame:    .space 6 * 4
