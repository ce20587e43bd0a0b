/*
 * The templates of near branches: Jcc, JMP, CALL, RET. Each ends the block
 * with its exits (tr_exit_to and friends in translate.c).
 */
#include "accel/emu/jit/tr.h"

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

/* Leaves for target with the pending flags as an image in AX. */
static void exit_with_image(struct tr *t, uint64_t pending, uint64_t target)
{
    if (pending == RFLAGS_STATUS) {
        tr_exit_parked(t, target);
        return;
    }
    tr_merge_flags(t, pending);
    tr_exit_to(t, target);
}

/* Branches end the block: each returns after emitting its exits. */
bool tr_jcc(struct tr *t, const struct emu_uop *u)
{
    uint64_t target = (t->next + u->imm) & emu_mask(u->size);
    uint64_t pending = t->pending;
    uint8_t *taken;

    if (!target_ok(t, target))
        return false;
    if (pending && (tr_cond_flags(u->aux) & ~pending) == 0) {
        /* The flags are live after the branch too: keep a copy to merge on
         * both paths (the image leaves the host flags as they are). */
        flags_image(&t->b);
        taken = jcc32(&t->b, u->aux);
        exit_with_image(t, pending, t->next);
        jit_bind(&t->b, taken);
        t->pending = 0;
        if (target == t->start && t->loop_ok && t->flags_dead && t->body) {
            /* Around the loop the block overwrites them before any use:
             * only a way out needs them in RFLAGS. */
            tr_loop_back(t, pending);
            return true;
        }
        exit_with_image(t, pending, target);
        return true;
    }
    taken = jcc32(&t->b, tr_cond(t, u->aux));
    tr_exit_to(t, t->next);
    jit_bind(&t->b, taken);
    tr_exit_to(t, target);
    return true;
}

bool tr_jmp_rel(struct tr *t, const struct emu_uop *u)
{
    uint64_t target = (t->next + u->imm) & emu_mask(u->size);

    if (!target_ok(t, target))
        return false;
    tr_exit_pending(t, target);
    return true;
}

bool tr_jmp_r(struct tr *t, const struct emu_uop *u)
{
    struct stub *s;

    if (!t->flat64 || u->size != 8)
        return false;
    tr_materialize(t);
    s = tr_stub(t, u);
    tr_get(t, 8, HR_RAX, u->rm);
    canonical_check(t, s, HR_RAX);
    tr_exit_rax(t);
    return true;
}

bool tr_call(struct tr *t, const struct emu_uop *u, bool rel)
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
    tr_push_probe(t, s, 8);
    mov_imm(&t->b, HR_RAX, t->next);
    mov_store(&t->b, 8, jm(HR_RDI, 0), HR_RAX);
    tr_put(t, 8, GPR_RSP, HR_RSI);
    if (rel) {
        tr_smc_check(t, u, 8, target);
        tr_exit_to(t, target);
    } else {
        mov_store(&t->b, 8, CPU(rip), HR_RDX);
        tr_smc_check(t, u, 8, 0);
        mov_rr(&t->b, 8, HR_RAX, HR_RDX);
        tr_exit_rax(t);
    }
    return true;
}

bool tr_ret(struct tr *t, const struct emu_uop *u, struct kind k)
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
    tr_exit_rax(t);
    return true;
}
