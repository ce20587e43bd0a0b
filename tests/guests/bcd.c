/*
 * The decimal-arithmetic instructions of legacy mode (#UD in 64-bit mode):
 * DAA, DAS, AAA, AAS, AAM and AAD, against a model written from their
 * Operation sections in the SDM Vol. 2 (which hardware agrees with on every
 * AX and CF/AF input: checked on an AMD EPYC host), on every AL, four AH
 * values and every CF/AF input, comparing AX and the flags each instruction
 * defines. A few results taken from that host anchor the model, and AAM 0
 * must raise #DE.
 */
#include "lib/desc32.h"
#include "lib/guest.h"
#include "lib/trap32.h"

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10

/* The arithmetic flags each instruction defines; the others are undefined
 * (SDM Vol. 2, each instruction's "Flags Affected"). */
#define FLAGS_DAA (EFLAGS_CF | EFLAGS_AF | EFLAGS_SF | EFLAGS_ZF | EFLAGS_PF)
#define FLAGS_AAA (EFLAGS_CF | EFLAGS_AF)
#define FLAGS_AAM (EFLAGS_SF | EFLAGS_ZF | EFLAGS_PF)

static uint64_t gdt[3] = {
    [KERNEL_CS / 8] = 0x00cf9a000000ffffull,
    [KERNEL_DS / 8] = 0x00cf92000000ffffull,
};

struct result {
    uint16_t ax;
    uint32_t flags;
};

/* ---- the model: SDM Vol. 2 Operation sections ---- */

static uint32_t szp(uint8_t v)
{
    uint32_t f = v ? 0 : EFLAGS_ZF;
    unsigned ones = 0;

    for (int i = 0; i < 8; i++)
        ones += v >> i & 1;
    if (!(ones & 1))
        f |= EFLAGS_PF;
    if (v & 0x80)
        f |= EFLAGS_SF;
    return f;
}

/* The first step's carry out of AL + 6 goes to CF only through the
 * second step, which sets or clears CF by the original AL and CF. */
static struct result model_daa(uint16_t ax, uint32_t in)
{
    uint8_t al = (uint8_t)ax, old_al = al;
    uint32_t f = 0;

    if ((al & 0xf) > 9 || (in & EFLAGS_AF)) {
        al += 6;
        f |= EFLAGS_AF;
    }
    if (old_al > 0x99 || (in & EFLAGS_CF)) {
        al += 0x60;
        f |= EFLAGS_CF;
    }
    return (struct result){(uint16_t)((ax & 0xff00) | al), f | szp(al)};
}

/* Unlike DAA, the borrow out of AL - 6 reaches CF: the second step only
 * ever sets CF. */
static struct result model_das(uint16_t ax, uint32_t in)
{
    uint8_t al = (uint8_t)ax, old_al = al;
    uint32_t f = 0;

    if ((al & 0xf) > 9 || (in & EFLAGS_AF)) {
        if ((in & EFLAGS_CF) || al < 6)
            f |= EFLAGS_CF;
        al -= 6;
        f |= EFLAGS_AF;
    }
    if (old_al > 0x99 || (in & EFLAGS_CF)) {
        al -= 0x60;
        f |= EFLAGS_CF;
    }
    return (struct result){(uint16_t)((ax & 0xff00) | al), f | szp(al)};
}

/* AX + 106H: AL's carry reaches AH. */
static struct result model_aaa(uint16_t ax, uint32_t in)
{
    uint32_t f = 0;

    if ((ax & 0xf) > 9 || (in & EFLAGS_AF)) {
        ax += 0x106;
        f = EFLAGS_CF | EFLAGS_AF;
    }
    return (struct result){(uint16_t)(ax & 0xff0f), f};
}

/* AX - 6, then AH - 1: AL's borrow reaches AH. */
static struct result model_aas(uint16_t ax, uint32_t in)
{
    uint32_t f = 0;

    if ((ax & 0xf) > 9 || (in & EFLAGS_AF)) {
        ax -= 6;
        ax -= 0x100;
        f = EFLAGS_CF | EFLAGS_AF;
    }
    return (struct result){(uint16_t)(ax & 0xff0f), f};
}

static struct result model_aam(uint16_t ax, uint8_t base)
{
    uint8_t al = (uint8_t)ax;

    return (struct result){(uint16_t)((al / base) << 8 | al % base), szp(al % base)};
}

static struct result model_aad(uint16_t ax, uint8_t base)
{
    uint8_t al = (uint8_t)((ax & 0xff) + (ax >> 8) * base);

    return (struct result){al, szp(al)};
}

/* ---- the instructions ---- */

/* Runs insn with AX = ax and the arithmetic flags of in. */
#define RUN(insn, ax, in)                                                                          \
    ({                                                                                             \
        uint32_t a_ = (ax), f_;                                                                    \
        __asm__ volatile("pushl %[fi]\n\tpopfl\n\t" insn "\n\tpushfl\n\tpopl %[fo]"                \
                         : "+a"(a_), [fo] "=r"(f_)                                                 \
                         : [fi] "r"(EFLAGS_FIXED | (in))                                           \
                         : "cc");                                                                  \
        (struct result){(uint16_t)a_, f_};                                                         \
    })

