/*
 * Native execution of x87, MMX and SSE instructions: the host CPU is x86-64
 * too, so each such guest instruction runs as itself on the host, against
 * the guest's FPU/SSE state, GPRs and status flags (the same-ISA technique
 * of the binary translator DESIGN.md foresees; alu.c does the same for
 * integer operations). Results, flags, x87 TOP and tags, NaN payloads and
 * rounding are the host's own. fpu_slot.c builds the host code, with the
 * memory operand on a buffer this file fills from guest memory before and
 * stores to guest memory after; fpu_stub.S runs it.
 *
 * Exceptions: SSE runs with all SIMD exceptions masked and #XM is worked out
 * from the flags (SDM Vol. 1 §11.5.2). x87 runs with the guest's own FCW,
 * its exception flags cleared first: an unmasked x87 exception only sets
 * FSW.ES on the host, to be taken by the next waiting instruction, and the
 * stub runs none (FXSAVE and FNINIT do not wait), so the host never traps.
 * Nothing is committed before every fault has been checked.
 */
#include <stddef.h>

#include "accel/emu/fpu.h"

/* What fpu_stub.S works on; offsets fixed there. */
struct host_ctx {
    uint64_t gpr[16]; /* encoding order; [4] (RSP) is not loaded */
    uint64_t rflags;
    uint64_t slot;
    uint64_t image;      /* full: &cpu->fxsave, loaded with FXRSTOR64 */
    uint32_t mxcsr;      /* full: then loaded over the image's */
    uint32_t host_mxcsr; /* the host's, kept while the guest's is loaded */
    uint16_t host_fcw;
    uint8_t pad[30];
    uint8_t fx[512]; /* full: the state after the instruction, FXSAVE64 */
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct host_ctx, rflags) == 128, "CTX_RFLAGS in fpu_stub.S");
_Static_assert(offsetof(struct host_ctx, slot) == 136, "CTX_SLOT in fpu_stub.S");
_Static_assert(offsetof(struct host_ctx, image) == 144, "CTX_IMAGE in fpu_stub.S");
_Static_assert(offsetof(struct host_ctx, mxcsr) == 152, "CTX_MXCSR in fpu_stub.S");
_Static_assert(offsetof(struct host_ctx, host_mxcsr) == 156, "CTX_HOST_MXCSR in fpu_stub.S");
_Static_assert(offsetof(struct host_ctx, host_fcw) == 160, "CTX_HOST_FCW in fpu_stub.S");
_Static_assert(offsetof(struct host_ctx, fx) == 192, "CTX_FX in fpu_stub.S");

/* fpu_stub.S: the whole FPU/SSE state, or (SSE slots) MXCSR and XMM only. */
void fpu_stub_enter(struct host_ctx *ctx);
void fpu_stub_enter_sse(struct host_ctx *ctx);

bool fpu_unaligned_ok(ZydisMnemonic m)
{
    switch (m) {
    case ZYDIS_MNEMONIC_MOVUPS:
    case ZYDIS_MNEMONIC_MOVUPD:
    case ZYDIS_MNEMONIC_MOVDQU:
    case ZYDIS_MNEMONIC_LDDQU:
    case ZYDIS_MNEMONIC_PCMPESTRI:
    case ZYDIS_MNEMONIC_PCMPESTRM:
    case ZYDIS_MNEMONIC_PCMPISTRI:
    case ZYDIS_MNEMONIC_PCMPISTRM:
        return true;
    default:
        return false;
    }
}

/* The XMM and YMM registers the instruction names, hidden ones (XMM0 of
 * BLENDVPS, PCMPESTRM) included: bit n for XMMn or YMMn. */
static unsigned xmm_operands(const struct emu_cpu *cpu)
{
    unsigned mask = 0;

    for (int i = 0; i < cpu->decoded->insn.operand_count; i++) {
        int r = fpu_vec_index(cpu->decoded->ops[i].reg.value);

        if (cpu->decoded->ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER && r >= 0)
            mask |= 1u << r;
    }
    return mask;
}

/* The alignment the memory operand of size bytes must have, 0 for none:
 * legacy SSE wants 16-byte operands aligned but for the unaligned forms;
 * VEX forms only for the aligned moves, to their size (SDM Vol. 2A §2.4,
 * "Exceptions Type 1"). */
static unsigned alignment(const struct emu_cpu *cpu, enum fpu_kind kind, unsigned size)
{
    if (kind == FPU_KIND_AVX)
        return fpu_avx_aligned(cpu->decoded->insn.mnemonic) ? size : 0;
    return size == 16 && !fpu_unaligned_ok(cpu->decoded->insn.mnemonic) ? 16 : 0;
}

