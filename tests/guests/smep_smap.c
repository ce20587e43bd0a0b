/*
 * Supervisor-mode execution and access prevention (SDM Vol. 3A §4.6.1,
 * §4.7):
 *   - SMEP (CR4.SMEP): a fetch at CPL 0 from a user page raises #PF with
 *     I/D and P; data accesses to the page are unaffected;
 *   - SMAP (CR4.SMAP): a data read or write at CPL 0 of a user page raises
 *     #PF (P, and W for the write) while RFLAGS.AC is 0 and works while it
 *     is 1, whether POPF or STAC set it and POPF or CLAC cleared it;
 *     fetches are unaffected.
 * Each only where CPUID.(EAX=07H,ECX=0):EBX advertises it (bit 7 SMEP, bit
 * 20 SMAP); otherwise the guest prints "SKIP smep" or "SKIP smap" and
 * checks that setting the CR4 bit raises #GP(0) (SDM Vol. 3A §2.5) and,
 * for SMAP, that STAC is #UD (SDM Vol. 2B, STAC).
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

#define CR4_SMEP        (1ul << 20)
#define CR4_SMAP        (1ul << 21)
#define CPUID7_EBX_SMEP (1u << 7)
#define CPUID7_EBX_SMAP (1u << 20)
#define PF_ID           (1u << 4)

#define USER_VA     0x40000000ull /* a user page above the supervisor identity map */
#define USER_DATA   (USER_VA + 0x800)
#define FUNC_RESULT 0x5eed

/* mov $FUNC_RESULT, %eax; ret */
static const uint8_t func[] = {0xb8, FUNC_RESULT & 0xff, FUNC_RESULT >> 8, 0, 0, 0xc3};

static uint8_t user_frame[4096] __attribute__((aligned(4096)));

static uint32_t cpuid7_ebx(void)
{
    uint32_t r[4];

    cpuid(0, 0, r);
    if (r[0] < 7)
        return 0;
    cpuid(7, 0, r);
    return r[1];
}

/* Calls fn; on a trap, resumes with the stack as before the call. Returns
 * what fn returned, or 0. */
static uint64_t try_call(uint64_t fn)
{
    uint64_t at, sp, r = 0;

    __asm__ volatile("mov %%rsp, %[sp]\n\t" TRAP_TRY("call *%[fn]") "mov %[sp], %%rsp"
                     : [at] "=&r"(at), [sp] "=&r"(sp), "+a"(r)
                     : [fn] "r"(fn)
                     : "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc");
    return r;
}

static void try_write(uint64_t va, uint8_t v, uint64_t *at)
{
    __asm__ volatile(TRAP_TRY("movb %[v], (%[p])")
                     : [at] "=&r"(*at)
                     : [p] "r"(va), [v] "r"(v)
                     : "memory");
}

static void try_write_cr4(unsigned long v)
{
    uint64_t at;

    __asm__ volatile(TRAP_TRY("mov %[v], %%cr4") : [at] "=&r"(at) : [v] "r"(v) : "memory");
}

static void check_pf(const char *what, uint64_t error_code, uint64_t rip, uint64_t cr2)
{
    printf("%s: vector %lu, error code 0x%lx, rip %lx, cr2 %lx\n", what, trap_last.vector,
           trap_last.error_code, trap_last.rip, trap_last.cr2);
    CHECK(trap_last.vector == EXC_PF);
    CHECK(trap_last.error_code == error_code);
    CHECK(trap_last.rip == rip);
    CHECK(trap_last.cr2 == cr2);
}

static void check_none(const char *what)
{
    printf("%s: vector %lu\n", what, trap_last.vector);
    CHECK(trap_last.vector == TRAP_NONE);
}

static void setup_paging(void)
{
    uint64_t *pml4 = pgtable_new();

    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW);
    memcpy(user_frame, func, sizeof(func));
    user_frame[0x800] = 0x42;
    pgtable_map(pml4, USER_VA, (uint64_t)user_frame, PAGE_4K, PTE_P | PTE_RW | PTE_US);
    write_cr3((uint64_t)pml4);
}

static void test_smep(void)
{
    uint64_t at, r;

    r = try_call(USER_VA);
    check_none("SMEP off, fetch from a user page");
    CHECK(r == FUNC_RESULT);

    write_cr4(read_cr4() | CR4_SMEP);
    CHECK(read_cr4() & CR4_SMEP);
    r = try_call(USER_VA);
    check_pf("SMEP on, fetch from a user page", PF_ID | PF_P, USER_VA, USER_VA);
    CHECK(r == 0);
    r = trap_try_read(USER_DATA, &at);
    check_none("SMEP on, read of a user page");
    CHECK(r == 0x42);

    write_cr4(read_cr4() & ~CR4_SMEP);
    r = try_call(USER_VA);
    check_none("SMEP off again, fetch from a user page");
    CHECK(r == FUNC_RESULT);
}

static void set_ac_popf(int on)
{
    unsigned long f = read_flags();

    f = on ? f | RFLAGS_AC : f & ~RFLAGS_AC;
    __asm__ volatile("push %0\n\tpopf" : : "r"(f) : "memory", "cc");
}

/* With SMAP on: reads and writes of the user page fault or work by AC. */
static void check_smap_access(const char *how, int ac, uint8_t v)
{
    uint64_t at, r;

    printf("SMAP on, %s:\n", how);
    CHECK(!!(read_flags() & RFLAGS_AC) == ac);
    r = trap_try_read(USER_DATA, &at);
    if (ac) {
        check_none("  read of a user page");
        CHECK(r == 0x42);
    } else {
        check_pf("  read of a user page", PF_P, at, USER_DATA);
    }
    try_write(USER_DATA + 1, v, &at);
    if (ac) {
        check_none("  write to a user page");
        CHECK(user_frame[0x801] == v);
    } else {
        check_pf("  write to a user page", PF_P | PF_W, at, USER_DATA + 1);
        CHECK(user_frame[0x801] != v);
    }
}

static void test_smap(void)
{
    uint64_t at, r;

    r = trap_try_read(USER_DATA, &at);
    check_none("SMAP off, read of a user page");
    CHECK(r == 0x42);

    write_cr4(read_cr4() | CR4_SMAP);
    CHECK(read_cr4() & CR4_SMAP);
    set_ac_popf(0);
    check_smap_access("AC 0", 0, 1);
    set_ac_popf(1);
    check_smap_access("AC 1 by POPF", 1, 2);
    set_ac_popf(0);
    check_smap_access("AC 0 by POPF", 0, 3);

    r = try_call(USER_VA);
    check_none("SMAP on, fetch from a user page");
    CHECK(r == FUNC_RESULT);

    __asm__ volatile("stac" ::: "memory", "cc");
    check_smap_access("after STAC", 1, 4);
    __asm__ volatile("clac" ::: "memory", "cc");
    check_smap_access("after CLAC", 0, 5);
    write_cr4(read_cr4() & ~CR4_SMAP);
}

static void test_absent(const char *name, unsigned long bit)
{
    unsigned long cr4 = read_cr4();

    printf("SKIP %s: not in CPUID.(EAX=07H,ECX=0):EBX\n", name);
    try_write_cr4(cr4 | bit);
    printf("setting CR4.%s: vector %lu, error code 0x%lx\n", name, trap_last.vector,
           trap_last.error_code);
    CHECK(trap_last.vector == EXC_GP);
    CHECK(trap_last.error_code == 0);
    CHECK(read_cr4() == cr4);
}

static void test_no_stac(void)
{
    uint64_t at;

    __asm__ volatile(TRAP_TRY("stac") : [at] "=&r"(at) : : "memory", "cc");
    printf("STAC without SMAP: vector %lu\n", trap_last.vector);
    CHECK(trap_last.vector == EXC_UD);
    CHECK(trap_last.rip == at);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    uint32_t features = cpuid7_ebx();

    (void)cmdline;
    (void)mem_size;
    idt_init();
    setup_paging();
    printf("CPUID.7.0:EBX %x: SMEP %s, SMAP %s\n", features,
           features & CPUID7_EBX_SMEP ? "yes" : "no", features & CPUID7_EBX_SMAP ? "yes" : "no");
    if (features & CPUID7_EBX_SMEP) {
        test_smep();
    } else {
        test_absent("smep", CR4_SMEP);
    }
    if (features & CPUID7_EBX_SMAP) {
        test_smap();
    } else {
        test_absent("smap", CR4_SMAP);
        test_no_stac();
    }
    guest_finish();
}
