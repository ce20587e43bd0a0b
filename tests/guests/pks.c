/*
 * Protection keys for supervisor pages (SDM Vol. 3A §4.6.2, §4.7; Vol. 4
 * IA32_PKRS), checked at CPL 0:
 *   - CPUID.07H:ECX[31] PKS; IA32_PKRS (6E1H) reads 0 after reset, keeps
 *     what is written, and refuses bits 63:32 with #GP(0);
 *   - with CR4.PKS, IA32_PKRS.AD of a supervisor page's key refuses reads
 *     and writes, IA32_PKRS.WD writes while CR0.WP is set: #PF with PK and
 *     P (and W for a write), CR2 the address; with CR0.WP clear a write
 *     passes WD, and a read-only page too; PK comes with a write to a
 *     read-only page that the key refuses as well;
 *   - the key applies to implicit supervisor accesses (a descriptor read
 *     from a GDT on such a page), not to instruction fetches, not to user
 *     pages (PKRU's), and not at all while CR4.PKS is clear;
 *   - an IA32_PKRS write takes effect at once: once cleared, the access
 *     that faulted passes (no stale translation).
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

#define CR4_PKS      (1ul << 24)
#define CPUID_7_PKS  (1u << 31)
#define MSR_PKRS     0x6e1u
#define PF_PK        (1u << 5)
#define KEY          6ull
#define PTE_KEY(k)   ((k) << 59)
#define PKRS_AD(k)   (1u << (2 * (k)))
#define PKRS_WD(k)   (2u << (2 * (k)))
#define VA_SUPER     0x8000000000ull /* PML4[1]: a supervisor page with key KEY */
#define VA_USER      0x8000001000ull /* a user page with key KEY */
#define VA_RO        0x8000002000ull /* a read-only supervisor page with key KEY */
#define VA_GDT       0x8000003000ull /* a supervisor page with key 0, then one with KEY */

static uint8_t frame[4][4096] __attribute__((aligned(4096)));

/* What the #PF handler of test_implicit saw: it clears IA32_PKRS, so the
 * segment load is retried and passes. */
static volatile unsigned pf_count;
static volatile uint64_t pf_error, pf_cr2;

static void on_pf(struct trap_frame *f)
{
    pf_count++;
    pf_error = f->error_code;
    pf_cr2 = read_cr2();
    wrmsr(MSR_PKRS, 0);
}

/* A read or a write of va, with a trap expected or not: the vector. */
static uint64_t try_access(uint64_t va, int write, uint64_t *at)
{
    if (write)
        __asm__ volatile(TRAP_TRY("movb $7, (%[p])") : [at] "=&r"(*at) : [p] "r"(va) : "memory");
    else
        trap_try_read(va, at);
    return trap_last.vector;
}

/* A read or a write of va under IA32_PKRS = pkrs: #PF with error code
 * expect (0: none). A page the key alone refused is open at once once
 * IA32_PKRS lets it be (no stale translation). */
static void access(const char *what, uint64_t va, int write, uint32_t pkrs, uint32_t expect)
{
    uint64_t at;

    wrmsr(MSR_PKRS, pkrs);
    try_access(va, write, &at);
    printf("%s: vector %lu, error code 0x%lx\n", what, trap_last.vector, trap_last.error_code);
    if (!expect) {
        CHECK(trap_last.vector == TRAP_NONE);
    } else {
        CHECK(trap_last.vector == EXC_PF);
        CHECK(trap_last.error_code == expect);
        CHECK(trap_last.cr2 == va);
        CHECK(trap_last.rip == at);
        if (va != VA_RO) {
            wrmsr(MSR_PKRS, 0);
            CHECK(try_access(va, write, &at) == TRAP_NONE);
        }
    }
    wrmsr(MSR_PKRS, 0);
}

static void test_msr(void)
{
    CHECK(rdmsr(MSR_PKRS) == 0);
    wrmsr(MSR_PKRS, 0x87654321);
    CHECK(rdmsr(MSR_PKRS) == 0x87654321);
    CHECK(trap_try_wrmsr(MSR_PKRS, 1ull << 32) == EXC_GP);
    CHECK(rdmsr(MSR_PKRS) == 0x87654321);
    wrmsr(MSR_PKRS, 0);
}

struct __attribute__((packed)) dtr {
    uint16_t limit;
    uint64_t base;
};

/* A segment load reads its descriptor from the GDT: an implicit supervisor
 * access, refused on a GDT page whose key IA32_PKRS.AD forbids. The GDT's
 * copy ends on a page of key 0 (the #PF's delivery reads CS's descriptor
 * there), and one more flat data descriptor, accessed already so that the
 * load only reads it, begins the page of key KEY. */
