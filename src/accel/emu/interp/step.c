/*
 * The interpreter's side of debugging (SDM Vol. 3B ch. 17): MOV to and from
 * the debug registers, and an instruction run alone with its instruction
 * breakpoints before it and its data, I/O and single-step traps after it.
 * The debug registers' state and the breakpoint checks are cpu/debug.c's.
 */
#include "accel/emu/interp/uop.h"

void emu_mov_dr(struct emu_cpu *cpu, int n, bool to_dr, ZydisRegister gpr)
{
    uint64_t v;

    /* DR4/DR5 are DR6/DR7 unless debug extensions make them reserved. */
    if (n > 7 || ((n == 4 || n == 5) && (cpu->cr4 & CR4_DE)))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    if (n == 4 || n == 5)
        n += 2;
    /* General detect: a fault before the access (SDM Vol. 3B §17.2.4). */
    if (cpu->dr7 & DR7_GD) {
        emu_debug_report(cpu, DR6_BD);
        emu_raise(cpu, EXC_DB, EXC_NO_ERROR);
    }
    if (!to_dr) {
        v = n < 4 ? cpu->dr[n] : n == 6 ? cpu->dr6 : cpu->dr7;
        emu_reg_write(cpu, gpr, v);
        return;
    }
    v = emu_reg_read(cpu, gpr);
    if (n < 4) {
        cpu->dr[n] = v;
        return;
    }
    /* The upper halves of DR6 and DR7 are reserved: writing ones there is #GP(0). */
    if (v >> 32)
        emu_raise(cpu, EXC_GP, 0);
    if (n == 6) {
        cpu->dr6 = (v & DR6_WRITABLE) | DR6_FIXED1;
        return;
    }
    cpu->dr7 = (v & DR7_WRITABLE) | DR7_FIXED1;
    emu_debug_update(cpu);
}

/* Instruction breakpoints at the linear address of the instruction at RIP. */
static uint64_t exec_hits(struct emu_cpu *cpu)
{
    uint64_t lin = cpu->seg[SEG_CS].base + cpu->rip, hits = 0;

    if (cpu->code_bits != 64)
        lin &= 0xffffffff;
    for (int i = 0; i < 4; i++)
        if ((cpu->bp_exec >> i) & 1 && cpu->dr[i] == lin)
            hits |= 1u << i;
    return hits;
}

/*
 * The single-step rule (SDM Vol. 3B §17.3.1.4): a #DB trap with DR6.BS after
 * an instruction that began with TF set, so POPF or IRET that sets TF traps
 * only after the next instruction. SYSCALL goes by TF as it leaves it, so
 * one whose FMASK clears TF does not trap in the kernel; SYSRET that leaves
 * TF set traps too, through db_due (interrupt.c). A software interrupt
 * (INT n, INT3, INTO, ICEBP) clears TF on the way to its handler and does
 * not trap.
 */
static bool single_step(const struct emu_cpu *cpu, uint64_t rflags_before)
{
    ZydisMnemonic m = cpu->decoded->insn.mnemonic;

    if (m == ZYDIS_MNEMONIC_SYSCALL)
        return cpu->rflags & RFLAGS_TF;
    return rflags_before & RFLAGS_TF;
}

void emu_debug_step(struct emu_cpu *cpu)
{
    uint64_t before = cpu->rflags, held = cpu->db_pending, bits;
    bool after_mov_ss = cpu->intr_shadow && cpu->db_shadow;

    /* A SYSRET that ran in a block left its trap due: take it first. */
    if (cpu->db_due) {
        emu_debug_report(cpu, cpu->db_due);
        cpu->db_due = 0;
        emu_external_interrupt(cpu, EXC_DB);
        return;
    }
    cpu->db_pending = 0;
    cpu->db_hits = 0;
    cpu->db_shadow = false;
    cpu->db_soft = DB_SOFT_NONE;
    cpu->insn_rip = cpu->rip;
    /* An instruction breakpoint is a fault before the instruction, unless
     * RF says it was reported already; its frame keeps RF as it is, for
     * the handler to set (SDM Vol. 3B §17.3.1.1). Intel CPUs do not report
     * it at all for the instruction after MOV SS or POP SS (§6.8.3). */
    if (cpu->bp_exec && !(before & RFLAGS_RF) && !after_mov_ss) {
        bits = exec_hits(cpu);
        if (bits) {
            emu_debug_report(cpu, bits);
            cpu->exc_no_rf = true;
            emu_raise(cpu, EXC_DB, EXC_NO_ERROR);
        }
    }
    /* RF clears at the start of the instruction, after the instruction
     * breakpoint check (SDM Vol. 3B §17.3.1.1); IRET may set it again, and
     * a fault pushes it set. */
    cpu->rflags &= ~RFLAGS_RF;
    emu_step(cpu);

    /* ICEBP's #DB stands for every trap due here (those held over a MOV
     * SS too); another software interrupt lets held data breakpoints
     * through, to trap at its handler's first instruction. */
    if (cpu->db_soft == DB_SOFT_ICEBP)
        return;
    bits = (held | cpu->db_hits | cpu->db_due) & (cpu->db_soft ? DR6_B0_3 : ~0ULL);
    cpu->db_due = 0;
    if (!cpu->db_soft && single_step(cpu, before))
        bits |= DR6_BS;
    if (!bits)
        return;
    /* MOV SS and POP SS hold debug traps back until after the next
     * instruction, so that a stack switch completes (SDM Vol. 3A §6.8.3). */
    if (cpu->db_shadow) {
        cpu->db_pending = bits;
        return;
    }
    emu_debug_report(cpu, bits);
    emu_external_interrupt(cpu, EXC_DB);
}
