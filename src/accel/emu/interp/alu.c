/*
 * Integer arithmetic. Each operation runs as the same host instruction on
 * the guest's operands with the guest's status flags loaded into the host's
 * RFLAGS, so results and flags (AF, PF, OF of shifts and rotates included)
 * are the host CPU's own - the oracle the differential test compares with.
 * The file is compiled with -mno-red-zone: the asm pushes onto the stack.
 */
#include <string.h>

#include "accel/emu/interp/interp.h"

/* Runs "insn{b,w,l,q} SRC, DST" at the operand size with guest flags in and out;
 * sfmt is how SRC appears: "%[s]", or "%%cl" for shift counts. HOST_OP2W is
 * the same for instructions without a byte form (BSF, IMUL r, r/m, ...):
 * their byte case must not even be assembled. */
#define HOST_OP2(insn, size, x, src, flg, srccons, sfmt)                                           \
    switch (size) {                                                                                \
    case 1: {                                                                                      \
        uint8_t v = (uint8_t)(x);                                                                  \
        __asm__("push %[f]\n\tpopfq\n\t" insn "b " sfmt ", %[v]\n\tpushfq\n\tpop %[f]"             \
                : [v] "+q"(v), [f] "+r"(flg)                                                       \
                : [s] srccons((uint8_t)(src))                                                      \
                : "cc");                                                                           \
        x = v;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
        HOST_OP2_WIDE_CASES(insn, x, src, flg, srccons, sfmt)                                      \
    }

#define HOST_OP2W(insn, size, x, src, flg, srccons, sfmt)                                          \
    switch (size) {                                                                                \
        HOST_OP2_WIDE_CASES(insn, x, src, flg, srccons, sfmt)                                      \
    }

#define HOST_OP2_WIDE_CASES(insn, x, src, flg, srccons, sfmt)                                      \
    case 2: {                                                                                      \
        uint16_t v = (uint16_t)(x);                                                                \
        __asm__("push %[f]\n\tpopfq\n\t" insn "w " sfmt ", %[v]\n\tpushfq\n\tpop %[f]"             \
                : [v] "+r"(v), [f] "+r"(flg)                                                       \
                : [s] srccons((uint16_t)(src))                                                     \
                : "cc");                                                                           \
        x = v;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
    case 4: {                                                                                      \
        uint32_t v = (uint32_t)(x);                                                                \
        __asm__("push %[f]\n\tpopfq\n\t" insn "l " sfmt ", %[v]\n\tpushfq\n\tpop %[f]"             \
                : [v] "+r"(v), [f] "+r"(flg)                                                       \
                : [s] srccons((uint32_t)(src))                                                     \
                : "cc");                                                                           \
        x = v;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
    default: {                                                                                     \
        uint64_t v = (x);                                                                          \
        __asm__("push %[f]\n\tpopfq\n\t" insn "q " sfmt ", %[v]\n\tpushfq\n\tpop %[f]"             \
                : [v] "+r"(v), [f] "+r"(flg)                                                       \
                : [s] srccons((uint64_t)(src))                                                     \
                : "cc");                                                                           \
        x = v;                                                                                     \
        break;                                                                                     \
    }

/* One-operand form: "insn{b,w,l,q} DST". */
#define HOST_OP1(insn, size, x, flg)                                                               \
    switch (size) {                                                                                \
    case 1: {                                                                                      \
        uint8_t v = (uint8_t)(x);                                                                  \
        __asm__("push %[f]\n\tpopfq\n\t" insn "b %[v]\n\tpushfq\n\tpop %[f]"                       \
                : [v] "+q"(v), [f] "+r"(flg)                                                       \
                :                                                                                  \
                : "cc");                                                                           \
        x = v;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
    case 2: {                                                                                      \
        uint16_t v = (uint16_t)(x);                                                                \
        __asm__("push %[f]\n\tpopfq\n\t" insn "w %[v]\n\tpushfq\n\tpop %[f]"                       \
                : [v] "+r"(v), [f] "+r"(flg)                                                       \
                :                                                                                  \
                : "cc");                                                                           \
        x = v;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
    case 4: {                                                                                      \
        uint32_t v = (uint32_t)(x);                                                                \
        __asm__("push %[f]\n\tpopfq\n\t" insn "l %[v]\n\tpushfq\n\tpop %[f]"                       \
                : [v] "+r"(v), [f] "+r"(flg)                                                       \
                :                                                                                  \
                : "cc");                                                                           \
        x = v;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
    default: {                                                                                     \
        uint64_t v = (x);                                                                          \
        __asm__("push %[f]\n\tpopfq\n\t" insn "q %[v]\n\tpushfq\n\tpop %[f]"                       \
                : [v] "+r"(v), [f] "+r"(flg)                                                       \
                :                                                                                  \
                : "cc");                                                                           \
        x = v;                                                                                     \
        break;                                                                                     \
    }                                                                                              \
    }

bool emu_cond(uint64_t f, unsigned cc)
{
    bool cf = f & RFLAGS_CF, zf = f & RFLAGS_ZF, sf = f & RFLAGS_SF, of = f & RFLAGS_OF;
    bool pf = f & RFLAGS_PF, r;

    switch (cc >> 1) {
    case 0:
        r = of;
        break;
    case 1:
        r = cf;
        break;
    case 2:
        r = zf;
        break;
    case 3:
        r = cf || zf;
        break;
    case 4:
        r = sf;
        break;
    case 5:
        r = pf;
        break;
    case 6:
        r = sf != of;
        break;
    default:
        r = zf || sf != of;
        break;
    }
    return (cc & 1) ? !r : r;
}

/* Host flags to load: the guest's status flags only (never TF, IF, DF...). */
static uint64_t flags_in(const struct emu_cpu *cpu)
{
    return (cpu->rflags & RFLAGS_STATUS) | RFLAGS_FIXED;
}

static void flags_out(struct emu_cpu *cpu, uint64_t f)
{
    cpu->rflags = (cpu->rflags & ~RFLAGS_STATUS) | (f & RFLAGS_STATUS);
}

static uint64_t binop(ZydisMnemonic m, uint64_t a, uint64_t b, unsigned size, uint64_t *f)
{
    switch (m) {
    case ZYDIS_MNEMONIC_ADD:
        HOST_OP2("add", size, a, b, *f, "r", "%[s]");
        break;
    case ZYDIS_MNEMONIC_OR:
        HOST_OP2("or", size, a, b, *f, "r", "%[s]");
        break;
    case ZYDIS_MNEMONIC_ADC:
        HOST_OP2("adc", size, a, b, *f, "r", "%[s]");
        break;
    case ZYDIS_MNEMONIC_SBB:
        HOST_OP2("sbb", size, a, b, *f, "r", "%[s]");
        break;
    case ZYDIS_MNEMONIC_AND:
    case ZYDIS_MNEMONIC_TEST:
        HOST_OP2("and", size, a, b, *f, "r", "%[s]");
        break;
    case ZYDIS_MNEMONIC_SUB:
    case ZYDIS_MNEMONIC_CMP:
        HOST_OP2("sub", size, a, b, *f, "r", "%[s]");
        break;
    case ZYDIS_MNEMONIC_XOR:
        HOST_OP2("xor", size, a, b, *f, "r", "%[s]");
        break;
    case ZYDIS_MNEMONIC_SHL:
        HOST_OP2("shl", size, a, b, *f, "c", "%%cl");
        break;
    case ZYDIS_MNEMONIC_SHR:
        HOST_OP2("shr", size, a, b, *f, "c", "%%cl");
        break;
    case ZYDIS_MNEMONIC_SAR:
        HOST_OP2("sar", size, a, b, *f, "c", "%%cl");
        break;
    case ZYDIS_MNEMONIC_ROL:
        HOST_OP2("rol", size, a, b, *f, "c", "%%cl");
        break;
    case ZYDIS_MNEMONIC_ROR:
        HOST_OP2("ror", size, a, b, *f, "c", "%%cl");
        break;
    case ZYDIS_MNEMONIC_RCL:
        HOST_OP2("rcl", size, a, b, *f, "c", "%%cl");
        break;
    case ZYDIS_MNEMONIC_RCR:
        HOST_OP2("rcr", size, a, b, *f, "c", "%%cl");
        break;
    case ZYDIS_MNEMONIC_BSF:
        HOST_OP2W("bsf", size, a, b, *f, "r", "%[s]");
        break;
    case ZYDIS_MNEMONIC_BSR:
        HOST_OP2W("bsr", size, a, b, *f, "r", "%[s]");
        break;
    case ZYDIS_MNEMONIC_TZCNT:
        HOST_OP2W("tzcnt", size, a, b, *f, "r", "%[s]");
        break;
    case ZYDIS_MNEMONIC_LZCNT:
        HOST_OP2W("lzcnt", size, a, b, *f, "r", "%[s]");
        break;
    case ZYDIS_MNEMONIC_POPCNT:
        HOST_OP2W("popcnt", size, a, b, *f, "r", "%[s]");
        break;
    case ZYDIS_MNEMONIC_IMUL:
        HOST_OP2W("imul", size, a, b, *f, "r", "%[s]");
        break;
    default:
        break;
    }
    return a & emu_mask(size);
}

static uint64_t unop(ZydisMnemonic m, uint64_t a, unsigned size, uint64_t *f)
{
    switch (m) {
    case ZYDIS_MNEMONIC_INC:
        HOST_OP1("inc", size, a, *f);
        break;
    case ZYDIS_MNEMONIC_DEC:
        HOST_OP1("dec", size, a, *f);
        break;
    case ZYDIS_MNEMONIC_NEG:
        HOST_OP1("neg", size, a, *f);
        break;
    case ZYDIS_MNEMONIC_NOT:
        HOST_OP1("not", size, a, *f);
        break;
    default:
        break;
    }
    return a & emu_mask(size);
}

/* SHLD/SHRD dst, src, count. */
static uint64_t double_shift(bool left, uint64_t d, uint64_t s, uint8_t c, unsigned size,
                             uint64_t *f)
{
    switch (size) {
    case 2: {
        uint16_t v = (uint16_t)d;

        if (left)
            __asm__("push %[f]\n\tpopfq\n\tshldw %%cl, %[s], %[v]\n\tpushfq\n\tpop %[f]"
                    : [v] "+r"(v), [f] "+r"(*f)
                    : [s] "r"((uint16_t)s), "c"(c)
                    : "cc");
        else
            __asm__("push %[f]\n\tpopfq\n\tshrdw %%cl, %[s], %[v]\n\tpushfq\n\tpop %[f]"
                    : [v] "+r"(v), [f] "+r"(*f)
                    : [s] "r"((uint16_t)s), "c"(c)
                    : "cc");
        return v;
    }
    case 4: {
        uint32_t v = (uint32_t)d;

        if (left)
            __asm__("push %[f]\n\tpopfq\n\tshldl %%cl, %[s], %[v]\n\tpushfq\n\tpop %[f]"
                    : [v] "+r"(v), [f] "+r"(*f)
                    : [s] "r"((uint32_t)s), "c"(c)
                    : "cc");
        else
            __asm__("push %[f]\n\tpopfq\n\tshrdl %%cl, %[s], %[v]\n\tpushfq\n\tpop %[f]"
                    : [v] "+r"(v), [f] "+r"(*f)
                    : [s] "r"((uint32_t)s), "c"(c)
                    : "cc");
        return v;
    }
    default: {
        uint64_t v = d;

        if (left)
            __asm__("push %[f]\n\tpopfq\n\tshldq %%cl, %[s], %[v]\n\tpushfq\n\tpop %[f]"
                    : [v] "+r"(v), [f] "+r"(*f)
                    : [s] "r"(s), "c"(c)
                    : "cc");
        else
            __asm__("push %[f]\n\tpopfq\n\tshrdq %%cl, %[s], %[v]\n\tpushfq\n\tpop %[f]"
                    : [v] "+r"(v), [f] "+r"(*f)
                    : [s] "r"(s), "c"(c)
                    : "cc");
        return v;
    }
    }
}

/* One-operand MUL/IMUL: rDX:rAX (AX for bytes) = rAX * src, host flags. */
static void mul1(struct emu_cpu *cpu, bool is_signed, uint64_t src, unsigned size)
{
    uint64_t f = flags_in(cpu), a = cpu->gpr[0], d = cpu->gpr[GPR_RDX];

    switch (size) {
    case 1: {
        uint16_t ax = (uint8_t)a;

        if (is_signed)
            __asm__("push %[f]\n\tpopfq\n\timulb %[s]\n\tpushfq\n\tpop %[f]"
                    : "+a"(ax), [f] "+r"(f)
                    : [s] "q"((uint8_t)src)
                    : "cc");
        else
            __asm__("push %[f]\n\tpopfq\n\tmulb %[s]\n\tpushfq\n\tpop %[f]"
                    : "+a"(ax), [f] "+r"(f)
                    : [s] "q"((uint8_t)src)
                    : "cc");
        cpu->gpr[0] = (a & ~0xffffULL) | ax;
        break;
    }
    case 2: {
        uint16_t lo = (uint16_t)a, hi;

        if (is_signed)
            __asm__("push %[f]\n\tpopfq\n\timulw %[s]\n\tpushfq\n\tpop %[f]"
                    : "+a"(lo), "=d"(hi), [f] "+r"(f)
                    : [s] "r"((uint16_t)src)
                    : "cc");
        else
            __asm__("push %[f]\n\tpopfq\n\tmulw %[s]\n\tpushfq\n\tpop %[f]"
                    : "+a"(lo), "=d"(hi), [f] "+r"(f)
                    : [s] "r"((uint16_t)src)
                    : "cc");
        cpu->gpr[0] = (a & ~0xffffULL) | lo;
        cpu->gpr[GPR_RDX] = (d & ~0xffffULL) | hi;
        break;
    }
    case 4: {
        uint32_t lo = (uint32_t)a, hi;

        if (is_signed)
            __asm__("push %[f]\n\tpopfq\n\timull %[s]\n\tpushfq\n\tpop %[f]"
                    : "+a"(lo), "=d"(hi), [f] "+r"(f)
                    : [s] "r"((uint32_t)src)
                    : "cc");
        else
            __asm__("push %[f]\n\tpopfq\n\tmull %[s]\n\tpushfq\n\tpop %[f]"
                    : "+a"(lo), "=d"(hi), [f] "+r"(f)
                    : [s] "r"((uint32_t)src)
                    : "cc");
        cpu->gpr[0] = lo;
        cpu->gpr[GPR_RDX] = hi;
        break;
    }
    default: {
        uint64_t lo = a, hi;

        if (is_signed)
            __asm__("push %[f]\n\tpopfq\n\timulq %[s]\n\tpushfq\n\tpop %[f]"
                    : "+a"(lo), "=d"(hi), [f] "+r"(f)
                    : [s] "r"(src)
                    : "cc");
        else
            __asm__("push %[f]\n\tpopfq\n\tmulq %[s]\n\tpushfq\n\tpop %[f]"
                    : "+a"(lo), "=d"(hi), [f] "+r"(f)
                    : [s] "r"(src)
                    : "cc");
        cpu->gpr[0] = lo;
        cpu->gpr[GPR_RDX] = hi;
        break;
    }
    }
    flags_out(cpu, f);
}

/* DIV/IDIV: #DE for a zero divisor or a quotient that does not fit, checked
 * here because the host instruction would kill vx86 with SIGFPE. The
 * arithmetic flags are undefined after a division; they are left alone. */
static void div1(struct emu_cpu *cpu, bool is_signed, uint64_t src, unsigned size)
{
    unsigned bits = size * 8;
    unsigned __int128 dividend;
    uint64_t mask = emu_mask(size), q, r;

    if ((src & mask) == 0)
        emu_raise(cpu, EXC_DE, EXC_NO_ERROR);
    if (size == 1)
        dividend = cpu->gpr[0] & 0xffff;
    else
        dividend = ((unsigned __int128)(cpu->gpr[GPR_RDX] & mask) << bits) | (cpu->gpr[0] & mask);
    if (!is_signed) {
        unsigned __int128 qq = dividend / (src & mask);

        if (qq > mask)
            emu_raise(cpu, EXC_DE, EXC_NO_ERROR);
        q = (uint64_t)qq;
        r = (uint64_t)(dividend % (src & mask));
    } else {
        __int128 n = (__int128)(dividend << (128 - 2 * bits)) >> (128 - 2 * bits);
        int64_t dv = (int64_t)(src << (64 - bits)) >> (64 - bits);
        __int128 lim = (__int128)1 << (bits - 1), qq, rr;

        /* -2^127 / -1 does not fit even in 128 bits: its quotient overflows
         * any operand size, so it is #DE before the host divides. */
        if (dv == -1 && n == (__int128)((unsigned __int128)1 << 127))
            emu_raise(cpu, EXC_DE, EXC_NO_ERROR);
        qq = n / dv;
        rr = n % dv;
        if (qq >= lim || qq < -lim)
            emu_raise(cpu, EXC_DE, EXC_NO_ERROR);
        q = (uint64_t)qq & mask;
        r = (uint64_t)rr & mask;
    }
    if (size == 1) {
        cpu->gpr[0] = (cpu->gpr[0] & ~0xffffULL) | (r << 8) | q;
    } else if (size == 2) {
        cpu->gpr[0] = (cpu->gpr[0] & ~0xffffULL) | q;
        cpu->gpr[GPR_RDX] = (cpu->gpr[GPR_RDX] & ~0xffffULL) | r;
    } else {
        cpu->gpr[0] = q;
        cpu->gpr[GPR_RDX] = r;
    }
}

/* The operand-sized word of a memory BT/BTS/BTR/BTC that holds the bit: a
 * register offset is signed, from -2^(bits-1), and reaches outside the
 * operand (SDM BT: the word at addr + (offset DIV bits) * size); an
 * immediate one is taken modulo the operand size. */
static uint64_t bit_address(struct emu_cpu *cpu, unsigned size, uint64_t addr, uint64_t off)
{
    if (cpu->decoded->ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER) {
        unsigned bits = size * 8;
        int64_t soff = (int64_t)(off << (64 - bits)) >> (64 - bits);

        addr += (uint64_t)((soff >> 3) & ~(int64_t)(size - 1));
        addr &= emu_mask(cpu->decoded->insn.address_width / 8);
    }
    return addr;
}

/* BT/BTS/BTR/BTC: a register bit offset addresses a bit string in memory. */
static void bit_test(struct emu_cpu *cpu, ZydisMnemonic m)
{
    unsigned size = cpu->decoded->ops[0].size / 8, bits = size * 8;
    uint64_t off = emu_op_read(cpu, 1), v, bit;
    int seg = 0;
    uint64_t addr = 0;
    bool mem = cpu->decoded->ops[0].type == ZYDIS_OPERAND_TYPE_MEMORY;

    if (mem) {
        seg = emu_op_seg(cpu, 0);
        addr = bit_address(cpu, size, emu_op_address(cpu, 0), off);
        v = emu_read(cpu, seg, addr, size);
    } else {
        v = emu_op_read(cpu, 0);
    }
    bit = off & (bits - 1);
    cpu->rflags = (cpu->rflags & ~RFLAGS_CF) | ((v >> bit) & 1);
    switch (m) {
    case ZYDIS_MNEMONIC_BTS:
        v |= 1ULL << bit;
        break;
    case ZYDIS_MNEMONIC_BTR:
        v &= ~(1ULL << bit);
        break;
    case ZYDIS_MNEMONIC_BTC:
        v ^= 1ULL << bit;
        break;
    default:
        return;
    }
    if (mem)
        emu_write(cpu, seg, addr, v, size);
    else
        emu_op_write(cpu, 0, v);
}

static void cmpxchg(struct emu_cpu *cpu)
{
    unsigned size = cpu->decoded->ops[0].size / 8;
    uint64_t dst = emu_op_read(cpu, 0), acc = cpu->gpr[0] & emu_mask(size);
    uint64_t f = flags_in(cpu), t = acc;

    HOST_OP2("cmp", size, t, dst, f, "r", "%[s]");
    flags_out(cpu, f);
    if (acc == dst) {
        emu_op_write(cpu, 0, emu_op_read(cpu, 1));
    } else {
        /* A memory destination is written back unchanged (a locked cycle);
         * a register one is left alone, upper half included (as the host
         * CPU, the oracle, does). */
        if (cpu->decoded->ops[0].type == ZYDIS_OPERAND_TYPE_MEMORY)
            emu_op_write(cpu, 0, dst);
        emu_reg_write(cpu,
                      size == 8   ? ZYDIS_REGISTER_RAX
                      : size == 4 ? ZYDIS_REGISTER_EAX
                      : size == 2 ? ZYDIS_REGISTER_AX
                                  : ZYDIS_REGISTER_AL,
                      dst);
    }
}

static void cmpxchg_double(struct emu_cpu *cpu)
{
    unsigned half = cpu->decoded->ops[0].size == 128 ? 8 : 4;
    int seg = emu_op_seg(cpu, 0);
    uint64_t addr = emu_op_address(cpu, 0), m = emu_mask(half);
    uint64_t lo, hi;

    if (half == 8 && (addr & 15))
        emu_raise(cpu, EXC_GP, 0);
    lo = emu_read(cpu, seg, addr, half);
    hi = emu_read(cpu, seg, addr + half, half);
    if (lo == (cpu->gpr[0] & m) && hi == (cpu->gpr[GPR_RDX] & m)) {
        emu_write(cpu, seg, addr, cpu->gpr[GPR_RBX] & m, half);
        emu_write(cpu, seg, addr + half, cpu->gpr[GPR_RCX] & m, half);
        cpu->rflags |= RFLAGS_ZF;
    } else {
        emu_write(cpu, seg, addr, lo, half);
        emu_write(cpu, seg, addr + half, hi, half);
        cpu->gpr[0] = half == 8 ? lo : lo & 0xffffffff;
        cpu->gpr[GPR_RDX] = half == 8 ? hi : hi & 0xffffffff;
        cpu->rflags &= ~RFLAGS_ZF;
    }
}

static bool exec_alu(struct emu_cpu *cpu);

/* Compare-and-swap of size bytes at p, which need not be aligned (a locked
 * operation across a cache line or two host pages is atomic on an x86 host,
 * SDM Vol. 3A §9.1.2.2); on failure *expected gets the current value. Inline
 * LOCK CMPXCHG rather than __atomic builtins: those assume an aligned object. */
static bool cas_n(uint8_t *p, uint64_t *expected, uint64_t desired, unsigned size)
{
    bool ok;

    switch (size) {
    case 1: {
        uint8_t e = (uint8_t)*expected;

        __asm__ volatile("lock cmpxchgb %[d], (%[p])"
                         : "+a"(e), "=@ccz"(ok)
                         : [p] "r"(p), [d] "q"((uint8_t)desired)
                         : "memory");
        *expected = e;
        return ok;
    }
    case 2: {
        uint16_t e = (uint16_t)*expected;

        __asm__ volatile("lock cmpxchgw %[d], (%[p])"
                         : "+a"(e), "=@ccz"(ok)
                         : [p] "r"(p), [d] "r"((uint16_t)desired)
                         : "memory");
        *expected = e;
        return ok;
    }
    case 4: {
        uint32_t e = (uint32_t)*expected;

        __asm__ volatile("lock cmpxchgl %[d], (%[p])"
                         : "+a"(e), "=@ccz"(ok)
                         : [p] "r"(p), [d] "r"((uint32_t)desired)
                         : "memory");
        *expected = e;
        return ok;
    }
    default:
        __asm__ volatile("lock cmpxchgq %[d], (%[p])"
                         : "+a"(*expected), "=@ccz"(ok)
                         : [p] "r"(p), [d] "r"(desired)
                         : "memory");
        return ok;
    }
}

/* CMPXCHG16B on the host: p is 16-byte aligned (the guest's #GP saw to it). */
static bool cas_16(uint8_t *p, uint64_t *lo, uint64_t *hi, uint64_t new_lo, uint64_t new_hi)
{
    bool ok;

    __asm__ volatile("lock cmpxchg16b (%[p])"
                     : "+a"(*lo), "+d"(*hi), "=@ccz"(ok)
                     : [p] "r"(p), "b"(new_lo), "c"(new_hi)
                     : "memory");
    return ok;
}

/* A first guess at the value for the CAS loop: a torn read only costs a retry. */
static uint64_t peek(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;

    memcpy(&v, p, size);
    return v;
}

static ZydisRegister acc_reg(unsigned size)
{
    return size == 8   ? ZYDIS_REGISTER_RAX
           : size == 4 ? ZYDIS_REGISTER_EAX
           : size == 2 ? ZYDIS_REGISTER_AX
                       : ZYDIS_REGISTER_AL;
}

/*
 * Where a locked read-modify-write (or XCHG) works: segment, offset and
 * size of its memory operand mem_op. For BTS/BTR/BTC that is the operand-
 * sized word holding the bit, the register form reaching outside the
 * operand; *bit is the bit's number in it.
 */
static void locked_operand(struct emu_cpu *cpu, int mem_op, int *seg, uint64_t *addr,
                           unsigned *size, unsigned *bit)
{
    ZydisMnemonic m = cpu->decoded->insn.mnemonic;

    *seg = emu_op_seg(cpu, mem_op);
    *addr = emu_op_address(cpu, mem_op);
    *size = cpu->decoded->ops[mem_op].size / 8;
    switch (m) {
    case ZYDIS_MNEMONIC_BTS:
    case ZYDIS_MNEMONIC_BTR:
    case ZYDIS_MNEMONIC_BTC:
        *addr = bit_address(cpu, *size, *addr, emu_op_read(cpu, 1));
        *bit = (unsigned)(emu_op_read(cpu, 1) & (*size * 8 - 1));
        break;
    case ZYDIS_MNEMONIC_CMPXCHG8B:
        *size = 8;
        break;
    case ZYDIS_MNEMONIC_CMPXCHG16B:
        *size = 16;
        if (*addr & 15)
            emu_raise(cpu, EXC_GP, 0);
        break;
    default:
        break;
    }
}

/* CMPXCHG16B by host CMPXCHG16B: EDX:EAX and ZF as the guest's. */
static void locked_cmpxchg16b(struct emu_cpu *cpu, uint8_t *p)
{
    uint64_t lo = cpu->gpr[GPR_RAX], hi = cpu->gpr[GPR_RDX];

    if (cas_16(p, &lo, &hi, cpu->gpr[GPR_RBX], cpu->gpr[GPR_RCX])) {
        cpu->rflags |= RFLAGS_ZF;
    } else {
        cpu->gpr[GPR_RAX] = lo;
        cpu->gpr[GPR_RDX] = hi;
        cpu->rflags &= ~RFLAGS_ZF;
    }
}

/*
 * The locked read-modify-write of the instruction on the size bytes at p
 * (host memory): the new value is computed from the one read and stored by
 * compare-and-swap, again if another vCPU or a device changed it meanwhile,
 * so the operation is atomic against every other access, as on hardware.
 * src is the source operand (XCHG's register). Flags and registers are
 * written once the swap is done.
 */
static void locked_rmw(struct emu_cpu *cpu, int mem_op, uint8_t *p, unsigned size, unsigned bit,
                       uint64_t src)
{
    ZydisMnemonic m = cpu->decoded->insn.mnemonic;
    uint64_t old = peek(p, size), new, f;
    bool swapped = true;

    for (;;) {
        f = flags_in(cpu);
        switch (m) {
        case ZYDIS_MNEMONIC_XCHG:
            new = src;
            break;
        case ZYDIS_MNEMONIC_XADD:
            new = binop(ZYDIS_MNEMONIC_ADD, old, src, size, &f);
            break;
        case ZYDIS_MNEMONIC_CMPXCHG: {
            uint64_t acc = cpu->gpr[GPR_RAX] & emu_mask(size), t = acc;

            HOST_OP2("cmp", size, t, old, f, "r", "%[s]");
            swapped = acc == old;
            /* On a mismatch the old value is written back (a locked cycle). */
            new = swapped ? src : old;
            break;
        }
        case ZYDIS_MNEMONIC_CMPXCHG8B:
            swapped =
                old == ((cpu->gpr[GPR_RDX] & 0xffffffff) << 32 | (cpu->gpr[GPR_RAX] & 0xffffffff));
            new = swapped
                      ? (cpu->gpr[GPR_RCX] & 0xffffffff) << 32 | (cpu->gpr[GPR_RBX] & 0xffffffff)
                      : old;
            break;
        case ZYDIS_MNEMONIC_BTS:
            new = old | 1ULL << bit;
            break;
        case ZYDIS_MNEMONIC_BTR:
            new = old & ~(1ULL << bit);
            break;
        case ZYDIS_MNEMONIC_BTC:
            new = old ^ 1ULL << bit;
            break;
        case ZYDIS_MNEMONIC_INC:
        case ZYDIS_MNEMONIC_DEC:
        case ZYDIS_MNEMONIC_NEG:
        case ZYDIS_MNEMONIC_NOT:
            new = unop(m, old, size, &f);
            break;
        default:
            new = binop(m, old, src, size, &f);
            break;
        }
        if (cas_n(p, &old, new, size))
            break;
    }
    switch (m) {
    case ZYDIS_MNEMONIC_XCHG:
        emu_op_write(cpu, mem_op == 0 ? 1 : 0, old);
        return;
    case ZYDIS_MNEMONIC_NOT:
        return;
    case ZYDIS_MNEMONIC_CMPXCHG8B:
        /* ZF alone; EDX:EAX take the old value on a mismatch (SDM CMPXCHG8B). */
        if (swapped) {
            cpu->rflags |= RFLAGS_ZF;
        } else {
            cpu->gpr[GPR_RAX] = old & 0xffffffff;
            cpu->gpr[GPR_RDX] = old >> 32;
            cpu->rflags &= ~RFLAGS_ZF;
        }
        return;
    case ZYDIS_MNEMONIC_BTS:
    case ZYDIS_MNEMONIC_BTR:
    case ZYDIS_MNEMONIC_BTC:
        cpu->rflags = (cpu->rflags & ~RFLAGS_CF) | ((old >> bit) & 1);
        return;
    default:
        flags_out(cpu, f);
        break;
    }
    if (m == ZYDIS_MNEMONIC_XADD)
        emu_op_write(cpu, 1, old);
    else if (!swapped)
        emu_reg_write(cpu, acc_reg(size), old);
}

/*
 * A locked read-modify-write, XCHG's included, of memory operand mem_op (src
 * the register operand's value). Its operand is translated for writing
 * first, both pages of it when it crosses one, so that a fault comes before
 * anything is written. In RAM that is contiguous in the host (one page, or
 * two adjacent ones: guest RAM is one host mapping, vm/mem.h) it is a host
 * atomic operation. Elsewhere (MMIO, or two pages apart in the host) it runs
 * as the plain instruction alone: every other vCPU stopped at an
 * instruction boundary meanwhile (emu_start_exclusive), atomic against them
 * but not against device DMA, which no vCPU stops.
 */
static bool exec_locked(struct emu_cpu *cpu, int mem_op, uint64_t src)
{
    ZydisMnemonic m = cpu->decoded->insn.mnemonic;
    unsigned size, bit = 0;
    uint64_t addr;
    uint8_t *p;
    int seg;
    bool done = true;

    locked_operand(cpu, mem_op, &seg, &addr, &size, &bit);
    p = emu_host_atomic(cpu, seg, addr, size);
    if (p && m == ZYDIS_MNEMONIC_CMPXCHG16B) {
        locked_cmpxchg16b(cpu, p);
        return true;
    }
    if (p) {
        locked_rmw(cpu, mem_op, p, size, bit, src);
        return true;
    }
    emu_start_exclusive(cpu);
    if (m == ZYDIS_MNEMONIC_XCHG) {
        uint64_t old = emu_op_read(cpu, mem_op);

        emu_op_write(cpu, mem_op, src);
        emu_op_write(cpu, mem_op == 0 ? 1 : 0, old);
    } else {
        done = exec_alu(cpu);
    }
    emu_end_exclusive(cpu);
    return done;
}

void emu_xchg_mem(struct emu_cpu *cpu, int mem_op, int reg_op)
{
    exec_locked(cpu, mem_op, emu_op_read(cpu, reg_op));
}

bool emu_exec_alu(struct emu_cpu *cpu)
{
    uint64_t src = 0;

    if (!(cpu->decoded->insn.attributes & ZYDIS_ATTRIB_HAS_LOCK) ||
        cpu->decoded->ops[0].type != ZYDIS_OPERAND_TYPE_MEMORY)
        return exec_alu(cpu);
    switch (cpu->decoded->insn.mnemonic) {
    case ZYDIS_MNEMONIC_ADD:
    case ZYDIS_MNEMONIC_OR:
    case ZYDIS_MNEMONIC_ADC:
    case ZYDIS_MNEMONIC_SBB:
    case ZYDIS_MNEMONIC_AND:
    case ZYDIS_MNEMONIC_SUB:
    case ZYDIS_MNEMONIC_XOR:
    case ZYDIS_MNEMONIC_XADD:
    case ZYDIS_MNEMONIC_CMPXCHG:
        src = emu_op_read(cpu, 1);
        break;
    case ZYDIS_MNEMONIC_INC:
    case ZYDIS_MNEMONIC_DEC:
    case ZYDIS_MNEMONIC_NEG:
    case ZYDIS_MNEMONIC_NOT:
    case ZYDIS_MNEMONIC_BTS:
    case ZYDIS_MNEMONIC_BTR:
    case ZYDIS_MNEMONIC_BTC:
    case ZYDIS_MNEMONIC_CMPXCHG8B:
    case ZYDIS_MNEMONIC_CMPXCHG16B:
        break;
    default:
        /* LOCK on any other instruction is #UD (SDM LOCK). */
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    }
    return exec_locked(cpu, 0, src);
}

static bool exec_alu(struct emu_cpu *cpu)
{
    ZydisMnemonic m = cpu->decoded->insn.mnemonic;
    unsigned size = cpu->decoded->ops[0].size / 8;
    uint64_t f = flags_in(cpu), a, b, r;

    switch (m) {
    case ZYDIS_MNEMONIC_ADD:
    case ZYDIS_MNEMONIC_OR:
    case ZYDIS_MNEMONIC_ADC:
    case ZYDIS_MNEMONIC_SBB:
    case ZYDIS_MNEMONIC_AND:
    case ZYDIS_MNEMONIC_SUB:
    case ZYDIS_MNEMONIC_XOR:
    case ZYDIS_MNEMONIC_SHL:
    case ZYDIS_MNEMONIC_SHR:
    case ZYDIS_MNEMONIC_SAR:
    case ZYDIS_MNEMONIC_ROL:
    case ZYDIS_MNEMONIC_ROR:
    case ZYDIS_MNEMONIC_RCL:
    case ZYDIS_MNEMONIC_RCR:
        a = emu_op_read(cpu, 0);
        b = emu_op_read(cpu, 1);
        r = binop(m, a, b, size, &f);
        emu_op_write(cpu, 0, r);
        flags_out(cpu, f);
        return true;
    case ZYDIS_MNEMONIC_CMP:
    case ZYDIS_MNEMONIC_TEST:
        a = emu_op_read(cpu, 0);
        b = emu_op_read(cpu, 1);
        binop(m, a, b, size, &f);
        flags_out(cpu, f);
        return true;
    case ZYDIS_MNEMONIC_BSF:
    case ZYDIS_MNEMONIC_BSR:
    case ZYDIS_MNEMONIC_TZCNT:
    case ZYDIS_MNEMONIC_LZCNT:
    case ZYDIS_MNEMONIC_POPCNT:
        /* The destination is an input too: BSF/BSR leave it alone for a zero source. */
        a = emu_op_read(cpu, 0);
        b = emu_op_read(cpu, 1);
        r = binop(m, a, b, size, &f);
        emu_op_write(cpu, 0, r);
        flags_out(cpu, f);
        return true;
    case ZYDIS_MNEMONIC_INC:
    case ZYDIS_MNEMONIC_DEC:
    case ZYDIS_MNEMONIC_NEG:
    case ZYDIS_MNEMONIC_NOT:
        r = unop(m, emu_op_read(cpu, 0), size, &f);
        emu_op_write(cpu, 0, r);
        if (m != ZYDIS_MNEMONIC_NOT)
            flags_out(cpu, f);
        return true;
    case ZYDIS_MNEMONIC_SHLD:
    case ZYDIS_MNEMONIC_SHRD:
        r = double_shift(m == ZYDIS_MNEMONIC_SHLD, emu_op_read(cpu, 0), emu_op_read(cpu, 1),
                         (uint8_t)emu_op_read(cpu, 2), size, &f);
        emu_op_write(cpu, 0, r);
        flags_out(cpu, f);
        return true;
    case ZYDIS_MNEMONIC_MUL:
    case ZYDIS_MNEMONIC_IMUL:
        if (cpu->decoded->insn.operand_count_visible == 1) {
            mul1(cpu, m == ZYDIS_MNEMONIC_IMUL, emu_op_read(cpu, 0), size);
            return true;
        }
        /* IMUL r, r/m[, imm]: the last two visible operands are the factors. */
        a = emu_op_read(cpu, cpu->decoded->insn.operand_count_visible == 3 ? 1 : 0);
        b = emu_op_read(cpu, cpu->decoded->insn.operand_count_visible == 3 ? 2 : 1);
        r = binop(m, a, b, size, &f);
        emu_op_write(cpu, 0, r);
        flags_out(cpu, f);
        return true;
    case ZYDIS_MNEMONIC_DIV:
    case ZYDIS_MNEMONIC_IDIV:
        div1(cpu, m == ZYDIS_MNEMONIC_IDIV, emu_op_read(cpu, 0), size);
        return true;
    case ZYDIS_MNEMONIC_BT:
    case ZYDIS_MNEMONIC_BTS:
    case ZYDIS_MNEMONIC_BTR:
    case ZYDIS_MNEMONIC_BTC:
        bit_test(cpu, m);
        return true;
    case ZYDIS_MNEMONIC_XADD:
        /* SRC = DEST, then DEST = sum: with one register for both, the sum
         * wins. A memory destination is stored first, while the registers
         * that address it still hold their old values. */
        a = emu_op_read(cpu, 0);
        b = emu_op_read(cpu, 1);
        r = binop(ZYDIS_MNEMONIC_ADD, a, b, size, &f);
        if (cpu->decoded->ops[0].type == ZYDIS_OPERAND_TYPE_MEMORY) {
            emu_op_write(cpu, 0, r);
            emu_op_write(cpu, 1, a);
        } else {
            emu_op_write(cpu, 1, a);
            emu_op_write(cpu, 0, r);
        }
        flags_out(cpu, f);
        return true;
    case ZYDIS_MNEMONIC_CMPXCHG:
        cmpxchg(cpu);
        return true;
    case ZYDIS_MNEMONIC_CMPXCHG8B:
    case ZYDIS_MNEMONIC_CMPXCHG16B:
        cmpxchg_double(cpu);
        return true;
    default:
        return false;
    }
}
