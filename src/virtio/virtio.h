/*
 * A virtio device (VIRTIO 1.2) as its transport sees it: feature bits,
 * status, interrupt status, queues and a read-only config space. Each
 * device (blk.c, rng.c, console.c, net.c) embeds struct virtio_dev first
 * and fills in its ops; a transport gives it registers and interrupts:
 * mmio.c a window on the MMIO bus and an IRQ line, pci.c a PCI function
 * with MSI-X. The register semantics both share live here.
 *
 * Locking: d->lock guards everything in struct virtio_dev and the queues.
 * The transport holds it around every register access (vCPU threads) and
 * every ops call; a device's own I/O thread takes it around queue work.
 */
#ifndef VX86_VIRTIO_VIRTIO_H
#define VX86_VIRTIO_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtq.h"

struct vm;
struct virtio_dev;

/* Device status bits the device acts on, VIRTIO 1.2 §2.1. */
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64

/* Interrupt status bits, §4.2.2 (InterruptStatus). */
#define VIRTIO_ISR_QUEUE  1
#define VIRTIO_ISR_CONFIG 2

#define VIRTIO_MAX_QUEUES 3    /* virtio-vsock: rx, tx, event */
#define VIRTIO_CONFIG_IRQ (-1) /* virtio_interrupt's q for a config change */

struct virtio_dev_ops {
    const char *name;   /* for messages: "virtio-blk" */
    uint32_t device_id; /* §5: 2 block, 3 console, 4 entropy */
    /* The driver notified queue q (ready, device running). d->lock held,
     * on a vCPU thread or the notification thread (ioevent.c): hand work
     * that may block to an I/O thread. */
    void (*notify)(struct virtio_dev *d, unsigned q);
    /* The driver reset the device: return once no request is in flight.
     * d->lock held; may wait on a condition variable with it. NULL: nothing
     * to wait for. */
    void (*reset)(struct virtio_dev *d);
    /* Stops the device's threads and frees it; the VM no longer runs. */
    void (*destroy)(struct virtio_dev *d);
};

struct virtio_dev {
    const struct virtio_dev_ops *ops;
    struct vm *vm;
    pthread_mutex_t lock;
    int index; /* among the VM's virtio devices, for messages */

    /* The transport's: interrupt the driver for queue q's used buffers, or
     * for a config change (q = VIRTIO_CONFIG_IRQ). d->lock held. */
    void (*interrupt)(struct virtio_dev *d, int q);
    void *transport; /* the transport's own state, or NULL */
    uint64_t base;   /* virtio-mmio: the window, BOARD_VIRTIO_MMIO_SIZE bytes */
    unsigned slot;   /* virtio-pci: its slot on bus 0 (function 0); 0: none */
    uint32_t irq;    /* GSI of the line ISR drives (virtio_isr_set) */
    int irq_level;

    uint64_t host_features, driver_features;
    uint32_t host_features_sel, driver_features_sel, queue_sel;
    uint32_t status, isr;
    bool broken; /* a guest error was logged; silent until reset */

    unsigned nr_queues;
    struct virtq vq[VIRTIO_MAX_QUEUES];
    const void *config; /* device config space, §5.x.4; read-only */
    uint32_t config_len;
};

/* Sets up the common part: lock, VERSION_1 and the ring features added to
 * features. Returns 0 or -errno. */
int virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops, struct vm *vm,
                    uint64_t features, unsigned nr_queues, const void *config, uint32_t config_len);

/* Frees the lock (the device frees itself). */
void virtio_dev_fini(struct virtio_dev *d);

/* Status DRIVER_OK, not broken. d->lock held. */
bool virtio_running(const struct virtio_dev *d);

/* Back to the reset state (§2.4). d->lock held, ops->reset already done. */
void virtio_reset(struct virtio_dev *d);

/*
 * Takes the next chain of queue q. Returns 1, 0 (empty, or the device is
 * not running) or -EINVAL after marking the device broken (virtio_fail).
 * d->lock held.
 */
int virtio_pop(struct virtio_dev *d, unsigned q, struct virtq_elem *e);

/*
 * Returns chain e of queue q with len bytes written and interrupts the
 * driver if it asked. Dropped if the device stopped running since e was
 * popped (a reset waits for requests in flight, then discards them).
 * d->lock held.
 */
void virtio_push(struct virtio_dev *d, unsigned q, const struct virtq_elem *e, uint32_t len);

/*
 * The guest broke the device (a malformed ring): sets DEVICE_NEEDS_RESET,
 * raises a config interrupt (§2.1.2) and logs one line naming why; the
 * device ignores the driver until it resets it. d->lock held.
 */
void virtio_fail(struct virtio_dev *d, const char *why);

/* Sets InterruptStatus bits and drives the IRQ line to match. d->lock held. */
void virtio_isr_set(struct virtio_dev *d, uint32_t bits);
void virtio_isr_clear(struct virtio_dev *d, uint32_t bits);

/* What both transports do with the driver's registers (§2.1, §2.2, §2.6),
 * d->lock held: */
/* The 32 feature bits that the selector picks, 0 past bit 63. */
uint32_t virtio_features_read(const struct virtio_dev *d);
/* Sets the low or the high 32 bits of *x to v (registers that the driver
 * writes a 64-bit value to in two halves). */
void virtio_set_half(uint64_t *x, bool high, uint32_t v);
/* Sets 32 driver feature bits at the selector, until FEATURES_OK. */
void virtio_features_write(struct virtio_dev *d, uint32_t v);
/* A write of the device status: 0 resets; FEATURES_OK holds only for a
 * subset of what was offered, VERSION_1 included (no legacy interface). */
void virtio_set_status(struct virtio_dev *d, uint32_t v);
/* The driver enables (ready) or disables queue q, whose addresses and size
 * it has set. */
void virtio_set_queue_ready(struct virtio_dev *d, unsigned q, bool ready);
/* The driver notified queue q: passed to the device if it is running. */
void virtio_notify(struct virtio_dev *d, unsigned q);

/*
 * Binds the guest's write of len bytes at gpa (with match, only of value
 * data) to a notification of queue q through the engine's ioeventfd, so
 * that it costs no exit to vx86 (ioevent.c); gpa 0 unbinds. Without such
 * an engine, or if binding fails, the write still reaches the transport's
 * handler. Returns 0 or -errno; callable again to move the binding.
 */
int virtio_ioevent_bind(struct virtio_dev *d, unsigned q, uint64_t gpa, unsigned len, bool match,
                        uint64_t data);

/* Stops the notification thread and unbinds everything; before the devices
 * go, after the vCPUs stopped. */
void virtio_ioevents_stop(struct vm *vm);

/* --- the MMIO transport (mmio.c), virtio-mmio version 2, §4.2 --- */

/* Gives d the index-th window and GSI and registers it on vm->mmio.
 * Returns 0, -ENOSPC past BOARD_VIRTIO_MMIO_SLOTS, or bus_register's error. */
int virtio_mmio_add(struct virtio_dev *d, int index);

/* --- the PCI transport (pci.c), virtio-pci "modern", §4.1 --- */

/* Makes d PCI function 00:slot.0 (1-31) on vm's host bridge, its memory BAR
 * at BOARD_PCI_MEM32_BASE + slot * 64 KiB as firmware would leave it; MSI-X with
 * a vector per queue and one for config changes. Returns 0 or -errno. */
int virtio_pci_add(struct virtio_dev *d, int index, unsigned slot);

/* Frees what virtio_pci_add allocated; safe for a device never added. */
void virtio_pci_remove(struct virtio_dev *d);

#endif