/* Folds the host's x87 result into ctx->fx: the sticky flags from before,
 * FSW.ES/B, and the last-instruction pointers (SDM Vol. 1 §8.1.8) of a
 * non-control x87 instruction; MMX instructions keep the old pointers.
 * Returns the unmasked exceptions the instruction raised. */
static uint16_t x87_fixup(struct emu_cpu *cpu, struct host_ctx *ctx, enum fpu_kind kind, bool mem,
                          uint64_t ea)
{
    uint16_t fsw, fcw, unmasked;

    memcpy(&fsw, ctx->fx + FX_FSW, 2);
    memcpy(&fcw, ctx->fx + FX_FCW, 2);
    unmasked = fsw & FSW_EXC & ~fcw;
    fsw |= fx16(cpu, FX_FSW) & FSW_FLAGS;
    fsw &= ~(FSW_ES | FSW_B);
    if (fsw & FSW_EXC & ~fcw)
        fsw |= FSW_ES | FSW_B;
    memcpy(ctx->fx + FX_FSW, &fsw, 2);
    memcpy(ctx->fx + FX_FOP, cpu->fxsave + FX_FOP, FX_MXCSR - FX_FOP);
    if (kind == FPU_KIND_X87) {
        uint16_t fop =
            (uint16_t)((cpu->decoded->insn.opcode & 7) << 8 |
                       cpu->decoded->insn.raw.modrm.mod << 6 |
                       cpu->decoded->insn.raw.modrm.reg << 3 | cpu->decoded->insn.raw.modrm.rm);
        uint64_t fip = cpu->insn_rip;

        memcpy(ctx->fx + FX_FOP, &fop, 2);
        memcpy(ctx->fx + FX_FIP, &fip, 8);
        if (mem)
            memcpy(ctx->fx + FX_FDP, &ea, 8);
    }
    return unmasked;
}

/* SIMD floating-point exceptions of an instruction that ran masked, host
 * being MXCSR after it (SDM Vol. 1 §11.5.2.1). With none unmasked, returns
 * the guest's MXCSR with the new flags. Otherwise nothing is written but
 * the flags (the pre-computation ones, invalid, denormal and divide, alone
 * if one of those is unmasked) and the instruction takes #XM, or #UD with
 * CR4.OSXMMEXCPT clear. */
static uint32_t simd_exceptions(struct emu_cpu *cpu, uint32_t host)
{
    uint32_t guest = fx32(cpu, FX_MXCSR), raised = host & MXCSR_EXC;
    uint32_t unmasked = raised & ~(guest >> MXCSR_MASKS_SHIFT) & MXCSR_EXC;

    if (unmasked) {
        set_fx32(cpu, FX_MXCSR, guest | (unmasked & 0x7 ? raised & 0x7 : raised));
        emu_raise(cpu, cpu->cr4 & CR4_OSXMMEXCPT ? EXC_XM : EXC_UD, EXC_NO_ERROR);
    }
    return guest | raised;
}

