/*
 * From a block of uops to host code (the contract is in jit.h). Each uop
 * either has a template here, which does what its handler does for the
 * common case (operands in registers, or in RAM that the TLB already holds
 * for this access), or becomes a call of its handler. A template's other
 * cases jump to an out-of-line stub that calls the handler for the whole
 * instruction: a template changes no guest state before its last check.
 *
 * Host registers: RBX holds the vCPU (struct emu_cpu) throughout; RAX, RCX,
 * RDX, RSI and RDI are scratch (RSI: a memory operand's linear address,
 * RDI: its host address).
 */
#include <pthread.h>
#include <stddef.h>

#include "accel/emu/jit/tr.h"

_Static_assert(sizeof(struct tlb_entry) == 32, "the probe scales the TLB index by 32");
_Static_assert(offsetof(struct tlb_entry, vpn) == 0 && offsetof(struct tlb_entry, host) == 8,
               "the probe reads the tag, then the host address");
_Static_assert(offsetof(struct emu_cpu, wake) == offsetof(struct emu_cpu, kicked) + 1,
               "block entries test kicked and wake with one 16-bit compare");


/* What a uop's handler does, for the templates. */
enum tk {
    T_HELPER, /* no template: call the handler */
    T_ALU,
    T_UNARY,
    T_SHIFT,
    T_MOV,
    T_IMUL,
    T_MOVZX,
    T_MOVSX,
    T_LEA,
    T_CMOV,
    T_SETCC,
    T_XCHG,
    T_NOP,
    T_PUSH_R,
    T_PUSH_I,
    T_POP_R,
    T_JMP_REL,
    T_JMP_R,
    T_JCC,
    T_CALL_REL,
    T_CALL_R,
    T_RET,
};

struct kind {
    emu_uop_fn *fn;
    uint8_t tk, op, form; /* form: enum uop_form, uop_shift_form, or 1 for a memory operand */
};

static struct kind kinds[128];
static unsigned nkinds;
static pthread_once_t kinds_once = PTHREAD_ONCE_INIT;

static void add_kind(emu_uop_fn *fn, enum tk tk, unsigned op, unsigned form)
{
    kinds[nkinds++] = (struct kind){fn, (uint8_t)tk, (uint8_t)op, (uint8_t)form};
}

static void fill_kinds(void)
{
    for (unsigned op = 0; op < ALU_COUNT; op++)
        for (unsigned f = 0; f < FORM_COUNT; f++)
            add_kind(uop_alu_fns[op][f], T_ALU, op, f);
    for (unsigned op = 0; op < UNARY_COUNT; op++)
        for (unsigned m = 0; m < 2; m++)
            add_kind(uop_unary_fns[op][m], T_UNARY, op, m);
    for (unsigned op = 0; op < SHIFT_COUNT; op++)
        for (unsigned f = 0; f < SFORM_COUNT; f++)
            add_kind(uop_shift_fns[op][f], T_SHIFT, op, f);
    for (unsigned f = 0; f < FORM_COUNT; f++)
        add_kind(uop_mov_fns[f], T_MOV, 0, f);
    add_kind(uop_imul_rr, T_IMUL, 0, FORM_RR);
    add_kind(uop_imul_rm, T_IMUL, 0, FORM_RM);
    add_kind(uop_imul_rri, T_IMUL, 1, FORM_RR);
    add_kind(uop_imul_rmi, T_IMUL, 1, FORM_RM);
    add_kind(uop_movzx_r, T_MOVZX, 0, 0);
    add_kind(uop_movzx_m, T_MOVZX, 0, 1);
    add_kind(uop_movsx_r, T_MOVSX, 0, 0);
    add_kind(uop_movsx_m, T_MOVSX, 0, 1);
    add_kind(uop_lea, T_LEA, 0, 0);
    add_kind(uop_cmov_r, T_CMOV, 0, 0);
    add_kind(uop_cmov_m, T_CMOV, 0, 1);
    add_kind(uop_setcc_r, T_SETCC, 0, 0);
    add_kind(uop_setcc_m, T_SETCC, 0, 1);
    add_kind(uop_xchg_rr, T_XCHG, 0, 0);
    add_kind(uop_nop, T_NOP, 0, 0);
    add_kind(uop_push_r, T_PUSH_R, 0, 1);
    add_kind(uop_push_i, T_PUSH_I, 0, 1);
    add_kind(uop_pop_r, T_POP_R, 0, 1);
    add_kind(uop_jmp_rel, T_JMP_REL, 0, 0);
    add_kind(uop_jmp_r, T_JMP_R, 0, 0);
    add_kind(uop_jcc, T_JCC, 0, 0);
    add_kind(uop_call_rel, T_CALL_REL, 0, 1);
    add_kind(uop_call_r, T_CALL_R, 0, 1);
    add_kind(uop_ret, T_RET, 0, 1);
    add_kind(uop_ret_imm, T_RET, 1, 1);
}

static struct kind kind_of(emu_uop_fn *fn)
{
    for (unsigned i = 0; i < nkinds; i++)
        if (kinds[i].fn == fn)
            return kinds[i];
    return (struct kind){fn, T_HELPER, 0, 0};
}

/* Whether the block's instructions from uop first on overwrite every
 * status flag before anything reads one, with nothing before that which can
 * fault or call C (which would see RFLAGS): then the flags before uop first
 * are dead. */
static bool flags_dead_from(const struct emu_block *b, unsigned first)
{
    for (unsigned i = first; i < b->count; i++) {
        const struct emu_uop *u = &b->uops[i];
        struct kind k = kind_of(u->fn);
        bool reg_form = k.form == FORM_RR || k.form == FORM_RI;

        switch (k.tk) {
        case T_ALU:
            if (!reg_form || k.op == ALU_ADC || k.op == ALU_SBB)
                return false;
            return true;
        case T_IMUL: /* CF and OF only */
            if (k.form != FORM_RR)
                return false;
            break;
        case T_UNARY:
            if (k.form)
                return false;
            if (k.op == UNARY_NEG)
                return true;
            break; /* INC, DEC, NOT leave CF (NOT all) as it was */
        case T_SHIFT:
            if (k.form != SFORM_RI || !(u->imm & (u->size == 8 ? 63 : 31)))
                return false;
            if (k.op > SHIFT_ROR)
                return true;
            break;
        case T_MOV:
            if (!reg_form)
                return false;
            break;
        case T_MOVZX:
        case T_MOVSX:
            if (k.form) /* from memory */
                return false;
            break;
        case T_LEA:
            if (u->seg >= SEG_FS) /* the handler runs it */
                return false;
            break;
        case T_XCHG:
        case T_NOP:
            break;
        default:
            return false;
        }
    }
    return false;
}

/* Whether the flags pending before the current uop's memory access are
 * dead once it has run on its fast path: it overwrites them itself, or
 * later instructions do before anything reads them or can fault. */
