/*
 * The virtual-8086 programs of v86.c: 16-bit code that v86.c copies to
 * V86_CODE_SEG:0 and enters at the offset of a label from v86_code. Each
 * program ends by leaving v86 mode through an interrupt or exception: INT
 * 0x31 where IOPL is 3, else the #GP of the first instruction that IOPL or
 * the I/O permission bitmap forbids, or of HLT (SDM Vol. 3A §20.2.7,
 * §20.2.8).
 */
#include "v86.h"

#define OFF(label) (label - v86_code)

    .section .rodata.v86, "a"
    .code16
    .globl v86_code, v86_code_end
v86_code:

/* With IOPL 3: segments, a far call, the flags, INT 0x30 and a port. */
    .globl v86_main
v86_main:
    movw $0xbeef, 0x100                 /* DS 3000: linear 30100 */
    mov $V86_DATA_SEG + 0x10, %ax
    mov %ax, %es
    mov %es:0, %ax                      /* ES 3010: linear 30100 too */
    mov %ax, R_SEGARITH

    /* 2001:(far_func - 10) is 2000:far_func. */
    lcall $V86_CODE_SEG + 1, $OFF(far_func) - 0x10
    .globl v86_far_ret
v86_far_ret:
    mov %ax, R_FAR_CS
    mov %bx, R_FAR_RETCS
    mov %cx, R_FAR_RETIP
    push %cs
    pop %ax
    mov %ax, R_CS

    /* IOPL 3: PUSHF and POPF work, POPF leaves IOPL alone (SDM Vol. 2B,
     * POPF), PUSHFD clears VM and RF in its image (PUSHF). */
    pushf
    pop %ax
    mov %ax, R_FLAGS
    pushw $0x0400
    popf
    pushf
    pop %ax
    mov %ax, R_POPF
    cld
    sti
    pushf
    pop %ax
    mov %ax, R_STI
    cli
    pushf
    pop %ax
    mov %ax, R_CLI
    pushfl
    popl %eax
    mov %eax, R_PUSHFD

    mov $0x5555, %ax
    int $0x30
    .globl v86_int30_ret
v86_int30_ret:
    mov %ax, R_INT
    mov %sp, R_SP
    mov %es, R_ES

    mov $SCRATCH_PORT, %dx
    mov $0x5a, %al
    out %al, %dx
    in %dx, %al
    mov %al, R_IO
    .globl v86_main_exit
v86_main_exit:
    int $0x31

/* Returns its CS in AX and the far call's return address in BX:CX. */
far_func:
    push %cs
    pop %ax
    mov %sp, %bp
    mov 2(%bp), %bx
    mov (%bp), %cx
    lret

/* Each faults on its first instruction with IOPL 0. */
    .globl v86_int, v86_pushf, v86_popf, v86_cli, v86_sti, v86_iret
v86_int:
    int $0x30
    hlt
v86_pushf:
    pushf
    hlt
v86_popf:
    popf
    hlt
v86_cli:
    cli
    hlt
v86_sti:
    sti
    hlt
v86_iret:
    iret
    hlt

/* The I/O permission bitmap decides, whatever IOPL (SDM Vol. 3A §20.2.8.1):
 * only SCRATCH_PORT is allowed; a word there also takes port 0x400. */
    .globl v86_io_ok, v86_io_ok_hlt, v86_io_denied, v86_io_word, v86_io_imm
v86_io_ok:
    mov $SCRATCH_PORT, %dx
    mov $0xa5, %al
    out %al, %dx
    in %dx, %al
    mov %al, R_IO
v86_io_ok_hlt:
    hlt
v86_io_denied:
    mov $DENIED_PORT, %dx
    .globl v86_io_denied_in
v86_io_denied_in:
    in %dx, %al
    hlt
v86_io_word:
    mov $SCRATCH_PORT, %dx
    .globl v86_io_word_in
v86_io_word_in:
    in %dx, %ax
    hlt
v86_io_imm:
    in $0x80, %al
    hlt

v86_code_end:
