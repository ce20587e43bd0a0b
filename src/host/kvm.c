/* /dev/kvm: is it there, does it answer, and what runs it. */
#include "host/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

const char *const kvm_module_names[KVM_NMODULES] = {
    [MOD_KVM] = "kvm",
    [MOD_KVM_INTEL] = "kvm_intel",
    [MOD_KVM_AMD] = "kvm_amd",
    [MOD_KVM_PVM] = "kvm_pvm",
};

/* Parameters as named in Linux arch/x86/kvm/vmx/vmx.c and svm/svm.c. */
const struct kvm_feature_def kvm_features[KVM_NFEATURES] = {
    [FEAT_EPT] = {"ept", "EPT", MOD_KVM_INTEL, "ept"},
    [FEAT_UNRESTRICTED_GUEST] = {"unrestricted_guest", "unrestricted guest", MOD_KVM_INTEL,
                                 "unrestricted_guest"},
    [FEAT_NESTED_VMX] = {"nested_vmx", "nested (VT-x)", MOD_KVM_INTEL, "nested"},
    [FEAT_SHADOW_VMCS] = {"shadow_vmcs", "VMCS shadowing", MOD_KVM_INTEL, "enable_shadow_vmcs"},
    [FEAT_APICV] = {"apicv", "APICv", MOD_KVM_INTEL, "enable_apicv"},
    [FEAT_NPT] = {"npt", "NPT (RVI)", MOD_KVM_AMD, "npt"},
    [FEAT_NESTED_SVM] = {"nested_svm", "nested (AMD-V)", MOD_KVM_AMD, "nested"},
    [FEAT_AVIC] = {"avic", "AVIC", MOD_KVM_AMD, "avic"},
};

static void probe_dev(struct host_kvm *kvm)
{
    int fd = host_open("/dev/kvm", O_RDWR);

    kvm->api_version = -1;
    if (fd < 0) {
        kvm->present = fd != -ENOENT;
        if (kvm->present)
            snprintf(kvm->error, sizeof(kvm->error), "/dev/kvm cannot be opened: %s",
                     strerror(-fd));
        else
            snprintf(kvm->error, sizeof(kvm->error), "/dev/kvm is absent");
        return;
    }
    kvm->present = true;
    kvm->api_version = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (kvm->api_version < 0)
        snprintf(kvm->error, sizeof(kvm->error), "/dev/kvm: KVM_GET_API_VERSION failed: %s",
                 strerror(errno));
    else if (kvm->api_version != KVM_API_VERSION)
        snprintf(kvm->error, sizeof(kvm->error), "/dev/kvm speaks API version %d, not %d",
                 kvm->api_version, KVM_API_VERSION);
    else
        kvm->usable = true;
    close(fd);
}

/* Module parameters print bools as Y/N and ints as numbers (avic, nested on AMD). */
static void probe_feature(struct kvm_feature_value *out, const struct kvm_feature_def *def,
                          const struct host_kvm *kvm)
{
    const char *module = kvm_module_names[def->module];
    char val[32];
    int err;

    out->value = TRI_UNKNOWN;
    snprintf(out->source, sizeof(out->source), "/sys/module/%s/parameters/%s", module, def->param);
    if (!kvm->module[def->module]) {
        snprintf(out->note, sizeof(out->note), "%s not loaded", module);
        return;
    }
    err = host_read_line(out->source, val, sizeof(val));
    if (err == -ENOENT)
        snprintf(out->note, sizeof(out->note), "no such parameter");
    else if (err)
        snprintf(out->note, sizeof(out->note), "%s", strerror(-err));
    else if (!strcmp(val, "Y") || !strcmp(val, "1"))
        out->value = TRI_YES;
    else if (!strcmp(val, "N") || !strcmp(val, "0"))
        out->value = TRI_NO;
    else
        snprintf(out->note, sizeof(out->note), "value \"%.32s\"", val);
}

/*
 * Hardware-backed means VT-x or AMD-V runs the guest. kvm_pvm serves /dev/kvm
 * in software even on a CPU with vmx or svm, so it decides when neither
 * hardware module is loaded beside it.
 */
static void decide_backing(struct host_kvm *kvm, const struct host_cpu *cpu)
{
    bool vmx = cpu->flag[FLAG_VMX] == TRI_YES, svm = cpu->flag[FLAG_SVM] == TRI_YES;
    bool pvm_only =
        kvm->module[MOD_KVM_PVM] && !kvm->module[MOD_KVM_INTEL] && !kvm->module[MOD_KVM_AMD];

    kvm->backing_source = "/proc/cpuinfo flags";
    if (!kvm->usable) {
        kvm->backing = BACKING_NONE;
        kvm->backing_source = "/dev/kvm";
        snprintf(kvm->why, sizeof(kvm->why), "%s", kvm->error);
    } else if (pvm_only) {
        kvm->backing = BACKING_PVM;
        kvm->backing_source = "/sys/module/kvm_pvm, /proc/cpuinfo flags";
        snprintf(kvm->why, sizeof(kvm->why),
                 "/dev/kvm is software-backed (PVM): kvm_pvm loaded, %s",
                 vmx || svm ? "kvm_intel and kvm_amd not" : "no vmx or svm in /proc/cpuinfo");
    } else if (vmx || svm) {
        kvm->backing = vmx ? BACKING_VTX : BACKING_AMDV;
        snprintf(kvm->why, sizeof(kvm->why), "/dev/kvm is hardware-backed: %s in /proc/cpuinfo",
                 vmx ? "vmx" : "svm");
    } else if (cpu->flag[FLAG_VMX] == TRI_UNKNOWN) {
        kvm->backing = BACKING_UNKNOWN;
        snprintf(kvm->why, sizeof(kvm->why),
                 "/dev/kvm backing unknown: no flags line in /proc/cpuinfo");
    } else {
        kvm->backing = BACKING_SOFTWARE;
        snprintf(kvm->why, sizeof(kvm->why),
                 "/dev/kvm is software-backed: no vmx or svm in /proc/cpuinfo");
    }
}

void host_probe_kvm(struct host_kvm *kvm, const struct host_cpu *cpu)
{
    char path[64];

    *kvm = (struct host_kvm){0};
    probe_dev(kvm);
    for (int i = 0; i < KVM_NMODULES; i++) {
        snprintf(path, sizeof(path), "/sys/module/%s", kvm_module_names[i]);
        kvm->module[i] = host_exists(path);
    }
    for (int i = 0; i < KVM_NFEATURES; i++)
        probe_feature(&kvm->feature[i], &kvm_features[i], kvm);
    decide_backing(kvm, cpu);
}

bool host_kvm_is_hw(const struct host_kvm *kvm)
{
    return kvm->backing == BACKING_VTX || kvm->backing == BACKING_AMDV;
}
