/*
 * Reserved bits of PAE and 32-bit paging entries (SDM Vol. 3A §4.3, §4.4,
 * Tables 4-4, 4-8 to 4-11; §4.7) and A/D flags on faults (§4.8), in a
 * 32-bit protected-mode guest:
 *   - PAE: bits 62:MAXPHYADDR of a present PDE or PTE are reserved (up to
 *     bit 62, unlike 4-level paging's 51), and XD (bit 63) while EFER.NXE
 *     is 0, and bits 20:13 of a 2 MiB page: each raises #PF with RSVD and
 *     P; with NXE set, XD is no longer reserved;
 *   - a write to a read-only page (CR0.WP) faults without setting the
 *     PTE's A or D flag;
 *   - 32-bit paging with CR4.PSE: bits 21:(MAXPHYADDR - 19) of a 4 MiB page
 *     are reserved (bits 20:13 hold physical-address bits 39:32).
 */
#include "lib/desc32.h"
#include "lib/guest.h"
#include "lib/trap32.h"

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10

#define CR4_PSE  (1u << 4)
#define EFER_NXE (1ull << 11)

#define PTE_P   (1ull << 0)
#define PTE_RW  (1ull << 1)
#define PTE_A   (1ull << 5)
#define PTE_D   (1ull << 6)
#define PTE_PS  (1ull << 7)
#define PTE_XD  (1ull << 63)
#define PF_RSVD (1u << 3)

/* Above the 1 GiB identity map: PDPT slot 1, one PDE or PTE per case. */
#define VA_BASE    0x40000000u
#define VA_PTE_M   (VA_BASE + 0x0000) /* PTE with bit M */
#define VA_PTE_62  (VA_BASE + 0x1000) /* PTE with bit 62 */
#define VA_PTE_XD  (VA_BASE + 0x2000) /* PTE with XD */
#define VA_RO      (VA_BASE + 0x3000) /* read-only PTE */
#define VA_PDE_M   0x40200000u        /* PDE above a table, bit M */
#define VA_2M_13   0x40400000u        /* 2 MiB page, bit 13 */
#define VA_4M_RSVD 0x40000000u        /* 32-bit paging: 4 MiB page, bit 21 */

static uint64_t gdt[3] = {
    [KERNEL_CS / 8] = 0x00cf9a000000ffffull,
    [KERNEL_DS / 8] = 0x00cf92000000ffffull,
};

static uint64_t pdpt[4] __attribute__((aligned(32)));
static uint64_t pd0[512] __attribute__((aligned(4096)));
static uint64_t pd1[512] __attribute__((aligned(4096)));
static uint64_t pt1[512] __attribute__((aligned(4096)));
static uint64_t pt2[512] __attribute__((aligned(4096)));
static uint32_t pd32[1024] __attribute__((aligned(4096)));
static uint8_t frame[4096] __attribute__((aligned(4096)));
static unsigned phys_bits;

static void try_read(uint32_t va, uint32_t *at)
{
    uint8_t v;

    __asm__ volatile(TRAP32_TRY("movb (%[p]), %[v]")
                     : [at] "=&r"(*at), [v] "=q"(v)
                     : [p] "r"(va)
                     : "memory");
    (void)v;
}

static void try_write(uint32_t va, uint32_t *at)
{
    __asm__ volatile(TRAP32_TRY("movb $0x5a, (%[p])") : [at] "=&r"(*at) : [p] "r"(va) : "memory");
}

static void check_pf(const char *what, uint32_t at, uint32_t va, uint32_t error_code)
{
    printf("%s: vector %u, error code 0x%x, cr2 %x\n", what, trap32_last.vector,
           trap32_last.error_code, trap32_last.cr2);
    CHECK(trap32_last.vector == EXC_PF);
    CHECK(trap32_last.error_code == error_code);
    CHECK(trap32_last.eip == at);
    CHECK(trap32_last.cr2 == va);
}

/* A read through va faults with RSVD; the entry stays without A and D. */
static void check_rsvd(const char *what, uint32_t va, const volatile uint64_t *entry)
{
    uint32_t at;

    invlpg((void *)va);
    try_read(va + 0x10, &at);
    check_pf(what, at, va + 0x10, PF_RSVD | PF_P);
    CHECK(!(*entry & (PTE_A | PTE_D)));
}

