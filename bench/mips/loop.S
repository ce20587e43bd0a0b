/*
 * The MIPS benchmark guest: a multiboot kernel that enters 64-bit mode and
 * runs one loop at CPL 3 (where a software-backed KVM such as PVM runs
 * code natively), then writes 0 to the debug-exit port.
 * body.S holds the loop (KIND 0: integer, KIND 1: memory), ITERS
 * iterations; bench/mips/run builds it twice and times the difference.
 * Paging: 1 GiB identity-mapped with 2 MiB user pages, tables at 2 MiB.
 */
#ifndef ITERS
#define ITERS 100000000
#endif
#ifndef KIND
#define KIND 0
#endif

#define PML4  0x200000
#define ARRAY 0x400000

    .code32
    .section .text
    .align 4
mbh:
    .long 0x1BADB002, 0x00010003, -(0x1BADB002 + 0x00010003)
    .long mbh, 0x100000, 0, 0, _start

    .globl _start
_start:
    cli
    mov $PML4, %edi
    xor %eax, %eax
    mov $(3 * 4096 / 4), %ecx
    rep stosl
    movl $(PML4 + 0x1007), PML4            /* present, writable, user */
    movl $(PML4 + 0x2007), PML4 + 0x1000
    mov $(PML4 + 0x2000), %edi
    mov $0x87, %eax                        /* 2 MiB pages, user */
    mov $512, %ecx
1:  mov %eax, (%edi)
    movl $0, 4(%edi)
    add $0x200000, %eax
    add $8, %edi
    loop 1b
    mov %cr4, %eax
    or $0x20, %eax                         /* PAE */
    mov %eax, %cr4
    mov $PML4, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx                  /* EFER.LME */
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax
    mov %eax, %cr0
    lgdt gdtr
    ljmp $0x08, $long_mode

    .code64
long_mode:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov $0x1f0000, %esp
    /* To CPL 3 with IOPL 3 (the final OUT) and interrupts off. */
    pushq $0x23
    pushq $0x180000
    pushq $0x3002
    pushq $0x1b
    mov $user, %eax
    push %rax
    iretq

user:
    mov $ITERS, %rcx
    mov $ARRAY, %rsi
#include "body.S"
    mov $0xf4, %dx
    xor %eax, %eax
    out %al, %dx
3:  jmp 3b

    .align 8
gdt:
    .quad 0
    .quad 0x00209a0000000000                /* 0x08: 64-bit code, DPL 0 */
    .quad 0x0000920000000000                /* 0x10: data, DPL 0 */
    .quad 0x0020fa0000000000                /* 0x18: 64-bit code, DPL 3 */
    .quad 0x0000f20000000000                /* 0x20: data, DPL 3 */
gdt_end:
gdtr:
    .word gdt_end - gdt - 1
    .long gdt
