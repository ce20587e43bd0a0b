/*
 * The templates of data instructions (the contract in jit.h, the shared
 * translator state in tr.h): MOV, MOVZX/MOVSX, LEA, XCHG, the ALU group,
 * INC/DEC/NEG/NOT, shifts and rotates by an immediate, IMUL, CMOVcc, SETcc,
 * PUSH and POP. Each does what its uop handler does for the common case and
 * branches to its stub (the handler) for the rest, before it changes any
 * guest state.
 */
#include "accel/emu/jit/tr.h"

/* A stub for u and its memory operand probed for acc: its host address in
 * RDI (64-bit code). */
static struct stub *mem_operand(struct tr *t, const struct emu_uop *u, enum emu_access acc,
                                unsigned size)
{
    struct stub *s = tr_stub(t, u);

    tr_ea(t, u);
    tr_probe(t, s, acc, size);
    return s;
}

static const uint8_t alu_map[ALU_COUNT] = {
    [ALU_ADD] = JA_ADD, [ALU_OR] = JA_OR,   [ALU_ADC] = JA_ADC, [ALU_SBB] = JA_SBB,
    [ALU_AND] = JA_AND, [ALU_SUB] = JA_SUB, [ALU_XOR] = JA_XOR, [ALU_CMP] = JA_CMP,
};

static bool fits32(uint64_t v, unsigned size)
{
    return size < 8 || (int64_t)v == (int32_t)v;
}

/* The guest's CF into the host's, for ADC and SBB. */
static void load_cf(struct tr *t)
{
    emit_rm(&t->b, 0x0fba, 4, 4, CPU(rflags));
    e8(&t->b, 0);
}

/* The ALU operation with host register r (the guest's first operand) and
 * operand m or an immediate (m == NULL). */
static void alu_op(struct tr *t, unsigned op, unsigned size, unsigned r, const struct opnd *m,
                   uint64_t imm)
{
    if (op == ALU_TEST) {
        if (m) {
            tr_emit(t, sized(0x84, size), size, r, *m);
        } else {
            emit_rr(&t->b, sized(0xf6, size), size, 0, r);
            e_imm(&t->b, size, (uint32_t)imm);
        }
    } else if (m) {
        tr_emit(t, sized((uint32_t)alu_map[op] * 8 + 2, size), size, r, *m);
    } else {
        alu_ri(&t->b, alu_map[op], size, r, (uint32_t)imm);
    }
}

/* The host register that holds guest register g for the whole block, or
 * HR_NONE: an operation on it there has the guest's semantics at every
 * size (uops name no high-byte register), a 32-bit one zero-extending. */
static unsigned held(const struct tr *t, unsigned g)
{
    return t->host_of[g];
}

/* Marks held guest register g as changed. */
static void changed(struct tr *t, unsigned g)
{
    t->dirty |= (uint16_t)(1u << g);
}

/* Flags-in for ALU op: ADC and SBB read CF; the rest overwrite STATUS. */
static void alu_flags_in(struct tr *t, unsigned op)
{
    if (op == ALU_ADC || op == ALU_SBB) {
        /* They read CF and overwrite all six: CF from the host's flags
         * where it is pending there (an ADC chain), else from RFLAGS. */
        if (!(t->pending & RFLAGS_CF))
            load_cf(t);
        t->pending = 0;
    } else {
        tr_flags_overwritten(t, RFLAGS_STATUS);
    }
}

