/*
 * The x87 environment in memory: FNSTENV, FLDENV, FNSAVE, FRSTOR (SDM Vol.
 * 1 §8.1.10, Figures 8-9 to 8-12; Vol. 2 each instruction). Four layouts:
 * 14 or 28 bytes by operand size, protected-mode or real-mode pointers.
 * These run in C from cpu->fxsave, because the host would always write the
 * 64-bit-mode (protected, 32-bit) layout and host pointers.
 *
 * The FPU pointers are offsets; FCS and FDS read as 0 (deprecated, see
 * fpu.h). The real-mode layout's 20-bit "linear" pointers hold the offsets.
 */
#include "accel/emu/fpu.h"

#define RESERVED 0xffff0000u /* what Intel and AMD CPUs store in the unused halves */

static void put16(uint8_t *p, unsigned off, uint32_t v)
{
    p[off] = (uint8_t)v;
    p[off + 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, unsigned off, uint32_t v)
{
    put16(p, off, v & 0xffff);
    put16(p, off + 2, v >> 16);
}

static uint32_t get16(const uint8_t *p, unsigned off)
{
    return p[off] | (uint32_t)p[off + 1] << 8;
}

static uint32_t get32(const uint8_t *p, unsigned off)
{
    return get16(p, off) | get16(p, off + 2) << 16;
}

/* The full tag word from the abridged one and the registers' contents
 * (SDM Vol. 1 §8.1.7 and FXSAVE's Table 3-44): 00 valid, 01 zero,
 * 10 special (NaN, infinity, denormal, unnormal), 11 empty. */
static uint16_t full_tags(const struct emu_cpu *cpu)
{
    unsigned top = (fx16(cpu, FX_FSW) & FSW_TOP) >> 11;
    uint16_t ftw = 0;

    for (unsigned r = 0; r < 8; r++) {
        const uint8_t *st = cpu->fxsave + FX_ST((r - top) & 7);
        uint64_t mant;
        uint16_t exp;
        unsigned tag;

        memcpy(&mant, st, 8);
        memcpy(&exp, st + 8, 2);
        exp &= 0x7fff;
        if (!(cpu->fxsave[FX_FTW] & (1u << r)))
            tag = 3;
        else if (exp == 0x7fff)
            tag = 2;
        else if (exp == 0)
            tag = mant ? 2 : 1;
        else
            tag = mant >> 63 ? 0 : 2;
        ftw |= (uint16_t)(tag << (2 * r));
    }
    return ftw;
}

static bool real_format(const struct emu_cpu *cpu)
{
    return !(cpu->cr0 & CR0_PE) || (cpu->rflags & RFLAGS_VM);
}

/* Writes the environment into env; returns its size. */
static unsigned store_env(const struct emu_cpu *cpu, uint8_t *env)
{
    uint32_t fcw = fx16(cpu, FX_FCW), fsw = fx16(cpu, FX_FSW), ftw = full_tags(cpu);
    uint32_t fop = fx16(cpu, FX_FOP) & 0x7ff;
    uint32_t fip = (uint32_t)fx64(cpu, FX_FIP), fdp = (uint32_t)fx64(cpu, FX_FDP);

    if (cpu->decoded->insn.operand_width == 16) {
        put16(env, 0, fcw);
        put16(env, 2, fsw);
        put16(env, 4, ftw);
        if (real_format(cpu)) {
            put16(env, 6, fip);
            put16(env, 8, (fip >> 16 & 0xf) << 12 | fop);
            put16(env, 10, fdp);
            put16(env, 12, (fdp >> 16 & 0xf) << 12);
        } else {
            put16(env, 6, fip);
            put16(env, 8, 0); /* FCS */
            put16(env, 10, fdp);
            put16(env, 12, 0); /* FDS */
        }
        return 14;
    }
    put32(env, 0, RESERVED | fcw);
    put32(env, 4, RESERVED | fsw);
    put32(env, 8, RESERVED | ftw);
    if (real_format(cpu)) {
        put32(env, 12, RESERVED | (fip & 0xffff));
        put32(env, 16, (fip >> 16) << 12 | fop);
        put32(env, 20, RESERVED | (fdp & 0xffff));
        put32(env, 24, (fdp >> 16) << 12);
    } else {
        put32(env, 12, fip);
        put32(env, 16, fop << 16); /* FOP above FCS */
        put32(env, 20, fdp);
        put32(env, 24, RESERVED); /* FDS */
    }
    return 28;
}

static unsigned env_size(const struct emu_cpu *cpu)
{
    return cpu->decoded->insn.operand_width == 16 ? 14 : 28;
}

/* Loads the environment from env: control, status (FSW.ES recomputed), tags, pointers. */
static void load_env(struct emu_cpu *cpu, const uint8_t *env)
{
    uint32_t ftw, fip, fdp, fop;
    uint8_t abridged = 0;

    set_fx16(cpu, FX_FCW, (uint16_t)get16(env, 0));
    if (cpu->decoded->insn.operand_width == 16) {
        set_fx16(cpu, FX_FSW, (uint16_t)get16(env, 2));
        ftw = get16(env, 4);
        fip = get16(env, 6);
        fdp = get16(env, 10);
        fop = 0;
        if (real_format(cpu)) {
            fip |= (get16(env, 8) >> 12) << 16;
            fop = get16(env, 8) & 0x7ff;
            fdp |= (get16(env, 12) >> 12) << 16;
        }
    } else {
        set_fx16(cpu, FX_FSW, (uint16_t)get16(env, 4));
        ftw = get16(env, 8);
        if (real_format(cpu)) {
            fip = get16(env, 12) | (get32(env, 16) >> 12 & 0xffff) << 16;
            fop = get32(env, 16) & 0x7ff;
            fdp = get16(env, 20) | (get32(env, 24) >> 12 & 0xffff) << 16;
        } else {
            fip = get32(env, 12);
            fop = get32(env, 16) >> 16 & 0x7ff;
            fdp = get32(env, 20);
        }
    }
    for (unsigned r = 0; r < 8; r++)
        if (((ftw >> (2 * r)) & 3) != 3)
            abridged |= (uint8_t)(1u << r);
    cpu->fxsave[FX_FTW] = abridged;
    set_fx16(cpu, FX_FOP, (uint16_t)fop);
    set_fx64(cpu, FX_FIP, fip);
    set_fx64(cpu, FX_FDP, fdp);
    fpu_update_es(cpu);
}

bool fpu_exec_env(struct emu_cpu *cpu)
{
    uint8_t buf[28 + 80];
    unsigned n;
    int seg;
    uint64_t ea;

    switch (cpu->decoded->insn.mnemonic) {
    case ZYDIS_MNEMONIC_FNSTENV:
    case ZYDIS_MNEMONIC_FNSAVE:
    case ZYDIS_MNEMONIC_FLDENV:
    case ZYDIS_MNEMONIC_FRSTOR:
        break;
    default:
        return false;
    }
    /* FLDENV and FRSTOR wait: a pending exception is taken first. */
    fpu_check_x87(cpu, cpu->decoded->insn.mnemonic == ZYDIS_MNEMONIC_FLDENV ||
                           cpu->decoded->insn.mnemonic == ZYDIS_MNEMONIC_FRSTOR);
    seg = emu_op_seg(cpu, 0);
    ea = emu_op_address(cpu, 0);
    n = env_size(cpu);
    switch (cpu->decoded->insn.mnemonic) {
    case ZYDIS_MNEMONIC_FNSTENV:
        store_env(cpu, buf);
        fpu_mem_write(cpu, seg, ea, buf, n);
        /* FNSTENV then masks every exception, as a handler wants. */
        set_fx16(cpu, FX_FCW, fx16(cpu, FX_FCW) | FSW_EXC);
        fpu_update_es(cpu);
        return true;
    case ZYDIS_MNEMONIC_FNSAVE:
        store_env(cpu, buf);
        for (unsigned i = 0; i < 8; i++)
            memcpy(buf + n + 10 * i, cpu->fxsave + FX_ST(i), 10);
        fpu_mem_write(cpu, seg, ea, buf, n + 80);
        fpu_init_x87(cpu);
        return true;
    case ZYDIS_MNEMONIC_FLDENV:
    case ZYDIS_MNEMONIC_FRSTOR: {
        bool regs = cpu->decoded->insn.mnemonic == ZYDIS_MNEMONIC_FRSTOR;

        fpu_mem_read(cpu, seg, ea, buf, regs ? n + 80 : n);
        load_env(cpu, buf);
        for (unsigned i = 0; regs && i < 8; i++) {
            memset(cpu->fxsave + FX_ST(i), 0, 16);
            memcpy(cpu->fxsave + FX_ST(i), buf + n + 10 * i, 10);
        }
        return true;
    }
    default:
        return false;
    }
}
