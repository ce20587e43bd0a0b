/*
 * The CPU model `--cpu` chooses: the command line names, after "off=", the
 * features taken away (comma-separated, QEMU's names). Each feature the
 * guest knows must be in CPUID exactly when it is not taken away (on KVM:
 * and the host CPU has it), and one taken away must also be refused as by
 * a CPU without it:
 *   - a CR4 enable bit (UMIP, FSGSBASE, PCIDE, SMEP, SMAP, PKE, PKS) is reserved:
 *     MOV to CR4 raises #GP(0) (SDM Vol. 3A §2.5);
 *   - x2APIC: IA32_APIC_BASE.EXTD is reserved: WRMSR raises #GP(0);
 *   - IA32_TSC_ADJUST, IA32_SPEC_CTRL (spec-ctrl), IA32_ARCH_CAPABILITIES:
 *     RDMSR raises #GP(0); IA32_SPEC_CTRL.BHI_DIS_S (bhi-ctrl) is reserved:
 *     WRMSR raises #GP(0);
 *   - RDRAND, RDSEED, RDPID, INVPCID, SERIALIZE raise #UD;
 *   - AVX: XSETBV refuses XCR0 bit 2 (#GP); AVX2, FMA, F16C: a VEX
 *     instruction of theirs raises #UD (with XCR0 enabling what it can);
 *   - 1-GByte pages: PS in a PDPTE is reserved, #PF with RSVD (§4.5).
 * TSC-deadline is checked in CPUID only.
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

#define MSR_APIC_BASE  0x1bu
#define MSR_TSC_ADJUST 0x3bu
#define APIC_BASE_EXTD (1ull << 10)
#define PF_RSVD        (1u << 3)
#define VA_1G          0x8000000000ull /* PML4[1] */

enum how { CPUID_ONLY, CR4_BIT, APIC_EXTD, MSR_READ, MSR_WRITE, INSN, XCR0_BIT };
enum { EAX, EBX, ECX, EDX };

static const struct feature {
    const char *name;
    uint32_t leaf, subleaf, reg, bit;
    enum how how;
    uint64_t arg;   /* CR4_BIT: the bit; MSR_READ, MSR_WRITE: the MSR */
    uint64_t value; /* MSR_WRITE: what to write */
} features[] = {
    {"x2apic", 1, 0, ECX, 21, APIC_EXTD, 0, 0},
    {"tsc-deadline", 1, 0, ECX, 24, CPUID_ONLY, 0, 0},
    {"pcid", 1, 0, ECX, 17, CR4_BIT, 1ull << 17, 0},
    {"rdrand", 1, 0, ECX, 30, INSN, 0, 0},
    {"fsgsbase", 7, 0, EBX, 0, CR4_BIT, 1ull << 16, 0},
    {"tsc-adjust", 7, 0, EBX, 1, MSR_READ, MSR_TSC_ADJUST, 0},
    {"smep", 7, 0, EBX, 7, CR4_BIT, 1ull << 20, 0},
    {"invpcid", 7, 0, EBX, 10, INSN, 0, 0},
    {"rdseed", 7, 0, EBX, 18, INSN, 0, 0},
    {"smap", 7, 0, EBX, 20, CR4_BIT, 1ull << 21, 0},
    {"umip", 7, 0, ECX, 2, CR4_BIT, 1ull << 11, 0},
    {"rdpid", 7, 0, ECX, 22, INSN, 0, 0},
    {"pdpe1gb", 0x80000001, 0, EDX, 26, CPUID_ONLY, 0, 0},
    {"pku", 7, 0, ECX, 3, CR4_BIT, 1ull << 22, 0},
    {"pks", 7, 0, ECX, 31, CR4_BIT, 1ull << 24, 0},
    {"serialize", 7, 0, EDX, 14, INSN, 0, 0},
    {"spec-ctrl", 7, 0, EDX, 26, MSR_READ, 0x48, 0},
    {"arch-capabilities", 7, 0, EDX, 29, MSR_READ, 0x10a, 0},
    {"bhi-ctrl", 7, 2, EDX, 4, MSR_WRITE, 0x48, 1ull << 10}, /* BHI_DIS_S */
    {"avx", 1, 0, ECX, 28, XCR0_BIT, 1ull << 2, 0},
    {"avx2", 7, 0, EBX, 5, INSN, 0, 0},
    {"fma", 1, 0, ECX, 12, INSN, 0, 0},
    {"f16c", 1, 0, ECX, 29, INSN, 0, 0},
};

#define CR4_OSFXSR  (1ull << 9)
#define CR4_OSXSAVE (1ull << 18)

static uint64_t try_xsetbv(uint64_t v)
{
    uint64_t at;

    __asm__ volatile(TRAP_TRY("xsetbv")
                     : [at] "=&r"(at)
                     : "c"(0), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
                     : "memory");
    return trap_last.vector;
}

/* A VEX instruction of AVX2, FMA or F16C, with the YMM state enabled if
 * XCR0 takes it; XCR0 is x87 and SSE again after. */
static uint64_t try_vex(const char *name)
{
    uint64_t at, v;

    write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXSAVE);
    try_xsetbv(7);
    if (!strcmp(name, "avx2"))
        __asm__ volatile(TRAP_TRY("vpaddd %%ymm0, %%ymm0, %%ymm0") : [at] "=&r"(at) : : "memory");
    else if (!strcmp(name, "fma"))
        __asm__ volatile(TRAP_TRY("vfmadd231ps %%xmm0, %%xmm0, %%xmm0")
                         : [at] "=&r"(at)
                         :
                         : "memory");
    else
        __asm__ volatile(TRAP_TRY("vcvtph2ps %%xmm0, %%xmm0") : [at] "=&r"(at) : : "memory");
    v = trap_last.vector;
    try_xsetbv(3);
    return v;
}

