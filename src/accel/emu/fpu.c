/*
 * x87, MMX, SSE through SSE4.2, AES-NI and PCLMULQDQ (and, through
 * fpu_avx.c, the VEX-encoded ones): which instructions belong here, the
 * checks every one of them makes before it executes (SDM Vol. 3A §2.5 and
 * §13.1-13.2; Vol. 1 §8.7, §9.5, §11.6), the x87 control instructions, and
 * CPUID's view of all this. Computation runs natively (fpu_host.c); the
 * state formats live in fpu_env.c and xsave.c.
 */
#include "accel/emu/fpu.h"

void fpu_update_es(struct emu_cpu *cpu)
{
    uint16_t fsw = fx16(cpu, FX_FSW) & ~(FSW_ES | FSW_B);

    if (fsw & FSW_EXC & ~fx16(cpu, FX_FCW))
        fsw |= FSW_ES | FSW_B;
    set_fx16(cpu, FX_FSW, fsw);
}

void fpu_init_x87(struct emu_cpu *cpu)
{
    set_fx16(cpu, FX_FCW, FCW_INIT);
    memset(cpu->fxsave + FX_FSW, 0, FX_MXCSR - FX_FSW); /* FSW, tags empty, FOP, FIP, FDP */
}

/* The state at power-on and reset: that of KVM's vCPUs (FNINIT's x87
 * state, MXCSR 0x1f80; SDM Vol. 3A Table 10-1 has FCW 0x0040 instead, but
 * firmware and kernels run FNINIT first), so both engines start alike. */
void emu_fpu_reset(struct emu_cpu *cpu)
{
    memset(cpu->fxsave, 0, sizeof(cpu->fxsave));
    memset(cpu->ymmh, 0, sizeof(cpu->ymmh));
    fpu_init_x87(cpu);
    set_fx32(cpu, FX_MXCSR, MXCSR_INIT);
    set_fx32(cpu, FX_MXCSR_MASK, fpu_mxcsr_mask());
    cpu->xcr0 = XFEATURE_X87;
}

void fpu_mem_read(struct emu_cpu *cpu, int seg, uint64_t off, void *buf, unsigned len)
{
    uint64_t lin = emu_linear(cpu, seg, off, len, false);
    uint8_t *b = buf;

    if (cpu->bp_data)
        emu_debug_watch(cpu, lin, len, false);
    for (unsigned i = 0; i < len; i += 8) {
        unsigned n = len - i < 8 ? len - i : 8;
        uint64_t v = emu_read_lin(cpu, lin + i, n, ACC_READ, cpu->cpl);

        memcpy(b + i, &v, n);
    }
}

uint64_t fpu_mem_probe_write(struct emu_cpu *cpu, int seg, uint64_t off, unsigned len)
{
    uint64_t lin = emu_linear(cpu, seg, off, len, true);

    if (cpu->bp_data)
        emu_debug_watch(cpu, lin, len, true);
    /* Within one page the first write's translation holds for the rest.
     * Across two, a 1-byte read with write rights checks each end (RAM
     * reads have no side effects; a store to MMIO across pages is rare). */
    if (((lin ^ (lin + len - 1)) >> 12) != 0) {
        emu_read_lin(cpu, lin, 1, ACC_WRITE, cpu->cpl);
        emu_read_lin(cpu, lin + len - 1, 1, ACC_WRITE, cpu->cpl);
    }
    return lin;
}

void fpu_mem_write(struct emu_cpu *cpu, int seg, uint64_t off, const void *buf, unsigned len)
{
    uint64_t lin = fpu_mem_probe_write(cpu, seg, off, len);
    const uint8_t *b = buf;

    for (unsigned i = 0; i < len; i += 8) {
        unsigned n = len - i < 8 ? len - i : 8;
        uint64_t v = 0;

        memcpy(&v, b + i, n);
        emu_write_lin(cpu, lin + i, v, n, cpu->cpl);
    }
}

/* With CR0.NE clear the CPU would report the exception on FERR#/IRQ 13,
 * which vx86 does not wire: it is then ignored, as with IGNNE# asserted. */
void fpu_pending_mf(struct emu_cpu *cpu)
{
    if ((fx16(cpu, FX_FSW) & FSW_ES) && (cpu->cr0 & CR0_NE))
        emu_raise(cpu, EXC_MF, EXC_NO_ERROR);
}

