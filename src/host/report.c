/* `vx86 host`: one aligned "name: value (source)" line per fact. */
#include "host/probe.h"

#include <stdarg.h>
#include <string.h>

#define NAME_WIDTH 20

/* A line is its name padded to the value column, the value, then the source. */
static void name(FILE *f, const char *label)
{
    int pad = NAME_WIDTH - (int)strlen(label);

    fprintf(f, "%s:%*s ", label, pad > 0 ? pad : 0, "");
}

static void source(FILE *f, const char *from)
{
    fprintf(f, " (%s)\n", from);
}

static void row(FILE *f, const char *label, const char *from, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void row(FILE *f, const char *label, const char *from, const char *fmt, ...)
{
    va_list ap;

    name(f, label);
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    source(f, from);
}

static const char *yes_no(enum tri v)
{
    return v == TRI_YES ? "yes" : v == TRI_NO ? "no" : "unknown";
}

static const char *backing_name(enum kvm_backing b)
{
    switch (b) {
    case BACKING_VTX:
        return "hardware-backed, Intel VT-x";
    case BACKING_AMDV:
        return "hardware-backed, AMD-V";
    case BACKING_PVM:
        return "software-backed, PVM";
    case BACKING_SOFTWARE:
        return "software-backed";
    case BACKING_UNKNOWN:
        return "unknown";
    case BACKING_NONE:
        break;
    }
    return "none, /dev/kvm not usable";
}

static void cpu_rows(FILE *f, const struct host_cpu *cpu, const struct host_cpuid *id)
{
    const char *missing = cpu->readable ? "unknown (no such line)" : "unknown (cannot read)";
    int n = 0;

    row(f, "cpu vendor", "/proc/cpuinfo vendor_id", "%s", cpu->vendor[0] ? cpu->vendor : missing);
    row(f, "cpu model", "/proc/cpuinfo model name", "%s", cpu->model[0] ? cpu->model : missing);
    row(f, "vmx (Intel VT-x)", "/proc/cpuinfo flags", "%s", yes_no(cpu->flag[FLAG_VMX]));
    row(f, "svm (AMD-V)", "/proc/cpuinfo flags", "%s", yes_no(cpu->flag[FLAG_SVM]));
    row(f, "hypervisor", "/proc/cpuinfo flags", "%s",
        cpu->flag[FLAG_HYPERVISOR] == TRI_YES ? "yes, this host is itself a virtual machine"
                                              : yes_no(cpu->flag[FLAG_HYPERVISOR]));
    name(f, "virtualization flags");
    for (int i = FLAG_HYPERVISOR + 1; i < CPU_NFLAGS; i++)
        if (cpu->flag[i] == TRI_YES)
            fprintf(f, "%s%s", n++ ? " " : "", cpu_flag_names[i]);
    if (!n)
        fputs(cpu->flag[FLAG_VMX] == TRI_UNKNOWN ? "unknown" : "none", f);
    source(f, "/proc/cpuinfo flags, vmx flags");
    row(f, "cpuid", "CPUID instruction, leaves 0, 1, 0x80000001, 0x40000000",
        "%s, vmx %s, svm %s, hypervisor %s%s", id->vendor, id->vmx ? "yes" : "no",
        id->svm ? "yes" : "no", id->hypervisor ? "yes, " : "no", id->hv_vendor);
}

static void kvm_rows(FILE *f, const struct host_kvm *kvm)
{
    int n = 0;

    row(f, "/dev/kvm", "/dev/kvm", "%s", kvm->present ? "present" : "absent");
    if (kvm->usable)
        row(f, "kvm usable", "open O_RDWR, ioctl KVM_GET_API_VERSION", "yes, API version %d",
            kvm->api_version);
    else
        row(f, "kvm usable", "open O_RDWR, ioctl KVM_GET_API_VERSION", "no, %s", kvm->error);
    name(f, "kvm modules");
    for (int i = 0; i < KVM_NMODULES; i++)
        if (kvm->module[i])
            fprintf(f, "%s%s", n++ ? " " : "", kvm_module_names[i]);
    if (!n)
        fputs("none", f);
    source(f, "/sys/module");
    row(f, "kvm backing", kvm->backing_source, "%s", backing_name(kvm->backing));
    for (int i = 0; i < KVM_NFEATURES; i++) {
        const struct kvm_feature_value *v = &kvm->feature[i];

        row(f, kvm_features[i].label, v->source, "%s%s%s%s", yes_no(v->value),
            v->note[0] ? " (" : "", v->note, v->note[0] ? ")" : "");
    }
}

static const char *iommu_kind(const char *unit)
{
    if (!strncmp(unit, "dmar", 4))
        return " (Intel VT-d)";
    if (!strncmp(unit, "ivhd", 4))
        return " (AMD-Vi)";
    return "";
}

static void io_rows(FILE *f, const struct host_iommu *iommu, const struct host_sriov *sriov)
{
    if (iommu->groups < 0)
        row(f, "iommu groups", "/sys/kernel/iommu_groups", "unknown (absent)");
    else
        row(f, "iommu groups", "/sys/kernel/iommu_groups", "%d", iommu->groups);
    name(f, "iommu units");
    for (int i = 0; i < iommu->nunits; i++)
        fprintf(f, "%s%s%s", i ? ", " : "", iommu->unit[i]->d_name,
                iommu_kind(iommu->unit[i]->d_name));
    if (iommu->nunits <= 0)
        fputs(iommu->nunits < 0 ? "unknown (absent)" : "none", f);
    source(f, "/sys/class/iommu");
    if (!sriov->readable || sriov->ndevs == 0)
        row(f, "sr-iov", "/sys/bus/pci/devices/*/sriov_totalvfs", "%s",
            sriov->readable ? "no device" : "unknown (cannot list PCI devices)");
    for (int i = 0; i < sriov->ndevs; i++) {
        const struct sriov_dev *dev = &sriov->dev[i];
        char num[16] = "unknown", total[16] = "unknown";

        if (dev->num_vfs >= 0)
            snprintf(num, sizeof(num), "%d", dev->num_vfs);
        if (dev->total_vfs >= 0)
            snprintf(total, sizeof(total), "%d", dev->total_vfs);
        row(f, "sr-iov", "/sys/bus/pci/devices/*/sriov_{numvfs,totalvfs}",
            "%s, %s of %s VFs enabled", dev->addr, num, total);
    }
}

void host_report_text(FILE *f, const struct host_facts *facts)
{
    if (facts->root)
        row(f, "root", "VX86_HOST_ROOT", "%s", facts->root);
    cpu_rows(f, &facts->cpu, &facts->cpuid);
    kvm_rows(f, &facts->kvm);
    io_rows(f, &facts->iommu, &facts->sriov);
    row(f, "engine auto", "the --engine auto rule", "%s, %s",
        host_kvm_is_hw(&facts->kvm) ? "kvm" : "emu", facts->kvm.why);
}