static struct result cpu_daa(uint16_t ax, uint32_t in)
{
    return RUN("daa", ax, in);
}

static struct result cpu_das(uint16_t ax, uint32_t in)
{
    return RUN("das", ax, in);
}

static struct result cpu_aaa(uint16_t ax, uint32_t in)
{
    return RUN("aaa", ax, in);
}

static struct result cpu_aas(uint16_t ax, uint32_t in)
{
    return RUN("aas", ax, in);
}

/* The base is an immediate: one function per base tested. */
static struct result cpu_aam(uint16_t ax, uint8_t base)
{
    switch (base) {
    case 10:
        return RUN("aam", ax, 0);
    case 16:
        return RUN("aam $16", ax, 0);
    case 7:
        return RUN("aam $7", ax, 0);
    case 1:
        return RUN("aam $1", ax, 0);
    default:
        return RUN("aam $255", ax, 0);
    }
}

static struct result cpu_aad(uint16_t ax, uint8_t base)
{
    switch (base) {
    case 10:
        return RUN("aad", ax, 0);
    case 16:
        return RUN("aad $16", ax, 0);
    case 7:
        return RUN("aad $7", ax, 0);
    case 0:
        return RUN("aad $0", ax, 0);
    default:
        return RUN("aad $255", ax, 0);
    }
}

/* ---- checks ---- */

typedef struct result op_fn(uint16_t ax, uint32_t in);

struct op {
    const char *name;
    op_fn *cpu, *model;
    uint32_t defined;
};

static const struct op adjust_ops[] = {
    {"DAA", cpu_daa, model_daa, FLAGS_DAA},
    {"DAS", cpu_das, model_das, FLAGS_DAA},
    {"AAA", cpu_aaa, model_aaa, FLAGS_AAA},
    {"AAS", cpu_aas, model_aas, FLAGS_AAA},
};

static int same(struct result a, struct result b, uint32_t defined)
{
    return a.ax == b.ax && (a.flags & defined) == (b.flags & defined);
}

static const uint8_t ah_values[] = {0x00, 0x12, 0x7f, 0xff};

/* Results of an AMD EPYC host for inputs where an off-by-one model would
 * go wrong: carries out of AL, AF/CF inputs, AH wrapping. */
static const struct {
    uint8_t op; /* index in adjust_ops */
    uint16_t ax;
    uint32_t in;
    struct result out;
} anchors[] = {
    {0, 0x00fa, 0, {0x0060, EFLAGS_CF | EFLAGS_AF | EFLAGS_PF}},
    {0, 0x009a, 0, {0x0000, EFLAGS_CF | EFLAGS_AF | EFLAGS_ZF | EFLAGS_PF}},
    {0, 0x0099, EFLAGS_CF, {0x00f9, EFLAGS_CF | EFLAGS_SF | EFLAGS_PF}},
    {0, 0x00ff, EFLAGS_CF | EFLAGS_AF, {0x0065, EFLAGS_CF | EFLAGS_AF | EFLAGS_PF}},
    {1, 0x009a, 0, {0x0034, EFLAGS_CF | EFLAGS_AF}},
    {1, 0x0003, EFLAGS_AF, {0x00fd, EFLAGS_CF | EFLAGS_AF | EFLAGS_SF}},
    {1, 0x0000, EFLAGS_AF, {0x00fa, EFLAGS_CF | EFLAGS_AF | EFLAGS_SF | EFLAGS_PF}},
    {2, 0x00fa, 0, {0x0200, EFLAGS_CF | EFLAGS_AF}},
    {2, 0x0003, EFLAGS_AF, {0x0109, EFLAGS_CF | EFLAGS_AF}},
    {2, 0x1234, 0, {0x1204, 0}},
    {3, 0x0200, EFLAGS_AF, {0x000a, EFLAGS_CF | EFLAGS_AF}},
    {3, 0x0000, EFLAGS_AF, {0xfe0a, EFLAGS_CF | EFLAGS_AF}},
    {3, 0x00fa, 0, {0xff04, EFLAGS_CF | EFLAGS_AF}},
};

