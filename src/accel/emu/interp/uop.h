/*
 * The interpreter's fast path: instructions pre-decoded into compact "uops"
 * (a handler and the operands it needs) and grouped into blocks of straight-
 * line code (block.c). The common integer instructions of 32- and 64-bit
 * code get a handler of their own (uop_compile.c, uop_move.c, uop_alu.c);
 * every other instruction keeps its full Zydis decode and runs through the
 * generic groups of exec.c, and ends its block, since it may change the mode,
 * the paging or the code itself.
 *
 * Handlers follow the engine's fault rule (cpu.h): every access that can
 * fault comes before the first change to architectural state. The block loop
 * has already set cpu->insn_rip to the instruction and cpu->rip to the next
 * one; a branch handler overwrites cpu->rip.
 */
#ifndef VX86_ACCEL_EMU_UOP_H
#define VX86_ACCEL_EMU_UOP_H

#include <string.h>

#include "accel/emu/interp/interp.h"

struct emu_uop;
typedef void emu_uop_fn(struct emu_cpu *cpu, const struct emu_uop *u);

#define UOP_NO_REG  0xff /* base or index absent */
#define UOP_RIP_REG 0x10 /* RIP-relative base */

struct emu_uop {
    emu_uop_fn *fn;
    /* Immediate (masked to the operand size), branch displacement, or, for
     * the generic handler, the struct emu_decoded it runs. */
    uint64_t imm;
    int32_t disp;      /* memory operand displacement */
    uint8_t len;       /* instruction length */
    uint8_t size;      /* operand size in bytes */
    uint8_t reg;       /* register operand (the destination unless it is memory) */
    uint8_t rm;        /* second register operand */
    uint8_t base;      /* memory operand: GPR, UOP_RIP_REG or UOP_NO_REG */
    uint8_t index;     /* GPR or UOP_NO_REG */
    uint8_t scale;     /* log2 of the index scale */
    uint8_t seg;       /* SEG_* of the memory operand */
    uint8_t addr_size; /* address size in bytes */
    uint8_t aux;       /* condition code, or the source size of MOVZX/MOVSX */
};

/* What emu_uop_compile made of an instruction. */
enum uop_kind {
    UOP_GENERIC,  /* no handler of its own: the generic groups run it; ends the block */
    UOP_STRAIGHT, /* a handler; the block goes on after it */
    UOP_BRANCH,   /* a handler that may change RIP: ends the block */
};

/* Fills *u (all but len) for the decoded instruction in code_bits-bit code. */
enum uop_kind emu_uop_compile(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
                              int code_bits, struct emu_uop *u);

/* Whether a block may go on after this UOP_GENERIC instruction: one that
 * changes no mode, privilege, mapping, interrupt or debug state and does
 * not branch (its generic handler then leaves RIP at the next instruction,
 * but for a REP string instruction it interrupts, which ends the block). */
bool emu_uop_generic_continues(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops);

/* block.c: runs a UOP_GENERIC instruction's decode through exec.c. */
emu_uop_fn uop_generic;

/* uop_move.c and uop_alu.c: the handler tables emu_uop_compile picks from. */
enum uop_form { FORM_RR, FORM_RI, FORM_RM, FORM_MR, FORM_MI, FORM_COUNT };
enum uop_alu {
    ALU_ADD,
    ALU_OR,
    ALU_ADC,
    ALU_SBB,
    ALU_AND,
    ALU_SUB,
    ALU_XOR,
    ALU_CMP,
    ALU_TEST,
    ALU_COUNT
};
enum uop_unary { UNARY_INC, UNARY_DEC, UNARY_NEG, UNARY_NOT, UNARY_COUNT };
enum uop_shift { SHIFT_ROL, SHIFT_ROR, SHIFT_SHL, SHIFT_SHR, SHIFT_SAR, SHIFT_COUNT };
/* Shift forms: register or memory destination, count immediate or CL. */
enum uop_shift_form { SFORM_RI, SFORM_RC, SFORM_MI, SFORM_MC, SFORM_COUNT };

extern emu_uop_fn *const uop_alu_fns[ALU_COUNT][FORM_COUNT];
extern emu_uop_fn *const uop_unary_fns[UNARY_COUNT][2]; /* [op][0: register, 1: memory] */
extern emu_uop_fn *const uop_shift_fns[SHIFT_COUNT][SFORM_COUNT];
extern emu_uop_fn *const uop_mov_fns[FORM_COUNT];
emu_uop_fn uop_imul_rr, uop_imul_rm, uop_imul_rri, uop_imul_rmi;
emu_uop_fn uop_movzx_r, uop_movzx_m, uop_movsx_r, uop_movsx_m, uop_lea;
emu_uop_fn uop_cmov_r, uop_cmov_m, uop_setcc_r, uop_setcc_m, uop_xchg_rr, uop_nop;
emu_uop_fn uop_cdqe, uop_cwde, uop_cdq, uop_cqo, uop_rdtsc, uop_rdtscp;
emu_uop_fn uop_push_r, uop_push_i, uop_pop_r;
emu_uop_fn uop_jmp_rel, uop_jmp_r, uop_jmp_m, uop_jcc, uop_call_rel, uop_call_r, uop_call_m;
emu_uop_fn uop_ret, uop_ret_imm;
/* system.c: STI with the instruction after it in the same block, which
 * ends there (block.c). Blocks run whole between two looks at events, so
 * that instruction runs before any interrupt without an interrupt shadow,
 * which would hold interrupts back for one more. */
emu_uop_fn uop_sti;

/* block.c */
#define BLOCK_MAX 32

/*
 * A link remembers the block that followed this one at rip, so the next time
 * the lookup (a TLB walk and a hash) is skipped. It holds while the vCPU's
 * map_epoch is unchanged (no TLB flush, mode change or cache flush since),
 * at the CPL it was made at (epoch: map_epoch << 2 | CPL), and the block's
 * page has not been written.
 */
struct block_link {
    uint64_t rip, epoch;
    struct emu_block *to;
};

struct emu_block {
    uint64_t key; /* as the decode cache's: host address and decoder mode */
    uint32_t gen, page;
    uint16_t count;
    bool linkable; /* ends with a handler of its own, not a generic instruction */
    uint8_t next_link;
    uint64_t rip_mask;
    struct block_link link[2];
    /* The translation (jit/jit.h): host code for RIP jit_rip at CPL
     * jit_cpl, NULL if none; runs counts how often the block loop ran the
     * block, for the translator's hotness threshold. */
    void *jit;
    uint64_t jit_rip;
    uint8_t jit_cpl;
    uint16_t runs;
    /* Offset in jit of its park entry (translate.c), 0 if none. */
    uint16_t jit_park;
    /* One instruction that runs into the next page (block.c's build): that
     * page's host address when it was decoded, its RAM page and generation.
     * host2 NULL: none. */
    const uint8_t *host2;
    uint32_t page2, gen2;
    struct emu_uop uops[];
};

struct emu_block_cache;
int emu_blocks_init(struct emu_cpu *cpu);
void emu_blocks_free(struct emu_cpu *cpu);
/* Runs blocks from CS:RIP until about budget instructions ran, the vCPU
 * halts, or an event is due; returns how many ran. */
unsigned emu_run_blocks(struct emu_cpu *cpu, unsigned budget);

/* exec.c: runs the decoded instruction in cpu->decoded (RIP already
 * past it) through the generic groups. */
void emu_exec_decoded(struct emu_cpu *cpu);
/* One instruction through the decode cache and the generic groups. */
void emu_step(struct emu_cpu *cpu);

/* Operand helpers for the handlers. */

static inline uint64_t uop_get(const struct emu_cpu *cpu, unsigned r, unsigned size)
{
    return cpu->gpr[r] & emu_mask(size);
}

/* Register write at size: 32-bit writes zero-extend, 8/16-bit ones merge. */
static inline void uop_set(struct emu_cpu *cpu, unsigned r, uint64_t v, unsigned size)
{
    switch (size) {
    case 8:
        cpu->gpr[r] = v;
        break;
    case 4:
        cpu->gpr[r] = (uint32_t)v;
        break;
    case 2:
        cpu->gpr[r] = (cpu->gpr[r] & ~0xffffULL) | (v & 0xffff);
        break;
    default:
        cpu->gpr[r] = (cpu->gpr[r] & ~0xffULL) | (v & 0xff);
        break;
    }
}

