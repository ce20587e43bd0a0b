/*
 * MSI-X (PCI Local Bus 3.0 §6.8.2) for a PCI device: the capability in
 * config space, the vector table and the pending bit array in one of the
 * device's memory BARs, and the delivery rule: a vector fires as an MSI
 * write when MSI-X is enabled and neither the function nor the vector is
 * masked; otherwise its pending bit is set, and the message goes out when
 * the mask is lifted (§6.8.3.4).
 *
 * Locking: m->lock guards the table, the pending bits and the mirrored
 * Message Control bits. It is the innermost lock: the config hook takes it
 * under pci->lock, the device's BAR handler and its interrupt path under
 * the device's own lock; send() runs with it held, and must take no lock
 * of the device or of the PCI host.
 */
#ifndef VX86_HW_MSIX_H
#define VX86_HW_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/pci.h"

#define MSIX_MAX_VECTORS  8
#define MSIX_ENTRY_SIZE   16
#define MSIX_NO_VECTOR    0xffff
#define MSIX_CTRL_MASKED  0x4000 /* Message Control: function mask */
#define MSIX_CTRL_ENABLED 0x8000 /* Message Control: MSI-X enable */
#define MSIX_ENTRY_MASKED 1      /* Vector Control: mask bit */

/* Sends vector vec's message: data written to addr. */
typedef void msix_send_fn(void *opaque, unsigned vec, uint64_t addr, uint32_t data);
/* Vector vec's message is now addr/data (the guest wrote its table entry),
 * for a device that binds messages ahead of sending them (irqfd). */
typedef void msix_route_fn(void *opaque, unsigned vec, uint64_t addr, uint32_t data);

struct msix_entry {
    uint32_t addr_lo, addr_hi, data, ctrl;
};

struct msix {
    pthread_mutex_t lock;
    msix_send_fn *send;
    msix_route_fn *route; /* NULL: none */
    void *opaque;
    unsigned cap; /* the capability's offset in config space */
    unsigned nvec;
    bool enabled, masked; /* Message Control bits 15 and 14 */
    struct msix_entry table[MSIX_MAX_VECTORS];
    uint64_t pending;
};

/*
 * Adds the capability to d for nvec (1 to MSIX_MAX_VECTORS) vectors, the
 * table at table_off and the pending bits at pba_off in BAR bar (8-byte
 * aligned offsets). Every vector starts masked. send (and route, if not
 * NULL) run with m->lock held. Returns 0 or -errno.
 */
int msix_init(struct msix *m, struct pci_device *d, unsigned nvec, unsigned bar, uint32_t table_off,
              uint32_t pba_off, msix_send_fn *send, msix_route_fn *route, void *opaque);
void msix_destroy(struct msix *m);

/* From d's config write hook (pci->lock held): picks up Message Control. */
void msix_cfg_write(struct msix *m, const struct pci_device *d, unsigned off, unsigned size);

/* The table and the pending bit array, at offsets relative to their start;
 * 4- or 8-byte accesses, as §6.8.2 allows; others read 0 and are dropped. */
uint64_t msix_table_read(struct msix *m, uint64_t off, unsigned size);
void msix_table_write(struct msix *m, uint64_t off, unsigned size, uint64_t value);
uint64_t msix_pba_read(struct msix *m, uint64_t off, unsigned size);

/* Whether MSI-X is enabled: the device signals through it, not INTx. */
bool msix_enabled(struct msix *m);

/* Fires vector vec (or marks it pending); MSIX_NO_VECTOR or a vector past
 * the table does nothing (§4.1.5.1.2 of VIRTIO: the driver's choice). */
void msix_notify(struct msix *m, unsigned vec);

#endif
