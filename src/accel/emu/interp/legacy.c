/*
 * Instructions that exist only outside 64-bit mode or are rarely used:
 * decimal arithmetic (DAA/DAS/AAA/AAS/AAM/AAD, SDM Vol. 2 pseudo-code), SALC,
 * BOUND, ARPL, far-pointer loads (LDS/LES/LFS/LGS/LSS), descriptor queries
 * (LAR/LSL/VERR/VERW), RDRAND/RDSEED, RDPID and the FS/GS base
 * instructions. The host cannot run the decimal ones in 64-bit mode, so
 * they are computed here.
 */
#include <sys/random.h>

#include "accel/emu/interp/interp.h"
#include "vm/vm.h"

static uint8_t al(const struct emu_cpu *cpu)
{
    return (uint8_t)cpu->gpr[GPR_RAX];
}

static void set_al(struct emu_cpu *cpu, uint8_t v)
{
    cpu->gpr[GPR_RAX] = (cpu->gpr[GPR_RAX] & ~0xffULL) | v;
}

static void set_ax(struct emu_cpu *cpu, uint16_t v)
{
    cpu->gpr[GPR_RAX] = (cpu->gpr[GPR_RAX] & ~0xffffULL) | v;
}

/* SF, ZF and PF from an 8-bit result; the other status flags as given. */
static void set_szp(struct emu_cpu *cpu, uint8_t r, uint64_t cf_af)
{
    uint64_t f = cf_af;

    if (r & 0x80)
        f |= RFLAGS_SF;
    if (r == 0)
        f |= RFLAGS_ZF;
    if (!__builtin_parity(r))
        f |= RFLAGS_PF;
    cpu->rflags = (cpu->rflags & ~RFLAGS_STATUS) | f;
}

static void decimal(struct emu_cpu *cpu, ZydisMnemonic m)
{
    uint8_t a = al(cpu), imm;
    bool cf = cpu->rflags & RFLAGS_CF, af = cpu->rflags & RFLAGS_AF;
    uint64_t f = 0;

    switch (m) {
    case ZYDIS_MNEMONIC_DAA:
    case ZYDIS_MNEMONIC_DAS: {
        bool add = m == ZYDIS_MNEMONIC_DAA;
        uint8_t r = a;

        if ((a & 0xf) > 9 || af) {
            bool carry = add ? r + 6 > 0xff : r < 6;

            r = add ? (uint8_t)(r + 6) : (uint8_t)(r - 6);
            f |= RFLAGS_AF | ((cf || carry) ? RFLAGS_CF : 0);
        }
        if (a > 0x99 || cf) {
            r = add ? (uint8_t)(r + 0x60) : (uint8_t)(r - 0x60);
            f |= RFLAGS_CF;
        }
        set_al(cpu, r);
        set_szp(cpu, r, f);
        return;
    }
    case ZYDIS_MNEMONIC_AAA:
    case ZYDIS_MNEMONIC_AAS: {
        uint16_t ax = (uint16_t)cpu->gpr[GPR_RAX];

        if ((a & 0xf) > 9 || af) {
            ax = m == ZYDIS_MNEMONIC_AAA ? (uint16_t)(ax + 0x106) : (uint16_t)(ax - 0x106);
            f = RFLAGS_AF | RFLAGS_CF;
        }
        set_ax(cpu, ax & 0xff0f);
        set_szp(cpu, (uint8_t)(ax & 0x0f), f);
        return;
    }
    case ZYDIS_MNEMONIC_AAM:
        imm = (uint8_t)emu_op_read(cpu, 0);
        if (imm == 0)
            emu_raise(cpu, EXC_DE, EXC_NO_ERROR);
        set_ax(cpu, (uint16_t)((a / imm) << 8 | (a % imm)));
        set_szp(cpu, a % imm, 0);
        return;
    default: /* AAD */
        imm = (uint8_t)emu_op_read(cpu, 0);
        a = (uint8_t)(a + ((cpu->gpr[GPR_RAX] >> 8) & 0xff) * imm);
        set_ax(cpu, a);
        set_szp(cpu, a, 0);
        return;
    }
}

/* LDS/LES/LFS/LGS/LSS r, m16:16/32/64. */
static void far_pointer_load(struct emu_cpu *cpu, int seg)
{
    unsigned size = cpu->decoded->ops[0].size / 8;
    int s = emu_op_seg(cpu, 1);
    uint64_t a = emu_op_address(cpu, 1);
    uint64_t off = emu_read(cpu, s, a, size);
    uint16_t sel = (uint16_t)emu_read(cpu, s, a + size, 2);

    emu_load_seg(cpu, seg, sel);
    emu_op_write(cpu, 0, off);
    if (seg == SEG_SS)
        cpu->intr_shadow = true;
}

