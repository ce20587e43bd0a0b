/*
 * A small x86-64 encoder for the translator: just the instruction forms
 * translate.c emits, each writing its bytes at buf->p. Operands are host
 * registers (HR_*) or memory [base + index * scale + disp32]. Running out of
 * room sets buf->full and writes nothing more; the caller then throws the
 * translation away (SDM Vol. 2, chapter 2, for the encodings).
 */
#ifndef VX86_ACCEL_EMU_JIT_EMIT_H
#define VX86_ACCEL_EMU_JIT_EMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum {
    HR_RAX,
    HR_RCX,
    HR_RDX,
    HR_RBX,
    HR_RSP,
    HR_RBP,
    HR_RSI,
    HR_RDI,
    HR_R8,
    HR_R9,
    HR_R10,
    HR_R11,
    HR_R12,
    HR_R13,
    HR_R14,
    HR_R15,
    HR_NONE = 0xff,
};

struct jit_buf {
    uint8_t *p, *end;
    bool full;
};

/* A memory operand: [base + index << scale + disp]; base HR_NONE is not
 * supported (absolute addresses go through a register). */
struct jit_mem {
    uint8_t base, index, scale;
    int32_t disp;
};

static inline struct jit_mem jm(uint8_t base, int32_t disp)
{
    return (struct jit_mem){base, HR_NONE, 0, disp};
}

/* Out of room: end = p makes every later room test fail, so that e8 and
 * friends test one bound, not full too (their byte stores may alias the
 * buffer's fields, which the compiler then loads again for each byte). */
static inline void jit_full(struct jit_buf *b)
{
    b->full = true;
    b->end = b->p;
}

static inline bool jit_room(struct jit_buf *b, size_t n)
{
    if ((size_t)(b->end - b->p) < n) {
        jit_full(b);
        return false;
    }
    return true;
}

static inline void e8(struct jit_buf *b, uint8_t v)
{
    if (jit_room(b, 1))
        *b->p++ = v;
}

static inline void e32(struct jit_buf *b, uint32_t v)
{
    if (jit_room(b, 4)) {
        memcpy(b->p, &v, 4);
        b->p += 4;
    }
}

static inline void e64(struct jit_buf *b, uint64_t v)
{
    if (jit_room(b, 8)) {
        memcpy(b->p, &v, 8);
        b->p += 8;
    }
}

/* An immediate operand of an instruction of size bytes: 8 bits, 16 bits,
 * or 32 bits (which the CPU sign-extends for size 8). */
static inline void e_imm(struct jit_buf *b, unsigned size, uint32_t v)
{
    if (size == 1) {
        e8(b, (uint8_t)v);
    } else if (size == 2) {
        e8(b, (uint8_t)v);
        e8(b, (uint8_t)(v >> 8));
    } else {
        e32(b, v);
    }
}

/* Operand-size prefix and REX for an instruction of size bytes with ModRM
 * reg field r, index x and base/rm b. A byte operand in SPL, BPL, SIL or
 * DIL needs a REX even without extension bits (byte_rm/byte_r). */
static inline void prefix(struct jit_buf *b, unsigned size, unsigned r, unsigned x, unsigned rm,
                          bool byte_regs)
{
    unsigned rex = (size == 8 ? 8 : 0) | ((r & 8) ? 4 : 0) | ((x != HR_NONE && (x & 8)) ? 2 : 0) |
                   ((rm != HR_NONE && (rm & 8)) ? 1 : 0);

    if (size == 2)
        e8(b, 0x66);
    if (rex || byte_regs)
        e8(b, (uint8_t)(0x40 | rex));
}

static inline void opcode(struct jit_buf *b, uint32_t op)
{
    if (op > 0xffff)
        e8(b, (uint8_t)(op >> 16));
    if (op > 0xff)
        e8(b, (uint8_t)(op >> 8));
    e8(b, (uint8_t)op);
}

/* ModRM (and SIB, displacement) for reg field r and memory m. */
static inline void modrm_mem(struct jit_buf *b, unsigned r, struct jit_mem m)
{
    unsigned mod = m.disp == 0 && (m.base & 7) != HR_RBP ? 0 : (m.disp == (int8_t)m.disp ? 1 : 2);

    if (m.index == HR_NONE && (m.base & 7) != HR_RSP) {
        e8(b, (uint8_t)(mod << 6 | (r & 7) << 3 | (m.base & 7)));
    } else {
        e8(b, (uint8_t)(mod << 6 | (r & 7) << 3 | 4));
        e8(b, (uint8_t)(m.scale << 6 | ((m.index == HR_NONE ? HR_RSP : m.index) & 7) << 3 |
                        (m.base & 7)));
    }
    if (mod == 1)
        e8(b, (uint8_t)m.disp);
    else if (mod == 2)
        e32(b, (uint32_t)m.disp);
}

/* op with reg field r (a register or an opcode extension) and memory m. */
static inline void emit_rm(struct jit_buf *b, uint32_t op, unsigned size, unsigned r,
                           struct jit_mem m)
{
    prefix(b, size, r, m.index, m.base, size == 1 && r >= 4 && r < 8);
    opcode(b, op);
    modrm_mem(b, r, m);
}

/* op with reg field r and register rm. */
static inline void emit_rr(struct jit_buf *b, uint32_t op, unsigned size, unsigned r, unsigned rm)
{
    prefix(b, size, r, HR_NONE, rm, size == 1 && ((r >= 4 && r < 8) || (rm >= 4 && rm < 8)));
    opcode(b, op);
    e8(b, (uint8_t)(0xc0 | (r & 7) << 3 | (rm & 7)));
}

/* The byte or full-size form of an opcode pair (88/89, 00/01, ...). */
static inline uint32_t sized(uint32_t op, unsigned size)
{
    return size == 1 ? op : op + 1;
}

/* MOV r, [m] / MOV [m], r at size. */
static inline void mov_load(struct jit_buf *b, unsigned size, unsigned r, struct jit_mem m)
{
    emit_rm(b, sized(0x8a, size), size, r, m);
}

static inline void mov_store(struct jit_buf *b, unsigned size, struct jit_mem m, unsigned r)
{
    emit_rm(b, sized(0x88, size), size, r, m);
}

static inline void mov_rr(struct jit_buf *b, unsigned size, unsigned dst, unsigned src)
{
    emit_rr(b, sized(0x88, size), size, src, dst);
}

/* MOV r64, imm (the shortest form that gives the value). */
/* MOV r, imm64 in its 10-byte form, whatever v: for code whose length
 * must not depend on the value. */
static inline void mov_imm64(struct jit_buf *b, unsigned r, uint64_t v)
{
    prefix(b, 8, 0, HR_NONE, r, false);
    e8(b, (uint8_t)(0xb8 + (r & 7)));
    e64(b, v);
}

static inline void mov_imm(struct jit_buf *b, unsigned r, uint64_t v)
{
    if (v <= 0xffffffffu) {
        prefix(b, 4, 0, HR_NONE, r, false);
        e8(b, (uint8_t)(0xb8 + (r & 7)));
        e32(b, (uint32_t)v);
    } else if ((int64_t)v == (int32_t)v) {
        prefix(b, 8, 0, HR_NONE, r, false);
        e8(b, 0xc7);
        e8(b, (uint8_t)(0xc0 | (r & 7)));
        e32(b, (uint32_t)v);
    } else {
        prefix(b, 8, 0, HR_NONE, r, false);
        e8(b, (uint8_t)(0xb8 + (r & 7)));
        e64(b, v);
    }
}

/* MOV [m], imm at size (imm sign-extended from 32 bits for size 8). */
static inline void mov_store_imm(struct jit_buf *b, unsigned size, struct jit_mem m, uint32_t v)
{
    emit_rm(b, sized(0xc6, size), size, 0, m);
    e_imm(b, size, v);
}

/* The eight classic ALU operations, in their ModRM /digit order. */
enum jit_alu { JA_ADD, JA_OR, JA_ADC, JA_SBB, JA_AND, JA_SUB, JA_XOR, JA_CMP };

/* op r, [m] (the register is the destination). */
static inline void alu_load(struct jit_buf *b, enum jit_alu op, unsigned size, unsigned r,
                            struct jit_mem m)
{
    emit_rm(b, sized((uint32_t)op * 8 + 2, size), size, r, m);
}

/* op [m], r (memory is the destination). */
static inline void alu_store(struct jit_buf *b, enum jit_alu op, unsigned size, struct jit_mem m,
                             unsigned r)
{
    emit_rm(b, sized((uint32_t)op * 8, size), size, r, m);
}

static inline void alu_rr(struct jit_buf *b, enum jit_alu op, unsigned size, unsigned dst,
                          unsigned src)
{
    emit_rr(b, sized((uint32_t)op * 8, size), size, src, dst);
}

/* op dst, imm; imm is taken at size (sign-extended from 32 bits for size 8). */
static inline void alu_ri(struct jit_buf *b, enum jit_alu op, unsigned size, unsigned dst,
                          uint32_t imm)
{
    emit_rr(b, size == 1 ? 0x80 : 0x81, size, op, dst);
    e_imm(b, size, imm);
}

static inline void alu_mi(struct jit_buf *b, enum jit_alu op, unsigned size, struct jit_mem m,
                          uint32_t imm)
{
    emit_rm(b, size == 1 ? 0x80 : 0x81, size, op, m);
    e_imm(b, size, imm);
}

