/*
 * Split virtqueues (VIRTIO 1.2 §2.7), the device side, shared by every
 * virtio device of vx86. The guest owns the rings and may change them at
 * any moment from another vCPU: each descriptor is copied out of guest RAM
 * once and checked on the copy, and every guest address becomes a host
 * pointer only through mem_ptr().
 *
 * A malformed ring (an index or address out of range, a descriptor loop, a
 * chain too long, a nested indirect table) makes virtq_pop() fail with
 * -EINVAL and a reason in q->why; the device then marks itself broken
 * (DEVICE_NEEDS_RESET) rather than guess.
 *
 * Locking: a virtq has no lock of its own; the device serialises calls.
 */
#ifndef VX86_VIRTIO_VIRTQ_H
#define VX86_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

#define VIRTQ_MAX_SIZE 256 /* QueueNumMax of every queue */
#define VIRTQ_MAX_SEGS 256 /* buffers of one chain, indirect ones included */

/* Feature bits of the ring layer (VIRTIO 1.2 §6). */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX     29
#define VIRTIO_F_VERSION_1          32

struct virtq {
    /* Set by the driver through the transport; checked by virtq_enable(). */
    uint16_t size;
    uint64_t desc, avail, used; /* guest-physical */
    bool ready;
    bool event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
    bool indirect;  /* VIRTIO_RING_F_INDIRECT_DESC negotiated */

    uint16_t last_avail;     /* next avail ring entry to take */
    uint16_t used_idx;       /* next used ring entry to fill */
    uint16_t signalled_used; /* used_idx when the driver was last interrupted */
    const char *why;         /* set when a call fails: what the guest got wrong */
};

/* One buffer of a chain: [gpa, gpa + len) of guest RAM, at host address p. */
struct virtq_seg {
    uint8_t *p;
    uint64_t gpa;
    uint32_t len;
};

/* A popped chain: nr_out device-readable buffers, then nr_in device-writable. */
struct virtq_elem {
    uint16_t head;
    unsigned nr_out, nr_in;
    uint64_t out_len, in_len; /* bytes */
    struct virtq_seg seg[VIRTQ_MAX_SEGS];
};

/* Returns the queue to its state after reset (no rings, not ready). */
void virtq_reset(struct virtq *q);

/*
 * Checks what the driver set before QueueReady = 1: size a power of two up
 * to VIRTQ_MAX_SIZE, each ring aligned (§2.7) and inside guest RAM.
 * Returns 0 and sets q->ready, or -EINVAL with q->why.
 */
int virtq_enable(struct virtq *q, struct vm *vm);

/*
 * Takes the next available chain into *e. Returns 1 if one was taken, 0 if
 * the ring is empty, -EINVAL (q->why set) if the ring or the chain is
 * malformed. With event_idx, also asks to be notified of the next buffer.
 */
int virtq_pop(struct virtq *q, struct vm *vm, struct virtq_elem *e);

/*
 * Returns a chain to the driver with len bytes written to its in buffers
 * (at most e->in_len) and tells the engine which guest RAM changed.
 * Returns 0 or -EFAULT (q->why set) if the used ring left guest RAM.
 */
int virtq_push(struct virtq *q, struct vm *vm, const struct virtq_elem *e, uint32_t len);

/* After one or more virtq_push(): does the driver want an interrupt now
 * (VRING_AVAIL_F_NO_INTERRUPT, or used_event with event_idx)? */
bool virtq_need_irq(struct virtq *q, struct vm *vm);

/* Copies len bytes from offset off of the chain's out buffers into buf.
 * Returns 0 or -EINVAL if they hold fewer bytes. */
int virtq_elem_read(const struct virtq_elem *e, uint64_t off, void *buf, uint64_t len);

/* Copies len bytes to offset off of the chain's in buffers. Returns 0 or
 * -EINVAL if they hold fewer bytes. */
int virtq_elem_write(const struct virtq_elem *e, uint64_t off, const void *buf, uint64_t len);

#endif