void fpu_check_x87(struct emu_cpu *cpu, bool waiting)
{
    if (cpu->cr0 & (CR0_EM | CR0_TS))
        emu_raise(cpu, EXC_NM, EXC_NO_ERROR);
    if (waiting)
        fpu_pending_mf(cpu);
}

void fpu_check_simd(struct emu_cpu *cpu, bool mmx, bool sse)
{
    if ((cpu->cr0 & CR0_EM) || (sse && !(cpu->cr4 & CR4_OSFXSR)))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    if (cpu->cr0 & CR0_TS)
        emu_raise(cpu, EXC_NM, EXC_NO_ERROR);
    if (mmx)
        fpu_pending_mf(cpu);
}

/* Which register files the instruction's operands (hidden ones included) use. */
static void operand_files(const struct emu_cpu *cpu, bool *mmx, bool *sse)
{
    *mmx = *sse = false;
    for (int i = 0; i < cpu->decoded->insn.operand_count; i++) {
        const ZydisDecodedOperand *o = &cpu->decoded->ops[i];

        if (o->type != ZYDIS_OPERAND_TYPE_REGISTER)
            continue;
        *mmx |= fpu_is_mmx(o->reg.value);
        *sse |= fpu_is_xmm(o->reg.value) || o->reg.value == ZYDIS_REGISTER_MXCSR;
    }
}

/* The x87-to-MMX transition of an MMX instruction vx86 does not run on the
 * host: TOP = 0 and every register valid (SDM Vol. 1 §9.5.1). The image
 * keeps registers in stack order, so it turns by the old TOP. */
static void mmx_transition(struct emu_cpu *cpu)
{
    unsigned top = (fx16(cpu, FX_FSW) & FSW_TOP) >> 11;
    uint8_t regs[128];

    memcpy(regs, cpu->fxsave + FX_ST(0), sizeof(regs));
    for (unsigned i = 0; i < 8; i++)
        memcpy(cpu->fxsave + FX_ST(i), regs + 16 * ((i - top) & 7), 16);
    set_fx16(cpu, FX_FSW, fx16(cpu, FX_FSW) & ~FSW_TOP);
    cpu->fxsave[FX_FTW] = 0xff;
}

void fpu_maskmov(struct emu_cpu *cpu, bool mmx)
{
    uint8_t data[16], mask[16];
    unsigned len = mmx ? 8 : 16;
    int seg = emu_op_seg(cpu, 2);
    uint64_t ea = emu_op_address(cpu, 2), lin;
    bool any = false;

    if (mmx) {
        mmx_transition(cpu);
        memcpy(data, cpu->fxsave + FX_ST(cpu->decoded->ops[0].reg.value - ZYDIS_REGISTER_MM0), 8);
        memcpy(mask, cpu->fxsave + FX_ST(cpu->decoded->ops[1].reg.value - ZYDIS_REGISTER_MM0), 8);
    } else {
        memcpy(data, cpu->fxsave + FX_XMM(cpu->decoded->ops[0].reg.value - ZYDIS_REGISTER_XMM0),
               16);
        memcpy(mask, cpu->fxsave + FX_XMM(cpu->decoded->ops[1].reg.value - ZYDIS_REGISTER_XMM0),
               16);
    }
    for (unsigned i = 0; i < len; i++)
        any |= mask[i] >> 7;
    if (!any)
        return;
    lin = fpu_mem_probe_write(cpu, seg, ea, len);
    for (unsigned i = 0; i < len; i++)
        if (mask[i] >> 7)
            emu_write_lin(cpu, lin + i, data[i], 1, cpu->cpl);
}

