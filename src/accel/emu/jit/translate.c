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

#include "accel/emu/jit/internal.h"

_Static_assert(sizeof(struct tlb_entry) == 32, "the probe scales the TLB index by 32");
_Static_assert(offsetof(struct tlb_entry, vpn) == 0 && offsetof(struct tlb_entry, host) == 8,
               "the probe reads the tag, then the host address");
_Static_assert(offsetof(struct emu_cpu, wake) == offsetof(struct emu_cpu, kicked) + 1,
               "block entries test kicked and wake with one 16-bit compare");

#define CPU(field) jm(HR_RBX, (int32_t)offsetof(struct emu_cpu, field))
#define GPR(r)     jm(HR_RBX, (int32_t)(offsetof(struct emu_cpu, gpr) + 8 * (unsigned)(r)))

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

/* An out-of-line path: the handler for the whole instruction (slow), or
 * the end of a block after a store to code (smc). */
struct stub {
    uint8_t *holes[4];
    unsigned nholes;
    const struct emu_uop *u;
    uint64_t rip, next; /* the instruction's RIP and the next one */
    uint8_t *resume;    /* where its template ends; NULL if it ends the block */
    bool smc;
    bool rip_stored;  /* smc: the instruction stored cpu->rip itself */
    uint64_t smc_rip; /* smc: RIP after the instruction (a branch's target) */
    unsigned left;    /* the block's instructions after this one */
};

struct tr {
    struct emu_cpu *cpu;
    struct emu_jit *j;
    struct jit_buf b;
    const struct emu_block *blk;
    uint64_t rip, next, mask, page;
    unsigned user;     /* the TLB tag's privilege bit for this CPL */
    bool flat64;       /* 64-bit code: memory templates apply */
    uint64_t pending;  /* guest flags now in the host flags (RFLAGS bits) */
    unsigned left;     /* the block's instructions after the one at rip */
    struct stub stubs[BLOCK_MAX * 2 + 2];
    unsigned nstubs;
};

static struct stub *new_stub(struct tr *t, const struct emu_uop *u)
{
    struct stub *s = &t->stubs[t->nstubs++];

    *s = (struct stub){.u = u, .rip = t->rip, .next = t->next, .left = t->left};
    return s;
}

