#include "virtio/virtio.h"

#include <errno.h>
#include <string.h>

#include "util/log.h"
#include "vm/vm.h"

int virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops, struct vm *vm,
                    uint64_t features, unsigned nr_queues, const void *config, uint32_t config_len)
{
    int err = pthread_mutex_init(&d->lock, NULL);

    if (err)
        return -err;
    d->ops = ops;
    d->vm = vm;
    d->host_features = features | 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_RING_F_INDIRECT_DESC |
                       1ULL << VIRTIO_RING_F_EVENT_IDX;
    d->nr_queues = nr_queues;
    d->config = config;
    d->config_len = config_len;
    return 0;
}

void virtio_dev_fini(struct virtio_dev *d)
{
    pthread_mutex_destroy(&d->lock);
}

bool virtio_running(const struct virtio_dev *d)
{
    return (d->status & VIRTIO_STATUS_DRIVER_OK) && !d->broken;
}

static void update_irq(struct virtio_dev *d)
{
    int level = d->isr != 0;

    if (level != d->irq_level) {
        d->irq_level = level;
        vm_irq_set(d->vm, d->irq, level);
    }
}

void virtio_isr_set(struct virtio_dev *d, uint32_t bits)
{
    d->isr |= bits;
    update_irq(d);
}

void virtio_isr_clear(struct virtio_dev *d, uint32_t bits)
{
    d->isr &= ~bits;
    update_irq(d);
}

void virtio_reset(struct virtio_dev *d)
{
    d->driver_features = 0;
    d->host_features_sel = d->driver_features_sel = d->queue_sel = 0;
    d->status = 0;
    d->broken = false;
    for (unsigned i = 0; i < d->nr_queues; i++)
        virtq_reset(&d->vq[i]);
    virtio_isr_clear(d, ~0u);
}

void virtio_fail(struct virtio_dev *d, const char *why)
{
    if (d->broken)
        return;
    d->broken = true;
    d->status |= VIRTIO_STATUS_NEEDS_RESET;
    log_err("%s %d: %s; the device needs a reset", d->ops->name, d->index, why);
    d->interrupt(d, VIRTIO_CONFIG_IRQ);
}

uint32_t virtio_features_read(const struct virtio_dev *d)
{
    return d->host_features_sel < 2 ? (uint32_t)(d->host_features >> (32 * d->host_features_sel))
                                    : 0;
}

void virtio_set_half(uint64_t *x, bool high, uint32_t v)
{
    if (high)
        *x = (*x & 0xffffffffULL) | (uint64_t)v << 32;
    else
        *x = (*x & ~0xffffffffULL) | v;
}

void virtio_features_write(struct virtio_dev *d, uint32_t v)
{
    if (d->driver_features_sel < 2 && !(d->status & VIRTIO_STATUS_FEATURES_OK))
        virtio_set_half(&d->driver_features, d->driver_features_sel, v);
}

void virtio_set_status(struct virtio_dev *d, uint32_t v)
{
    if (v == 0) {
        d->status = 0; /* stops the device's threads taking new requests */
        if (d->ops->reset)
            d->ops->reset(d);
        virtio_reset(d);
        return;
    }
    if ((v & VIRTIO_STATUS_FEATURES_OK) && !(d->status & VIRTIO_STATUS_FEATURES_OK)) {
        if ((d->driver_features & ~d->host_features) ||
            !(d->driver_features & (1ULL << VIRTIO_F_VERSION_1)))
            v &= ~VIRTIO_STATUS_FEATURES_OK;
    }
    d->status = (v & 0xff) | (d->status & VIRTIO_STATUS_NEEDS_RESET);
}

void virtio_set_queue_ready(struct virtio_dev *d, unsigned q, bool ready)
{
    struct virtq *vq = &d->vq[q];

    if (!ready) {
        vq->ready = false;
        return;
    }
    if (vq->ready)
        return;
    vq->indirect = d->driver_features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
    vq->event_idx = d->driver_features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
    if (virtq_enable(vq, d->vm))
        virtio_fail(d, vq->why);
}

void virtio_notify(struct virtio_dev *d, unsigned q)
{
    if (q < d->nr_queues && d->vq[q].ready && virtio_running(d))
        d->ops->notify(d, q);
}

int virtio_pop(struct virtio_dev *d, unsigned q, struct virtq_elem *e)
{
    int r;

    if (!virtio_running(d) || q >= d->nr_queues)
        return 0;
    r = virtq_pop(&d->vq[q], d->vm, e);
    if (r < 0)
        virtio_fail(d, d->vq[q].why);
    return r;
}

void virtio_push(struct virtio_dev *d, unsigned q, const struct virtq_elem *e, uint32_t len)
{
    struct virtq *vq = &d->vq[q];

    if (!virtio_running(d) || !vq->ready)
        return;
    if (virtq_push(vq, d->vm, e, len)) {
        virtio_fail(d, vq->why);
        return;
    }
    if (virtq_need_irq(vq, d->vm))
        d->interrupt(d, (int)q);
}
