/*
 * Integer instructions without a uop of their own (exec.c's groups) in
 * translated code, run as the same host instruction: the copy-them-as-they-
 * are technique of VMware's binary translator. The guest registers the
 * instruction names are loaded whole into host registers (RAX, RCX, RDX,
 * RSI: those it names implicitly into themselves), Zydis re-encodes it for
 * them with its memory operand as [RDI] (after the TLB probe), and the
 * registers it writes are stored back whole: a host instruction merges an
 * 8- or 16-bit result and zero-extends a 32-bit one exactly as the guest's
 * would. A LOCK prefix stays, so a locked instruction is a host locked
 * instruction on the guest's page (the probe only hits in RAM).
 *
 * Only instructions whose handler gets the same result and flags from the
 * same host instruction qualify (alu.c runs them on the host too, with the
 * guest's flags loaded first, which is what decides the flags the SDM
 * calls undefined; the templates do the same where an instruction has
 * some): the list in native_ok. BT, BTS, BTR, BTC change only CF, as their
 * handler does. DIV has a template of its own: its #DE is checked first,
 * as the host instruction would kill vx86; PUSHFQ, PUSH m64, LEAVE, CLI,
 * SWAPGS, and the hints and fences have their own too.
 */
#include "accel/emu/jit/tr.h"

/* Host registers the templates may load guest registers into. */
static const uint8_t pool[] = {HR_RCX, HR_RDX, HR_RAX, HR_RSI};

static const ZydisRegister r64[8] = {ZYDIS_REGISTER_RAX, ZYDIS_REGISTER_RCX, ZYDIS_REGISTER_RDX,
                                     ZYDIS_REGISTER_RBX, ZYDIS_REGISTER_RSP, ZYDIS_REGISTER_RBP,
                                     ZYDIS_REGISTER_RSI, ZYDIS_REGISTER_RDI};
static const ZydisRegister r32[8] = {ZYDIS_REGISTER_EAX, ZYDIS_REGISTER_ECX, ZYDIS_REGISTER_EDX,
                                     ZYDIS_REGISTER_EBX, ZYDIS_REGISTER_ESP, ZYDIS_REGISTER_EBP,
                                     ZYDIS_REGISTER_ESI, ZYDIS_REGISTER_EDI};
static const ZydisRegister r16[8] = {ZYDIS_REGISTER_AX, ZYDIS_REGISTER_CX, ZYDIS_REGISTER_DX,
                                     ZYDIS_REGISTER_BX, ZYDIS_REGISTER_SP, ZYDIS_REGISTER_BP,
                                     ZYDIS_REGISTER_SI, ZYDIS_REGISTER_DI};
static const ZydisRegister r8[8] = {ZYDIS_REGISTER_AL,  ZYDIS_REGISTER_CL,  ZYDIS_REGISTER_DL,
                                    ZYDIS_REGISTER_BL,  ZYDIS_REGISTER_SPL, ZYDIS_REGISTER_BPL,
                                    ZYDIS_REGISTER_SIL, ZYDIS_REGISTER_DIL};
static const ZydisRegister r8h[4] = {ZYDIS_REGISTER_AH, ZYDIS_REGISTER_CH, ZYDIS_REGISTER_DH,
                                     ZYDIS_REGISTER_BH};

