/*
 * IA32_APIC_BASE and the x2APIC (SDM Vol. 3A §11.4.3, §11.12.1, §11.12.5
 * Figure 11-27, §11.12.11):
 *   - the legal moves are xAPIC -> x2APIC, either -> disabled, disabled ->
 *     xAPIC; x2APIC -> xAPIC, disabled -> x2APIC, EXTD without EN and
 *     reserved bits raise #GP(0) and leave the MSR as it was;
 *   - CPUID.01H:EDX.APIC[bit 9] follows the global enable (EN);
 *   - a write of the x2APIC SELF IPI register with bits 31:8 set raises #GP.
 */
#include "lib/guest.h"
#include "lib/trap.h"

#define MSR_APIC_BASE   0x1bu
#define MSR_X2_SELF_IPI 0x83fu
#define APIC_BASE_EXTD  (1ull << 10)
#define APIC_BASE_EN    (1ull << 11)
#define CPUID_1_APIC    (1u << 9)
#define CPUID_1_X2APIC  (1u << 21)

static int cpuid_apic(void)
{
    uint32_t r[4];

    cpuid(1, 0, r);
    return !!(r[3] & CPUID_1_APIC);
}

/* Writing v to IA32_APIC_BASE raises #GP(0) and changes nothing. */
static void check_refused(const char *what, uint64_t v)
{
    uint64_t before = rdmsr(MSR_APIC_BASE);

    printf("%s (%lx -> %lx): ", what, before, v);
    trap_try_wrmsr(MSR_APIC_BASE, v);
    printf("vector %lu, error code 0x%lx\n", trap_last.vector, trap_last.error_code);
    CHECK(trap_last.vector == EXC_GP);
    CHECK(trap_last.error_code == 0);
    CHECK(rdmsr(MSR_APIC_BASE) == before);
}

static void check_taken(const char *what, uint64_t v)
{
    printf("%s (-> %lx): ", what, v);
    trap_try_wrmsr(MSR_APIC_BASE, v);
    printf("vector %lu\n", trap_last.vector);
    CHECK(trap_last.vector == TRAP_NONE);
    CHECK((rdmsr(MSR_APIC_BASE) & ~0x100ull) == (v & ~0x100ull));
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    uint64_t base, xapic, x2apic, off;
    uint32_t r[4];

    (void)cmdline;
    (void)mem_size;
    idt_init();
    cpuid(1, 0, r);
    base = rdmsr(MSR_APIC_BASE);
    xapic = base & ~APIC_BASE_EXTD;
    x2apic = xapic | APIC_BASE_EXTD;
    off = xapic & ~APIC_BASE_EN;
    printf("IA32_APIC_BASE %lx\n", base);
    CHECK((base & (APIC_BASE_EN | APIC_BASE_EXTD)) == APIC_BASE_EN);
    CHECK(cpuid_apic());

    check_refused("a reserved bit (9)", xapic | 1ull << 9);
    check_refused("a reserved bit (63)", xapic | 1ull << 63);
    check_refused("EXTD without EN", off | APIC_BASE_EXTD);

    if (r[2] & CPUID_1_X2APIC) {
        check_taken("xAPIC -> x2APIC", x2apic);
        trap_try_wrmsr(MSR_X2_SELF_IPI, 0x100 | 0x40);
        printf("SELF IPI with bit 8 set: vector %lu\n", trap_last.vector);
        CHECK(trap_last.vector == EXC_GP);
        trap_try_wrmsr(MSR_X2_SELF_IPI, 0xff000040);
        printf("SELF IPI with bits 31:24 set: vector %lu\n", trap_last.vector);
        CHECK(trap_last.vector == EXC_GP);
        check_refused("x2APIC -> xAPIC", xapic);
        check_taken("x2APIC -> disabled", off);
        check_refused("disabled -> x2APIC", x2apic);
    } else {
        printf("SKIP x2APIC: CPUID.01H:ECX.x2APIC is clear\n");
        check_taken("xAPIC -> disabled", off);
    }
    printf("CPUID.01H:EDX.APIC while disabled: %d\n", cpuid_apic());
    CHECK(!cpuid_apic());
    check_taken("disabled -> xAPIC", xapic);
    printf("CPUID.01H:EDX.APIC when enabled again: %d\n", cpuid_apic());
    CHECK(cpuid_apic());
    guest_finish();
}
