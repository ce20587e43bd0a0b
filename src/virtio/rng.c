/* virtio-rng, the entropy device (VIRTIO 1.2 §5.4): one queue whose
 * device-writable buffers it fills from the host's getrandom(). */
#include <stdlib.h>
#include <sys/random.h>

#include "util/log.h"
#include "virtio/devices.h"

/* Per request; Linux asks for at most a page at a time. */
#define RNG_MAX 4096

struct rng {
    struct virtio_dev dev; /* first: the transport's handle */
    struct virtq_elem elem;
    uint8_t buf[RNG_MAX];
};

/* On the vCPU thread: getrandom() does not block once the host's pool is
 * initialised, and GRND_NONBLOCK makes sure. */
static void rng_notify(struct virtio_dev *d, unsigned q)
{
    struct rng *r = (struct rng *)d;

    while (virtio_pop(d, q, &r->elem) == 1) {
        size_t want = r->elem.in_len < RNG_MAX ? (size_t)r->elem.in_len : RNG_MAX;
        ssize_t got = getrandom(r->buf, want, GRND_NONBLOCK);

        if (got < 0)
            got = 0;
        virtq_elem_write(&r->elem, 0, r->buf, (uint64_t)got);
        virtio_push(d, q, &r->elem, (uint32_t)got);
    }
}

static void rng_destroy(struct virtio_dev *d)
{
    virtio_dev_fini(d);
    free(d);
}

static const struct virtio_dev_ops rng_ops = {
    .name = "virtio-rng",
    .device_id = 4,
    .notify = rng_notify,
    .destroy = rng_destroy,
};

struct virtio_dev *virtio_rng_create(struct vm *vm)
{
    struct rng *r = calloc(1, sizeof(*r));

    if (!r || virtio_dev_init(&r->dev, &rng_ops, vm, 0, 1, NULL, 0)) {
        log_err("virtio-rng: out of memory");
        free(r);
        return NULL;
    }
    return &r->dev;
}
