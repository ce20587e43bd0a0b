/*
 * Reserved bits of 4-level paging entries, and accessed/dirty flags on
 * faults (SDM Vol. 3A §4.5, Tables 4-14 to 4-20; §4.7; §4.8):
 *   - an address bit at or above MAXPHYADDR (CPUID.80000008H:EAX[7:0]) in a
 *     present PML4E, PDPTE, PDE or PTE, in a 2 MiB or 1 GiB page, raises
 *     #PF with RSVD and P (and W for a write), CR2 the linear address;
 *   - so do bits 20:13 of a 2 MiB page, bits 29:13 of a 1 GiB page and PS
 *     in a PML4E;
 *   - MOV to CR3 of a table address with such a bit raises #GP(0);
 *   - a translation that ends in a fault (reserved bit, write to a
 *     read-only page with CR0.WP) leaves the leaf's A and D flags clear; a
 *     successful read sets A in every entry of the walk, a write sets D in
 *     the leaf too.
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

#define PF_RSVD        (1u << 3)
#define CPUID_EXT_1G   (1u << 26)   /* CPUID.80000001H:EDX Page1GB */
#define BIG_PAGE_PA    0x2000000ull /* 32 MiB: RAM the guest does not use */
#define PAGE_1G_UNUSED 0x40000000ull

/* One PML4 slot per case that needs its own PML4E; the rest share slot 1. */
#define VA_BASE    0x8000000000ull        /* PML4[1] */
#define VA_PTE     (VA_BASE + 0x000000)   /* 4 KiB page, bit M in the PTE */
#define VA_PDE     (VA_BASE + 0x200000)   /* bit M in the PDE above a table */
#define VA_2M      (VA_BASE + 0x400000)   /* 2 MiB page, bit M */
#define VA_2M_13   (VA_BASE + 0x600000)   /* 2 MiB page, bit 13 */
#define VA_RO      (VA_BASE + 0x001000)   /* 4 KiB read-only page */
#define VA_RO_2M   (VA_BASE + 0xa00000)   /* 2 MiB read-only page */
#define VA_OK      (VA_BASE + 0x002000)   /* 4 KiB page, valid */
#define VA_PDPTE   (VA_BASE + 0x40000000) /* bit M in the PDPTE above a table */
#define VA_1G      (VA_BASE + 0x80000000) /* 1 GiB page, bit M */
#define VA_1G_13   (VA_BASE + 0xc0000000) /* 1 GiB page, bit 13 */
#define VA_PML4E   0x10000000000ull       /* PML4[2]: bit M in the PML4E */
#define VA_PML4_PS 0x18000000000ull       /* PML4[3]: PS in the PML4E */

static uint8_t frame[4096] __attribute__((aligned(4096)));
static uint64_t *pml4;
static uint64_t bit_m; /* the lowest reserved physical-address bit */

static void try_write(uint64_t va, uint64_t *at)
{
    __asm__ volatile(TRAP_TRY("movb $0x5a, (%[p])") : [at] "=&r"(*at) : [p] "r"(va) : "memory");
}

static void check_pf(const char *what, uint64_t at, uint64_t va, uint32_t error_code)
{
    printf("%s: vector %lu, error code 0x%lx, cr2 %lx\n", what, trap_last.vector,
           trap_last.error_code, trap_last.cr2);
    CHECK(trap_last.vector == EXC_PF);
    CHECK(trap_last.error_code == error_code);
    CHECK(trap_last.rip == at);
    CHECK(trap_last.cr2 == va);
}

/* A read and a write through va raise #PF with RSVD; the leaf stays without A and D. */
static void check_rsvd(const char *what, uint64_t va, uint64_t *leaf)
{
    uint64_t at;

    *leaf &= ~(PTE_A | PTE_D);
    invlpg((void *)va);
    trap_try_read(va + 0x10, &at);
    check_pf(what, at, va + 0x10, PF_RSVD | PF_P);
    try_write(va + 0x20, &at);
    check_pf(what, at, va + 0x20, PF_RSVD | PF_W | PF_P);
    CHECK(!(*leaf & (PTE_A | PTE_D)));
}