static void to_stub(struct tr *t, struct stub *s, unsigned cc)
{
    uint8_t *hole = cc == 0xff ? jmp32(&t->b) : jcc32(&t->b, cc);

    if (hole && s->nholes < 4)
        s->holes[s->nholes++] = hole;
    else
        t->b.full = true; /* give up on this block rather than mis-link */
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
static void materialize(struct tr *t)
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
        materialize(t);
    t->pending = 0;
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
    materialize(t);
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
static void call_handler(struct tr *t, const struct emu_uop *u, uint64_t rip, uint64_t next)
{
    materialize(t);
    store_rip(t, offsetof(struct emu_cpu, insn_rip), rip);
    store_rip(t, offsetof(struct emu_cpu, rip), next);
    mov_rr(&t->b, 8, HR_RDI, HR_RBX);
    mov_imm(&t->b, HR_RSI, (uintptr_t)u);
    mov_imm(&t->b, HR_RAX, (uintptr_t)u->fn);
    call_r(&t->b, HR_RAX);
}

/* Leaves translated code with cpu->rip already set. */
static void exit_indirect(struct tr *t)
{
    xor_eax(t);
    jmp_exit(t);
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
    exit_indirect(t);
}

/* Leaves for the guest RIP in RAX: cpu->rip, then the jump cache. */
static void exit_rax(struct tr *t)
{
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
    exit_indirect(t);
    jit_bind(&t->b, hole);
}

/* Leaves for guest address target: a link site, patched to the target's
 * translation later, when it is in the block's page. */
static void exit_to(struct tr *t, uint64_t target)
{
    if ((target >> 12) == t->page) {
        uint8_t *site = jmp32(&t->b);

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
static void emit_ea(struct tr *t, const struct emu_uop *u)
{
    bool have = false;

    if ((u->base == UOP_NO_REG && u->index != UOP_NO_REG && u->scale) || u->seg >= SEG_FS)
        materialize(t);

    if (u->base == UOP_RIP_REG) {
        uint64_t a = t->next + (uint64_t)(int64_t)u->disp;

        mov_imm(&t->b, HR_RSI, u->addr_size == 8 ? a : (uint32_t)a);
    } else {
        if (u->base != UOP_NO_REG) {
            mov_load(&t->b, 8, HR_RSI, GPR(u->base));
            have = true;
        }
        if (u->index != UOP_NO_REG) {
            mov_load(&t->b, 8, HR_RAX, GPR(u->index));
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
static void probe(struct tr *t, struct stub *s, enum emu_access acc, unsigned size)
{
    int32_t tlb = (int32_t)(offsetof(struct emu_cpu, tlb) + acc * sizeof(t->cpu->tlb[0]));

    materialize(t);
    mov_rr(&t->b, 8, HR_RAX, HR_RSI);
    shift_ri(&t->b, 5, 8, HR_RAX, 12);
    mov_rr(&t->b, 4, HR_RCX, HR_RAX);
    alu_ri(&t->b, JA_AND, 4, HR_RCX, TLB_SIZE - 1);
    shift_ri(&t->b, 4, 4, HR_RCX, 5);
    lea(&t->b, 8, HR_RAX, (struct jit_mem){HR_RAX, HR_RAX, 0, (int32_t)t->user + 1});
    alu_load(&t->b, JA_CMP, 8, HR_RAX, (struct jit_mem){HR_RBX, HR_RCX, 0, tlb});
    to_stub(t, s, CC_NE);
    mov_rr(&t->b, 4, HR_RAX, HR_RSI);
    alu_ri(&t->b, JA_AND, 4, HR_RAX, 0xfff);
    if (size > 1) {
        alu_ri(&t->b, JA_CMP, 4, HR_RAX, 4096 - size);
        to_stub(t, s, CC_A);
    }
    mov_load(&t->b, 8, HR_RDI, (struct jit_mem){HR_RBX, HR_RCX, 0, tlb + 8});
    test_rr(&t->b, 8, HR_RDI, HR_RDI);
    to_stub(t, s, CC_E);
    alu_rr(&t->b, JA_ADD, 8, HR_RDI, HR_RAX);
}

/* After a store through RDI: a page holding code ends the block (stub). */
static void smc_check(struct tr *t, const struct emu_uop *u, uint64_t rip_after)
{
    struct stub *s = new_stub(t, u);

    s->smc = true;
    s->smc_rip = rip_after;
    mov_rr(&t->b, 8, HR_RAX, HR_RDI);
    mov_imm(&t->b, HR_RCX, (uintptr_t)t->cpu->evm->base);
    alu_rr(&t->b, JA_SUB, 8, HR_RAX, HR_RCX);
    shift_ri(&t->b, 5, 8, HR_RAX, 12);
    mov_imm(&t->b, HR_RCX, (uintptr_t)t->cpu->evm->code);
    emit_rm(&t->b, 0x80, 1, JA_CMP, (struct jit_mem){HR_RCX, HR_RAX, 0, 0});
    e8(&t->b, 0);
    to_stub(t, s, CC_NE);
}

/* A guest register into RAX-like host register r at size (32-bit loads
 * zero-extend; 8/16-bit ones leave the rest of r as it was). */
static void get(struct tr *t, unsigned size, unsigned r, unsigned gpr)
{
    mov_load(&t->b, size, r, GPR(gpr));
}

/* Host register r into a guest register at size: as uop_set, if a 32-bit
 * value in r is zero-extended already. */
static void put(struct tr *t, unsigned size, unsigned gpr, unsigned r)
{
    mov_store(&t->b, size == 4 ? 8 : size, GPR(gpr), r);
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

/* The ALU operation with RAX (the guest's first operand) and memory m or
 * an immediate (m == NULL). */
static void alu_op(struct tr *t, unsigned op, unsigned size, const struct jit_mem *m,
                   uint64_t imm)
{
    if (op == ALU_TEST) {
        if (m) {
            emit_rm(&t->b, sized(0x84, size), size, HR_RAX, *m);
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
        alu_load(&t->b, alu_map[op], size, HR_RAX, *m);
    } else {
        alu_ri(&t->b, alu_map[op], size, HR_RAX, (uint32_t)imm);
    }
}

/* Flags-in for ALU op: ADC and SBB read CF; the rest overwrite STATUS. */
static void alu_flags_in(struct tr *t, unsigned op)
{
    if (op == ALU_ADC || op == ALU_SBB) {
        materialize(t);
        load_cf(t);
    } else {
        flags_overwritten(t, RFLAGS_STATUS);
    }
}

static bool t_alu(struct tr *t, const struct emu_uop *u, struct kind k)
{
    unsigned size = u->size, op = k.op;
    bool writes = op != ALU_CMP && op != ALU_TEST;
    struct jit_mem src;
    struct stub *s;

    if ((k.form == FORM_RI || k.form == FORM_MI) && !fits32(u->imm, size))
        return false;
    switch (k.form) {
    case FORM_RR:
    case FORM_RI:
        /* Flags first: writing pending ones back clobbers RAX. */
        alu_flags_in(t, op);
        get(t, size, HR_RAX, u->reg);
        src = GPR(u->rm);
        alu_op(t, op, size, k.form == FORM_RR ? &src : NULL, u->imm);
        if (writes)
            put(t, size, u->reg, HR_RAX);
        t->pending = RFLAGS_STATUS;
        return true;
    case FORM_RM:
        if (!t->flat64)
            return false;
        s = new_stub(t, u);
        emit_ea(t, u);
        probe(t, s, ACC_READ, size);
        get(t, size, HR_RAX, u->reg);
        src = jm(HR_RDI, 0);
        if (op == ALU_ADC || op == ALU_SBB)
            load_cf(t);
        alu_op(t, op, size, &src, 0);
        if (writes)
            put(t, size, u->reg, HR_RAX);
        t->pending = RFLAGS_STATUS;
        materialize(t);
        s->resume = t->b.p;
        return true;
    default: /* FORM_MR, FORM_MI: memory is the destination */
        if (!t->flat64)
            return false;
        s = new_stub(t, u);
        emit_ea(t, u);
        probe(t, s, writes ? ACC_WRITE : ACC_READ, size);
        if (k.form == FORM_MR)
            get(t, size, HR_RDX, u->reg);
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
        materialize(t);
        if (writes)
            smc_check(t, u, t->next);
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
        if (mask)
            flags_overwritten(t, mask);
        get(t, size, HR_RAX, u->reg);
        if (incdec)
            emit_rr(&t->b, sized(0xfe, size), size, ext[k.op], HR_RAX);
        else
            unary_r(&t->b, ext[k.op], size, HR_RAX);
        put(t, size, u->reg, HR_RAX);
        if (mask)
            t->pending = mask;
        return true;
    }
    if (!t->flat64)
        return false;
    s = new_stub(t, u);
    emit_ea(t, u);
    probe(t, s, ACC_WRITE, size);
    if (incdec)
        incdec_m(&t->b, ext[k.op], size, jm(HR_RDI, 0));
    else
        unary_m(&t->b, ext[k.op], size, jm(HR_RDI, 0));
    t->pending = mask;
    materialize(t);
    smc_check(t, u, t->next);
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
    uint64_t mask = k.op <= SHIFT_ROR ? RFLAGS_CF | RFLAGS_OF : RFLAGS_STATUS;

    if (k.form != SFORM_RI || !c)
        return false;
    flags_overwritten(t, mask);
    get(t, size, HR_RAX, u->reg);
    shift_ri(&t->b, ext[k.op], size, HR_RAX, c);
    put(t, size, u->reg, HR_RAX);
    t->pending = mask;
    return true;
}

static bool t_mov(struct tr *t, const struct emu_uop *u, struct kind k)
{
    unsigned size = u->size;
    struct stub *s;

    switch (k.form) {
    case FORM_RR:
        get(t, size, HR_RAX, u->rm);
        put(t, size, u->reg, HR_RAX);
        return true;
    case FORM_RI:
        if (size >= 4) {
            mov_imm(&t->b, HR_RAX, size == 4 ? (uint32_t)u->imm : u->imm);
            put(t, size, u->reg, HR_RAX);
        } else {
            mov_store_imm(&t->b, size, GPR(u->reg), (uint32_t)u->imm);
        }
        return true;
    case FORM_RM:
        if (!t->flat64)
            return false;
        s = new_stub(t, u);
        emit_ea(t, u);
        probe(t, s, ACC_READ, size);
        mov_load(&t->b, size, HR_RAX, jm(HR_RDI, 0));
        put(t, size, u->reg, HR_RAX);
        s->resume = t->b.p;
        return true;
    default:
        if (!t->flat64 || (k.form == FORM_MI && !fits32(u->imm, size)))
            return false;
        s = new_stub(t, u);
        emit_ea(t, u);
        probe(t, s, ACC_WRITE, size);
        if (k.form == FORM_MR) {
            get(t, size, HR_RAX, u->reg);
            mov_store(&t->b, size, jm(HR_RDI, 0), HR_RAX);
        } else {
            mov_store_imm(&t->b, size, jm(HR_RDI, 0), (uint32_t)u->imm);
        }
        smc_check(t, u, t->next);
        s->resume = t->b.p;
        return true;
    }
}

/* The source operand of a register-or-memory form: a guest register, or
 * memory at RDI after a read probe (which may need a stub). */
static bool rm_source(struct tr *t, const struct emu_uop *u, bool mem, unsigned size,
                      struct stub **s, struct jit_mem *m)
{
    if (!mem) {
        *m = GPR(u->rm);
        return true;
    }
    if (!t->flat64)
        return false;
    *s = new_stub(t, u);
    emit_ea(t, u);
    probe(t, *s, ACC_READ, size);
    *m = jm(HR_RDI, 0);
    return true;
}

static bool t_imul(struct tr *t, const struct emu_uop *u, struct kind k)
{
    unsigned size = u->size;
    struct stub *s = NULL;
    struct jit_mem m;

    if (size < 2 || (k.op && !fits32(u->imm, size)) ||
        !rm_source(t, u, k.form == FORM_RM, size, &s, &m))
        return false;
    /* CF and OF only: SF, ZF, AF and PF stay as they were, as in the
     * interpreter (uop_alu.c's imul_form). */
    flags_overwritten(t, RFLAGS_CF | RFLAGS_OF);
    if (k.op) {
        emit_rm(&t->b, 0x69, size, HR_RAX, m);
        if (size == 2) {
            e8(&t->b, (uint8_t)u->imm);
            e8(&t->b, (uint8_t)(u->imm >> 8));
        } else {
            e32(&t->b, (uint32_t)u->imm);
        }
    } else {
        get(t, size, HR_RAX, u->reg);
        emit_rm(&t->b, 0x0faf, size, HR_RAX, m);
    }
    put(t, size, u->reg, HR_RAX);
    t->pending = RFLAGS_CF | RFLAGS_OF;
    if (s) {
        materialize(t);
        s->resume = t->b.p;
    }
    return true;
}

/* MOVZX, MOVSX, MOVSXD: the source (aux bytes) extended into RAX. */
static bool t_extend(struct tr *t, const struct emu_uop *u, struct kind k, bool sign)
{
    unsigned size = u->size, from = u->aux;
    struct stub *s = NULL;
    struct jit_mem m;

    if (!rm_source(t, u, k.form, from, &s, &m))
        return false;
    if (from == 4 && !sign)
        mov_load(&t->b, 4, HR_RAX, m);
    else if (from == 4)
        emit_rm(&t->b, 0x63, 8, HR_RAX, m);
    else if (from == 8)
        mov_load(&t->b, 8, HR_RAX, m);
    else
        emit_rm(&t->b, (sign ? 0x0fbe : 0x0fb6) + (from == 2), sign ? 8 : 4, HR_RAX, m);
    if (size == 4 && sign)
        mov_rr(&t->b, 4, HR_RAX, HR_RAX);
    put(t, size, u->reg, HR_RAX);
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
    emit_ea(t, u);
    if (u->size == 4)
        mov_rr(&t->b, 4, HR_RSI, HR_RSI);
    put(t, u->size, u->reg, HR_RSI);
    return true;
}

static bool t_cmov(struct tr *t, const struct emu_uop *u, struct kind k)
{
    unsigned size = u->size, hcc;
    struct stub *s = NULL;
    struct jit_mem m;

    if (size < 2 || !rm_source(t, u, k.form, size, &s, &m))
        return false;
    hcc = cond(t, u->aux);
    get(t, size, HR_RDX, u->reg);
    emit_rm(&t->b, 0x0f40u | hcc, size, HR_RDX, m);
    put(t, size, u->reg, HR_RDX);
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
        s = new_stub(t, u);
        emit_ea(t, u);
        probe(t, s, ACC_WRITE, 1);
    }
    hcc = cond(t, u->aux);
    setcc_r(&t->b, hcc, HR_RDX);
    if (s) {
        mov_store(&t->b, 1, jm(HR_RDI, 0), HR_RDX);
        smc_check(t, u, t->next);
        s->resume = t->b.p;
    } else {
        mov_store(&t->b, 1, GPR(u->reg), HR_RDX);
    }
    return true;
}

static bool t_xchg(struct tr *t, const struct emu_uop *u)
{
    get(t, u->size, HR_RAX, u->reg);
    get(t, u->size, HR_RCX, u->rm);
    put(t, u->size, u->reg, HR_RCX);
    put(t, u->size, u->rm, HR_RAX);
    return true;
}

/* RSI = RSP - size, probed for a store of size bytes: a 64-bit push. */
static void push_probe(struct tr *t, struct stub *s, unsigned size)
{
    mov_load(&t->b, 8, HR_RSI, GPR(GPR_RSP));
    lea(&t->b, 8, HR_RSI, jm(HR_RSI, -(int32_t)size));
    probe(t, s, ACC_WRITE, size);
}

static bool t_push(struct tr *t, const struct emu_uop *u, bool imm)
{
    unsigned size = u->size;
    struct stub *s;

    if (!t->flat64 || (size != 8 && size != 2))
        return false;
    s = new_stub(t, u);
    push_probe(t, s, size);
    if (imm)
        mov_imm(&t->b, HR_RAX, u->imm);
    else
        get(t, size, HR_RAX, u->reg);
    mov_store(&t->b, size, jm(HR_RDI, 0), HR_RAX);
    mov_store(&t->b, 8, GPR(GPR_RSP), HR_RSI);
    smc_check(t, u, t->next);
    s->resume = t->b.p;
    return true;
}

static bool t_pop(struct tr *t, const struct emu_uop *u)
{
    unsigned size = u->size;
    struct stub *s;

    if (!t->flat64 || (size != 8 && size != 2))
        return false;
    s = new_stub(t, u);
    mov_load(&t->b, 8, HR_RSI, GPR(GPR_RSP));
    probe(t, s, ACC_READ, size);
    mov_load(&t->b, size, HR_RAX, jm(HR_RDI, 0));
    lea(&t->b, 8, HR_RSI, jm(HR_RSI, (int32_t)size));
    mov_store(&t->b, 8, GPR(GPR_RSP), HR_RSI);
    put(t, size, u->reg, HR_RAX);
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
    to_stub(t, s, CC_NE);
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
        merge_flags(t, HR_RDX, pending);
        t->pending = 0;
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
    materialize(t);
    exit_to(t, target);
    return true;
}

static bool t_jmp_r(struct tr *t, const struct emu_uop *u)
{
    struct stub *s;

    if (!t->flat64 || u->size != 8)
        return false;
    materialize(t);
    s = new_stub(t, u);
    get(t, 8, HR_RAX, u->rm);
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
    materialize(t);
    s = new_stub(t, u);
    if (!rel) {
        get(t, 8, HR_RDX, u->rm);
        canonical_check(t, s, HR_RDX);
    }
    push_probe(t, s, 8);
    mov_imm(&t->b, HR_RAX, t->next);
    mov_store(&t->b, 8, jm(HR_RDI, 0), HR_RAX);
    mov_store(&t->b, 8, GPR(GPR_RSP), HR_RSI);
    if (rel) {
        smc_check(t, u, target);
        exit_to(t, target);
    } else {
        mov_store(&t->b, 8, CPU(rip), HR_RDX);
        smc_check(t, u, 0);
        t->stubs[t->nstubs - 1].rip_stored = true;
        mov_rr(&t->b, 8, HR_RAX, HR_RDX);
        jump_cached(t);
    }
    return true;
}

static bool t_ret(struct tr *t, const struct emu_uop *u, struct kind k)
{
    struct stub *s;

    if (!t->flat64 || u->size != 8)
        return false;
    materialize(t);
    s = new_stub(t, u);
    mov_load(&t->b, 8, HR_RSI, GPR(GPR_RSP));
    probe(t, s, ACC_READ, 8);
    mov_load(&t->b, 8, HR_RAX, jm(HR_RDI, 0));
    canonical_check(t, s, HR_RAX);
    lea(&t->b, 8, HR_RSI, jm(HR_RSI, 8 + (int32_t)(k.op ? u->imm : 0)));
    mov_store(&t->b, 8, GPR(GPR_RSP), HR_RSI);
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
    if (ok)
        return false;
    /* No template (or not this form): the handler. It leaves cpu->rip at
     * the next instruction or, for a branch or an instruction of the
     * generic groups (always a block's last), where execution goes on. */
    call_handler(t, u, t->rip, t->next);
    if (last) {
        exit_indirect(t);
        return true;
    }
    exit_if_code_changed(t, t->left);
    return false;
}

static void emit_stub(struct tr *t, struct stub *s)
{
    for (unsigned i = 0; i < s->nholes; i++)
        jit_bind(&t->b, s->holes[i]);
    if (s->smc) {
        /* The store hit a page holding code: as emu_code_written. */
        mov_rr(&t->b, 8, HR_RSI, HR_RDI);
        mov_rr(&t->b, 8, HR_RDI, HR_RBX);
        mov_imm(&t->b, HR_RAX, (uintptr_t)emu_jit_code_written);
        call_r(&t->b, HR_RAX);
        if (!s->rip_stored)
            store_rip(t, offsetof(struct emu_cpu, rip), s->smc_rip);
        refund(t, s->left);
        exit_indirect(t);
        return;
    }
    t->pending = 0;
    call_handler(t, s->u, s->rip, s->next);
    if (!s->resume) {
        exit_indirect(t);
        return;
    }
    exit_if_code_changed(t, s->left);
    jmp_to(&t->b, s->resume);
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
        for (unsigned i = 0; i < b->count && !ended; i++) {
            t->rip = rip;
            t->next = (rip + b->uops[i].len) & t->mask;
            t->left = b->count - i - 1;
            ended = translate_uop(t, &b->uops[i], i + 1 == b->count);
            rip = t->next;
        }
        if (!ended) {
            materialize(t);
            exit_to(t, rip);
        }
        jit_bind(&t->b, budget_out);
        emit_rm(&t->b, 0x81, 4, JA_ADD, CPU(jit_budget));
        e32(&t->b, b->count);
        jit_bind(&t->b, out);
        jit_bind(&t->b, stale);
    }
    store_rip(t, offsetof(struct emu_cpu, rip), cpu->rip);
    exit_indirect(t);
    for (unsigned i = 0; i < t->nstubs; i++)
        emit_stub(t, &t->stubs[i]);
    if (t->b.full) {
        free(t);
        return false;
    }
    j->used = ((size_t)(t->b.p - j->rw) + 15) & ~(size_t)15;
    b->jit = j->rx + (entry - j->rw);
    b->jit_rip = cpu->rip;
    b->jit_cpl = (uint8_t)cpu->cpl;
    free(t);
    return true;
}
