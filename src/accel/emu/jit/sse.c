/*
 * SSE instructions in translated code: the integer, logic, shuffle, move
 * and floating-point instructions of SSE to SSE4.1 (and SSE4.2's
 * PCMPISTRI, whose index goes to ECX) run as the same host
 * instruction inline, instead of through the generic groups and
 * fpu_host.c's slots. Guest XMM registers live in the FXSAVE image
 * (emu_cpu.fxsave); a template loads those the instruction names into the
 * same host XMM registers, where they stay until the next call into C or
 * exit (tr->xlive, written back if changed: tr->xdirty), runs the
 * instruction re-encoded by Zydis with its memory operand as [RDI] (after
 * the TLB probe) and a general register as RAX or EAX.
 *
 * Floating point (exception types 2 and 3) runs under the guest's own
 * MXCSR, loaded into the host's at the block's first such instruction
 * and stored back (with the flags raised since) before the next call into
 * C or exit (tr->mx); only while the guest masks every SIMD exception, so
 * that the host never traps and no instruction needs #XM: one that
 * unmasks any runs through the handler. COMISS/COMISD/UCOMISS/UCOMISD
 * leave the guest's flags in the host's, as an ALU template does.
 *
 * VEX instructions (AVX, AVX2, FMA, F16C) run the same way on whole host
 * YMM registers: the upper halves of the guest's (emu_cpu.ymmh) are loaded
 * with VINSERTF128 where a 256-bit instruction reads them (tr->ylive) and
 * stored with VEXTRACTF128 where one wrote them (tr->ydirty); a VEX.128
 * instruction zeroes its destination's, as the guest's does, and a legacy
 * one leaves them, as the guest's does. Masked moves, gathers and the
 * instructions fpu_avx.c runs itself stay with the handler.
 *
 * The slow path (the #UD/#NM checks of fpu_check_simd failing, an
 * unmasked exception, a TLB miss, a misaligned 16-byte operand) is the
 * generic handler, as for every template.
 */
#include "accel/emu/fpu.h"
#include "accel/emu/jit/tr.h"
#include "vm/vm.h"

#define FX_AT(off)  jm(HR_RBX, (int32_t)(offsetof(struct emu_cpu, fxsave) + (off)))
#define MXCSR_MASKS (0x3fu << MXCSR_MASKS_SHIFT)

/* Host MOVDQU between XMM r and guest XMMr (store: to the guest's). */
static void movdqu(struct jit_buf *b, unsigned r, bool store)
{
    e8(b, 0xf3);
    emit_rm(b, store ? 0x0f7f : 0x0f6f, 4, r, FX_AT(FX_XMM(r)));
}

static void stores(struct jit_buf *b, uint16_t regs)
{
    for (unsigned r = 0; r < 16; r++)
        if (regs & (1u << r))
            movdqu(b, r, true);
}

#define YMMH_AT(r) jm(HR_RBX, (int32_t)(offsetof(struct emu_cpu, ymmh) + 16 * (r)))

static ZydisEncoderOperand zreg(ZydisRegister r)
{
    return (ZydisEncoderOperand){.type = ZYDIS_OPERAND_TYPE_REGISTER, .reg.value = r};
}

static ZydisEncoderOperand zmem(struct jit_mem m)
{
    return (ZydisEncoderOperand){
        .type = ZYDIS_OPERAND_TYPE_MEMORY,
        .mem = {.base = ZYDIS_REGISTER_RBX, .displacement = m.disp, .size = 16}};
}

/* A VEX instruction through Zydis's encoder (emit.h has no VEX forms):
 * VMOVDQU xmm, m128 (load), VINSERTF128 ymm, ymm, m128, 1, VEXTRACTF128
 * m128, ymm, 1. */
