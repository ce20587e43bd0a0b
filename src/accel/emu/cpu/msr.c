/*
 * Model-specific registers (SDM Vol. 4): the architectural ones Linux
 * touches, MTRRs as plain storage, the local APIC's x2APIC and TSC-deadline
 * registers, the speculation controls, and KVM's paravirtual clock. Unknown
 * MSRs raise #GP, as on hardware, and so do those of features CPUID does not
 * report (the CPU model may take them away).
 */
#include "accel/emu/cpu/cpu.h"
#include "hw/irqchip/irqchip.h"
#include "vm/vm.h"

/* MSR numbers, SDM Vol. 4. */
#define MSR_IA32_TSC               0x10
#define MSR_IA32_TSC_ADJUST        0x3b
#define MSR_IA32_APIC_BASE         0x1b
#define MSR_IA32_SPEC_CTRL         0x48
#define MSR_IA32_PRED_CMD          0x49
#define MSR_IA32_ARCH_CAPABILITIES 0x10a
#define MSR_IA32_SYSENTER_CS       0x174
#define MSR_IA32_SYSENTER_ESP      0x175
#define MSR_IA32_SYSENTER_EIP      0x176
#define MSR_IA32_MISC_ENABLE       0x1a0
#define MSR_IA32_PAT               0x277
#define MSR_IA32_PKRS              0x6e1
#define MSR_KVM_WALL_CLOCK         0x11
#define MSR_KVM_SYSTEM_TIME        0x12
#define MSR_KVM_WALL_CLOCK_NEW     0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW    0x4b564d01
#define MSR_IA32_UCODE_REV         0x8b
#define MSR_MTRRCAP                0xfe
#define MSR_IA32_MCG_CAP           0x179
#define MSR_IA32_MCG_STATUS        0x17a
#define MSR_MTRR_PHYS_FIRST        0x200 /* base/mask pairs up to 0x20f */
#define MSR_MTRR_PHYS_LAST         0x20f
#define MSR_MTRR_DEF_TYPE          0x2ff
#define MSR_EFER                   0xc0000080
#define MSR_STAR                   0xc0000081
#define MSR_LSTAR                  0xc0000082
#define MSR_CSTAR                  0xc0000083
#define MSR_SFMASK                 0xc0000084
#define MSR_FS_BASE                0xc0000100
#define MSR_GS_BASE                0xc0000101
#define MSR_KERNEL_GS_BASE         0xc0000102
#define MSR_TSC_AUX                0xc0000103
#define MSR_K7_EVNTSEL0            0xc0010000 /* AMD: PerfEvtSel0-3, then PerfCtr0-3 */
#define MSR_K7_PERFCTR3            0xc0010007

/* AMD's four legacy performance counters, which every AMD64 CPU has (AMD
 * APM Vol. 2 §13.2.1; no CPUID bit): this CPU counts nothing, so they read
 * 0 and take writes, as KVM's do without a PMU. */
static bool is_amd_perf_msr(const struct emu_cpu *cpu, uint32_t index)
{
    return cpu->vm->cfg.cpu_vendor == CPU_VENDOR_AMD && index >= MSR_K7_EVNTSEL0 &&
           index <= MSR_K7_PERFCTR3;
}

/* x2APIC registers and IA32_TSC_DEADLINE belong to the local APIC. */
static bool is_lapic_msr(uint32_t index)
{
    return index == 0x6e0 || (index >= 0x800 && index <= 0x8ff);
}

/* The fixed-range MTRRs (SDM Vol. 3A §11.11.2.2), in struct emu_msrs order. */
static const uint32_t mtrr_fixed_msrs[11] = {0x250, 0x258, 0x259, 0x268, 0x269, 0x26a,
                                             0x26b, 0x26c, 0x26d, 0x26e, 0x26f};

/* The MTRR MSR index's slot, or NULL: these are plain storage. */
static uint64_t *mtrr_slot(struct emu_cpu *cpu, uint32_t index)
{
    if (index >= MSR_MTRR_PHYS_FIRST && index <= MSR_MTRR_PHYS_LAST)
        return &cpu->msr.mtrr_var[index - MSR_MTRR_PHYS_FIRST];
    if (index == MSR_MTRR_DEF_TYPE)
        return &cpu->msr.mtrr_def_type;
    for (int i = 0; i < 11; i++)
        if (mtrr_fixed_msrs[i] == index)
            return &cpu->msr.mtrr_fixed[i];
    return NULL;
}

#define APIC_BASE_BSP  (1ULL << 8)
#define APIC_BASE_EXTD (1ULL << 10)
#define APIC_BASE_EN   (1ULL << 11)

