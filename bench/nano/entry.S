/*
 * The nanobenchmark guest's machine-level half: a multiboot v1 entry that
 * switches to long mode by itself (so that vx86 and QEMU's -kernel load the
 * same file), the GDT, the exception and system-call entries, the way down
 * to CPL 3, and the timed loops.
 *
 * Every timed loop is uint64_t nb_<name>(uint64_t n): it runs the operation
 * n times between two RDTSCs and returns the TSC delta. Exceptions that a
 * loop provokes resume at fixup_rip, which the loop sets before it starts.
 */
#define MB_MAGIC 0x1badb002
#define MB_FLAGS 0x2 /* MEMINFO: memory sizes in the boot information */

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define TSS_SEL   0x30

    .section .multiboot, "a"
    .balign 4
    .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

/* ---- 32-bit entry: EAX = boot magic, EBX = boot information, paging off ---- */
    .section .text.start, "ax"
    .code32
    .globl _start
_start:
    cli
    mov %eax, %esi
    /* The first guest output, right at entry: vx86's boot timer (port 0x440,
     * nothing on QEMU) and a line on COM1 that the host times. */
    mov $0x440, %dx
    mov $123, %al
    outb %al, %dx
    mov $0x3f8, %dx
    mov $'@', %al
    outb %al, %dx
    mov $'\n', %al
    outb %al, %dx
    mov %esi, mb_magic
    mov %ebx, mb_info

    /* PML4, PDPT and PD: 1 GiB identity-mapped with 2 MiB user pages
     * (SDM Vol. 3A §4.5). */
    mov $pml4, %edi
    xor %eax, %eax
    mov $(3 * 1024), %ecx
    rep stosl
    movl $(pdpt + 7), pml4
    movl $(pd + 7), pdpt
    mov $pd, %edi
    mov $0x87, %eax                 /* P | RW | US | PS */
    mov $512, %ecx
1:  mov %eax, (%edi)
    add $0x200000, %eax
    add $8, %edi
    loop 1b

    mov %cr4, %eax
    or $0x20, %eax                  /* CR4.PAE */
    mov %eax, %cr4
    mov $pml4, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx           /* IA32_EFER: LME | SCE */
    rdmsr
    or $0x101, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax            /* CR0.PG | CR0.PE */
    mov %eax, %cr0
    lgdt gdtr
    ljmp $KERNEL_CS, $start64

    .code64
start64:
    mov $KERNEL_DS, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs
    mov $stack_top, %rsp
    mov mb_magic(%rip), %edi
    mov mb_info(%rip), %esi
    call nano_main
    mov %eax, %edi
    call guest_exit

/* ---- exceptions and system calls ---- */
    .text

/* #DE: count it, resume at fixup_rip. */
    .globl de_entry
de_entry:
    incq handled(%rip)
    push %rax
    mov fixup_rip(%rip), %rax
    mov %rax, 8(%rsp)
    pop %rax
    iretq

/* #PF: count it, read CR2 as a kernel would, drop the error code, resume at
 * fixup_rip. */
    .globl pf_entry
pf_entry:
    incq handled(%rip)
    push %rax
    mov %cr2, %rax
    mov %rax, last_cr2(%rip)
    mov fixup_rip(%rip), %rax
    mov %rax, 16(%rsp)
    pop %rax
    add $8, %rsp
    iretq

/* INT 0x80 (a DPL 3 gate): a null system call (counted). */
    .globl int80_entry
int80_entry:
    incq handled(%rip)
    iretq

/* SYSCALL: a null system call (counted); RAX = -1 ends the user program. */
    .globl syscall_entry
syscall_entry:
    cmp $-1, %rax
    je user_return
    incq handled(%rip)
    sysretq

/* #UD from CPL 3 ends the user program too (the int 0x80 loop ends with UD2). */
    .globl ud_entry
ud_entry:
    testb $3, 8(%rsp)
    jz unexpected_ud
    jmp user_return
unexpected_ud:
    pushq $0
    pushq $6
    jmp unexpected_common

/* Any other vector: isr_stub_N pushes a dummy error code where the CPU
 * pushes none, and N. */
.macro stub vector
    .balign 16
    .if (\vector == 8) || (\vector == 10) || (\vector == 11) || (\vector == 12) || (\vector == 13) || (\vector == 14) || (\vector == 17)
    .else
    pushq $0
    .endif
    pushq $\vector
    jmp unexpected_common
.endm
    .balign 16
    .globl isr_stubs
isr_stubs:
    .altmacro
.irp v, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
    stub %(\v)
.endr
    .noaltmacro
unexpected_common:
    mov %rsp, %rdi                  /* vector, error code, RIP, CS, ... */
    and $-16, %rsp
    call nano_unexpected

/* uint64_t user_run(void (*prog)(uint64_t), uint64_t n, void *stack_top):
 * runs prog(n) at CPL 3 with IF = 0, IOPL 0; returns the TSC delta from just
 * before the IRETQ down to the return here. */
    .globl user_run
