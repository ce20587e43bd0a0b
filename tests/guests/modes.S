/*
 * A flat binary that climbs the x86 modes as a boot loader does: real mode
 * (as vx86 enters it, at 1000:0000), 32-bit protected mode, compatibility
 * mode and 64-bit mode (SDM Vol. 3A §9.9.1 and §9.8.5). Each stage prints a
 * line and measures what differs between the modes, into modes_results[];
 * modes_main() checks it all from 64-bit C.
 */
#include "modes.h"

#define BASE        0x10000         /* where vx86 loads the file; CS = BASE >> 4 */
#define OFF(sym)    ((sym) - BASE)  /* a symbol as an offset in the real-mode segment */
#define RESULT(i)   (modes_results + 4 * (i))
#define STACK_TOP   0x80000         /* for 32-bit and 64-bit code, below the EBDA */

/* This binary's GDT selectors. */
#define SEL_CODE32  0x08
#define SEL_DATA    0x10
#define SEL_CODE64  0x18

#define COM1        0x3f8
#define COM1_LSR    (COM1 + 5)
#define LSR_THRE    0x20

#define CR0_PE      (1 << 0)
#define CR0_PG      (1 << 31)
#define CR4_PAE     (1 << 5)
#define MSR_EFER    0xc0000080
#define EFER_LME    (1 << 8)
#define PTE_P_RW    0x3
#define PTE_PS      0x80

/* Stores into a result slot the bytes PUSHF pushes: the default operand size
 * of the current mode. The opcode is spelled out so that the assembler adds
 * no operand-size prefix. sp, ax and bx name the stack pointer and two
 * scratch registers of the mode's width; out is the part of ax to store. */
.macro measure_pushf slot, sp, ax, bx, out
    mov \sp, \bx
    .byte 0x9c
    mov \bx, \ax
    sub \sp, \ax
    mov \bx, \sp
    mov \out, \slot
.endm

    .section .text.start, "ax"
    .code16
    .globl _start
_start:
    cli
    mov %cs, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0xfff0, %sp
    cld
    mov $OFF(msg_real), %si
    call puts16

    mov %cs, OFF(RESULT(R_REAL_CS))
    measure_pushf OFF(RESULT(R_REAL_PUSHF)), %sp, %ax, %bx, %ax
    smsw OFF(RESULT(R_REAL_MSW))
    /* Real-mode addresses are segment * 16 + offset: write through a segment
     * that starts at real_scratch, read back through DS. */
    mov $OFF(real_scratch), %ax
    shr $4, %ax
    mov %cs, %bx
    add %bx, %ax
    mov %ax, %es
    movw $R_SEGMENT_MAGIC, %es:0
    mov OFF(real_scratch), %ax
    mov %ax, OFF(RESULT(R_REAL_SEGMENT))

    /* 32-bit operand size: load all 32 bits of the GDT base (SDM Vol. 2A LGDT). */
    lgdtl OFF(gdtr)
    mov %cr0, %eax
    or $CR0_PE, %eax
    mov %eax, %cr0
    ljmpl $SEL_CODE32, $protected32

/* Writes the NUL-terminated string at DS:SI to COM1. */
puts16:
    lodsb
    test %al, %al
    jz 2f
    mov %al, %ah
    mov $COM1_LSR, %dx
1:  in %dx, %al
    test $LSR_THRE, %al
    jz 1b
    mov %ah, %al
    mov $COM1, %dx
    out %al, %dx
    jmp puts16
2:  ret

    .code32
protected32:
    mov $SEL_DATA, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %fs
    mov %ax, %gs
    mov %ax, %ss
    mov $STACK_TOP, %esp
    mov $msg_protected, %esi
    call puts32

    xor %eax, %eax
    mov %cs, %ax
    mov %eax, RESULT(R_PM_CS)
    measure_pushf RESULT(R_PM_PUSHF), %esp, %eax, %ebx, %eax
    mov %cr0, %eax
    mov %eax, RESULT(R_PM_CR0)

    /* The .bss is not in the file: clear it, page tables included. */
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    shr $2, %ecx
    xor %eax, %eax
    rep stosl

    /* Map the first 2 MiB 1:1 with one 2 MiB page (SDM Vol. 3A §4.5). */
    movl $(pdpt + PTE_P_RW), pml4
    movl $(pd + PTE_P_RW), pdpt
    movl $(PTE_PS | PTE_P_RW), pd

    /* SDM Vol. 3A §9.8.5: PAE, CR3, EFER.LME, then paging on. */
    mov %cr4, %eax
    or $CR4_PAE, %eax
    mov %eax, %cr4
    mov $pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME, %eax
    wrmsr
    mov %cr0, %eax
    or $CR0_PG, %eax
    mov %eax, %cr0

    /* Long mode is active, but CS is still a 32-bit segment. */
    mov $msg_compat, %esi
    call puts32
    xor %eax, %eax
    mov %cs, %ax
    mov %eax, RESULT(R_COMPAT_CS)
    measure_pushf RESULT(R_COMPAT_PUSHF), %esp, %eax, %ebx, %eax
    mov $MSR_EFER, %ecx
    rdmsr
    mov %eax, RESULT(R_COMPAT_EFER)
    ljmp $SEL_CODE64, $long64

/* Writes the NUL-terminated string at ESI to COM1. */
puts32:
    lodsb
    test %al, %al
    jz 2f
    mov %al, %ah
    mov $COM1_LSR, %dx
1:  in %dx, %al
    test $LSR_THRE, %al
    jz 1b
    mov %ah, %al
    mov $COM1, %dx
    out %al, %dx
    jmp puts32
2:  ret

    .code64
long64:
    mov $STACK_TOP, %esp
    measure_pushf RESULT(R_LONG_PUSHF), %rsp, %rax, %rbx, %eax
    call modes_main
    ud2             /* modes_main() does not return */

    .section .rodata
msg_real:      .asciz "modes: real mode\r\n"
msg_protected: .asciz "modes: 32-bit protected mode\r\n"
msg_compat:    .asciz "modes: compatibility mode\r\n"

    .data
    .balign 16
real_scratch: .word 0
    .balign 4
    .globl modes_results
modes_results: .fill R_COUNT, 4, 0

/* Code and data descriptors (SDM Vol. 3A §3.4.5): base 0, limit 4 GiB, DPL 0;
 * D set for 32-bit code, L for 64-bit code. */
    .balign 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff   /* SEL_CODE32 */
    .quad 0x00cf92000000ffff   /* SEL_DATA */
    .quad 0x00af9a000000ffff   /* SEL_CODE64 */
gdt_end:
gdtr:
    .word gdt_end - gdt - 1
    .long gdt

    .bss
    .balign 4096
pml4: .space 4096
pdpt: .space 4096
pd:   .space 4096