static bool pending_dead(const struct tr *t)
{
    const struct emu_uop *u = &t->blk->uops[t->cur];
    struct kind k = kind_of(u->fn);

    switch (k.tk) {
    case T_ALU:
        return k.op != ALU_ADC && k.op != ALU_SBB;
    case T_IMUL: /* CF and OF only */
        return flags_dead_from(t->blk, t->cur + 1);
    case T_UNARY:
        if (k.op == UNARY_NEG)
            return true;
        return flags_dead_from(t->blk, t->cur + 1);
    case T_MOV:
    case T_MOVZX:
    case T_MOVSX:
    case T_PUSH_R:
    case T_PUSH_I:
    case T_POP_R:
        return flags_dead_from(t->blk, t->cur + 1);
    default:
        return false;
    }
}

struct stub *tr_stub(struct tr *t, const struct emu_uop *u)
{
    struct stub *s = &t->stubs[t->nstubs++];

    *s = (struct stub){
        .u = u, .rip = t->rip, .next = t->next, .dirty = t->dirty, .left = t->left};
    return s;
}

void tr_to_stub(struct tr *t, struct stub *s, unsigned cc)
{
    uint8_t *hole = cc == 0xff ? jmp32(&t->b) : jcc32(&t->b, cc);

    if (hole && s->nholes < sizeof(s->holes) / sizeof(s->holes[0]))
        s->holes[s->nholes++] = hole;
    else if (hole)
        t->unfit = true; /* give up on this block rather than mis-link */
}


static struct opnd gpr_op(const struct tr *t, unsigned g)
{
    if (t->host_of[g] != HR_NONE)
        return (struct opnd){true, t->host_of[g], {0}};
    return (struct opnd){false, 0, GPR(g)};
}

/* op with ModRM reg field r and r/m operand o. */
static void emit_o(struct tr *t, uint32_t op, unsigned size, unsigned r, struct opnd o)
{
    if (o.reg)
        emit_rr(&t->b, op, size, r, o.r);
    else
        emit_rm(&t->b, op, size, r, o.m);
}

/* A guest register into RAX-like host register r at size (32-bit loads
 * zero-extend; 8/16-bit ones leave the rest of r as it was). */
void tr_get(struct tr *t, unsigned size, unsigned r, unsigned gpr)
{
    emit_o(t, sized(0x8a, size), size, r, gpr_op(t, gpr));
}

/* Host register r into a guest register at size: as uop_set, if a 32-bit
 * value in r is zero-extended already. */
void tr_put(struct tr *t, unsigned size, unsigned gpr, unsigned r)
{
    emit_o(t, sized(0x88, size), size == 4 ? 8 : size, r, gpr_op(t, gpr));
    if (t->host_of[gpr] != HR_NONE)
        t->dirty |= (uint16_t)(1u << gpr);
}

/* An immediate into a guest register at size 1 or 2 (a merge). */
static void put_imm(struct tr *t, unsigned size, unsigned gpr, uint32_t v)
{
    emit_o(t, sized(0xc6, size), size, 0, gpr_op(t, gpr));
    if (size == 1) {
        e8(&t->b, (uint8_t)v);
    } else {
        e8(&t->b, (uint8_t)v);
        e8(&t->b, (uint8_t)(v >> 8));
    }
    if (t->host_of[gpr] != HR_NONE)
        t->dirty |= (uint16_t)(1u << gpr);
}

/* Stores the cached registers in mask to emu_cpu. */
static void write_back(struct tr *t, uint16_t mask)
{
    for (unsigned g = 0; g < 16; g++)
        if (mask & (1u << g))
            mov_store(&t->b, 8, GPR(g), t->host_of[g]);
}

/* Loads every cached register from emu_cpu (after C may have changed it). */
static void reload(struct tr *t)
{
    for (unsigned g = 0; g < 16; g++)
        if (t->cached & (1u << g))
            mov_load(&t->b, 8, t->host_of[g], GPR(g));
}

static void xor_eax(struct tr *t)
{
    e8(&t->b, 0x31);
    e8(&t->b, 0xc0);
}

static void jmp_exit(struct tr *t)
{
    jmp_to(&t->b, t->j->rw + (t->j->exit - t->j->rx));
}

static void store_rip(struct tr *t, unsigned field_off, uint64_t v)
{
    mov_imm(&t->b, HR_RAX, v);
    mov_store(&t->b, 8, jm(HR_RBX, (int32_t)field_off), HR_RAX);
}

/* Merges the host flags in reg (a PUSHF image) into guest RFLAGS for mask. */
static void merge_flags(struct tr *t, unsigned reg, uint64_t mask)
{
    alu_ri(&t->b, JA_AND, 4, reg, (uint32_t)mask);
    mov_load(&t->b, 8, HR_RCX, CPU(rflags));
    alu_ri(&t->b, JA_AND, 8, HR_RCX, (uint32_t)~mask);
    alu_rr(&t->b, JA_OR, 8, HR_RCX, reg);
    mov_store(&t->b, 8, CPU(rflags), HR_RCX);
}

/* Writes pending host flags back to guest RFLAGS. */
void tr_materialize(struct tr *t)
{
    if (!t->pending)
        return;
    pushfq(&t->b);
    pop_r(&t->b, HR_RAX);
    merge_flags(t, HR_RAX, t->pending);
    t->pending = 0;
}

/* Before an instruction that writes flags mask and reads none: flags still
 * pending that it does not overwrite go to RFLAGS first. */
static void flags_overwritten(struct tr *t, uint64_t mask)
{
    if (t->pending & ~mask)
        tr_materialize(t);
    t->pending = 0;
}

/* Before an instruction that writes mask and leaves the other status flags
 * as they are, as the same host instruction does (INC, DEC, rotates), with
 * nothing between that changes the host flags: flags still pending stay in
 * the host flags, under it. Returns the pending flags after it. */
static uint64_t flags_partial(const struct tr *t, uint64_t mask)
{
    return t->pending | mask;
}

/* The guest flags each condition code reads. */
static uint64_t cond_flags(unsigned cc)
{
    static const uint64_t f[8] = {
        RFLAGS_OF,
        RFLAGS_CF,
        RFLAGS_ZF,
        RFLAGS_CF | RFLAGS_ZF,
        RFLAGS_SF,
        RFLAGS_PF,
        RFLAGS_SF | RFLAGS_OF,
        RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF,
    };

    return f[(cc >> 1) & 7];
}

/* Sets the host flags so that host condition (the return value) is guest
 * condition cc: the pending host flags themselves when they hold what cc
 * reads, else tests of RFLAGS in memory. Clobbers RAX, RCX. */