static void vex(struct jit_buf *b, ZydisMnemonic m, unsigned r, struct jit_mem mem)
{
    ZydisEncoderRequest req = {.machine_mode = ZYDIS_MACHINE_MODE_LONG_64, .mnemonic = m};
    ZydisRegister y = (ZydisRegister)(ZYDIS_REGISTER_YMM0 + r);
    uint8_t enc[ZYDIS_MAX_INSTRUCTION_LENGTH];
    ZyanUSize len = sizeof(enc);

    if (m == ZYDIS_MNEMONIC_VMOVDQU) {
        req.operand_count = 2;
        req.operands[0] = zreg((ZydisRegister)(ZYDIS_REGISTER_XMM0 + r));
        req.operands[1] = zmem(mem);
    } else if (m == ZYDIS_MNEMONIC_VINSERTF128) {
        req.operand_count = 4;
        req.operands[0] = zreg(y);
        req.operands[1] = zreg(y);
        req.operands[2] = zmem(mem);
        req.operands[3] = (ZydisEncoderOperand){.type = ZYDIS_OPERAND_TYPE_IMMEDIATE, .imm.u = 1};
    } else {
        req.operand_count = 3;
        req.operands[0] = zmem(mem);
        req.operands[1] = zreg(y);
        req.operands[2] = (ZydisEncoderOperand){.type = ZYDIS_OPERAND_TYPE_IMMEDIATE, .imm.u = 1};
    }
    if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstruction(&req, enc, &len))) {
        jit_full(b); /* cannot happen: these forms always encode */
        return;
    }
    for (ZyanUSize i = 0; i < len; i++)
        e8(b, enc[i]);
}

/* Stores the upper halves of the YMM registers in regs to the guest's. */
static void upper_stores(struct jit_buf *b, uint16_t regs)
{
    for (unsigned r = 0; r < 16; r++)
        if (regs & (1u << r))
            vex(b, ZYDIS_MNEMONIC_VEXTRACTF128, r, YMMH_AT(r));
}

/* LDMXCSR / STMXCSR m32. */
static void ldmxcsr(struct jit_buf *b, struct jit_mem m)
{
    emit_rm(b, 0x0fae, 4, 2, m);
}

static void stmxcsr(struct jit_buf *b, struct jit_mem m)
{
    emit_rm(b, 0x0fae, 4, 3, m);
}

/* The guest's MXCSR back from the host's, and the host's own. */
static void mx_out(struct jit_buf *b)
{
    stmxcsr(b, FX_AT(FX_MXCSR));
    ldmxcsr(b, CPU(jit_host_mxcsr));
}

/* ZF clear unless the guest masks every SIMD exception. Clobbers EAX. */
static void mx_test(struct jit_buf *b)
{
    mov_load(b, 4, HR_RAX, FX_AT(FX_MXCSR));
    unary_r(b, 2, 4, HR_RAX);       /* NOT */
    emit_rr(b, 0xf7, 4, 0, HR_RAX); /* TEST EAX, masks */
    e32(b, MXCSR_MASKS);
}

void tr_vec_end(struct tr *t)
{
    stores(&t->b, t->xdirty);
    upper_stores(&t->b, t->ydirty);
    if (t->ylive) {
        e8(&t->b, 0xc5); /* VZEROUPPER: no SSE/AVX transition cost in C */
        e8(&t->b, 0xf8);
        e8(&t->b, 0x77);
    }
    if (t->mx)
        mx_out(&t->b);
    t->xlive = t->xdirty = t->ylive = t->ydirty = 0;
    t->mx = t->simd_ok = t->avx_ok = false;
}

void tr_vec_spill(struct tr *t, const struct stub *s)
{
    stores(&t->b, s->xdirty);
    upper_stores(&t->b, s->ydirty);
    if (s->mx)
        mx_out(&t->b);
}

uint8_t *tr_vec_resume(struct tr *t, const struct stub *s)
{
    uint8_t *hole = NULL;

    if (s->mx_after) {
        mx_test(&t->b);
        hole = jcc32(&t->b, CC_NE);
        ldmxcsr(&t->b, FX_AT(FX_MXCSR));
    }
    for (unsigned r = 0; r < 16; r++)
        if (s->xlive_after & (1u << r))
            movdqu(&t->b, r, false);
    for (unsigned r = 0; r < 16; r++)
        if (s->ylive_after & (1u << r))
            vex(&t->b, ZYDIS_MNEMONIC_VINSERTF128, r, YMMH_AT(r));
    return hole;
}

