/*
 * Start-up code of smp_atomic's application processors. smp_atomic.c copies
 * [ap_tramp_start, ap_tramp_end) to AP_TRAMP (below 1 MiB, page-aligned: the
 * start-up IPI's vector is its page number) and fills in ap_tramp_cr3, _stack
 * and _entry before each start-up IPI. The AP comes out of wait-for-SIPI in
 * real mode at AP_TRAMP:0 (SDM Vol. 3A §9.4.4.2) and goes to long mode the way
 * SDM Vol. 3A §9.8.5 says: protected mode, PAE, the BSP's page tables,
 * EFER.LME, then CR0.PG. Everything is addressed through AP_TRAMP, since the
 * code runs at a copy, not where it was linked.
 */
#define AP_TRAMP 0x20000
#define AT(sym)  (AP_TRAMP + (sym) - ap_tramp_start)

    .text
    .globl ap_tramp_start, ap_tramp_end, ap_tramp_cr3, ap_tramp_stack, ap_tramp_entry
    .code16
ap_tramp_start:
    cli
    mov %cs, %ax
    mov %ax, %ds
    lgdtl ap_tramp_gdtr - ap_tramp_start
    mov %cr0, %eax
    or $1, %eax                     /* CR0.PE */
    mov %eax, %cr0
    ljmpl $0x18, $AT(ap_tramp_pm)

    .code32
ap_tramp_pm:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %cr4, %eax
    or $0x20, %eax                  /* CR4.PAE */
    mov %eax, %cr4
    mov AT(ap_tramp_cr3), %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx           /* IA32_EFER */
    rdmsr
    or $0x100, %eax                 /* LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000000, %eax            /* CR0.PG */
    mov %eax, %cr0
    ljmp $0x08, $AT(ap_tramp_lm)

    .code64
ap_tramp_lm:
    mov AT(ap_tramp_stack), %rsp
    mov AT(ap_tramp_entry), %rax
    call *%rax
1:  cli
    hlt
    jmp 1b

    .balign 8
ap_tramp_gdt:
    .quad 0
    .quad 0x00af9a000000ffff        /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff        /* 0x10: flat data */
    .quad 0x00cf9a000000ffff        /* 0x18: flat 32-bit code */
ap_tramp_gdtr:
    .word 31
    .long AT(ap_tramp_gdt)
    .balign 8
ap_tramp_cr3:
    .quad 0
ap_tramp_stack:
    .quad 0
ap_tramp_entry:
    .quad 0
ap_tramp_end:
