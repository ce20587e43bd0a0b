/*
 * Non-canonical addresses in system instructions (SDM Vol. 2A/2B, LGDT/LIDT,
 * LLDT, LTR, INVLPG, INVPCID):
 *   - in 64-bit mode LGDT and LIDT of a non-canonical base raise #GP(0) and
 *     leave the register as it was;
 *   - LLDT and LTR of a descriptor whose 64-bit base is non-canonical raise
 *     #GP(selector); LTR then leaves the TSS not busy;
 *   - INVLPG of a non-canonical address is a no-op;
 *   - INVPCID of an individual non-canonical address raises #GP(0).
 */
#include "lib/guest.h"
#include "lib/trap.h"

#define NONCANON  0x8000000000001000ull
#define LDT_SEL   0x40
#define TSS_SEL   0x50
#define BAD_LDT   0x60
#define BAD_TSS   0x70
#define GDT_SLOTS 16

struct __attribute__((packed)) dtr {
    uint16_t limit;
    uint64_t base;
};

static uint64_t gdt[GDT_SLOTS] __attribute__((aligned(16)));
static uint8_t tss[104] __attribute__((aligned(16)));
static uint64_t ldt[2];

static void sgdt(struct dtr *d)
{
    __asm__ volatile("sgdt %0" : "=m"(*d));
}

static void sidt(struct dtr *d)
{
    __asm__ volatile("sidt %0" : "=m"(*d));
}

/* A 16-byte system descriptor (SDM Vol. 3A §8.2.3, Figure 8-4) at slot. */
static void set_system(unsigned sel, uint64_t base, uint32_t limit, unsigned type)
{
    gdt[sel / 8] = (limit & 0xffff) | (base & 0xffffff) << 16 | (uint64_t)(0x80 | type) << 40 |
                   (uint64_t)(limit >> 16 & 0xf) << 48 | (base >> 24 & 0xff) << 56;
    gdt[sel / 8 + 1] = base >> 32;
}

static void check_gp(const char *what, uint64_t at, uint64_t error_code)
{
    printf("%s: vector %lu, error code 0x%lx\n", what, trap_last.vector, trap_last.error_code);
    CHECK(trap_last.vector == EXC_GP);
    CHECK(trap_last.error_code == error_code);
    CHECK(trap_last.rip == at);
}

static void test_dtables(void)
{
    struct dtr old, now, bad = {.limit = 0xfff, .base = NONCANON};
    uint64_t at;

    sgdt(&old);
    __asm__ volatile(TRAP_TRY("lgdt %[d]") : [at] "=&r"(at) : [d] "m"(bad) : "memory");
    check_gp("LGDT of a non-canonical base", at, 0);
    sgdt(&now);
    CHECK(now.base == old.base && now.limit == old.limit);

    sidt(&old);
    __asm__ volatile(TRAP_TRY("lidt %[d]") : [at] "=&r"(at) : [d] "m"(bad) : "memory");
    check_gp("LIDT of a non-canonical base", at, 0);
    sidt(&now);
    CHECK(now.base == old.base && now.limit == old.limit);
}

static uint16_t str(void)
{
    uint16_t v;

    __asm__ volatile("str %0" : "=r"(v));
    return v;
}

static void test_system_segments(void)
{
    struct dtr old, ours = {.limit = sizeof(gdt) - 1, .base = (uint64_t)gdt};
    uint64_t at;
    uint16_t sel;

    sgdt(&old);
    memcpy(gdt, (void *)old.base, old.limit + 1 < 0x40 ? old.limit + 1 : 0x40);
    set_system(LDT_SEL, (uint64_t)ldt, sizeof(ldt) - 1, 0x2);
    set_system(TSS_SEL, (uint64_t)tss, sizeof(tss) - 1, 0x9);
    set_system(BAD_LDT, 0x0000800000000000ull | (uint64_t)ldt, sizeof(ldt) - 1, 0x2);
    set_system(BAD_TSS, 0xffff000000000000ull | (uint64_t)tss, sizeof(tss) - 1, 0x9);
    __asm__ volatile("lgdt %0" : : "m"(ours) : "memory");

    sel = BAD_LDT;
    __asm__ volatile(TRAP_TRY("lldt %[s]") : [at] "=&r"(at) : [s] "r"(sel) : "memory");
    check_gp("LLDT of a non-canonical base", at, BAD_LDT);
    sel = BAD_TSS;
    __asm__ volatile(TRAP_TRY("ltr %[s]") : [at] "=&r"(at) : [s] "r"(sel) : "memory");
    check_gp("LTR of a non-canonical base", at, BAD_TSS);
    CHECK((gdt[BAD_TSS / 8] >> 40 & 0xf) == 0x9);

    sel = LDT_SEL;
    __asm__ volatile(TRAP_TRY("lldt %[s]") : [at] "=&r"(at) : [s] "r"(sel) : "memory");
    printf("LLDT of a canonical base: vector %lu\n", trap_last.vector);
    CHECK(trap_last.vector == TRAP_NONE);
    sel = TSS_SEL;
    __asm__ volatile(TRAP_TRY("ltr %[s]") : [at] "=&r"(at) : [s] "r"(sel) : "memory");
    printf("LTR of a canonical base: vector %lu\n", trap_last.vector);
    CHECK(trap_last.vector == TRAP_NONE);
    CHECK(str() == TSS_SEL);
    CHECK((gdt[TSS_SEL / 8] >> 40 & 0xf) == 0xb);
}

static void test_invalidation(void)
{
    struct __attribute__((aligned(16))) {
        uint64_t pcid, addr;
    } desc = {0, NONCANON};
    uint64_t at, type = 0;
    uint32_t r[4];

    __asm__ volatile(TRAP_TRY("invlpg (%[p])") : [at] "=&r"(at) : [p] "r"(NONCANON) : "memory");
    printf("INVLPG of a non-canonical address: vector %lu\n", trap_last.vector);
    CHECK(trap_last.vector == TRAP_NONE);

    cpuid(7, 0, r);
    if (!(r[1] & (1u << 10))) {
        printf("SKIP INVPCID: CPUID.07H:EBX.INVPCID is clear\n");
        return;
    }
    __asm__ volatile(TRAP_TRY("invpcid %[d], %[t]")
                     : [at] "=&r"(at)
                     : [d] "m"(desc), [t] "r"(type)
                     : "memory");
    check_gp("INVPCID of a non-canonical address", at, 0);
    desc.addr = 0x1000;
    __asm__ volatile(TRAP_TRY("invpcid %[d], %[t]")
                     : [at] "=&r"(at)
                     : [d] "m"(desc), [t] "r"(type)
                     : "memory");
    printf("INVPCID of a canonical address: vector %lu\n", trap_last.vector);
    CHECK(trap_last.vector == TRAP_NONE);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline;
    (void)mem_size;
    idt_init();
    test_dtables();
    test_system_segments();
    test_invalidation();
    guest_finish();
}
