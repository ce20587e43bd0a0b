/*
 * What the unit tests of virtio devices share: the virtio-mmio registers
 * (VIRTIO 1.2 §4.2.2) of the device at window 0, a stand-in engine that
 * records the IOAPIC lines, split rings at fixed guest addresses (queue q's
 * descriptors at 0x10000 + 0x3000 * q, its avail and used rings the next
 * two pages) and the accessors a driver uses on them.
 */
#ifndef VX86_TESTS_UNIT_VIRTIO_MMIO_DRIVER_H
#define VX86_TESTS_UNIT_VIRTIO_MMIO_DRIVER_H

#include <stdint.h>
#include <string.h>

#include "virtio/virtio.h"
#include "vm/board.h"
#include "vm/vm.h"

#define R_MAGIC         0x000
#define R_VERSION       0x004
#define R_DEVICE_ID     0x008
#define R_DEV_FEAT      0x010
#define R_DEV_FEAT_SEL  0x014
#define R_DRV_FEAT      0x020
#define R_DRV_FEAT_SEL  0x024
#define R_QUEUE_SEL     0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM     0x038
#define R_QUEUE_READY   0x044
#define R_NOTIFY        0x050
#define R_ISR           0x060
#define R_ACK           0x064
#define R_STATUS        0x070
#define R_DESC          0x080
#define R_DRIVER        0x090
#define R_DEVICE        0x0a0
#define R_CONFIG        0x100

static int irq_level[24]; /* the IOAPIC's GSIs */

static inline int fake_irq_set(struct vm *vm, uint32_t gsi, int level)
{
    (void)vm;
    if (gsi < sizeof(irq_level) / sizeof(irq_level[0]))
        irq_level[gsi] = level;
    return 0;
}

static const struct accel_ops fake_engine = {.name = "fake", .irq_set = fake_irq_set};

static inline uint64_t desc_of(int q)
{
    return 0x10000ULL + 0x3000ULL * (uint64_t)q;
}

static inline uint64_t avail_of(int q)
{
    return desc_of(q) + 0x1000;
}

static inline uint64_t used_of(int q)
{
    return desc_of(q) + 0x2000;
}

static inline uint32_t mmio_rd(struct vm *vm, uint64_t off)
{
    return (uint32_t)bus_read(&vm->mmio, BOARD_VIRTIO_MMIO_BASE + off, 4);
}

static inline void mmio_wr(struct vm *vm, uint64_t off, uint32_t v)
{
    bus_write(&vm->mmio, BOARD_VIRTIO_MMIO_BASE + off, 4, v);
}

static inline void ring_put_desc(struct vm *vm, int q, unsigned i, uint64_t addr, uint32_t len,
                                 uint16_t flags, uint16_t next)
{
    uint8_t d[16];

    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    mem_write(&vm->mem, desc_of(q) + 16 * i, d, 16);
}

static inline uint16_t ring_used_idx(struct vm *vm, int q)
{
    uint16_t v;

    mem_read(&vm->mem, used_of(q) + 2, &v, 2);
    return v;
}

/* Makes descriptor head available on queue q, a ring of qsize entries
 * whose next avail index is *avail_idx, and notifies the device. */
static inline void ring_offer(struct vm *vm, int q, uint16_t *avail_idx, unsigned qsize,
                              uint16_t head)
{
    mem_write(&vm->mem, avail_of(q) + 4 + 2 * (*avail_idx % qsize), &head, 2);
    (*avail_idx)++;
    mem_write(&vm->mem, avail_of(q) + 2, avail_idx, 2);
    mmio_wr(vm, R_NOTIFY, (uint32_t)q);
}

#endif