/* The APIC's mode in IA32_APIC_BASE: EN and EXTD (SDM Vol. 3A §11.12.5). */
static uint64_t apic_mode(uint64_t base)
{
    return base & (APIC_BASE_EN | APIC_BASE_EXTD);
}

/*
 * IA32_APIC_BASE (SDM Vol. 3A §11.4.4, §11.12.5 Figure 11-27): bit 8 (BSP)
 * is read-only, bits 10 (EXTD) and 11 (EN) the mode, 12 up to MAXPHYADDR
 * the base; the rest is reserved. The legal moves are xAPIC -> x2APIC and
 * any mode -> disabled -> xAPIC; EXTD without EN is invalid. Like KVM, a
 * move from disabled straight to x2APIC is refused too.
 */
static void write_apic_base(struct emu_cpu *cpu, uint64_t v)
{
    uint64_t valid = ((1ULL << EMU_PHYS_BITS) - 1) & ~0xfffULL;
    uint64_t old = apic_mode(cpu->msr.apic_base), new = apic_mode(v);

    valid |= APIC_BASE_BSP | APIC_BASE_EN;
    if (cpu_model_has(cpu->vm->cfg.cpu_off, CPU_X2APIC))
        valid |= APIC_BASE_EXTD;
    if ((v & ~valid) || new == APIC_BASE_EXTD)
        emu_raise(cpu, EXC_GP, 0);
    if (old == (APIC_BASE_EN | APIC_BASE_EXTD) && new == APIC_BASE_EN)
        emu_raise(cpu, EXC_GP, 0);
    if (old == 0 && new == (APIC_BASE_EN | APIC_BASE_EXTD))
        emu_raise(cpu, EXC_GP, 0);
    cpu->msr.apic_base = (v & ~APIC_BASE_BSP) | (cpu->msr.apic_base & APIC_BASE_BSP);
    lapic_set_base(cpu->evm->chip, cpu->index, cpu->msr.apic_base);
}

/* IA32_ARCH_CAPABILITIES bits (SDM Vol. 4 Table 2-2). */
#define ARCH_CAP_RDCL_NO        (1ULL << 0)
#define ARCH_CAP_IBRS_ALL       (1ULL << 1)
#define ARCH_CAP_SKIP_L1DFL     (1ULL << 3)
#define ARCH_CAP_SSB_NO         (1ULL << 4)
#define ARCH_CAP_MDS_NO         (1ULL << 5)
#define ARCH_CAP_PSCHANGE_MC_NO (1ULL << 6)
#define ARCH_CAP_TAA_NO         (1ULL << 8)
#define ARCH_CAP_SBDR_SSDP_NO   (1ULL << 13)
#define ARCH_CAP_FBSDP_NO       (1ULL << 14)
#define ARCH_CAP_PSDP_NO        (1ULL << 15)
#define ARCH_CAP_BHI_NO         (1ULL << 20)
#define ARCH_CAP_PBRSB_NO       (1ULL << 24)
#define ARCH_CAP_GDS_NO         (1ULL << 26)
#define ARCH_CAP_RFDS_NO        (1ULL << 27)
#define ARCH_CAP_ITS_NO         (1ULL << 62)

/* IA32_SPEC_CTRL bits: IBRS with CPUID.(EAX=7,ECX=0):EDX[26], BHI_DIS_S
 * with CPUID.(EAX=7,ECX=2):EDX[4] (SDM Vol. 4 Table 2-2). STIBP and SSBD
 * are not offered, so their bits are reserved like the others. */
#define SPEC_CTRL_IBRS      (1ULL << 0)
#define SPEC_CTRL_BHI_DIS_S (1ULL << 10)
#define PRED_CMD_IBPB       (1ULL << 0)

/*
 * The interpreter never runs guest code speculatively: no Meltdown
 * (RDCL_NO), speculative store bypass, MDS, TAA, page-size-change machine
 * check, stale MMIO data (SBDR/FBSDP/PSDP), branch history injection,
 * return stack underflow after a barrier (PBRSB), GDS, RFDS or indirect
 * target selection; no L1D to flush before a VM entry. So Linux needs no
 * page-table isolation, whose CR3 switches would empty the TLB on every
 * kernel entry. With IBRS offered, IBRS_ALL (enhanced IBRS) lets Linux set
 * IA32_SPEC_CTRL.IBRS once instead of using retpolines: indirect branches
 * are predicted by nothing, at any privilege level.
 */
