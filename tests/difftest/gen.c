/*
 * The generator of random cases. A case picks registers, ModRM/SIB
 * addressing (every 64-bit and 32-bit addressing mode, RIP-relative,
 * 16-bit addressing with 0x67 in 32-bit code), optional prefixes (LOCK,
 * segment overrides, GS with its base, REX with no bits set, which turns
 * AH..BH into SPL..DIL) and random operands. A memory operand always lands
 * in the data page: the registers of its address are set to match. Forms
 * with a kind get inputs that keep them from faulting, or make them fault
 * on purpose (#DE, #BR, #OF, misaligned CMPXCHG16B, LOCK on a register),
 * and their SDM-undefined flags and results masked.
 */
#include <cpuid.h>
#include <string.h>

#include "difftest.h"
#include "forms.h"
#include "gen.h"

uint64_t rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
    return rng_next(r) % n;
}

bool rng_chance(struct rng *r, int percent)
{
    return rng_below(r, 100) < (uint64_t)percent;
}

static uint64_t mask_of(unsigned size)
{
    return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

/* Random bits, often with an edge value in the low 1, 2, 4 or 8 bytes. */
uint64_t rng_value(struct rng *r)
{
    uint64_t v = rng_next(r), m = mask_of(1u << rng_below(r, 4)), low;

    switch (rng_below(r, 10)) {
    case 0:
        low = 0;
        break;
    case 1:
        low = m;
        break;
    case 2:
        low = 1;
        break;
    case 3:
        low = m >> 1; /* largest positive */
        break;
    case 4:
        low = (m >> 1) + 1; /* most negative */
        break;
    case 5:
        low = rng_below(r, 64);
        break;
    case 6:
        low = 1ULL << rng_below(r, 64);
        break;
    default:
        return v;
    }
    return (v & ~m) | (low & m);
}

static bool has_rex(const struct gen *g)
{
    return g->rex || g->rex_any;
}

/* A register operand of size bytes: AH..BH are 4..7 without a REX prefix. */
static uint64_t reg_get(const struct gen *g, int reg, unsigned size)
{
    if (size == 1 && !has_rex(g) && reg >= 4 && reg < 8)
        return (g->c->in.gpr[reg - 4] >> 8) & 0xff;
    return g->c->in.gpr[reg] & mask_of(size);
}

static void reg_set(struct gen *g, int reg, unsigned size, uint64_t v)
{
    uint64_t *p = &g->c->in.gpr[reg], m = mask_of(size);

    if (size == 1 && !has_rex(g) && reg >= 4 && reg < 8) {
        p = &g->c->in.gpr[reg - 4];
        *p = (*p & ~0xff00ULL) | ((v & 0xff) << 8);
        return;
    }
    *p = (*p & ~m) | (v & m);
}

static uint64_t mem_get(const struct gen *g, uint64_t addr, unsigned size)
{
    uint64_t v = 0;

    memcpy(&v, g->c->data + (addr - DT_DATA), size);
    return v;
}

static void mem_set(struct gen *g, uint64_t addr, unsigned size, uint64_t v)
{
    memcpy(g->c->data + (addr - DT_DATA), &v, size);
}

static uint64_t rm_get(const struct gen *g, unsigned size)
{
    return g->mem ? mem_get(g, g->addr, size) : reg_get(g, g->rm, size);
}

static void rm_set(struct gen *g, unsigned size, uint64_t v)
{
    if (g->mem)
        mem_set(g, g->addr, size, v);
    else
        reg_set(g, g->rm, size, v);
}

/* A register of the mode, not in avoid (a bit per register). */
int gen_pick_reg(const struct gen *g, uint16_t avoid)
{
    for (;;) {
        int reg = (int)rng_below(g->r, (uint64_t)g->nregs);

        if (!(avoid & (1u << reg)))
            return reg;
    }
}

static bool fits8(int64_t v)
{
    return v >= -128 && v <= 127;
}

void gen_add_prefix(struct gen *g, uint8_t p)
{
    g->legacy[g->nlegacy++] = p;
}

/* The effective address (offset in its segment) that reaches linear addr. */
uint64_t gen_offset_of(const struct gen *g, uint64_t addr)
{
    if (g->m16)
        return addr - DT_DATA;
    return g->gs ? addr - g->gs_base : addr;
}

/* Where a register that points into the data page points: its value. */
static uint64_t pointer(const struct gen *g, uint64_t offset)
{
    return g->m16 ? offset : DT_DATA + offset;
}

/* Offset in the data page of the stack top. */
static uint64_t stack_offset(const struct gen *g)
{
    uint64_t sp = g->c->in.gpr[R_SP];

    return g->m16 ? sp & 0xffff : sp - DT_DATA;
}

/* 16-bit addressing (16-bit code, or 0x67 in 32-bit code where it needs
 * the GS override to reach the page): ModRM r/m 0..7 = BX+SI, BX+DI,
 * BP+SI, BP+DI, SI, DI, BP or disp16, BX. */
static void pick_address16(struct gen *g, uint64_t addr, uint16_t avoid)
{
    static const int8_t base_of[8] = {R_BX, R_BX, R_BP, R_BP, R_SI, R_DI, R_BP, R_BX};
    static const int8_t index_of[8] = {R_SI, R_DI, R_SI, R_DI, -1, -1, -1, -1};
    uint16_t ea = (uint16_t)gen_offset_of(g, addr);
    uint64_t *gpr = g->c->in.gpr;
    int rm, mod = (int)rng_below(g->r, 3);
    int64_t disp = 0;

    for (int tries = 0;; tries++) {
        rm = (int)rng_below(g->r, 8);
        if (tries == 8) { /* every choice uses an avoided register: disp16 */
            rm = 6;
            mod = 0;
        }
        if (mod == 0 && rm == 6)
            break;
        if (!(avoid & (1u << base_of[rm])) && (index_of[rm] < 0 || !(avoid & (1u << index_of[rm]))))
            break;
    }
    g->has_modrm = true;
    g->modrm = (uint8_t)(mod << 6 | rm);
    if (mod == 0 && rm == 6) {
        g->disp_size = 2;
        g->disp = ea;
        return;
    }
    g->disp_size = mod == 0 ? 0 : mod == 1 ? 1 : 2;
    if (mod == 1)
        disp = (int8_t)rng_next(g->r);
    else if (mod == 2)
        disp = (int16_t)rng_next(g->r);
    g->disp = (uint32_t)disp;
    if (index_of[rm] >= 0) {
        uint64_t iv = rng_next(g->r);

        gpr[index_of[rm]] = iv;
        gpr[base_of[rm]] = (rng_next(g->r) & ~0xffffULL) | ((ea - (uint64_t)disp - iv) & 0xffff);
    } else {
        gpr[base_of[rm]] = (rng_next(g->r) & ~0xffffULL) | ((ea - (uint64_t)disp) & 0xffff);
    }
}

/* Chooses a ModRM/SIB encoding whose effective address reaches linear
 * addr, and sets the base and index registers to match. RSP keeps its
 * value (the stack): as a base it is compensated by the displacement. */
void gen_pick_address(struct gen *g, uint64_t addr, uint16_t avoid)
{
    struct rng *r = g->r;
    uint64_t *gpr = g->c->in.gpr, amask = g->a32 ? 0xffffffffULL : ~0ULL;
    uint64_t ea = gen_offset_of(g, addr), base_val;
    int style = (int)rng_below(r, 8), scale_bits = (int)rng_below(r, 4), base, index = -1;
    int64_t idx_val = 0, disp = 0;

    g->addr = addr;
    g->has_modrm = true;
    if (g->m16 ? !g->a32 : g->m32 && g->a32) {
        pick_address16(g, addr, avoid);
        return;
    }
    if (style == 0) {
        g->modrm = 0x05;
        g->disp_size = 4;
        if (g->m32) /* no RIP-relative in 32-bit code: mod 00 r/m 101 is disp32 */
            g->disp = (uint32_t)ea;
        else /* RIP-relative; the displacement is patched in gen_emit() */
            g->riprel = true;
        return;
    }
    if (style == 1) { /* disp32 through a SIB with neither base nor index */
        g->modrm = 0x04;
        g->has_sib = true;
        g->sib = (uint8_t)(scale_bits << 6 | 4 << 3 | 5);
        g->disp_size = 4;
        g->disp = (uint32_t)ea;
        return;
    }
    if (style == 2) { /* index*scale + disp32, no base */
        index = gen_pick_reg(g, avoid | 1u << R_SP);
        idx_val = (int64_t)rng_below(r, 1024) - 512;
        gpr[index] = g->a32 || g->m32 ? ((uint32_t)idx_val | rng_next(r) << 32) : (uint64_t)idx_val;
        g->modrm = 0x04;
        g->has_sib = true;
        g->sib = (uint8_t)(scale_bits << 6 | (index & 7) << 3 | 5);
        g->rex |= (uint8_t)((index >> 3) << 1);
        g->disp_size = 4;
        g->disp = (uint32_t)(ea - ((uint64_t)idx_val << scale_bits));
        return;
    }
    /* base [+ index*scale] [+ disp]: styles 3..7 */
    if (g->m32)
        amask = 0xffffffffULL;
    base = gen_pick_reg(g, avoid);
    if (style >= 6 && rng_chance(r, 80)) {
        index = gen_pick_reg(g, avoid | 1u << R_SP | 1u << base);
        idx_val = (int64_t)rng_below(r, 1024) - 512;
        gpr[index] = amask != ~0ULL ? ((uint32_t)idx_val | rng_next(r) << 32) : (uint64_t)idx_val;
    }

    g->disp_size = style == 3   ? 0
                   : style == 4 ? 1
                   : style == 5 ? 4
                                : (int[]){0, 1, 4}[rng_below(r, 3)];
    if (base == R_SP) {
        disp = (int64_t)((ea - gpr[R_SP] - ((uint64_t)idx_val << scale_bits)) & amask);
        if (amask != ~0ULL)
            disp = (int32_t)disp;
        if (g->disp_size == 0 || (g->disp_size == 1 && !fits8(disp)))
            g->disp_size = fits8(disp) ? 1 : 4;
    } else {
        if ((base & 7) == 5 && g->disp_size == 0)
            g->disp_size = 1; /* mod 00 with RBP/R13 would mean no base */
        if (g->disp_size == 1)
            disp = (int8_t)rng_next(r);
        else if (g->disp_size == 4)
            disp = rng_chance(r, 50) ? (int32_t)rng_next(r) : (int64_t)rng_below(r, 8192) - 4096;
        base_val = (ea - (uint64_t)disp - ((uint64_t)idx_val << scale_bits)) & amask;
        if (amask != ~0ULL)
            base_val |= rng_next(r) << 32; /* ignored by 32-bit addressing */
        gpr[base] = base_val;
    }
    g->disp = (uint32_t)disp;
    g->modrm = (uint8_t)((g->disp_size == 0 ? 0 : g->disp_size == 1 ? 1 : 2) << 6);
    if (index >= 0 || (base & 7) == 4) {
        g->modrm |= 4;
        g->has_sib = true;
        g->sib = (uint8_t)(scale_bits << 6 | (index >= 0 ? index & 7 : 4) << 3 | (base & 7));
        if (index >= 0)
            g->rex |= (uint8_t)((index >> 3) << 1);
    } else {
        g->modrm |= (uint8_t)(base & 7);
    }
    g->rex |= (uint8_t)(base >> 3);
}

/* Lays out the bytes; false if they exceed the 15-byte limit. */
bool gen_emit(struct gen *g)
{
    const struct form *f = g->f;
    uint8_t b[32];
    int n = 0, disp_at;

    /* Legacy prefixes in random order: the decoder must not care. */
    for (int i = g->nlegacy - 1; i > 0; i--) {
        int j = (int)rng_below(g->r, (uint64_t)i + 1);
        uint8_t t = g->legacy[i];

        g->legacy[i] = g->legacy[j];
        g->legacy[j] = t;
    }
    memcpy(b, g->legacy, (size_t)g->nlegacy);
    n = g->nlegacy;
    if (f->vmap)
        n += vex_prefix(g, b + n);
    else if (has_rex(g))
        b[n++] = 0x40 | g->rex;
    memcpy(b + n, f->op, f->nop);
    n += f->nop;
    if (f->plusr)
        b[n - 1] |= (uint8_t)(g->reg & 7);
    if (g->has_modrm)
        b[n++] = g->modrm;
    if (g->has_sib)
        b[n++] = g->sib;
    disp_at = n;
    n += g->disp_size;
    for (int i = 0; i < g->imm_size; i++)
        b[n++] = (uint8_t)(g->imm >> (8 * i));
    if (n > DT_INSN_MAX)
        return false;
    if (g->riprel)
        g->disp = (uint32_t)(gen_offset_of(g, g->addr) - (DT_INSN + (uint64_t)n));
    for (int i = 0; i < g->disp_size; i++)
        b[disp_at + i] = (uint8_t)(g->disp >> (8 * i));
    memcpy(g->c->code, b, (size_t)n);
    g->c->len = (uint8_t)n;
    return true;
}

static unsigned imm_bytes(const struct form *f)
{
    switch (f->imm) {
    case IMM_B:
        return 1;
    case IMM_W:
        return 2;
    case IMM_Z:
        return f->osz == 2 ? 2 : 4;
    case IMM_V:
        return f->osz;
    case IMM_ENTER:
        return 3;
    default:
        return 0;
    }
}

/* A shift count: small ones (0, 1, around the width) most of the time. */
static uint8_t rand_count(struct rng *r, unsigned osz)
{
    return rng_chance(r, 70) ? (uint8_t)rng_below(r, osz * 8 + 3) : (uint8_t)rng_next(r);
}

static void setup_div(struct gen *g)
{
    const struct form *f = g->f;
    unsigned size = f->osz, bits = size * 8;
    struct rng *r = g->r;
    unsigned __int128 m =
        bits == 64 ? ~(unsigned __int128)0 >> 64 : ((unsigned __int128)1 << bits) - 1;
    unsigned __int128 dividend;
    uint64_t d = rng_value(r) & mask_of(size);

    if (d == 0 && rng_chance(r, 70))
        d = 1 + rng_below(r, 1000);
    rm_set(g, size, d);
    d = rm_get(g, size);
    if (d == 0) {
        dividend = rng_next(r);
    } else if (f->sign && rng_chance(r, 3)) { /* the most negative dividend by -1: #DE */
        rm_set(g, size, ~0ULL);
        d = rm_get(g, size);
        dividend = (unsigned __int128)1 << (2 * bits - 1);
    } else if (rng_chance(r, 8)) { /* quotient overflow: #DE */
        dividend =
            ((unsigned __int128)((d + rng_below(r, 4)) & mask_of(size)) << bits) | rng_next(r);
    } else if (!f->sign) {
        uint64_t q = rng_value(r) & mask_of(size), rem = rng_next(r) % d;

        dividend = (unsigned __int128)q * d + rem;
    } else {
        /* q*d + rem with rem of the dividend's sign and |rem| < |d|. */
        int64_t sd = (int64_t)(d << (64 - bits)) >> (64 - bits);
        int64_t q = (int64_t)(rng_value(r) << (64 - bits)) >> (64 - bits) >> rng_below(r, 2);
        __int128 prod = (__int128)q * sd, rem;
        uint64_t ad = sd < 0 ? -(uint64_t)sd : (uint64_t)sd;

        rem = (__int128)(rng_next(r) % ad);
        if (prod < 0 || (prod == 0 && rng_chance(r, 50)))
            rem = -rem;
        dividend = (unsigned __int128)(prod + rem);
    }
    dividend &= (m << bits) | m;
    /* A divisor in rAX/rDX (or AH) is overwritten here: whatever the
     * result, faulting or not, both sides must agree on it. */
    if (size == 1) {
        g->c->in.gpr[R_AX] = (g->c->in.gpr[R_AX] & ~0xffffULL) | (uint64_t)(dividend & 0xffff);
    } else {
        reg_set(g, R_AX, size, (uint64_t)(dividend & m));
        reg_set(g, R_DX, size, (uint64_t)((dividend >> bits) & m));
    }
}

/* SDM "undefined" for the count-dependent forms, results that the SDM
 * leaves undefined, and what compatibility mode cannot see. */
static void set_masks(struct gen *g)
{
    const struct form *f = g->f;
    struct dt_case *c = g->c;
    unsigned bits = f->osz * 8, count = 0;

    c->flags_undef = f->undef;
    if (g->m32) /* SDM Vol. 1 §3.4.1.1: upper halves undefined in compatibility mode */
        for (int i = 0; i < 16; i++)
            c->regs_undef[i] = i < 8 ? 0xffffffff00000000ULL : ~0ULL;
    if (f->kind == K_SHIFT || f->kind == K_SHXD) {
        count = f->cnt == CNT_ONE  ? 1
                : f->cnt == CNT_CL ? (uint8_t)c->in.gpr[R_CX]
                                   : (uint8_t)g->imm;
        count &= f->osz == 8 ? 63 : 31;
    }
    if (f->kind == K_SHIFT && count) {
        bool shift = f->digit >= 4;

        if (shift)
            c->flags_undef |= F_AF;
        if (count > 1)
            c->flags_undef |= F_OF;
        /* CF of SHL/SHR is undefined for counts of at least the width. */
        if (shift && f->digit != 7 && count >= bits)
            c->flags_undef |= F_CF;
    }
    if (f->kind == K_SHXD && count) {
        c->flags_undef |= F_AF;
        if (count > 1)
            c->flags_undef |= F_OF;
        if (count > bits) { /* 16-bit only: result and flags undefined */
            c->flags_undef |= F_STATUS;
            if (g->mem) {
                c->mem_undef_off = (uint16_t)(g->addr - DT_DATA);
                c->mem_undef_len = (uint16_t)f->osz;
            } else {
                c->regs_undef[g->rm] |= 0xffff;
            }
        }
    }
    if (f->kind == K_BSF && rm_get(g, f->osz) == 0)
        c->regs_undef[g->reg] = ~0ULL;
}

/* A target in the landing area, clear of the instruction and what follows
 * it on both sides; false if none is in reach. */
static bool pick_target(struct gen *g, uint64_t lo, uint64_t hi, uint64_t *target)
{
    uint64_t end = DT_INSN + g->c->len;

    if (lo < DT_LANDING_LO)
        lo = DT_LANDING_LO;
    if (hi > DT_LANDING_HI)
        hi = DT_LANDING_HI;
    for (int tries = 0; tries < 64; tries++) {
        uint64_t t = lo + rng_below(g->r, hi - lo);

        if (t + DT_LANDING_SIZE <= DT_INSN || t >= end + 8) {
            *target = t;
            return true;
        }
    }
    return false;
}

/* After gen_emit(): the target, and the operand or stack slot that names it. */
static bool branch_target(struct gen *g)
{
    const struct form *f = g->f;
    struct dt_case *c = g->c;
    uint64_t end = DT_INSN + c->len, t;

    if ((f->br == BR_REL || f->br == BR_LOOP) && g->imm_size == 1) {
        if (!pick_target(g, end - 128, end + 128, &t))
            return false;
        c->code[c->len - 1] = (uint8_t)(t - end);
    } else {
        if (!pick_target(g, DT_LANDING_LO, DT_LANDING_HI, &t))
            return false;
        uint64_t ip = g->m16 ? t - DT_CODE : t; /* an offset in CS */

        if (f->br == BR_REL) {
            uint32_t rel = (uint32_t)(t - end);

            memcpy(c->code + c->len - g->imm_size, &rel, (size_t)g->imm_size);
        } else if (f->br == BR_RM) {
            rm_set(g, f->osz, ip);
        } else { /* RET: the return address on the stack */
            memcpy(c->data + stack_offset(g), &ip, 8);
        }
    }
    c->target = t;
    return true;
}

/* Segment prefixes: mostly none; GS (base DT_DATA) on memory operands;
 * now and then one that 64-bit mode ignores and 32-bit code obeys (all
 * flat there, but CS is not writable). */
void gen_pick_segment(struct gen *g, bool memory)
{
    if (memory && rng_chance(g->r, 10)) {
        g->gs = true;
        gen_add_prefix(g, 0x65);
    } else if (rng_chance(g->r, 5)) {
        /* Not CS in 16-bit code: its base is the code page, which differs. */
        gen_add_prefix(g, (uint8_t[]){0x26, 0x36, 0x3e, 0x2e}[rng_below(g->r, g->m16 ? 3 : 4)]);
    }
}

/* Inputs that depend on the operands, after they are encoded. */
static void setup_kind(struct gen *g)
{
    const struct form *f = g->f;
    struct dt_case *c = g->c;
    struct rng *r = g->r;
    uint64_t *gpr = c->in.gpr;
    unsigned osz = f->osz;

    switch (f->kind) {
    case K_DIV:
        setup_div(g);
        break;
    case K_BT:
        if (g->mem) { /* a bit offset within +-512 bytes, sign-extended from osz */
            int64_t off = (int64_t)rng_below(r, 8192) - 4096;

            gpr[g->reg] = (gpr[g->reg] & ~mask_of(osz)) | ((uint64_t)off & mask_of(osz));
        }
        break;
    case K_BSF:
        if (rng_chance(r, 15))
            rm_set(g, osz, 0);
        break;
    case K_CMPXCHG:
        if (rng_chance(r, 50))
            reg_set(g, R_AX, osz, rm_get(g, osz));
        break;
    case K_CX8:
        if (rng_chance(r, 50)) {
            reg_set(g, R_AX, osz, mem_get(g, g->addr, osz));
            reg_set(g, R_DX, osz, mem_get(g, g->addr + osz, osz));
        }
        break;
    case K_BOUND: {
        /* Signed bounds [lo, hi] at the operand; the index in them or not. */
        uint64_t lo = rng_value(r) & mask_of(osz), hi = rng_value(r) & mask_of(osz);
        int64_t slo = (int64_t)(lo << (64 - osz * 8)) >> (64 - osz * 8);
        int64_t shi = (int64_t)(hi << (64 - osz * 8)) >> (64 - osz * 8);

        if (slo > shi) {
            uint64_t t = lo;

            lo = hi;
            hi = t;
        }
        mem_set(g, g->addr, osz, lo);
        mem_set(g, g->addr + osz, osz, hi);
        if (rng_chance(r, 50))
            reg_set(g, g->reg, osz, rng_chance(r, 50) ? lo : hi);
        break;
    }
    case K_POPF: {
        uint64_t v = 2 | (rng_next(r) & F_STATUS) | (rng_chance(r, 50) ? F_DF : 0);

        memcpy(c->data + stack_offset(g), &v, osz);
        break;
    }
    case K_LEAVE:
        gpr[R_BP] = pointer(g, 1024 + rng_below(r, 2048));
        break;
    default:
        break;
    }
}

static bool host_is_intel(void)
{
    unsigned a, b, c, d;

    __cpuid(0, a, b, c, d);
    return b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e; /* "GenuineIntel" */
}

/* String instructions: RSI, RDI and RCX, a source through GS sometimes. */
static void setup_string(struct gen *g)
{
    const struct form *f = g->f;
    struct dt_case *c = g->c;
    struct rng *r = g->r;
    uint64_t *gpr = c->in.gpr;
    unsigned osz = f->osz;
    /* 0x67 in 32-bit code would make ES:DI 16-bit, off the page */
    bool a32 = (g->m16 || !g->m32) && rng_chance(r, 20);
    bool a16 = g->m16 && !a32;
    bool has_src = f->op[0] < 0xaa || (f->op[0] & ~1) == 0xac; /* MOVS, CMPS, LODS */
    uint64_t si = pointer(g, 256 + rng_below(r, DT_DATA_SIZE - 512));
    uint64_t di = pointer(g, 256 + rng_below(r, DT_DATA_SIZE - 512));
    uint64_t cx = f->pfx ? (rng_chance(r, 10) ? 0 : rng_below(r, 21)) : gpr[R_CX];
    size_t from = (si & 0xfff) - 160, to = (di & 0xfff) - 160, len = 320;

    if (has_src && rng_chance(r, 15)) {
        g->gs = true;
        gen_add_prefix(g, 0x65);
        if (!g->m16)
            si -= g->gs_base;
    }
    if (a32) {
        gen_add_prefix(g, 0x67);
        si |= rng_next(r) << 32;
        di |= rng_next(r) << 32;
        cx = (uint32_t)cx | rng_next(r) << 32;
        /* With a zero count, whether the upper halves are cleared depends
         * on the vendor (string.c); vx86 does what Intel's CPUs do. */
        if ((uint32_t)cx == 0 && !host_is_intel())
            si = (uint32_t)si, di = (uint32_t)di, cx = 0;
    } else if (a16) { /* SI, DI, CX: the rest of each register is ignored */
        si |= rng_next(r) << 16;
        di |= rng_next(r) << 16;
        cx = (uint16_t)cx | rng_next(r) << 16;
    }
    gpr[R_SI] = si;
    gpr[R_DI] = di;
    gpr[R_CX] = cx;
    if (rng_chance(r, 40)) { /* equal elements, so that REPE goes on */
        if ((f->op[0] & ~1) == 0xae) {
            for (size_t i = 0; i + osz <= len; i += osz)
                memcpy(c->data + to + i, &gpr[R_AX], osz);
        } else {
            memmove(c->data + to, c->data + from, len);
        }
        if (rng_chance(r, 50))
            c->data[to + rng_below(r, len)] ^= 1;
    }
}

static bool build(struct dt_case *c, struct rng *r, const struct form *f)
{
    struct gen g = {.c = c, .r = r, .f = f, .reg = -1, .m32 = f->mode != 64, .m16 = f->mode == 16,
                    .gs_base = c->gs_base};
    uint64_t *gpr = c->in.gpr, lo = DT_DATA + 64, hi = DT_DATA + DT_DATA_SIZE - 64;
    uint16_t avoid = 0;
    unsigned osz = f->osz;
    bool lock;

    g.nregs = g.m32 ? 8 : 16;
    c->mode = f->mode;
    for (int i = 0; i < 16; i++)
        gpr[i] = rng_value(r);
    gpr[R_SP] =
        pointer(&g, 0x800 + 8 * rng_below(r, 64) - 256 + (rng_chance(r, 10) ? rng_below(r, 8) : 0));
    /* A 16-bit stack uses SP and must leave the rest of ESP alone; but
     * ENTER copies ESP or SP into EBP depending on the vendor (the SDM
     * pseudocode and AMD's APM differ), so not for ENTER. */
    if (g.m16 && f->kind != K_LEAVE)
        gpr[R_SP] |= rng_below(r, 0x10000) << 16;
    c->in.rflags = 2 | (rng_next(r) & F_STATUS) | (rng_chance(r, 50) ? F_DF : 0);
    for (int i = 0; i < DT_DATA_SIZE; i += 8) {
        uint64_t v = rng_chance(r, 90) ? rng_next(r) : rng_value(r);

        memcpy(c->data + i, &v, 8);
    }
    if (f->vmap)
        return vex_build(&g);

    /* Prefixes and register operands. */
    if (g.m16 ? osz == 4 : osz == 2)
        gen_add_prefix(&g, 0x66);
    if (osz == 8 && (!f->def64 || rng_chance(r, 20)))
        g.rex |= 8;
    if ((g.rex & 8) && rng_chance(r, 5))
        gen_add_prefix(&g, 0x66); /* REX.W wins */
    if (f->pfx)
        gen_add_prefix(&g, f->pfx);
    g.rex_any = !g.m32 && rng_chance(r, 25);
    if (f->modrm == MODRM_R || f->plusr) {
        g.reg = gen_pick_reg(&g, 0);
        if (f->plusr)
            g.rex |= (uint8_t)(g.reg >> 3);
        else
            g.rex |= (uint8_t)((g.reg >> 3) << 2);
    }

    /* Inputs that must hold before the addressing registers are chosen. */
    if ((f->kind == K_SHIFT || f->kind == K_SHXD) && f->cnt == CNT_CL)
        gpr[R_CX] = (gpr[R_CX] & ~0xffULL) | rand_count(r, osz);
    if (f->kind == K_DIV || f->kind == K_CMPXCHG || f->kind == K_CX8)
        avoid |= 1u << R_AX | 1u << R_DX;
    if (f->kind == K_BT || f->kind == K_BOUND)
        avoid |= (uint16_t)(1u << g.reg);
    if (f->kind == K_BRANCH && f->br == BR_LOOP) {
        uint64_t cx = rng_chance(r, 50) ? rng_below(r, 3) : rng_value(r);

        if (rng_chance(r, 20)) {
            gen_add_prefix(&g, 0x67); /* ECX (CX in 32-bit code) */
            cx = (uint32_t)cx | rng_next(r) << 32;
        }
        gpr[R_CX] = cx;
    }

    /* The r/m operand. */
    if (f->modrm != MODRM_NONE) {
        g.mem = f->rm == RM_MEM || (f->rm == RM_ANY && rng_chance(r, 50));
        if (g.mem) {
            uint64_t addr;

            g.a32 = rng_chance(r, 10);
            if (g.a32 && g.m32 && !g.m16 && g.gs_base != DT_DATA)
                g.a32 = false; /* a flat GS cannot bring 16-bit offsets to the page */
            if (g.a32)
                gen_add_prefix(&g, 0x67);
            if (g.a32 && g.m32 && !g.m16) { /* 16-bit offsets reach the page only through GS */
                g.gs = true;
                gen_add_prefix(&g, 0x65);
            } else {
                gen_pick_segment(&g, true);
            }
            if (f->kind == K_BT && f->modrm == MODRM_R) {
                lo = DT_DATA + 1024;
                hi = DT_DATA + 3072;
            }
            addr = lo + rng_below(r, hi - lo);
            if (f->kind == K_CX8)
                addr = (addr & ~15ULL) + (rng_chance(r, 10) ? rng_below(r, 16) : 0);
            gen_pick_address(&g, addr, avoid);
        } else {
            gen_pick_segment(&g, false);
            g.has_modrm = true;
            g.rm = gen_pick_reg(&g, f->kind == K_BRANCH ? 1u << R_SP : 0);
            g.modrm = (uint8_t)(0xc0 | (g.rm & 7));
            g.rex |= (uint8_t)(g.rm >> 3);
        }
        if (f->modrm != MODRM_R)
            g.modrm |= (uint8_t)(f->modrm << 3);
        else
            g.modrm |= (uint8_t)((g.reg & 7) << 3);
    } else if (f->kind == K_STRING) {
        setup_string(&g);
    } else if (f->kind == K_XLAT) {
        gpr[R_BX] = pointer(&g, 256 + rng_below(r, DT_DATA_SIZE - 512));
        if (rng_chance(r, 15)) {
            g.gs = true;
            gen_add_prefix(&g, 0x65);
            if (!g.m16)
                gpr[R_BX] -= g.gs_base;
        }
        if ((g.m16 || !g.m32) && rng_chance(r, 20)) {
            gen_add_prefix(&g, 0x67);
            gpr[R_BX] |= rng_next(r) << 32;
        } else if (g.m16) {
            gpr[R_BX] |= rng_next(r) << 16;
        }
    } else {
        gen_pick_segment(&g, false);
    }
    lock = g.mem && f->lockable ? rng_chance(r, 30) : f->modrm != MODRM_NONE && rng_chance(r, 2);
    if (lock)
        gen_add_prefix(&g, 0xf0); /* on a register or a non-lockable form: #UD */

    g.imm_size = (int)imm_bytes(f);
    if (g.imm_size) {
        g.imm = rng_value(r);
        if (f->cnt == CNT_IMM)
            g.imm = rand_count(r, osz);
        /* ENTER: a few nesting levels (the level byte is masked to 5 bits),
         * and a frame that stays in the data page: the CPU touches the
         * new stack top. */
        if (f->imm == IMM_ENTER)
            g.imm = rng_below(r, 0x600) |
                    (uint64_t)(rng_chance(r, 80) ? rng_below(r, 4) : rng_below(r, 256)) << 16;
        if (f->kind == K_AAM)
            g.imm = rng_chance(r, 60) ? 10 : rng_chance(r, 15) ? 0 : rng_next(r);
    }
    if (g.m32 && has_rex(&g))
        return false; /* cannot happen: registers 8..15 are never picked */
    setup_kind(&g);
    if (!gen_emit(&g))
        return false;
    if (f->kind == K_BRANCH && !branch_target(&g))
        return false;
    set_masks(&g);
    return true;
}

void dt_case_gs(struct dt_case *c, bool ldt)
{
    c->gs_sel = ldt ? DT_GS_SEL : c->mode == 64 ? 0 : DT_USER_DS;
    c->gs_base = ldt || c->mode == 64 ? DT_DATA : 0;
}

void dt_case_make(struct dt_case *c, uint64_t seed, uint64_t n, int form, bool ldt)
{
    struct rng r = {seed ^ (n * 0xd1b54a32d192ed03ULL)};
    const struct form *f = dt_form(form);

    rng_next(&r);
    do {
        memset(c, 0, sizeof(*c));
        c->form = form;
        c->mode = f->mode;
        dt_case_gs(c, ldt);
    } while (!build(c, &r, f));
}