/* LAR/LSL/VERR/VERW: ZF says whether the selector passes the checks. */
static void descriptor_query(struct emu_cpu *cpu, ZydisMnemonic m)
{
    uint16_t sel = (uint16_t)emu_op_read(cpu, m == ZYDIS_MNEMONIC_LAR || m == ZYDIS_MNEMONIC_LSL);
    struct cpu_segment s;
    uint64_t d, index = sel & ~7u, limit = sel & 4 ? cpu->ldt.limit : cpu->gdt.limit;
    bool ok, conforming_code;

    if (!(cpu->cr0 & CR0_PE) || (cpu->rflags & RFLAGS_VM))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    cpu->rflags &= ~RFLAGS_ZF;
    if ((sel & 0xfffc) == 0 || index + 7 > limit || ((sel & 4) && cpu->ldt.unusable))
        return;
    d = emu_read_descriptor(cpu, sel, EXC_GP);
    emu_seg_from_descriptor(&s, sel, d);
    conforming_code = s.s && (s.type & 0xc) == 0xc;
    ok = conforming_code || (s.dpl >= cpu->cpl && s.dpl >= (sel & 3));
    switch (m) {
    case ZYDIS_MNEMONIC_VERR:
        ok = ok && s.s && (!(s.type & 0x8) || (s.type & 0x2));
        break;
    case ZYDIS_MNEMONIC_VERW:
        ok = ok && !conforming_code && s.s && !(s.type & 0x8) && (s.type & 0x2);
        break;
    default:
        /* LAR/LSL also accept system descriptors (TSS, LDT; call gates for LAR). */
        if (!s.s) {
            static const uint16_t lar_types = 0x1e, lsl_types = 0x0e; /* 16-bit legacy */
            uint16_t types = emu_long_mode(cpu) ? (1u << 2 | 1u << 9 | 1u << 11 |
                                                   (m == ZYDIS_MNEMONIC_LAR ? 1u << 12 : 0))
                                                : (m == ZYDIS_MNEMONIC_LAR ? lar_types : lsl_types) |
                                                      1u << 9 | 1u << 11 |
                                                      (m == ZYDIS_MNEMONIC_LAR ? 1u << 12 : 0);

            ok = ok && (types >> s.type & 1);
        }
        break;
    }
    if (!ok)
        return;
    cpu->rflags |= RFLAGS_ZF;
    if (m == ZYDIS_MNEMONIC_LAR)
        emu_op_write(cpu, 0, d >> 32 & 0x00f0ff00);
    else if (m == ZYDIS_MNEMONIC_LSL)
        emu_op_write(cpu, 0, s.limit);
}

/* RDRAND/RDSEED from the host's getrandom(): CF=1 means the value is good. */
static void random_number(struct emu_cpu *cpu)
{
    uint64_t v = 0;
    unsigned size = cpu->decoded->ops[0].size / 8;
    bool ok = getrandom(&v, size, GRND_NONBLOCK) == (ssize_t)size;

    emu_op_write(cpu, 0, ok ? v : 0);
    cpu->rflags = (cpu->rflags & ~RFLAGS_STATUS) | (ok ? RFLAGS_CF : 0);
}