/* Effective address (offset in the segment) of the memory operand. */
static inline uint64_t uop_ea(const struct emu_cpu *cpu, const struct emu_uop *u)
{
    uint64_t a = (uint64_t)(int64_t)u->disp;

    if (u->base == UOP_RIP_REG)
        a += cpu->rip;
    else if (u->base != UOP_NO_REG)
        a += cpu->gpr[u->base];
    if (u->index != UOP_NO_REG)
        a += cpu->gpr[u->index] << u->scale;
    return u->addr_size == 8 ? a : a & 0xffffffff;
}

/* Host address of size bytes at linear when the TLB holds it for acc and
 * they lie in one page of RAM; NULL sends the access to the full path. */
static inline uint8_t *uop_tlb_hit(struct emu_cpu *cpu, uint64_t linear, enum emu_access acc,
                                   unsigned size)
{
    uint64_t vpn = linear >> 12;
    const struct tlb_entry *e = &cpu->tlb_cur[acc][emu_tlb_index(vpn)];

    if (e->vpn != emu_tlb_tag(linear, cpu->cpl) || (linear & 0xfff) > 4096 - size)
        return NULL;
    return emu_tlb_host(e, linear);
}

static inline uint64_t uop_load(const uint8_t *p, unsigned size)
{
    uint64_t v8;
    uint32_t v4;
    uint16_t v2;

    switch (size) {
    case 8:
        memcpy(&v8, p, 8);
        return v8;
    case 4:
        memcpy(&v4, p, 4);
        return v4;
    case 2:
        memcpy(&v2, p, 2);
        return v2;
    default:
        return *p;
    }
}

static inline void uop_store(uint8_t *p, uint64_t v, unsigned size)
{
    uint32_t v4 = (uint32_t)v;
    uint16_t v2 = (uint16_t)v;

    switch (size) {
    case 8:
        memcpy(p, &v, 8);
        break;
    case 4:
        memcpy(p, &v4, 4);
        break;
    case 2:
        memcpy(p, &v2, 2);
        break;
    default:
        *p = (uint8_t)v;
        break;
    }
}

/* In 64-bit mode only FS and GS have a base, and the TLB never holds a
 * non-canonical page: a hit needs no segment or canonical check. Other
 * modes take the full path with its limit and rights checks. */
static inline uint64_t uop_read(struct emu_cpu *cpu, int seg, uint64_t off, unsigned size)
{
    if (cpu->code_bits == 64) {
        uint8_t *p =
            uop_tlb_hit(cpu, off + (seg >= SEG_FS ? cpu->seg[seg].base : 0), ACC_READ, size);

        if (p)
            return uop_load(p, size);
    }
    return emu_read(cpu, seg, off, size);
}

static inline void uop_write(struct emu_cpu *cpu, int seg, uint64_t off, uint64_t v, unsigned size)
{
    if (cpu->code_bits == 64) {
        uint8_t *p =
            uop_tlb_hit(cpu, off + (seg >= SEG_FS ? cpu->seg[seg].base : 0), ACC_WRITE, size);

        if (p) {
            uop_store(p, v, size);
            emu_code_written(cpu, p, size);
            return;
        }
    }
    emu_write(cpu, seg, off, v, size);
}

/* Condition code cc (the low nibble of Jcc/SETcc/CMOVcc) on rflags. */
extern uint32_t uop_cond_table[16];
static inline bool uop_cond(uint64_t f, unsigned cc)
{
    unsigned i = (unsigned)((f & 1) | ((f >> 1) & 2) | ((f >> 4) & 0xc) | ((f >> 7) & 0x10));

    return (uop_cond_table[cc] >> i) & 1;
}

static inline void uop_flags(struct emu_cpu *cpu, uint64_t host, uint64_t mask)
{
    cpu->rflags = (cpu->rflags & ~mask) | (host & mask);
}

#endif
