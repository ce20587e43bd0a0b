/*
 * Fast-path arithmetic: the same host instruction on the guest's operands,
 * its flags read back with PUSHF. Unlike alu.c, the guest's flags are not
 * loaded first (POPF costs as much as the rest of an instruction): only
 * instructions whose defined results do not depend on the incoming flags
 * are here, except ADC and SBB, which take CF from a BT. Flags the SDM calls
 * undefined come from the host, as in alu.c.
 */
#include "accel/emu/interp/uop.h"

#define STATUS RFLAGS_STATUS

/* "insn{b,w,l,q} src, dst" with flags out; pre is asm run first (BT for CF
 * in carry). src is b, in a register of constraint cons8 (byte) or cons,
 * written as fmt: "%[b]", or "%%cl" with "c" for shift counts. */
#define HOST2(pre, insn, size, a, b, fl, carry, cons8, cons, fmt)                                  \
    switch (size) {                                                                                \
    case 1: {                                                                                      \
        uint8_t x = (uint8_t)(a);                                                                  \
        __asm__(pre insn "b " fmt ", %[x]\n\tpushfq\n\tpopq %[f]"                                  \
                : [x] "+q"(x), [f] "=r"(fl)                                                        \
                : [b] cons8((uint8_t)(b)), [cf] "r"(carry)                                         \
                : "cc");                                                                           \
        a = x;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
    case 2: {                                                                                      \
        uint16_t x = (uint16_t)(a);                                                                \
        __asm__(pre insn "w " fmt ", %[x]\n\tpushfq\n\tpopq %[f]"                                  \
                : [x] "+r"(x), [f] "=r"(fl)                                                        \
                : [b] cons((uint16_t)(b)), [cf] "r"(carry)                                         \
                : "cc");                                                                           \
        a = x;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
    case 4: {                                                                                      \
        uint32_t x = (uint32_t)(a);                                                                \
        __asm__(pre insn "l " fmt ", %[x]\n\tpushfq\n\tpopq %[f]"                                  \
                : [x] "+r"(x), [f] "=r"(fl)                                                        \
                : [b] cons((uint32_t)(b)), [cf] "r"(carry)                                         \
                : "cc");                                                                           \
        a = x;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
    default: {                                                                                     \
        uint64_t x = (a);                                                                          \
        __asm__(pre insn "q " fmt ", %[x]\n\tpushfq\n\tpopq %[f]"                                  \
                : [x] "+r"(x), [f] "=r"(fl)                                                        \
                : [b] cons((uint64_t)(b)), [cf] "r"(carry)                                         \
                : "cc");                                                                           \
        a = x;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
    }

/* a OP b at size; *fl gets the host flags. op is a constant where inlined. */
static inline __attribute__((always_inline)) uint64_t
alu(enum uop_alu op, uint64_t a, uint64_t b, unsigned size, uint64_t rflags, uint64_t *fl)
{
    switch (op) {
    case ALU_ADD:
        HOST2("", "add", size, a, b, *fl, rflags, "q", "r", "%[b]");
        break;
    case ALU_OR:
        HOST2("", "or", size, a, b, *fl, rflags, "q", "r", "%[b]");
        break;
    case ALU_ADC:
        HOST2("btl $0, %k[cf]\n\t", "adc", size, a, b, *fl, rflags, "q", "r", "%[b]");
        break;
    case ALU_SBB:
        HOST2("btl $0, %k[cf]\n\t", "sbb", size, a, b, *fl, rflags, "q", "r", "%[b]");
        break;
    case ALU_AND:
    case ALU_TEST:
        HOST2("", "and", size, a, b, *fl, rflags, "q", "r", "%[b]");
        break;
    case ALU_SUB:
    case ALU_CMP:
        HOST2("", "sub", size, a, b, *fl, rflags, "q", "r", "%[b]");
        break;
    default:
        HOST2("", "xor", size, a, b, *fl, rflags, "q", "r", "%[b]");
        break;
    }
    return a;
}

/* One ALU instruction in one form; CMP and TEST write no result. */
static inline __attribute__((always_inline)) void
alu_form(struct emu_cpu *cpu, const struct emu_uop *u, enum uop_alu op, enum uop_form form)
{
    unsigned size = u->size;
    uint64_t a, b, r, fl, off = 0;

    switch (form) {
    case FORM_RR:
        a = uop_get(cpu, u->reg, size);
        b = uop_get(cpu, u->rm, size);
        break;
    case FORM_RI:
        a = uop_get(cpu, u->reg, size);
        b = u->imm;
        break;
    case FORM_RM:
        a = uop_get(cpu, u->reg, size);
        b = uop_read(cpu, u->seg, uop_ea(cpu, u), size);
        break;
    case FORM_MR:
        off = uop_ea(cpu, u);
        a = uop_read(cpu, u->seg, off, size);
        b = uop_get(cpu, u->reg, size);
        break;
    default:
        off = uop_ea(cpu, u);
        a = uop_read(cpu, u->seg, off, size);
        b = u->imm;
        break;
    }
    r = alu(op, a, b, size, cpu->rflags, &fl);
    if (op != ALU_CMP && op != ALU_TEST) {
        if (form == FORM_MR || form == FORM_MI)
            uop_write(cpu, u->seg, off, r, size);
        else
            uop_set(cpu, u->reg, r, size);
    }
    uop_flags(cpu, fl, STATUS);
}

#define ALU_FORMS(name, op)                                                                        \
    static void name##_rr(struct emu_cpu *cpu, const struct emu_uop *u)                            \
    {                                                                                              \
        alu_form(cpu, u, op, FORM_RR);                                                             \
    }                                                                                              \
    static void name##_ri(struct emu_cpu *cpu, const struct emu_uop *u)                            \
    {                                                                                              \
        alu_form(cpu, u, op, FORM_RI);                                                             \
    }                                                                                              \
    static void name##_rm(struct emu_cpu *cpu, const struct emu_uop *u)                            \
    {                                                                                              \
        alu_form(cpu, u, op, FORM_RM);                                                             \
    }                                                                                              \
    static void name##_mr(struct emu_cpu *cpu, const struct emu_uop *u)                            \
    {                                                                                              \
        alu_form(cpu, u, op, FORM_MR);                                                             \
    }                                                                                              \
    static void name##_mi(struct emu_cpu *cpu, const struct emu_uop *u)                            \
    {                                                                                              \
        alu_form(cpu, u, op, FORM_MI);                                                             \
    }

ALU_FORMS(add, ALU_ADD)
ALU_FORMS(or, ALU_OR)
ALU_FORMS(adc, ALU_ADC)
ALU_FORMS(sbb, ALU_SBB)
ALU_FORMS(and, ALU_AND)
ALU_FORMS(sub, ALU_SUB)
ALU_FORMS(xor, ALU_XOR)
ALU_FORMS(cmp, ALU_CMP)
ALU_FORMS(test, ALU_TEST)

emu_uop_fn *const uop_alu_fns[ALU_COUNT][FORM_COUNT] = {
    [ALU_ADD] = {add_rr, add_ri, add_rm, add_mr, add_mi},
    [ALU_OR] = {or_rr, or_ri, or_rm, or_mr, or_mi},
    [ALU_ADC] = {adc_rr, adc_ri, adc_rm, adc_mr, adc_mi},
    [ALU_SBB] = {sbb_rr, sbb_ri, sbb_rm, sbb_mr, sbb_mi},
    [ALU_AND] = {and_rr, and_ri, and_rm, and_mr, and_mi},
    [ALU_SUB] = {sub_rr, sub_ri, sub_rm, sub_mr, sub_mi},
    [ALU_XOR] = {xor_rr, xor_ri, xor_rm, xor_mr, xor_mi},
    [ALU_CMP] = {cmp_rr, cmp_ri, cmp_rm, cmp_mr, cmp_mi},
    [ALU_TEST] = {test_rr, test_ri, test_rm, test_mr, test_mi},
};

/* "insn{b,w,l,q} dst" with flags out. */
#define HOST1(insn, size, a, fl)                                                                   \
    switch (size) {                                                                                \
    case 1: {                                                                                      \
        uint8_t x = (uint8_t)(a);                                                                  \
        __asm__(insn "b %[x]\n\tpushfq\n\tpopq %[f]" : [x] "+q"(x), [f] "=r"(fl) : : "cc");        \
        a = x;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
    case 2: {                                                                                      \
        uint16_t x = (uint16_t)(a);                                                                \
        __asm__(insn "w %[x]\n\tpushfq\n\tpopq %[f]" : [x] "+r"(x), [f] "=r"(fl) : : "cc");        \
        a = x;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
    case 4: {                                                                                      \
        uint32_t x = (uint32_t)(a);                                                                \
        __asm__(insn "l %[x]\n\tpushfq\n\tpopq %[f]" : [x] "+r"(x), [f] "=r"(fl) : : "cc");        \
        a = x;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
    default: {                                                                                     \
        uint64_t x = (a);                                                                          \
        __asm__(insn "q %[x]\n\tpushfq\n\tpopq %[f]" : [x] "+r"(x), [f] "=r"(fl) : : "cc");        \
        a = x;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
    }

static inline __attribute__((always_inline)) void
unary_form(struct emu_cpu *cpu, const struct emu_uop *u, enum uop_unary op, bool mem)
{
    unsigned size = u->size;
    uint64_t a, fl = 0, off = 0, mask = STATUS;

    if (mem) {
        off = uop_ea(cpu, u);
        a = uop_read(cpu, u->seg, off, size);
    } else {
        a = uop_get(cpu, u->reg, size);
    }
    switch (op) {
    case UNARY_INC:
        HOST1("inc", size, a, fl);
        mask = STATUS & ~RFLAGS_CF;
        break;
    case UNARY_DEC:
        HOST1("dec", size, a, fl);
        mask = STATUS & ~RFLAGS_CF;
        break;
    case UNARY_NEG:
        HOST1("neg", size, a, fl);
        break;
    default:
        a = ~a;
        mask = 0;
        break;
    }
    if (mem)
        uop_write(cpu, u->seg, off, a, size);
    else
        uop_set(cpu, u->reg, a, size);
    uop_flags(cpu, fl, mask);
}

#define UNARY_FORMS(name, op)                                                                      \
    static void name##_r(struct emu_cpu *cpu, const struct emu_uop *u)                             \
    {                                                                                              \
        unary_form(cpu, u, op, false);                                                             \
    }                                                                                              \
    static void name##_m(struct emu_cpu *cpu, const struct emu_uop *u)                             \
    {                                                                                              \
        unary_form(cpu, u, op, true);                                                              \
    }

UNARY_FORMS(inc, UNARY_INC)
UNARY_FORMS(dec, UNARY_DEC)
UNARY_FORMS(neg, UNARY_NEG)
UNARY_FORMS(not, UNARY_NOT)

emu_uop_fn *const uop_unary_fns[UNARY_COUNT][2] = {
    [UNARY_INC] = {inc_r, inc_m},
    [UNARY_DEC] = {dec_r, dec_m},
    [UNARY_NEG] = {neg_r, neg_m},
    [UNARY_NOT] = {not_r, not_m},
};

/*
 * A shift or rotate by an immediate or CL. A count of zero (after masking)
 * changes no flag; the register is still written, so a 32-bit one is zero-
 * extended. Rotates change only CF and OF.
 */
static inline __attribute__((always_inline)) void shift_form(struct emu_cpu *cpu,
                                                             const struct emu_uop *u,
                                                             enum uop_shift op,
                                                             enum uop_shift_form form)
{
    unsigned size = u->size;
    bool mem = form == SFORM_MI || form == SFORM_MC;
    uint8_t c = (uint8_t)(form == SFORM_RI || form == SFORM_MI ? u->imm : cpu->gpr[GPR_RCX]);
    uint64_t a, fl = 0, off = 0, mask = STATUS;

    c &= size == 8 ? 63 : 31;
    if (mem) {
        off = uop_ea(cpu, u);
        a = uop_read(cpu, u->seg, off, size);
    } else {
        a = uop_get(cpu, u->reg, size);
    }
    switch (op) {
    case SHIFT_ROL:
        HOST2("", "rol", size, a, c, fl, 0, "c", "c", "%%cl");
        mask = RFLAGS_CF | RFLAGS_OF;
        break;
    case SHIFT_ROR:
        HOST2("", "ror", size, a, c, fl, 0, "c", "c", "%%cl");
        mask = RFLAGS_CF | RFLAGS_OF;
        break;
    case SHIFT_SHL:
        HOST2("", "shl", size, a, c, fl, 0, "c", "c", "%%cl");
        break;
    case SHIFT_SHR:
        HOST2("", "shr", size, a, c, fl, 0, "c", "c", "%%cl");
        break;
    default:
        HOST2("", "sar", size, a, c, fl, 0, "c", "c", "%%cl");
        break;
    }
    if (mem)
        uop_write(cpu, u->seg, off, a, size);
    else
        uop_set(cpu, u->reg, a, size);
    if (c)
        uop_flags(cpu, fl, mask);
}

#define SHIFT_FORMS(name, op)                                                                      \
    static void name##_ri(struct emu_cpu *cpu, const struct emu_uop *u)                            \
    {                                                                                              \
        shift_form(cpu, u, op, SFORM_RI);                                                          \
    }                                                                                              \
    static void name##_rc(struct emu_cpu *cpu, const struct emu_uop *u)                            \
    {                                                                                              \
        shift_form(cpu, u, op, SFORM_RC);                                                          \
    }                                                                                              \
    static void name##_mi(struct emu_cpu *cpu, const struct emu_uop *u)                            \
    {                                                                                              \
        shift_form(cpu, u, op, SFORM_MI);                                                          \
    }                                                                                              \
    static void name##_mc(struct emu_cpu *cpu, const struct emu_uop *u)                            \
    {                                                                                              \
        shift_form(cpu, u, op, SFORM_MC);                                                          \
    }

SHIFT_FORMS(rol, SHIFT_ROL)
SHIFT_FORMS(ror, SHIFT_ROR)
SHIFT_FORMS(shl, SHIFT_SHL)
SHIFT_FORMS(shr, SHIFT_SHR)
SHIFT_FORMS(sar, SHIFT_SAR)

emu_uop_fn *const uop_shift_fns[SHIFT_COUNT][SFORM_COUNT] = {
    [SHIFT_ROL] = {rol_ri, rol_rc, rol_mi, rol_mc}, [SHIFT_ROR] = {ror_ri, ror_rc, ror_mi, ror_mc},
    [SHIFT_SHL] = {shl_ri, shl_rc, shl_mi, shl_mc}, [SHIFT_SHR] = {shr_ri, shr_rc, shr_mi, shr_mc},
    [SHIFT_SAR] = {sar_ri, sar_rc, sar_mi, sar_mc},
};

/* IMUL r, r/m[, imm]: 16, 32 or 64 bits. CF and OF are set; SF, ZF, AF and
 * PF, undefined (SDM Vol. 2A, IMUL), stay as they were, as the translator
 * keeps them (jit/translate.c): the host's are no function of the operands
 * (AMD's IMUL leaves them as they were, here whatever the compiled C code
 * before the asm had left in the host flags). */
static inline __attribute__((always_inline)) void
imul_form(struct emu_cpu *cpu, const struct emu_uop *u, bool mem, bool imm)
{
    unsigned size = u->size;
    uint64_t a, b, fl = 0;

    b = mem ? uop_read(cpu, u->seg, uop_ea(cpu, u), size) : uop_get(cpu, u->rm, size);
    a = imm ? u->imm : uop_get(cpu, u->reg, size);
    switch (size) {
    case 2: {
        uint16_t x = (uint16_t)a;
        __asm__("imulw %[b], %[x]\n\tpushfq\n\tpopq %[f]"
                : [x] "+r"(x), [f] "=r"(fl)
                : [b] "r"((uint16_t)b)
                : "cc");
        a = x;
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)a;
        __asm__("imull %[b], %[x]\n\tpushfq\n\tpopq %[f]"
                : [x] "+r"(x), [f] "=r"(fl)
                : [b] "r"((uint32_t)b)
                : "cc");
        a = x;
        break;
    }
    default:
        __asm__("imulq %[b], %[x]\n\tpushfq\n\tpopq %[f]"
                : [x] "+r"(a), [f] "=r"(fl)
                : [b] "r"(b)
                : "cc");
        break;
    }
    uop_set(cpu, u->reg, a, size);
    uop_flags(cpu, fl, RFLAGS_CF | RFLAGS_OF);
}

void uop_imul_rr(struct emu_cpu *cpu, const struct emu_uop *u)
{
    imul_form(cpu, u, false, false);
}

void uop_imul_rm(struct emu_cpu *cpu, const struct emu_uop *u)
{
    imul_form(cpu, u, true, false);
}

void uop_imul_rri(struct emu_cpu *cpu, const struct emu_uop *u)
{
    imul_form(cpu, u, false, true);
}

void uop_imul_rmi(struct emu_cpu *cpu, const struct emu_uop *u)
{
    imul_form(cpu, u, true, true);
}
