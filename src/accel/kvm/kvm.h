/* The kvm engine's private state, shared by its files. */
#ifndef VX86_ACCEL_KVM_KVM_H
#define VX86_ACCEL_KVM_KVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>

#include "accel/accel.h"

struct kvm_vm {
    int sys_fd; /* /dev/kvm */
    int vm_fd;
    int run_size;             /* bytes of each vCPU's kvm_run mapping */
    struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID */
};

struct accel_vcpu {
    struct kvm_vm *kvm;
    int index;
    int fd;
    struct kvm_run *run;
    pthread_t thread; /* valid once thread_known: the kick target */
    atomic_bool thread_known;
};

/* KVM_GET/SET_REGS and _SREGS translated from and to struct cpu_state. */
int kvm_get_state(struct accel_vcpu *v, struct cpu_state *s);
int kvm_set_state(struct accel_vcpu *v, const struct cpu_state *s);

#endif
