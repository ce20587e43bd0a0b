/*
 * The translator's working state for one block, shared by translate.c
 * (the integer templates, exits, the block's frame) and sse.c (SSE
 * templates).
 */
#ifndef VX86_ACCEL_EMU_JIT_TR_H
#define VX86_ACCEL_EMU_JIT_TR_H

#include "accel/emu/jit/internal.h"

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
    T_STI,
};

struct kind {
    emu_uop_fn *fn;
    uint8_t tk, op, form; /* form: enum uop_form, uop_shift_form, or 1 for a memory operand */
};

#define CPU(field) jm(HR_RBX, (int32_t)offsetof(struct emu_cpu, field))
#define GPR(r)     jm(HR_RBX, (int32_t)(offsetof(struct emu_cpu, gpr) + 8 * (unsigned)(r)))

/* An out-of-line path: the handler for the whole instruction (slow), or
 * the end of a block after a store to code (smc). */
struct stub {
    uint8_t *holes[12];
    unsigned nholes;
    const struct emu_uop *u;
    uint64_t rip, next; /* the instruction's RIP and the next one */
    uint8_t *resume;    /* where its template ends; NULL if it ends the block */
    uint16_t dirty;     /* the translation's dirty registers where it branches here */
    uint64_t stacked;   /* flags its probe pushed (PUSHF) before branching here */
    uint16_t xdirty;    /* guest XMM registers newer in host XMM registers there */
    uint16_t ydirty;    /* the same for the upper halves of YMM registers */
    bool mx;            /* the guest's MXCSR was in the host's there (tr->mx) */
    /* What the main path holds where the stub resumes: guest XMM registers
     * in host ones, the guest's MXCSR in the host's, guest flags in the
     * host flags. */
    uint16_t xlive_after, ylive_after;
    bool mx_after;
    uint64_t pending_after;
    bool smc;
    bool rip_stored;    /* smc: the instruction stored cpu->rip itself */
    unsigned smc_size;  /* smc: the bytes stored */
    uint64_t smc_rip;   /* smc: RIP after the instruction (a branch's target) */
    unsigned idx;     /* the instruction's index in the block */
    unsigned left;    /* the block's instructions after this one */
};

struct tr {
    struct emu_cpu *cpu;
    struct emu_jit *j;
    struct jit_buf b;
    const struct emu_block *blk;
    uint64_t rip, next, mask, page;
    unsigned user;    /* the TLB tag's privilege bit for this CPL */
    bool flat64;      /* 64-bit code: memory templates apply */
    uint64_t pending; /* guest flags now in the host flags (RFLAGS bits) */
    /* Guest registers held in host registers for the whole block: loaded
     * after the entry checks, written back (the dirty ones) before every
     * exit and call into C, loaded again after each call. */
    uint8_t host_of[16]; /* host register of a guest GPR, or HR_NONE */
    uint16_t cached, dirty;
    unsigned nstubs;
    bool unfit;      /* something the translator cannot express: no translation */
    uint64_t start;  /* the block's RIP */
    uint8_t *body;   /* its first instruction's code, after the entry's loads */
    bool loop_ok;    /* a branch to start may skip the entry's page check */
    unsigned cur;    /* the uop being translated */
    unsigned left;   /* the block's instructions after it */
    bool flags_dead; /* the block overwrites the status flags before reading them,
                      * with nothing that can fault or call C before */
    /* SSE state (sse.c), from one call into C to the next: guest XMMn is
     * in host XMMn for n in xlive (newer there for n in xdirty), the upper
     * half of guest YMMn in host YMMn's for n in ylive (ydirty); the
     * guest's MXCSR is in the host's (mx); CR0/CR4 allow SSE (simd_ok),
     * and with XCR0 the VEX instructions (avx_ok). */
    uint16_t xlive, xdirty, ylive, ydirty;
    bool mx, simd_ok, avx_ok;
    /* Each uop's kind; whether the status flags before uop i are dead
     * (translate.c's plan_kinds). */
    struct kind kinds[BLOCK_MAX];
    bool dead_from[BLOCK_MAX + 1];
    /* Last: not cleared for each block (tr_stub fills each one it hands
     * out), since 13 KB of stores per translation showed in profiles. */
    struct stub stubs[BLOCK_MAX * 2 + 2];
};

