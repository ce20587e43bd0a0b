/*
 * The CPU model both engines offer their guests: every feature the emu CPU
 * implements, less those `--cpu` takes away (QEMU's -cpu syntax:
 * "MODEL[,-FEATURE][,+FEATURE][,vendor=VENDOR]..."), and the vendor it
 * names itself by: GenuineIntel (the default) or AuthenticAMD, with whose
 * instruction set differences the emu CPU then behaves (SYSCALL, SYSRET,
 * SYSENTER and SYSEXIT by mode; engines read it from vm_config). A
 * feature taken away is gone from
 * CPUID, and where it has an enable bit (CR4, IA32_APIC_BASE) or an
 * instruction or MSR of its own, the emu CPU refuses it as a CPU without it
 * does (#GP, #UD, a reserved bit); KVM does the same from the CPUID vx86
 * sets. A feature not in the table cannot be asked for: the engine does
 * not implement it.
 */
#ifndef VX86_VM_CPU_MODEL_H
#define VX86_VM_CPU_MODEL_H

#include <stdbool.h>
#include <stdint.h>

enum cpu_feature {
    CPU_X2APIC,
    CPU_TSC_DEADLINE,
    CPU_PCID,
    CPU_INVPCID,
    CPU_SMEP,
    CPU_SMAP,
    CPU_UMIP,
    CPU_FSGSBASE,
    CPU_TSC_ADJUST,
    CPU_RDRAND,
    CPU_RDSEED,
    CPU_RDPID,
    CPU_PDPE1GB,
    CPU_PKU,
    CPU_PKS,
    CPU_SERIALIZE,
    CPU_SPEC_CTRL,         /* IA32_SPEC_CTRL (IBRS), IA32_PRED_CMD (IBPB); enhanced IBRS */
    CPU_ARCH_CAPABILITIES, /* IA32_ARCH_CAPABILITIES */
    CPU_BHI_CTRL,          /* IA32_SPEC_CTRL.BHI_DIS_S */
    CPU_AVX,               /* VEX, XCR0.AVX; taking it away takes the three below too */
    CPU_AVX2,
    CPU_FMA,
    CPU_F16C,
    CPU_FEATURE_COUNT
};

/* A set of enum cpu_feature bits. */
typedef uint32_t cpu_features_t;

enum cpu_vendor { CPU_VENDOR_INTEL, CPU_VENDOR_AMD };

/*
 * Parses --cpu's value: a model ("vx86", the default, or "max": the same,
 * every feature vx86 implements) and any number of ",+NAME" (kept, a no-op)
 * or ",-NAME" (taken away), NAME as QEMU spells it (taking away avx takes
 * away the features that need it: avx2, fma, f16c), and of
 * ",vendor=GenuineIntel|AuthenticAMD" (the last one counts). Sets *off to
 * the features taken away and *vendor. Returns 0 or -EINVAL after one line
 * saying what is wrong.
 */
int cpu_model_parse(const char *s, cpu_features_t *off, enum cpu_vendor *vendor);

/* Clears the CPUID bits of the features in off from leaf/subleaf's output
 * (subleaf is ignored for leaves that have none). */
void cpu_model_filter(cpu_features_t off, uint32_t leaf, uint32_t subleaf, uint32_t *a,
                      uint32_t *b, uint32_t *c, uint32_t *d);

/* Sets the vendor string CPUID reports in EBX, EDX, ECX of leaf 0, and of
 * leaf 80000000H for AMD (AMD APM Vol. 3, CPUID Fn8000_0000); other
 * leaves are left as they are. */
void cpu_model_vendor(enum cpu_vendor vendor, uint32_t leaf, uint32_t *b, uint32_t *c, uint32_t *d);

static inline bool cpu_model_has(cpu_features_t off, enum cpu_feature f)
{
    return !(off & (1u << f));
}

#endif
