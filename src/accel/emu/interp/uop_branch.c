/*
 * Fast-path stack and near control flow: PUSH/POP of registers and
 * immediates, JMP, Jcc, CALL and RET. In 64-bit mode the stack is flat and
 * 64-bit wide, so pushes and pops go straight through the TLB; other modes
 * use the segmented stack of segment.c.
 */
#include "accel/emu/interp/uop.h"

static inline void push(struct emu_cpu *cpu, uint64_t v, unsigned size)
{
    if (cpu->code_bits == 64) {
        uint64_t sp = cpu->gpr[GPR_RSP] - size;

        uop_write(cpu, SEG_SS, sp, v, size);
        cpu->gpr[GPR_RSP] = sp;
    } else {
        emu_push(cpu, v, size);
    }
}

/* The value on top of the stack; drop() then pops it. */
static inline uint64_t top(struct emu_cpu *cpu, unsigned size)
{
    if (cpu->code_bits == 64)
        return uop_read(cpu, SEG_SS, cpu->gpr[GPR_RSP], size);
    return emu_stack_top(cpu, size);
}

static inline void drop(struct emu_cpu *cpu, uint64_t bytes)
{
    if (cpu->code_bits == 64)
        cpu->gpr[GPR_RSP] += bytes;
    else
        emu_stack_drop(cpu, bytes);
}

/* #GP(0) for a target outside CS's limit, or non-canonical in 64-bit mode. */
static inline uint64_t check_target(struct emu_cpu *cpu, uint64_t t)
{
    if (cpu->code_bits == 64 ? !emu_canonical(t) : t > cpu->seg[SEG_CS].limit)
        emu_raise(cpu, EXC_GP, 0);
    return t;
}

void uop_push_r(struct emu_cpu *cpu, const struct emu_uop *u)
{
    push(cpu, uop_get(cpu, u->reg, u->size), u->size);
}

void uop_push_i(struct emu_cpu *cpu, const struct emu_uop *u)
{
    push(cpu, u->imm, u->size);
}

void uop_pop_r(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uint64_t v = top(cpu, u->size);

    drop(cpu, u->size);
    uop_set(cpu, u->reg, v, u->size);
}

void uop_jmp_rel(struct emu_cpu *cpu, const struct emu_uop *u)
{
    cpu->rip = check_target(cpu, (cpu->rip + u->imm) & emu_mask(u->size));
}

void uop_jmp_r(struct emu_cpu *cpu, const struct emu_uop *u)
{
    cpu->rip = check_target(cpu, uop_get(cpu, u->rm, u->size));
}

void uop_jmp_m(struct emu_cpu *cpu, const struct emu_uop *u)
{
    cpu->rip = check_target(cpu, uop_read(cpu, u->seg, uop_ea(cpu, u), u->size));
}

void uop_jcc(struct emu_cpu *cpu, const struct emu_uop *u)
{
    if (uop_cond(cpu->rflags, u->aux))
        cpu->rip = check_target(cpu, (cpu->rip + u->imm) & emu_mask(u->size));
}

static inline void call(struct emu_cpu *cpu, uint64_t target, unsigned size)
{
    check_target(cpu, target);
    push(cpu, cpu->rip, size);
    cpu->rip = target;
}

void uop_call_rel(struct emu_cpu *cpu, const struct emu_uop *u)
{
    call(cpu, (cpu->rip + u->imm) & emu_mask(u->size), u->size);
}

void uop_call_r(struct emu_cpu *cpu, const struct emu_uop *u)
{
    call(cpu, uop_get(cpu, u->rm, u->size), u->size);
}

void uop_call_m(struct emu_cpu *cpu, const struct emu_uop *u)
{
    call(cpu, uop_read(cpu, u->seg, uop_ea(cpu, u), u->size), u->size);
}

void uop_ret(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uint64_t t = check_target(cpu, top(cpu, u->size));

    drop(cpu, u->size);
    cpu->rip = t;
}

void uop_ret_imm(struct emu_cpu *cpu, const struct emu_uop *u)
{
    uint64_t t = check_target(cpu, top(cpu, u->size));

    drop(cpu, u->size + u->imm);
    cpu->rip = t;
}