static unsigned cond(struct tr *t, unsigned cc)
{
    bool neg = cc & 1;

    if (t->pending && (cond_flags(cc) & ~t->pending) == 0)
        return cc;
    tr_materialize(t);
    switch (cc >> 1) {
    case 0: /* O: BT copies OF into CF */
    case 1: /* B */
        emit_rm(&t->b, 0x0fba, 4, 4, CPU(rflags));
        e8(&t->b, cc >> 1 ? 0 : 11);
        return neg ? CC_AE : CC_B;
    case 2: /* E */
    case 3: /* BE */
    case 4: /* S */
    case 5: /* P */
    {
        static const uint8_t bits[] = {0x40, 0x41, 0x80, 0x04};

        emit_rm(&t->b, 0xf6, 1, 0, CPU(rflags)); /* TEST byte [rflags], imm8 */
        e8(&t->b, bits[(cc >> 1) - 2]);
        return neg ? CC_E : CC_NE;
    }
    default: /* L: SF != OF; LE: ZF or SF != OF */
        mov_load(&t->b, 4, HR_RAX, CPU(rflags));
        mov_rr(&t->b, 4, HR_RCX, HR_RAX);
        shift_ri(&t->b, 5, 4, HR_RCX, 4); /* OF (bit 11) to bit 7 */
        alu_rr(&t->b, JA_XOR, 4, HR_RCX, HR_RAX);
        alu_ri(&t->b, JA_AND, 4, HR_RCX, 0x80);
        if (cc >> 1 == 7) {
            alu_ri(&t->b, JA_AND, 4, HR_RAX, 0x40);
            alu_rr(&t->b, JA_OR, 4, HR_RCX, HR_RAX);
        }
        return neg ? CC_E : CC_NE;
    }
}

/* Calls u's handler as the block loop would: insn_rip and rip set first,
 * flags in RFLAGS. */
static void call_handler(struct tr *t, const struct emu_uop *u, uint64_t rip, uint64_t next,
                         uint16_t dirty)
{
    tr_materialize(t);
    write_back(t, dirty);
    store_rip(t, offsetof(struct emu_cpu, insn_rip), rip);
    store_rip(t, offsetof(struct emu_cpu, rip), next);
    emit_rm(&t->b, 0xff, 8, 0, CPU(stats.jit_helper_calls)); /* INC */
    mov_rr(&t->b, 8, HR_RDI, HR_RBX);
    mov_imm(&t->b, HR_RSI, (uintptr_t)u);
    mov_imm(&t->b, HR_RAX, (uintptr_t)u->fn);
    call_r(&t->b, HR_RAX);
    reload(t);
}

/* Leaves translated code with cpu->rip already set and emu_cpu up to
 * date. */
static void leave(struct tr *t)
{
    xor_eax(t);
    jmp_exit(t);
}

/* Leaves from the translation's main path (cpu->rip set). */
static void exit_indirect(struct tr *t)
{
    write_back(t, t->dirty);
    leave(t);
}

/* Jumps to the jump cache's translation for the guest RIP in RAX (also in
 * cpu->rip) if it has one for this context, else leaves. RDX: the entry. */
static void jump_cached(struct tr *t)
{
    uint8_t *miss[2];

    mov_rr(&t->b, 8, HR_RCX, HR_RAX);
    shift_ri(&t->b, 5, 8, HR_RCX, 12);
    alu_rr(&t->b, JA_XOR, 4, HR_RCX, HR_RAX);
    alu_ri(&t->b, JA_AND, 4, HR_RCX, (1u << JC_BITS) - 1);
    shift_ri(&t->b, 4, 4, HR_RCX, 5);
    mov_imm(&t->b, HR_RDX, (uintptr_t)t->j->jc);
    alu_rr(&t->b, JA_ADD, 8, HR_RDX, HR_RCX);
    alu_load(&t->b, JA_CMP, 8, HR_RAX, jm(HR_RDX, 0));
    miss[0] = jcc32(&t->b, CC_NE);
    mov_load(&t->b, 8, HR_RAX, CPU(jit_ctx));
    alu_load(&t->b, JA_CMP, 8, HR_RAX, jm(HR_RDX, 8));
    miss[1] = jcc32(&t->b, CC_NE);
    jmp_m(&t->b, jm(HR_RDX, 16));
    jit_bind(&t->b, miss[0]);
    jit_bind(&t->b, miss[1]);
    leave(t);
}

/* Leaves for the guest RIP in RAX: cpu->rip, then the jump cache. */
static void exit_rax(struct tr *t)
{
    write_back(t, t->dirty);
    mov_store(&t->b, 8, CPU(rip), HR_RAX);
    jump_cached(t);
}

/* Leaving left instructions before the block's end: gives them back to
 * jit_budget, which the entry took them from, so that a pass runs as many
 * instructions as the interpreter's (run_block counts those it ran). */
static void refund(struct tr *t, unsigned left)
{
    if (!left)
        return;
    emit_rm(&t->b, 0x81, 4, JA_ADD, CPU(jit_budget));
    e32(&t->b, left);
}

/* After a handler of a straight instruction: a store to code ends the
 * block there (cpu->rip is the next instruction; left instructions after
 * it). */
static void exit_if_code_changed(struct tr *t, unsigned left)
{
    uint8_t *hole;

    emit_rm(&t->b, 0x80, 1, JA_CMP, CPU(code_changed));
    e8(&t->b, 0);
    hole = jcc32(&t->b, CC_E);
    refund(t, left);
    leave(t);
    jit_bind(&t->b, hole);
}

/* Leaves for guest address target: a link site, patched to the target's
 * translation later, when it is in the block's page. */
/* A branch back to the block's own start (a loop): the registers stay in
 * place and the page's generation is not read again. Stores to the page by
 * this vCPU end the block anyway (tr_smc_check); one by another vCPU or a
 * device is seen when the budget runs out, within a pass of the block
 * loop, as if it had become visible that much later: cross-modifying code
 * is only ordered by a serializing instruction on the vCPU that runs it
 * (SDM Vol. 3A §8.1.3), and a block with one (any generic instruction)
 * takes the full entry. */
static void loop_back(struct tr *t, unsigned flags_reg, uint64_t flags)
{
    uint8_t *out, *out_budget;

    write_back(t, t->dirty);
    emit_rm(&t->b, 0x83, 2, JA_CMP, CPU(kicked));
    e8(&t->b, 0);
    out = jcc32(&t->b, CC_NE);
    emit_rm(&t->b, 0x81, 4, JA_SUB, CPU(jit_budget));
    e32(&t->b, t->blk->count);
    out_budget = jcc32(&t->b, CC_S);
    jmp_to(&t->b, t->body);
    jit_bind(&t->b, out_budget);
    emit_rm(&t->b, 0x81, 4, JA_ADD, CPU(jit_budget));
    e32(&t->b, t->blk->count);
    jit_bind(&t->b, out);
    if (flags)
        merge_flags(t, flags_reg, flags);
    store_rip(t, offsetof(struct emu_cpu, rip), t->start);
    leave(t);
}