/* COMISS, COMISD, UCOMISS, UCOMISD: the hidden operand RFLAGS. */
static bool compares(ZydisMnemonic m)
{
    return m == ZYDIS_MNEMONIC_COMISS || m == ZYDIS_MNEMONIC_COMISD ||
           m == ZYDIS_MNEMONIC_UCOMISS || m == ZYDIS_MNEMONIC_UCOMISD ||
           m == ZYDIS_MNEMONIC_VCOMISS || m == ZYDIS_MNEMONIC_VCOMISD ||
           m == ZYDIS_MNEMONIC_VUCOMISS || m == ZYDIS_MNEMONIC_VUCOMISD;
}

/* VEX instructions with a template: not those fpu_avx.c runs itself, nor
 * the masked moves (they fault only on the elements they move). */
static bool vex_ok(const struct tr *t, const ZydisDecodedInstruction *in, bool *fp)
{
    enum cpu_feature f = fpu_avx_feature(in->meta.isa_set);

    if (f == CPU_FEATURE_COUNT || !cpu_model_has(t->cpu->vm->cfg.cpu_off, f))
        return false;
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_VMASKMOVPS:
    case ZYDIS_MNEMONIC_VMASKMOVPD:
    case ZYDIS_MNEMONIC_VPMASKMOVD:
    case ZYDIS_MNEMONIC_VPMASKMOVQ:
    case ZYDIS_MNEMONIC_VMASKMOVDQU:
    case ZYDIS_MNEMONIC_VLDMXCSR:
    case ZYDIS_MNEMONIC_VSTMXCSR:
        return false;
    default:
        break;
    }
    /* Exception types (SDM Vol. 2A §2.5): 2, 3 and 11 raise SIMD
     * floating-point exceptions; 8 (VZEROUPPER/ALL) and 12 (gathers) are
     * fpu_avx.c's. */
    switch (in->meta.exception_class) {
    case ZYDIS_EXCEPTION_CLASS_AVX2:
    case ZYDIS_EXCEPTION_CLASS_AVX3:
    case ZYDIS_EXCEPTION_CLASS_AVX11:
        *fp = true;
        return true;
    case ZYDIS_EXCEPTION_CLASS_AVX1:
    case ZYDIS_EXCEPTION_CLASS_AVX4:
    case ZYDIS_EXCEPTION_CLASS_AVX5:
    case ZYDIS_EXCEPTION_CLASS_AVX6:
    case ZYDIS_EXCEPTION_CLASS_AVX7:
        return true;
    default:
        return false;
    }
}

