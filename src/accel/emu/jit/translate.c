/*
 * From a block of uops to host code (the contract is in jit.h, the shared
 * state in tr.h). This file is the frame: the block's entry checks and its
 * plan of guest registers in host registers, the guest flags in the host
 * flags, memory probes, exits and the out-of-line stubs. Each uop either
 * has a template (ops.c, branch.c, sse.c), which does what its handler does
 * for the common case (operands in registers, or in RAM that the TLB
 * already holds for this access), or becomes a call of its handler. A
 * template's other cases jump to a stub that calls the handler for the
 * whole instruction: a template changes no guest state before its last
 * check.
 *
 * Host registers: RBX holds the vCPU (struct emu_cpu) throughout; R8-R15
 * hold the guest registers of the block's plan; RAX, RCX, RDX, RSI and RDI
 * are scratch (RSI: a memory operand's linear address, RDI: its host
 * address).
 */
#include <pthread.h>
#include <stddef.h>

#include "accel/emu/jit/tr.h"

_Static_assert(sizeof(struct tlb_entry) == 32, "the probe scales the TLB index by 32");
_Static_assert(TLB_SIZE == 256, "the probe computes emu_tlb_index in CL (ADD CL, CH)");
_Static_assert(offsetof(struct tlb_entry, vpn) == 0 && offsetof(struct tlb_entry, addend) == 8,
               "the probe reads the tag, then the addend");
_Static_assert(offsetof(struct emu_cpu, wake) == offsetof(struct emu_cpu, kicked) + 1,
               "block entries test kicked and wake with one 16-bit compare");

static struct kind kinds[128];
static unsigned nkinds;
static pthread_once_t kinds_once = PTHREAD_ONCE_INIT;

static void add_kind(emu_uop_fn *fn, enum tk tk, unsigned op, unsigned form)
{
    kinds[nkinds++] = (struct kind){fn, (uint8_t)tk, (uint8_t)op, (uint8_t)form};
}

/* kinds[] by handler, open addressing: a translation looks up every uop's
 * kind once (plan_kinds). */
#define KIND_SLOTS 256
static struct kind kind_slots[KIND_SLOTS];

static unsigned kind_slot(emu_uop_fn *fn)
{
    return (unsigned)(((uintptr_t)fn * 0x9e3779b97f4a7c15ull) >> 56) % KIND_SLOTS;
}

static void index_kinds(void)
{
    _Static_assert(KIND_SLOTS >= 2 * sizeof(kinds) / sizeof(kinds[0]), "kind_slots: half empty");
    for (unsigned i = 0; i < nkinds; i++) {
        unsigned s = kind_slot(kinds[i].fn);

        while (kind_slots[s].fn)
            s = (s + 1) % KIND_SLOTS;
        kind_slots[s] = kinds[i];
    }
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
    add_kind(uop_sti, T_STI, 0, 0);
    index_kinds();
}

static struct kind kind_of(emu_uop_fn *fn)
{
    for (unsigned s = kind_slot(fn); kind_slots[s].fn; s = (s + 1) % KIND_SLOTS)
        if (kind_slots[s].fn == fn)
            return kind_slots[s];
    return (struct kind){fn, T_HELPER, 0, 0};
}

/* What uop u of kind k does to the question "are the status flags before
 * it dead?": DEAD if it overwrites them all and reads none, LIVE if it may
 * read them, fault or call C (which would see RFLAGS) first, ON if it
 * touches none of that, so that the answer is the next uop's. */
enum flags_use { FLAGS_ON, FLAGS_DEAD, FLAGS_LIVE };

static enum flags_use flags_use(const struct emu_uop *u, struct kind k)
{
    bool reg_form = k.form == FORM_RR || k.form == FORM_RI;

    switch (k.tk) {
    case T_ALU:
        return !reg_form || k.op == ALU_ADC || k.op == ALU_SBB ? FLAGS_LIVE : FLAGS_DEAD;
    case T_IMUL: /* CF and OF only */
        return k.form != FORM_RR ? FLAGS_LIVE : FLAGS_ON;
    case T_UNARY:
        if (k.form)
            return FLAGS_LIVE;
        /* INC, DEC, NOT leave CF (NOT all) as it was */
        return k.op == UNARY_NEG ? FLAGS_DEAD : FLAGS_ON;
    case T_SHIFT:
        if (k.form != SFORM_RI || !(u->imm & (u->size == 8 ? 63 : 31)))
            return FLAGS_LIVE;
        return k.op > SHIFT_ROR ? FLAGS_DEAD : FLAGS_ON;
    case T_MOV:
        return reg_form ? FLAGS_ON : FLAGS_LIVE;
    case T_MOVZX:
    case T_MOVSX:
        return k.form ? FLAGS_LIVE : FLAGS_ON; /* form 1: from memory */
    case T_LEA:
        return u->seg >= SEG_FS ? FLAGS_LIVE : FLAGS_ON; /* the handler runs FS:/GS: */
    case T_XCHG:
    case T_NOP:
        return FLAGS_ON;
    default:
        return FLAGS_LIVE;
    }
}

/* Each uop's kind, and for each index i whether the block's instructions
 * from uop i on overwrite every status flag before anything reads one,
 * with nothing before that which can fault or call C: then the flags
 * before uop i are dead (t->dead_from[i]; none after the last uop). */
static void plan_kinds(struct tr *t, const struct emu_block *b)
{
    t->dead_from[b->count] = false;
    for (unsigned i = b->count; i-- > 0;) {
        t->kinds[i] = kind_of(b->uops[i].fn);
        switch (flags_use(&b->uops[i], t->kinds[i])) {
        case FLAGS_ON:
            t->dead_from[i] = t->dead_from[i + 1];
            break;
        case FLAGS_DEAD:
            t->dead_from[i] = true;
            break;
        case FLAGS_LIVE:
            t->dead_from[i] = false;
            break;
        }
    }
}

/* Whether the flags pending before the current uop's memory access (of
 * kind acc) are dead once it has run on its fast path: it overwrites them
 * itself, or later instructions do before anything reads them or can
 * fault. Not for a store that leaves them: the code watch's check after it
 * can end the block there (a store to a decoded line), and they must be in
 * RFLAGS then. */
static bool pending_dead(const struct tr *t, enum emu_access acc)
{
    struct kind k = t->kinds[t->cur];

    switch (k.tk) {
    case T_ALU:
        return k.op != ALU_ADC && k.op != ALU_SBB;
    case T_UNARY:
        if (k.op == UNARY_NEG)
            return true;
        break;
    default:
        break;
    }
    if (acc == ACC_WRITE)
        return false;
    switch (k.tk) {
    case T_IMUL: /* CF and OF only */
    case T_UNARY:
    case T_MOV:
    case T_MOVZX:
    case T_MOVSX:
    case T_PUSH_R:
    case T_PUSH_I:
    case T_POP_R:
        return t->dead_from[t->cur + 1];
    default:
        return false;
    }
}

bool tr_flags_dead_after(const struct tr *t)
{
    return t->dead_from[t->cur + 1];
}

struct stub *tr_stub(struct tr *t, const struct emu_uop *u)
{
    struct stub *s = &t->stubs[t->nstubs++];

    *s = (struct stub){.u = u,
                       .rip = t->rip,
                       .next = t->next,
                       .dirty = t->dirty,
                       .xdirty = t->xdirty,
                       .ydirty = t->ydirty,
                       .mx = t->mx,
                       .idx = t->cur,
                       .left = t->left};
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

struct opnd tr_gpr(const struct tr *t, unsigned g)
{
    if (t->host_of[g] != HR_NONE)
        return (struct opnd){true, t->host_of[g], {0}};
    return (struct opnd){false, 0, GPR(g)};
}

/* op with ModRM reg field r and r/m operand o. */
void tr_emit(struct tr *t, uint32_t op, unsigned size, unsigned r, struct opnd o)
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
    tr_emit(t, sized(0x8a, size), size, r, tr_gpr(t, gpr));
}

/* Host register r into a guest register at size: as uop_set, if a 32-bit
 * value in r is zero-extended already. */
void tr_put(struct tr *t, unsigned size, unsigned gpr, unsigned r)
{
    tr_emit(t, sized(0x88, size), size == 4 ? 8 : size, r, tr_gpr(t, gpr));
    if (t->host_of[gpr] != HR_NONE)
        t->dirty |= (uint16_t)(1u << gpr);
}