static uint64_t arch_capabilities(const struct emu_cpu *cpu)
{
    uint64_t v = ARCH_CAP_RDCL_NO | ARCH_CAP_SKIP_L1DFL | ARCH_CAP_SSB_NO | ARCH_CAP_MDS_NO |
                 ARCH_CAP_PSCHANGE_MC_NO | ARCH_CAP_TAA_NO | ARCH_CAP_SBDR_SSDP_NO |
                 ARCH_CAP_FBSDP_NO | ARCH_CAP_PSDP_NO | ARCH_CAP_BHI_NO | ARCH_CAP_PBRSB_NO |
                 ARCH_CAP_GDS_NO | ARCH_CAP_RFDS_NO | ARCH_CAP_ITS_NO;

    if (cpu_model_has(cpu->vm->cfg.cpu_off, CPU_SPEC_CTRL))
        v |= ARCH_CAP_IBRS_ALL;
    return v;
}

static uint64_t spec_ctrl_valid(const struct emu_cpu *cpu)
{
    return SPEC_CTRL_IBRS |
           (cpu_model_has(cpu->vm->cfg.cpu_off, CPU_BHI_CTRL) ? SPEC_CTRL_BHI_DIS_S : 0);
}

uint64_t emu_rdmsr(struct emu_cpu *cpu, uint32_t index)
{
    uint64_t *mtrr = mtrr_slot(cpu, index);

    if (mtrr)
        return *mtrr;
    if (is_amd_perf_msr(cpu, index))
        return 0;
    switch (index) {
    case MSR_IA32_UCODE_REV:
        return 0;
    case MSR_IA32_ARCH_CAPABILITIES:
        if (!cpu_model_has(cpu->vm->cfg.cpu_off, CPU_ARCH_CAPABILITIES))
            emu_raise(cpu, EXC_GP, 0);
        return arch_capabilities(cpu);
    case MSR_IA32_SPEC_CTRL:
        if (!cpu_model_has(cpu->vm->cfg.cpu_off, CPU_SPEC_CTRL))
            emu_raise(cpu, EXC_GP, 0);
        return cpu->msr.spec_ctrl;
    case MSR_KVM_WALL_CLOCK:
    case MSR_KVM_WALL_CLOCK_NEW:
        return cpu->msr.kvm_wall_clock;
    case MSR_KVM_SYSTEM_TIME:
    case MSR_KVM_SYSTEM_TIME_NEW:
        return cpu->msr.kvm_system_time;
    case MSR_MTRRCAP:
        return 0x508; /* 8 variable ranges, fixed ranges, write-combining */
    case MSR_IA32_MCG_CAP:
        return 0; /* no machine-check banks */
    case MSR_IA32_MCG_STATUS:
        return cpu->msr.mcg_status;
    case MSR_IA32_TSC:
        return emu_tsc(cpu);
    case MSR_IA32_TSC_ADJUST:
        if (!cpu_model_has(cpu->vm->cfg.cpu_off, CPU_TSC_ADJUST))
            emu_raise(cpu, EXC_GP, 0);
        return cpu->msr.tsc_adjust;
    case MSR_IA32_APIC_BASE:
        return cpu->msr.apic_base;
    case MSR_IA32_SYSENTER_CS:
        return cpu->msr.sysenter_cs;
    case MSR_IA32_SYSENTER_ESP:
        return cpu->msr.sysenter_esp;
    case MSR_IA32_SYSENTER_EIP:
        return cpu->msr.sysenter_eip;
    case MSR_IA32_MISC_ENABLE:
        return cpu->msr.misc_enable;
    case MSR_IA32_PAT:
        return cpu->msr.pat;
    case MSR_IA32_PKRS:
        if (!cpu_model_has(cpu->vm->cfg.cpu_off, CPU_PKS))
            emu_raise(cpu, EXC_GP, 0);
        return cpu->pkrs;
    case MSR_EFER:
        return cpu->efer;
    case MSR_STAR:
        return cpu->msr.star;
    case MSR_LSTAR:
        return cpu->msr.lstar;
    case MSR_CSTAR:
        return cpu->msr.cstar;
    case MSR_SFMASK:
        return cpu->msr.sfmask;
    case MSR_FS_BASE:
        return cpu->seg[SEG_FS].base;
    case MSR_GS_BASE:
        return cpu->seg[SEG_GS].base;
    case MSR_KERNEL_GS_BASE:
        return cpu->msr.kernel_gs_base;
    case MSR_TSC_AUX:
        return cpu->msr.tsc_aux;
    default:
        if (is_lapic_msr(index)) {
            uint64_t v;

            if (lapic_msr_read(cpu->evm->chip, cpu->index, index, &v) == 0)
                return v;
        }
        emu_raise(cpu, EXC_GP, 0);
    }
}