bool tr_sse(struct tr *t, const struct emu_uop *u)
{
    const struct emu_decoded *d = (const struct emu_decoded *)(uintptr_t)u->imm;
    const ZydisDecodedInstruction *in = &d->insn;
    const ZydisDecodedOperand *ops = d->ops;
    unsigned xmm = 0, xmm_out = 0, gsize = 0, msize = 0;
    int mem = -1, gpr = -1, g = -1;
    bool fp = false, sets_flags = false, wide = false, ecx_out = false;
    bool is_vex = in->encoding == ZYDIS_INSTRUCTION_ENCODING_VEX;
    ZydisEncoderRequest req;
    uint8_t enc[ZYDIS_MAX_INSTRUCTION_LENGTH];
    ZyanUSize len = sizeof(enc);
    struct emu_uop mu;
    struct stub *s = NULL;

    if (!t->flat64 || !fpu_host_has(in->meta.isa_set))
        return false;
    if (is_vex) {
        if (!vex_ok(t, in, &fp))
            return false;
    } else if (in->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY) {
        return false;
    }
    /* The SDM's exception types (Vol. 2 §2.5): 1, 4, 5 and 7 raise no
     * SIMD floating-point exception; 2 and 3 do (fp). */
    switch (is_vex ? ZYDIS_EXCEPTION_CLASS_SSE1 : in->meta.exception_class) {
    case ZYDIS_EXCEPTION_CLASS_SSE2:
    case ZYDIS_EXCEPTION_CLASS_SSE3:
        fp = true;
        break;
    case ZYDIS_EXCEPTION_CLASS_SSE1:
    case ZYDIS_EXCEPTION_CLASS_SSE4:
    case ZYDIS_EXCEPTION_CLASS_SSE5:
    case ZYDIS_EXCEPTION_CLASS_SSE7:
        break;
    default:
        return false;
    }
    switch (is_vex ? ZYDIS_ISA_EXT_SSE : in->meta.isa_ext) {
    case ZYDIS_ISA_EXT_SSE:
    case ZYDIS_ISA_EXT_SSE2:
    case ZYDIS_ISA_EXT_SSE3:
    case ZYDIS_ISA_EXT_SSSE3:
    case ZYDIS_ISA_EXT_SSE4:
        break;
    default:
        return false;
    }
    for (int i = 0; i < in->operand_count; i++) {
        const ZydisDecodedOperand *o = &ops[i];

        if (o->visibility == ZYDIS_OPERAND_VISIBILITY_HIDDEN) {
            /* Only the compares' RFLAGS, and PCMPISTRI's RFLAGS and ECX
             * (its index, from the host's ECX): nothing else hidden is
             * loaded or stored. */
            bool istri = in->mnemonic == ZYDIS_MNEMONIC_PCMPISTRI;

            if (o->type != ZYDIS_OPERAND_TYPE_REGISTER)
                return false;
            if (o->reg.value == ZYDIS_REGISTER_RFLAGS && (compares(in->mnemonic) || istri))
                sets_flags = true;
            else if (o->reg.value == ZYDIS_REGISTER_ECX && istri)
                ecx_out = true;
            else
                return false;
        } else if (o->type == ZYDIS_OPERAND_TYPE_REGISTER &&
                   (fpu_is_xmm(o->reg.value) || (is_vex && o->reg.value >= ZYDIS_REGISTER_YMM0 &&
                                                 o->reg.value <= ZYDIS_REGISTER_YMM15))) {
            unsigned r =
                (unsigned)(o->reg.value -
                           (fpu_is_xmm(o->reg.value) ? ZYDIS_REGISTER_XMM0 : ZYDIS_REGISTER_YMM0));

            wide |= !fpu_is_xmm(o->reg.value);
            xmm |= 1u << r;
            if (o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)
                xmm_out |= 1u << r;
        } else if (o->type == ZYDIS_OPERAND_TYPE_REGISTER && gpr < 0 &&
                   emu_gpr_index(o->reg.value) >= 0 && (o->size == 32 || o->size == 64)) {
            gpr = i;
            g = emu_gpr_index(o->reg.value);
            gsize = o->size / 8;
        } else if (o->type == ZYDIS_OPERAND_TYPE_MEMORY && mem < 0 && tr_mem_fields(in, o, &mu)) {
            mem = i;
            msize = o->size / 8;
        } else if (o->type != ZYDIS_OPERAND_TYPE_IMMEDIATE) {
            return false;
        }
    }
    if (!xmm || (mem >= 0 && (msize == 0 || msize > (is_vex ? 32u : 16u))))
        return false;
    /* The host encoding: memory at [RDI], the general register as RAX. */
    if (!tr_host_request(in, ops, mem, &req))
        return false;
    if (gpr >= 0)
        req.operands[gpr].reg.value = gsize == 8 ? ZYDIS_REGISTER_RAX : ZYDIS_REGISTER_EAX;
    if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstruction(&req, enc, &len)))
        return false;

    /* Checks that may send the instruction to its handler, with the guest
     * flags in RFLAGS. */
    if ((is_vex ? !t->avx_ok : !t->simd_ok) || mem >= 0 || (fp && !t->mx)) {
        s = tr_stub(t, u);
        tr_materialize(t);
    }
    if (is_vex && !t->avx_ok) {
        /* fpu_exec_avx: #UD or #NM are the handler's to raise. */
        emit_rm(&t->b, 0xf7, 4, 0, CPU(cr0)); /* TEST */
        e32(&t->b, (uint32_t)CR0_TS);
        tr_to_stub(t, s, CC_NE);
        emit_rm(&t->b, 0xf7, 4, 0, CPU(cr4));
        e32(&t->b, (uint32_t)CR4_OSXSAVE);
        tr_to_stub(t, s, CC_E);
        mov_load(&t->b, 4, HR_RAX, CPU(xcr0));
        unary_r(&t->b, 2, 4, HR_RAX); /* NOT */
        emit_rr(&t->b, 0xf7, 4, 0, HR_RAX);
        e32(&t->b, (uint32_t)(XFEATURE_SSE | XFEATURE_AVX));
        tr_to_stub(t, s, CC_NE);
        t->avx_ok = true;
    } else if (!is_vex && !t->simd_ok) {
        /* fpu_check_simd: #UD or #NM are the handler's to raise. C runs
         * between here and any change of CR0 or CR4. */
        emit_rm(&t->b, 0xf7, 4, 0, CPU(cr0)); /* TEST */
        e32(&t->b, (uint32_t)(CR0_EM | CR0_TS));
        tr_to_stub(t, s, CC_NE);
        emit_rm(&t->b, 0xf7, 4, 0, CPU(cr4));
        e32(&t->b, (uint32_t)CR4_OSFXSR);
        tr_to_stub(t, s, CC_E);
        t->simd_ok = true;
    }
    if (mem >= 0) {
        bool writes = ops[mem].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE;

        mu.len = u->len;
        tr_ea(t, &mu);
        if (is_vex ? fpu_avx_aligned(in->mnemonic)
                   : msize == 16 && !fpu_unaligned_ok(in->mnemonic)) {
            emit_rr(&t->b, 0xf7, 4, 0, HR_RSI); /* TEST ESI, size - 1 */
            e32(&t->b, msize - 1);
            tr_to_stub(t, s, CC_NE);
        }
        tr_probe(t, s, writes ? ACC_WRITE : ACC_READ, msize);
    }
    if (fp && !t->mx) {
        mx_test(&t->b);
        tr_to_stub(t, s, CC_NE);
        ldmxcsr(&t->b, FX_AT(FX_MXCSR));
        t->mx = true;
    }
    for (unsigned r = 0; r < 16; r++) {
        if (!(xmm & (1u << r)))
            continue;
        if (!(t->xlive & (1u << r))) {
            /* The VEX load zeroes the host's upper half: not the guest's. */
            if (is_vex) {
                vex(&t->b, ZYDIS_MNEMONIC_VMOVDQU, r, FX_AT(FX_XMM(r)));
                t->ylive &= (uint16_t) ~(1u << r);
            } else {
                movdqu(&t->b, r, false);
            }
        }
        if (wide && !(t->ylive & (1u << r))) {
            vex(&t->b, ZYDIS_MNEMONIC_VINSERTF128, r, YMMH_AT(r));
            t->ylive |= (uint16_t)(1u << r);
        }
    }
    t->xlive |= (uint16_t)xmm;
    if (gpr >= 0 && (ops[gpr].actions & ZYDIS_OPERAND_ACTION_MASK_READ))
        tr_get(t, gsize, HR_RAX, (unsigned)g);
    if (sets_flags)
        tr_flags_overwritten(t, RFLAGS_STATUS);
    for (ZyanUSize i = 0; i < len; i++)
        e8(&t->b, enc[i]);
    t->xdirty |= (uint16_t)xmm_out;
    if (is_vex) {
        /* A VEX instruction writes its destination whole (VEX.128 zeroes
         * bits 255:128). */
        t->ylive |= (uint16_t)xmm_out;
        t->ydirty |= (uint16_t)xmm_out;
    }
    if (sets_flags)
        t->pending = RFLAGS_STATUS;
    if (gpr >= 0 && (ops[gpr].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
        tr_put(t, gsize, (unsigned)g, HR_RAX);
    if (ecx_out)
        tr_put(t, 4, GPR_RCX, HR_RCX);
    if (mem >= 0 && (ops[mem].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
        tr_smc_check(t, u, msize, t->next);
    if (s)
        s->resume = t->b.p;
    return true;
}