bool fpu_exec_host(struct emu_cpu *cpu, enum fpu_kind kind)
{
    struct fpu_page *p = cpu->fpu;
    struct host_ctx ctx;
    unsigned size = 0, xmm = xmm_operands(cpu), align;
    int m = -1, subst = fpu_rsp_stand_in(cpu), seg = SEG_DS;
    /* Instructions that leave the x87 state alone skip FXRSTOR/FXSAVE. */
    bool avx = kind == FPU_KIND_AVX, sse = kind == FPU_KIND_SSE || kind == FPU_KIND_GPR || avx;
    uint64_t ea = 0;
    uint32_t mxcsr;
    uint16_t unmasked = 0;
    void *slot;

    if (!p)
        return false;
    for (int i = 0; i < cpu->decoded->insn.operand_count; i++) {
        const ZydisDecodedOperand *o = &cpu->decoded->ops[i];

        if (o->type != ZYDIS_OPERAND_TYPE_MEMORY)
            continue;
        /* An implicit memory operand would address host memory. */
        if (o->visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT ||
            o->mem.type != ZYDIS_MEMOP_TYPE_MEM || o->size / 8 > sizeof(p->buf))
            return false;
        m = i;
        size = o->size / 8;
    }
    slot = fpu_slot(cpu, p, m >= 0, subst,
                    avx   ? FPU_SLOT_AVX
                    : sse ? FPU_SLOT_SSE
                          : FPU_SLOT_FULL,
                    xmm);
    /* An AVX slot is the only one that loads the upper halves. */
    if (!slot && sse && !avx)
        slot = fpu_slot(cpu, p, m >= 0, subst, FPU_SLOT_FULL, 0), sse = false;
    if (!slot)
        return false;

    if (m >= 0) {
        seg = emu_op_seg(cpu, m);
        ea = emu_op_address(cpu, m);
        align = alignment(cpu, kind, size);
        if (align && (emu_linear(cpu, seg, ea, size, false) & (align - 1)))
            emu_raise(cpu, EXC_GP, 0);
        if ((cpu->decoded->ops[m].actions & ZYDIS_OPERAND_ACTION_MASK_READ) && avx)
            fpu_avx_mem_read(cpu, seg, ea, p->buf, size);
        else if (cpu->decoded->ops[m].actions & ZYDIS_OPERAND_ACTION_MASK_READ)
            fpu_mem_read(cpu, seg, ea, p->buf, size);
        /* A store's #GP, #SS or #PF comes before the computation's #XM,
         * as on the host (an x87 store's exceptions wait for the next
         * instruction instead). */
        if ((cpu->decoded->ops[m].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) && avx)
            fpu_avx_mem_probe_write(cpu, seg, ea, size);
        else if ((cpu->decoded->ops[m].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) && sse)
            fpu_mem_probe_write(cpu, seg, ea, size);
    }

    memcpy(ctx.gpr, cpu->gpr, sizeof(ctx.gpr));
    if (subst >= 0)
        ctx.gpr[subst] = cpu->gpr[GPR_RSP];
    ctx.rflags = (cpu->rflags & RFLAGS_STATUS) | RFLAGS_FIXED;
    ctx.slot = (uint64_t)(uintptr_t)slot;
    /* FXRSTOR64 would fault on reserved MXCSR bits: LDMXCSR, FXRSTOR and
     * XRSTOR keep them clear, and so does this for any other writer. */
    set_fx32(cpu, FX_MXCSR, fx32(cpu, FX_MXCSR) & fpu_mxcsr_mask());
    mxcsr = (fx32(cpu, FX_MXCSR) & ~MXCSR_EXC) | MXCSR_INIT;
    if (sse) {
        for (unsigned r = 0; r < 16; r++) {
            if (!(xmm & (1u << r)))
                continue;
            if (avx) {
                memcpy(p->ymm[r], cpu->fxsave + FX_XMM(r), 16);
                memcpy(p->ymm[r] + 16, cpu->ymmh[r], 16);
            } else {
                memcpy(p->xmm[r], cpu->fxsave + FX_XMM(r), 16);
            }
        }
        p->mxcsr_in = mxcsr;
        fpu_stub_enter_sse(&ctx);
        mxcsr = simd_exceptions(cpu, p->mxcsr_out);
    } else {
        ctx.image = (uint64_t)(uintptr_t)cpu->fxsave;
        ctx.mxcsr = mxcsr;
        fpu_stub_enter(&ctx);
        memcpy(&mxcsr, ctx.fx + FX_MXCSR, 4);
        mxcsr = simd_exceptions(cpu, mxcsr);
        memcpy(ctx.fx + FX_MXCSR, &mxcsr, 4);
        memcpy(ctx.fx + FX_MXCSR_MASK, &(uint32_t){fpu_mxcsr_mask()}, 4);
        if (kind == FPU_KIND_X87 || kind == FPU_KIND_MMX)
            unmasked = x87_fixup(cpu, &ctx, kind, m >= 0, ea);
        else /* the x87 state is as it was: control, status and pointers */
            memcpy(ctx.fx, cpu->fxsave, FX_MXCSR);
    }
    /* An x87 store that takes an unmasked exception stores nothing, but
     * for the precision exception (SDM Vol. 1 §4.9.1, §8.5). */
    if (m >= 0 && (cpu->decoded->ops[m].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) && avx)
        fpu_avx_mem_write(cpu, seg, ea, p->buf, size);
    else if (m >= 0 && (cpu->decoded->ops[m].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE) &&
             !(unmasked & ~FSW_PE))
        fpu_mem_write(cpu, seg, ea, p->buf, size);

    for (int r = 0; r < 16; r++)
        if (r != GPR_RSP && r != subst)
            cpu->gpr[r] = ctx.gpr[r];
    if (subst >= 0)
        cpu->gpr[GPR_RSP] = ctx.gpr[subst];
    cpu->rflags = (cpu->rflags & ~RFLAGS_STATUS) | (ctx.rflags & RFLAGS_STATUS);
    if (sse) {
        for (unsigned r = 0; r < 16; r++) {
            if (!(xmm & (1u << r)))
                continue;
            if (avx) {
                memcpy(cpu->fxsave + FX_XMM(r), p->ymm[r], 16);
                memcpy(cpu->ymmh[r], p->ymm[r] + 16, 16);
            } else {
                memcpy(cpu->fxsave + FX_XMM(r), p->xmm[r], 16);
            }
        }
        set_fx32(cpu, FX_MXCSR, mxcsr);
    } else {
        /* Only what the host's FXSAVE64 wrote (SDM Vol. 1 Table 10-2): the
         * rest is as the stack had it, host memory the guest must not see. */
        memcpy(cpu->fxsave, ctx.fx, FX_HOST_BYTES);
    }
    return true;
}
