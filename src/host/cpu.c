/* The CPU as /proc/cpuinfo and the CPUID instruction describe it. */
#include "host/probe.h"

#include <cpuid.h>
#include <stdlib.h>
#include <string.h>

/*
 * CPUID bits, Intel SDM Vol. 2A, CPUID, Table 3-10 (leaf 1 ECX) and AMD APM
 * Vol. 3, Appendix E.4.2 (Fn8000_0001_ECX). Bit 31 of leaf 1 ECX is reserved
 * for hypervisors, which then answer leaf 0x40000000 with their signature
 * (Linux Documentation/virt/kvm/x86/cpuid.rst).
 */
#define CPUID1_ECX_VMX        (1u << 5)
#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define CPUID81_ECX_SVM       (1u << 2)
#define CPUID_LEAF_HYPERVISOR 0x40000000u

const char *const cpu_flag_names[CPU_NFLAGS] = {
    [FLAG_VMX] = "vmx",
    [FLAG_SVM] = "svm",
    [FLAG_HYPERVISOR] = "hypervisor",
    [FLAG_EPT] = "ept",
    [FLAG_VPID] = "vpid",
    [FLAG_UNRESTRICTED_GUEST] = "unrestricted_guest",
    [FLAG_SHADOW_VMCS] = "shadow_vmcs",
    [FLAG_APICV] = "apicv",
    [FLAG_FLEXPRIORITY] = "flexpriority",
    [FLAG_VNMI] = "vnmi",
    [FLAG_NPT] = "npt",
    [FLAG_NRIP_SAVE] = "nrip_save",
    [FLAG_AVIC] = "avic",
    [FLAG_VGIF] = "vgif",
};

/* The value of a "key<blanks>: value" line, or NULL if line is not about key. */
static char *field(char *line, const char *key)
{
    size_t n = strlen(key);
    char *p = line + n;

    if (strncmp(line, key, n))
        return NULL;
    p += strspn(p, " \t");
    if (*p != ':')
        return NULL;
    p++;
    p += strspn(p, " \t");
    p[strcspn(p, "\n")] = '\0';
    return p;
}

static void mark_flags(struct host_cpu *cpu, char *list)
{
    char *save, *tok;

    for (tok = strtok_r(list, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
        for (int i = 0; i < CPU_NFLAGS; i++)
            if (!strcmp(tok, cpu_flag_names[i]))
                cpu->flag[i] = TRI_YES;
}

void host_probe_cpu(struct host_cpu *cpu)
{
    char *line = NULL, *v;
    size_t cap = 0;
    bool flags = false;
    FILE *f;

    *cpu = (struct host_cpu){0};
    for (int i = 0; i < CPU_NFLAGS; i++)
        cpu->flag[i] = TRI_UNKNOWN;
    f = host_fopen("/proc/cpuinfo");
    if (!f)
        return;
    cpu->readable = true;
    /* Only the first processor's block: a blank line ends it. */
    while (getline(&line, &cap, f) > 0 && !(line[0] == '\n' && (flags || cpu->vendor[0]))) {
        if ((v = field(line, "vendor_id"))) {
            snprintf(cpu->vendor, sizeof(cpu->vendor), "%s", v);
        } else if ((v = field(line, "model name"))) {
            snprintf(cpu->model, sizeof(cpu->model), "%s", v);
        } else if ((v = field(line, "flags")) || (v = field(line, "vmx flags"))) {
            if (!flags)
                for (int i = 0; i < CPU_NFLAGS; i++)
                    cpu->flag[i] = TRI_NO;
            flags = true;
            mark_flags(cpu, v);
        }
    }
    free(line);
    fclose(f);
}

static void regs_to_string(char out[13], unsigned int r0, unsigned int r1, unsigned int r2)
{
    memcpy(out, &r0, 4);
    memcpy(out + 4, &r1, 4);
    memcpy(out + 8, &r2, 4);
    out[12] = '\0';
}

void host_probe_cpuid(struct host_cpuid *id)
{
    unsigned int max, a, b, c, d;

    *id = (struct host_cpuid){0};
    __cpuid(0, max, b, c, d);
    regs_to_string(id->vendor, b, d, c);
    if (max >= 1) {
        __cpuid(1, a, b, c, d);
        id->vmx = c & CPUID1_ECX_VMX;
        id->hypervisor = c & CPUID1_ECX_HYPERVISOR;
    }
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) >= 0x80000001u) {
        __cpuid(0x80000001u, a, b, c, d);
        id->svm = c & CPUID81_ECX_SVM;
    }
    if (id->hypervisor) {
        __cpuid(CPUID_LEAF_HYPERVISOR, a, b, c, d);
        regs_to_string(id->hv_vendor, b, c, d);
    }
}