/* A guest register operand: its host register, or its slot in emu_cpu. */
struct opnd {
    bool reg;
    uint8_t r;
    struct jit_mem m;
};

/* A stub for u's slow path (its handler) at the current instruction. */
struct stub *tr_stub(struct tr *t, const struct emu_uop *u);
/* A jump to s (cc 0xff: always). */
void tr_to_stub(struct tr *t, struct stub *s, unsigned cc);
/* The guest's status flags from RFLAGS into the host's (DF, TF, AC clear),
 * through reg (one of RAX-RDI), which it clobbers. */
void tr_load_flags(struct tr *t, unsigned reg);
/* Writes pending host flags back to guest RFLAGS. */
void tr_materialize(struct tr *t);
/* The uop fields tr_ea needs, from a Zydis memory operand of a generic
 * instruction; false for one it cannot address. */
bool tr_mem_fields(const ZydisDecodedInstruction *in, const ZydisDecodedOperand *o,
                   struct emu_uop *m);
/* Zydis's request to encode a generic instruction as the host's: 64-bit
 * mode, no segment prefix, its memory operand (index mem; -1: none) as
 * [RDI]; the caller puts its register operands in place. False if Zydis
 * cannot express it. */
bool tr_host_request(const ZydisDecodedInstruction *in, const ZydisDecodedOperand *ops, int mem,
                     ZydisEncoderRequest *req);
/* u's memory operand's linear address into RSI (64-bit code). */
void tr_ea(struct tr *t, const struct emu_uop *u);
/* The host address of size bytes at linear RSI into RDI for acc, or a jump
 * to s. Clobbers RAX, RCX and the host flags. */
void tr_probe(struct tr *t, struct stub *s, enum emu_access acc, unsigned size);
/* A jump to s if the RAM page of host address RDI holds decoded code (any
 * line of it). Clobbers RAX, scratch and the host flags. */
void tr_code_page_check(struct tr *t, struct stub *s, unsigned scratch);
/* After a store of size bytes through RDI: one that reaches a line of
 * decoded code ends the block, with RIP rip_after (a branch's target; 0:
 * the instruction stored cpu->rip itself, and the block ends there anyway). */
void tr_smc_check(struct tr *t, const struct emu_uop *u, unsigned size, uint64_t rip_after);
/* A guest register into host register r at size, and back. */
void tr_get(struct tr *t, unsigned size, unsigned r, unsigned gpr);
void tr_put(struct tr *t, unsigned size, unsigned gpr, unsigned r);

/* translate.c, for the templates: */
/* Guest register g as an operand: its host register or its slot. */
struct opnd tr_gpr(const struct tr *t, unsigned g);
/* op with ModRM reg field r and r/m operand o. */
void tr_emit(struct tr *t, uint32_t op, unsigned size, unsigned r, struct opnd o);
/* An immediate into a guest register at size 1 or 2 (a merge). */
void tr_put_imm(struct tr *t, unsigned size, unsigned gpr, uint32_t v);
/* Before an instruction that writes flags mask and reads none. */
void tr_flags_overwritten(struct tr *t, uint64_t mask);
/* The pending flags after an instruction that writes mask and keeps the
 * others, as the same host instruction does (INC, DEC, rotates). */
uint64_t tr_flags_partial(const struct tr *t, uint64_t mask);
/* Whether the block overwrites the status flags after the current
 * instruction before anything reads them, can fault or calls C. */
bool tr_flags_dead_after(const struct tr *t);
/* The guest flags condition code cc reads. */
uint64_t tr_cond_flags(unsigned cc);
/* Host flags set so that the returned host condition is guest cc. */
unsigned tr_cond(struct tr *t, unsigned cc);
/* Merges the flags image in RAX (flags_image) into RFLAGS for mask.
 * Clobbers RAX, RCX and the host flags. */
