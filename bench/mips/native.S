/* void mips_loop(uint64_t iters, void *array): body.S on the host. */
    .text
    .globl mips_loop
    .type mips_loop, @function
mips_loop:
    push %rbx
    mov %rdi, %rcx
#include "body.S"
    pop %rbx
    ret
    .section .note.GNU-stack, "", @progbits
