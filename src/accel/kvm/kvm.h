/* The kvm engine's private state, shared by its files. */
#ifndef VX86_ACCEL_KVM_KVM_H
#define VX86_ACCEL_KVM_KVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "accel/accel.h"

/* MSI routes for irqfds, at GSIs from KVM_MSI_GSI_BASE on (after the
 * IOAPIC's 24): at most one per virtio-pci MSI-X vector. */
#define KVM_MSI_ROUTES   64
#define KVM_MSI_GSI_BASE 24

struct kvm_msi_route {
    int fd; /* the irqfd; -1: a free slot */
    uint64_t addr;
    uint32_t data;
};

struct kvm_vm {
    int sys_fd; /* /dev/kvm */
    int vm_fd;
    int run_size;                /* bytes of each vCPU's kvm_run mapping */
    struct kvm_cpuid2 *cpuid;    /* KVM_GET_SUPPORTED_CPUID */
    bool routing;                /* routes_lock is initialised */
    pthread_mutex_t routes_lock; /* msi and the table KVM holds */
    struct kvm_msi_route msi[KVM_MSI_ROUTES];
};

struct accel_vcpu {
    struct kvm_vm *kvm;
    int index;
    int fd;
    struct kvm_run *run;
    pthread_t thread; /* valid once thread_known: the kick target */
    atomic_bool thread_known;
};

/* irq.c: the GSI routing table (the PC's wiring, then the MSI routes),
 * set up once after KVM_CREATE_IRQCHIP; interrupts from devices. Each
 * returns 0 or -errno. */
int kvm_irq_routing_init(struct kvm_vm *k);
void kvm_irq_routing_destroy(struct kvm_vm *k);
int kvm_irq_set(struct vm *vm, uint32_t gsi, int level);
int kvm_msi_send(struct vm *vm, uint64_t addr, uint32_t data);
int kvm_msi_irqfd(struct vm *vm, int fd, uint64_t addr, uint32_t data);

/* KVM_GET/SET_REGS and _SREGS translated from and to struct cpu_state. */
int kvm_get_state(struct accel_vcpu *v, struct cpu_state *s);
int kvm_set_state(struct accel_vcpu *v, const struct cpu_state *s);
/* accel.h's vcpu_reset. */
int kvm_vcpu_reset(struct accel_vcpu *v, const struct cpu_state *s);

#endif
