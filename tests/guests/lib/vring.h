/*
 * A split virtqueue of QSIZE entries as a driver lays it out (VIRTIO 1.2
 * §2.7), for the guests that drive vx86's virtio devices themselves.
 */
#ifndef VX86_GUESTS_LIB_VRING_H
#define VX86_GUESTS_LIB_VRING_H

#include <stdint.h>

#define QSIZE 4

struct vring {
    struct {
        uint64_t addr;
        uint32_t len;
        uint16_t flags, next;
    } desc[QSIZE];
    struct {
        uint16_t flags, idx, ring[QSIZE];
    } avail __attribute__((aligned(4)));
    struct {
        uint16_t flags;
        volatile uint16_t idx;
        struct {
            uint32_t id, len;
        } ring[QSIZE];
    } used __attribute__((aligned(4)));
} __attribute__((aligned(16)));

/* Makes descriptor 0 the buffer [addr, addr + len) and offers it; the
 * caller notifies the device. */
static inline void vring_post(struct vring *r, uint64_t addr, uint32_t len, uint16_t flags)
{
    r->desc[0].addr = addr;
    r->desc[0].len = len;
    r->desc[0].flags = flags;
    r->avail.ring[r->avail.idx % QSIZE] = 0;
    asm volatile("" ::: "memory");
    r->avail.idx++;
    asm volatile("mfence" ::: "memory");
}

/* Waits until the device has used n buffers of r: it may work on another
 * thread than the one the notification reached (ioeventfd). */
static inline int vring_wait_used(const struct vring *r, uint16_t n)
{
    for (long spins = 0; spins < 100000000; spins++) {
        if (r->used.idx == n)
            return 1;
        asm volatile("pause");
    }
    return 0;
}

#endif