/* The instructions copied; *cf_only: of their flags only CF is taken. */
static bool native_ok(ZydisMnemonic m, bool *cf_only)
{
    *cf_only = false;
    switch (m) {
    case ZYDIS_MNEMONIC_BT:
    case ZYDIS_MNEMONIC_BTS:
    case ZYDIS_MNEMONIC_BTR:
    case ZYDIS_MNEMONIC_BTC:
        *cf_only = true;
        return true;
    case ZYDIS_MNEMONIC_MOV:
    case ZYDIS_MNEMONIC_MOVZX:
    case ZYDIS_MNEMONIC_MOVSX:
    case ZYDIS_MNEMONIC_BSWAP:
    case ZYDIS_MNEMONIC_ADD:
    case ZYDIS_MNEMONIC_SUB:
    case ZYDIS_MNEMONIC_AND:
    case ZYDIS_MNEMONIC_OR:
    case ZYDIS_MNEMONIC_XOR:
    case ZYDIS_MNEMONIC_CMP:
    case ZYDIS_MNEMONIC_TEST:
    case ZYDIS_MNEMONIC_INC:
    case ZYDIS_MNEMONIC_DEC:
    case ZYDIS_MNEMONIC_NEG:
    case ZYDIS_MNEMONIC_NOT:
    case ZYDIS_MNEMONIC_XADD:
    case ZYDIS_MNEMONIC_CMPXCHG:
    case ZYDIS_MNEMONIC_XCHG: /* with memory: the host's is locked too */
    case ZYDIS_MNEMONIC_MUL:
    case ZYDIS_MNEMONIC_IMUL:
    case ZYDIS_MNEMONIC_BSF:
    case ZYDIS_MNEMONIC_BSR:
    case ZYDIS_MNEMONIC_TZCNT:
    case ZYDIS_MNEMONIC_LZCNT:
    case ZYDIS_MNEMONIC_POPCNT:
    case ZYDIS_MNEMONIC_SHLD:
    case ZYDIS_MNEMONIC_SHRD:
        return true;
    default:
        return false;
    }
}

/* Guest GPR index and whether it is a high-byte register; -1 for none. */
static int guest_reg(ZydisRegister r, bool *high)
{
    *high = r >= ZYDIS_REGISTER_AH && r <= ZYDIS_REGISTER_BH;
    if (*high)
        return (int)(r - ZYDIS_REGISTER_AH);
    return emu_gpr_index(r);
}

static ZydisRegister host_reg(unsigned h, unsigned bits, bool high)
{
    if (high)
        return r8h[h];
    return bits == 64 ? r64[h] : bits == 32 ? r32[h] : bits == 16 ? r16[h] : r8[h];
}

struct plan {
    uint8_t host_of[16];
    uint16_t loaded, stored;
    unsigned used; /* host registers taken: bit n for HR n */
};

/* Gives guest register g a host register (hidden: its own; high: one with
 * a high byte; byte: one that needs no REX). */
static bool place(struct plan *p, int g, bool hidden, bool high, bool byte)
{
    if (p->host_of[g] != HR_NONE)
        return !(high || byte) || p->host_of[g] <= HR_RDX;
    if (hidden) {
        if (g > GPR_RDX || (p->used & (1u << g)))
            return false;
        p->host_of[g] = (uint8_t)g;
        p->used |= 1u << g;
        return true;
    }
    for (unsigned i = 0; i < sizeof(pool); i++) {
        unsigned h = pool[i];

        if ((p->used & (1u << h)) || ((high || byte) && h > HR_RDX))
            continue;
        p->host_of[g] = (uint8_t)h;
        p->used |= 1u << h;
        return true;
    }
    return false;
}

/* DIV r/m32, r/m64: the quotient fits, and the divisor is not zero, or the
 * handler raises #DE. Flags are left alone (alu.c's div1). */
static bool tr_div(struct tr *t, const struct emu_uop *u, const ZydisDecodedInstruction *in,
                   const ZydisDecodedOperand *ops)
{
    unsigned size = ops[0].size / 8;
    struct emu_uop mu;
    struct stub *s;
    bool high;
    int g = -1;

    if (size < 4)
        return false;
    if (ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER) {
        if ((g = guest_reg(ops[0].reg.value, &high)) < 0)
            return false;
    } else if (ops[0].type != ZYDIS_OPERAND_TYPE_MEMORY || !tr_mem_fields(in, &ops[0], &mu)) {
        return false;
    }
    s = tr_stub(t, u);
    tr_materialize(t);
    if (g < 0) {
        mu.len = u->len;
        tr_ea(t, &mu);
        tr_probe(t, s, ACC_READ, size);
        mov_load(&t->b, size, HR_RCX, jm(HR_RDI, 0));
    } else {
        tr_get(t, size, HR_RCX, (unsigned)g);
    }
    test_rr(&t->b, size, HR_RCX, HR_RCX);
    tr_to_stub(t, s, CC_E);
    tr_get(t, size, HR_RDX, GPR_RDX);
    alu_rr(&t->b, JA_CMP, size, HR_RDX, HR_RCX);
    tr_to_stub(t, s, CC_AE);
    tr_get(t, size, HR_RAX, GPR_RAX);
    emit_rr(&t->b, 0xf7, size, 6, HR_RCX); /* DIV RCX */
    tr_put(t, size, GPR_RAX, HR_RAX);
    tr_put(t, size, GPR_RDX, HR_RDX);
    s->resume = t->b.p;
    return true;
}

