/*
 * AVX, AVX2, FMA, F16C and the VEX forms of AES: the VEX-encoded
 * instructions on the XMM and YMM registers (SDM Vol. 1 ch. 14, Vol. 2A
 * §2.3-2.8). They run on the host as the SSE ones do (fpu_host.c), on the
 * whole YMM registers they name, so that a VEX.128 form zeroes bits 255:128
 * of its destination as the host does and legacy SSE, which never sees
 * cpu->ymmh, leaves them alone (Vol. 1 §14.1.3). What is here: the checks
 * every VEX instruction makes first, the element-wise memory access of
 * VMASKMOV/VPMASKMOV, and the instructions that need no host: VZEROUPPER,
 * VZEROALL, VLDMXCSR, VSTMXCSR, VMASKMOVDQU and the gathers.
 */
#include "accel/emu/fpu.h"
#include "vm/vm.h"

enum cpu_feature fpu_avx_feature(ZydisISASet set)
{
    switch (set) {
    case ZYDIS_ISA_SET_AVX:
    case ZYDIS_ISA_SET_AVXAES: /* and AES, which the host has or fpu_host_has says no */
        return CPU_AVX;
    case ZYDIS_ISA_SET_AVX2:
    case ZYDIS_ISA_SET_AVX2GATHER:
        return CPU_AVX2;
    case ZYDIS_ISA_SET_FMA:
        return CPU_FMA;
    case ZYDIS_ISA_SET_F16C:
        return CPU_F16C;
    default:
        return CPU_FEATURE_COUNT;
    }
}

bool fpu_avx_aligned(ZydisMnemonic m)
{
    switch (m) {
    case ZYDIS_MNEMONIC_VMOVAPS:
    case ZYDIS_MNEMONIC_VMOVAPD:
    case ZYDIS_MNEMONIC_VMOVDQA:
    case ZYDIS_MNEMONIC_VMOVNTPS:
    case ZYDIS_MNEMONIC_VMOVNTPD:
    case ZYDIS_MNEMONIC_VMOVNTDQ:
    case ZYDIS_MNEMONIC_VMOVNTDQA:
        return true;
    default:
        return false;
    }
}

/* Bytes 0-15 or 16-31 of YMMr. */
static uint8_t *ymm_half(struct emu_cpu *cpu, int r, unsigned upper)
{
    return upper ? cpu->ymmh[r] : cpu->fxsave + FX_XMM(r);
}

/* Element i (of esize bytes) of YMMr, as a little-endian integer. */
static uint64_t ymm_elem(struct emu_cpu *cpu, int r, unsigned esize, unsigned i)
{
    unsigned off = i * esize;
    uint64_t v = 0;

    memcpy(&v, ymm_half(cpu, r, off >= 16) + off % 16, esize);
    return v;
}

static void set_ymm_elem(struct emu_cpu *cpu, int r, unsigned esize, unsigned i, uint64_t v)
{
    unsigned off = i * esize;

    memcpy(ymm_half(cpu, r, off >= 16) + off % 16, &v, esize);
}

/* The operand encoded in VEX.vvvv: the mask of a masked move or a gather. */
static int vvvv_reg(const struct emu_cpu *cpu)
{
    for (int i = 0; i < cpu->decoded->insn.operand_count_visible; i++)
        if (cpu->decoded->ops[i].encoding == ZYDIS_OPERAND_ENCODING_NDSNDD)
            return fpu_vec_index(cpu->decoded->ops[i].reg.value);
    return -1;
}

/* VMASKMOV/VPMASKMOV: the element size, 0 for any other instruction. */
static unsigned masked_elem(ZydisMnemonic m)
{
    switch (m) {
    case ZYDIS_MNEMONIC_VMASKMOVPS:
    case ZYDIS_MNEMONIC_VPMASKMOVD:
        return 4;
    case ZYDIS_MNEMONIC_VMASKMOVPD:
    case ZYDIS_MNEMONIC_VPMASKMOVQ:
        return 8;
    default:
        return 0;
    }
}

/* Bit i set: element i's mask bit (its most significant) is set. */
static unsigned elem_mask(struct emu_cpu *cpu, int r, unsigned esize, unsigned count)
{
    unsigned m = 0;

    for (unsigned i = 0; i < count; i++)
        if (ymm_elem(cpu, r, esize, i) >> (esize * 8 - 1))
            m |= 1u << i;
    return m;
}