/* An immediate into a guest register at size 1 or 2 (a merge). */
void tr_put_imm(struct tr *t, unsigned size, unsigned gpr, uint32_t v)
{
    tr_emit(t, sized(0xc6, size), size, 0, tr_gpr(t, gpr));
    e_imm(&t->b, size, v);
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

/* Loads the cached registers in mask from emu_cpu. */
static void load(struct tr *t, uint16_t mask)
{
    for (unsigned g = 0; g < 16; g++)
        if (mask & (1u << g))
            mov_load(&t->b, 8, t->host_of[g], GPR(g));
}

/* Loads every cached register from emu_cpu (after C may have changed it). */
static void reload(struct tr *t)
{
    load(t, t->cached);
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

void tr_store_rip(struct tr *t, unsigned field_off, uint64_t v)
{
    mov_imm(&t->b, HR_RAX, v);
    mov_store(&t->b, 8, jm(HR_RBX, (int32_t)field_off), HR_RAX);
}

void tr_merge_flags(struct tr *t, uint64_t mask)
{
    e8(&t->b, 0x0f); /* MOVZX ECX, AH */
    e8(&t->b, 0xb6);
    e8(&t->b, 0xcc);
    /* LAHF's bits 1, 3 and 5 are 1, 0 and 0, as RFLAGS's always are: with
     * every flag of its byte merged, the byte goes in whole. */
    if ((mask & 0xff) == (RFLAGS_STATUS & 0xff))
        mask |= 0x2a;
    else
        alu_ri(&t->b, JA_AND, 4, HR_RCX, (uint32_t)(mask & 0xff));
    if (mask & RFLAGS_OF) {
        e8(&t->b, 0x0f); /* MOVZX EAX, AL */
        e8(&t->b, 0xb6);
        e8(&t->b, 0xc0);
        shift_ri(&t->b, 4, 4, HR_RAX, 11);
        alu_rr(&t->b, JA_OR, 4, HR_RCX, HR_RAX);
    }
    mov_load(&t->b, 8, HR_RAX, CPU(rflags));
    alu_ri(&t->b, JA_AND, 8, HR_RAX, (uint32_t)~mask);
    alu_rr(&t->b, JA_OR, 8, HR_RAX, HR_RCX);
    mov_store(&t->b, 8, CPU(rflags), HR_RAX);
}

void tr_load_flags(struct tr *t, unsigned reg)
{
    mov_load(&t->b, 8, reg, CPU(rflags));
    alu_ri(&t->b, JA_AND, 4, reg, (uint32_t)RFLAGS_STATUS);
    e8(&t->b, (uint8_t)(0x50 + reg)); /* PUSH reg (RAX-RDI) */
    e8(&t->b, 0x9d);                  /* POPFQ */
}

/* Writes pending host flags back to guest RFLAGS. */
void tr_materialize(struct tr *t)
{
    if (!t->pending)
        return;
    flags_image(&t->b);
    tr_merge_flags(t, t->pending);
    t->pending = 0;
}

/* Before an instruction that writes flags mask and reads none: flags still
 * pending that it does not overwrite go to RFLAGS first. */
void tr_flags_overwritten(struct tr *t, uint64_t mask)
{
    if (t->pending & ~mask)
        tr_materialize(t);
    t->pending = 0;
}

/* Before an instruction that writes mask and leaves the other status flags
 * as they are, as the same host instruction does (INC, DEC, rotates), with
 * nothing between that changes the host flags: flags still pending stay in
 * the host flags, under it. Returns the pending flags after it. */
uint64_t tr_flags_partial(const struct tr *t, uint64_t mask)
{
    return t->pending | mask;
}

/* The guest flags each condition code reads. */
uint64_t tr_cond_flags(unsigned cc)
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
unsigned tr_cond(struct tr *t, unsigned cc)
{
    bool neg = cc & 1;

    if (t->pending && (tr_cond_flags(cc) & ~t->pending) == 0)
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
    tr_store_rip(t, offsetof(struct emu_cpu, insn_rip), rip);
    tr_store_rip(t, offsetof(struct emu_cpu, rip), next);
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

/* With emu_cpu up to date and cpu->rip set: goes on with the translation
 * emu_jit_next finds, or leaves. */
static void next_or_leave(struct tr *t)
{
    uint8_t *none;

    mov_rr(&t->b, 8, HR_RDI, HR_RBX);
    mov_imm(&t->b, HR_RAX, (uintptr_t)emu_jit_next);
    call_r(&t->b, HR_RAX);
    test_rr(&t->b, 8, HR_RAX, HR_RAX);
    none = jcc32(&t->b, CC_E);
    jmp_r(&t->b, HR_RAX);
    jit_bind(&t->b, none);
    leave(t);
}

/* Leaves from the translation's main path (cpu->rip set), after an
 * instruction of the generic groups: emu_jit_next decides. */
void tr_exit_indirect(struct tr *t)
{
    write_back(t, t->dirty);
    next_or_leave(t);
}

/* Jumps to the jump cache's translation for the guest RIP in RAX (also in
 * cpu->rip) if it has one for this context, else leaves. RDX: the entry. */
static void jump_cached(struct tr *t)
{
    uint8_t *miss[2], *hit;

    mov_rr(&t->b, 8, HR_RCX, HR_RAX);
    shift_ri(&t->b, 5, 8, HR_RCX, 12);
    alu_rr(&t->b, JA_XOR, 4, HR_RCX, HR_RAX);
    alu_ri(&t->b, JA_AND, 4, HR_RCX, (1u << JC_BITS) - 1);
    shift_ri(&t->b, 4, 4, HR_RCX, JC_ENTRY_SHIFT);
    mov_imm(&t->b, HR_RDX, (uintptr_t)t->j->jc);
    alu_rr(&t->b, JA_ADD, 8, HR_RDX, HR_RCX);
    alu_load(&t->b, JA_CMP, 8, HR_RAX, jm(HR_RDX, 0));
    miss[0] = jcc32(&t->b, CC_NE);
    mov_load(&t->b, 8, HR_RAX, jm(HR_RDX, 8));
    alu_load(&t->b, JA_CMP, 8, HR_RAX, CPU(jit_ctx));
    hit = jcc32(&t->b, CC_E);
    alu_load(&t->b, JA_CMP, 8, HR_RAX, CPU(jit_ctx_g));
    miss[1] = jcc32(&t->b, CC_NE);
    jit_bind(&t->b, hit);
    jmp_m(&t->b, jm(HR_RDX, 16));
    jit_bind(&t->b, miss[0]);
    jit_bind(&t->b, miss[1]);
    next_or_leave(t);
}

/* Leaves for the guest RIP in RAX: cpu->rip, then the jump cache. */
void tr_exit_rax(struct tr *t)
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

/* A branch taken when kicked or wake is set (an event for the block loop). */
static uint8_t *events_check(struct tr *t)
{
    emit_rm(&t->b, 0x83, 2, JA_CMP, CPU(kicked));
    e8(&t->b, 0);
    return jcc32(&t->b, CC_NE);
}

/* A branch taken when jit_budget has run out; else takes the block's
 * instructions from it. As the block loop, which runs a whole block while
 * any of its budget is left, a block may take it below 0. */
static uint8_t *take_budget(struct tr *t)
{
    uint8_t *out;

    emit_rm(&t->b, 0x83, 4, JA_CMP, CPU(jit_budget));
    e8(&t->b, 0);
    out = jcc32(&t->b, CC_LE);
    emit_rm(&t->b, 0x81, 4, JA_SUB, CPU(jit_budget));
    e32(&t->b, t->blk->count);
    return out;
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

/* After the handler of an instruction of the generic groups: a REP string
 * instruction left to be resumed sets RIP back (not to next), and the block
 * ends there. */
static void exit_if_rip_back(struct tr *t, uint64_t next, unsigned left)
{
    uint8_t *on;

    mov_imm(&t->b, HR_RAX, next);
    alu_load(&t->b, JA_CMP, 8, HR_RAX, CPU(rip));
    on = jcc32(&t->b, CC_E);
    refund(t, left);
    leave(t);
    jit_bind(&t->b, on);
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
void tr_loop_back(struct tr *t, uint64_t flags)
{
    uint8_t *out, *out_budget;

    write_back(t, t->dirty);
    out = events_check(t);
    out_budget = take_budget(t);
    jmp_to(&t->b, t->body);
    jit_bind(&t->b, out_budget);
    jit_bind(&t->b, out);
    if (flags)
        tr_merge_flags(t, flags);
    tr_store_rip(t, offsetof(struct emu_cpu, rip), t->start);
    leave(t);
}

void tr_exit_to(struct tr *t, uint64_t target)
{
    if (target == t->start && t->loop_ok && t->body) {
        tr_loop_back(t, 0);
        return;
    }
    if ((target >> 12) == t->page) {
        uint8_t *site;

        write_back(t, t->dirty);
        site = jmp32(&t->b);

        jit_bind(&t->b, site);
        tr_store_rip(t, offsetof(struct emu_cpu, rip), target);
        /* The link may skip the target's generation test when this block
         * took its own (or came by such links, within one pass of the
         * block loop: see tr_loop_back for why that is soon enough) and
         * ran no instruction of the generic groups since, which may
         * serialize. */
        mov_imm(&t->b, HR_RAX,
                site ? (uintptr_t)(t->j->rx + (site - t->j->rw)) | (t->loop_ok ? 0 : JIT_SITE_FULL)
                     : 0);
        jmp_exit(t);
    } else {
        mov_imm(&t->b, HR_RAX, target);
        tr_exit_rax(t);
    }
}

/*
 * Flags parked across a link. A block that ends with all six status flags
 * pending (after CMP, TEST, ADD...) merges them into RFLAGS before it
 * leaves, nine instructions with a load and a store of RFLAGS, although
 * the next block very often overwrites them all before it reads one. A
 * block that does so, with nothing before that can fault or call C
 * (plan_kinds), has a park entry: its entry tests again, whose ways
 * out merge the flags image in AX first, then a jump to its body. A link
 * to it from a parking site skips the merge.
 *
 * A parking site: the merge between two link sites, the first one park_gap
 * bytes before the second; both fall through until linked. emu_jit_link
 * points the second at the target's entry, and the first, when the target
 * has a park entry, at that.
 */
void tr_exit_parked(struct tr *t, uint64_t target)
{
    uint8_t *park, *site;

    if ((target >> 12) != t->page || (target == t->start && t->loop_ok && t->body)) {
        tr_merge_flags(t, RFLAGS_STATUS);
        tr_exit_to(t, target);
        return;
    }
    write_back(t, t->dirty);
    park = jmp32(&t->b);
    jit_bind(&t->b, park);
    tr_merge_flags(t, RFLAGS_STATUS);
    site = jmp32(&t->b);
    if (!site) /* the code cache is full: this translation is dropped */
        return;
    t->j->park_gap = (size_t)(site - park); /* one merge's length: the same every time */
    jit_bind(&t->b, site);
    tr_store_rip(t, offsetof(struct emu_cpu, rip), target);
    mov_imm(&t->b, HR_RAX,
            (uintptr_t)(t->j->rx + (site - t->j->rw)) | JIT_SITE_PARK |
                (t->loop_ok ? 0 : JIT_SITE_FULL));
    jmp_exit(t);
}

void tr_exit_pending(struct tr *t, uint64_t target)
{
    if (t->pending != RFLAGS_STATUS) {
        tr_materialize(t);
        tr_exit_to(t, target);
        return;
    }
    flags_image(&t->b);
    t->pending = 0;
    tr_exit_parked(t, target);
}

/* The block's park entry (see tr_exit_parked), entered with the guest's
 * status flags as an image in AX; loads is where the block loads the
 * registers it holds, after its entry tests. Returns its offset from the
 * block's entry. */
static size_t park_entry(struct tr *t, const uint8_t *entry, uint8_t *loads)
{
    uint8_t *start = t->b.p, *out[3];

    mov_imm64(&t->b, HR_RDX, (uintptr_t)&t->cpu->evm->gen[t->blk->page]);
    alu_mi(&t->b, JA_CMP, 4, jm(HR_RDX, 0), t->blk->gen);
    out[0] = jcc32(&t->b, CC_NE);
    t->j->park_skip = (size_t)(t->b.p - start);
    out[1] = events_check(t);
    out[2] = take_budget(t);
    jmp_to(&t->b, loads);
    for (unsigned i = 0; i < 3; i++)
        jit_bind(&t->b, out[i]);
    tr_merge_flags(t, RFLAGS_STATUS);
    tr_store_rip(t, offsetof(struct emu_cpu, rip), t->start);
    leave(t);
    return (size_t)(start - entry);
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
                 jm(HR_RBX,
                    (int32_t)(offsetof(struct emu_cpu, seg) + u->seg * sizeof(struct cpu_segment) +
                              offsetof(struct cpu_segment, base))));
}

/* Whether the current uop, a load of kind acc, leaves the host flags as
 * they are on its fast path after the probe: a MOV, MOVZX, MOVSX or POP. */
static bool load_keeps_flags(const struct tr *t, enum emu_access acc)
{
    struct kind k = t->kinds[t->cur];

    return acc == ACC_READ &&
           (k.tk == T_MOV || k.tk == T_MOVZX || k.tk == T_MOVSX || k.tk == T_POP_R);
}

/* uop_tlb_hit as code: the host address of size bytes at linear RSI into
 * RDI, or a jump to s. Clobbers RAX, RCX and, unless flags are pending
 * before a load that keeps them, the host flags. */
void tr_probe(struct tr *t, struct stub *s, enum emu_access acc, unsigned size)
{
    int32_t tlb = (int32_t)(acc * sizeof(t->cpu->tlb_cur[0]));
    uint64_t restore = 0;
    bool stacked = false, dead = t->pending && pending_dead(t, acc);

    /* Pending flags go on the stack for the slow path (the image is
     * cheap; the merge into RFLAGS is not): dropped after the fast path if
     * it never needs them again, else back into the host flags there
     * before a load that leaves them alone, so that they stay pending. */
    if (t->pending && (dead || load_keeps_flags(t, acc))) {
        if (!dead)
            restore = t->pending;
        flags_image(&t->b);
        push_r(&t->b, HR_RAX);
        s->stacked = t->pending;
        t->pending = 0;
        stacked = true;
    }
    tr_materialize(t);
    mov_load(&t->b, 8, HR_RDI, CPU(tlb_cur)); /* the current PCID's entries */
    /* emu_tlb_index of the first byte's page, the sum of the page
     * number's two low bytes modulo 256, scaled by the entry's size. */
    mov_rr(&t->b, 4, HR_RCX, HR_RSI);
    shift_ri(&t->b, 5, 4, HR_RCX, 12);
    e8(&t->b, 0x00); /* ADD CL, CH */
    e8(&t->b, 0xe9);
    e8(&t->b, 0x0f); /* MOVZX ECX, CL */
    e8(&t->b, 0xb6);
    e8(&t->b, 0xc9);
    shift_ri(&t->b, 4, 4, HR_RCX, 5);
    /* The tag of the last byte's page at that index: an access that runs
     * into the next page misses, since an entry only ever holds pages of
     * its own index and the next page's is another (emu_tlb_index). */
    lea(&t->b, 8, HR_RAX, jm(HR_RSI, (int32_t)size - 1));
    shift_ri(&t->b, 5, 8, HR_RAX, 12);
    lea(&t->b, 8, HR_RAX, (struct jit_mem){HR_RAX, HR_RAX, 0, (int32_t)t->user + 1});
    alu_load(&t->b, JA_CMP, 8, HR_RAX, (struct jit_mem){HR_RDI, HR_RCX, 0, tlb});
    tr_to_stub(t, s, CC_NE);
    mov_load(&t->b, 8, HR_RDI, (struct jit_mem){HR_RDI, HR_RCX, 0, tlb + 8}); /* addend */
    alu_rr(&t->b, JA_ADD, 8, HR_RDI, HR_RSI);
    if (restore) {
        /* OF from AL (0 or 1: 0x7f + 1 overflows), then SF, ZF, AF, PF
         * and CF from AH. */
        pop_r(&t->b, HR_RAX);
        e8(&t->b, 0x04); /* ADD AL, 0x7f */
        e8(&t->b, 0x7f);
        e8(&t->b, 0x9e); /* SAHF */
        t->pending = restore;
    } else if (stacked) {
        lea(&t->b, 8, HR_RSP, jm(HR_RSP, 8)); /* drops them: no flags change */
    }
}

/* The uop fields tr_ea needs, from a Zydis memory operand; false for one
 * it cannot address. */
bool tr_mem_fields(const ZydisDecodedInstruction *in, const ZydisDecodedOperand *o,
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

bool tr_host_request(const ZydisDecodedInstruction *in, const ZydisDecodedOperand *ops, int mem,
                     ZydisEncoderRequest *req)
{
    if (!ZYAN_SUCCESS(ZydisEncoderDecodedInstructionToEncoderRequest(
            in, ops, in->operand_count_visible, req)))
        return false;
    req->machine_mode = ZYDIS_MACHINE_MODE_LONG_64;
    req->prefixes &= ~(ZyanU64)ZYDIS_ATTRIB_HAS_SEGMENT;
    req->address_size_hint = ZYDIS_ADDRESS_SIZE_HINT_NONE;
    if (mem >= 0) {
        req->operands[mem].mem.base = ZYDIS_REGISTER_RDI;
        req->operands[mem].mem.index = ZYDIS_REGISTER_NONE;
        req->operands[mem].mem.scale = 0;
        req->operands[mem].mem.displacement = 0;
    }
    return true;
}

void tr_code_page_check(struct tr *t, struct stub *s, unsigned scratch)
{
    mov_rr(&t->b, 8, HR_RAX, HR_RDI);
    mov_imm(&t->b, scratch, (uintptr_t)t->cpu->evm->base);
    alu_rr(&t->b, JA_SUB, 8, HR_RAX, scratch);
    shift_ri(&t->b, 5, 8, HR_RAX, 12);
    mov_imm(&t->b, scratch, (uintptr_t)t->cpu->evm->code);
    emit_rm(&t->b, 0x83, 8, JA_CMP, (struct jit_mem){(uint8_t)scratch, HR_RAX, 3, 0});
    e8(&t->b, 0);
    tr_to_stub(t, s, CC_NE);
}

/* After a store of size bytes through RDI: a page with decoded code goes to
 * the stub, which ends the block if the store reached one of its lines. */
void tr_smc_check(struct tr *t, const struct emu_uop *u, unsigned size, uint64_t rip_after)
{
    struct stub *s = tr_stub(t, u);

    s->smc = true;
    s->smc_size = size;
    s->smc_rip = rip_after;
    s->rip_stored = !rip_after;
    tr_code_page_check(t, s, HR_RCX);
    /* Where cpu->rip is stored already, live registers hold the target. */
    s->resume = s->rip_stored ? NULL : t->b.p;
}

/* One uop: a template, or its handler. Returns true if it ended the block
 * (its exits are emitted). */
static bool translate_uop(struct tr *t, const struct emu_uop *u, bool last)
{
    struct kind k = t->kinds[t->cur];
    unsigned first_stub = t->nstubs;
    bool ok;

    switch (k.tk) {
    case T_JCC:
    case T_JMP_REL:
    case T_JMP_R:
    case T_CALL_REL:
    case T_CALL_R:
    case T_RET:
        tr_vec_end(t); /* they exit */
        break;
    default:
        break;
    }
    switch (k.tk) {
    case T_ALU:
        ok = tr_alu(t, u, k);
        break;
    case T_UNARY:
        ok = tr_unary(t, u, k);
        break;
    case T_SHIFT:
        ok = tr_shift(t, u, k);
        break;
    case T_MOV:
        ok = tr_mov(t, u, k);
        break;
    case T_IMUL:
        ok = tr_imul(t, u, k);
        break;
    case T_MOVZX:
    case T_MOVSX:
        ok = tr_extend(t, u, k, k.tk == T_MOVSX);
        break;
    case T_LEA:
        ok = tr_lea(t, u);
        break;
    case T_CMOV:
        ok = tr_cmov(t, u, k);
        break;
    case T_SETCC:
        ok = tr_setcc(t, u, k);
        break;
    case T_XCHG:
        ok = tr_xchg(t, u);
        break;
    case T_NOP:
        ok = true;
        break;
    case T_STI: /* at CPL 0, where it never faults */
        ok = t->cpu->cpl == 0;
        if (ok) {
            uint8_t *none;

            tr_materialize(t);
            alu_mi(&t->b, JA_OR, 8, CPU(rflags), RFLAGS_IF);
            /* As uop_sti: an interrupt that waited for IF sets wake, so
             * that the next block's entry goes to the block loop, which
             * takes it (a store of 1 loses no other thread's news). */
            alu_mi(&t->b, JA_CMP, 1, CPU(irq_blocked), 0);
            none = jcc32(&t->b, CC_E);
            emit_rm(&t->b, 0xc6, 1, 0, CPU(wake)); /* MOV byte, 1 */
            e8(&t->b, 1);
            jit_bind(&t->b, none);
        }
        break;
    case T_PUSH_R:
    case T_PUSH_I:
        ok = tr_push(t, u, k.tk == T_PUSH_I);
        break;
    case T_POP_R:
        ok = tr_pop(t, u);
        break;
    case T_JCC:
        if (tr_jcc(t, u))
            return true;
        ok = false;
        break;
    case T_JMP_REL:
        if (tr_jmp_rel(t, u))
            return true;
        ok = false;
        break;
    case T_JMP_R:
        if (tr_jmp_r(t, u))
            return true;
        ok = false;
        break;
    case T_CALL_REL:
    case T_CALL_R:
        if (tr_call(t, u, k.tk == T_CALL_REL))
            return true;
        ok = false;
        break;
    case T_RET:
        if (tr_ret(t, u, k))
            return true;
        ok = false;
        break;
    default:
        ok = false;
        break;
    }
    if (ok || (u->fn == uop_generic && (tr_sse(t, u) || tr_native(t, u)))) {
        for (unsigned i = first_stub; i < t->nstubs; i++) {
            t->stubs[i].xlive_after = t->xlive;
            t->stubs[i].ylive_after = t->ylive;
            t->stubs[i].mx_after = t->mx;
            t->stubs[i].pending_after = t->pending;
        }
        return false;
    }
    /* No template (or not this form): the handler. It leaves cpu->rip at
     * the next instruction or, for a branch or an instruction of the
     * generic groups (always a block's last), where execution goes on. */
    tr_vec_end(t);
    call_handler(t, u, t->rip, t->next, t->dirty);
    t->dirty = 0;
    if (last) {
        tr_exit_indirect(t);
        return true;
    }
    exit_if_code_changed(t, t->left);
    if (u->fn == uop_generic)
        exit_if_rip_back(t, t->next, t->left);
    return false;
}

static void emit_stub(struct tr *t, struct stub *s)
{
    uint8_t *mx_lost;

    for (unsigned i = 0; i < s->nholes; i++)
        jit_bind(&t->b, s->holes[i]);
    tr_vec_spill(t, s);
    t->pending = 0;
    if (s->smc) {
        /* The store hit a page holding code: emu_code_written says if it
         * reached a line of it (code_changed). */
        write_back(t, s->dirty);
        if (!s->rip_stored)
            tr_store_rip(t, offsetof(struct emu_cpu, rip), s->smc_rip);
        mov_rr(&t->b, 8, HR_RSI, HR_RDI);
        mov_rr(&t->b, 8, HR_RDI, HR_RBX);
        mov_imm(&t->b, HR_RDX, s->smc_size);
        mov_imm(&t->b, HR_RAX, (uintptr_t)emu_jit_code_written);
        call_r(&t->b, HR_RAX);
        if (!s->resume) {
            refund(t, s->left);
            leave(t);
            return;
        }
        reload(t);
    } else {
        if (s->stacked) {
            pop_r(&t->b, HR_RAX);
            tr_merge_flags(t, s->stacked);
        }
        call_handler(t, s->u, s->rip, s->next, s->dirty);
        if (!s->resume) {
            leave(t);
            return;
        }
        if (s->u->fn == uop_generic)
            exit_if_rip_back(t, s->next, s->left);
    }
    exit_if_code_changed(t, s->left);
    mx_lost = tr_vec_resume(t, s);
    if (s->pending_after) {
        tr_load_flags(t, HR_RAX);
    }
    jmp_to(&t->b, s->resume);
    if (mx_lost) {
        /* The rest of the block through the interpreter, so that blocks
         * end where the block loop's would. */
        jit_bind(&t->b, mx_lost);
        mov_rr(&t->b, 8, HR_RDI, HR_RBX);
        mov_imm(&t->b, HR_RSI, (uintptr_t)t->blk);
        mov_imm(&t->b, HR_RDX, s->idx + 1);
        mov_imm(&t->b, HR_RAX, (uintptr_t)emu_block_run);
        call_r(&t->b, HR_RAX);
        mov_imm(&t->b, HR_RCX, s->left);
        alu_rr(&t->b, JA_SUB, 4, HR_RCX, HR_RAX);
        alu_store(&t->b, JA_ADD, 4, CPU(jit_budget), HR_RCX);
        leave(t);
    }
}

/* The guest registers whose first use in the block writes all 64 bits of
 * them without reading them (MOV, MOVZX, MOVSX and LEA into a 32- or
 * 64-bit register): their entry loads would be dead. The scan stops at the
 * first uop whose registers it does not fully know (handlers and native
 * templates may read ones they do not name, such as MUL's RAX). */
static uint16_t written_first(const struct tr *t, const struct emu_block *b)
{
    uint16_t seen = 0, written = 0;

    for (unsigned i = 0; i < b->count; i++) {
        const struct emu_uop *u = &b->uops[i];
        const uint8_t reads[] = {u->rm, u->base, u->index};
        struct kind k = t->kinds[i];
        bool pure = false;

        switch (k.tk) {
        case T_MOV:
            pure = k.form == FORM_RR || k.form == FORM_RI || k.form == FORM_RM;
            break;
        case T_MOVZX:
        case T_MOVSX:
            pure = true;
            break;
        case T_LEA:
            pure = u->seg < SEG_FS;
            break;
        case T_PUSH_R:
        case T_PUSH_I:
        case T_POP_R:
        case T_CALL_REL:
        case T_RET:
            seen |= 1u << GPR_RSP;
            break;
        case T_ALU:
        case T_CMOV:
        case T_SETCC:
        case T_XCHG:
        case T_NOP:
        case T_IMUL:
        case T_UNARY:
        case T_JCC:
        case T_JMP_REL:
            break;
        default:
            return written;
        }
        for (unsigned j = 0; j < 3; j++)
            if (reads[j] < 16)
                seen |= (uint16_t)(1u << reads[j]);
        if (u->reg < 16) {
            if (pure && u->size >= 4 && !(seen & (1u << u->reg)))
                written |= (uint16_t)(1u << u->reg);
            seen |= (uint16_t)(1u << u->reg);
        }
    }
    return written;
}

/* Picks the guest registers the block uses at least twice, most used
 * first, for the host registers that templates leave alone. */
static void plan_cache(struct tr *t, const struct emu_block *b)
{
    /* Not RBP: a byte operand in it (MOVZX r32, r/m8) would need a REX
     * prefix that the encoder only adds for byte-sized operations. */
    static const uint8_t hosts[] = {HR_R12, HR_R13, HR_R14, HR_R15, HR_R8, HR_R9, HR_R10, HR_R11};
    unsigned uses[16] = {0};

    memset(t->host_of, HR_NONE, sizeof(t->host_of));
    for (unsigned i = 0; i < b->count; i++) {
        const struct emu_uop *u = &b->uops[i];
        const uint8_t regs[] = {u->reg, u->rm, u->base, u->index};
        enum tk tk = t->kinds[i].tk;

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
    uint8_t *entry, *out, *budget_out, *loads = NULL;
    size_t park = 0;
    uint64_t rip = cpu->rip;
    bool ended = false;

    pthread_once(&kinds_once, fill_kinds);
    /* Kept between translations: 13 KB of fresh heap per block is a page
     * fault per block under ASan's quarantine. */
    if (!j->tr && !(j->tr = malloc(sizeof(*j->tr))))
        return true; /* no translation this time; the interpreter runs it */
    t = j->tr;
    memset(t, 0, offsetof(struct tr, stubs));
    t->cpu = cpu;
    t->j = j;
    t->b = (struct jit_buf){j->rw + j->used, j->rw + EMU_JIT_CACHE_BYTES, false};
    t->blk = b;
    t->mask = b->rip_mask;
    t->page = rip >> 12;
    t->user = cpu->cpl == 3;
    t->flat64 = cpu->code_bits == 64;
    plan_kinds(t, b);
    entry = t->b.p;
    /* Entry: the page's generation, events, the budget; each test of one
     * length in every block (emu_jit_link and emu_jit_run enter past the
     * first one or two). */
    mov_imm64(&t->b, HR_RAX, (uintptr_t)&cpu->evm->gen[b->page]);
    mov_load(&t->b, 4, HR_RAX, jm(HR_RAX, 0));
    alu_ri(&t->b, JA_CMP, 4, HR_RAX, b->gen);
    {
        uint8_t *stale = jcc32(&t->b, CC_NE), *across = NULL;

        j->link_entry = (size_t)(t->b.p - entry);
        out = events_check(t);
        j->c_entry = (size_t)(t->b.p - entry);

        /* An instruction into the next page: that page's mapping and
         * generation too, here, for the jump cache's and the links'
         * entries alike (emu_jit_cached makes the same test, so that the
         * block loop does not enter this again). */
        if (b->host2) {
            mov_rr(&t->b, 8, HR_RDI, HR_RBX);
            mov_imm(&t->b, HR_RSI, (uintptr_t)b);
            mov_imm(&t->b, HR_RDX, rip);
            mov_imm(&t->b, HR_RAX, (uintptr_t)emu_block_across_ok);
            call_r(&t->b, HR_RAX);
            test_rr(&t->b, 1, HR_RAX, HR_RAX);
            across = jcc32(&t->b, CC_E);
        }
        budget_out = take_budget(t);
        plan_cache(t, b);
        loads = t->b.p;
        /* Not those the block writes before it reads them: until then they
         * are not dirty, so no exit or call into C stores them. */
        load(t, t->cached & ~written_first(t, b));
        t->start = cpu->rip;
        t->body = t->b.full ? NULL : t->b.p;
        t->loop_ok = true;
        for (unsigned i = 0; i < b->count; i++)
            t->loop_ok &= b->uops[i].fn != uop_generic;
        t->flags_dead = t->dead_from[0];
        for (unsigned i = 0; i < b->count && !ended; i++) {
            t->rip = rip;
            t->next = (rip + b->uops[i].len) & t->mask;
            t->cur = i;
            t->left = b->count - i - 1;
            ended = translate_uop(t, &b->uops[i], i + 1 == b->count);
            rip = t->next;
        }
        if (!ended) {
            tr_vec_end(t);
            tr_exit_pending(t, rip);
        }
        jit_bind(&t->b, budget_out);
        jit_bind(&t->b, out);
        jit_bind(&t->b, stale);
        if (across)
            jit_bind(&t->b, across);
    }
    tr_store_rip(t, offsetof(struct emu_cpu, rip), cpu->rip);
    leave(t);
    for (unsigned i = 0; i < t->nstubs; i++)
        emit_stub(t, &t->stubs[i]);
    if (t->flags_dead && !b->host2 && loads)
        park = park_entry(t, entry, loads);
    if (t->b.full || park > UINT16_MAX)
        return false;
    if (t->unfit) {
        b->runs = EMU_JIT_NEVER; /* the interpreter runs it from now on */
        b->jit = NULL;
        return true;
    }
    j->used = ((size_t)(t->b.p - j->rw) + 15) & ~(size_t)15;
    cpu->stats.jit_code_bytes += (uint64_t)(t->b.p - entry);
    b->jit = j->rx + (entry - j->rw);
    b->jit_park = (uint16_t)park;
    b->jit_rip = cpu->rip;
    if (j->perf_map)
        fprintf(j->perf_map, "%lx %lx guest_%llx\n", (unsigned long)(uintptr_t)b->jit,
                (unsigned long)(t->b.p - entry), (unsigned long long)cpu->rip);
    b->jit_cpl = (uint8_t)cpu->cpl;
    return true;
}
