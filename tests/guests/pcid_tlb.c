/*
 * The TLB across address spaces (SDM Vol. 3A §4.10): what a TLB must drop,
 * and that one PCID never sees another's translations. Two address spaces,
 * A and B, map VA_DATA and VA_CODE to different frames; VA_GLOBAL is a
 * global page in both. Each check changes a paging entry without
 * invalidating it, then does what the SDM says removes the old translation,
 * and reads: a stale TLB reads the old frame. (A TLB may keep entries the
 * SDM does not order dropped, so those cases are only printed.)
 *   - CR4.PCIDE=0: a CR3 write drops non-global entries, and a page with G
 *     set is not global while CR4.PGE is clear;
 *   - CR4.PCIDE=1: CR3 writes with bit 63 (NOFLUSH) switch between PCIDs,
 *     each reading its own mapping, data and code, also with more PCIDs in
 *     turn than a TLB may hold; a write without bit 63 drops that PCID's
 *     non-global entries, even when another PCID was current since;
 *   - global entries die on a CR4.PGE toggle, and INVLPG drops one in
 *     every PCID, also for code run from the page; INVLPG drops a whole
 *     large page, whatever its address;
 *   - INVPCID types 0 (one address, one PCID), 1 (one PCID), 2 (all, with
 *     globals) and 3 (all but globals), and its #GP cases;
 *   - clearing CR4.PCIDE drops everything; the #GP cases of MOV CR3/CR4.
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

#define CR4_PGE         (1ul << 7)
#define CR4_PCIDE       (1ul << 17)
#define CPUID_1_PCID    (1u << 17)
#define CPUID_7_INVPCID (1u << 10)
#define PTE_G           (1ull << 8)
#define NOFLUSH         (1ul << 63)
#define VA_DATA         0x8000000000ull /* PML4[1]: per address space */
#define VA_CODE         0x8000001000ull
#define VA_GLOBAL       0x8000002000ull
#define VA_LARGE        0x8000200000ull /* a 2 MiB page */
#define PA_LARGE        0x1000000ull    /* and 2 MiB pages of RAM it maps */
#define FRAMES          6

static uint8_t frame[FRAMES][4096] __attribute__((aligned(4096)));
static uint64_t *space[2];

/* The frame number that the page at va holds (mov's immediate). */
static uint8_t peek(uint64_t va)
{
    return *(volatile uint8_t *)(va + 1);
}

/* The leaf entry of va in address space s now maps frame f. */
static void remap(int s, uint64_t va, int f, uint64_t flags)
{
    *pgtable_entry(space[s], va, 1) = (uint64_t)frame[f] | PTE_P | PTE_RW | flags;
}

/* Calls the code at VA_CODE: each frame returns its own number. */
static int call_code(void)
{
    return ((int (*)(void))VA_CODE)();
}

static void load(int s, unsigned pcid, int keep)
{
    write_cr3((uint64_t)space[s] | pcid | (keep ? NOFLUSH : 0));
}

static void invpcid(uint64_t type, uint64_t pcid, uint64_t va)
{
    struct {
        uint64_t pcid, va;
    } d = {pcid, va};

    __asm__ volatile("invpcid %0, %1" : : "m"(d), "r"(type) : "memory");
}

static uint64_t try_invpcid(uint64_t type, uint64_t pcid, uint64_t va)
{
    struct {
        uint64_t pcid, va;
    } d = {pcid, va};
    uint64_t at;

    __asm__ volatile(TRAP_TRY("invpcid %[d], %[t]")
                     : [at] "=&r"(at)
                     : [d] "m"(d), [t] "r"(type)
                     : "memory");
    return trap_last.vector;
}

static uint64_t try_write_cr(int n, uint64_t v)
{
    uint64_t at;

    if (n == 3)
        __asm__ volatile(TRAP_TRY("mov %[v], %%cr3") : [at] "=&r"(at) : [v] "r"(v) : "memory");
    else if (n == 4)
        __asm__ volatile(TRAP_TRY("mov %[v], %%cr4") : [at] "=&r"(at) : [v] "r"(v) : "memory");
    else
        __asm__ volatile(TRAP_TRY("mov %[v], %%cr0") : [at] "=&r"(at) : [v] "r"(v) : "memory");
    return trap_last.vector;
}