void fpu_avx_mem_read(struct emu_cpu *cpu, int seg, uint64_t ea, void *buf, unsigned size)
{
    unsigned esize = masked_elem(cpu->decoded->insn.mnemonic), sel;
    uint8_t *b = buf;

    if (!esize) {
        fpu_mem_read(cpu, seg, ea, buf, size);
        return;
    }
    sel = elem_mask(cpu, vvvv_reg(cpu), esize, size / esize);
    memset(buf, 0, size);
    for (unsigned i = 0; i < size / esize; i++)
        if (sel & (1u << i))
            fpu_mem_read(cpu, seg, ea + i * esize, b + i * esize, esize);
}

void fpu_avx_mem_probe_write(struct emu_cpu *cpu, int seg, uint64_t ea, unsigned size)
{
    unsigned esize = masked_elem(cpu->decoded->insn.mnemonic), sel;

    if (!esize) {
        fpu_mem_probe_write(cpu, seg, ea, size);
        return;
    }
    sel = elem_mask(cpu, vvvv_reg(cpu), esize, size / esize);
    for (unsigned i = 0; i < size / esize; i++)
        if (sel & (1u << i))
            fpu_mem_probe_write(cpu, seg, ea + i * esize, esize);
}

/* The mask is read from the registers as they were before the instruction:
 * a masked store writes no register. */
void fpu_avx_mem_write(struct emu_cpu *cpu, int seg, uint64_t ea, const void *buf, unsigned size)
{
    unsigned esize = masked_elem(cpu->decoded->insn.mnemonic), sel;
    const uint8_t *b = buf;

    if (!esize) {
        fpu_mem_write(cpu, seg, ea, buf, size);
        return;
    }
    fpu_avx_mem_probe_write(cpu, seg, ea, size); /* every fault before any store */
    sel = elem_mask(cpu, vvvv_reg(cpu), esize, size / esize);
    for (unsigned i = 0; i < size / esize; i++)
        if (sel & (1u << i))
            fpu_mem_write(cpu, seg, ea + i * esize, b + i * esize, esize);
}

/*
 * VGATHERDPS/DPD/QPS/QPD, VPGATHERDD/DQ/QD/QQ (SDM Vol. 2C VGATHERDPD):
 * element by element, lowest first, each one whose mask element has its
 * top bit set is loaded from base + index[j] * scale + disp and its mask
 * element cleared, so that a fault leaves the elements before it done and
 * the instruction restartable. At the end the mask register is zero and
 * the bits of both registers past the elements are zeroed.
 */
static void gather(struct emu_cpu *cpu)
{
    ZydisMnemonic mn = cpu->decoded->insn.mnemonic;
    const ZydisDecodedOperand *mem = &cpu->decoded->ops[1];
    int dst = fpu_vec_index(cpu->decoded->ops[0].reg.value),
        msk = fpu_vec_index(cpu->decoded->ops[2].reg.value);
    int idx = fpu_vec_index(mem->mem.index), seg = emu_op_seg(cpu, 1);
    bool qidx = mn == ZYDIS_MNEMONIC_VGATHERQPS || mn == ZYDIS_MNEMONIC_VGATHERQPD ||
                mn == ZYDIS_MNEMONIC_VPGATHERQD || mn == ZYDIS_MNEMONIC_VPGATHERQQ;
    unsigned esize = mem->size / 8, isize = qidx ? 8 : 4,
             vl = cpu->decoded->insn.raw.vex.L ? 32 : 16;
    unsigned count = vl / (esize > isize ? esize : isize), base_reg;
    uint64_t base = 0, amask = emu_mask(cpu->decoded->insn.address_width / 8);

    /* #UD if any two of destination, index and mask are one register. */
    if (dst == idx || dst == msk || idx == msk)
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    if (mem->mem.base != ZYDIS_REGISTER_NONE) {
        base_reg = (unsigned)emu_gpr_index(mem->mem.base);
        base = cpu->gpr[base_reg];
    }
    for (unsigned j = 0; j < count; j++) {
        uint64_t ix = ymm_elem(cpu, idx, isize, j), v = 0, off;

        if (!(ymm_elem(cpu, msk, esize, j) >> (esize * 8 - 1)))
            continue;
        if (isize == 4)
            ix = (uint64_t)(int64_t)(int32_t)ix;
        off = (base + ix * (uint64_t)mem->mem.scale + (uint64_t)mem->mem.disp.value) & amask;
        fpu_mem_read(cpu, seg, off, &v, esize);
        set_ymm_elem(cpu, dst, esize, j, v);
        set_ymm_elem(cpu, msk, esize, j, 0);
    }
    for (unsigned off = count * esize; off < 32; off += 8) {
        set_ymm_elem(cpu, dst, 8, off / 8, 0);
        set_ymm_elem(cpu, msk, 8, off / 8, 0);
    }
    for (unsigned j = 0; j < count; j++)
        set_ymm_elem(cpu, msk, esize, j, 0);
}

static bool is_gather(ZydisMnemonic m)
{
    switch (m) {
    case ZYDIS_MNEMONIC_VGATHERDPS:
    case ZYDIS_MNEMONIC_VGATHERDPD:
    case ZYDIS_MNEMONIC_VGATHERQPS:
    case ZYDIS_MNEMONIC_VGATHERQPD:
    case ZYDIS_MNEMONIC_VPGATHERDD:
    case ZYDIS_MNEMONIC_VPGATHERDQ:
    case ZYDIS_MNEMONIC_VPGATHERQD:
    case ZYDIS_MNEMONIC_VPGATHERQQ:
        return true;
    default:
        return false;
    }
}

/* VZEROUPPER, VZEROALL: outside 64-bit mode only YMM0-7 exist and change
 * (SDM Vol. 2C VZEROUPPER). */
static void zero(struct emu_cpu *cpu, bool all)
{
    unsigned n = cpu->code_bits == 64 ? 16 : 8;

    memset(cpu->ymmh, 0, 16 * n);
    if (all)
        memset(cpu->fxsave + FX_XMM(0), 0, 16 * n);
}

/*
 * The checks of every VEX-encoded SIMD instruction, in this order (SDM
 * Vol. 2A §2.8, Tables 2-21 on, "VEX prefix" rows): #UD in real-address and
 * virtual-8086 mode, with CR4.OSXSAVE clear, with XCR0[2:1] not 11b, and
 * where CPUID lacks the feature; then #NM with CR0.TS. CR0.EM and
 * CR4.OSFXSR play no part. Encodings with a reserved VEX.vvvv or VEX.L
 * Zydis does not decode, which makes them #UD.
 */
bool fpu_exec_avx(struct emu_cpu *cpu)
{
    enum cpu_feature f = fpu_avx_feature(cpu->decoded->insn.meta.isa_set);
    uint32_t v;

    if (cpu->decoded->insn.encoding != ZYDIS_INSTRUCTION_ENCODING_VEX || f == CPU_FEATURE_COUNT)
        return false;
    if (!(cpu->cr0 & CR0_PE) || (cpu->rflags & RFLAGS_VM) || !(cpu->cr4 & CR4_OSXSAVE) ||
        (cpu->xcr0 & (XFEATURE_SSE | XFEATURE_AVX)) != (XFEATURE_SSE | XFEATURE_AVX) ||
        !cpu_model_has(cpu->vm->cfg.cpu_off, f) || !fpu_host_has(cpu->decoded->insn.meta.isa_set))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    /* VPEXTRQ and VPINSRQ do not exist outside 64-bit mode (SDM Vol. 2B
     * PEXTRB/PEXTRD/PEXTRQ, PINSRB/PINSRD/PINSRQ: #UD with VEX.W1 there);
     * Zydis decodes them as the D forms. */
    if (cpu->code_bits != 64 && cpu->decoded->insn.raw.vex.W &&
        (cpu->decoded->insn.mnemonic == ZYDIS_MNEMONIC_VPEXTRD ||
         cpu->decoded->insn.mnemonic == ZYDIS_MNEMONIC_VPINSRD))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    if (cpu->cr0 & CR0_TS)
        emu_raise(cpu, EXC_NM, EXC_NO_ERROR);
    switch (cpu->decoded->insn.mnemonic) {
    case ZYDIS_MNEMONIC_VZEROUPPER:
        zero(cpu, false);
        return true;
    case ZYDIS_MNEMONIC_VZEROALL:
        zero(cpu, true);
        return true;
    case ZYDIS_MNEMONIC_VLDMXCSR:
        v = (uint32_t)emu_op_read(cpu, 0);
        if (v & ~fpu_mxcsr_mask())
            emu_raise(cpu, EXC_GP, 0);
        set_fx32(cpu, FX_MXCSR, v);
        return true;
    case ZYDIS_MNEMONIC_VSTMXCSR:
        emu_op_write(cpu, 0, fx32(cpu, FX_MXCSR));
        return true;
    case ZYDIS_MNEMONIC_VMASKMOVDQU:
        fpu_maskmov(cpu, false);
        return true;
    default:
        if (is_gather(cpu->decoded->insn.mnemonic)) {
            gather(cpu);
            return true;
        }
        return fpu_exec_host(cpu, FPU_KIND_AVX);
    }
}