void emu_wrmsr(struct emu_cpu *cpu, uint32_t index, uint64_t v)
{
    uint64_t *mtrr = mtrr_slot(cpu, index);

    if (mtrr) {
        *mtrr = v;
        return;
    }
    if (is_amd_perf_msr(cpu, index))
        return;
    switch (index) {
    case MSR_IA32_UCODE_REV:
        return; /* writing 0 before CPUID asks for the revision: accepted */
    case MSR_KVM_WALL_CLOCK:
    case MSR_KVM_WALL_CLOCK_NEW:
        cpu->msr.kvm_wall_clock = v;
        emu_kvmclock_wall(cpu, v);
        return;
    case MSR_KVM_SYSTEM_TIME:
    case MSR_KVM_SYSTEM_TIME_NEW:
        cpu->msr.kvm_system_time = v;
        emu_kvmclock_publish(cpu);
        return;
    case MSR_IA32_MCG_STATUS:
        cpu->msr.mcg_status = v;
        return;
    case MSR_IA32_SPEC_CTRL:
        if (!cpu_model_has(cpu->vm->cfg.cpu_off, CPU_SPEC_CTRL) || (v & ~spec_ctrl_valid(cpu)))
            emu_raise(cpu, EXC_GP, 0);
        cpu->msr.spec_ctrl = v;
        return;
    case MSR_IA32_PRED_CMD:
        /* Write-only; IBPB has no predictor to empty. */
        if (!cpu_model_has(cpu->vm->cfg.cpu_off, CPU_SPEC_CTRL) || (v & ~PRED_CMD_IBPB))
            emu_raise(cpu, EXC_GP, 0);
        return;

    case MSR_IA32_TSC:
        /* A TSC write moves IA32_TSC_ADJUST by as much, and a write to
         * IA32_TSC_ADJUST moves the TSC (SDM Vol. 3B §18.17.3). */
        cpu->msr.tsc_adjust += v - emu_tsc(cpu);
        cpu->msr.tsc_offset = v - emu_now_ns();
        emu_kvmclock_publish(cpu);
        return;
    case MSR_IA32_TSC_ADJUST:
        if (!cpu_model_has(cpu->vm->cfg.cpu_off, CPU_TSC_ADJUST))
            emu_raise(cpu, EXC_GP, 0);
        cpu->msr.tsc_offset += v - cpu->msr.tsc_adjust;
        cpu->msr.tsc_adjust = v;
        emu_kvmclock_publish(cpu);
        return;
    case MSR_IA32_APIC_BASE:
        write_apic_base(cpu, v);
        return;
    case MSR_IA32_SYSENTER_CS:
        cpu->msr.sysenter_cs = v;
        return;
    case MSR_IA32_SYSENTER_ESP:
        cpu->msr.sysenter_esp = v;
        return;
    case MSR_IA32_SYSENTER_EIP:
        cpu->msr.sysenter_eip = v;
        return;
    case MSR_IA32_MISC_ENABLE:
        cpu->msr.misc_enable = v;
        return;
    case MSR_IA32_PAT:
        cpu->msr.pat = v;
        return;
    case MSR_IA32_PKRS:
        /* Bits 63:32 are reserved (SDM Vol. 4, Table 2-2). */
        if (!cpu_model_has(cpu->vm->cfg.cpu_off, CPU_PKS) || (v >> 32))
            emu_raise(cpu, EXC_GP, 0);
        emu_set_pkrs(cpu, (uint32_t)v);
        return;
    case MSR_EFER:
        /* LMA is read-only; LME may not change while paging is on. */
        if (v & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE))
            emu_raise(cpu, EXC_GP, 0);
        if ((cpu->cr0 & CR0_PG) && ((v ^ cpu->efer) & EFER_LME))
            emu_raise(cpu, EXC_GP, 0);
        cpu->efer = (v & ~EFER_LMA) | (cpu->efer & EFER_LMA);
        emu_tlb_flush(cpu, true);
        return;
    case MSR_STAR:
        cpu->msr.star = v;
        return;
    case MSR_LSTAR:
    case MSR_CSTAR:
    case MSR_FS_BASE:
    case MSR_GS_BASE:
    case MSR_KERNEL_GS_BASE:
        if (!emu_canonical(v))
            emu_raise(cpu, EXC_GP, 0);
        if (index == MSR_LSTAR)
            cpu->msr.lstar = v;
        else if (index == MSR_CSTAR)
            cpu->msr.cstar = v;
        else if (index == MSR_FS_BASE)
            cpu->seg[SEG_FS].base = v;
        else if (index == MSR_GS_BASE)
            cpu->seg[SEG_GS].base = v;
        else
            cpu->msr.kernel_gs_base = v;
        return;
    case MSR_SFMASK:
        cpu->msr.sfmask = v & 0xffffffff;
        return;
    case MSR_TSC_AUX:
        cpu->msr.tsc_aux = v & 0xffffffff;
        return;
    default:
        if (is_lapic_msr(index) && lapic_msr_write(cpu->evm->chip, cpu->index, index, v) == 0)
            return;
        emu_raise(cpu, EXC_GP, 0);
    }
}
