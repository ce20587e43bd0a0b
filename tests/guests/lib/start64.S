/* Entry of a 64-bit guest: vx86 enters in long mode with RDI = command line,
 * RSI = RAM size and RSP = 0x10000. */
    .section .text.start, "ax"
    .globl _start
    .code64
_start:
    mov $stack_top, %rsp
    call guest_main
    mov %eax, %edi
    call guest_exit

    .section .bss
    .balign 16
    .space 16384
stack_top:
