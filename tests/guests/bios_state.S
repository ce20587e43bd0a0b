/*
 * A flat binary (entered in real mode at 1000:0000) that checks the state a
 * PC BIOS leaves for the program it boots, as vx86 sets it up (src/boot/
 * bios_state.c) and as SeaBIOS leaves it on QEMU:
 *
 *   - the IVT: IRQ0 (vector 8) and INT 10h point into the F000 segment,
 *     INT 10h at an IRET, vectors 0x60-0x66 are zero;
 *   - the BIOS data area: COM1 at 0x3f8, 639 KiB of base memory, a tick
 *     count below a day's worth;
 *   - the PICs: IRQ0 and the cascade unmasked, the rest masked;
 *   - the PIT ticking: with STI, each HLT ends at a timer interrupt, whose
 *     BIOS handler counts the tick at 0x46c, calls INT 1Ch (hooked here)
 *     and sends EOI, without which the second tick would never come.
 *
 * Then two real-mode behaviours kvm-unit-tests' realmode test relies on:
 * IRET loads no reserved flag (bits 3, 5 and 15 read as 0, SDM Vol. 1
 * §3.4.3) and SALC sets AL from CF.
 *
 * Prints "FAIL: <what>" and exits with 1 at the first mismatch, else PASS.
 */
#define COM1      0x3f8
#define COM1_LSR  (COM1 + 5)
#define LSR_THRE  0x20
#define EXIT_PORT 0xf4

#define IVT(v)    ((v) * 4)
#define BDA_COM1  0x400
#define BDA_MEMKB 0x413
#define BDA_TICKS 0x46c
#define TICKS_PER_DAY_HI 0x18 /* 0x1800b0 */

/* Checks cond (a jCC mnemonic that is taken on success) after a compare;
 * on failure prints msg and exits. */
.macro expect jcc, msg
    \jcc 9f
    mov $(\msg - 0x10000), %si
    jmp fail
9:
.endm

    .section .text.start, "ax"
    .code16
    .globl _start
_start:
    cli
    mov %cs, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0xfff0, %sp
    xor %ax, %ax
    mov %ax, %es            /* ES addresses the IVT and the BIOS data area */
    cld

    /* The IVT. */
    cmpw $0xf000, %es:IVT(0x08) + 2
    expect je, m_ivt_irq0
    cmpw $0xf000, %es:IVT(0x10) + 2
    expect je, m_ivt_int10
    lds %es:IVT(0x10), %bx
    cmpb $0xcf, (%bx)
    mov %cs, %ax
    mov %ax, %ds
    expect je, m_ivt_iret
    cmpl $0, %es:IVT(0x60)
    expect je, m_ivt_user

    /* The BIOS data area. */
    cmpw $COM1, %es:BDA_COM1
    expect je, m_bda_com1
    cmpw $639, %es:BDA_MEMKB
    expect je, m_bda_mem
    cmpw $TICKS_PER_DAY_HI, %es:BDA_TICKS + 2
    expect jbe, m_bda_ticks

    /* The PICs' masks (OCW1 reads back from the data port). */
    in $0x21, %al
    cmp $0xfa, %al
    expect je, m_pic_master
    in $0xa1, %al
    cmp $0xff, %al
    expect je, m_pic_slave

    /* The timer: hook INT 1Ch, then let two ticks come. */
    movw $OFF_HOOK, %es:IVT(0x1c)
    mov %cs, %es:IVT(0x1c) + 2
    mov %es:BDA_TICKS, %ebx
    movw $0, hook_count - 0x10000
    sti
1:  hlt
    cmpw $2, hook_count - 0x10000
    jb 1b
    cli
    mov %es:BDA_TICKS, %eax
    sub %ebx, %eax
    cmp $2, %eax
    expect jae, m_ticks

    /* IRET does not load the reserved flags. */
    pushw $0xffff & ~0x0300   /* every flag but TF and IF */
    push %cs
    pushw $OFF_AFTER_IRET
    iret
after_iret:
    pushf
    pop %ax
    test $0x8028, %ax
    expect jz, m_iret
    push $0
    popf

    /* SALC: AL = CF ? 0xff : 0. */
    stc
    .byte 0xd6
    cmp $0xff, %al
    expect je, m_salc
    clc
    .byte 0xd6
    test %al, %al
    expect jz, m_salc

    mov $(m_pass - 0x10000), %si
    call puts
    mov $0, %al
    out %al, $EXIT_PORT
    hlt

hook:
    incw %cs:hook_count - 0x10000
    iret

fail:
    cld
    push %si
    mov $(m_fail - 0x10000), %si
    call puts
    pop %si
    call puts
    mov $(m_nl - 0x10000), %si
    call puts
    mov $1, %al
    out %al, $EXIT_PORT
    hlt

/* Prints the NUL-terminated string at DS:SI on COM1. */
puts:
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
    jmp puts
2:  ret

    .set OFF_HOOK, hook - 0x10000
    .set OFF_AFTER_IRET, after_iret - 0x10000

hook_count: .word 0

m_ivt_irq0:   .asciz "IVT vector 8 (IRQ0) does not point into the BIOS"
m_ivt_int10:  .asciz "IVT vector 10h does not point into the BIOS"
m_ivt_iret:   .asciz "IVT vector 10h is not an IRET"
m_ivt_user:   .asciz "IVT vector 60h is not zero"
m_bda_com1:   .asciz "BDA: COM1 is not at 0x3f8"
m_bda_mem:    .asciz "BDA: base memory is not 639 KiB"
m_bda_ticks:  .asciz "BDA: the tick count is past a day"
m_pic_master: .asciz "master PIC mask is not 0xfa"
m_pic_slave:  .asciz "slave PIC mask is not 0xff"
m_ticks:      .asciz "the BIOS did not count two ticks at 0x46c"
m_iret:       .asciz "IRET loaded a reserved flag"
m_salc:       .asciz "SALC"
m_fail:       .asciz "FAIL: "
m_nl:         .asciz "\n"
m_pass:       .asciz "bios_state: PASS\n"