static void exit_to(struct tr *t, uint64_t target)
{
    if (target == t->start && t->loop_ok && t->body) {
        loop_back(t, HR_NONE, 0);
        return;
    }
    if ((target >> 12) == t->page) {
        uint8_t *site;

        write_back(t, t->dirty);
        site = jmp32(&t->b);

        jit_bind(&t->b, site);
        store_rip(t, offsetof(struct emu_cpu, rip), target);
        mov_imm(&t->b, HR_RAX, site ? (uintptr_t)(t->j->rx + (site - t->j->rw)) : 0);
        jmp_exit(t);
    } else {
        mov_imm(&t->b, HR_RAX, target);
        exit_rax(t);
    }
}

/* The memory operand's linear address into RSI (64-bit code). A scaled
 * index without a base and an FS/GS base need instructions that change the
 * host flags: pending guest flags are written back first. */
void tr_ea(struct tr *t, const struct emu_uop *u)
{
    bool have = false;

    if ((u->base == UOP_NO_REG && u->index != UOP_NO_REG && u->scale) || u->seg >= SEG_FS)
        tr_materialize(t);

    if (u->base == UOP_RIP_REG) {
        uint64_t a = t->next + (uint64_t)(int64_t)u->disp;

        mov_imm(&t->b, HR_RSI, u->addr_size == 8 ? a : (uint32_t)a);
    } else {
        if (u->base != UOP_NO_REG) {
            tr_get(t, 8, HR_RSI, u->base);
            have = true;
        }
        if (u->index != UOP_NO_REG) {
            tr_get(t, 8, HR_RAX, u->index);
            if (have) {
                lea(&t->b, 8, HR_RSI, (struct jit_mem){HR_RSI, HR_RAX, u->scale, u->disp});
            } else {
                /* [index * scale + disp] has no base: RAX + RAX*(scale-1)
                 * only works for some scales, so shift instead. */
                if (u->scale)
                    shift_ri(&t->b, 4, 8, HR_RAX, u->scale);
                lea(&t->b, 8, HR_RSI, jm(HR_RAX, u->disp));
            }
        } else if (have) {
            if (u->disp)
                lea(&t->b, 8, HR_RSI, jm(HR_RSI, u->disp));
        } else {
            mov_imm(&t->b, HR_RSI, (uint64_t)(int64_t)u->disp);
        }
        if (u->addr_size == 4)
            mov_rr(&t->b, 4, HR_RSI, HR_RSI);
    }
    if (u->seg >= SEG_FS)
        alu_load(&t->b, JA_ADD, 8, HR_RSI,
                 jm(HR_RBX, (int32_t)(offsetof(struct emu_cpu, seg) +
                                      u->seg * sizeof(struct cpu_segment) +
                                      offsetof(struct cpu_segment, base))));
}

/* uop_tlb_hit as code: the host address of size bytes at linear RSI into
 * RDI, or a jump to s. Clobbers RAX, RCX and the host flags. */
void tr_probe(struct tr *t, struct stub *s, enum emu_access acc, unsigned size)
{
    int32_t tlb = (int32_t)(acc * sizeof(t->cpu->tlb_cur[0]));
    bool stacked = false;

    /* Pending flags the fast path never needs again are only kept for the
     * slow path, on the stack (PUSHF is cheap; the merge is not). */
    if (t->pending && pending_dead(t)) {
        pushfq(&t->b);
        s->stacked = t->pending;
        t->pending = 0;
        stacked = true;
    }
    tr_materialize(t);
    mov_load(&t->b, 8, HR_RDI, CPU(tlb_cur)); /* the current PCID's entries */
    mov_rr(&t->b, 8, HR_RAX, HR_RSI);
    shift_ri(&t->b, 5, 8, HR_RAX, 12);
    mov_rr(&t->b, 4, HR_RCX, HR_RAX);
    alu_ri(&t->b, JA_AND, 4, HR_RCX, TLB_SIZE - 1);
    shift_ri(&t->b, 4, 4, HR_RCX, 5);
    lea(&t->b, 8, HR_RAX, (struct jit_mem){HR_RAX, HR_RAX, 0, (int32_t)t->user + 1});
    alu_load(&t->b, JA_CMP, 8, HR_RAX, (struct jit_mem){HR_RDI, HR_RCX, 0, tlb});
    tr_to_stub(t, s, CC_NE);
    mov_rr(&t->b, 4, HR_RAX, HR_RSI);
    alu_ri(&t->b, JA_AND, 4, HR_RAX, 0xfff);
    if (size > 1) {
        alu_ri(&t->b, JA_CMP, 4, HR_RAX, 4096 - size);
        tr_to_stub(t, s, CC_A);
    }
    mov_load(&t->b, 8, HR_RDI, (struct jit_mem){HR_RDI, HR_RCX, 0, tlb + 8});
    test_rr(&t->b, 8, HR_RDI, HR_RDI);
    tr_to_stub(t, s, CC_E);
    alu_rr(&t->b, JA_ADD, 8, HR_RDI, HR_RAX);
    if (stacked)
        lea(&t->b, 8, HR_RSP, jm(HR_RSP, 8)); /* drops them: no flags change */
}

