/*
 * virtio-console (VIRTIO 1.2 §5.3) with one port and no optional features:
 * Linux's hvc0. What the guest writes goes to vx86's console, as COM1's
 * output does; the receive queue gets no input yet (COM1 takes the keys).
 */
#include <stdlib.h>

#include "util/log.h"
#include "virtio/devices.h"
#include "vm/console.h"

enum { RECEIVEQ, TRANSMITQ };

struct vcon {
    struct virtio_dev dev; /* first: the transport's handle */
    struct virtq_elem elem;
};

/* On the vCPU thread, as a COM1 write is: console_put() does not wait for
 * the guest. */
static void vcon_notify(struct virtio_dev *d, unsigned q)
{
    struct vcon *c = (struct vcon *)d;

    if (q != TRANSMITQ)
        return;
    while (virtio_pop(d, q, &c->elem) == 1) {
        for (unsigned i = 0; i < c->elem.nr_out; i++)
            for (uint32_t k = 0; k < c->elem.seg[i].len; k++)
                console_put(c->elem.seg[i].p[k]);
        virtio_push(d, q, &c->elem, 0);
    }
}

static void vcon_destroy(struct virtio_dev *d)
{
    virtio_dev_fini(d);
    free(d);
}

static const struct virtio_dev_ops vcon_ops = {
    .name = "virtio-console",
    .device_id = 3,
    .notify = vcon_notify,
    .destroy = vcon_destroy,
};

struct virtio_dev *virtio_console_create(struct vm *vm)
{
    struct vcon *c = calloc(1, sizeof(*c));

    if (!c || virtio_dev_init(&c->dev, &vcon_ops, vm, 0, 2, NULL, 0)) {
        log_err("virtio-console: out of memory");
        free(c);
        return NULL;
    }
    return &c->dev;
}
