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
    virtio_isr_set(d, VIRTIO_ISR_CONFIG);
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
        virtio_isr_set(d, VIRTIO_ISR_QUEUE);
}