static void test_reserved(void)
{
    uint32_t r[4];
    uint64_t *e;

    e = pgtable_entry(pml4, VA_PTE, 1);
    *e = (uint64_t)frame | PTE_P | PTE_RW | bit_m;
    check_rsvd("bit M in a PTE", VA_PTE, e);

    /* The PDE's table address gets bit M: the walk must stop at the PDE. */
    *pgtable_entry(pml4, VA_PDE, 1) = (uint64_t)frame | PTE_P | PTE_RW;
    e = pgtable_entry(pml4, VA_PDE, 2);
    *e |= bit_m;
    check_rsvd("bit M in a PDE", VA_PDE, e);

    e = pgtable_entry(pml4, VA_2M, 2);
    *e = BIG_PAGE_PA | PTE_P | PTE_RW | PTE_PS | bit_m;
    check_rsvd("bit M in a 2 MiB page", VA_2M, e);
    e = pgtable_entry(pml4, VA_2M_13, 2);
    *e = BIG_PAGE_PA | PTE_P | PTE_RW | PTE_PS | 1ull << 13;
    check_rsvd("bit 13 in a 2 MiB page", VA_2M_13, e);

    *pgtable_entry(pml4, VA_PDPTE, 1) = (uint64_t)frame | PTE_P | PTE_RW;
    e = pgtable_entry(pml4, VA_PDPTE, 3);
    *e |= bit_m;
    check_rsvd("bit M in a PDPTE", VA_PDPTE, e);

    cpuid(0x80000001, 0, r);
    if (r[3] & CPUID_EXT_1G) {
        e = pgtable_entry(pml4, VA_1G, 3);
        *e = PAGE_1G_UNUSED | PTE_P | PTE_RW | PTE_PS | bit_m;
        check_rsvd("bit M in a 1 GiB page", VA_1G, e);
        e = pgtable_entry(pml4, VA_1G_13, 3);
        *e = PAGE_1G_UNUSED | PTE_P | PTE_RW | PTE_PS | 1ull << 13;
        check_rsvd("bit 13 in a 1 GiB page", VA_1G_13, e);
    } else {
        printf("SKIP 1 GiB pages: CPUID.80000001H:EDX.Page1GB is clear\n");
    }

    *pgtable_entry(pml4, VA_PML4E, 1) = (uint64_t)frame | PTE_P | PTE_RW;
    e = &pml4[(VA_PML4E >> 39) & 511];
    *e |= bit_m;
    check_rsvd("bit M in a PML4E", VA_PML4E, e);

    *pgtable_entry(pml4, VA_PML4_PS, 1) = (uint64_t)frame | PTE_P | PTE_RW;
    e = &pml4[(VA_PML4_PS >> 39) & 511];
    *e |= PTE_PS;
    check_rsvd("PS in a PML4E", VA_PML4_PS, e);
}

/* The entries of the walk for va, PML4E first. */
static void walk_entries(uint64_t va, int levels, uint64_t *e[4])
{
    for (int l = 4; l > 4 - levels; l--)
        e[4 - l] = pgtable_entry(pml4, va, l);
}

static void clear_ad(uint64_t *e[4], int levels, uint64_t va)
{
    for (int i = 0; i < levels; i++)
        *e[i] &= ~(PTE_A | PTE_D);
    invlpg((void *)va);
}

static void test_accessed_dirty(void)
{
    uint64_t *e[4], at;

    write_cr0(read_cr0() | CR0_WP);
    pgtable_map(pml4, VA_RO, (uint64_t)frame, PAGE_4K, PTE_P);
    walk_entries(VA_RO, 4, e);
    clear_ad(e, 4, VA_RO);
    try_write(VA_RO + 0x30, &at);
    check_pf("write to a read-only page", at, VA_RO + 0x30, PF_W | PF_P);
    CHECK(!(*e[3] & (PTE_A | PTE_D)));
    CHECK(frame[0x30] == 0);

    pgtable_map(pml4, VA_RO_2M, BIG_PAGE_PA, PAGE_2M, PTE_P);
    walk_entries(VA_RO_2M, 3, e);
    clear_ad(e, 3, VA_RO_2M);
    try_write(VA_RO_2M + 0x40, &at);
    check_pf("write to a read-only 2 MiB page", at, VA_RO_2M + 0x40, PF_W | PF_P);
    CHECK(!(*e[2] & (PTE_A | PTE_D)));

    pgtable_map(pml4, VA_OK, (uint64_t)frame, PAGE_4K, PTE_P | PTE_RW);
    walk_entries(VA_OK, 4, e);
    clear_ad(e, 4, VA_OK);
    trap_try_read(VA_OK + 0x50, &at);
    printf("read of a valid page: vector %lu\n", trap_last.vector);
    CHECK(trap_last.vector == TRAP_NONE);
    for (int i = 0; i < 4; i++)
        CHECK((*e[i] & PTE_A) && !(*e[i] & PTE_D));
    clear_ad(e, 4, VA_OK);
    try_write(VA_OK + 0x50, &at);
    CHECK(trap_last.vector == TRAP_NONE);
    CHECK(frame[0x50] == 0x5a);
    for (int i = 0; i < 4; i++)
        CHECK(*e[i] & PTE_A);
    CHECK(*e[3] & PTE_D);
}

/* MOV to CR3 of a table address with bit M set: #GP(0), CR3 unchanged
 * (SDM Vol. 3A §4.5.2; Vol. 2B, MOV to/from control registers). */
static void test_cr3(void)
{
    uint64_t at, cr3 = read_cr3();

    __asm__ volatile(TRAP_TRY("mov %[v], %%cr3")
                     : [at] "=&r"(at)
                     : [v] "r"(cr3 | bit_m)
                     : "memory");
    printf("MOV to CR3 with bit M: vector %lu, error code 0x%lx\n", trap_last.vector,
           trap_last.error_code);
    CHECK(trap_last.vector == EXC_GP);
    CHECK(trap_last.error_code == 0);
    CHECK(read_cr3() == cr3);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    uint32_t r[4];

    (void)cmdline;
    (void)mem_size;
    idt_init();
    cpuid(0x80000008, 0, r);
    bit_m = 1ull << (r[0] & 0xff);
    printf("MAXPHYADDR %u\n", r[0] & 0xff);
    CHECK((r[0] & 0xff) >= 36 && (r[0] & 0xff) <= 51);
    pml4 = pgtable_new();
    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW);
    write_cr3((uint64_t)pml4);
    test_reserved();
    test_accessed_dirty();
    test_cr3();
    guest_finish();
}