bool emu_exec_legacy(struct emu_cpu *cpu)
{
    ZydisMnemonic m = cpu->decoded->insn.mnemonic;
    uint64_t v;

    switch (m) {
    case ZYDIS_MNEMONIC_DAA:
    case ZYDIS_MNEMONIC_DAS:
    case ZYDIS_MNEMONIC_AAA:
    case ZYDIS_MNEMONIC_AAS:
    case ZYDIS_MNEMONIC_AAM:
    case ZYDIS_MNEMONIC_AAD:
        decimal(cpu, m);
        return true;
    case ZYDIS_MNEMONIC_SALC:
        /* Undocumented in the SDM, invalid in 64-bit mode (Zydis decodes it
         * only outside): AL = CF ? 0xff : 0, flags unchanged. */
        set_al(cpu, cpu->rflags & RFLAGS_CF ? 0xff : 0);
        return true;
    case ZYDIS_MNEMONIC_BOUND: {
        unsigned size = cpu->decoded->ops[0].size / 8;
        int s = emu_op_seg(cpu, 1);
        uint64_t a = emu_op_address(cpu, 1);
        int64_t idx = (int64_t)(emu_op_read(cpu, 0) << (64 - size * 8)) >> (64 - size * 8);
        int64_t lo = (int64_t)(emu_read(cpu, s, a, size) << (64 - size * 8)) >> (64 - size * 8);
        int64_t hi = (int64_t)(emu_read(cpu, s, a + size, size) << (64 - size * 8)) >>
                     (64 - size * 8);

        if (idx < lo || idx > hi)
            emu_raise(cpu, EXC_BR, EXC_NO_ERROR);
        return true;
    }
    case ZYDIS_MNEMONIC_ARPL:
        v = emu_op_read(cpu, 0);
        if ((v & 3) < (emu_op_read(cpu, 1) & 3)) {
            emu_op_write(cpu, 0, (v & ~3ULL) | (emu_op_read(cpu, 1) & 3));
            cpu->rflags |= RFLAGS_ZF;
        } else {
            cpu->rflags &= ~RFLAGS_ZF;
        }
        return true;
    case ZYDIS_MNEMONIC_LDS:
        far_pointer_load(cpu, SEG_DS);
        return true;
    case ZYDIS_MNEMONIC_LES:
        far_pointer_load(cpu, SEG_ES);
        return true;
    case ZYDIS_MNEMONIC_LFS:
        far_pointer_load(cpu, SEG_FS);
        return true;
    case ZYDIS_MNEMONIC_LGS:
        far_pointer_load(cpu, SEG_GS);
        return true;
    case ZYDIS_MNEMONIC_LSS:
        far_pointer_load(cpu, SEG_SS);
        return true;
    case ZYDIS_MNEMONIC_LAR:
    case ZYDIS_MNEMONIC_LSL:
    case ZYDIS_MNEMONIC_VERR:
    case ZYDIS_MNEMONIC_VERW:
        descriptor_query(cpu, m);
        return true;
    case ZYDIS_MNEMONIC_RDRAND:
    case ZYDIS_MNEMONIC_RDSEED:
        if (!cpu_model_has(cpu->vm->cfg.cpu_off,
                           m == ZYDIS_MNEMONIC_RDRAND ? CPU_RDRAND : CPU_RDSEED))
            emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
        random_number(cpu);
        return true;
    case ZYDIS_MNEMONIC_SERIALIZE:
        /* Nothing to wait for here: an instruction of the generic groups
         * that does not let its block go on (emu_uop_generic_continues),
         * so the next block is looked up, its page's generation checked,
         * and code that another vCPU or a device wrote is seen from the
         * next instruction on (SDM Vol. 3A §9.3). Linux's sync_core() uses
         * it instead of an IRET to itself. */
        if (!cpu_model_has(cpu->vm->cfg.cpu_off, CPU_SERIALIZE))
            emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
        return true;
    case ZYDIS_MNEMONIC_RDPID:
        if (!cpu_model_has(cpu->vm->cfg.cpu_off, CPU_RDPID))
            emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
        emu_op_write(cpu, 0, cpu->msr.tsc_aux);
        return true;
    case ZYDIS_MNEMONIC_RDFSBASE:
    case ZYDIS_MNEMONIC_RDGSBASE:
    case ZYDIS_MNEMONIC_WRFSBASE:
    case ZYDIS_MNEMONIC_WRGSBASE: {
        int seg = m == ZYDIS_MNEMONIC_RDFSBASE || m == ZYDIS_MNEMONIC_WRFSBASE ? SEG_FS : SEG_GS;

        if (cpu->code_bits != 64 || !(cpu->cr4 & CR4_FSGSBASE))
            emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
        if (m == ZYDIS_MNEMONIC_RDFSBASE || m == ZYDIS_MNEMONIC_RDGSBASE) {
            emu_op_write(cpu, 0, cpu->seg[seg].base);
            return true;
        }
        v = emu_op_read(cpu, 0);
        if (cpu->decoded->ops[0].size == 32)
            v &= 0xffffffff;
        else if (!emu_canonical(v))
            emu_raise(cpu, EXC_GP, 0);
        cpu->seg[seg].base = v;
        return true;
    }
    case ZYDIS_MNEMONIC_SYSENTER:
        emu_sysenter(cpu);
        return true;
    case ZYDIS_MNEMONIC_SYSEXIT:
        emu_sysexit(cpu, cpu->decoded->insn.operand_width);
        return true;
    case ZYDIS_MNEMONIC_CLFLUSH:
    case ZYDIS_MNEMONIC_CLFLUSHOPT:
    case ZYDIS_MNEMONIC_CLWB:
        /* Caches are coherent with the host's: only the address is checked. */
        emu_linear(cpu, emu_op_seg(cpu, 0), emu_op_address(cpu, 0), 1, false);
        return true;
    default:
        return false;
    }
}