bool tr_alu(struct tr *t, const struct emu_uop *u, struct kind k)
{
    unsigned size = u->size, op = k.op;
    bool writes = op != ALU_CMP && op != ALU_TEST;
    unsigned src_reg;
    struct opnd src;
    struct stub *s;

    if ((k.form == FORM_RI || k.form == FORM_MI) && !fits32(u->imm, size))
        return false;
    switch (k.form) {
    case FORM_RR:
    case FORM_RI:
        /* Flags first: writing pending ones back clobbers RAX. */
        alu_flags_in(t, op);
        if (k.form == FORM_RR)
            src = tr_gpr(t, u->rm);
        if (held(t, u->reg) != HR_NONE) {
            alu_op(t, op, size, held(t, u->reg), k.form == FORM_RR ? &src : NULL, u->imm);
            if (writes)
                changed(t, u->reg);
        } else {
            tr_get(t, size, HR_RAX, u->reg);
            alu_op(t, op, size, HR_RAX, k.form == FORM_RR ? &src : NULL, u->imm);
            if (writes)
                tr_put(t, size, u->reg, HR_RAX);
        }
        t->pending = RFLAGS_STATUS;
        return true;
    case FORM_RM:
        if (!t->flat64)
            return false;
        s = mem_operand(t, u, ACC_READ, size);
        src = (struct opnd){false, 0, jm(HR_RDI, 0)};
        if (op == ALU_ADC || op == ALU_SBB)
            load_cf(t);
        if (held(t, u->reg) != HR_NONE) {
            alu_op(t, op, size, held(t, u->reg), &src, 0);
            if (writes)
                changed(t, u->reg);
        } else {
            tr_get(t, size, HR_RAX, u->reg);
            alu_op(t, op, size, HR_RAX, &src, 0);
            if (writes)
                tr_put(t, size, u->reg, HR_RAX);
        }
        /* The stub's path loads the handler's flags into the host's
         * before it resumes (pending_after): both paths join with them
         * pending. */
        t->pending = RFLAGS_STATUS;
        s->resume = t->b.p;
        return true;
    default: /* FORM_MR, FORM_MI: memory is the destination */
        if (!t->flat64)
            return false;
        s = mem_operand(t, u, writes ? ACC_WRITE : ACC_READ, size);
        src_reg = k.form == FORM_MR ? held(t, u->reg) : HR_NONE;
        if (k.form == FORM_MR && src_reg == HR_NONE) {
            tr_get(t, size, HR_RDX, u->reg);
            src_reg = HR_RDX;
        }
        if (op == ALU_ADC || op == ALU_SBB)
            load_cf(t);
        if (op == ALU_TEST && k.form == FORM_MR) {
            emit_rm(&t->b, sized(0x84, size), size, src_reg, jm(HR_RDI, 0));
        } else if (op == ALU_TEST) {
            emit_rm(&t->b, sized(0xf6, size), size, 0, jm(HR_RDI, 0));
            e_imm(&t->b, size, (uint32_t)u->imm);
        } else if (k.form == FORM_MR) {
            alu_store(&t->b, alu_map[op], size, jm(HR_RDI, 0), src_reg);
        } else {
            alu_mi(&t->b, alu_map[op], size, jm(HR_RDI, 0), (uint32_t)u->imm);
        }
        t->pending = RFLAGS_STATUS;
        if (writes) {
            tr_materialize(t); /* the check's compare changes the host flags */
            tr_smc_check(t, u, size, t->next);
        }
        s->resume = t->b.p;
        return true;
    }
}

bool tr_unary(struct tr *t, const struct emu_uop *u, struct kind k)
{
    static const uint8_t ext[] = {
        [UNARY_INC] = 0, [UNARY_DEC] = 1, [UNARY_NEG] = 3, [UNARY_NOT] = 2};
    uint64_t mask = k.op == UNARY_NEG   ? RFLAGS_STATUS
                    : k.op == UNARY_NOT ? 0
                                        : RFLAGS_STATUS & ~RFLAGS_CF;
    unsigned size = u->size;
    bool incdec = k.op == UNARY_INC || k.op == UNARY_DEC;
    struct stub *s;

    if (!k.form) {
        uint64_t after = incdec ? tr_flags_partial(t, mask) : mask;

        unsigned r = held(t, u->reg) != HR_NONE ? held(t, u->reg) : HR_RAX;

        if (mask && !incdec)
            tr_flags_overwritten(t, mask);
        if (r == HR_RAX)
            tr_get(t, size, HR_RAX, u->reg);
        if (incdec)
            incdec_r(&t->b, ext[k.op], size, r);
        else
            unary_r(&t->b, ext[k.op], size, r);
        if (r == HR_RAX)
            tr_put(t, size, u->reg, HR_RAX);
        else
            changed(t, u->reg);
        if (mask)
            t->pending = after;
        return true;
    }
    if (!t->flat64)
        return false;
    s = mem_operand(t, u, ACC_WRITE, size);
    if (incdec)
        incdec_m(&t->b, ext[k.op], size, jm(HR_RDI, 0));
    else
        unary_m(&t->b, ext[k.op], size, jm(HR_RDI, 0));
    t->pending = mask;
    tr_materialize(t);
    tr_smc_check(t, u, size, t->next);
    s->resume = t->b.p;
    return true;
}

