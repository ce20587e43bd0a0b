/*
 * Builds its own 4-level page tables with 4 KiB and 2 MiB pages and checks
 * how the CPU uses them: aliases, accessed and dirty bits (SDM Vol. 3A
 * §4.8), invalidation with INVLPG and CR3 loads (§4.10.4), and a 2 MiB page
 * away from its physical address.
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

/* Virtual addresses outside the 1 GiB identity map, in different PML4,
 * PDPT and PD slots so that every level of the walk is exercised. */
#define ALIAS_A  0x40000000ull         /* 4 KiB, -> frames[0] */
#define ALIAS_B  0x8000003000ull       /* 4 KiB, PML4 slot 1, -> frames[0] */
#define AD_VA    0x40001000ull         /* 4 KiB, -> frames[1] */
#define REMAP_VA 0x40002000ull         /* 4 KiB, -> frames[2], then frames[3] */
#define BIG_VA   0xffff800000200000ull /* 2 MiB, PML4 slot 256, -> BIG_PA */
#define BIG_PA   0x800000ull           /* free RAM at 8 MiB, 2 MiB-aligned */

static uint8_t frames[4][4096] __attribute__((aligned(4096)));
static uint64_t *pml4;

static volatile uint64_t *at(uint64_t va)
{
    return (volatile uint64_t *)va;
}

static volatile uint64_t *entry(uint64_t va, int level)
{
    return pgtable_entry(pml4, va, level);
}

static void setup_paging(void)
{
    pml4 = pgtable_new();
    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW);
    pgtable_map(pml4, ALIAS_A, (uint64_t)frames[0], PAGE_4K, PTE_P | PTE_RW);
    pgtable_map(pml4, ALIAS_B, (uint64_t)frames[0], PAGE_4K, PTE_P | PTE_RW);
    pgtable_map(pml4, AD_VA, (uint64_t)frames[1], PAGE_4K, PTE_P | PTE_RW);
    pgtable_map(pml4, REMAP_VA, (uint64_t)frames[2], PAGE_4K, PTE_P | PTE_RW);
    pgtable_map(pml4, BIG_VA, BIG_PA, PAGE_2M, PTE_P | PTE_RW);
    write_cr3((uint64_t)pml4);
    CHECK(read_cr3() == (uint64_t)pml4);
}

static void test_aliases(void)
{
    *at(ALIAS_A + 0x100) = 0x1122334455667788ull;
    *at(ALIAS_B + 0x200) = 0x99aabbccddeeff00ull;
    printf("aliases: B sees %lx, A sees %lx\n", *at(ALIAS_B + 0x100), *at(ALIAS_A + 0x200));
    CHECK(*at(ALIAS_B + 0x100) == 0x1122334455667788ull);
    CHECK(*at(ALIAS_A + 0x200) == 0x99aabbccddeeff00ull);
    CHECK(*at((uint64_t)frames[0] + 0x100) == 0x1122334455667788ull);
}

/* The CPU sets A in every entry it uses and D in the leaf on a write; the
 * entries were written with both clear. After clearing them again, INVLPG
 * forces a new walk, which must set them again. */
static void test_accessed_dirty(void)
{
    volatile uint64_t *pte = entry(AD_VA, 1), *pde = entry(AD_VA, 2);
    volatile uint64_t *big = entry(BIG_VA, 2);

    (void)*at(AD_VA);
    printf("after a read: pte %lx, pde %lx\n", *pte, *pde);
    CHECK(*pte & PTE_A);
    CHECK(!(*pte & PTE_D));
    CHECK(*pde & PTE_A);
    *at(AD_VA) = 1;
    printf("after a write: pte %lx\n", *pte);
    CHECK(*pte & PTE_D);

    *pte &= ~(PTE_A | PTE_D);
    invlpg((void *)AD_VA);
    *at(AD_VA + 8) = 2;
    printf("after clearing, INVLPG and a write: pte %lx\n", *pte);
    CHECK((*pte & (PTE_A | PTE_D)) == (PTE_A | PTE_D));

    (void)*at(BIG_VA);
    CHECK(*big & PTE_A);
    CHECK(!(*big & PTE_D));
    *at(BIG_VA) = 3;
    printf("2 MiB page after a read and a write: pde %lx\n", *big);
    CHECK(*big & PTE_D);
}

