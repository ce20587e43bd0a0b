/*
 * The loop that bench/mips times, shared by the guest (loop.S) and the
 * native run (native.S): RCX iterations, RSI a 4 MiB array; clobbers RAX,
 * RBX, RDX.
 *   KIND 0 (integer): add, xor, dec, jnz on registers, 4 instructions.
 *   KIND 1 (memory): a load, an add and a store with a 64-byte stride over
 *     the array, plus the index arithmetic: 7 instructions.
 */
#if KIND == 0
    xor %eax, %eax
    mov $7, %edx
2:  add $3, %eax
    xor %edx, %eax
    dec %rcx
    jnz 2b
#else
    xor %edx, %edx
    xor %ebx, %ebx
2:  mov (%rsi,%rdx), %rax
    add %rax, %rbx
    mov %rbx, 8(%rsi,%rdx)
    add $64, %rdx
    and $0x3fffc0, %rdx
    dec %rcx
    jnz 2b
#endif
