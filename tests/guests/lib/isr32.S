/*
 * Interrupt entry stubs of 32-bit guests, one per vector, ISR32_STUB_SIZE
 * bytes apart from isr32_stubs so that idt32.c can compute each one's
 * address. A stub pushes a zero error code where the CPU pushes none, then
 * the vector, and joins isr32_common, which saves the registers as struct
 * trap_frame32 lays them out and calls trap32_dispatch(frame).
 */
#define ISR32_STUB_SIZE 16

    .text
    .code32

/* The vectors for which the CPU pushes an error code: #DF, #TS, #NP, #SS,
 * #GP, #PF, #AC, #CP (SDM Vol. 3A §6.3.1, Table 6-1). */
.macro stub vector
    .balign ISR32_STUB_SIZE
    has_error_code = 0
    .irp v, 8, 10, 11, 12, 13, 14, 17, 21
    .if \vector == \v
    has_error_code = 1
    .endif
    .endr
    .if has_error_code == 0
    pushl $0
    .endif
    pushl $\vector
    jmp isr32_common
.endm

    .balign ISR32_STUB_SIZE
    .globl isr32_stubs
isr32_stubs:
    .altmacro
.irp hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
.irp lo, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    stub %(\hi * 16 + \lo)
.endr
.endr
    .noaltmacro

/* SS is the kernel's data segment here: a gate to CPL 0 from an outer ring
 * or virtual-8086 mode loads it from the TSS, and CPL 0 code keeps it.
 * DS and ES get it too, as C code needs them. */
isr32_common:
    pusha
    xor %eax, %eax
    mov %ds, %ax
    push %eax
    mov %es, %ax
    push %eax
    mov %fs, %ax
    push %eax
    mov %gs, %ax
    push %eax
    mov %ss, %ax
    mov %eax, %ds
    mov %eax, %es
    cld
    push %esp
    call trap32_dispatch
    add $4, %esp
    pop %gs
    pop %fs
    pop %es
    pop %ds
    popa
    add $8, %esp        /* the vector and the error code */
    iret