static void setup(void)
{
    for (int f = 0; f < FRAMES; f++) {
        /* mov $f, %eax; ret */
        static const uint8_t code[6] = {0xb8, 0, 0, 0, 0, 0xc3};

        memcpy(frame[f], code, sizeof(code));
        frame[f][1] = (uint8_t)f;
    }
    for (int s = 0; s < 2; s++) {
        space[s] = pgtable_new();
        pgtable_identity(space[s], PAGE_1G, PTE_P | PTE_RW);
        remap(s, VA_DATA, s, 0);
        remap(s, VA_CODE, s, 0);
        remap(s, VA_GLOBAL, 4, PTE_G);
    }
}

/* CR4.PCIDE clear: every CR3 write drops the non-global entries, and G
 * means nothing without CR4.PGE (SDM Vol. 3A §4.10.2.4, §4.10.4.1). */
static void test_no_pcid(void)
{
    uint8_t f;

    write_cr4(read_cr4() & ~(CR4_PCIDE | CR4_PGE));
    load(0, 0, 0);
    CHECK(peek(VA_DATA) == 0);
    remap(0, VA_DATA, 2, 0);
    load(0, 0, 0);
    CHECK(peek(VA_DATA) == 2);
    CHECK(peek(VA_GLOBAL) == 4);
    remap(0, VA_GLOBAL, 5, PTE_G);
    load(0, 0, 0);
    f = peek(VA_GLOBAL);
    CHECK(f == 5);
    remap(0, VA_DATA, 0, 0);
    remap(0, VA_GLOBAL, 4, PTE_G);
    load(0, 0, 0);
    /* Bit 63 is reserved without PCIDs (SDM Vol. 2B, MOV CR). */
    CHECK(try_write_cr(3, (uint64_t)space[0] | NOFLUSH) == EXC_GP);
    /* PCIDE can be set only with CR3[11:0] clear (SDM Vol. 3A §4.10.1). */
    load(0, 0x10, 0);
    CHECK(try_write_cr(4, read_cr4() | CR4_PCIDE) == EXC_GP);
    load(0, 0, 0);
    write_cr4(read_cr4() | CR4_PCIDE | CR4_PGE);
}

/* NOFLUSH switches: each PCID reads its own frames, data and code. */
static void test_switch(void)
{
    uint8_t f;

    for (int round = 0; round < 20; round++) {
        load(0, 1, 1);
        CHECK(peek(VA_DATA) == 0);
        CHECK(call_code() == 0);
        load(1, 2, 1);
        CHECK(peek(VA_DATA) == 1);
        CHECK(call_code() == 1);
    }
    /* More PCIDs in turn than a TLB may keep: PCID 100 + p uses space p % 2. */
    for (int round = 0; round < 3; round++)
        for (unsigned p = 1; p <= 20; p++) {
            load(p % 2, 100 + p, 1);
            CHECK(peek(VA_DATA) == p % 2);
            CHECK(call_code() == (int)(p % 2));
        }
    /* Left alone, PCID 1's entries may stay: printed, not checked. */
    load(0, 1, 1);
    CHECK(peek(VA_DATA) == 0);
    load(1, 2, 1);
    remap(0, VA_DATA, 2, 0);
    load(0, 1, 1);
    f = peek(VA_DATA);
    printf("PCID 1 after NOFLUSH switches, entry changed: frame %d (0 if kept)\n", f);
    /* A CR3 write without NOFLUSH drops the PCID's entries, here loaded
     * while another PCID is current. */
    load(0, 1, 0);
    CHECK(peek(VA_DATA) == 2);
    CHECK(call_code() == 0);
    load(1, 2, 1);
    CHECK(peek(VA_DATA) == 1);
    remap(0, VA_DATA, 3, 0);
    remap(0, VA_CODE, 3, 0);
    load(0, 1, 0);
    CHECK(peek(VA_DATA) == 3);
    CHECK(call_code() == 3);
    remap(0, VA_DATA, 0, 0);
    remap(0, VA_CODE, 0, 0);
    load(0, 1, 0);
    CHECK(peek(VA_DATA) == 0);
    CHECK(call_code() == 0);
}

/* Global pages: in every PCID; a CR4.PGE toggle drops them, INVLPG drops
 * its page's in every PCID (SDM Vol. 3A §4.10.4.1). */
static void test_global(void)
{
    uint8_t f;

    load(0, 1, 1);
    CHECK(peek(VA_GLOBAL) == 4);
    load(1, 2, 1);
    CHECK(peek(VA_GLOBAL) == 4);
    remap(0, VA_GLOBAL, 5, PTE_G);
    remap(1, VA_GLOBAL, 5, PTE_G);
    load(1, 2, 0);
    f = peek(VA_GLOBAL);
    printf("global page after a CR3 write: frame %d (4 if kept)\n", f);
    write_cr4(read_cr4() & ~CR4_PGE);
    write_cr4(read_cr4() | CR4_PGE);
    CHECK(peek(VA_GLOBAL) == 5);
    load(0, 1, 1);
    CHECK(peek(VA_GLOBAL) == 5);

    remap(0, VA_GLOBAL, 4, PTE_G);
    remap(1, VA_GLOBAL, 4, PTE_G);
    invlpg((void *)VA_GLOBAL); /* in PCID 1 */
    CHECK(peek(VA_GLOBAL) == 4);
    load(1, 2, 1);
    CHECK(peek(VA_GLOBAL) == 4);
    /* Code on the global page, run often enough to be translated, then
     * the page remapped: INVLPG of one page drops what was cached for
     * code there (an emulator's jump cache too), also after INVLPGs of
     * other pages. */
    for (int i = 0; i < 24; i++)
        CHECK(((int (*)(void))VA_GLOBAL)() == 4);
    invlpg((void *)VA_DATA);
    CHECK(((int (*)(void))VA_GLOBAL)() == 4);
    remap(0, VA_GLOBAL, 5, PTE_G);
    remap(1, VA_GLOBAL, 5, PTE_G);
    invlpg((void *)VA_GLOBAL);
    f = (uint8_t)((int (*)(void))VA_GLOBAL)();
    printf("code on the global page after INVLPG of it: frame %d (5 if dropped)\n", f);
    CHECK(f == 5);
    remap(0, VA_GLOBAL, 4, PTE_G);
    remap(1, VA_GLOBAL, 4, PTE_G);
    invlpg((void *)VA_GLOBAL);
    CHECK(((int (*)(void))VA_GLOBAL)() == 4);
    /* INVLPG drops the current PCID's entry for the page. */
    remap(1, VA_DATA, 2, 0);
    invlpg((void *)VA_DATA);
    CHECK(peek(VA_DATA) == 2);
    remap(1, VA_DATA, 1, 0);
    invlpg((void *)VA_DATA);
    CHECK(peek(VA_DATA) == 1);
}

/* INVLPG of any address in a large page drops the whole page's entries
 * (SDM Vol. 2A, INVLPG), also those made for another 4 KiB of it. */
static void test_large_page(void)
{
    uint64_t *pde = pgtable_entry(space[0], VA_LARGE, 2);

    /* mov $10 + i, %eax; ret at 0x5000 of each 2 MiB */
    for (int i = 0; i < 2; i++) {
        static const uint8_t code[6] = {0xb8, 0, 0, 0, 0, 0xc3};

        memcpy((void *)(PA_LARGE + i * PAGE_2M + 0x5000), code, sizeof(code));
        *(volatile uint8_t *)(PA_LARGE + i * PAGE_2M + 0x5001) = (uint8_t)(10 + i);
    }
    *pde = PA_LARGE | PTE_P | PTE_RW | PTE_PS;
    load(0, 1, 0);
    CHECK(peek(VA_LARGE + 0x5000) == 10);
    *pde = (PA_LARGE + PAGE_2M) | PTE_P | PTE_RW | PTE_PS;
    invlpg((void *)(VA_LARGE + 0x1ff000));
    CHECK(peek(VA_LARGE + 0x5000) == 11);
    /* The same with a global large page, INVLPG in another PCID. */
    *pde = PA_LARGE | PTE_P | PTE_RW | PTE_PS | PTE_G;
    invlpg((void *)VA_LARGE);
    CHECK(peek(VA_LARGE + 0x5000) == 10);
    load(1, 2, 1);
    *pde = (PA_LARGE + PAGE_2M) | PTE_P | PTE_RW | PTE_PS | PTE_G;
    invlpg((void *)(VA_LARGE + 0x100000));
    load(0, 1, 1);
    CHECK(peek(VA_LARGE + 0x5000) == 11);
    /* Code run from the global large page, often enough to be translated:
     * INVLPG of another 4 KiB of it drops what was cached for it. */
    for (int i = 0; i < 24; i++)
        CHECK(((int (*)(void))(VA_LARGE + 0x5000))() == 11);
    *pde = PA_LARGE | PTE_P | PTE_RW | PTE_PS | PTE_G;
    invlpg((void *)(VA_LARGE + 0x1ff000));
    CHECK(((int (*)(void))(VA_LARGE + 0x5000))() == 10);
    *pde = 0;
    invlpg((void *)VA_LARGE);
}