/* Whether the comma-separated list after "off=" in cmdline names name. */
static int taken_away(const char *cmdline, const char *name)
{
    const char *p = cmdline;

    for (; *p; p++)
        if (p[0] == 'o' && p[1] == 'f' && p[2] == 'f' && p[3] == '=')
            break;
    if (!*p)
        return 0;
    for (p += 4; *p && *p != ' ';) {
        const char *n = name;

        while (*n && *p == *n)
            p++, n++;
        if (!*n && (*p == ',' || *p == ' ' || !*p))
            return 1;
        while (*p && *p != ',' && *p != ' ')
            p++;
        if (*p == ',')
            p++;
    }
    return 0;
}

static uint64_t try_insn(const char *name)
{
    static const uint8_t zero[16] __attribute__((aligned(16)));
    uint64_t at, v = 0;

    if (!strcmp(name, "avx2") || !strcmp(name, "fma") || !strcmp(name, "f16c"))
        return try_vex(name);
    if (!strcmp(name, "rdrand"))
        __asm__ volatile(TRAP_TRY("rdrand %[v]") : [at] "=&r"(at), [v] "+r"(v) : : "memory", "cc");
    else if (!strcmp(name, "rdseed"))
        __asm__ volatile(TRAP_TRY("rdseed %[v]") : [at] "=&r"(at), [v] "+r"(v) : : "memory", "cc");
    else if (!strcmp(name, "rdpid"))
        __asm__ volatile(TRAP_TRY("rdpid %[v]") : [at] "=&r"(at), [v] "+r"(v) : : "memory");
    else if (!strcmp(name, "serialize"))
        __asm__ volatile(TRAP_TRY(".byte 0x0f, 0x01, 0xe8") : [at] "=&r"(at) : : "memory");
    else /* invpcid: type 2, every context including globals */
        __asm__ volatile(TRAP_TRY("invpcid %[d], %[t]")
                         : [at] "=&r"(at)
                         : [d] "m"(zero), [t] "r"(2ull)
                         : "memory");
    return trap_last.vector;
}

static uint64_t try_cr4(uint64_t v)
{
    uint64_t at;

    __asm__ volatile(TRAP_TRY("mov %[v], %%cr4") : [at] "=&r"(at) : [v] "r"(v) : "memory");
    return trap_last.vector;
}

/* A 1 GiB page at VA_1G: mapped when CPUID offers them, #PF RSVD if not. */
static void check_1g_page(int offered)
{
    uint64_t *pml4 = pgtable_new(), at;

    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW);
    *pgtable_entry(pml4, VA_1G, 3) = PTE_P | PTE_RW | PTE_PS; /* onto physical 0 */
    write_cr3((uint64_t)pml4);
    trap_try_read(VA_1G + 0x1000, &at);
    printf("pdpe1gb: read through a 1 GiB page: vector %lu, error code 0x%lx\n",
           trap_last.vector, trap_last.error_code);
    if (offered) {
        CHECK(trap_last.vector == TRAP_NONE);
    } else {
        CHECK(trap_last.vector == EXC_PF);
        CHECK(trap_last.error_code == (PF_RSVD | PF_P));
    }
}

static void check_feature(const struct feature *f, int off)
{
    uint32_t r[4];
    int offered;
    uint64_t v = TRAP_NONE;

    cpuid(f->leaf, f->subleaf, r);
    offered = !!(r[f->reg] & (1u << f->bit));
    printf("%s: %s, %s in CPUID\n", f->name, off ? "taken away" : "kept",
           offered ? "present" : "absent");
    if (!off && !offered) { /* on KVM: a feature of vx86 that the host CPU lacks */
        printf("SKIP %s: kept, but this host does not offer it\n", f->name);
        return;
    }
    CHECK(offered == !off);
    switch (f->how) {
    case CR4_BIT:
        v = try_cr4(read_cr4() | f->arg);
        if (v == TRAP_NONE)
            write_cr4(read_cr4() & ~f->arg);
        CHECK(v == (off ? EXC_GP : TRAP_NONE));
        break;
    case APIC_EXTD:
        if (off)
            CHECK(trap_try_wrmsr(MSR_APIC_BASE, rdmsr(MSR_APIC_BASE) | APIC_BASE_EXTD) == EXC_GP);
        break;
    case MSR_READ:
        CHECK(trap_try_rdmsr((uint32_t)f->arg) == (off ? EXC_GP : TRAP_NONE));
        break;
    case MSR_WRITE:
        v = trap_try_wrmsr((uint32_t)f->arg, f->value);
        if (v == TRAP_NONE)
            wrmsr((uint32_t)f->arg, 0);
        CHECK(v == (off ? EXC_GP : TRAP_NONE));
        break;
    case INSN:
        CHECK(try_insn(f->name) == (off ? EXC_UD : TRAP_NONE));
        break;
    case XCR0_BIT:
        write_cr4(read_cr4() | CR4_OSXSAVE);
        CHECK(try_xsetbv(3 | f->arg) == (off ? EXC_GP : TRAP_NONE));
        try_xsetbv(3);
        break;
    case CPUID_ONLY:
        if (!strcmp(f->name, "pdpe1gb"))
            check_1g_page(offered);
        break;
    }
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)mem_size;
    idt_init();
    for (unsigned i = 0; i < sizeof(features) / sizeof(features[0]); i++)
        check_feature(&features[i], taken_away(cmdline, features[i].name));
    guest_finish();
}
