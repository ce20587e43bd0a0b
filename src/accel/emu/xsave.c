/*
 * FXSAVE/FXRSTOR (SDM Vol. 1 §10.5.1, Vol. 2A FXSAVE) and the XSAVE feature
 * set for the two legacy components, x87 and SSE, the upper halves of the
 * YMM registers (AVX) and PKRU (Vol. 1 ch. 13): XSAVE,
 * XSAVEOPT (here the same as XSAVE, which it may always be), XRSTOR in the
 * standard form, XGETBV and XSETBV. The compacted form (XSAVEC, XSAVES,
 * XRSTORS) is not advertised and takes #UD.
 *
 * The memory image is built in C from cpu->fxsave: with REX.W the 64-bit
 * FPU pointers, else 32-bit offsets with FCS/FDS 0; XMM8-15 only in 64-bit
 * mode. Everything is read and checked before anything is committed, and
 * a store is probed at both ends before its first byte is written.
 */
#include "accel/emu/fpu.h"
#include "vm/vm.h"

#define LEGACY_X87_END 160 /* x87 state: bytes 0-23 and 32-159 */

static unsigned xmm_count(const struct emu_cpu *cpu)
{
    return cpu->code_bits == 64 ? 16 : 8;
}

static bool rex_w(const struct emu_cpu *cpu)
{
    return cpu->decoded->insn.operand_width == 64;
}

/* The legacy region (bytes 0-415) in the instruction's format. */
static void build_legacy(const struct emu_cpu *cpu, uint8_t *img)
{
    memcpy(img, cpu->fxsave, FX_XMM(16));
    img[5] = 0;
    if (!rex_w(cpu)) {
        uint32_t fip = (uint32_t)fx64(cpu, FX_FIP), fdp = (uint32_t)fx64(cpu, FX_FDP);

        memset(img + FX_FIP, 0, 16); /* FCS and FDS: 0 */
        memcpy(img + FX_FIP, &fip, 4);
        memcpy(img + FX_FDP, &fdp, 4);
    }
    memcpy(img + FX_MXCSR_MASK, &(uint32_t){fpu_mxcsr_mask()}, 4);
}

/* Loads the x87 part of a legacy image (FSW.ES recomputed, as the CPU does). */
static void load_x87(struct emu_cpu *cpu, const uint8_t *img)
{
    memcpy(cpu->fxsave, img, FX_MXCSR);
    cpu->fxsave[5] = 0;
    if (!rex_w(cpu)) {
        set_fx64(cpu, FX_FIP, fx32(cpu, FX_FIP));
        set_fx64(cpu, FX_FDP, fx32(cpu, FX_FDP));
    }
    memcpy(cpu->fxsave + FX_ST(0), img + FX_ST(0), LEGACY_X87_END - FX_ST(0));
    fpu_update_es(cpu);
}

/* The memory operand's offset; #GP(0) unless its linear address is aligned. */
static uint64_t aligned_operand(struct emu_cpu *cpu, unsigned align, unsigned len)
{
    int seg = emu_op_seg(cpu, 0);
    uint64_t ea = emu_op_address(cpu, 0);

    if (emu_linear(cpu, seg, ea, len, false) & (align - 1))
        emu_raise(cpu, EXC_GP, 0);
    return ea;
}

static void fxsave(struct emu_cpu *cpu)
{
    uint8_t img[FX_XMM(16)];
    uint64_t ea;

    if (cpu->cr0 & (CR0_EM | CR0_TS))
        emu_raise(cpu, EXC_NM, EXC_NO_ERROR);
    ea = aligned_operand(cpu, 16, 512);
    build_legacy(cpu, img);
    fpu_mem_write(cpu, emu_op_seg(cpu, 0), ea, img, FX_XMM(xmm_count(cpu)));
}

static void fxrstor(struct emu_cpu *cpu)
{
    uint8_t img[FX_XMM(16)];
    unsigned n = FX_XMM(xmm_count(cpu));
    uint32_t mxcsr;
    uint64_t ea;

    if (cpu->cr0 & (CR0_EM | CR0_TS))
        emu_raise(cpu, EXC_NM, EXC_NO_ERROR);
    ea = aligned_operand(cpu, 16, 512);
    fpu_mem_read(cpu, emu_op_seg(cpu, 0), ea, img, n);
    memcpy(&mxcsr, img + FX_MXCSR, 4);
    if (mxcsr & ~fpu_mxcsr_mask())
        emu_raise(cpu, EXC_GP, 0);
    load_x87(cpu, img);
    set_fx32(cpu, FX_MXCSR, mxcsr);
    memcpy(cpu->fxsave + FX_XMM(0), img + FX_XMM(0), n - FX_XMM(0));
}