static void test_implicit(void)
{
    struct dtr old, moved;
    uint32_t size;
    uint16_t sel;
    uint64_t base;

    __asm__ volatile("sgdt %0" : "=m"(old));
    size = (old.limit + 8u) & ~7u;
    CHECK(size <= 4096);
    base = VA_GDT + 4096 - size;
    memcpy((void *)base, (void *)old.base, old.limit + 1u);
    *(uint64_t *)(VA_GDT + 4096) = 0x00cf93000000ffffull;
    sel = (uint16_t)size;
    moved = (struct dtr){.limit = (uint16_t)(size + 7), .base = base};
    __asm__ volatile("lgdt %0" : : "m"(moved));
    pf_count = 0;
    wrmsr(MSR_PKRS, PKRS_AD(KEY));
    __asm__ volatile("mov %0, %%es" : : "r"(sel) : "memory");
    printf("segment load, GDT under AD: %u faults, error code 0x%lx\n", pf_count, pf_error);
    CHECK(pf_count == 1);
    CHECK(pf_error == (PF_PK | PF_P));
    CHECK(pf_cr2 == VA_GDT + 4096);
    __asm__ volatile("mov %0, %%es" : : "r"(0) : "memory");
    __asm__ volatile("lgdt %0" : : "m"(old));
}

static void test_pages(void)
{
    uint64_t *pml4 = pgtable_new();

    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW);
    pgtable_map(pml4, VA_SUPER, (uint64_t)frame[0], PAGE_4K, PTE_P | PTE_RW | PTE_KEY(KEY));
    pgtable_map(pml4, VA_USER, (uint64_t)frame[1], PAGE_4K, PTE_P | PTE_RW | PTE_US | PTE_KEY(KEY));
    pgtable_map(pml4, VA_RO, (uint64_t)frame[1], PAGE_4K, PTE_P | PTE_KEY(KEY));
    pgtable_map(pml4, VA_GDT, (uint64_t)frame[2], PAGE_4K, PTE_P | PTE_RW);
    pgtable_map(pml4, VA_GDT + 4096, (uint64_t)frame[3], PAGE_4K, PTE_P | PTE_RW | PTE_KEY(KEY));
    write_cr3((uint64_t)pml4);
    write_cr0(read_cr0() | CR0_WP);

    access("read, AD, CR4.PKS clear", VA_SUPER, 0, PKRS_AD(KEY), 0);
    write_cr4(read_cr4() | CR4_PKS);
    access("read, key allowed", VA_SUPER, 0, 0, 0);
    access("read, AD", VA_SUPER, 0, PKRS_AD(KEY), PF_PK | PF_P);
    access("write, AD", VA_SUPER, 1, PKRS_AD(KEY), PF_PK | PF_W | PF_P);
    access("read, WD", VA_SUPER, 0, PKRS_WD(KEY), 0);
    access("write, WD, CR0.WP", VA_SUPER, 1, PKRS_WD(KEY), PF_PK | PF_W | PF_P);
    access("write to a read-only page, WD, CR0.WP", VA_RO, 1, PKRS_WD(KEY),
           PF_PK | PF_W | PF_P);
    access("write to a read-only page, CR0.WP", VA_RO, 1, 0, PF_W | PF_P);
    write_cr0(read_cr0() & ~CR0_WP);
    access("write, AD, no CR0.WP", VA_SUPER, 1, PKRS_AD(KEY), PF_PK | PF_W | PF_P);
    frame[0][0] = 0;
    access("write, WD, no CR0.WP", VA_SUPER, 1, PKRS_WD(KEY), 0);
    CHECK(frame[0][0] == 7);
    access("write to a read-only page, WD, no CR0.WP", VA_RO, 1, PKRS_WD(KEY), 0);
    write_cr0(read_cr0() | CR0_WP);
    access("write to a user page, AD and WD", VA_USER, 1, PKRS_AD(KEY) | PKRS_WD(KEY), 0);
    access("write, another key refused", VA_SUPER, 1,
           PKRS_AD(KEY + 1) | PKRS_WD(KEY + 1), 0);

    /* An instruction fetch is no data access: RET from the page runs (a
     * #PF would end the test). */
    frame[0][0] = 0xc3;
    wrmsr(MSR_PKRS, PKRS_AD(KEY));
    ((void (*)(void))VA_SUPER)();
    wrmsr(MSR_PKRS, 0);

    trap_set_handler(EXC_PF, on_pf);
    test_implicit();
    trap_set_handler(EXC_PF, 0);
    write_cr4(read_cr4() & ~CR4_PKS);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    uint32_t r[4];

    (void)cmdline;
    (void)mem_size;
    idt_init();
    cpuid(7, 0, r);
    if (!(r[2] & CPUID_7_PKS)) {
        printf("SKIP supervisor protection keys: not in CPUID.07H:ECX\n");
        guest_finish();
    }
    test_msr();
    test_pages();
    guest_finish();
}
