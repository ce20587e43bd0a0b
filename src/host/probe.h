/*
 * The host probe behind `vx86 host` and `--engine auto`; internal to src/host/.
 *
 * Every /proc, /sys and /dev path the probe reads is prefixed with
 * $VX86_HOST_ROOT when that is set and not empty (a sysroot, so tests can point
 * the probe at a fake tree). The CPUID instruction is never redirected: it
 * always describes the CPU this process runs on.
 */
#ifndef VX86_HOST_PROBE_H
#define VX86_HOST_PROBE_H

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* A yes/no fact that the probe may be unable to establish. */
enum tri { TRI_UNKNOWN = -1, TRI_NO = 0, TRI_YES = 1 };

/* Paths under the sysroot (sysroot.c). */

/* $VX86_HOST_ROOT, or NULL when it is unset or empty. */
const char *host_root(void);

/* Opens root+path for reading (close-on-exec); NULL with errno set on failure. */
FILE *host_fopen(const char *path);

/* open(2) of root+path; the descriptor or -errno. */
int host_open(const char *path, int flags);

/* True if root+path exists (any kind of file). */
bool host_exists(const char *path);

/*
 * Reads the first line of root+path into buf (NUL-terminated, newline and
 * trailing blanks dropped, truncated to len - 1). 0 or -errno.
 */
int host_read_line(const char *path, char *buf, size_t len);

/*
 * The entries of directory root+path, "." and ".." left out, sorted by name:
 * their number with *list set (free with host_freedir), or -errno.
 */
int host_scandir(const char *path, struct dirent ***list);
void host_freedir(struct dirent **list, int n);

/* The CPU (cpu.c). */

/* Flags the report names, from /proc/cpuinfo "flags" and "vmx flags". */
enum cpu_flag {
    FLAG_VMX,
    FLAG_SVM,
    FLAG_HYPERVISOR,
    FLAG_EPT,
    FLAG_VPID,
    FLAG_UNRESTRICTED_GUEST,
    FLAG_SHADOW_VMCS,
    FLAG_APICV,
    FLAG_FLEXPRIORITY,
    FLAG_VNMI,
    FLAG_NPT,
    FLAG_NRIP_SAVE,
    FLAG_AVIC,
    FLAG_VGIF,
    CPU_NFLAGS
};

/* The name the kernel prints for each flag, indexed by enum cpu_flag. */
extern const char *const cpu_flag_names[CPU_NFLAGS];

/* The first processor block of /proc/cpuinfo. */
struct host_cpu {
    bool readable;             /* /proc/cpuinfo could be opened */
    char vendor[16];           /* vendor_id; "" when absent */
    char model[64];            /* model name; "" when absent */
    enum tri flag[CPU_NFLAGS]; /* TRI_UNKNOWN when no flags line was read */
};

/* What the CPUID instruction says, whatever $VX86_HOST_ROOT is. */
struct host_cpuid {
    char vendor[13];      /* leaf 0 */
    bool vmx, hypervisor; /* leaf 1 ECX bits 5 and 31 */
    bool svm;             /* leaf 0x80000001 ECX bit 2 */
    char hv_vendor[13];   /* leaf 0x40000000 signature; "" without hypervisor */
};

void host_probe_cpu(struct host_cpu *cpu);
void host_probe_cpuid(struct host_cpuid *id);

/* KVM (kvm.c). */

enum kvm_module { MOD_KVM, MOD_KVM_INTEL, MOD_KVM_AMD, MOD_KVM_PVM, KVM_NMODULES };
extern const char *const kvm_module_names[KVM_NMODULES];

enum kvm_backing {
    BACKING_NONE,     /* /dev/kvm not usable */
    BACKING_VTX,      /* hardware: Intel VT-x */
    BACKING_AMDV,     /* hardware: AMD-V */
    BACKING_PVM,      /* software: PVM, module kvm_pvm */
    BACKING_SOFTWARE, /* software of another kind: no vmx or svm */
    BACKING_UNKNOWN,  /* /proc/cpuinfo has no flags to decide by */
};

/* KVM's view of a hardware feature: a kvm_intel or kvm_amd module parameter. */
enum kvm_feature {
    FEAT_EPT,
    FEAT_UNRESTRICTED_GUEST,
    FEAT_NESTED_VMX,
    FEAT_SHADOW_VMCS,
    FEAT_APICV,
    FEAT_NPT,
    FEAT_NESTED_SVM,
    FEAT_AVIC,
    KVM_NFEATURES
};

struct kvm_feature_def {
    const char *key;   /* JSON key */
    const char *label; /* human label */
    enum kvm_module module;
    const char *param; /* file under /sys/module/<module>/parameters */
};
extern const struct kvm_feature_def kvm_features[KVM_NFEATURES];

struct kvm_feature_value {
    enum tri value;
    char note[64];   /* why unknown, e.g. "kvm_intel not loaded"; else "" */
    char source[96]; /* the parameter file */
};

struct host_kvm {
    bool present;              /* /dev/kvm exists */
    bool usable;               /* opened O_RDWR and KVM_GET_API_VERSION == 12 */
    int api_version;           /* -1 when not read */
    char error[96];            /* why not usable; "" when usable */
    bool module[KVM_NMODULES]; /* /sys/module/<name> exists */
    enum kvm_backing backing;
    const char *backing_source; /* files the backing was decided by */
    char why[160];              /* one phrase saying what decided the backing */
    struct kvm_feature_value feature[KVM_NFEATURES];
};

/* Fills kvm; cpu must be probed first (its vmx and svm flags decide the backing). */
void host_probe_kvm(struct host_kvm *kvm, const struct host_cpu *cpu);

/* True if the backing is VT-x or AMD-V. */
bool host_kvm_is_hw(const struct host_kvm *kvm);

/* IOMMU and SR-IOV (io.c). */

struct host_iommu {
    int groups;           /* entries of /sys/kernel/iommu_groups; -1 when absent */
    int nunits;           /* entries of /sys/class/iommu; -1 when absent */
    struct dirent **unit; /* their names: dmar* Intel VT-d, ivhd* AMD-Vi */
};

struct sriov_dev {
    char addr[NAME_MAX + 1]; /* PCI address, e.g. 0000:3b:00.0 */
    int total_vfs, num_vfs;  /* sriov_totalvfs, sriov_numvfs; -1 unreadable */
};

struct host_sriov {
    bool readable; /* false: cannot list /sys/bus/pci/devices, or no memory */
    int ndevs;
    struct sriov_dev *dev; /* the devices with an sriov_totalvfs file */
};

void host_probe_iommu(struct host_iommu *iommu);
void host_probe_sriov(struct host_sriov *sriov);

/* Everything, for the report. */

struct host_facts {
    const char *root;
    struct host_cpu cpu;
    struct host_cpuid cpuid;
    struct host_kvm kvm;
    struct host_iommu iommu;
    struct host_sriov sriov;
};

void host_probe(struct host_facts *facts);
void host_facts_free(struct host_facts *facts);

/* The report (report.c, report_json.c): human lines or one JSON object on f. */
void host_report_text(FILE *f, const struct host_facts *facts);
void host_report_json(FILE *f, const struct host_facts *facts);

#endif