user_run:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rdi, %r12
    mov %rsi, %r13
    mov %rdx, %r14
    mov %rsp, user_saved_rsp(%rip)
    rdtsc
    shl $32, %rdx
    or %rdx, %rax
    mov %rax, user_t0(%rip)
    pushq $0x23                     /* user SS */
    push %r14
    pushq $0x2                      /* RFLAGS: IF = 0, IOPL 0 */
    pushq $0x2b                     /* user 64-bit CS */
    push %r12
    mov %r13, %rdi
    iretq
user_return:
    rdtsc
    shl $32, %rdx
    or %rdx, %rax
    sub user_t0(%rip), %rax
    mov user_saved_rsp(%rip), %rsp
    mov $KERNEL_DS, %ecx            /* an interrupt from CPL 3 left SS null */
    mov %ecx, %ss
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

/* CPL 3 programs. */
    .globl user_syscall_loop
user_syscall_loop:
1:  xor %eax, %eax
    syscall
    dec %rdi
    jnz 1b
    mov $-1, %rax
    syscall

    .globl user_int80_loop
user_int80_loop:
1:  xor %eax, %eax
    int $0x80
    dec %rdi
    jnz 1b
    ud2

/* ---- timed loops, at CPL 0 ---- */
.macro tsc_start
    rdtsc
    shl $32, %rdx
    or %rax, %rdx
    mov %rdx, %r11
.endm
.macro tsc_end
    rdtsc
    shl $32, %rdx
    or %rdx, %rax
    sub %r11, %rax
.endm

    .globl nb_loop
nb_loop:
    tsc_start
1:  dec %rdi
    jnz 1b
    tsc_end
    ret

callee:
    ret

    .globl nb_callret
nb_callret:
    tsc_start
1:  call callee
    dec %rdi
    jnz 1b
    tsc_end
    ret

    .globl nb_in
nb_in:
    tsc_start
1:  inb $0x80, %al
    dec %rdi
    jnz 1b
    tsc_end
    ret

    .globl nb_out
nb_out:
    tsc_start
1:  outb %al, $0x80
    dec %rdi
    jnz 1b
    tsc_end
    ret

    .globl nb_cr8wr
nb_cr8wr:
    tsc_start
    xor %esi, %esi
1:  mov %rsi, %cr8
    dec %rdi
    jnz 1b
    tsc_end
    ret

    .globl nb_divzero
nb_divzero:
    lea 2f(%rip), %rax
    mov %rax, fixup_rip(%rip)
    xor %ecx, %ecx
    tsc_start
1:  mov $1, %eax
    xor %edx, %edx
    div %ecx
2:  dec %rdi
    jnz 1b
    tsc_end
    ret

/* uint64_t nb_pgfault(uint64_t n, volatile void *unmapped) */
    .globl nb_pgfault
nb_pgfault:
    lea 2f(%rip), %rax
    mov %rax, fixup_rip(%rip)
    tsc_start
1:  mov (%rsi), %eax
2:  dec %rdi
    jnz 1b
    tsc_end
    ret

/* uint64_t nb_ptemod(uint64_t n, volatile void *page, uint64_t *pte, uint64_t flip):
 * the PTE of page alternates between two frames (pte ^= flip), then the
 * page is read through it. */
    .globl nb_ptemod
nb_ptemod:
    mov %rdx, %r9
    mov (%r9), %r8
    tsc_start
1:  xor %rcx, %r8
    mov %r8, (%r9)
    invlpg (%rsi)
    mov (%rsi), %eax
    dec %rdi
    jnz 1b
    tsc_end
    ret

/* ---- data ---- */
    .section .rodata
    .balign 8
gdtr:
    .word gdt_end - gdt - 1
    .long gdt

    .data
    .balign 16
    .globl gdt
gdt:
    .quad 0
    .quad 0x00af9b000000ffff        /* 0x08 kernel code, 64-bit */
    .quad 0x00cf93000000ffff        /* 0x10 kernel data */
    .quad 0x00cffb000000ffff        /* 0x18 user code, 32-bit (SYSRET's base) */
    .quad 0x00cff3000000ffff        /* 0x20 user data */
    .quad 0x00affb000000ffff        /* 0x28 user code, 64-bit */
    .quad 0, 0                      /* 0x30 TSS, filled by nano.c */
gdt_end:

    .bss
    .balign 4096
    .globl pml4, pdpt, pd
pml4: .space 4096
pdpt: .space 4096
pd:   .space 4096
    .balign 16
    .space 16384
stack_top:
    .balign 8
    .globl fixup_rip, last_cr2, handled
fixup_rip:      .quad 0
handled:        .quad 0         /* entries into the handlers a loop provokes */
last_cr2:       .quad 0
user_saved_rsp: .quad 0
user_t0:        .quad 0
mb_magic:       .long 0
mb_info:        .long 0