static void test_pae(void)
{
    uint64_t m = 1ull << phys_bits;
    uint32_t at;

    for (unsigned i = 0; i < 512; i++)
        pd0[i] = (uint64_t)i << 21 | PTE_P | PTE_RW | PTE_PS;
    pdpt[0] = (uint32_t)pd0 | PTE_P;
    pdpt[1] = (uint32_t)pd1 | PTE_P;
    pd1[0] = (uint32_t)pt1 | PTE_P | PTE_RW;
    pd1[1] = (uint32_t)pt2 | PTE_P | PTE_RW | m;
    pd1[2] = 0x2000000ull | PTE_P | PTE_RW | PTE_PS | 1ull << 13;
    pt1[0] = (uint32_t)frame | PTE_P | PTE_RW | m;
    pt1[1] = (uint32_t)frame | PTE_P | PTE_RW | 1ull << 62;
    pt1[2] = (uint32_t)frame | PTE_P | PTE_RW | PTE_XD;
    pt1[3] = (uint32_t)frame | PTE_P;
    pt2[0] = (uint32_t)frame | PTE_P | PTE_RW;
    write_cr4(read_cr4() | CR4_PAE);
    write_cr3((uint32_t)pdpt);
    write_cr0(read_cr0() | CR0_PG | CR0_WP);

    check_rsvd("PAE: bit M in a PTE", VA_PTE_M, &pt1[0]);
    check_rsvd("PAE: bit 62 in a PTE", VA_PTE_62, &pt1[1]);
    check_rsvd("PAE: XD in a PTE, NXE clear", VA_PTE_XD, &pt1[2]);
    check_rsvd("PAE: bit M in a PDE", VA_PDE_M, &pd1[1]);
    check_rsvd("PAE: bit 13 in a 2 MiB page", VA_2M_13, &pd1[2]);

    try_write(VA_RO + 0x20, &at);
    check_pf("PAE: write to a read-only page", at, VA_RO + 0x20, PF_W | PF_P);
    CHECK(!(pt1[3] & (PTE_A | PTE_D)));
    CHECK(frame[0x20] == 0);

    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
    invlpg((void *)VA_PTE_XD);
    try_read(VA_PTE_XD + 0x30, &at);
    printf("PAE: read through a PTE with XD, NXE set: vector %u\n", trap32_last.vector);
    CHECK(trap32_last.vector == TRAP32_NONE);
    CHECK(pt1[2] & PTE_A);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_NXE);

    write_cr0(read_cr0() & ~CR0_PG);
    write_cr4(read_cr4() & ~CR4_PAE);
}

static void test_32bit(void)
{
    uint32_t at;

    for (unsigned i = 0; i < 256; i++)
        pd32[i] = i << 22 | PTE_P | PTE_RW | PTE_PS;
    pd32[VA_4M_RSVD >> 22] = 0x2000000u | PTE_P | PTE_RW | PTE_PS | 1u << (phys_bits - 19);
    write_cr4(read_cr4() | CR4_PSE);
    write_cr3((uint32_t)pd32);
    write_cr0(read_cr0() | CR0_PG);
    invlpg((void *)VA_4M_RSVD);
    try_read(VA_4M_RSVD + 0x40, &at);
    check_pf("32-bit: reserved bit in a 4 MiB page", at, VA_4M_RSVD + 0x40, PF_RSVD | PF_P);
    CHECK(!(pd32[VA_4M_RSVD >> 22] & (PTE_A | PTE_D)));
    write_cr0(read_cr0() & ~CR0_PG);
}

int guest_main_multiboot(uint32_t magic, uint32_t info)
{
    uint32_t r[4];

    (void)magic;
    (void)info;
    gdt32_load(gdt, sizeof(gdt) / 8, KERNEL_CS, KERNEL_DS);
    idt32_init(KERNEL_CS);
    cpuid(0x80000008, 0, r);
    phys_bits = r[0] & 0xff;
    printf("MAXPHYADDR %u\n", phys_bits);
    CHECK(phys_bits >= 36 && phys_bits <= 52);
    test_pae();
    if (phys_bits > 32 && phys_bits < 41)
        test_32bit();
    else
        printf("SKIP 32-bit paging: no reserved bit in a 4 MiB page at MAXPHYADDR %u\n", phys_bits);
    guest_finish();
}
