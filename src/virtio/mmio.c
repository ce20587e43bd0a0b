/*
 * virtio-mmio, version 2 ("modern"), VIRTIO 1.2 §4.2.2: a 4 KiB window of
 * 32-bit registers, device config space from 0x100. Linux finds the
 * windows in the DSDT (LNRO0005 devices, as on QEMU's microvm).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hw/bus.h"
#include "util/log.h"
#include "virtio/virtio.h"
#include "vm/board.h"
#include "vm/vm.h"

enum {
    MAGIC = 0x000,
    VERSION = 0x004,
    DEVICE_ID = 0x008,
    VENDOR_ID = 0x00c,
    DEVICE_FEATURES = 0x010,
    DEVICE_FEATURES_SEL = 0x014,
    DRIVER_FEATURES = 0x020,
    DRIVER_FEATURES_SEL = 0x024,
    QUEUE_SEL = 0x030,
    QUEUE_NUM_MAX = 0x034,
    QUEUE_NUM = 0x038,
    QUEUE_READY = 0x044,
    QUEUE_NOTIFY = 0x050,
    INTERRUPT_STATUS = 0x060,
    INTERRUPT_ACK = 0x064,
    STATUS = 0x070,
    QUEUE_DESC_LOW = 0x080,
    QUEUE_DESC_HIGH = 0x084,
    QUEUE_DRIVER_LOW = 0x090,
    QUEUE_DRIVER_HIGH = 0x094,
    QUEUE_DEVICE_LOW = 0x0a0,
    QUEUE_DEVICE_HIGH = 0x0a4,
    CONFIG_GENERATION = 0x0fc,
    CONFIG = 0x100,
};

#define MMIO_MAGIC  0x74726976 /* "virt" */
#define MMIO_VENDOR 0x36387876 /* "vx86" */

/* The IOAPIC's lines above the ISA ones: level-triggered (the line follows
 * InterruptStatus, so an interrupt raised while the driver acknowledges
 * another is not lost), shared with nothing. The DSDT describes them. */
#define FIRST_GSI 16

static struct virtq *cur_queue(struct virtio_dev *d)
{
    return d->queue_sel < d->nr_queues ? &d->vq[d->queue_sel] : NULL;
}

static uint32_t reg_read(struct virtio_dev *d, uint64_t off)
{
    struct virtq *q = cur_queue(d);

    switch (off) {
    case MAGIC:
        return MMIO_MAGIC;
    case VERSION:
        return 2;
    case DEVICE_ID:
        return d->ops->device_id;
    case VENDOR_ID:
        return MMIO_VENDOR;
    case DEVICE_FEATURES:
        return virtio_features_read(d);
    case QUEUE_NUM_MAX:
        return q ? VIRTQ_MAX_SIZE : 0;
    case QUEUE_READY:
        return q && q->ready;
    case INTERRUPT_STATUS:
        return d->isr;
    case STATUS:
        return d->status;
    case CONFIG_GENERATION:
        return 0; /* the config space never changes */
    default:
        return 0;
    }
}

static void reg_write(struct virtio_dev *d, uint64_t off, uint32_t v)
{
    struct virtq *q = cur_queue(d);

    switch (off) {
    case DEVICE_FEATURES_SEL:
        d->host_features_sel = v;
        return;
    case DRIVER_FEATURES:
        virtio_features_write(d, v);
        return;
    case DRIVER_FEATURES_SEL:
        d->driver_features_sel = v;
        return;
    case QUEUE_SEL:
        d->queue_sel = v;
        return;
    case QUEUE_NOTIFY:
        virtio_notify(d, v);
        return;
    case INTERRUPT_ACK:
        virtio_isr_clear(d, v);
        return;
    case STATUS:
        virtio_set_status(d, v);
        return;
    }
    /* The queue registers; §4.2.2.3: not while the queue is ready. */
    if (!q || (q->ready && off != QUEUE_READY))
        return;
    switch (off) {
    case QUEUE_NUM:
        q->size = v > 0xffff ? 0 : (uint16_t)v; /* virtq_enable rejects 0 */
        break;
    case QUEUE_READY:
        virtio_set_queue_ready(d, d->queue_sel, v != 0);
        break;
    case QUEUE_DESC_LOW:
    case QUEUE_DESC_HIGH:
        virtio_set_half(&q->desc, off == QUEUE_DESC_HIGH, v);
        break;
    case QUEUE_DRIVER_LOW:
    case QUEUE_DRIVER_HIGH:
        virtio_set_half(&q->avail, off == QUEUE_DRIVER_HIGH, v);
        break;
    case QUEUE_DEVICE_LOW:
    case QUEUE_DEVICE_HIGH:
        virtio_set_half(&q->used, off == QUEUE_DEVICE_HIGH, v);
        break;
    }
}

static uint64_t mmio_read(void *opaque, uint64_t off, unsigned size)
{
    struct virtio_dev *d = opaque;
    uint64_t v = 0;

    pthread_mutex_lock(&d->lock);
    if (off >= CONFIG) {
        if (off - CONFIG + size <= d->config_len)
            memcpy(&v, (const uint8_t *)d->config + (off - CONFIG), size);
    } else if (size == 4 && !(off & 3)) {
        v = reg_read(d, off);
    }
    pthread_mutex_unlock(&d->lock);
    return v;
}

/* The driver MUST access registers 32 bits wide and aligned (§4.2.2.2);
 * other writes, and writes to the read-only config spaces, are dropped. */
static void mmio_write(void *opaque, uint64_t off, unsigned size, uint64_t v)
{
    struct virtio_dev *d = opaque;

    if (off >= CONFIG || size != 4 || (off & 3))
        return;
    pthread_mutex_lock(&d->lock);
    reg_write(d, off, (uint32_t)v);
    pthread_mutex_unlock(&d->lock);
}

/* InterruptStatus says which, and drives the level-triggered line. */
static void mmio_interrupt(struct virtio_dev *d, int q)
{
    virtio_isr_set(d, q == VIRTIO_CONFIG_IRQ ? VIRTIO_ISR_CONFIG : VIRTIO_ISR_QUEUE);
}

int virtio_mmio_add(struct virtio_dev *d, int index)
{
    int err;

    if (index >= BOARD_VIRTIO_MMIO_SLOTS)
        return -ENOSPC;
    d->interrupt = mmio_interrupt;
    d->index = index;
    d->base = BOARD_VIRTIO_MMIO_BASE + BOARD_VIRTIO_MMIO_SIZE * (uint64_t)index;
    d->irq = FIRST_GSI + (uint32_t)index;
    /* QueueNotify takes the queue's index: one binding per value. */
    for (unsigned q = 0; q < d->nr_queues; q++) {
        err = virtio_ioevent_bind(d, q, d->base + QUEUE_NOTIFY, 4, true, q);
        if (err)
            log_info("%s %d: notifications exit to vx86 (ioeventfd: %s)", d->ops->name, index,
                     strerror(-err));
    }
    return bus_register(&d->vm->mmio, &(struct bus_range){.base = d->base,
                                                          .len = BOARD_VIRTIO_MMIO_SIZE,
                                                          .widths = BUS_W1 | BUS_W2 | BUS_W4,
                                                          .read = mmio_read,
                                                          .write = mmio_write,
                                                          .opaque = d,
                                                          .name = d->ops->name});
}