/* A shift or rotate of a register by CL, as shift_form (uop_alu.c): a
 * count of 0 (after masking) leaves the flags alone, any other takes the
 * host's, the instruction run on flags all 0. Either way the host flags
 * hold the guest's afterwards (mask of them from the instruction). */
static bool shift_cl(struct tr *t, const struct emu_uop *u, unsigned ext, uint64_t mask)
{
    unsigned size = u->size;
    uint8_t *zero, *join;

    tr_materialize(t);
    tr_get(t, size, HR_RAX, u->reg);
    tr_get(t, 1, HR_RCX, GPR_RCX);
    emit_rr(&t->b, 0xf6, 1, 0, HR_RCX); /* TEST CL, count mask */
    e8(&t->b, size == 8 ? 63 : 31);
    zero = jcc32(&t->b, CC_E);
    mov_imm(&t->b, HR_RDX, 1);
    alu_ri(&t->b, JA_ADD, 4, HR_RDX, 0); /* 1 + 0: every status flag 0 */
    emit_rr(&t->b, size == 1 ? 0xd2 : 0xd3, size, ext, HR_RAX);
    join = jmp32(&t->b);
    jit_bind(&t->b, zero);
    tr_load_flags(t, HR_RDX);
    jit_bind(&t->b, join);
    tr_put(t, size, u->reg, HR_RAX);
    t->pending = mask;
    return true;
}

/* Shifts and rotates of a register by a non-zero immediate count or by CL. */
bool tr_shift(struct tr *t, const struct emu_uop *u, struct kind k)
{
    static const uint8_t ext[] = {
        [SHIFT_ROL] = 0, [SHIFT_ROR] = 1, [SHIFT_SHL] = 4, [SHIFT_SHR] = 5, [SHIFT_SAR] = 7};
    unsigned size = u->size;
    uint8_t c = (uint8_t)(u->imm & (size == 8 ? 63 : 31));
    uint64_t mask = k.op <= SHIFT_ROR ? RFLAGS_CF | RFLAGS_OF : RFLAGS_STATUS, after;

    if (k.form == SFORM_RC)
        return shift_cl(t, u, ext[k.op], mask);
    if (k.form != SFORM_RI || !c)
        return false;
    after = k.op <= SHIFT_ROR ? tr_flags_partial(t, mask) : mask;

    if (k.op > SHIFT_ROR)
        tr_flags_overwritten(t, mask);
    if (held(t, u->reg) != HR_NONE) {
        shift_ri(&t->b, ext[k.op], size, held(t, u->reg), c);
        changed(t, u->reg);
    } else {
        tr_get(t, size, HR_RAX, u->reg);
        shift_ri(&t->b, ext[k.op], size, HR_RAX, c);
        tr_put(t, size, u->reg, HR_RAX);
    }
    t->pending = after;
    return true;
}

bool tr_mov(struct tr *t, const struct emu_uop *u, struct kind k)
{
    unsigned size = u->size;
    struct stub *s;

    switch (k.form) {
    case FORM_RR:
        if (held(t, u->reg) != HR_NONE) {
            tr_get(t, size, held(t, u->reg), u->rm);
            changed(t, u->reg);
        } else {
            tr_get(t, size, HR_RAX, u->rm);
            tr_put(t, size, u->reg, HR_RAX);
        }
        return true;
    case FORM_RI:
        if (size >= 4 && held(t, u->reg) != HR_NONE) {
            mov_imm(&t->b, held(t, u->reg), size == 4 ? (uint32_t)u->imm : u->imm);
            changed(t, u->reg);
        } else if (size >= 4) {
            mov_imm(&t->b, HR_RAX, size == 4 ? (uint32_t)u->imm : u->imm);
            tr_put(t, size, u->reg, HR_RAX);
        } else {
            tr_put_imm(t, size, u->reg, (uint32_t)u->imm);
        }
        return true;
    case FORM_RM:
        if (!t->flat64)
            return false;
        s = mem_operand(t, u, ACC_READ, size);
        if (held(t, u->reg) != HR_NONE) {
            mov_load(&t->b, size, held(t, u->reg), jm(HR_RDI, 0));
            changed(t, u->reg);
        } else {
            mov_load(&t->b, size, HR_RAX, jm(HR_RDI, 0));
            tr_put(t, size, u->reg, HR_RAX);
        }
        s->resume = t->b.p;
        return true;
    default:
        if (!t->flat64 || (k.form == FORM_MI && !fits32(u->imm, size)))
            return false;
        s = mem_operand(t, u, ACC_WRITE, size);
        if (k.form == FORM_MR && held(t, u->reg) != HR_NONE) {
            mov_store(&t->b, size, jm(HR_RDI, 0), held(t, u->reg));
        } else if (k.form == FORM_MR) {
            tr_get(t, size, HR_RAX, u->reg);
            mov_store(&t->b, size, jm(HR_RDI, 0), HR_RAX);
        } else {
            mov_store_imm(&t->b, size, jm(HR_RDI, 0), (uint32_t)u->imm);
        }
        tr_smc_check(t, u, size, t->next);
        s->resume = t->b.p;
        return true;
    }
}

