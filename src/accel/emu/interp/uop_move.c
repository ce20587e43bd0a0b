/*
 * Fast-path data movement: MOV, MOVZX/MOVSX, LEA, CMOVcc, SETcc, XCHG of
 * registers, the sign extensions of rAX, NOP.
 */
#include "accel/emu/interp/uop.h"

static void mov_rr(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uop_set(cpu, u->reg, uop_get(cpu, u->rm, u->size), u->size);
}

static void mov_ri(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uop_set(cpu, u->reg, u->imm, u->size);
}

static void mov_rm(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uop_set(cpu, u->reg, uop_read(cpu, u->seg, uop_ea(cpu, u), u->size), u->size);
}

static void mov_mr(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uop_write(cpu, u->seg, uop_ea(cpu, u), uop_get(cpu, u->reg, u->size), u->size);
}

static void mov_mi(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uop_write(cpu, u->seg, uop_ea(cpu, u), u->imm, u->size);
}

emu_uop_fn *const uop_mov_fns[FORM_COUNT] = {mov_rr, mov_ri, mov_rm, mov_mr, mov_mi};

static uint64_t sign_extend(uint64_t v, unsigned bytes)
{
    unsigned shift = 64 - bytes * 8;

    return bytes >= 8 ? v : (uint64_t)((int64_t)(v << shift) >> shift);
}

void uop_movzx_r(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uop_set(cpu, u->reg, uop_get(cpu, u->rm, u->aux), u->size);
}

void uop_movzx_m(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uop_set(cpu, u->reg, uop_read(cpu, u->seg, uop_ea(cpu, u), u->aux), u->size);
}

void uop_movsx_r(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uop_set(cpu, u->reg, sign_extend(uop_get(cpu, u->rm, u->aux), u->aux), u->size);
}

void uop_movsx_m(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uop_set(cpu, u->reg, sign_extend(uop_read(cpu, u->seg, uop_ea(cpu, u), u->aux), u->aux),
            u->size);
}

void uop_lea(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uop_set(cpu, u->reg, uop_ea(cpu, u), u->size);
}

/* The source is read (and may fault) whatever the condition; a 32-bit
 * destination is zero-extended either way. */
void uop_cmov_r(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uint64_t v = uop_get(cpu, u->rm, u->size);

    uop_set(cpu, u->reg, uop_cond(cpu->rflags, u->aux) ? v : uop_get(cpu, u->reg, u->size),
            u->size);
}

void uop_cmov_m(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uint64_t v = uop_read(cpu, u->seg, uop_ea(cpu, u), u->size);

    uop_set(cpu, u->reg, uop_cond(cpu->rflags, u->aux) ? v : uop_get(cpu, u->reg, u->size),
            u->size);
}

void uop_setcc_r(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uop_set(cpu, u->reg, uop_cond(cpu->rflags, u->aux), 1);
}

void uop_setcc_m(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uop_write(cpu, u->seg, uop_ea(cpu, u), uop_cond(cpu->rflags, u->aux), 1);
}

void uop_xchg_rr(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uint64_t a = uop_get(cpu, u->reg, u->size), b = uop_get(cpu, u->rm, u->size);

    uop_set(cpu, u->reg, b, u->size);
    uop_set(cpu, u->rm, a, u->size);
}

void uop_nop(struct emu_cpu *cpu, const struct emu_uop *u)
{
    (void)cpu;
    (void)u;
}

/* RDTSC(P) is frequent in Linux's clocks: a handler of its own keeps it
 * off the generic path (and keeps its blocks linkable for the translator,
 * as it does not serialize). PAUSE stays generic: a spin loop with it
 * translated whole burnt 4-9 times the CPU of a 2-vCPU guest (kvm-unit-
 * tests' xapic) waiting for a vCPU thread the host had descheduled. */
void uop_rdtsc(struct emu_cpu *cpu, const struct emu_uop *u)
{
    (void)u;
    emu_rdtsc(cpu, false);
}

void uop_rdtscp(struct emu_cpu *cpu, const struct emu_uop *u)
{
    (void)u;
    emu_rdtsc(cpu, true);
}

void uop_cdqe(struct emu_cpu *cpu, const struct emu_uop *u)
{
    (void)u;
    cpu->gpr[GPR_RAX] = sign_extend(cpu->gpr[GPR_RAX], 4);
}

void uop_cwde(struct emu_cpu *cpu, const struct emu_uop *u)
{
    (void)u;
    cpu->gpr[GPR_RAX] = (uint32_t)sign_extend(cpu->gpr[GPR_RAX], 2);
}

void uop_cdq(struct emu_cpu *cpu, const struct emu_uop *u)
{
    (void)u;
    cpu->gpr[GPR_RDX] = (cpu->gpr[GPR_RAX] & 0x80000000) ? 0xffffffff : 0;
}

void uop_cqo(struct emu_cpu *cpu, const struct emu_uop *u)
{
    (void)u;
    cpu->gpr[GPR_RDX] = (cpu->gpr[GPR_RAX] >> 63) ? ~0ULL : 0;
}