static void test_anchors(void)
{
    for (unsigned i = 0; i < sizeof(anchors) / sizeof(anchors[0]); i++) {
        const struct op *op = &adjust_ops[anchors[i].op];
        struct result cpu = op->cpu(anchors[i].ax, anchors[i].in);
        struct result model = op->model(anchors[i].ax, anchors[i].in);

        if (!same(cpu, anchors[i].out, op->defined) || !same(model, anchors[i].out, op->defined))
            printf("%s AX %04x flags-in %x: cpu %04x/%x, model %04x/%x, expected %04x/%x\n",
                   op->name, anchors[i].ax, anchors[i].in, cpu.ax, cpu.flags & op->defined,
                   model.ax, model.flags & op->defined, anchors[i].out.ax, anchors[i].out.flags);
        CHECK(same(cpu, anchors[i].out, op->defined));
        CHECK(same(model, anchors[i].out, op->defined));
    }

    CHECK(same(cpu_aam(0x005f, 10), (struct result){0x0905, EFLAGS_PF}, FLAGS_AAM));
    CHECK(same(cpu_aam(0xff80, 16), (struct result){0x0800, EFLAGS_ZF | EFLAGS_PF}, FLAGS_AAM));
    CHECK(same(cpu_aad(0x0905, 10), (struct result){0x005f, EFLAGS_PF}, FLAGS_AAM));
    CHECK(same(cpu_aad(0xff80, 10), (struct result){0x0076, 0}, FLAGS_AAM));
    CHECK(same(cpu_aad(0x0905, 7), (struct result){0x0044, EFLAGS_PF}, FLAGS_AAM));
    CHECK(same(cpu_aad(0xff80, 0), (struct result){0x0080, EFLAGS_SF}, FLAGS_AAM));
}

/* Prints the first few mismatches; in is the flags or the base given. */
static void report(const char *name, uint16_t ax, uint32_t in, struct result cpu,
                   struct result model, uint32_t defined, int *mismatches)
{
    if ((*mismatches)++ < 4)
        printf("%s AX %04x, input %x: cpu %04x/%x, model %04x/%x\n", name, ax, in, cpu.ax,
               cpu.flags & defined, model.ax, model.flags & defined);
}

static void test_adjust(const struct op *op)
{
    int mismatches = 0;

    for (unsigned h = 0; h < sizeof(ah_values); h++) {
        for (unsigned al = 0; al < 256; al++) {
            for (unsigned i = 0; i < 4; i++) {
                uint16_t ax = (uint16_t)(ah_values[h] << 8 | al);
                uint32_t in = (i & 1 ? EFLAGS_CF : 0) | (i & 2 ? EFLAGS_AF : 0);
                struct result cpu = op->cpu(ax, in), model = op->model(ax, in);

                if (!same(cpu, model, op->defined))
                    report(op->name, ax, in, cpu, model, op->defined, &mismatches);
            }
        }
    }
    printf("%s: %d mismatches\n", op->name, mismatches);
    CHECK(mismatches == 0);
}

static void test_aam_aad(void)
{
    static const uint8_t aam_bases[] = {10, 16, 7, 1, 255}, aad_bases[] = {10, 16, 7, 0, 255};
    int aam_mismatches = 0, aad_mismatches = 0;

    for (unsigned b = 0; b < sizeof(aam_bases); b++) {
        for (unsigned h = 0; h < sizeof(ah_values); h++) {
            for (unsigned al = 0; al < 256; al++) {
                uint16_t ax = (uint16_t)(ah_values[h] << 8 | al);
                struct result cpu = cpu_aam(ax, aam_bases[b]), model = model_aam(ax, aam_bases[b]);

                if (!same(cpu, model, FLAGS_AAM))
                    report("AAM", ax, aam_bases[b], cpu, model, FLAGS_AAM, &aam_mismatches);
                cpu = cpu_aad(ax, aad_bases[b]);
                model = model_aad(ax, aad_bases[b]);
                if (!same(cpu, model, FLAGS_AAM))
                    report("AAD", ax, aad_bases[b], cpu, model, FLAGS_AAM, &aad_mismatches);
            }
        }
    }
    printf("AAM: %d mismatches, AAD: %d mismatches\n", aam_mismatches, aad_mismatches);
    CHECK(aam_mismatches == 0);
    CHECK(aad_mismatches == 0);
}

/* AAM 0 divides by zero: #DE, a fault, so AX is unchanged and EIP points
 * at the AAM (SDM Vol. 2A, AAM, Protected Mode Exceptions). */
static void test_aam_zero(void)
{
    uint32_t at, ax = 0x1234;

    asm volatile(TRAP32_TRY("aam $0") : [at] "=&r"(at), "+a"(ax) : : "memory", "cc");
    printf("AAM 0: vector %u at %x (AAM at %x), AX %x\n", trap32_last.vector, trap32_last.eip, at,
           ax);
    CHECK(trap32_last.vector == EXC_DE);
    CHECK(trap32_last.eip == at);
    CHECK(ax == 0x1234);
}

int guest_main_multiboot(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    gdt32_load(gdt, sizeof(gdt) / 8, KERNEL_CS, KERNEL_DS);
    idt32_init(KERNEL_CS);
    test_anchors();
    for (unsigned i = 0; i < sizeof(adjust_ops) / sizeof(adjust_ops[0]); i++)
        test_adjust(&adjust_ops[i]);
    test_aam_aad();
    test_aam_zero();
    guest_finish();
}
