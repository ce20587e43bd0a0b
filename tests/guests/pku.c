/*
 * Protection keys for user pages (SDM Vol. 3A §4.6.2; Vol. 2B RDPKRU,
 * WRPKRU; Vol. 1 §13.5.7), checked at CPL 0, where they apply to data
 * accesses to user pages too:
 *   - CPUID.07H:ECX PKU; OSPKE follows CR4.PKE; RDPKRU/WRPKRU raise #UD
 *     while CR4.PKE is clear, #GP(0) with ECX (or EDX) not 0;
 *   - PKRU.AD of a user page's key refuses reads and writes, PKRU.WD
 *     writes (supervisor ones only with CR0.WP): #PF with PK and P, CR2 the
 *     address, PK also with another permission fault (a write to a
 *     read-only page); a supervisor page's key is ignored; a PKRU change
 *     takes effect at once (no stale translation);
 *   - PKRU is XSAVE component 9 (CPUID.(0DH,9): 8 bytes at 2688): XSAVE
 *     stores it, XRSTOR loads it, or its initial 0 when XSTATE_BV[9] is 0.
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

#define CR4_OSXSAVE  (1ul << 18)
#define CR4_PKE      (1ul << 22)
#define CPUID_7_PKU  (1u << 3)
#define CPUID_7_OSPKE (1u << 4)
#define PF_PK        (1u << 5)
#define KEY          5ull
#define PTE_KEY(k)   ((k) << 59)
#define PKRU_AD(k)   (1u << (2 * (k)))
#define PKRU_WD(k)   (2u << (2 * (k)))
#define VA_USER      0x8000000000ull /* PML4[1]: a user page with key KEY */
#define VA_SUPER     0x8000001000ull /* a supervisor page with key KEY */
#define VA_RO        0x8000002000ull /* a read-only user page with key KEY */
#define XSAVE_PKRU   2688

static uint8_t frame[2][4096] __attribute__((aligned(4096)));
static uint8_t area[4096] __attribute__((aligned(64)));

static uint64_t try_rdpkru(uint32_t ecx, uint32_t *pkru)
{
    uint64_t at;
    uint32_t eax = 0, edx = 0;

    __asm__ volatile(TRAP_TRY("rdpkru") : [at] "=&r"(at), "+a"(eax), "+d"(edx) : "c"(ecx) : "memory");
    *pkru = eax;
    return trap_last.vector;
}

static uint64_t try_wrpkru(uint32_t v, uint32_t ecx, uint32_t edx)
{
    uint64_t at;

    __asm__ volatile(TRAP_TRY("wrpkru") : [at] "=&r"(at) : "a"(v), "c"(ecx), "d"(edx) : "memory");
    return trap_last.vector;
}

static uint32_t rdpkru(void)
{
    uint32_t v;

    CHECK(try_rdpkru(0, &v) == TRAP_NONE);
    return v;
}

static void wrpkru(uint32_t v)
{
    CHECK(try_wrpkru(v, 0, 0) == TRAP_NONE);
}

/* A read or a write of va: #PF with error code expect (0: none). */
static void access(const char *what, uint64_t va, int write, uint32_t expect)
{
    uint64_t at;

    if (write)
        __asm__ volatile(TRAP_TRY("movb $7, (%[p])") : [at] "=&r"(at) : [p] "r"(va) : "memory");
    else
        trap_try_read(va, &at);
    printf("%s: vector %lu, error code 0x%lx\n", what, trap_last.vector, trap_last.error_code);
    if (!expect) {
        CHECK(trap_last.vector == TRAP_NONE);
        return;
    }
    CHECK(trap_last.vector == EXC_PF);
    CHECK(trap_last.error_code == expect);
    CHECK(trap_last.cr2 == va);
    CHECK(trap_last.rip == at);
}

static void test_instructions(void)
{
    uint32_t r[4], v;

    cpuid(7, 0, r);
    CHECK(!(r[2] & CPUID_7_OSPKE));
    CHECK(try_rdpkru(0, &v) == EXC_UD);
    CHECK(try_wrpkru(0, 0, 0) == EXC_UD);
    write_cr4(read_cr4() | CR4_PKE);
    cpuid(7, 0, r);
    CHECK(r[2] & CPUID_7_OSPKE);
    CHECK(rdpkru() == 0);
    CHECK(try_rdpkru(1, &v) == EXC_GP);
    CHECK(try_wrpkru(0, 1, 0) == EXC_GP);
    CHECK(try_wrpkru(0, 0, 1) == EXC_GP);
    wrpkru(0x12345678);
    CHECK(rdpkru() == 0x12345678);
    wrpkru(0);
}

