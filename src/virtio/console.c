/*
 * virtio-console (VIRTIO 1.2 §5.3) with one port and no optional features
 * (no F_SIZE, F_MULTIPORT or F_EMERG_WRITE): Linux's hvc0. What the guest
 * sends on transmitq goes to vx86's console, as COM1's output does; what
 * the user types there comes in on receiveq (virtio_console_input), as it
 * reaches COM1 too.
 *
 * Input that finds no receive buffer posted waits in a buffer of INPUT_MAX
 * bytes until the driver posts some (its notify of receiveq). When that
 * buffer is full, new bytes are dropped, as a full UART FIFO drops them
 * (overrun): what was typed first stays whole. The buffer outlives a
 * driver reset, so that keys typed before the driver is up reach it, as
 * type-ahead does.
 */
#include "virtio/console.h"

#include <stdlib.h>

#include "util/log.h"
#include "virtio/devices.h"
#include "vm/console.h"
#include "vm/vm.h"

enum { RECEIVEQ, TRANSMITQ };

#define INPUT_MAX 4096

struct vcon {
    struct virtio_dev dev; /* first: the transport's handle */
    /* Under dev.lock: */
    struct virtq_elem elem;
    uint8_t input[INPUT_MAX]; /* a ring of input_len bytes from input_head */
    uint32_t input_head, input_len;
};

/* On the vCPU thread, as a COM1 write is: console_put() does not wait for
 * the guest. */
static void transmit(struct vcon *c)
{
    while (virtio_pop(&c->dev, TRANSMITQ, &c->elem) == 1) {
        for (unsigned i = 0; i < c->elem.nr_out; i++)
            for (uint32_t k = 0; k < c->elem.seg[i].len; k++)
                console_put(c->elem.seg[i].p[k]);
        virtio_push(&c->dev, TRANSMITQ, &c->elem, 0);
    }
}

/* Moves waiting input into the receive buffers the driver posted, one
 * chain at a time, each filled as far as it goes. A chain with a
 * device-readable buffer, or without room, breaks the device (§5.3.6.1:
 * the driver MUST NOT post one). dev.lock held. */
static void receive(struct vcon *c)
{
    while (c->input_len && virtio_pop(&c->dev, RECEIVEQ, &c->elem) == 1) {
        uint64_t room = c->elem.in_len;
        uint32_t n, first;

        if (c->elem.nr_out || !room) {
            virtio_fail(&c->dev, "receive buffer not device-writable");
            return;
        }
        n = room < c->input_len ? (uint32_t)room : c->input_len;
        first = INPUT_MAX - c->input_head < n ? INPUT_MAX - c->input_head : n;
        virtq_elem_write(&c->elem, 0, c->input + c->input_head, first);
        virtq_elem_write(&c->elem, first, c->input, n - first);
        c->input_head = (c->input_head + n) % INPUT_MAX;
        c->input_len -= n;
        virtio_push(&c->dev, RECEIVEQ, &c->elem, n);
    }
}

static void vcon_notify(struct virtio_dev *d, unsigned q)
{
    struct vcon *c = (struct vcon *)d;

    if (q == TRANSMITQ)
        transmit(c);
    else
        receive(c);
}

int virtio_console_input(struct virtio_dev *d, const uint8_t *buf, int len)
{
    struct vcon *c = (struct vcon *)d;
    int n = 0;

    pthread_mutex_lock(&d->lock);
    for (; n < len && c->input_len < INPUT_MAX; n++)
        c->input[(c->input_head + c->input_len++) % INPUT_MAX] = buf[n];
    receive(c);
    pthread_mutex_unlock(&d->lock);
    return n;
}

static void vcon_destroy(struct virtio_dev *d)
{
    if (d->vm->hvc == d)
        d->vm->hvc = NULL;
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
    vm->hvc = &c->dev;
    return &c->dev;
}