/* PUSHFQ: RFLAGS with VM and RF clear (SDM PUSHF; VM is 0 in 64-bit code,
 * so no #GP). */
static bool tr_pushf(struct tr *t, const struct emu_uop *u, const ZydisDecodedInstruction *in)
{
    struct stub *s;

    if (in->operand_width != 64)
        return false;
    s = tr_stub(t, u);
    tr_materialize(t);
    tr_push_probe(t, s, 8);
    mov_load(&t->b, 8, HR_RAX, CPU(rflags));
    alu_ri(&t->b, JA_AND, 8, HR_RAX, (uint32_t) ~(RFLAGS_VM | RFLAGS_RF));
    mov_store(&t->b, 8, jm(HR_RDI, 0), HR_RAX);
    tr_put(t, 8, GPR_RSP, HR_RSI);
    tr_smc_check(t, u, 8, t->next);
    s->resume = t->b.p;
    return true;
}

/* Instructions with no effect on the guest's state (exec_misc): hints and
 * fences that order nothing the host does not order already (not PAUSE,
 * whose handler may yield the host CPU); MFENCE, which
 * orders a store before a later load, as the host's. CLI, CLAC and STAC at
 * CPL 0 (where they never fault; the TLB keeps no entry that SMAP checks,
 * so AC needs nothing more), and SWAPGS there (translated code reads GS's
 * base at each access). True if in is one of them, emitted. */
static bool tr_misc(struct tr *t, const ZydisDecodedInstruction *in)
{
    switch (in->mnemonic) {
    case ZYDIS_MNEMONIC_PREFETCHT0:
    case ZYDIS_MNEMONIC_PREFETCHT1:
    case ZYDIS_MNEMONIC_PREFETCHT2:
    case ZYDIS_MNEMONIC_PREFETCHNTA:
    case ZYDIS_MNEMONIC_PREFETCHW:
    case ZYDIS_MNEMONIC_LFENCE:
    case ZYDIS_MNEMONIC_SFENCE:
    case ZYDIS_MNEMONIC_ENDBR64:
        return true;
    case ZYDIS_MNEMONIC_MFENCE:
        e8(&t->b, 0x0f);
        e8(&t->b, 0xae);
        e8(&t->b, 0xf0);
        return true;
    case ZYDIS_MNEMONIC_CLI:
        if (t->cpu->cpl != 0)
            return false;
        tr_materialize(t);
        alu_mi(&t->b, JA_AND, 8, CPU(rflags), (uint32_t)~RFLAGS_IF);
        return true;
    case ZYDIS_MNEMONIC_SWAPGS: /* 64-bit code at CPL 0: no #UD or #GP */
        if (t->cpu->cpl != 0)
            return false;
        mov_load(&t->b, 8, HR_RAX, CPU(seg[SEG_GS].base));
        mov_load(&t->b, 8, HR_RCX, CPU(msr.kernel_gs_base));
        mov_store(&t->b, 8, CPU(seg[SEG_GS].base), HR_RCX);
        mov_store(&t->b, 8, CPU(msr.kernel_gs_base), HR_RAX);
        return true;
    case ZYDIS_MNEMONIC_CLAC:
    case ZYDIS_MNEMONIC_STAC:
        if (t->cpu->cpl != 0)
            return false;
        tr_materialize(t);
        if (in->mnemonic == ZYDIS_MNEMONIC_CLAC)
            alu_mi(&t->b, JA_AND, 8, CPU(rflags), (uint32_t)~RFLAGS_AC);
        else
            alu_mi(&t->b, JA_OR, 8, CPU(rflags), RFLAGS_AC);
        return true;
    default:
        return false;
    }
}

/* REP MOVSB/MOVSQ and REP STOSB/STOSQ within one page each (the kernel's
 * memcpy, memset, clear_page and user copies), as the host's own: DF
 * clear, a 64-bit address size, no segment prefix, at most a page of
 * elements that stay in their pages of RAM, and a destination page
 * without decoded code; with a harness's pass_limit, at most the
 * EMU_LIMITED_PASS elements the handler moves in one step. Anything else
 * goes to the handler. */