static void test_remap(void)
{
    volatile uint64_t *pte = entry(REMAP_VA, 1);
    uint64_t rip, v;

    *(volatile uint64_t *)frames[2] = 2;
    *(volatile uint64_t *)frames[3] = 3;
    CHECK(*at(REMAP_VA) == 2);

    *pte = (uint64_t)frames[3] | PTE_P | PTE_RW;
    invlpg((void *)REMAP_VA);
    printf("remapped with INVLPG: reads %lu\n", *at(REMAP_VA));
    CHECK(*at(REMAP_VA) == 3);

    *pte = (uint64_t)frames[2] | PTE_P | PTE_RW;
    write_cr3(read_cr3());
    printf("remapped with a CR3 load: reads %lu\n", *at(REMAP_VA));
    CHECK(*at(REMAP_VA) == 2);

    *pte = 0;
    invlpg((void *)REMAP_VA);
    asm volatile(TRAP_TRY("mov (%[p]), %[v]")
                 : [at] "=&r"(rip), [v] "=r"(v)
                 : [p] "r"(REMAP_VA + 0x40)
                 : "memory");
    printf("unmapped with INVLPG: vector %lu, cr2 %lx\n", trap_last.vector, trap_last.cr2);
    CHECK(trap_last.vector == EXC_PF);
    CHECK(trap_last.error_code == 0);
    CHECK(trap_last.rip == rip);
    CHECK(trap_last.cr2 == REMAP_VA + 0x40);
}

/* INVPCID type, descriptor: {PCID, linear address}. */
static void invpcid(uint64_t type, uint64_t pcid, uint64_t va)
{
    uint64_t desc[2] = {pcid, va};

    __asm__ volatile("invpcid %[d], %[t]" : : [d] "m"(desc), [t] "r"(type) : "memory");
}

/* With CR4.PCIDE, CR3 holds a PCID in bits 0-11 and a load with bit 63 set
 * need not flush; INVPCID invalidates one address, one PCID or all, and
 * rejects unknown types with #GP (SDM Vol. 2A INVPCID). */
static void test_pcid(void)
{
    volatile uint64_t *pte = entry(REMAP_VA, 1);
    uint64_t desc[2] = {0, REMAP_VA}, rip, cr3 = read_cr3();
    uint32_t r[4];

    cpuid(1, 0, r);
    if (!(r[2] & (1u << 17))) {
        printf("pcid: not advertised\n");
        return;
    }
    cpuid(7, 0, r);
    CHECK(r[1] & (1u << 10)); /* INVPCID comes with PCID here */
    *pte = (uint64_t)frames[2] | PTE_P | PTE_RW;
    invlpg((void *)REMAP_VA);
    write_cr4(read_cr4() | CR4_PCIDE);
    CHECK(*at(REMAP_VA) == 2);

    *pte = (uint64_t)frames[3] | PTE_P | PTE_RW;
    invpcid(0, 0, REMAP_VA);
    printf("pcid: INVPCID of one address reads %lu\n", *at(REMAP_VA));
    CHECK(*at(REMAP_VA) == 3);

    write_cr3(cr3 | 1 | 1ul << 63);
    printf("pcid: CR3 with PCID 1, no flush: %lx\n", read_cr3());
    CHECK(read_cr3() == (cr3 | 1));
    *pte = (uint64_t)frames[2] | PTE_P | PTE_RW;
    invpcid(1, 1, 0);
    CHECK(*at(REMAP_VA) == 2);
    *pte = (uint64_t)frames[3] | PTE_P | PTE_RW;
    invpcid(3, 0, 0);
    CHECK(*at(REMAP_VA) == 3);

    asm volatile(TRAP_TRY("invpcid %[d], %[t]")
                 : [at] "=&r"(rip)
                 : [d] "m"(desc), [t] "r"(4ul)
                 : "memory");
    printf("pcid: INVPCID type 4: vector %lu\n", trap_last.vector);
    CHECK(trap_last.vector == EXC_GP && trap_last.rip == rip);

    write_cr3(cr3);
    write_cr4(read_cr4() & ~CR4_PCIDE);
    *pte = (uint64_t)frames[2] | PTE_P | PTE_RW;
    invlpg((void *)REMAP_VA);
}

/* Offsets across the whole 2 MiB page land at the same offsets from BIG_PA. */
static void test_large_page(void)
{
    CHECK(*entry(BIG_VA, 2) & PTE_PS);
    *at(BIG_VA + 0x1ff008) = 0xfeedface;
    *at(BIG_PA + 0x123450) = 0xcafe;
    printf("2 MiB page: phys sees %lx, virt sees %lx\n", *at(BIG_PA + 0x1ff008),
           *at(BIG_VA + 0x123450));
    CHECK(*at(BIG_PA + 0x1ff008) == 0xfeedface);
    CHECK(*at(BIG_VA + 0x123450) == 0xcafe);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline;
    CHECK(mem_size >= BIG_PA + PAGE_2M);
    idt_init();
    setup_paging();
    test_aliases();
    test_accessed_dirty();
    test_remap();
    test_pcid();
    test_large_page();
    guest_finish();
}