static void test_invpcid(void)
{
    /* Type 0: one address in another PCID. */
    load(1, 2, 1);
    CHECK(peek(VA_DATA) == 1);
    load(0, 1, 1);
    remap(1, VA_DATA, 2, 0);
    invpcid(0, 2, VA_DATA);
    load(1, 2, 1);
    CHECK(peek(VA_DATA) == 2);
    /* Type 1: all of another PCID's non-global entries. */
    load(0, 1, 1);
    remap(1, VA_DATA, 3, 0);
    remap(1, VA_CODE, 3, 0);
    invpcid(1, 2, 0);
    load(1, 2, 1);
    CHECK(peek(VA_DATA) == 3);
    CHECK(call_code() == 3);
    /* Type 3: every PCID's non-global entries. */
    CHECK(peek(VA_GLOBAL) == 4);
    load(0, 1, 1);
    CHECK(peek(VA_DATA) == 0);
    remap(0, VA_DATA, 2, 0);
    remap(1, VA_DATA, 1, 0);
    remap(1, VA_CODE, 1, 0);
    invpcid(3, 0, 0);
    CHECK(peek(VA_DATA) == 2);
    load(1, 2, 1);
    CHECK(peek(VA_DATA) == 1);
    CHECK(call_code() == 1);
    /* Type 2: everything, globals too. */
    remap(0, VA_GLOBAL, 5, PTE_G);
    remap(1, VA_GLOBAL, 5, PTE_G);
    remap(0, VA_DATA, 0, 0);
    invpcid(2, 0, 0);
    CHECK(peek(VA_GLOBAL) == 5);
    load(0, 1, 1);
    CHECK(peek(VA_GLOBAL) == 5);
    CHECK(peek(VA_DATA) == 0);

    /* #GP: an unknown type, a PCID above 4095, a non-canonical address
     * for type 0 (SDM Vol. 2B, INVPCID). */
    CHECK(try_invpcid(4, 0, 0) == EXC_GP);
    CHECK(try_invpcid(1, 4096, 0) == EXC_GP);
    CHECK(try_invpcid(0, 1, 0x0000800000000000ull) == EXC_GP);
    CHECK(try_invpcid(0, 1, VA_DATA) == TRAP_NONE);
}

/* Clearing CR4.PCIDE drops every entry (SDM Vol. 3A §4.10.4.1), and paging
 * cannot be turned off while it is set (SDM Vol. 2B, MOV CR). */
static void test_pcide_off(void)
{
    load(0, 1, 1);
    CHECK(peek(VA_DATA) == 0);
    CHECK(try_write_cr(0, read_cr0() & ~CR0_PG) == EXC_GP);
    remap(0, VA_DATA, 3, 0);
    load(0, 0, 1);
    write_cr4(read_cr4() & ~CR4_PCIDE);
    CHECK(peek(VA_DATA) == 3);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    uint32_t r[4];

    (void)cmdline;
    (void)mem_size;
    idt_init();
    cpuid(1, 0, r);
    if (!(r[2] & CPUID_1_PCID)) {
        printf("SKIP PCIDs: not in CPUID.01H:ECX\n");
        guest_finish();
    }
    setup();
    test_no_pcid();
    test_switch();
    test_global();
    test_large_page();
    cpuid(7, 0, r);
    if (r[1] & CPUID_7_INVPCID)
        test_invpcid();
    else
        printf("SKIP INVPCID: not in CPUID.07H:EBX\n");
    test_pcide_off();
    guest_finish();
}