static bool tr_rep_string(struct tr *t, const struct emu_uop *u, const ZydisDecodedInstruction *in)
{
    bool movs = in->mnemonic == ZYDIS_MNEMONIC_MOVSB || in->mnemonic == ZYDIS_MNEMONIC_MOVSQ;
    unsigned shift = in->mnemonic == ZYDIS_MNEMONIC_MOVSQ || in->mnemonic == ZYDIS_MNEMONIC_STOSQ
                         ? 3
                         : 0;
    struct stub *s;
    uint8_t *none, *unlimited;

    if (!(in->attributes & ZYDIS_ATTRIB_HAS_REP) || in->address_width != 64 ||
        (in->attributes & ZYDIS_ATTRIB_HAS_SEGMENT))
        return false;
    s = tr_stub(t, u);
    tr_materialize(t);
    emit_rm(&t->b, 0xf7, 8, 0, CPU(rflags)); /* TEST */
    e32(&t->b, RFLAGS_DF);
    tr_to_stub(t, s, CC_NE);
    tr_get(t, 8, HR_RCX, GPR_RCX);
    test_rr(&t->b, 8, HR_RCX, HR_RCX);
    none = jcc32(&t->b, CC_E);
    emit_rm(&t->b, 0x83, 8, JA_CMP, CPU(pass_limit));
    e8(&t->b, 0);
    unlimited = jcc32(&t->b, CC_E);
    alu_ri(&t->b, JA_CMP, 8, HR_RCX, EMU_LIMITED_PASS);
    tr_to_stub(t, s, CC_A);
    jit_bind(&t->b, unlimited);
    alu_ri(&t->b, JA_CMP, 8, HR_RCX, 4096 >> shift);
    tr_to_stub(t, s, CC_A);
    for (int pass = movs ? 0 : 1; pass < 2; pass++) {
        /* The source (into RDX), then the destination (RDI). */
        tr_get(t, 8, HR_RSI, pass ? GPR_RDI : GPR_RSI);
        mov_rr(&t->b, 4, HR_RAX, HR_RSI);
        alu_ri(&t->b, JA_AND, 4, HR_RAX, 0xfff);
        lea(&t->b, 8, HR_RAX, (struct jit_mem){HR_RAX, HR_RCX, (uint8_t)shift, 0});
        alu_ri(&t->b, JA_CMP, 8, HR_RAX, 4096);
        tr_to_stub(t, s, CC_A);
        tr_probe(t, s, pass ? ACC_WRITE : ACC_READ, 1);
        if (!pass)
            mov_rr(&t->b, 8, HR_RDX, HR_RDI);
        tr_get(t, 8, HR_RCX, GPR_RCX); /* the probe took RCX */
    }
    /* Decoded code on the destination page: the handler, which tells the
     * decode caches. */
    tr_code_page_check(t, s, HR_RSI);
    if (movs)
        mov_rr(&t->b, 8, HR_RSI, HR_RDX);
    else
        tr_get(t, 8, HR_RAX, GPR_RAX);
    e8(&t->b, 0xf3);
    if (shift)
        e8(&t->b, 0x48); /* REX.W */
    e8(&t->b, (uint8_t)((movs ? 0xa4 : 0xaa) + (shift ? 1 : 0)));
    /* RDI and RSI advance by the bytes moved, RCX ends at 0. */
    tr_get(t, 8, HR_RAX, GPR_RCX);
    for (int pass = movs ? 0 : 1; pass < 2; pass++) {
        unsigned g = pass ? GPR_RDI : GPR_RSI;

        tr_get(t, 8, HR_RDX, g);
        lea(&t->b, 8, HR_RDX, (struct jit_mem){HR_RDX, HR_RAX, (uint8_t)shift, 0});
        tr_put(t, 8, g, HR_RDX);
    }
    alu_rr(&t->b, JA_XOR, 4, HR_RDX, HR_RDX);
    tr_put(t, 8, GPR_RCX, HR_RDX);
    jit_bind(&t->b, none);
    s->resume = t->b.p;
    return true;
}

