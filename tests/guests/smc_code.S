/*
 * Code that smc.c rewrites while it runs. Every function follows the SysV
 * ABI: argument in EDI (and RSI), result in EAX. The "mov $imm32, %eax" of
 * each is spelled out as its opcode, 0xb8, and a labelled immediate so that
 * the label addresses the bytes to patch.
 */
    .text
    .code64

/* Returns its immediate, which smc.c rewrites between calls. */
    .globl smc_imm, smc_imm_value, smc_imm_end
smc_imm:
    .byte 0xb8
smc_imm_value:
    .long 0x11111111
    ret
smc_imm_end:

/* Stores EDI into the immediate of the very next instruction, which must
 * then run with it: no branch in between (SDM Vol. 3A §11.6). */
    .globl smc_next, smc_next_value
smc_next:
    mov %edi, smc_next_value(%rip)
    .byte 0xb8
smc_next_value:
    .long 0
    ret

/* Turns the two NOPs after the store into INC EAX: returns 1 if the new
 * opcode ran, 0 if the old bytes did. */
    .globl smc_next_op, smc_next_op_insn
smc_next_op:
    xor %eax, %eax
    movw $0xc0ff, smc_next_op_insn(%rip)
smc_next_op_insn:
    nop
    nop
    ret

/* The same as smc_next with a jump between the store and the new code, as
 * SDM Vol. 3A §8.1.3 (option 1) recommends. */
    .globl smc_jmp, smc_jmp_value
smc_jmp:
    mov %edi, smc_jmp_value(%rip)
    jmp 1f
1:  .byte 0xb8
smc_jmp_value:
    .long 0
    ret

/* Position-independent code that smc.c copies to other pages. smc_alias
 * stores EDI through the pointer in RSI, which smc.c points at the
 * immediate below through another virtual alias of the same page, then
 * jumps to the new code. */
    .globl smc_alias, smc_alias_value, smc_alias_end
smc_alias:
    mov %edi, (%rsi)
    jmp 1f
1:  .byte 0xb8
smc_alias_value:
    .long 0
    ret
smc_alias_end:

/* Returns EDI + 7: other code to put where smc_imm was. */
    .globl smc_add7, smc_add7_end
smc_add7:
    lea 7(%rdi), %eax
    ret
    nop
smc_add7_end:

/* Stores EDI into a word two lines further on (most often the same page),
 * then runs on: a store that leaves the code's own 64-byte lines alone. */
    .globl smc_near, smc_near_data
    .p2align 6
smc_near:
    mov %edi, smc_near_data(%rip)
    .byte 0xb8
    .long 0x600d
    ret
    .p2align 6
    .skip 64
smc_near_data:
    .long 0
