/*
 * Boot timer, after Firecracker's: the guest writes the magic byte 123 when
 * it considers itself booted, and vx86 records the time since it started
 * (printed with --verbose; read by the benchmarks). Reachable two ways: port
 * BOOT_TIMER_PORT for small kernels, and MMIO BOOT_TIMER_MMIO so that a Linux
 * init can do it from user space with `devmem 0xd0000000 8 123`.
 */
#ifndef VX86_HW_BOOT_TIMER_H
#define VX86_HW_BOOT_TIMER_H

#include <stdatomic.h>

#include "vm/vm.h"

#define BOOT_TIMER_PORT  0x440
#define BOOT_TIMER_MMIO  0xd0000000ULL
#define BOOT_TIMER_MAGIC 123

struct boot_timer {
    struct vm *vm;
    atomic_bool fired; /* only the first report counts */
    uint64_t ns;       /* valid once fired */
};

__attribute__((warn_unused_result)) int boot_timer_init(struct boot_timer *bt, struct vm *vm);

#endif
