/*
 * The kvm engine's interrupt routing: which in-kernel controller input each
 * GSI drives, and MSI routes for irqfds (KVM API, KVM_SET_GSI_ROUTING and
 * KVM_IRQFD). KVM takes the whole table at once, so every change rebuilds
 * it from the fixed PC part and the MSI slots, under routes_lock.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "accel/kvm/kvm.h"
#include "vm/vm.h"

#define PC_ROUTES (15 + 23) /* the 8259As' inputs but the cascade, the IOAPIC's but 2 */

/*
 * The PC's wiring, as the MADT describes it (and QEMU and kvmtool set it):
 * ISA IRQs 0-15 to the 8259A pair (but 2, the cascade), and GSI n to IOAPIC
 * input n, except that IRQ 0, the PIT's, reaches input 2 (the MADT's
 * interrupt source override) and nothing else does. KVM's own default
 * table sends GSI 0 to input 0, where a guest that follows the MADT never
 * looks for the timer. Then one MSI route per bound irqfd.
 */
static int set_routing(struct kvm_vm *k)
{
    struct {
        struct kvm_irq_routing head;
        struct kvm_irq_routing_entry e[PC_ROUTES + KVM_MSI_ROUTES];
    } r;
    unsigned n = 0;

    memset(&r, 0, sizeof(r));
    for (unsigned irq = 0; irq < 16; irq++) {
        if (irq == 2)
            continue;
        r.e[n++] = (struct kvm_irq_routing_entry){
            .gsi = irq,
            .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = {.irqchip = irq < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                          .pin = irq % 8},
        };
    }
    for (unsigned gsi = 0; gsi < 24; gsi++) {
        if (gsi == 2)
            continue;
        r.e[n++] = (struct kvm_irq_routing_entry){
            .gsi = gsi,
            .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = {.irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi == 0 ? 2 : gsi},
        };
    }
    for (unsigned i = 0; i < KVM_MSI_ROUTES; i++) {
        if (k->msi[i].fd < 0)
            continue;
        r.e[n++] = (struct kvm_irq_routing_entry){
            .gsi = KVM_MSI_GSI_BASE + i,
            .type = KVM_IRQ_ROUTING_MSI,
            .u.msi = {.address_lo = (uint32_t)k->msi[i].addr,
                      .address_hi = (uint32_t)(k->msi[i].addr >> 32),
                      .data = k->msi[i].data},
        };
    }
    r.head.nr = n;
    return ioctl(k->vm_fd, KVM_SET_GSI_ROUTING, &r) < 0 ? -errno : 0;
}

int kvm_irq_routing_init(struct kvm_vm *k)
{
    int err = pthread_mutex_init(&k->routes_lock, NULL);

    if (err)
        return -err;
    k->routing = true;
    for (unsigned i = 0; i < KVM_MSI_ROUTES; i++)
        k->msi[i].fd = -1;
    return set_routing(k);
}

void kvm_irq_routing_destroy(struct kvm_vm *k)
{
    if (k->routing)
        pthread_mutex_destroy(&k->routes_lock);
}

int kvm_irq_set(struct vm *vm, uint32_t gsi, int level)
{
    struct kvm_vm *k = vm->accel_vm;
    struct kvm_irq_level irq = {.irq = gsi, .level = (uint32_t)level};

    return ioctl(k->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

/* KVM_SIGNAL_MSI answers 0 when no LAPIC took the message, which is the
 * guest's business, not an error. */
int kvm_msi_send(struct vm *vm, uint64_t addr, uint32_t data)
{
    struct kvm_vm *k = vm->accel_vm;
    struct kvm_msi msi = {
        .address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data};

    return ioctl(k->vm_fd, KVM_SIGNAL_MSI, &msi) < 0 ? -errno : 0;
}

static int irqfd(struct kvm_vm *k, int fd, unsigned slot, bool assign)
{
    struct kvm_irqfd req = {.fd = (uint32_t)fd,
                            .gsi = KVM_MSI_GSI_BASE + slot,
                            .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN};

    return ioctl(k->vm_fd, KVM_IRQFD, &req) < 0 ? -errno : 0;
}

int kvm_msi_irqfd(struct vm *vm, int fd, uint64_t addr, uint32_t data)
{
    struct kvm_vm *k = vm->accel_vm;
    int slot = -1, free_slot = -1, err = 0;

    pthread_mutex_lock(&k->routes_lock);
    for (int i = 0; i < KVM_MSI_ROUTES && slot < 0; i++) {
        if (k->msi[i].fd == fd)
            slot = i;
        else if (k->msi[i].fd < 0 && free_slot < 0)
            free_slot = i;
    }
    if (!addr) {
        if (slot >= 0) {
            irqfd(k, fd, (unsigned)slot, false);
            k->msi[slot].fd = -1;
            err = set_routing(k);
        }
    } else if (slot >= 0) {
        k->msi[slot].addr = addr, k->msi[slot].data = data;
        err = set_routing(k);
    } else if (free_slot < 0) {
        err = -ENOSPC;
    } else {
        k->msi[free_slot] = (struct kvm_msi_route){.fd = fd, .addr = addr, .data = data};
        err = set_routing(k);
        if (!err)
            err = irqfd(k, fd, (unsigned)free_slot, true);
        if (err) {
            k->msi[free_slot].fd = -1;
            set_routing(k);
        }
    }
    pthread_mutex_unlock(&k->routes_lock);
    return err;
}
