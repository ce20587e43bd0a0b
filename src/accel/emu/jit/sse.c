/*
 * SSE instructions in translated code: the integer, logic, shuffle and
 * move instructions of SSE to SSE4.1 (what string functions, checksums and
 * copies use), run as the same host instruction inline, instead of through
 * the generic groups and fpu_host.c's slots. Guest XMM registers live in
 * the FXSAVE image (emu_cpu.fxsave); a template loads those the
 * instruction names into the same host XMM registers, runs the instruction
 * re-encoded by Zydis with its memory operand as [RDI] (after the TLB
 * probe) and a general register as RAX or EAX, and stores what it wrote.
 *
 * Only instructions of the exception types without SIMD floating-point
 * exceptions qualify (MXCSR plays no part in them), and of those only the
 * ones without hidden operands (none that writes RFLAGS). The slow path (the #UD/#NM checks of
 * fpu_check_simd failing, a TLB miss, a misaligned 16-byte operand) is the
 * generic handler, as for every template.
 */
#include "accel/emu/fpu.h"
#include "accel/emu/jit/tr.h"

/* Legacy-SSE forms that do not require 16-byte alignment of a 16-byte
 * memory operand (SDM Vol. 1 §11.4.1): the rest #GP when it is not. */
static bool unaligned_ok(ZydisMnemonic m)
{
    return m == ZYDIS_MNEMONIC_MOVDQU || m == ZYDIS_MNEMONIC_MOVUPS || m == ZYDIS_MNEMONIC_MOVUPD ||
           m == ZYDIS_MNEMONIC_LDDQU;
}

/* Host MOVDQU between XMM r and [RBX + disp] (store: to memory). */
static void movdqu(struct tr *t, unsigned r, int32_t disp, bool store)
{
    e8(&t->b, 0xf3);
    emit_rm(&t->b, store ? 0x0f7f : 0x0f6f, 4, r, jm(HR_RBX, disp));
}

/* The uop fields tr_ea needs, from a Zydis memory operand; false for one
 * it cannot address. */
static bool mem_fields(const ZydisDecodedInstruction *in, const ZydisDecodedOperand *o,
                       struct emu_uop *m)
{
    int b = -1, x = -1;

    if (o->mem.type != ZYDIS_MEMOP_TYPE_MEM || in->address_width < 32 ||
        o->mem.segment < ZYDIS_REGISTER_ES || o->mem.segment > ZYDIS_REGISTER_GS ||
        (o->mem.disp.has_displacement && o->mem.disp.value != (int32_t)o->mem.disp.value))
        return false;
    if (o->mem.base == ZYDIS_REGISTER_RIP)
        b = UOP_RIP_REG;
    else if (o->mem.base != ZYDIS_REGISTER_NONE && (b = emu_gpr_index(o->mem.base)) < 0)
        return false;
    if (o->mem.index != ZYDIS_REGISTER_NONE && (x = emu_gpr_index(o->mem.index)) < 0)
        return false;
    *m = (struct emu_uop){
        .disp = o->mem.disp.has_displacement ? (int32_t)o->mem.disp.value : 0,
        .base = b < 0 ? UOP_NO_REG : (uint8_t)b,
        .index = x < 0 ? UOP_NO_REG : (uint8_t)x,
        .scale = (uint8_t)(o->mem.scale == 8   ? 3
                           : o->mem.scale == 4 ? 2
                                               : o->mem.scale == 2),
        .seg = (uint8_t)(o->mem.segment - ZYDIS_REGISTER_ES),
        .addr_size = (uint8_t)(in->address_width / 8),
    };
    return true;
}

