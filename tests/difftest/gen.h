/*
 * The case generator's internals (gen.c), shared with the VEX forms'
 * generator (vex.c).
 */
#ifndef VX86_TESTS_DIFFTEST_GEN_H
#define VX86_TESTS_DIFFTEST_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "difftest.h"
#include "forms.h"

/* splitmix64: small, and every (seed, case) pair gets its own stream. */
struct rng {
    uint64_t s;
};

uint64_t rng_next(struct rng *r);
uint64_t rng_below(struct rng *r, uint64_t n);
bool rng_chance(struct rng *r, int percent);
/* Random bits, often with an edge value in the low 1, 2, 4 or 8 bytes. */
uint64_t rng_value(struct rng *r);

/* The case being built. */
struct gen {
    struct dt_case *c;
    struct rng *r;
    const struct form *f;
    bool m32;  /* 32-bit or 16-bit code: 8 GPRs, no REX, no RIP-relative */
    bool m16;  /* 16-bit code: 0x66 and 0x67 select 32 bits; offsets from DT_DATA */
    int nregs; /* 16 or 8 */
    uint8_t legacy[8];
    int nlegacy;
    uint8_t rex;  /* W R X B bits */
    bool rex_any; /* emit a REX byte even with no bits */
    bool a32;     /* 0x67: 32-bit addressing in 64-bit and 16-bit code, 16-bit in 32-bit */
    bool gs;      /* a GS override: addresses are offsets from gs_base */
    uint64_t gs_base;
    int reg;       /* ModRM.reg or +r register; -1 for neither */
    bool mem;      /* the r/m operand is memory */
    int rm;        /* ... else this register */
    uint64_t addr; /* linear address of the memory operand */
    bool has_modrm, has_sib, riprel;
    uint8_t modrm, sib;
    int disp_size;
    uint32_t disp;
    uint64_t imm;
    int imm_size;
    /* VEX forms (vex.c): VEX.vvvv (not inverted), VEX.L, VEX.W */
    uint8_t vvvv, vl, vw;
    bool vex2; /* the 2-byte form, where it can say everything */
};

/* A register of the mode, not in avoid (a bit per register). */
int gen_pick_reg(const struct gen *g, uint16_t avoid);
void gen_add_prefix(struct gen *g, uint8_t p);
/* The effective address (offset in its segment) that reaches linear addr. */
uint64_t gen_offset_of(const struct gen *g, uint64_t addr);
/* A ModRM/SIB encoding whose effective address reaches linear addr, with
 * the base and index registers set to match (not those in avoid). */
void gen_pick_address(struct gen *g, uint64_t addr, uint16_t avoid);
/* A segment prefix, or none (GS with its base on memory operands). */
void gen_pick_segment(struct gen *g, bool memory);
/* Lays out the bytes (a VEX prefix for a VEX form); false if they exceed
 * the 15-byte limit. */
bool gen_emit(struct gen *g);

/* vex.c: the VEX prefix of g at b; returns its length. */
int vex_prefix(const struct gen *g, uint8_t *b);
/* vex.c: the VEX forms' inputs and encoding after gen.c's common set-up
 * (GPRs, flags, data page); false to try again. */
bool vex_build(struct gen *g);

#endif
