/*
 * What CPUID promises about MSRs, performance counters and hypercalls:
 *   - IA32_SPEC_CTRL (48H) exists only with CPUID.07H:EDX IBRS, STIBP or
 *     SSBD, IA32_PRED_CMD (49H) only with IBRS/IBPB (SDM Vol. 4 Table 2-2):
 *     otherwise RDMSR/WRMSR raise #GP(0); IA32_SPEC_CTRL holds the bits of
 *     what CPUID offers (IBRS; BHI_DIS_S with CPUID.(7,2):EDX BHI_CTRL), and
 *     a write of any other raises #GP(0), as does IA32_PRED_CMD's of bits
 *     but IBPB; IA32_ARCH_CAPABILITIES (10AH) is read-only;
 *   - RDPMC of a counter the architectural PMU (CPUID leaf 0AH) does not
 *     report raises #GP(0) (SDM Vol. 2B, RDPMC);
 *   - IA32_TSC_ADJUST (3BH), with CPUID.07H:EBX bit 1, starts at 0; a
 *     write to it moves the TSC by the change, and a write to the TSC
 *     moves it by as much (SDM Vol. 3B §18.17.3);
 *   - under KVM's signature (CPUID 40000000H), VMCALL is KVM's hypercall
 *     (Linux Documentation/virt/kvm/x86/hypercalls.rst): an unknown number
 *     in RAX returns -KVM_ENOSYS (-1000) in RAX, other registers kept;
 *     KVM_HC_SEND_IPI (10) sends the IPI of ICR RSI to APIC IDs RDX + i for
 *     each bit i of RBX:RCX and returns how many took it, -KVM_EINVAL (-22)
 *     for a logical destination.
 */
#include "lib/guest.h"
#include "lib/trap.h"

#define MSR_SPEC_CTRL 0x48u
#define MSR_PRED_CMD  0x49u
#define CPUID_7_IBRS  (1u << 26)
#define CPUID_7_STIBP (1u << 27)
#define CPUID_7_SSBD  (1u << 31)
#define CPUID_7_ARCH_CAP    (1u << 29)
#define CPUID_7_2_BHI_CTRL  (1u << 4)
#define MSR_ARCH_CAP        0x10au
#define SPEC_CTRL_IBRS      (1ull << 0)
#define SPEC_CTRL_STIBP     (1ull << 1)
#define SPEC_CTRL_SSBD      (1ull << 2)
#define SPEC_CTRL_BHI_DIS_S (1ull << 10)
#define KVM_ENOSYS    1000
#define KVM_HC_SEND_IPI 10
#define MSR_TSC        0x10u
#define MSR_TSC_ADJUST 0x3bu
#define CPUID_7_TSC_ADJUST (1u << 1) /* EBX */

static void check_msr(const char *name, uint32_t msr, int exists, int readable)
{
    uint64_t rv = readable ? trap_try_rdmsr(msr) : EXC_GP, wv = trap_try_wrmsr(msr, 0);

    printf("%s: %s; RDMSR vector %lu, WRMSR vector %lu\n", name,
           exists ? "in CPUID" : "not in CPUID", rv, wv);
    if (exists) {
        CHECK(wv == TRAP_NONE);
        if (readable)
            CHECK(rv == TRAP_NONE);
    } else {
        CHECK(wv == EXC_GP);
        CHECK(rv == EXC_GP);
    }
}

static void test_spec_msrs(void)
{
    uint32_t r[4];

    cpuid(7, 0, r);
    check_msr("IA32_SPEC_CTRL", MSR_SPEC_CTRL,
              !!(r[3] & (CPUID_7_IBRS | CPUID_7_STIBP | CPUID_7_SSBD)), 1);
    /* IA32_PRED_CMD is write-only. */
    check_msr("IA32_PRED_CMD", MSR_PRED_CMD, !!(r[3] & CPUID_7_IBRS), 0);
    if (r[3] & CPUID_7_IBRS) {
        uint32_t r2[4];
        uint64_t bhi;

        cpuid(7, 2, r2);
        bhi = r[0] >= 2 && (r2[3] & CPUID_7_2_BHI_CTRL) ? SPEC_CTRL_BHI_DIS_S : 0;
        wrmsr(MSR_SPEC_CTRL, SPEC_CTRL_IBRS | bhi);
        CHECK(rdmsr(MSR_SPEC_CTRL) == (SPEC_CTRL_IBRS | bhi));
        if (!(r[3] & CPUID_7_STIBP))
            CHECK(trap_try_wrmsr(MSR_SPEC_CTRL, SPEC_CTRL_STIBP) == EXC_GP);
        if (!(r[3] & CPUID_7_SSBD))
            CHECK(trap_try_wrmsr(MSR_SPEC_CTRL, SPEC_CTRL_SSBD) == EXC_GP);
        if (!bhi)
            CHECK(trap_try_wrmsr(MSR_SPEC_CTRL, SPEC_CTRL_BHI_DIS_S) == EXC_GP);
        CHECK(trap_try_wrmsr(MSR_SPEC_CTRL, 1ull << 32) == EXC_GP);
        CHECK(rdmsr(MSR_SPEC_CTRL) == (SPEC_CTRL_IBRS | bhi));
        wrmsr(MSR_SPEC_CTRL, 0);
        CHECK(trap_try_wrmsr(MSR_PRED_CMD, 2) == EXC_GP);
    }
    if (r[3] & CPUID_7_ARCH_CAP) {
        CHECK(trap_try_rdmsr(MSR_ARCH_CAP) == TRAP_NONE);
        CHECK(trap_try_wrmsr(MSR_ARCH_CAP, rdmsr(MSR_ARCH_CAP)) == EXC_GP);
    }
}

