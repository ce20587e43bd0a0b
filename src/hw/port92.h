/*
 * System Control Port A at 0x92 (IBM PS/2 "fast A20 and reset" port, kept
 * by every PC chipset; PIIX4 datasheet §4.1.7 "PORT 92"):
 *
 *   bit 0  fast reset: writing 1 where it read 0 resets the machine
 *   bit 1  A20 enable: vx86's memory never wraps at 1 MiB, so A20 is always
 *          on; the bit reads 1 and writing 0 changes nothing
 *   others read 0; writes to them are dropped
 */
#ifndef VX86_HW_PORT92_H
#define VX86_HW_PORT92_H

#include <stdint.h>

#include "hw/bus.h"

#define PORT92_FAST_RESET 0x01
#define PORT92_A20        0x02

/* The guest asked for a reset. Called on the vCPU thread that wrote. */
typedef void port92_reset_fn(void *opaque);

struct port92 {
    port92_reset_fn *reset;
    void *opaque;
};

__attribute__((warn_unused_result)) int port92_init(struct port92 *p, struct bus *pio,
                                                    port92_reset_fn *reset, void *opaque);

#endif