/* The source operand of a register-or-memory form: a guest register, or
 * memory at RDI after a read probe (which may need a stub). */
static bool rm_source(struct tr *t, const struct emu_uop *u, bool mem, unsigned size,
                      struct stub **s, struct opnd *m)
{
    if (!mem) {
        *m = tr_gpr(t, u->rm);
        return true;
    }
    if (!t->flat64)
        return false;
    *s = mem_operand(t, u, ACC_READ, size);
    *m = (struct opnd){false, 0, jm(HR_RDI, 0)};
    return true;
}

bool tr_imul(struct tr *t, const struct emu_uop *u, struct kind k)
{
    unsigned size = u->size, r;
    struct stub *s = NULL;
    struct opnd m;

    if (size < 2 || (k.op && !fits32(u->imm, size)) ||
        !rm_source(t, u, k.form == FORM_RM, size, &s, &m))
        return false;
    /* CF and OF only: SF, ZF, AF and PF stay as they were, as in the
     * interpreter (uop_alu.c's imul_form); they need not reach RFLAGS when
     * the block overwrites them before anything reads them, faults or
     * calls C (the register form cannot fault; the memory form's probe
     * kept them for its stub). */
    if (tr_flags_dead_after(t))
        t->pending = 0;
    else
        tr_flags_overwritten(t, RFLAGS_CF | RFLAGS_OF);
    r = held(t, u->reg) != HR_NONE ? held(t, u->reg) : HR_RAX;
    if (k.op) {
        tr_emit(t, 0x69, size, r, m);
        e_imm(&t->b, size, (uint32_t)u->imm);
    } else {
        if (r == HR_RAX)
            tr_get(t, size, HR_RAX, u->reg);
        tr_emit(t, 0x0faf, size, r, m);
    }
    if (r == HR_RAX)
        tr_put(t, size, u->reg, HR_RAX);
    else
        changed(t, u->reg);
    t->pending = RFLAGS_CF | RFLAGS_OF;
    if (s)
        s->resume = t->b.p; /* with the flags pending on both paths, as tr_alu */
    return true;
}

/* MOVZX, MOVSX, MOVSXD: the source (aux bytes) extended into RAX. */
bool tr_extend(struct tr *t, const struct emu_uop *u, struct kind k, bool sign)
{
    unsigned size = u->size, from = u->aux, r;
    struct stub *s = NULL;
    struct opnd m;

    if (!rm_source(t, u, k.form, from, &s, &m))
        return false;
    /* Straight into a held register where the result is 32 or 64 bits
     * (a 32-bit one zero-extended, as the guest's); a 16-bit one merges. */
    r = size >= 4 && held(t, u->reg) != HR_NONE ? held(t, u->reg) : HR_RAX;
    if (from == 4 && !sign)
        tr_emit(t, 0x8b, 4, r, m);
    else if (from == 4)
        tr_emit(t, 0x63, 8, r, m);
    else
        tr_emit(t, (sign ? 0x0fbe : 0x0fb6) + (from == 2), sign ? 8 : 4, r, m);
    if (size == 4 && sign)
        mov_rr(&t->b, 4, r, r);
    if (r == HR_RAX)
        tr_put(t, size, u->reg, HR_RAX);
    else
        changed(t, u->reg);
    if (s)
        s->resume = t->b.p;
    return true;
}

