/* CPUID (SDM Vol. 2A, CPUID; KVM's leaves in Documentation/virt/kvm/x86/cpuid.rst). */
#include <string.h>

#include "accel/emu/cpu/cpu.h"
#include "vm/vm.h"

/*
 * CPUID advertises what this CPU implements and nothing more: integer
 * instructions, paging with PSE/PAE/PGE/NX/SMEP/SMAP, 1 GiB pages and
 * protection keys (PKU, PKS), long
 * mode, SYSCALL, SYSENTER, CMPXCHG8B/16B, CMOV, TSC (invariant, 1 GHz),
 * MSRs with MTRRs and PAT, IA32_TSC_ADJUST, UMIP, the local APIC (x2APIC, TSC-deadline),
 * RDRAND/RDSEED, RDPID, FSGSBASE, the speculation controls (msr.c), and
 * KVM's signature leaves; fpu.c adds x87, MMX, SSE to SSE4.2, AES,
 * PCLMULQDQ, FXSR, XSAVE (leaf 0DH), and AVX, AVX2, FMA and F16C where the
 * host CPU has them. As GenuineIntel or, with --cpu
 * ...,vendor=AuthenticAMD, as AMD's CPUs lay out their extended leaves.
 */
/* Bits of the APIC ID that number the vCPUs within the one package. */
static uint32_t core_bits(const struct emu_cpu *cpu)
{
    uint32_t bits = 0;

    while ((1u << bits) < (uint32_t)cpu->vm->cfg.cpus)
        bits++;
    return bits;
}

/* Leaf 1's EDX bits that AMD repeats in leaf 80000001H's EDX (AMD APM
 * Vol. 3, CPUID Fn8000_0001_EDX): FPU to APIC, MTRR to PSE36, MMX, FXSR. */
#define AMD_LEAF1_EDX_MIRROR 0x0183f3ffu

