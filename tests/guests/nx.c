/*
 * Execute-disable pages (SDM Vol. 3A §4.6, §4.7, Table 4-19):
 *   - with IA32_EFER.NXE set, a fetch from a page whose PTE, or whose PDE,
 *     has XD (bit 63) raises #PF with I/D and P in the error code, while
 *     data reads and writes of the page work;
 *   - with NXE clear, bit 63 is reserved: any access through such an entry
 *     raises #PF with RSVD and P, and without I/D (which needs NXE or SMEP);
 *   - where CPUID does not advertise NX, setting NXE raises #GP(0).
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

#define EFER_NXE     (1ull << 11)
#define CPUID_EXT_NX (1u << 20) /* CPUID.80000001H:EDX (SDM Vol. 2A, CPUID) */
#define PTE_XD       (1ull << 63)
#define PF_RSVD      (1u << 3)
#define PF_ID        (1u << 4)

/* Outside the 1 GiB identity map; NX_PDE_VA's PDE, not its PTE, has XD. */
#define X_VA      0x40000000ull /* code frame, executable */
#define NX_VA     0x40001000ull /* code frame, XD in the PTE */
#define NX_PDE_VA 0x40200000ull /* code frame, XD in the PDE */

#define FUNC_RESULT 0x4e58

/* mov $FUNC_RESULT, %eax; ret */
static const uint8_t func[] = {0xb8, FUNC_RESULT & 0xff, FUNC_RESULT >> 8, 0, 0, 0xc3};

static uint8_t code_frame[4096] __attribute__((aligned(4096)));
static uint64_t *pml4;

static int cpu_has_nx(void)
{
    uint32_t a, b, c, d;

    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000001u), "c"(0));
    return !!(d & CPUID_EXT_NX);
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

static void set_nxe(int on)
{
    uint64_t efer = rdmsr(MSR_EFER);

    wrmsr(MSR_EFER, on ? efer | EFER_NXE : efer & ~EFER_NXE);
    write_cr3(read_cr3()); /* no translation cached under the old NXE */
}

static void setup_paging(void)
{
    pml4 = pgtable_new();
    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW);
    memcpy(code_frame, func, sizeof(func));
    pgtable_map(pml4, X_VA, (uint64_t)code_frame, PAGE_4K, PTE_P | PTE_RW);
    pgtable_map(pml4, NX_VA, (uint64_t)code_frame, PAGE_4K, PTE_P | PTE_RW | PTE_XD);
    pgtable_map(pml4, NX_PDE_VA, (uint64_t)code_frame, PAGE_4K, PTE_P | PTE_RW);
    *pgtable_entry(pml4, NX_PDE_VA, 2) |= PTE_XD;
    write_cr3((uint64_t)pml4);
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

static void test_nxe_on(void)
{
    uint64_t r, at;

    set_nxe(1);
    r = try_call(X_VA);
    printf("fetch from an executable page: vector %lu, result %lx\n", trap_last.vector, r);
    CHECK(trap_last.vector == TRAP_NONE);
    CHECK(r == FUNC_RESULT);

    r = try_call(NX_VA);
    check_pf("fetch from an XD page", PF_ID | PF_P, NX_VA, NX_VA);
    CHECK(r == 0);
    r = try_call(NX_PDE_VA);
    check_pf("fetch under an XD page directory entry", PF_ID | PF_P, NX_PDE_VA, NX_PDE_VA);

    r = trap_try_read(NX_VA + 5, &at);
    printf("read of an XD page: vector %lu, value %lx\n", trap_last.vector, r);
    CHECK(trap_last.vector == TRAP_NONE);
    CHECK(r == 0xc3);
    *(volatile uint8_t *)(NX_VA + 0x100) = 0x77;
    CHECK(code_frame[0x100] == 0x77);
    CHECK(trap_try_read(NX_PDE_VA + 1, &at) == (FUNC_RESULT & 0xff));
    CHECK(trap_last.vector == TRAP_NONE);
}

static void test_nxe_off(void)
{
    uint64_t r, at;

    set_nxe(0);
    r = try_call(X_VA);
    printf("NXE clear, fetch from a page without XD: vector %lu, result %lx\n", trap_last.vector,
           r);
    CHECK(trap_last.vector == TRAP_NONE);
    CHECK(r == FUNC_RESULT);

    trap_try_read(NX_VA + 0x10, &at);
    check_pf("NXE clear, read through a PTE with bit 63", PF_RSVD | PF_P, at, NX_VA + 0x10);
    try_call(NX_VA);
    check_pf("NXE clear, fetch through a PTE with bit 63", PF_RSVD | PF_P, NX_VA, NX_VA);
    trap_try_read(NX_PDE_VA + 0x20, &at);
    check_pf("NXE clear, read through a PDE with bit 63", PF_RSVD | PF_P, at, NX_PDE_VA + 0x20);
}

/* Without NX in CPUID, NXE is a reserved EFER bit (SDM Vol. 4, Table 2-2). */
static void test_no_nx(void)
{
    uint64_t at, efer = rdmsr(MSR_EFER);

    printf("SKIP nx: CPUID.80000001H:EDX.NX is clear\n");
    __asm__ volatile(TRAP_TRY("wrmsr")
                     : [at] "=&r"(at)
                     : "c"(MSR_EFER), "a"((uint32_t)(efer | EFER_NXE)), "d"((uint32_t)(efer >> 32))
                     : "memory");
    printf("setting EFER.NXE: vector %lu, error code 0x%lx\n", trap_last.vector,
           trap_last.error_code);
    CHECK(trap_last.vector == EXC_GP);
    CHECK(trap_last.error_code == 0);
    CHECK(!(rdmsr(MSR_EFER) & EFER_NXE));
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline;
    (void)mem_size;
    idt_init();
    if (!cpu_has_nx()) {
        test_no_nx();
        guest_finish();
    }
    setup_paging();
    test_nxe_on();
    test_nxe_off();
    guest_finish();
}
