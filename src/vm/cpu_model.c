#include "vm/cpu_model.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/log.h"

enum { EAX, EBX, ECX, EDX };

/* Where CPUID reports each feature (SDM Vol. 2A, CPUID, Tables 3-8 to 3-10). */
static const struct {
    const char *name; /* QEMU's */
    uint32_t leaf, subleaf;
    uint8_t reg, bit;
} features[CPU_FEATURE_COUNT] = {
    [CPU_X2APIC] = {"x2apic", 1, 0, ECX, 21},
    [CPU_TSC_DEADLINE] = {"tsc-deadline", 1, 0, ECX, 24},
    [CPU_PCID] = {"pcid", 1, 0, ECX, 17},
    [CPU_RDRAND] = {"rdrand", 1, 0, ECX, 30},
    [CPU_FSGSBASE] = {"fsgsbase", 7, 0, EBX, 0},
    [CPU_TSC_ADJUST] = {"tsc-adjust", 7, 0, EBX, 1},
    [CPU_SMEP] = {"smep", 7, 0, EBX, 7},
    [CPU_INVPCID] = {"invpcid", 7, 0, EBX, 10},
    [CPU_RDSEED] = {"rdseed", 7, 0, EBX, 18},
    [CPU_SMAP] = {"smap", 7, 0, EBX, 20},
    [CPU_UMIP] = {"umip", 7, 0, ECX, 2},
    [CPU_RDPID] = {"rdpid", 7, 0, ECX, 22},
    [CPU_PDPE1GB] = {"pdpe1gb", 0x80000001, 0, EDX, 26},
    [CPU_PKU] = {"pku", 7, 0, ECX, 3},
    [CPU_PKS] = {"pks", 7, 0, ECX, 31},
    [CPU_SERIALIZE] = {"serialize", 7, 0, EDX, 14},
    [CPU_SPEC_CTRL] = {"spec-ctrl", 7, 0, EDX, 26},
    [CPU_ARCH_CAPABILITIES] = {"arch-capabilities", 7, 0, EDX, 29},
    [CPU_BHI_CTRL] = {"bhi-ctrl", 7, 2, EDX, 4},
    [CPU_AVX] = {"avx", 1, 0, ECX, 28},
    [CPU_AVX2] = {"avx2", 7, 0, EBX, 5},
    [CPU_FMA] = {"fma", 1, 0, ECX, 12},
    [CPU_F16C] = {"f16c", 1, 0, ECX, 29},
};

/* Features that exist only with AVX: VEX-encoded, on its YMM state. */
#define AVX_DEPENDENTS (1u << CPU_AVX2 | 1u << CPU_FMA | 1u << CPU_F16C)

static int find(const char *name, size_t len)
{
    for (int f = 0; f < CPU_FEATURE_COUNT; f++)
        if (strlen(features[f].name) == len && !strncmp(features[f].name, name, len))
            return f;
    return -1;
}

/* CPUID's 12 bytes in EBX, EDX, ECX order. */
static const char *const vendors[] = {
    [CPU_VENDOR_INTEL] = "GenuineIntel",
    [CPU_VENDOR_AMD] = "AuthenticAMD",
};

static int parse_vendor(const char *s, const char *p, size_t len, enum cpu_vendor *vendor)
{
    for (unsigned v = 0; v < sizeof(vendors) / sizeof(vendors[0]); v++) {
        if (strlen(vendors[v]) == len && !strncmp(vendors[v], p, len)) {
            *vendor = (enum cpu_vendor)v;
            return 0;
        }
    }
    log_err("--cpu %s: unknown vendor '%.*s' (GenuineIntel or AuthenticAMD)", s, (int)len, p);
    return -EINVAL;
}

int cpu_model_parse(const char *s, cpu_features_t *off, enum cpu_vendor *vendor)
{
    const char *p = strchr(s, ','), *end;
    size_t model = p ? (size_t)(p - s) : strlen(s);
    char known[256] = "";

    if (!((model == 4 && !strncmp(s, "vx86", 4)) || (model == 3 && !strncmp(s, "max", 3)))) {
        log_err("--cpu %s: unknown CPU model '%.*s' (vx86 or max)", s, (int)model, s);
        return -EINVAL;
    }
    *off = 0;
    *vendor = CPU_VENDOR_INTEL;
    for (; p; p = end) {
        int f;

        p++;
        end = strchr(p, ',');
        if (!strncmp(p, "vendor=", 7)) {
            if (parse_vendor(s, p + 7, end ? (size_t)(end - p - 7) : strlen(p + 7), vendor))
                return -EINVAL;
            continue;
        }
        if ((*p != '+' && *p != '-') ||
            (f = find(p + 1, end ? (size_t)(end - p - 1) : strlen(p + 1))) < 0) {
            for (int i = 0; i < CPU_FEATURE_COUNT; i++)
                snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
                         i ? " " : "", features[i].name);
            log_err("--cpu %s: '%.*s' is not +FEATURE or -FEATURE of a feature vx86 "
                    "implements (%s)",
                    s, end ? (int)(end - p) : (int)strlen(p), p, known);
            return -EINVAL;
        }
        if (*p == '-')
            *off |= 1u << f;
        else
            *off &= ~(1u << f);
    }
    if (*off & (1u << CPU_AVX))
        *off |= AVX_DEPENDENTS;
    return 0;
}

void cpu_model_vendor(enum cpu_vendor vendor, uint32_t leaf, uint32_t *b, uint32_t *c, uint32_t *d)
{
    if (leaf == 0 || (leaf == 0x80000000 && vendor == CPU_VENDOR_AMD)) {
        memcpy(b, vendors[vendor], 4);
        memcpy(d, vendors[vendor] + 4, 4);
        memcpy(c, vendors[vendor] + 8, 4);
    }
}

void cpu_model_filter(cpu_features_t off, uint32_t leaf, uint32_t subleaf, uint32_t *a,
                      uint32_t *b, uint32_t *c, uint32_t *d)
{
    uint32_t *regs[4] = {a, b, c, d};

    for (int f = 0; f < CPU_FEATURE_COUNT; f++)
        if ((off & (1u << f)) && features[f].leaf == leaf &&
            (leaf != 7 || features[f].subleaf == subleaf)) /* of these, only 07H has subleaves */
            *regs[features[f].reg] &= ~(1u << features[f].bit);
    /* Without AVX, XCR0 has no YMM component (leaf 0DH: the supported XCR0
     * bits in subleaf 0, component 2's size and offset in subleaf 2), which
     * is what KVM checks XSETBV against. */
    if ((off & (1u << CPU_AVX)) && leaf == 0xd && subleaf == 0)
        *a &= ~4u;
    if ((off & (1u << CPU_AVX)) && leaf == 0xd && subleaf == 2)
        *a = *b = *c = *d = 0;
}