bool tr_sse(struct tr *t, const struct emu_uop *u)
{
    const struct emu_decoded *d = (const struct emu_decoded *)(uintptr_t)u->imm;
    const ZydisDecodedInstruction *in = &d->insn;
    const ZydisDecodedOperand *ops = d->ops;
    unsigned xmm = 0, xmm_out = 0, gsize = 0, msize = 0;
    int mem = -1, gpr = -1, g = -1;
    ZydisEncoderRequest req;
    uint8_t enc[ZYDIS_MAX_INSTRUCTION_LENGTH];
    ZyanUSize len = sizeof(enc);
    struct emu_uop mu;
    struct stub *s;

    if (!t->flat64 || in->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY ||
        in->operand_count != in->operand_count_visible || !fpu_host_has(in->meta.isa_set))
        return false;
    /* The SDM's exception types 1, 4, 5 and 7 (Vol. 2 §2.5): no SIMD
     * floating-point exception, so MXCSR plays no part. */
    switch (in->meta.exception_class) {
    case ZYDIS_EXCEPTION_CLASS_SSE1:
    case ZYDIS_EXCEPTION_CLASS_SSE4:
    case ZYDIS_EXCEPTION_CLASS_SSE5:
    case ZYDIS_EXCEPTION_CLASS_SSE7:
        break;
    default:
        return false;
    }
    switch (in->meta.isa_ext) {
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

        if (o->type == ZYDIS_OPERAND_TYPE_REGISTER && fpu_is_xmm(o->reg.value)) {
            unsigned r = (unsigned)(o->reg.value - ZYDIS_REGISTER_XMM0);

            xmm |= 1u << r;
            if (o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)
                xmm_out |= 1u << r;
        } else if (o->type == ZYDIS_OPERAND_TYPE_REGISTER && gpr < 0 &&
                   emu_gpr_index(o->reg.value) >= 0 && (o->size == 32 || o->size == 64)) {
            gpr = i;
            g = emu_gpr_index(o->reg.value);
            gsize = o->size / 8;
        } else if (o->type == ZYDIS_OPERAND_TYPE_MEMORY && mem < 0 && mem_fields(in, o, &mu)) {
            mem = i;
            msize = o->size / 8;
        } else if (o->type != ZYDIS_OPERAND_TYPE_IMMEDIATE) {
            return false;
        }
    }
    if (!xmm || (mem >= 0 && (msize == 0 || msize > 16)))
        return false;
    /* The host encoding: memory at [RDI], the general register as RAX. */
    if (!ZYAN_SUCCESS(ZydisEncoderDecodedInstructionToEncoderRequest(
            in, ops, in->operand_count_visible, &req)))
        return false;
    req.machine_mode = ZYDIS_MACHINE_MODE_LONG_64;
    req.prefixes &= ~(ZyanU64)ZYDIS_ATTRIB_HAS_SEGMENT;
    req.address_size_hint = ZYDIS_ADDRESS_SIZE_HINT_NONE;
    if (mem >= 0) {
        req.operands[mem].mem.base = ZYDIS_REGISTER_RDI;
        req.operands[mem].mem.index = ZYDIS_REGISTER_NONE;
        req.operands[mem].mem.scale = 0;
        req.operands[mem].mem.displacement = 0;
    }
    if (gpr >= 0)
        req.operands[gpr].reg.value = gsize == 8 ? ZYDIS_REGISTER_RAX : ZYDIS_REGISTER_EAX;
    if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstruction(&req, enc, &len)))
        return false;

    s = tr_stub(t, u);
    tr_materialize(t);
    /* fpu_check_simd: #UD or #NM are the handler's to raise. */
    emit_rm(&t->b, 0xf7, 4, 0, CPU(cr0)); /* TEST */
    e32(&t->b, (uint32_t)(CR0_EM | CR0_TS));
    tr_to_stub(t, s, CC_NE);
    emit_rm(&t->b, 0xf7, 4, 0, CPU(cr4));
    e32(&t->b, (uint32_t)CR4_OSFXSR);
    tr_to_stub(t, s, CC_E);
    if (mem >= 0) {
        bool writes = ops[mem].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE;

        mu.len = u->len;
        tr_ea(t, &mu);
        if (msize == 16 && !unaligned_ok(in->mnemonic)) {
            emit_rr(&t->b, 0xf7, 4, 0, HR_RSI); /* TEST ESI, 15 */
            e32(&t->b, 15);
            tr_to_stub(t, s, CC_NE);
        }
        tr_probe(t, s, writes ? ACC_WRITE : ACC_READ, msize);
    }
    for (unsigned r = 0; r < 16; r++)
        if (xmm & (1u << r))
            movdqu(t, r, (int32_t)(offsetof(struct emu_cpu, fxsave) + FX_XMM(r)), false);
    if (gpr >= 0 && (ops[gpr].actions & ZYDIS_OPERAND_ACTION_MASK_READ))
        tr_get(t, gsize, HR_RAX, (unsigned)g);
    for (ZyanUSize i = 0; i < len; i++)
        e8(&t->b, enc[i]);
    for (unsigned r = 0; r < 16; r++)
        if (xmm_out & (1u << r))
            movdqu(t, r, (int32_t)(offsetof(struct emu_cpu, fxsave) + FX_XMM(r)), true);
    if (gpr >= 0 && (ops[gpr].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
        tr_put(t, gsize, (unsigned)g, HR_RAX);
    if (mem >= 0 && (ops[mem].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE))
        tr_smc_check(t, u, t->next);
    s->resume = t->b.p;
    return true;
}