/* LEAVE with a 64-bit operand: RSP from RBP, then RBP popped. */
static bool tr_leave(struct tr *t, const struct emu_uop *u, const ZydisDecodedInstruction *in)
{
    struct stub *s;

    if (in->operand_width != 64)
        return false;
    s = tr_stub(t, u);
    tr_pop_from(t, s, GPR_RBP, 8, GPR_RBP);
    s->resume = t->b.p;
    return true;
}

/* PUSH m64: the operand read (its address from RSP before the push, as
 * the SDM says), then pushed. Both probes branch to one stub, which runs
 * the whole instruction again: nothing is stored before the second. */
static bool tr_push_mem(struct tr *t, const struct emu_uop *u, const ZydisDecodedInstruction *in,
                        const ZydisDecodedOperand *ops)
{
    struct emu_uop mu;
    struct stub *s;

    if (in->operand_width != 64 || ops[0].type != ZYDIS_OPERAND_TYPE_MEMORY ||
        !tr_mem_fields(in, &ops[0], &mu))
        return false;
    s = tr_stub(t, u);
    /* No flags pending: a probe that stacked them would leave the stub's
     * count of them wrong for the other. */
    tr_materialize(t);
    mu.len = u->len;
    tr_ea(t, &mu);
    tr_probe(t, s, ACC_READ, 8);
    mov_load(&t->b, 8, HR_RDX, jm(HR_RDI, 0));
    tr_push_probe(t, s, 8);
    mov_store(&t->b, 8, jm(HR_RDI, 0), HR_RDX);
    tr_put(t, 8, GPR_RSP, HR_RSI);
    tr_smc_check(t, u, 8, t->next);
    s->resume = t->b.p;
    return true;
}