/* After a store through RDI: a page holding code ends the block (stub). */
void tr_smc_check(struct tr *t, const struct emu_uop *u, uint64_t rip_after)
{
    struct stub *s = tr_stub(t, u);

    s->smc = true;
    s->smc_rip = rip_after;
    mov_rr(&t->b, 8, HR_RAX, HR_RDI);
    mov_imm(&t->b, HR_RCX, (uintptr_t)t->cpu->evm->base);
    alu_rr(&t->b, JA_SUB, 8, HR_RAX, HR_RCX);
    shift_ri(&t->b, 5, 8, HR_RAX, 12);
    mov_imm(&t->b, HR_RCX, (uintptr_t)t->cpu->evm->code);
    emit_rm(&t->b, 0x80, 1, JA_CMP, (struct jit_mem){HR_RCX, HR_RAX, 0, 0});
    e8(&t->b, 0);
    tr_to_stub(t, s, CC_NE);
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

/* The ALU operation with RAX (the guest's first operand) and operand m or
 * an immediate (m == NULL). */
static void alu_op(struct tr *t, unsigned op, unsigned size, const struct opnd *m, uint64_t imm)
{
    if (op == ALU_TEST) {
        if (m) {
            emit_o(t, sized(0x84, size), size, HR_RAX, *m);
        } else {
            emit_rr(&t->b, sized(0xf6, size), size, 0, HR_RAX);
            if (size == 1)
                e8(&t->b, (uint8_t)imm);
            else if (size == 2) {
                e8(&t->b, (uint8_t)imm);
                e8(&t->b, (uint8_t)(imm >> 8));
            } else
                e32(&t->b, (uint32_t)imm);
        }
    } else if (m) {
        emit_o(t, sized((uint32_t)alu_map[op] * 8 + 2, size), size, HR_RAX, *m);
    } else {
        alu_ri(&t->b, alu_map[op], size, HR_RAX, (uint32_t)imm);
    }
}

/* Flags-in for ALU op: ADC and SBB read CF; the rest overwrite STATUS. */
static void alu_flags_in(struct tr *t, unsigned op)
{
    if (op == ALU_ADC || op == ALU_SBB) {
        tr_materialize(t);
        load_cf(t);
    } else {
        flags_overwritten(t, RFLAGS_STATUS);
    }
}

static bool t_alu(struct tr *t, const struct emu_uop *u, struct kind k)
{
    unsigned size = u->size, op = k.op;
    bool writes = op != ALU_CMP && op != ALU_TEST;
    struct opnd src;
    struct stub *s;

    if ((k.form == FORM_RI || k.form == FORM_MI) && !fits32(u->imm, size))
        return false;
    switch (k.form) {
    case FORM_RR:
    case FORM_RI:
        /* Flags first: writing pending ones back clobbers RAX. */
        alu_flags_in(t, op);
        tr_get(t, size, HR_RAX, u->reg);
        if (k.form == FORM_RR)
            src = gpr_op(t, u->rm);
        alu_op(t, op, size, k.form == FORM_RR ? &src : NULL, u->imm);
        if (writes)
            tr_put(t, size, u->reg, HR_RAX);
        t->pending = RFLAGS_STATUS;
        return true;
    case FORM_RM:
        if (!t->flat64)
            return false;
        s = tr_stub(t, u);
        tr_ea(t, u);
        tr_probe(t, s, ACC_READ, size);
        tr_get(t, size, HR_RAX, u->reg);
        src = (struct opnd){false, 0, jm(HR_RDI, 0)};
        if (op == ALU_ADC || op == ALU_SBB)
            load_cf(t);
        alu_op(t, op, size, &src, 0);
        if (writes)
            tr_put(t, size, u->reg, HR_RAX);
        t->pending = RFLAGS_STATUS;
        tr_materialize(t);
        s->resume = t->b.p;
        return true;
    default: /* FORM_MR, FORM_MI: memory is the destination */
        if (!t->flat64)
            return false;
        s = tr_stub(t, u);
        tr_ea(t, u);
        tr_probe(t, s, writes ? ACC_WRITE : ACC_READ, size);
        if (k.form == FORM_MR)
            tr_get(t, size, HR_RDX, u->reg);
        if (op == ALU_ADC || op == ALU_SBB)
            load_cf(t);
        if (op == ALU_TEST && k.form == FORM_MR) {
            emit_rm(&t->b, sized(0x84, size), size, HR_RDX, jm(HR_RDI, 0));
        } else if (op == ALU_TEST) {
            emit_rm(&t->b, sized(0xf6, size), size, 0, jm(HR_RDI, 0));
            if (size == 1)
                e8(&t->b, (uint8_t)u->imm);
            else if (size == 2) {
                e8(&t->b, (uint8_t)u->imm);
                e8(&t->b, (uint8_t)(u->imm >> 8));
            } else
                e32(&t->b, (uint32_t)u->imm);
        } else if (k.form == FORM_MR) {
            alu_store(&t->b, alu_map[op], size, jm(HR_RDI, 0), HR_RDX);
        } else {
            alu_mi(&t->b, alu_map[op], size, jm(HR_RDI, 0), (uint32_t)u->imm);
        }
        t->pending = RFLAGS_STATUS;
        tr_materialize(t);
        if (writes)
            tr_smc_check(t, u, t->next);
        s->resume = t->b.p;
        return true;
    }
}

static bool t_unary(struct tr *t, const struct emu_uop *u, struct kind k)
{
    static const uint8_t ext[] = {[UNARY_INC] = 0, [UNARY_DEC] = 1, [UNARY_NEG] = 3,
                                  [UNARY_NOT] = 2};
    uint64_t mask = k.op == UNARY_NEG   ? RFLAGS_STATUS
                    : k.op == UNARY_NOT ? 0
                                        : RFLAGS_STATUS & ~RFLAGS_CF;
    unsigned size = u->size;
    bool incdec = k.op == UNARY_INC || k.op == UNARY_DEC;
    struct stub *s;

    if (!k.form) {
        uint64_t after = incdec ? flags_partial(t, mask) : mask;

        if (mask && !incdec)
            flags_overwritten(t, mask);
        tr_get(t, size, HR_RAX, u->reg);
        if (incdec)
            emit_rr(&t->b, sized(0xfe, size), size, ext[k.op], HR_RAX);
        else
            unary_r(&t->b, ext[k.op], size, HR_RAX);
        tr_put(t, size, u->reg, HR_RAX);
        if (mask)
            t->pending = after;
        return true;
    }
    if (!t->flat64)
        return false;
    s = tr_stub(t, u);
    tr_ea(t, u);
    tr_probe(t, s, ACC_WRITE, size);
    if (incdec)
        incdec_m(&t->b, ext[k.op], size, jm(HR_RDI, 0));
    else
        unary_m(&t->b, ext[k.op], size, jm(HR_RDI, 0));
    t->pending = mask;
    tr_materialize(t);
    tr_smc_check(t, u, t->next);
    s->resume = t->b.p;
    return true;
}

/* Shifts and rotates of a register by a non-zero immediate count. */
static bool t_shift(struct tr *t, const struct emu_uop *u, struct kind k)
{
    static const uint8_t ext[] = {[SHIFT_ROL] = 0, [SHIFT_ROR] = 1, [SHIFT_SHL] = 4,
                                  [SHIFT_SHR] = 5, [SHIFT_SAR] = 7};
    unsigned size = u->size;
    uint8_t c = (uint8_t)(u->imm & (size == 8 ? 63 : 31));
    uint64_t mask = k.op <= SHIFT_ROR ? RFLAGS_CF | RFLAGS_OF : RFLAGS_STATUS, after;

    if (k.form != SFORM_RI || !c)
        return false;
    after = k.op <= SHIFT_ROR ? flags_partial(t, mask) : mask;

    if (k.op > SHIFT_ROR)
        flags_overwritten(t, mask);
    tr_get(t, size, HR_RAX, u->reg);
    shift_ri(&t->b, ext[k.op], size, HR_RAX, c);
    tr_put(t, size, u->reg, HR_RAX);
    t->pending = after;
    return true;
}

static bool t_mov(struct tr *t, const struct emu_uop *u, struct kind k)
{
    unsigned size = u->size;
    struct stub *s;

    switch (k.form) {
    case FORM_RR:
        tr_get(t, size, HR_RAX, u->rm);
        tr_put(t, size, u->reg, HR_RAX);
        return true;
    case FORM_RI:
        if (size >= 4) {
            mov_imm(&t->b, HR_RAX, size == 4 ? (uint32_t)u->imm : u->imm);
            tr_put(t, size, u->reg, HR_RAX);
        } else {
            put_imm(t, size, u->reg, (uint32_t)u->imm);
        }
        return true;
    case FORM_RM:
        if (!t->flat64)
            return false;
        s = tr_stub(t, u);
        tr_ea(t, u);
        tr_probe(t, s, ACC_READ, size);
        mov_load(&t->b, size, HR_RAX, jm(HR_RDI, 0));
        tr_put(t, size, u->reg, HR_RAX);
        s->resume = t->b.p;
        return true;
    default:
        if (!t->flat64 || (k.form == FORM_MI && !fits32(u->imm, size)))
            return false;
        s = tr_stub(t, u);
        tr_ea(t, u);
        tr_probe(t, s, ACC_WRITE, size);
        if (k.form == FORM_MR) {
            tr_get(t, size, HR_RAX, u->reg);
            mov_store(&t->b, size, jm(HR_RDI, 0), HR_RAX);
        } else {
            mov_store_imm(&t->b, size, jm(HR_RDI, 0), (uint32_t)u->imm);
        }
        tr_smc_check(t, u, t->next);
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
        *m = gpr_op(t, u->rm);
        return true;
    }
    if (!t->flat64)
        return false;
    *s = tr_stub(t, u);
    tr_ea(t, u);
    tr_probe(t, *s, ACC_READ, size);
    *m = (struct opnd){false, 0, jm(HR_RDI, 0)};
    return true;
}

static bool t_imul(struct tr *t, const struct emu_uop *u, struct kind k)
{
    unsigned size = u->size;
    struct stub *s = NULL;
    struct opnd m;

    if (size < 2 || (k.op && !fits32(u->imm, size)) ||
        !rm_source(t, u, k.form == FORM_RM, size, &s, &m))
        return false;
    /* CF and OF only: SF, ZF, AF and PF stay as they were, as in the
     * interpreter (uop_alu.c's imul_form). */
    flags_overwritten(t, RFLAGS_CF | RFLAGS_OF);
    if (k.op) {
        emit_o(t, 0x69, size, HR_RAX, m);
        if (size == 2) {
            e8(&t->b, (uint8_t)u->imm);
            e8(&t->b, (uint8_t)(u->imm >> 8));
        } else {
            e32(&t->b, (uint32_t)u->imm);
        }
    } else {
        tr_get(t, size, HR_RAX, u->reg);
        emit_o(t, 0x0faf, size, HR_RAX, m);
    }
    tr_put(t, size, u->reg, HR_RAX);
    t->pending = RFLAGS_CF | RFLAGS_OF;
    if (s) {
        tr_materialize(t);
        s->resume = t->b.p;
    }
    return true;
}

/* MOVZX, MOVSX, MOVSXD: the source (aux bytes) extended into RAX. */
static bool t_extend(struct tr *t, const struct emu_uop *u, struct kind k, bool sign)
{
    unsigned size = u->size, from = u->aux;
    struct stub *s = NULL;
    struct opnd m;

    if (!rm_source(t, u, k.form, from, &s, &m))
        return false;
    if (from == 4 && !sign)
        emit_o(t, 0x8b, 4, HR_RAX, m);
    else if (from == 4)
        emit_o(t, 0x63, 8, HR_RAX, m);
    else
        emit_o(t, (sign ? 0x0fbe : 0x0fb6) + (from == 2), sign ? 8 : 4, HR_RAX, m);
    if (size == 4 && sign)
        mov_rr(&t->b, 4, HR_RAX, HR_RAX);
    tr_put(t, size, u->reg, HR_RAX);
    if (s)
        s->resume = t->b.p;
    return true;
}

static bool t_lea(struct tr *t, const struct emu_uop *u)
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

static bool t_cmov(struct tr *t, const struct emu_uop *u, struct kind k)
{
    unsigned size = u->size, hcc;
    struct stub *s = NULL;
    struct opnd m;

    if (size < 2 || !rm_source(t, u, k.form, size, &s, &m))
        return false;
    hcc = cond(t, u->aux);
    tr_get(t, size, HR_RDX, u->reg);
    emit_o(t, 0x0f40u | hcc, size, HR_RDX, m);
    tr_put(t, size, u->reg, HR_RDX);
    if (s)
        s->resume = t->b.p;
    return true;
}

static bool t_setcc(struct tr *t, const struct emu_uop *u, struct kind k)
{
    struct stub *s = NULL;
    unsigned hcc;

    if (k.form) {
        if (!t->flat64)
            return false;
        s = tr_stub(t, u);
        tr_ea(t, u);
        tr_probe(t, s, ACC_WRITE, 1);
    }
    hcc = cond(t, u->aux);
    setcc_r(&t->b, hcc, HR_RDX);
    if (s) {
        mov_store(&t->b, 1, jm(HR_RDI, 0), HR_RDX);
        tr_smc_check(t, u, t->next);
        s->resume = t->b.p;
    } else {
        tr_put(t, 1, u->reg, HR_RDX);
    }
    return true;
}

static bool t_xchg(struct tr *t, const struct emu_uop *u)
{
    tr_get(t, u->size, HR_RAX, u->reg);
    tr_get(t, u->size, HR_RCX, u->rm);
    tr_put(t, u->size, u->reg, HR_RCX);
    tr_put(t, u->size, u->rm, HR_RAX);
    return true;
}

/* RSI = RSP - size, probed for a store of size bytes: a 64-bit push. */
static void push_probe(struct tr *t, struct stub *s, unsigned size)
{
    tr_get(t, 8, HR_RSI, GPR_RSP);
    lea(&t->b, 8, HR_RSI, jm(HR_RSI, -(int32_t)size));
    tr_probe(t, s, ACC_WRITE, size);
}

static bool t_push(struct tr *t, const struct emu_uop *u, bool imm)
{
    unsigned size = u->size;
    struct stub *s;

    if (!t->flat64 || (size != 8 && size != 2))
        return false;
    s = tr_stub(t, u);
    push_probe(t, s, size);
    if (imm)
        mov_imm(&t->b, HR_RAX, u->imm);
    else
        tr_get(t, size, HR_RAX, u->reg);
    mov_store(&t->b, size, jm(HR_RDI, 0), HR_RAX);
    tr_put(t, 8, GPR_RSP, HR_RSI);
    tr_smc_check(t, u, t->next);
    s->resume = t->b.p;
    return true;
}

static bool t_pop(struct tr *t, const struct emu_uop *u)
{
    unsigned size = u->size;
    struct stub *s;

    if (!t->flat64 || (size != 8 && size != 2))
        return false;
    s = tr_stub(t, u);
    tr_get(t, 8, HR_RSI, GPR_RSP);
    tr_probe(t, s, ACC_READ, size);
    mov_load(&t->b, size, HR_RAX, jm(HR_RDI, 0));
    lea(&t->b, 8, HR_RSI, jm(HR_RSI, (int32_t)size));
    tr_put(t, 8, GPR_RSP, HR_RSI);
    tr_put(t, size, u->reg, HR_RAX);
    s->resume = t->b.p;
    return true;
}

/* check_target of uop_branch.c, known at translation time. */
static bool target_ok(struct tr *t, uint64_t target)
{
    return t->flat64 ? emu_canonical(target) : target <= t->cpu->seg[SEG_CS].limit;
}

/* RAX (a branch target) to the stub unless canonical: check_target. */
static void canonical_check(struct tr *t, struct stub *s, unsigned r)
{
    mov_rr(&t->b, 8, HR_RCX, r);
    shift_ri(&t->b, 4, 8, HR_RCX, 16);
    shift_ri(&t->b, 7, 8, HR_RCX, 16);
    alu_rr(&t->b, JA_CMP, 8, HR_RCX, r);
    tr_to_stub(t, s, CC_NE);
}

/* Branches end the block: each returns after emitting its exits. */
static bool t_jcc(struct tr *t, const struct emu_uop *u)
{
    uint64_t target = (t->next + u->imm) & emu_mask(u->size);
    uint64_t pending = t->pending;
    uint8_t *taken;

    if (!target_ok(t, target))
        return false;
    if (pending && (cond_flags(u->aux) & ~pending) == 0) {
        /* The flags are live after the branch too: keep a copy to merge on
         * both paths (PUSHF and POP leave the host flags as they are). */
        pushfq(&t->b);
        pop_r(&t->b, HR_RDX);
        taken = jcc32(&t->b, u->aux);
        merge_flags(t, HR_RDX, pending);
        exit_to(t, t->next);
        jit_bind(&t->b, taken);
        t->pending = 0;
        if (target == t->start && t->loop_ok && t->flags_dead && t->body) {
            /* Around the loop the block overwrites them before any use:
             * only a way out needs them in RFLAGS. */
            loop_back(t, HR_RDX, pending);
            return true;
        }
        merge_flags(t, HR_RDX, pending);
        exit_to(t, target);
        return true;
    }
    taken = jcc32(&t->b, cond(t, u->aux));
    exit_to(t, t->next);
    jit_bind(&t->b, taken);
    exit_to(t, target);
    return true;
}

static bool t_jmp_rel(struct tr *t, const struct emu_uop *u)
{
    uint64_t target = (t->next + u->imm) & emu_mask(u->size);

    if (!target_ok(t, target))
        return false;
    tr_materialize(t);
    exit_to(t, target);
    return true;
}

static bool t_jmp_r(struct tr *t, const struct emu_uop *u)
{
    struct stub *s;

    if (!t->flat64 || u->size != 8)
        return false;
    tr_materialize(t);
    s = tr_stub(t, u);
    tr_get(t, 8, HR_RAX, u->rm);
    canonical_check(t, s, HR_RAX);
    exit_rax(t);
    return true;
}

static bool t_call(struct tr *t, const struct emu_uop *u, bool rel)
{
    uint64_t target = (t->next + u->imm) & emu_mask(u->size);
    struct stub *s;

    if (!t->flat64 || u->size != 8 || (rel && !target_ok(t, target)))
        return false;
    tr_materialize(t);
    s = tr_stub(t, u);
    if (!rel) {
        tr_get(t, 8, HR_RDX, u->rm);
        canonical_check(t, s, HR_RDX);
    }
    push_probe(t, s, 8);
    mov_imm(&t->b, HR_RAX, t->next);
    mov_store(&t->b, 8, jm(HR_RDI, 0), HR_RAX);
    tr_put(t, 8, GPR_RSP, HR_RSI);
    if (rel) {
        tr_smc_check(t, u, target);
        exit_to(t, target);
    } else {
        mov_store(&t->b, 8, CPU(rip), HR_RDX);
        tr_smc_check(t, u, 0);
        t->stubs[t->nstubs - 1].rip_stored = true;
        mov_rr(&t->b, 8, HR_RAX, HR_RDX);
        exit_rax(t);
    }
    return true;
}

static bool t_ret(struct tr *t, const struct emu_uop *u, struct kind k)
{
    struct stub *s;

    if (!t->flat64 || u->size != 8)
        return false;
    tr_materialize(t);
    s = tr_stub(t, u);
    tr_get(t, 8, HR_RSI, GPR_RSP);
    tr_probe(t, s, ACC_READ, 8);
    mov_load(&t->b, 8, HR_RAX, jm(HR_RDI, 0));
    canonical_check(t, s, HR_RAX);
    lea(&t->b, 8, HR_RSI, jm(HR_RSI, 8 + (int32_t)(k.op ? u->imm : 0)));
    tr_put(t, 8, GPR_RSP, HR_RSI);
    exit_rax(t);
    return true;
}

/* One uop: a template, or its handler. Returns true if it ended the block
 * (its exits are emitted). */
static bool translate_uop(struct tr *t, const struct emu_uop *u, bool last)
{
    struct kind k = kind_of(u->fn);
    bool ok;

    switch (k.tk) {
    case T_ALU:
        ok = t_alu(t, u, k);
        break;
    case T_UNARY:
        ok = t_unary(t, u, k);
        break;
    case T_SHIFT:
        ok = t_shift(t, u, k);
        break;
    case T_MOV:
        ok = t_mov(t, u, k);
        break;
    case T_IMUL:
        ok = t_imul(t, u, k);
        break;
    case T_MOVZX:
    case T_MOVSX:
        ok = t_extend(t, u, k, k.tk == T_MOVSX);
        break;
    case T_LEA:
        ok = t_lea(t, u);
        break;
    case T_CMOV:
        ok = t_cmov(t, u, k);
        break;
    case T_SETCC:
        ok = t_setcc(t, u, k);
        break;
    case T_XCHG:
        ok = t_xchg(t, u);
        break;
    case T_NOP:
        ok = true;
        break;
    case T_PUSH_R:
    case T_PUSH_I:
        ok = t_push(t, u, k.tk == T_PUSH_I);
        break;
    case T_POP_R:
        ok = t_pop(t, u);
        break;
    case T_JCC:
        if (t_jcc(t, u))
            return true;
        ok = false;
        break;
    case T_JMP_REL:
        if (t_jmp_rel(t, u))
            return true;
        ok = false;
        break;
    case T_JMP_R:
        if (t_jmp_r(t, u))
            return true;
        ok = false;
        break;
    case T_CALL_REL:
    case T_CALL_R:
        if (t_call(t, u, k.tk == T_CALL_REL))
            return true;
        ok = false;
        break;
    case T_RET:
        if (t_ret(t, u, k))
            return true;
        ok = false;
        break;
    default:
        ok = false;
        break;
    }
    if (ok || (u->fn == uop_generic && tr_sse(t, u)))
        return false;
    /* No template (or not this form): the handler. It leaves cpu->rip at
     * the next instruction or, for a branch or an instruction of the
     * generic groups (always a block's last), where execution goes on. */
    call_handler(t, u, t->rip, t->next, t->dirty);
    t->dirty = 0;
    if (last) {
        exit_indirect(t);
        return true;
    }
    exit_if_code_changed(t, t->left);
    if (u->fn == uop_generic) {
        /* A REP string instruction left to be resumed sets RIP back. */
        uint8_t *on;

        mov_imm(&t->b, HR_RAX, t->next);
        alu_load(&t->b, JA_CMP, 8, HR_RAX, CPU(rip));
        on = jcc32(&t->b, CC_E);
        refund(t, t->left);
        leave(t);
        jit_bind(&t->b, on);
    }
    return false;
}

static void emit_stub(struct tr *t, struct stub *s)
{
    for (unsigned i = 0; i < s->nholes; i++)
        jit_bind(&t->b, s->holes[i]);
    if (s->smc) {
        /* The store hit a page holding code: as emu_code_written. */
        write_back(t, s->dirty);
        mov_rr(&t->b, 8, HR_RSI, HR_RDI);
        mov_rr(&t->b, 8, HR_RDI, HR_RBX);
        mov_imm(&t->b, HR_RAX, (uintptr_t)emu_jit_code_written);
        call_r(&t->b, HR_RAX);
        if (!s->rip_stored)
            store_rip(t, offsetof(struct emu_cpu, rip), s->smc_rip);
        refund(t, s->left);
        leave(t);
        return;
    }
    t->pending = 0;
    if (s->stacked) {
        pop_r(&t->b, HR_RAX);
        merge_flags(t, HR_RAX, s->stacked);
    }
    call_handler(t, s->u, s->rip, s->next, s->dirty);
    if (!s->resume) {
        leave(t);
        return;
    }
    exit_if_code_changed(t, s->left);
    jmp_to(&t->b, s->resume);
}

/* Picks the guest registers the block uses at least twice, most used
 * first, for the host registers that templates leave alone. */
static void plan_cache(struct tr *t, const struct emu_block *b)
{
    /* Not RBP: a byte operand in it (MOVZX r32, r/m8) would need a REX
     * prefix that the encoder only adds for byte-sized operations. */
    static const uint8_t hosts[] = {HR_R12, HR_R13, HR_R14, HR_R15,
                                    HR_R8,  HR_R9,  HR_R10, HR_R11};
    unsigned uses[16] = {0};

    memset(t->host_of, HR_NONE, sizeof(t->host_of));
    for (unsigned i = 0; i < b->count; i++) {
        const struct emu_uop *u = &b->uops[i];
        const uint8_t regs[] = {u->reg, u->rm, u->base, u->index};
        enum tk tk = kind_of(u->fn).tk;

        if (u->fn == uop_generic)
            continue;
        for (unsigned j = 0; j < 4; j++)
            if (regs[j] < 16)
                uses[regs[j]]++;
        if (tk == T_PUSH_R || tk == T_PUSH_I || tk == T_POP_R || tk == T_CALL_REL ||
            tk == T_CALL_R || tk == T_RET)
            uses[GPR_RSP]++;
    }
    for (unsigned n = 0; n < sizeof(hosts); n++) {
        unsigned best = 16;

        for (unsigned g = 0; g < 16; g++)
            if (uses[g] >= 2 && !(t->cached & (1u << g)) && (best == 16 || uses[g] > uses[best]))
                best = g;
        if (best == 16)
            break;
        t->cached |= (uint16_t)(1u << best);
        t->host_of[best] = hosts[n];
    }
}

bool emu_jit_translate(struct emu_cpu *cpu, struct emu_block *b)
{
    struct emu_jit *j = cpu->jit;
    struct tr *t;
    uint8_t *entry, *out, *budget_out;
    uint64_t rip = cpu->rip;
    bool ended = false;

    pthread_once(&kinds_once, fill_kinds);
    t = calloc(1, sizeof(*t));
    if (!t)
        return true; /* no translation this time; the interpreter runs it */
    *t = (struct tr){
        .cpu = cpu,
        .j = j,
        .b = {j->rw + j->used, j->rw + EMU_JIT_CACHE_BYTES, false},
        .blk = b,
        .mask = b->rip_mask,
        .page = rip >> 12,
        .user = cpu->cpl == 3,
        .flat64 = cpu->code_bits == 64,
    };
    entry = t->b.p;
    /* Entry: events, the page's generation, the budget. */
    emit_rm(&t->b, 0x83, 2, JA_CMP, CPU(kicked));
    e8(&t->b, 0);
    out = jcc32(&t->b, CC_NE);
    j->past_events = (size_t)(t->b.p - entry); /* the same for every block */
    mov_imm(&t->b, HR_RAX, (uintptr_t)&cpu->evm->gen[b->page]);
    mov_load(&t->b, 4, HR_RAX, jm(HR_RAX, 0));
    alu_ri(&t->b, JA_CMP, 4, HR_RAX, b->gen);
    {
        uint8_t *stale = jcc32(&t->b, CC_NE);

        emit_rm(&t->b, 0x81, 4, JA_SUB, CPU(jit_budget));
        e32(&t->b, b->count);
        budget_out = jcc32(&t->b, CC_S);
        plan_cache(t, b);
        reload(t);
        t->start = cpu->rip;
        t->body = t->b.full ? NULL : t->b.p;
        t->loop_ok = true;
        for (unsigned i = 0; i < b->count; i++)
            t->loop_ok &= b->uops[i].fn != uop_generic;
        t->flags_dead = flags_dead_from(b, 0);
        for (unsigned i = 0; i < b->count && !ended; i++) {
            t->rip = rip;
            t->next = (rip + b->uops[i].len) & t->mask;
            t->cur = i;
            t->left = b->count - i - 1;
            ended = translate_uop(t, &b->uops[i], i + 1 == b->count);
            rip = t->next;
        }
        if (!ended) {
            tr_materialize(t);
            exit_to(t, rip);
        }
        jit_bind(&t->b, budget_out);
        emit_rm(&t->b, 0x81, 4, JA_ADD, CPU(jit_budget));
        e32(&t->b, b->count);
        jit_bind(&t->b, out);
        jit_bind(&t->b, stale);
    }
    store_rip(t, offsetof(struct emu_cpu, rip), cpu->rip);
    leave(t);
    for (unsigned i = 0; i < t->nstubs; i++)
        emit_stub(t, &t->stubs[i]);
    if (t->b.full) {
        free(t);
        return false;
    }
    if (t->unfit) {
        b->runs = EMU_JIT_NEVER; /* the interpreter runs it from now on */
        b->jit = NULL;
        free(t);
        return true;
    }
    j->used = ((size_t)(t->b.p - j->rw) + 15) & ~(size_t)15;
    cpu->stats.jit_code_bytes += (uint64_t)(t->b.p - entry);
    b->jit = j->rx + (entry - j->rw);
    b->jit_rip = cpu->rip;
    if (j->perf_map)
        fprintf(j->perf_map, "%lx %lx guest_%llx\n", (unsigned long)(uintptr_t)b->jit,
                (unsigned long)(t->b.p - entry), (unsigned long long)cpu->rip);
    b->jit_cpl = (uint8_t)cpu->cpl;
    free(t);
    return true;
}