void tr_merge_flags(struct tr *t, uint64_t mask);
/* Stores v into the emu_cpu field at field_off. */
void tr_store_rip(struct tr *t, unsigned field_off, uint64_t v);
/* Exits: to a guest address (linked or through the jump cache), to the
 * RIP in RAX, with cpu->rip set, and back to the block's start (a loop;
 * RAX holds a flags_image of flags to merge on the way out). */
void tr_exit_to(struct tr *t, uint64_t target);
void tr_exit_rax(struct tr *t);
void tr_exit_indirect(struct tr *t);
void tr_loop_back(struct tr *t, uint64_t flags);
/* tr_exit_to with all six status flags pending, as an image in RAX
 * (flags_image): to a block of the same page without their merge into
 * RFLAGS where that block overwrites them first (translate.c says how). */
void tr_exit_parked(struct tr *t, uint64_t target);
/* tr_exit_to with the flags still pending: parked (tr_exit_parked) where
 * all six are, else merged first. */
void tr_exit_pending(struct tr *t, uint64_t target);

/* ops.c: RSI = RSP - size, probed for a store of size bytes (a push). */
void tr_push_probe(struct tr *t, struct stub *s, unsigned size);
/* ops.c: a pop of size bytes from the address in guest register from
 * (RSP for POP, RBP for LEAVE): RSP = from + size, then reg = the value. */
void tr_pop_from(struct tr *t, struct stub *s, unsigned from, unsigned size, unsigned reg);

/* ops.c and branch.c: the templates; false when u's form has none. */
bool tr_alu(struct tr *t, const struct emu_uop *u, struct kind k);
bool tr_unary(struct tr *t, const struct emu_uop *u, struct kind k);
bool tr_shift(struct tr *t, const struct emu_uop *u, struct kind k);
bool tr_mov(struct tr *t, const struct emu_uop *u, struct kind k);
bool tr_imul(struct tr *t, const struct emu_uop *u, struct kind k);
bool tr_extend(struct tr *t, const struct emu_uop *u, struct kind k, bool sign);
bool tr_lea(struct tr *t, const struct emu_uop *u);
bool tr_cmov(struct tr *t, const struct emu_uop *u, struct kind k);
bool tr_setcc(struct tr *t, const struct emu_uop *u, struct kind k);
bool tr_xchg(struct tr *t, const struct emu_uop *u);
bool tr_push(struct tr *t, const struct emu_uop *u, bool imm);
bool tr_pop(struct tr *t, const struct emu_uop *u);
bool tr_jcc(struct tr *t, const struct emu_uop *u);
bool tr_jmp_rel(struct tr *t, const struct emu_uop *u);
bool tr_jmp_r(struct tr *t, const struct emu_uop *u);
bool tr_call(struct tr *t, const struct emu_uop *u, bool rel);
bool tr_ret(struct tr *t, const struct emu_uop *u, struct kind k);

/* native.c: a template for u, a generic integer instruction, if it has one. */
bool tr_native(struct tr *t, const struct emu_uop *u);
/* sse.c: a template for u, a generic SSE instruction, if it has one. */
bool tr_sse(struct tr *t, const struct emu_uop *u);
/* sse.c: before a call into C or an exit on the main path: the guest's
 * XMM registers and MXCSR back to emu_cpu, the host's MXCSR back. */
void tr_vec_end(struct tr *t);
/* sse.c, for a stub: the same for the state s saw at its branches; and,
 * once its handler has run, the main path's state after s's template
 * again. tr_vec_resume returns a branch, or NULL, taken when the guest's
 * MXCSR no longer allows that state (the stub leaves the block then). */
void tr_vec_spill(struct tr *t, const struct stub *s);
uint8_t *tr_vec_resume(struct tr *t, const struct stub *s);

#endif