static void cpuid_leaf(struct emu_cpu *cpu, uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    bool amd = cpu->vm->cfg.cpu_vendor == CPU_VENDOR_AMD;
    uint32_t a = 0, b = 0, c = 0, d = 0;

    switch (leaf) {
    case 0:
        /* The vendor is cpu_model_vendor's: GenuineIntel unless --cpu says
         * AuthenticAMD (Linux runs only generic code for a vendor it does
         * not know, and then ignores the invariant TSC). The brand string
         * (leaves 80000002H-80000004H) says what this is. */
        a = 0x16;
        break;
    case 1:
        a = 0x000006f1; /* family 6 */
        /* APIC ID, logical processors in the package, CLFLUSH line of 8 quadwords */
        b = (uint32_t)cpu->index << 24 | (1u << core_bits(cpu)) << 16 | 8u << 8;
        /* CX16 PCID x2APIC MOVBE POPCNT TSC-deadline RDRAND hypervisor */
        c = 1u << 13 | 1u << 17 | 1u << 21 | 1u << 22 | 1u << 23 | 1u << 24 | 1u << 30 | 1u << 31;
        /* PSE TSC MSR PAE CX8 APIC SEP MTRR PGE CMOV PAT CLFSH HTT; APIC
         * reads 0 while IA32_APIC_BASE.EN disables it (SDM Vol. 3A §11.4.3). */
        d = 1u << 3 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 8 | 1u << 11 | 1u << 12 | 1u << 13 |
            1u << 15 | 1u << 16 | 1u << 19 | 1u << 28;
        if (cpu->msr.apic_base & (1ULL << 11))
            d |= 1u << 9;
        break;
    case 0xb: {
        /* x2APIC topology (SDM Vol. 3A §9.9): one thread per core, every
         * vCPU a core of package 0. ECX[15:8] is the level type, 0 past
         * the last level; EDX the x2APIC ID at every subleaf. */
        uint32_t sub = subleaf & 0xff;

        if (sub == 0) {
            a = 0, b = 1, c = 1u << 8;
        } else if (sub == 1) {
            a = core_bits(cpu), b = (uint32_t)cpu->vm->cfg.cpus, c = 1 | 2u << 8;
        } else {
            c = sub;
        }
        d = (uint32_t)cpu->index;
        break;
    }
    case 7:
        if (subleaf == 0) {
            a = 2; /* subleaves 0 to 2 */
            /* FSGSBASE TSC_ADJUST SMEP ERMS INVPCID RDSEED SMAP CLFLUSHOPT CLWB;
             * UMIP PKU (OSPKE: CR4.PKE) RDPID PKS */
            b = 1u << 0 | 1u << 1 | 1u << 7 | 1u << 9 | 1u << 10 | 1u << 18 | 1u << 20 | 1u << 23 |
                1u << 24;
            c = 1u << 2 | 1u << 3 | 1u << 22 | 1u << 31;
            if (cpu->cr4 & CR4_PKE)
                c |= 1u << 4; /* OSPKE */
            /* SERIALIZE; IBRS and IBPB (IA32_SPEC_CTRL, IA32_PRED_CMD),
             * IA32_ARCH_CAPABILITIES */
            d = 1u << 14 | 1u << 26 | 1u << 29;
        } else if (subleaf == 2 &&
                   cpu_model_has(cpu->vm->cfg.cpu_off, CPU_SPEC_CTRL)) {
            d = 1u << 4; /* BHI_CTRL: IA32_SPEC_CTRL.BHI_DIS_S */
        }
        break;
    case 0x15:
        /* TSC = crystal * EBX / EAX: the 1 GHz TSC of events.c. */
        a = 1;
        b = 1;
        c = (uint32_t)EMU_TSC_HZ;
        break;
    case 0x16:
        a = b = c = (uint32_t)(EMU_TSC_HZ / 1000000); /* base, max and bus MHz */
        break;
    case 0x40000000:
        /* KVM's signature, so guests look for its paravirtual leaves. */
        a = 0x40000001;
        b = 0x4b4d564b; /* "KVMKVMKVM\0\0\0" */
        c = 0x564b4d56;
        d = 0x0000004d;
        break;
    case 0x40000001:
        /* KVM_FEATURE_CLOCKSOURCE, _CLOCKSOURCE2, _CLOCKSOURCE_STABLE_BIT */
        a = 1u << 0 | 1u << 3 | 1u << 24;
        break;
    case 0x80000000:
        a = 0x80000008;
        break;
    case 0x80000002:
    case 0x80000003:
    case 0x80000004: {
        static const char brand[48] = "vx86 virtual CPU (emu engine)";
        uint32_t r[4];

        memcpy(r, brand + (leaf - 0x80000002) * 16, 16);
        a = r[0], b = r[1], c = r[2], d = r[3];
        break;
    }
    case 0x80000001:
        c = 1u << 0 | 1u << 5; /* LAHF/SAHF in 64-bit mode, LZCNT */
        /* SYSCALL NX Page1GB RDTSCP LM */
        d = 1u << 11 | 1u << 20 | 1u << 26 | 1u << 27 | 1u << 29;
        if (amd) {
            uint32_t l1[4];

            cpuid_leaf(cpu, 1, 0, l1);
            d |= l1[3] & AMD_LEAF1_EDX_MIRROR;
        }
        break;
    case 0x80000007:
        d = 1u << 8; /* invariant TSC */
        break;
    case 0x80000008:
        a = 48u << 8 | EMU_PHYS_BITS; /* linear and physical address bits */
        /* AMD: the package's cores less one, and the APIC ID bits that
         * number them (AMD APM Vol. 3, CPUID Fn8000_0008_ECX); Intel's ECX
         * is reserved. */
        if (amd)
            c = core_bits(cpu) << 12 | (uint32_t)(cpu->vm->cfg.cpus - 1);
        break;
    default:
        break;
    }
    emu_fpu_cpuid(cpu, leaf, subleaf, &a, &b, &c, &d);
    cpu_model_filter(cpu->vm->cfg.cpu_off, leaf, subleaf, &a, &b, &c, &d);
    cpu_model_vendor(cpu->vm->cfg.cpu_vendor, leaf, &b, &c, &d);
    out[0] = a, out[1] = b, out[2] = c, out[3] = d;
}

void emu_cpuid(struct emu_cpu *cpu)
{
    uint32_t r[4];

    cpuid_leaf(cpu, (uint32_t)cpu->gpr[0], (uint32_t)cpu->gpr[GPR_RCX], r);
    cpu->gpr[0] = r[0];
    cpu->gpr[GPR_RBX] = r[1];
    cpu->gpr[GPR_RCX] = r[2];
    cpu->gpr[GPR_RDX] = r[3];
}