/* XSAVE, XRSTOR: #UD without CR4.OSXSAVE, #NM with CR0.TS (SDM Vol. 1 §13.3). */
static uint64_t xsave_checks(struct emu_cpu *cpu)
{
    if (!(cpu->cr4 & CR4_OSXSAVE))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    if (cpu->cr0 & CR0_TS)
        emu_raise(cpu, EXC_NM, EXC_NO_ERROR);
    return aligned_operand(cpu, 64, XSAVE_SIZE);
}

/* The requested-feature bitmap: XCR0 AND EDX:EAX. */
static uint64_t rfbm(const struct emu_cpu *cpu)
{
    return cpu->xcr0 & ((cpu->gpr[GPR_RDX] & 0xffffffff) << 32 | (cpu->gpr[GPR_RAX] & 0xffffffff));
}

/* XSAVE writes the requested components and sets their XSTATE_BV bits
 * (XINUSE reported as 1, which a CPU may always do, §13.6); the rest of
 * the area is left alone. */
static void xsave(struct emu_cpu *cpu)
{
    uint64_t ea = xsave_checks(cpu), req = rfbm(cpu), bv;
    int seg = emu_op_seg(cpu, 0);
    uint8_t img[FX_XMM(16)];

    fpu_mem_read(cpu, seg, ea + XSAVE_HEADER, &bv, 8);
    fpu_mem_probe_write(cpu, seg, ea, XSAVE_SIZE);
    if (req & XFEATURE_AVX)
        fpu_mem_probe_write(cpu, seg, ea + XSAVE_AVX_OFFSET, 16 * xmm_count(cpu));
    if (req & XFEATURE_PKRU)
        fpu_mem_probe_write(cpu, seg, ea + XSAVE_PKRU_OFFSET, XSAVE_PKRU_SIZE);
    build_legacy(cpu, img);
    if (req & XFEATURE_X87) {
        fpu_mem_write(cpu, seg, ea, img, FX_MXCSR);
        fpu_mem_write(cpu, seg, ea + FX_ST(0), img + FX_ST(0), LEGACY_X87_END - FX_ST(0));
    }
    if (req & XFEATURE_SSE) {
        fpu_mem_write(cpu, seg, ea + FX_MXCSR, img + FX_MXCSR, 8);
        fpu_mem_write(cpu, seg, ea + FX_XMM(0), img + FX_XMM(0), 16 * xmm_count(cpu));
    }
    /* YMM8-15 only in 64-bit mode, as XMM8-15 (§13.5.3). */
    if (req & XFEATURE_AVX)
        fpu_mem_write(cpu, seg, ea + XSAVE_AVX_OFFSET, cpu->ymmh, 16 * xmm_count(cpu));
    if (req & XFEATURE_PKRU) {
        uint64_t pkru = cpu->pkru;

        fpu_mem_write(cpu, seg, ea + XSAVE_PKRU_OFFSET, &pkru, XSAVE_PKRU_SIZE);
    }
    bv = (bv & ~req) | req;
    fpu_mem_write(cpu, seg, ea + XSAVE_HEADER, &bv, 8);
}

/* XRSTOR, standard form (SDM Vol. 1 §13.8.1): a component whose XSTATE_BV
 * bit is clear gets its initial state; MXCSR is loaded whenever SSE is
 * requested. #GP for the compacted form, for XSTATE_BV bits outside XCR0,
 * for header bytes 8-23 not zero, for reserved MXCSR bits. */
