/*
 * The tasks that taskswitch.c switches to. Each records the state it starts
 * with in its seen array before anything changes it, then does its part
 * and switches back; a task that is resumed starts over.
 */
#include "taskswitch.h"

    .text
    .code32

/* Stores every register, EFLAGS, the segment and system registers of the
 * task in seen; keeps all but EAX. */
.macro record seen
    mov %eax, \seen + 4 * SEEN_EAX
    mov %ecx, \seen + 4 * SEEN_ECX
    mov %edx, \seen + 4 * SEEN_EDX
    mov %ebx, \seen + 4 * SEEN_EBX
    mov %esp, \seen + 4 * SEEN_ESP
    mov %ebp, \seen + 4 * SEEN_EBP
    mov %esi, \seen + 4 * SEEN_ESI
    mov %edi, \seen + 4 * SEEN_EDI
    pushfl
    popl \seen + 4 * SEEN_EFLAGS
    mov %cs, \seen + 4 * SEEN_CS
    mov %ss, \seen + 4 * SEEN_SS
    mov %ds, \seen + 4 * SEEN_DS
    mov %es, \seen + 4 * SEEN_ES
    mov %fs, \seen + 4 * SEEN_FS
    mov %gs, \seen + 4 * SEEN_GS
    str \seen + 4 * SEEN_TR
    sldt \seen + 4 * SEEN_LDTR
    mov %cr3, %eax
    mov %eax, \seen + 4 * SEEN_CR3
    mov TEST_VA, %eax
    mov %eax, \seen + 4 * SEEN_TEST
    mov (%esp), %eax
    mov %eax, \seen + 4 * SEEN_ERROR
.endm

/* Task A, entered by JMP: its FS is in its LDT. Changes registers and GS,
 * then jumps back to the main task. */
    .globl task_a_entry, task_a_resume
task_a_entry:
    record task_a_seen
    mov %fs:0, %eax
    mov %eax, task_a_seen + 4 * SEEN_FS0
    call task_a_body
    mov $A_OUT_EAX, %eax
    mov $A_OUT_EBX, %ebx
    mov $A_OUT_ESI, %esi
    mov $ALT_DS, %ecx
    mov %ecx, %gs
    ljmp $TSS_MAIN, $0
task_a_resume:
    jmp task_a_entry

/* Task B, entered by CALL: returns with IRET. */
    .globl task_b_entry, task_b_resume
task_b_entry:
    record task_b_seen
    call task_b_body
    mov $B_OUT_EAX, %eax
    iret
task_b_resume:
    jmp task_b_entry

/* The #DF handler task: the CPU pushed an error code on its stack. */
    .globl task_df_entry, task_df_resume
task_df_entry:
    record task_df_seen
    call task_df_body
    add $4, %esp
    iret
task_df_resume:
    jmp task_df_entry

    .bss
    .balign 4
    .globl task_a_seen, task_b_seen, task_df_seen
task_a_seen:  .space 4 * SEEN_COUNT
task_b_seen:  .space 4 * SEEN_COUNT
task_df_seen: .space 4 * SEEN_COUNT