/* x87 control instructions and MXCSR access, which need no host FPU. */
static bool exec_control(struct emu_cpu *cpu)
{
    uint32_t v;

    switch (cpu->decoded->insn.mnemonic) {
    case ZYDIS_MNEMONIC_FWAIT:
        if ((cpu->cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS))
            emu_raise(cpu, EXC_NM, EXC_NO_ERROR);
        fpu_pending_mf(cpu);
        return true;
    case ZYDIS_MNEMONIC_FNINIT:
        fpu_check_x87(cpu, false);
        fpu_init_x87(cpu);
        return true;
    case ZYDIS_MNEMONIC_FNCLEX:
        fpu_check_x87(cpu, false);
        set_fx16(cpu, FX_FSW, fx16(cpu, FX_FSW) & ~(FSW_FLAGS | FSW_ES | FSW_B));
        return true;
    case ZYDIS_MNEMONIC_FNSTCW:
        fpu_check_x87(cpu, false);
        emu_op_write(cpu, 0, fx16(cpu, FX_FCW));
        return true;
    case ZYDIS_MNEMONIC_FNSTSW:
        fpu_check_x87(cpu, false);
        emu_op_write(cpu, 0, fx16(cpu, FX_FSW));
        return true;
    case ZYDIS_MNEMONIC_FLDCW:
        fpu_check_x87(cpu, true);
        set_fx16(cpu, FX_FCW, (uint16_t)emu_op_read(cpu, 0));
        fpu_update_es(cpu);
        return true;
    case ZYDIS_MNEMONIC_LDMXCSR:
        fpu_check_simd(cpu, false, true);
        v = (uint32_t)emu_op_read(cpu, 0);
        if (v & ~fpu_mxcsr_mask())
            emu_raise(cpu, EXC_GP, 0);
        set_fx32(cpu, FX_MXCSR, v);
        return true;
    case ZYDIS_MNEMONIC_STMXCSR:
        fpu_check_simd(cpu, false, true);
        emu_op_write(cpu, 0, fx32(cpu, FX_MXCSR));
        return true;
    case ZYDIS_MNEMONIC_MASKMOVQ:
        fpu_check_simd(cpu, true, false);
        fpu_maskmov(cpu, true);
        return true;
    case ZYDIS_MNEMONIC_MASKMOVDQU:
        fpu_check_simd(cpu, false, true);
        fpu_maskmov(cpu, false);
        return true;
    default:
        return false;
    }
}

/* x87 instructions: escape opcodes D8-DF (SDM Vol. 2 Table A-7 on), which
 * Zydis files under several ISA sets (X87, PPRO's FCOMI, FCMOV, SSE3's
 * FISTTP). */
static bool is_x87(const struct emu_cpu *cpu)
{
    return cpu->decoded->insn.opcode_map == ZYDIS_OPCODE_MAP_DEFAULT &&
           (cpu->decoded->insn.opcode & 0xf8) == 0xd8;
}

/* Instruction sets that run natively, when the host has them. */
static bool native_set(ZydisISASet set)
{
    switch (set) {
    case ZYDIS_ISA_SET_PENTIUMMMX:
    case ZYDIS_ISA_SET_SSE:
    case ZYDIS_ISA_SET_SSE2:
    case ZYDIS_ISA_SET_SSE2MMX:
    case ZYDIS_ISA_SET_SSE3:
    case ZYDIS_ISA_SET_SSSE3:
    case ZYDIS_ISA_SET_SSSE3MMX:
    case ZYDIS_ISA_SET_SSE4:
    case ZYDIS_ISA_SET_SSE42:
    case ZYDIS_ISA_SET_AES:
    case ZYDIS_ISA_SET_PCLMULQDQ:
        return true;
    default:
        return false;
    }
}

/* VEX forms fpu_avx.c does not take, EVEX, XOP, SSE4A, 3DNow!: not
 * advertised, so #UD (VEX-encoded BMI and the like, on GPRs, are not SIMD
 * and stay with alu.c). */
static bool foreign_simd(const struct emu_cpu *cpu)
{
    ZydisISAExt ext = cpu->decoded->insn.meta.isa_ext;

    if (ext == ZYDIS_ISA_EXT_SSE4A || ext == ZYDIS_ISA_EXT_AMD3DNOW)
        return true;
    if (cpu->decoded->insn.encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY)
        return false;
    for (int i = 0; i < cpu->decoded->insn.operand_count; i++) {
        ZydisRegisterClass c;

        if (cpu->decoded->ops[i].type != ZYDIS_OPERAND_TYPE_REGISTER)
            continue;
        c = ZydisRegisterGetClass(cpu->decoded->ops[i].reg.value);
        if (c == ZYDIS_REGCLASS_XMM || c == ZYDIS_REGCLASS_YMM || c == ZYDIS_REGCLASS_ZMM ||
            c == ZYDIS_REGCLASS_MASK)
            return true;
    }
    return false;
}