bool tr_lea(struct tr *t, const struct emu_uop *u)
{
    bool flat = t->flat64;

    /* emit_ea adds FS/GS bases, which LEA ignores: it is only the offset. */
    if (u->seg >= SEG_FS || (!flat && u->base == UOP_RIP_REG))
        return false;
    tr_ea(t, u);
    if (u->size == 4)
        mov_rr(&t->b, 4, HR_RSI, HR_RSI);
    tr_put(t, u->size, u->reg, HR_RSI);
    return true;
}

bool tr_cmov(struct tr *t, const struct emu_uop *u, struct kind k)
{
    unsigned size = u->size, hcc;
    struct stub *s = NULL;
    struct opnd m;

    if (size < 2 || !rm_source(t, u, k.form, size, &s, &m))
        return false;
    hcc = tr_cond(t, u->aux);
    if (held(t, u->reg) != HR_NONE) {
        tr_emit(t, 0x0f40u | hcc, size, held(t, u->reg), m);
        changed(t, u->reg);
    } else {
        tr_get(t, size, HR_RDX, u->reg);
        tr_emit(t, 0x0f40u | hcc, size, HR_RDX, m);
        tr_put(t, size, u->reg, HR_RDX);
    }
    if (s)
        s->resume = t->b.p;
    return true;
}

bool tr_setcc(struct tr *t, const struct emu_uop *u, struct kind k)
{
    struct stub *s = NULL;
    unsigned hcc;

    if (k.form) {
        if (!t->flat64)
            return false;
        s = mem_operand(t, u, ACC_WRITE, 1);
    }
    hcc = tr_cond(t, u->aux);
    if (!s && held(t, u->reg) != HR_NONE) {
        setcc_r(&t->b, hcc, held(t, u->reg));
        changed(t, u->reg);
        return true;
    }
    setcc_r(&t->b, hcc, HR_RDX);
    if (s) {
        mov_store(&t->b, 1, jm(HR_RDI, 0), HR_RDX);
        tr_smc_check(t, u, 1, t->next);
        s->resume = t->b.p;
    } else {
        tr_put(t, 1, u->reg, HR_RDX);
    }
    return true;
}

bool tr_xchg(struct tr *t, const struct emu_uop *u)
{
    tr_get(t, u->size, HR_RAX, u->reg);
    tr_get(t, u->size, HR_RCX, u->rm);
    tr_put(t, u->size, u->reg, HR_RCX);
    tr_put(t, u->size, u->rm, HR_RAX);
    return true;
}

/* RSI = RSP - size, probed for a store of size bytes: a 64-bit push. */
void tr_push_probe(struct tr *t, struct stub *s, unsigned size)
{
    tr_get(t, 8, HR_RSI, GPR_RSP);
    lea(&t->b, 8, HR_RSI, jm(HR_RSI, -(int32_t)size));
    tr_probe(t, s, ACC_WRITE, size);
}

bool tr_push(struct tr *t, const struct emu_uop *u, bool imm)
{
    unsigned size = u->size;
    struct stub *s;

    if (!t->flat64 || (size != 8 && size != 2))
        return false;
    s = tr_stub(t, u);
    tr_push_probe(t, s, size);
    if (imm)
        mov_imm(&t->b, HR_RAX, u->imm);
    else if (held(t, u->reg) == HR_NONE)
        tr_get(t, size, HR_RAX, u->reg);
    mov_store(&t->b, size, jm(HR_RDI, 0),
              !imm && held(t, u->reg) != HR_NONE ? held(t, u->reg) : HR_RAX);
    tr_put(t, 8, GPR_RSP, HR_RSI);
    tr_smc_check(t, u, size, t->next);
    s->resume = t->b.p;
    return true;
}

void tr_pop_from(struct tr *t, struct stub *s, unsigned from, unsigned size, unsigned reg)
{
    tr_get(t, 8, HR_RSI, from);
    tr_probe(t, s, ACC_READ, size);
    mov_load(&t->b, size, HR_RAX, jm(HR_RDI, 0));
    lea(&t->b, 8, HR_RSI, jm(HR_RSI, (int32_t)size));
    tr_put(t, 8, GPR_RSP, HR_RSI);
    tr_put(t, size, reg, HR_RAX);
}

bool tr_pop(struct tr *t, const struct emu_uop *u)
{
    unsigned size = u->size;
    struct stub *s;

    if (!t->flat64 || (size != 8 && size != 2))
        return false;
    s = tr_stub(t, u);
    tr_pop_from(t, s, GPR_RSP, size, u->reg);
    s->resume = t->b.p;
    return true;
}