static void test_pages(void)
{
    uint64_t *pml4 = pgtable_new();

    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW);
    pgtable_map(pml4, VA_USER, (uint64_t)frame[0], PAGE_4K, PTE_P | PTE_RW | PTE_US | PTE_KEY(KEY));
    pgtable_map(pml4, VA_SUPER, (uint64_t)frame[1], PAGE_4K, PTE_P | PTE_RW | PTE_KEY(KEY));
    pgtable_map(pml4, VA_RO, (uint64_t)frame[1], PAGE_4K, PTE_P | PTE_US | PTE_KEY(KEY));
    write_cr3((uint64_t)pml4);
    write_cr0(read_cr0() | CR0_WP);

    access("read, key allowed", VA_USER, 0, 0);
    wrpkru(PKRU_AD(KEY));
    access("read, AD", VA_USER, 0, PF_PK | PF_P);
    access("write, AD", VA_USER, 1, PF_PK | PF_W | PF_P);
    access("write to a supervisor page, AD", VA_SUPER, 1, 0);
    access("write to a read-only page, AD", VA_RO, 1, PF_PK | PF_W | PF_P);
    wrpkru(0);
    access("write to a read-only page", VA_RO, 1, PF_W | PF_P);
    wrpkru(PKRU_WD(KEY));
    access("read, WD", VA_USER, 0, 0);
    access("write, WD, CR0.WP", VA_USER, 1, PF_PK | PF_W | PF_P);
    write_cr0(read_cr0() & ~CR0_WP);
    access("write, WD, no CR0.WP", VA_USER, 1, 0);
    CHECK(frame[0][0] == 7);
    write_cr0(read_cr0() | CR0_WP);
    wrpkru(PKRU_AD(KEY + 1) | PKRU_WD(KEY + 1)); /* another key: no effect */
    access("write, other key refused", VA_USER, 1, 0);
    wrpkru(0);
}

static void xsetbv(uint64_t v)
{
    __asm__ volatile("xsetbv" : : "c"(0), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static void test_xsave(void)
{
    uint32_t r[4];
    uint64_t bv;

    cpuid(0xd, 0, r);
    CHECK(r[0] & (1u << 9));
    cpuid(0xd, 9, r);
    CHECK(r[0] == 8 && r[1] == XSAVE_PKRU);
    write_cr4(read_cr4() | CR4_OSXSAVE);
    xsetbv(0x203); /* x87, SSE, PKRU */
    cpuid(0xd, 0, r);
    CHECK(r[1] == XSAVE_PKRU + 8);

    wrpkru(0xc);
    memset(area, 0xa5, sizeof(area));
    memset(area + 512, 0, 64);
    __asm__ volatile("xsave64 %0" : "+m"(area) : "a"(0x200), "d"(0) : "memory");
    memcpy(&bv, area + 512, 8);
    CHECK(bv & (1u << 9));
    CHECK(*(uint32_t *)(area + XSAVE_PKRU) == 0xc);
    CHECK(area[576] == 0xa5); /* nothing of other components */

    *(uint32_t *)(area + XSAVE_PKRU) = 0x30;
    __asm__ volatile("xrstor64 %0" : : "m"(area), "a"(0x200), "d"(0) : "memory");
    CHECK(rdpkru() == 0x30);
    bv &= ~(1ull << 9);
    memcpy(area + 512, &bv, 8);
    __asm__ volatile("xrstor64 %0" : : "m"(area), "a"(0x200), "d"(0) : "memory");
    CHECK(rdpkru() == 0); /* the initial configuration */
    xsetbv(3);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    uint32_t r[4];

    (void)cmdline;
    (void)mem_size;
    idt_init();
    cpuid(7, 0, r);
    if (!(r[2] & CPUID_7_PKU)) {
        printf("SKIP protection keys: not in CPUID.07H:ECX\n");
        guest_finish();
    }
    test_instructions();
    test_pages();
    test_xsave();
    guest_finish();
}
