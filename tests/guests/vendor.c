/*
 * The CPU's vendor, as `--cpu ...,vendor=` chooses it: the command line
 * says "amd" for AuthenticAMD; otherwise the CPU must be GenuineIntel.
 * What the guest checks, in 64-bit mode, for each:
 *   - CPUID leaf 0's vendor string; AMD also repeats it in leaf 80000000H,
 *     repeats leaf 1's EDX bits in leaf 80000001H's EDX (FPU to APIC, MTRR
 *     to PSE36, MMX, FXSR) and counts the cores in 80000008H's ECX (AMD
 *     APM Vol. 3, CPUID);
 *   - SYSENTER and SYSEXIT: AMD CPUs raise #UD in long mode; Intel ones run
 *     them, here into #GP(0) for IA32_SYSENTER_CS = 0 (SDM Vol. 2B);
 *   - SYSRET with a non-canonical RCX: #GP(0) at CPL 0 on Intel (checked
 *     on Intel only: AMD returns and faults at CPL 3);
 *   - AMD's legacy performance counters (C001_0000H-C001_0007H) exist and
 *     count nothing; on Intel these MSRs raise #GP(0).
 */
#include "lib/guest.h"
#include "lib/trap.h"

#define MSR_SYSENTER_CS 0x174u
#define MSR_K7_EVNTSEL0 0xc0010000u
#define MSR_K7_PERFCTR3 0xc0010007u
#define AMD_MIRROR      0x0183f3ffu /* leaf 1's EDX bits AMD repeats */

/* Whether cmdline holds the word w. */
static int has_word(const char *cmdline, const char *w)
{
    for (const char *s = cmdline; *s; s++) {
        const char *p = s, *q = w;

        while (*q && *p == *q)
            p++, q++;
        if (!*q && (*p == ' ' || !*p) && (s == cmdline || s[-1] == ' '))
            return 1;
    }
    return 0;
}

/* The 12 bytes of EBX, EDX, ECX of leaf. */
static void vendor_of(uint32_t leaf, char out[13])
{
    uint32_t r[4];

    cpuid(leaf, 0, r);
    memcpy(out, &r[1], 4);
    memcpy(out + 4, &r[3], 4);
    memcpy(out + 8, &r[2], 4);
    out[12] = 0;
}

static uint64_t try_insn(int exit_insn)
{
    uint64_t at;

    if (exit_insn)
        __asm__ volatile(TRAP_TRY("sysexitq") : [at] "=&r"(at) : : "memory");
    else
        __asm__ volatile(TRAP_TRY("sysenter") : [at] "=&r"(at) : : "memory");
    printf("%s: vector %lu\n", exit_insn ? "SYSEXIT" : "SYSENTER", trap_last.vector);
    return trap_last.vector;
}

static void check_amd(void)
{
    uint32_t l1[4], r[4];
    char v[13];

    vendor_of(0x80000000, v);
    CHECK(!strcmp(v, "AuthenticAMD"));
    cpuid(1, 0, l1);
    cpuid(0x80000001, 0, r);
    CHECK((r[3] & AMD_MIRROR) == (l1[3] & AMD_MIRROR));
    CHECK(r[3] & (1u << 11)); /* SYSCALL */
    cpuid(0x80000008, 0, r);
    CHECK((r[2] & 0xff) == 0); /* one core */
    CHECK(try_insn(0) == EXC_UD);
    CHECK(try_insn(1) == EXC_UD);
    for (uint32_t msr = MSR_K7_EVNTSEL0; msr <= MSR_K7_PERFCTR3; msr++) {
        CHECK(trap_try_wrmsr(msr, 0) == TRAP_NONE);
        CHECK(rdmsr(msr) == 0);
    }
}

static void check_intel(void)
{
    uint32_t r[4];
    uint64_t at;

    cpuid(0x80000000, 0, r);
    CHECK(r[1] == 0 && r[2] == 0 && r[3] == 0);
    cpuid(0x80000008, 0, r);
    CHECK(r[2] == 0);
    wrmsr(MSR_SYSENTER_CS, 0);
    CHECK(try_insn(0) == EXC_GP && trap_last.error_code == 0);
    CHECK(try_insn(1) == EXC_GP && trap_last.error_code == 0);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
    __asm__ volatile(TRAP_TRY("sysretq")
                     : [at] "=&r"(at)
                     : "c"(0x8000000000000000ull)
                     : "r11", "memory");
    printf("SYSRET to a non-canonical RIP: vector %lu\n", trap_last.vector);
    CHECK(trap_last.vector == EXC_GP && trap_last.error_code == 0 && trap_last.rip == at);
    CHECK(trap_try_rdmsr(MSR_K7_EVNTSEL0) == EXC_GP);
    CHECK(trap_try_wrmsr(MSR_K7_EVNTSEL0, 0) == EXC_GP);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    int amd = has_word(cmdline, "amd");
    char v[13];

    (void)mem_size;
    idt_init();
    vendor_of(0, v);
    printf("vendor %s, expected %s\n", v, amd ? "AuthenticAMD" : "GenuineIntel");
    CHECK(!strcmp(v, amd ? "AuthenticAMD" : "GenuineIntel"));
    if (amd)
        check_amd();
    else
        check_intel();
    guest_finish();
}
