/*
 * What fuzz_net and fuzz_vsock share as the guest side of one virtio-mmio
 * device: its register offsets, the feature bits both offer, and a fake
 * engine that takes no interrupts and records which guest pages the device
 * wrote (dirty[], so that a target can put back only those between
 * inputs). Include after defining RAM_PAGES; each target gets its own copy.
 */
#ifndef VX86_TESTS_FUZZ_VIRTIO_MMIO_GUEST_H
#define VX86_TESTS_FUZZ_VIRTIO_MMIO_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "vm/vm.h"

/* virtio-mmio registers (VIRTIO 1.2 §4.2.2). */
enum {
    R_DRV_FEAT = 0x020,
    R_DRV_FEAT_SEL = 0x024,
    R_QUEUE_SEL = 0x030,
    R_QUEUE_NUM = 0x038,
    R_QUEUE_READY = 0x044,
    R_NOTIFY = 0x050,
    R_ACK = 0x064,
    R_STATUS = 0x070,
    R_DESC = 0x080,
    R_DRIVER = 0x090,
    R_DEVICE = 0x0a0,
    R_CONFIG = 0x100,
};

#define F_INDIRECT  (1u << 28)
#define F_EVENT_IDX (1u << 29)

static bool dirty[RAM_PAGES];

/* The engine's mem_written: the device wrote [gpa, gpa + len). */
static void written(struct vm *vm, uint64_t gpa, uint64_t len)
{
    (void)vm;
    for (uint64_t p = gpa >> 12; p < RAM_PAGES && p <= (gpa + len - 1) >> 12; p++)
        dirty[p] = true;
}

static int fake_irq_set(struct vm *vm, uint32_t gsi, int level)
{
    (void)vm;
    (void)gsi;
    (void)level;
    return 0;
}

static const struct accel_ops fake_engine = {
    .name = "fake", .irq_set = fake_irq_set, .mem_written = written};

#endif
