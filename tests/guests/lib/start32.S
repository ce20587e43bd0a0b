/* Entry of a multiboot v1 guest: the header (Multiboot Specification 0.6.96
 * §3.1), then 32-bit code entered with paging off, EAX = the boot magic and
 * EBX = the boot information (§3.2). */
#define MB_HEADER_MAGIC 0x1badb002
#define MB_FLAG_MEMINFO (1 << 1)

    .section .multiboot, "a"
    .balign 4
    .long MB_HEADER_MAGIC
    .long MB_FLAG_MEMINFO
    .long -(MB_HEADER_MAGIC + MB_FLAG_MEMINFO)

    .section .text.start, "ax"
    .code32
    .globl _start
_start:
    mov $stack_top, %esp
    sub $8, %esp        /* 16-byte aligned at the call, as the i386 ABI wants */
    push %ebx
    push %eax
    call guest_main_multiboot
    sub $12, %esp
    push %eax
    call guest_exit

    .section .bss
    .balign 16
    .space 16384
stack_top:
