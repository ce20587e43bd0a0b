/*
 * Code that a binary translator finds awkward, checked for the
 * architectural result (the smc guest covers stores into code):
 *   - jumps into the middle of an instruction, whose bytes from there on
 *     are other instructions; both entries run often enough to be
 *     translated (and overlap in the translation's guest bytes);
 *   - more distinct code than the translator's code cache holds (64 MiB
 *     per vCPU, docs/translator.md): 262,144 functions, each run 17 times,
 *     all still right after the cache was emptied;
 *   - a fetch from a physical address no device answers: reads there give
 *     all ones (a PC's master abort), and FF FF is FF /7, which does not
 *     exist: #UD at that address, and the guest goes on.
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

#define NFUNCS  262144
#define FUNC_SZ 16
#define RUNS    17 /* past the translator's threshold (JIT_HOT_RUNS) */

#define MMIO_VA 0x50000000ull /* mapped to MMIO_PA */
#define MMIO_PA 0xd0000000ull /* in the PCI hole below 4 GiB: no device */

uint64_t hostile_mid(uint64_t v);
extern char hostile_mid_add5[];

/* MOVABS $imm, %rax whose immediate, entered two bytes in, is the code
 * "add $5, %rax; ret". */
__asm__(".text\n"
        ".globl hostile_mid, hostile_mid_add5\n"
        "hostile_mid:\n\t"
        "mov %rdi, %rax\n\t"
        ".byte 0x48, 0xb8\n"
        "hostile_mid_add5:\n\t"
        ".byte 0x48, 0x83, 0xc0, 0x05, 0xc3, 0x90, 0x90, 0x90\n\t"
        "ret\n");

static uint8_t code[NFUNCS * FUNC_SZ] __attribute__((aligned(4096)));

typedef uint64_t fn_t(uint64_t);

static void test_mid_instruction(void)
{
    unsigned bad = 0;

    for (uint64_t i = 0; i < 64; i++) {
        /* The whole instruction: RAX = its immediate. */
        if (hostile_mid(i) != 0x909090c305c08348ull)
            bad++;
        /* Two bytes in: RAX + 5 (RAX is the argument, set by the caller). */
        uint64_t r;
        __asm__ volatile("mov %1, %%rax\n\tcall *%2"
                         : "=a"(r)
                         : "r"(i), "r"(hostile_mid_add5)
                         : "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc");
        if (r != i + 5)
            bad++;
    }
    printf("mid-instruction entries: %u wrong\n", bad);
    CHECK(bad == 0);
}

/* Function i: lea imm(%rdi), %eax (imm = i * 7 + 3); ret; int3 padding. */
static void write_functions(void)
{
    for (uint32_t i = 0; i < NFUNCS; i++) {
        uint8_t *p = code + (uint64_t)i * FUNC_SZ;
        uint32_t imm = i * 7 + 3;

        p[0] = 0x8d; /* LEA r32, m: ModRM 0x87 = EAX, [RDI + disp32] */
        p[1] = 0x87;
        memcpy(p + 2, &imm, 4);
        p[6] = 0xc3;
        memset(p + 7, 0xcc, FUNC_SZ - 7);
    }
}

static unsigned run_functions(uint32_t first, uint32_t count, unsigned runs)
{
    unsigned bad = 0;

    for (unsigned r = 0; r < runs; r++)
        for (uint32_t i = first; i < first + count; i++) {
            fn_t *f = (fn_t *)(void *)(code + (uint64_t)i * FUNC_SZ);

            if (f(r) != (uint32_t)(r + i * 7 + 3))
                bad++;
        }
    return bad;
}

static void test_fill_cache(void)
{
    unsigned bad;

    write_functions();
    bad = run_functions(0, NFUNCS, RUNS);
    /* The first ones again: translated anew if the cache was emptied. */
    bad += run_functions(0, 4096, RUNS);
    printf("%u functions run %u times each: %u wrong\n", NFUNCS, RUNS, bad);
    CHECK(bad == 0);
}

static void test_fetch_from_nothing(void)
{
    uint64_t *pml4 = pgtable_new(), at = 0, got = 0;
    uint8_t byte;

    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW);
    pgtable_map(pml4, MMIO_VA, MMIO_PA, PAGE_4K, PTE_P | PTE_RW);
    write_cr3((uint64_t)pml4);
    byte = trap_try_read(MMIO_VA, &at);
    printf("read at 0x%lx: 0x%x\n", (unsigned long)MMIO_PA, byte);
    CHECK(byte == 0xff && trap_last.vector == TRAP_NONE);
    /* An armed expectation (trap.h) records the fault and resumes at 1. */
    __asm__ volatile("movq $" TRAP_NONE_STR ", trap_last(%%rip)\n\t"
                     "lea 1f(%%rip), %%rax\n\t"
                     "mov %%rax, trap_resume(%%rip)\n\t"
                     "jmp *%1\n"
                     "1:\n\t"
                     "movq $0, trap_resume(%%rip)\n\t"
                     "mov $1, %0"
                     : "=r"(got)
                     : "r"(MMIO_VA)
                     : "rax", "memory");
    printf("fetch from 0x%lx: vector %lu at 0x%lx, resumed %lu\n", (unsigned long)MMIO_VA,
           (unsigned long)trap_last.vector, (unsigned long)trap_last.rip, (unsigned long)got);
    CHECK(got == 1 && trap_last.vector == 6 && trap_last.rip == MMIO_VA);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline;
    (void)mem_size;
    idt_init();
    test_mid_instruction();
    test_fill_cache();
    test_fetch_from_nothing();
    guest_finish();
}