static void xrstor(struct emu_cpu *cpu)
{
    uint64_t ea = xsave_checks(cpu), req = rfbm(cpu), hdr[3];
    int seg = emu_op_seg(cpu, 0);
    uint8_t img[FX_XMM(16)];
    unsigned n = FX_XMM(xmm_count(cpu));
    uint32_t mxcsr;
    uint64_t pkru = 0; /* PKRU's initial state */
    uint8_t ymmh[16][16] = {{0}}; /* the upper halves' initial state */

    fpu_mem_read(cpu, seg, ea + XSAVE_HEADER, hdr, sizeof(hdr));
    if ((hdr[0] & ~cpu->xcr0) || hdr[1] || hdr[2])
        emu_raise(cpu, EXC_GP, 0);
    fpu_mem_read(cpu, seg, ea, img, n);
    memcpy(&mxcsr, img + FX_MXCSR, 4);
    if ((req & XFEATURE_SSE) && (mxcsr & ~fpu_mxcsr_mask()))
        emu_raise(cpu, EXC_GP, 0);
    if ((req & hdr[0] & XFEATURE_PKRU))
        fpu_mem_read(cpu, seg, ea + XSAVE_PKRU_OFFSET, &pkru, XSAVE_PKRU_SIZE);
    if ((req & hdr[0] & XFEATURE_AVX))
        fpu_mem_read(cpu, seg, ea + XSAVE_AVX_OFFSET, ymmh, 16 * xmm_count(cpu));

    if (req & XFEATURE_X87) {
        if (hdr[0] & XFEATURE_X87) {
            load_x87(cpu, img);
        } else {
            fpu_init_x87(cpu);
            memset(cpu->fxsave + FX_ST(0), 0, LEGACY_X87_END - FX_ST(0));
        }
    }
    if (req & XFEATURE_SSE) {
        if (hdr[0] & XFEATURE_SSE)
            memcpy(cpu->fxsave + FX_XMM(0), img + FX_XMM(0), n - FX_XMM(0));
        else
            memset(cpu->fxsave + FX_XMM(0), 0, n - FX_XMM(0));
        set_fx32(cpu, FX_MXCSR, mxcsr);
    }
    if (req & XFEATURE_AVX)
        memcpy(cpu->ymmh, ymmh, 16 * xmm_count(cpu));
    if (req & XFEATURE_PKRU)
        emu_set_pkru(cpu, (uint32_t)pkru);
}

uint64_t fpu_xcr0_supported(const struct emu_cpu *cpu)
{
    uint64_t all = XFEATURE_X87 | XFEATURE_SSE;

    if (cpu_model_has(cpu->vm->cfg.cpu_off, CPU_AVX) && fpu_host_has(ZYDIS_ISA_SET_AVX))
        all |= XFEATURE_AVX;
    return cpu_model_has(cpu->vm->cfg.cpu_off, CPU_PKU) ? all | XFEATURE_PKRU : all;
}

/* XGETBV/XSETBV (SDM Vol. 2C): only XCR0 exists; it must keep x87 set,
 * and AVX needs SSE (§13.3). */
static void xgetbv(struct emu_cpu *cpu)
{
    if (!(cpu->cr4 & CR4_OSXSAVE))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    if ((uint32_t)cpu->gpr[GPR_RCX] != 0)
        emu_raise(cpu, EXC_GP, 0);
    cpu->gpr[GPR_RAX] = cpu->xcr0 & 0xffffffff;
    cpu->gpr[GPR_RDX] = cpu->xcr0 >> 32;
}

static void xsetbv(struct emu_cpu *cpu)
{
    uint64_t v = (cpu->gpr[GPR_RDX] & 0xffffffff) << 32 | (cpu->gpr[GPR_RAX] & 0xffffffff);

    if (!(cpu->cr4 & CR4_OSXSAVE))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    if ((uint32_t)cpu->gpr[GPR_RCX] != 0 || !(v & XFEATURE_X87) || (v & ~fpu_xcr0_supported(cpu)) ||
        ((v & XFEATURE_AVX) && !(v & XFEATURE_SSE)))
        emu_raise(cpu, EXC_GP, 0);
    cpu->xcr0 = v;
}

bool fpu_exec_xsave(struct emu_cpu *cpu)
{
    switch (cpu->decoded->insn.mnemonic) {
    case ZYDIS_MNEMONIC_FXSAVE:
    case ZYDIS_MNEMONIC_FXSAVE64:
        fxsave(cpu);
        return true;
    case ZYDIS_MNEMONIC_FXRSTOR:
    case ZYDIS_MNEMONIC_FXRSTOR64:
        fxrstor(cpu);
        return true;
    case ZYDIS_MNEMONIC_XSAVE:
    case ZYDIS_MNEMONIC_XSAVE64:
    case ZYDIS_MNEMONIC_XSAVEOPT:
    case ZYDIS_MNEMONIC_XSAVEOPT64:
        xsave(cpu);
        return true;
    case ZYDIS_MNEMONIC_XRSTOR:
    case ZYDIS_MNEMONIC_XRSTOR64:
        xrstor(cpu);
        return true;
    case ZYDIS_MNEMONIC_XGETBV:
        xgetbv(cpu);
        return true;
    case ZYDIS_MNEMONIC_XSETBV:
        xsetbv(cpu);
        return true;
    case ZYDIS_MNEMONIC_XSAVEC:
    case ZYDIS_MNEMONIC_XSAVEC64:
    case ZYDIS_MNEMONIC_XSAVES:
    case ZYDIS_MNEMONIC_XSAVES64:
    case ZYDIS_MNEMONIC_XRSTORS:
    case ZYDIS_MNEMONIC_XRSTORS64:
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    default:
        return false;
    }
}