/* TEST r, r / TEST [m], r. */
static inline void test_rr(struct jit_buf *b, unsigned size, unsigned a, unsigned c)
{
    emit_rr(b, sized(0x84, size), size, c, a);
}

static inline void lea(struct jit_buf *b, unsigned size, unsigned r, struct jit_mem m)
{
    emit_rm(b, 0x8d, size, r, m);
}

/* Shift group 2 by an immediate: /4 SHL, /5 SHR, /7 SAR. */
static inline void shift_ri(struct jit_buf *b, unsigned ext, unsigned size, unsigned r, uint8_t n)
{
    emit_rr(b, sized(0xc0, size), size, ext, r);
    e8(b, n);
}

/* Group 3 unary ops on a register or memory: /2 NOT, /3 NEG. */
static inline void unary_r(struct jit_buf *b, unsigned ext, unsigned size, unsigned r)
{
    emit_rr(b, sized(0xf6, size), size, ext, r);
}

static inline void unary_m(struct jit_buf *b, unsigned ext, unsigned size, struct jit_mem m)
{
    emit_rm(b, sized(0xf6, size), size, ext, m);
}

/* INC (/0) and DEC (/1). */
static inline void incdec_r(struct jit_buf *b, unsigned ext, unsigned size, unsigned r)
{
    emit_rr(b, sized(0xfe, size), size, ext, r);
}

static inline void incdec_m(struct jit_buf *b, unsigned ext, unsigned size, struct jit_mem m)
{
    emit_rm(b, sized(0xfe, size), size, ext, m);
}

/* The host's status flags into RAX: LAHF (SF, ZF, AF, PF and CF in AH, as
 * in RFLAGS' low byte) and SETO AL, which leave the flags alone. Two simple
 * instructions where PUSHF is a slow one. */
static inline void flags_image(struct jit_buf *b)
{
    e8(b, 0x9f);
    e8(b, 0x0f);
    e8(b, 0x90);
    e8(b, 0xc0);
}

static inline void push_r(struct jit_buf *b, unsigned r)
{
    if (r & 8)
        e8(b, 0x41);
    e8(b, (uint8_t)(0x50 + (r & 7)));
}

static inline void pop_r(struct jit_buf *b, unsigned r)
{
    if (r & 8)
        e8(b, 0x41);
    e8(b, (uint8_t)(0x58 + (r & 7)));
}

static inline void call_r(struct jit_buf *b, unsigned r)
{
    if (r & 8)
        e8(b, 0x41);
    e8(b, 0xff);
    e8(b, (uint8_t)(0xd0 | (r & 7)));
}

static inline void jmp_r(struct jit_buf *b, unsigned r)
{
    if (r & 8)
        e8(b, 0x41);
    e8(b, 0xff);
    e8(b, (uint8_t)(0xe0 | (r & 7)));
}

/* JMP [m]. */
static inline void jmp_m(struct jit_buf *b, struct jit_mem m)
{
    emit_rm(b, 0xff, 4, 4, m);
}

/* Forward branches: emit with a 32-bit hole, then jit_bind to fix it up
 * once the target is known. Returns the hole (NULL when out of room). */
static inline uint8_t *jcc32(struct jit_buf *b, unsigned cc)
{
    e8(b, 0x0f);
    e8(b, (uint8_t)(0x80 | cc));
    e32(b, 0);
    return b->full ? NULL : b->p - 4;
}

static inline uint8_t *jmp32(struct jit_buf *b)
{
    e8(b, 0xe9);
    e32(b, 0);
    return b->full ? NULL : b->p - 4;
}

/* Points the hole at target. */
static inline void jit_bind_to(uint8_t *hole, const uint8_t *target)
{
    int32_t rel;

    if (!hole)
        return;
    rel = (int32_t)(target - (hole + 4));
    memcpy(hole, &rel, 4);
}

static inline void jit_bind(struct jit_buf *b, uint8_t *hole)
{
    if (!b->full)
        jit_bind_to(hole, b->p);
}

/* A jump to a known address within ±2 GiB. */
static inline void jmp_to(struct jit_buf *b, const uint8_t *target)
{
    jit_bind_to(jmp32(b), target);
}

/* Host condition codes (the low nibble of Jcc). */
enum {
    CC_O,
    CC_NO,
    CC_B,
    CC_AE,
    CC_E,
    CC_NE,
    CC_BE,
    CC_A,
    CC_S,
    CC_NS,
    CC_P,
    CC_NP,
    CC_L,
    CC_GE,
    CC_LE,
    CC_G
};

/* SETcc r8 (r < 4 or a REX form). */
static inline void setcc_r(struct jit_buf *b, unsigned cc, unsigned r)
{
    emit_rr(b, 0x0f90u | cc, 1, 0, r);
}

#endif