bool emu_exec_fpu(struct emu_cpu *cpu)
{
    ZydisISASet set = cpu->decoded->insn.meta.isa_set;
    enum fpu_kind kind;
    bool mmx, sse;

    if (fpu_exec_avx(cpu))
        return true;
    if (foreign_simd(cpu))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    if (exec_control(cpu) || fpu_exec_env(cpu) || fpu_exec_xsave(cpu))
        return true;
    if (!(is_x87(cpu) || native_set(set)) ||
        cpu->decoded->insn.encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY)
        return false;
    if (!fpu_host_has(set))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    operand_files(cpu, &mmx, &sse);
    mmx |= set == ZYDIS_ISA_SET_PENTIUMMMX; /* EMMS has no operands */
    if (is_x87(cpu)) {
        fpu_check_x87(cpu, true);
        kind = FPU_KIND_X87;
    } else if (mmx || sse) {
        fpu_check_simd(cpu, mmx, sse);
        kind = mmx ? FPU_KIND_MMX : FPU_KIND_SSE;
    } else {
        kind = FPU_KIND_GPR; /* CRC32, MOVNTI: no FPU state */
    }
    return fpu_exec_host(cpu, kind);
}

/* The standard-format XSAVE area's size for the components in xfeatures:
 * the end of the last one (SDM Vol. 1 §13.4.3). */
static uint32_t xsave_size(uint64_t xfeatures)
{
    if (xfeatures & XFEATURE_PKRU)
        return XSAVE_PKRU_OFFSET + XSAVE_PKRU_SIZE;
    if (xfeatures & XFEATURE_AVX)
        return XSAVE_AVX_OFFSET + XSAVE_AVX_SIZE;
    return XSAVE_SIZE;
}

/*
 * CPUID bits for what this group implements, ANDed with what the host can
 * run (SDM Vol. 2A CPUID, Table 3-8 and 3-10; leaf 0DH per Vol. 1 §13.2).
 * Called by emu_cpuid after it filled a, b, c, d for leaf/subleaf.
 */
void emu_fpu_cpuid(const struct emu_cpu *cpu, uint32_t leaf, uint32_t subleaf, uint32_t *a,
                   uint32_t *b, uint32_t *c, uint32_t *d)
{
    switch (leaf) {
    case 1:
        *d |= 1u << 0 | 1u << 23 | 1u << 24 | 1u << 25 | 1u << 26; /* FPU MMX FXSR SSE SSE2 */
        *c |= 1u << 26;                                            /* XSAVE */
        if (cpu->cr4 & CR4_OSXSAVE)
            *c |= 1u << 27;
        if (fpu_host_has(ZYDIS_ISA_SET_SSE3))
            *c |= 1u << 0;
        if (fpu_host_has(ZYDIS_ISA_SET_PCLMULQDQ))
            *c |= 1u << 1;
        if (fpu_host_has(ZYDIS_ISA_SET_SSSE3))
            *c |= 1u << 9;
        if (fpu_host_has(ZYDIS_ISA_SET_SSE4))
            *c |= 1u << 19;
        if (fpu_host_has(ZYDIS_ISA_SET_SSE42))
            *c |= 1u << 20;
        if (fpu_host_has(ZYDIS_ISA_SET_AES))
            *c |= 1u << 25;
        if (fpu_host_has(ZYDIS_ISA_SET_AVX))
            *c |= 1u << 28;
        if (fpu_host_has(ZYDIS_ISA_SET_FMA))
            *c |= 1u << 12;
        if (fpu_host_has(ZYDIS_ISA_SET_F16C))
            *c |= 1u << 29;
        break;
    case 7:
        if (subleaf == 0)
            *b |= 1u << 13; /* FCS and FDS are stored as 0 */
        if (subleaf == 0 && fpu_host_has(ZYDIS_ISA_SET_AVX2))
            *b |= 1u << 5;
        break;
    case 0xd:
        if (subleaf == 0) {
            uint64_t all = fpu_xcr0_supported(cpu);

            *a = (uint32_t)all;
            /* The area's size for the components XCR0 enables, and for all. */
            *b = xsave_size(cpu->xcr0);
            *c = xsave_size(all);
            *d = 0;
        } else if (subleaf == 1) {
            *a = 1u << 0; /* XSAVEOPT; no XSAVEC, XGETBV with ECX=1, XSAVES */
            *b = *c = *d = 0;
        } else if (subleaf == 2 && (fpu_xcr0_supported(cpu) & XFEATURE_AVX)) {
            *a = XSAVE_AVX_SIZE;
            *b = XSAVE_AVX_OFFSET;
            *c = *d = 0;
        } else if (subleaf == 9 && (fpu_xcr0_supported(cpu) & XFEATURE_PKRU)) {
            *a = XSAVE_PKRU_SIZE;
            *b = XSAVE_PKRU_OFFSET;
            *c = *d = 0;
        } else {
            *a = *b = *c = *d = 0;
        }
        break;
    default:
        break;
    }
}
