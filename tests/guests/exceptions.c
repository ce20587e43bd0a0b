/*
 * Takes one exception of each common kind and checks what the CPU reports
 * for it: the vector, the error code, the faulting instruction's address in
 * the frame and, for #PF, CR2 (SDM Vol. 3A §6.15, "Exception and Interrupt
 * Reference").
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

/* Three 4 KiB pages above the identity map: writable, not present, read-only. */
#define TEST_VA     0x40000000ull
#define RW_PAGE     TEST_VA
#define ABSENT_PAGE (TEST_VA + PAGE_4K)
#define RO_PAGE     (TEST_VA + 2 * PAGE_4K)

static volatile uint8_t frames[2][4096] __attribute__((aligned(4096)));

static void setup_paging(void)
{
    uint64_t *pml4 = pgtable_new();

    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW);
    pgtable_map(pml4, RW_PAGE, (uint64_t)frames[0], PAGE_4K, PTE_P | PTE_RW);
    pgtable_map(pml4, RO_PAGE, (uint64_t)frames[1], PAGE_4K, PTE_P);
    write_cr3((uint64_t)pml4);
    /* Without CR0.WP supervisor writes ignore read-only pages (SDM Vol. 3A §4.6.1). */
    write_cr0(read_cr0() | CR0_WP);
}

static void check_trap(const char *what, uint64_t vector, uint64_t error_code, uint64_t at)
{
    printf("%s: vector %lu, error code 0x%lx, rip %lx (expected %lu, 0x%lx, %lx)\n", what,
           trap_last.vector, trap_last.error_code, trap_last.rip, vector, error_code, at);
    CHECK(trap_last.vector == vector);
    CHECK(trap_last.error_code == error_code);
    CHECK(trap_last.rip == at);
    CHECK(trap_last.cs == read_cs());
}

static void test_ud(void)
{
    uint64_t at;

    asm volatile(TRAP_TRY("ud2") : [at] "=&r"(at) : : "memory");
    check_trap("ud2", EXC_UD, 0, at);
}

static void test_de(void)
{
    uint64_t at, rax = 1, rdx = 0;

    asm volatile(TRAP_TRY("divq %[zero]")
                 : [at] "=&r"(at), "+a"(rax), "+d"(rdx)
                 : [zero] "r"(0ull)
                 : "memory");
    check_trap("div by zero", EXC_DE, 0, at);
}

/* Loading DS with a selector past the GDT's limit gives #GP(selector); the
 * error code holds the index and TI, and bits 0-1 are EXT and IDT, not the
 * RPL (SDM Vol. 3A §6.13). */
static void test_gp_selector(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } gdtr;
    uint16_t sel;
    uint64_t at;

    asm volatile("sgdt %0" : "=m"(gdtr));
    sel = (uint16_t)(((gdtr.limit + 1u + 7u) & ~7u) | 3u);
    asm volatile(TRAP_TRY("mov %[sel], %%ds") : [at] "=&r"(at) : [sel] "r"(sel) : "memory");
    check_trap("mov to ds of a selector past the GDT", EXC_GP, sel & ~3u, at);
}

/* A non-canonical address gives #GP(0) (SDM Vol. 3A §3.3.7.1). */
static void test_gp_noncanonical(void)
{
    uint64_t at, v;

    asm volatile(TRAP_TRY("mov (%[p]), %[v]")
                 : [at] "=&r"(at), [v] "=r"(v)
                 : [p] "r"(0x8000000000000000ull)
                 : "memory");
    check_trap("non-canonical read", EXC_GP, 0, at);
}

static void test_pf_write_absent(void)
{
    uint64_t at, va = ABSENT_PAGE + 0x123;

    asm volatile(TRAP_TRY("movb $1, (%[p])") : [at] "=&r"(at) : [p] "r"(va) : "memory");
    check_trap("write to a not-present page", EXC_PF, PF_W, at);
    CHECK(trap_last.cr2 == va);
}

static void test_pf_read_absent(void)
{
    uint64_t at, va = ABSENT_PAGE + 0xff8, v;

    asm volatile(TRAP_TRY("mov (%[p]), %[v]")
                 : [at] "=&r"(at), [v] "=r"(v)
                 : [p] "r"(va)
                 : "memory");
    check_trap("read of a not-present page", EXC_PF, 0, at);
    CHECK(trap_last.cr2 == va);
}

static void test_pf_write_readonly(void)
{
    uint64_t at, va = RO_PAGE + 8;

    asm volatile(TRAP_TRY("movb $1, (%[p])") : [at] "=&r"(at) : [p] "r"(va) : "memory");
    check_trap("write to a read-only page", EXC_PF, PF_P | PF_W, at);
    CHECK(trap_last.cr2 == va);
    CHECK(frames[1][8] == 0);
}

/* The present pages work as mapped: no trap, and the data goes to the frames. */
static void test_present(void)
{
    uint64_t at, v;

    frames[1][16] = 0x5a;
    asm volatile(TRAP_TRY("movzbq (%[p]), %[v]")
                 : [at] "=&r"(at), [v] "=r"(v)
                 : [p] "r"(RO_PAGE + 16)
                 : "memory");
    printf("read of a read-only page: vector %lu, value 0x%lx\n", trap_last.vector, v);
    CHECK(trap_last.vector == TRAP_NONE);
    CHECK(v == 0x5a);

    asm volatile(TRAP_TRY("movb $0xa5, (%[p])")
                 : [at] "=&r"(at)
                 : [p] "r"(RW_PAGE + 32)
                 : "memory");
    printf("write to a writable page: vector %lu\n", trap_last.vector);
    CHECK(trap_last.vector == TRAP_NONE);
    CHECK(frames[0][32] == 0xa5);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline;
    (void)mem_size;
    idt_init();
    setup_paging();
    test_ud();
    test_de();
    test_gp_selector();
    test_gp_noncanonical();
    test_pf_write_absent();
    test_pf_read_absent();
    test_pf_write_readonly();
    test_present();
    guest_finish();
}