static void check_rdpmc_gp(uint32_t counter)
{
    uint64_t at;
    uint32_t lo = 0, hi = 0;

    __asm__ volatile(TRAP_TRY("rdpmc")
                     : [at] "=&r"(at), "+a"(lo), "+d"(hi)
                     : "c"(counter)
                     : "memory");
    printf("RDPMC(0x%x): vector %lu, error code 0x%lx\n", counter, trap_last.vector,
           trap_last.error_code);
    CHECK(trap_last.vector == EXC_GP);
    CHECK(trap_last.error_code == 0);
    CHECK(trap_last.rip == at);
}

static void test_rdpmc(void)
{
    uint32_t r[4], gp = 0, fixed = 0;

    cpuid(0, 0, r);
    if (r[0] >= 0xa) {
        cpuid(0xa, 0, r);
        if (r[0] & 0xff) {
            gp = r[0] >> 8 & 0xff;
            fixed = (r[0] & 0xff) > 1 ? (r[3] & 0x1f) : 0;
        }
        printf("architectural PMU version %u: %u general counters, %u fixed\n", r[0] & 0xff, gp,
               fixed);
    }
    check_rdpmc_gp(gp);
    check_rdpmc_gp(64);
    check_rdpmc_gp(1u << 30 | fixed);
}

static volatile int ipis;

static void ipi_handler(struct trap_frame *f)
{
    (void)f;
    ipis++;
    *(volatile uint32_t *)0xfee000b0 = 0; /* EOI */
}

static long send_ipi(uint64_t low, uint64_t high, uint64_t min, uint64_t icr)
{
    uint64_t at, rax = KVM_HC_SEND_IPI;

    __asm__ volatile(TRAP_TRY("vmcall")
                     : [at] "=&r"(at), "+a"(rax)
                     : "b"(low), "c"(high), "d"(min), "S"(icr)
                     : "memory");
    CHECK(trap_last.vector == TRAP_NONE);
    return (long)rax;
}

/* KVM_HC_SEND_IPI to this CPU: a fixed IPI that arrives once IF is set. */
static void test_pv_send_ipi(void)
{
    volatile uint32_t *svr = (volatile uint32_t *)0xfee000f0;
    uint32_t id = *(volatile uint32_t *)0xfee00020 >> 24;
    long n;

    *svr |= 0x100; /* APIC software-enabled */
    trap_set_handler(0x40, ipi_handler);
    n = send_ipi(1ull << (id % 64), 0, id - id % 64, 0x40);
    __asm__ volatile("sti; nop; cli" ::: "memory");
    printf("KVM_HC_SEND_IPI to APIC %u: RAX %ld, %d interrupt(s)\n", id, n, ipis);
    CHECK(n == 1 && ipis == 1);
    CHECK(send_ipi(~0ull, ~0ull, 0xffffffff, 0x40) == 0); /* no such APIC IDs */
    CHECK(send_ipi(1, 0, id, 0x40 | 1u << 11) == -22);     /* logical destination */
    CHECK(ipis == 1);
}

static void test_hypercall(void)
{
    uint32_t r[4];
    uint64_t at, rax = 12345678, rbx = 0x1111, rcx = 0x2222, rdx = 0x3333, rsi = 0x4444;

    cpuid(0x40000000, 0, r);
    if (r[1] != 0x4b4d564b || r[2] != 0x564b4d56 || r[3] != 0x4d) {
        printf("SKIP hypercall: no KVM signature in CPUID 40000000H\n");
        return;
    }
    cpuid(0, 0, r);
    if (r[1] != 0x756e6547) {
        printf("SKIP hypercall: not an Intel CPU model (VMCALL is Intel's)\n");
        return;
    }
    __asm__ volatile(TRAP_TRY("vmcall")
                     : [at] "=&r"(at), "+a"(rax), "+b"(rbx), "+c"(rcx), "+d"(rdx), "+S"(rsi)
                     :
                     : "memory");
    printf("VMCALL of hypercall 12345678: vector %lu, RAX %ld\n", trap_last.vector, (long)rax);
    CHECK(trap_last.vector == TRAP_NONE);
    CHECK((long)rax == -KVM_ENOSYS);
    CHECK(rbx == 0x1111 && rcx == 0x2222 && rdx == 0x3333 && rsi == 0x4444);
    test_pv_send_ipi();
}

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static void test_tsc_adjust(void)
{
    const uint64_t step = 1ull << 40, slack = 1ull << 36; /* far more than the run takes */
    uint32_t r[4];
    uint64_t t0, t1, adj;

    cpuid(7, 0, r);
    if (!(r[1] & CPUID_7_TSC_ADJUST)) {
        printf("SKIP IA32_TSC_ADJUST: not in CPUID.07H:EBX\n");
        return;
    }
    CHECK(rdmsr(MSR_TSC_ADJUST) == 0);
    t0 = rdtsc();
    wrmsr(MSR_TSC_ADJUST, step);
    t1 = rdtsc();
    printf("TSC_ADJUST += 2^40: TSC moved by 0x%lx\n", t1 - t0);
    CHECK(t1 - t0 >= step && t1 - t0 < step + slack);
    t0 = rdtsc();
    wrmsr(MSR_TSC, t0 + step);
    adj = rdmsr(MSR_TSC_ADJUST);
    printf("TSC += 2^40: TSC_ADJUST 0x%lx\n", adj);
    CHECK(adj <= 2 * step && adj > 2 * step - slack);
    wrmsr(MSR_TSC_ADJUST, 0);
    CHECK(rdtsc() < t0);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline;
    (void)mem_size;
    idt_init();
    test_spec_msrs();
    test_rdpmc();
    test_hypercall();
    test_tsc_adjust();
    guest_finish();
}
