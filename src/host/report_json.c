/* `vx86 host --json`: the facts of the text report as one JSON object. */
#include "host/json.h"
#include "host/probe.h"

#include <string.h>

static const char *const backing_keys[] = {
    [BACKING_NONE] = "none",    [BACKING_VTX] = "hardware",      [BACKING_AMDV] = "hardware",
    [BACKING_PVM] = "software", [BACKING_SOFTWARE] = "software", [BACKING_UNKNOWN] = "unknown",
};

static const char *const backing_kinds[] = {
    [BACKING_NONE] = NULL, [BACKING_VTX] = "Intel VT-x", [BACKING_AMDV] = "AMD-V",
    [BACKING_PVM] = "PVM", [BACKING_SOFTWARE] = NULL,    [BACKING_UNKNOWN] = NULL,
};

static const char *or_null(const char *s)
{
    return s[0] ? s : NULL;
}

/* A count, or null when the probe could not read it (v < 0). */
static void count(struct json *j, const char *key, long v)
{
    if (v >= 0)
        json_int(j, key, v);
    else
        json_str(j, key, NULL);
}

static void cpu_json(struct json *j, const struct host_cpu *cpu, const struct host_cpuid *id)
{
    json_begin(j, "cpu", '{');
    json_str(j, "source", "/proc/cpuinfo");
    json_bool(j, "readable", cpu->readable);
    json_str(j, "vendor", or_null(cpu->vendor));
    json_str(j, "model", or_null(cpu->model));
    json_tri(j, "vmx", cpu->flag[FLAG_VMX]);
    json_tri(j, "svm", cpu->flag[FLAG_SVM]);
    json_tri(j, "hypervisor", cpu->flag[FLAG_HYPERVISOR]);
    json_begin(j, "flags", '{');
    for (int i = 0; i < CPU_NFLAGS; i++)
        json_tri(j, cpu_flag_names[i], cpu->flag[i]);
    json_end(j, '}');
    json_str(j, "flags_source", "/proc/cpuinfo flags, vmx flags");
    json_end(j, '}');

    json_begin(j, "cpuid", '{');
    json_str(j, "source", "CPUID instruction, leaves 0, 1, 0x80000001, 0x40000000");
    json_str(j, "vendor", id->vendor);
    json_bool(j, "vmx", id->vmx);
    json_bool(j, "svm", id->svm);
    json_bool(j, "hypervisor", id->hypervisor);
    json_str(j, "hypervisor_vendor", id->hypervisor ? id->hv_vendor : NULL);
    json_end(j, '}');
}

static void kvm_json(struct json *j, const struct host_kvm *kvm)
{
    json_begin(j, "kvm", '{');
    json_str(j, "source", "/dev/kvm: open O_RDWR, ioctl KVM_GET_API_VERSION");
    json_bool(j, "present", kvm->present);
    json_bool(j, "usable", kvm->usable);
    count(j, "api_version", kvm->api_version);
    json_str(j, "error", or_null(kvm->error));
    json_begin(j, "modules", '{');
    for (int i = 0; i < KVM_NMODULES; i++)
        json_bool(j, kvm_module_names[i], kvm->module[i]);
    json_end(j, '}');
    json_str(j, "modules_source", "/sys/module");
    json_begin(j, "backing", '{');
    json_str(j, "value", backing_keys[kvm->backing]);
    json_str(j, "kind", backing_kinds[kvm->backing]);
    json_bool(j, "hardware", host_kvm_is_hw(kvm));
    json_str(j, "why", kvm->why);
    json_str(j, "source", kvm->backing_source);
    json_end(j, '}');
    json_end(j, '}');

    json_begin(j, "features", '{');
    for (int i = 0; i < KVM_NFEATURES; i++) {
        json_begin(j, kvm_features[i].key, '{');
        json_tri(j, "value", kvm->feature[i].value);
        json_str(j, "note", or_null(kvm->feature[i].note));
        json_str(j, "source", kvm->feature[i].source);
        json_end(j, '}');
    }
    json_end(j, '}');
}

/* Whether an IOMMU unit's name starts with prefix; -1 when the list is unknown. */
static int units_named(const struct host_iommu *iommu, const char *prefix)
{
    if (iommu->nunits < 0)
        return -1;
    for (int i = 0; i < iommu->nunits; i++)
        if (!strncmp(iommu->unit[i]->d_name, prefix, strlen(prefix)))
            return 1;
    return 0;
}

static void io_json(struct json *j, const struct host_iommu *iommu, const struct host_sriov *sriov)
{
    json_begin(j, "iommu", '{');
    count(j, "groups", iommu->groups);
    json_str(j, "groups_source", "/sys/kernel/iommu_groups");
    if (iommu->nunits >= 0) {
        json_begin(j, "units", '[');
        for (int i = 0; i < iommu->nunits; i++)
            json_str(j, NULL, iommu->unit[i]->d_name);
        json_end(j, ']');
    } else {
        json_str(j, "units", NULL);
    }
    json_tri(j, "vtd", units_named(iommu, "dmar"));
    json_tri(j, "amdvi", units_named(iommu, "ivhd"));
    json_str(j, "units_source", "/sys/class/iommu (dmar*: Intel VT-d, ivhd*: AMD-Vi)");
    json_end(j, '}');

    json_begin(j, "sriov", '{');
    json_str(j, "source", "/sys/bus/pci/devices/*/sriov_{totalvfs,numvfs}");
    if (sriov->readable) {
        json_begin(j, "devices", '[');
        for (int i = 0; i < sriov->ndevs; i++) {
            json_begin(j, NULL, '{');
            json_str(j, "address", sriov->dev[i].addr);
            count(j, "total_vfs", sriov->dev[i].total_vfs);
            count(j, "num_vfs", sriov->dev[i].num_vfs);
            json_end(j, '}');
        }
        json_end(j, ']');
    } else {
        json_str(j, "devices", NULL);
    }
    json_end(j, '}');
}

void host_report_json(FILE *f, const struct host_facts *facts)
{
    struct json j;

    json_init(&j, f);
    json_begin(&j, NULL, '{');
    json_str(&j, "root", facts->root);
    cpu_json(&j, &facts->cpu, &facts->cpuid);
    kvm_json(&j, &facts->kvm);
    io_json(&j, &facts->iommu, &facts->sriov);
    json_begin(&j, "engine_auto", '{');
    json_str(&j, "engine", host_kvm_is_hw(&facts->kvm) ? "kvm" : "emu");
    json_str(&j, "why", facts->kvm.why);
    json_str(&j, "source", "the --engine auto rule");
    json_end(&j, '}');
    json_end(&j, '}');
}
