/*
 * Boot timer, after Firecracker's: the guest writes the magic byte 123 when
 * it considers itself booted, and vx86 records the time since it started
 * (printed with --verbose; read by the benchmarks). Reachable two ways: a
 * port for small kernels, and an MMIO page so that a Linux init can do it
 * from user space (`devmem 0xd0000000 8 123` at vx86's BOARD_BOOT_TIMER_MMIO).
 */
#ifndef VX86_HW_BOOT_TIMER_H
#define VX86_HW_BOOT_TIMER_H

#include <stdatomic.h>
#include <stdint.h>

#include "hw/bus.h"

#define BOOT_TIMER_MAGIC 123

/* Nanoseconds since the machine's process started. */
typedef uint64_t boot_timer_clock_fn(void *opaque);

struct boot_timer {
    boot_timer_clock_fn *uptime_ns;
    void *opaque;
    atomic_bool fired; /* only the first report counts */
    uint64_t ns;       /* valid once fired */
};

/* Registers the byte at port on pio and the 4 KiB page at addr on mmio;
 * the first write of the magic reads uptime_ns(opaque) into bt->ns.
 * Returns 0 or -errno (-EEXIST: taken). */
__attribute__((warn_unused_result)) int
boot_timer_init(struct boot_timer *bt, struct bus *pio, struct bus *mmio, uint16_t port,
                uint64_t addr, boot_timer_clock_fn *uptime_ns, void *opaque);

#endif