bool tr_native(struct tr *t, const struct emu_uop *u)
{
    const struct emu_decoded *d = (const struct emu_decoded *)(uintptr_t)u->imm;
    const ZydisDecodedInstruction *in = &d->insn;
    const ZydisDecodedOperand *ops = d->ops;
    struct plan p = {.used = 1u << HR_RDI};
    uint32_t wr = 0, undefined = 0;
    int mem = -1;
    bool cf_only, high;
    ZydisEncoderRequest req;
    uint8_t enc[ZYDIS_MAX_INSTRUCTION_LENGTH];
    ZyanUSize len = sizeof(enc);
    struct emu_uop mu;
    struct stub *s = NULL;

    if (!t->flat64 || in->encoding != ZYDIS_INSTRUCTION_ENCODING_LEGACY)
        return false;
    if (in->mnemonic == ZYDIS_MNEMONIC_DIV)
        return tr_div(t, u, in, ops);
    if (in->mnemonic == ZYDIS_MNEMONIC_PUSHFQ)
        return tr_pushf(t, u, in);
    if (in->mnemonic == ZYDIS_MNEMONIC_LEAVE)
        return tr_leave(t, u, in);
    if (in->mnemonic == ZYDIS_MNEMONIC_PUSH)
        return tr_push_mem(t, u, in, ops);
    if (in->mnemonic == ZYDIS_MNEMONIC_MOVSB || in->mnemonic == ZYDIS_MNEMONIC_STOSB ||
        in->mnemonic == ZYDIS_MNEMONIC_MOVSQ || in->mnemonic == ZYDIS_MNEMONIC_STOSQ)
        return tr_rep_string(t, u, in);
    if (tr_misc(t, in))
        return true;
    if (!native_ok(in->mnemonic, &cf_only))
        return false;
    if (in->cpu_flags) {
        if (in->cpu_flags->tested)
            return false;
        wr = in->cpu_flags->modified | in->cpu_flags->set_0 | in->cpu_flags->set_1 |
             in->cpu_flags->undefined;
        undefined = in->cpu_flags->undefined;
        if (wr & ~(uint32_t)RFLAGS_STATUS)
            return false;
    }
    memset(p.host_of, HR_NONE, sizeof(p.host_of));
    /* Implicit registers first: they keep their own host registers. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < in->operand_count; i++) {
            const ZydisDecodedOperand *o = &ops[i];
            bool hidden = o->visibility != ZYDIS_OPERAND_VISIBILITY_EXPLICIT;
            int g;

            if (hidden != (pass == 0))
                continue;
            if (o->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
                continue;
            } else if (o->type == ZYDIS_OPERAND_TYPE_MEMORY) {
                /* Not a bit string (BT* m, r reaches outside the operand). */
                if (hidden || mem >= 0 || (cf_only && ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER) ||
                    !tr_mem_fields(in, o, &mu))
                    return false;
                mem = i;
                continue;
            } else if (o->type != ZYDIS_OPERAND_TYPE_REGISTER) {
                return false;
            }
            if (o->reg.value == ZYDIS_REGISTER_RFLAGS || o->reg.value == ZYDIS_REGISTER_EFLAGS)
                continue;
            if ((g = guest_reg(o->reg.value, &high)) < 0 ||
                !place(&p, g, hidden, high, o->size == 8))
                return false;
            p.loaded |= (uint16_t)(1u << g);
            if (o->actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)
                p.stored |= (uint16_t)(1u << g);
        }
    /* A shift by 0 leaves the flags alone (not the host's garbage). */
    if ((in->mnemonic == ZYDIS_MNEMONIC_SHLD || in->mnemonic == ZYDIS_MNEMONIC_SHRD) &&
        (ops[2].type != ZYDIS_OPERAND_TYPE_IMMEDIATE ||
         !(ops[2].imm.value.u & (ops[0].size == 64 ? 63 : 31))))
        return false;

    if (!tr_host_request(in, ops, mem, &req))
        return false;
    for (int i = 0; i < in->operand_count_visible; i++) {
        if (ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER) {
            int g = guest_reg(ops[i].reg.value, &high);

            req.operands[i].reg.value = host_reg(p.host_of[g], ops[i].size, high);
        }
    }
    if (!ZYAN_SUCCESS(ZydisEncoderEncodeInstruction(&req, enc, &len)))
        return false;

    if (mem >= 0) {
        bool writes = ops[mem].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE;

        s = tr_stub(t, u);
        tr_materialize(t);
        mu.len = u->len;
        tr_ea(t, &mu);
        tr_probe(t, s, writes ? ACC_WRITE : ACC_READ, ops[mem].size / 8);
    }
    if (cf_only) {
        tr_flags_overwritten(t, RFLAGS_CF);
        wr = RFLAGS_CF;
    } else if (undefined && (!tr_flags_dead_after(t) ||
                             (mem >= 0 && (ops[mem].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)))) {
        /* The handler runs it on the guest's flags: so does the host
         * (unless nothing sees them before they are overwritten; a store
         * may end the block at the code watch's check, where they show). */
        tr_materialize(t);
        tr_load_flags(t, HR_RAX);
    } else {
        tr_flags_overwritten(t, wr);
    }
    for (unsigned g = 0; g < 16; g++)
        if (p.loaded & (1u << g))
            tr_get(t, 8, p.host_of[g], g);
    for (ZyanUSize i = 0; i < len; i++)
        e8(&t->b, enc[i]);
    /* BSF/BSR r32 with a zero source: AMD's CPUs leave all 64 bits of the
     * destination alone (as the APM says; the SDM calls it undefined),
     * while the handler writes the unchanged low half back zero-extended,
     * as every 32-bit write in 64-bit mode. MOV r32, r32 makes the host's
     * agree, and leaves the flags alone. */
    if ((in->mnemonic == ZYDIS_MNEMONIC_BSF || in->mnemonic == ZYDIS_MNEMONIC_BSR) &&
        ops[0].size == 32) {
        unsigned h = p.host_of[guest_reg(ops[0].reg.value, &high)];

        mov_rr(&t->b, 4, h, h);
    }
    if (wr)
        t->pending = wr;
    for (unsigned g = 0; g < 16; g++)
        if (p.stored & (1u << g))
            tr_put(t, 8, g, p.host_of[g]);
    if (mem >= 0 && (ops[mem].actions & ZYDIS_OPERAND_ACTION_MASK_WRITE)) {
        tr_materialize(t); /* the check's compare changes the host flags */
        tr_smc_check(t, u, ops[mem].size / 8, t->next);
    }
    if (s)
        s->resume = t->b.p;
    return true;
}
