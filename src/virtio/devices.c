#include "virtio/devices.h"

#include <errno.h>
#include <string.h>

#include "hw/pc.h"
#include "util/log.h"
#include "virtio/vsock.h"
#include "vm/board.h"
#include "vm/vm.h"

/* The first slot of bus 0 with no function 0, from 1 up; 0 when full. */
static unsigned free_slot(const struct pci *pci)
{
    for (unsigned slot = 1; slot < PCI_DEVFNS / 8; slot++)
        if (!pci->devs[PCI_DEVFN(slot, 0)])
            return slot;
    return 0;
}

/* Each transport has its own room: the virtio-mmio windows, or the
 * slots of PCI bus 0 the platform's functions leave free. */
static int add(struct vm *vm, struct virtio_dev *d)
{
    bool pci = vm->cfg.transport == TRANSPORT_PCI;
    unsigned slot = 0;
    int err;

    if (!d)
        return -EINVAL;
    if (pci)
        slot = free_slot(&vm->pc->pci);
    if (pci ? !slot || vm->nr_virtio == VM_MAX_VIRTIO : vm->nr_virtio == BOARD_VIRTIO_MMIO_SLOTS) {
        if (pci)
            log_err("%s: no free slot left on PCI bus 0 (%d virtio devices on it, the console "
                    "and the rng included)",
                    d->ops->name, vm->nr_virtio);
        else
            log_err("%s: no virtio-mmio slot left (%d devices at most, the console and the rng "
                    "included; --transport pci takes more)",
                    d->ops->name, BOARD_VIRTIO_MMIO_SLOTS);
        d->ops->destroy(d);
        return -ENOSPC;
    }
    vm->virtio[vm->nr_virtio++] = d;
    if (pci) {
        /* The free slots from 00:01.0 on, in the order of the list. */
        err = virtio_pci_add(d, vm->nr_virtio - 1, slot);
        if (err)
            log_err("%s: cannot add its PCI function: %s", d->ops->name, strerror(-err));
        return err;
    }
    err = virtio_mmio_add(d, vm->nr_virtio - 1);
    if (err)
        log_err("%s: cannot register its MMIO window: %s", d->ops->name, strerror(-err));
    return err;
}

/* Disks first, so that vda is the first --disk in Linux. */
int virtio_devices_create(struct vm *vm)
{
    int err = 0;

    for (int i = 0; i < vm->cfg.nr_disks && !err; i++) {
        struct virtio_dev *d = virtio_blk_create(vm, &vm->cfg.disks[i]);

        if (d)
            virtio_blk_set_rate_limiter(d, &vm->cfg.disks[i].rl);
        err = add(vm, d);
    }
    if (!err)
        err = add(vm, virtio_console_create(vm));
    if (!err)
        err = add(vm, virtio_rng_create(vm));
    if (!err && vm->cfg.net.mode != NET_NONE)
        err = add(vm, virtio_net_create(vm, &vm->cfg.net));
    if (!err && vm->cfg.vsock_cid)
        err = add(vm, virtio_vsock_create(vm, vm->cfg.vsock_cid, vm->cfg.vsock_uds));
    return err;
}

void virtio_devices_destroy(struct vm *vm)
{
    virtio_ioevents_stop(vm);
    for (int i = 0; i < vm->nr_virtio; i++) {
        virtio_pci_remove(vm->virtio[i]);
        vm->virtio[i]->ops->destroy(vm->virtio[i]);
    }
    vm->nr_virtio = 0;
}
