/*
 * QEMU's isa-debug-exit (at BOARD_DEBUG_EXIT_PORT on vx86's board): a guest
 * write of v ends vx86 with status (v << 1) | 1, so a guest can never
 * produce vx86's own (even) statuses. Test suites written for QEMU
 * (kvm-unit-tests, ...) rely on it.
 */
#ifndef VX86_HW_DEBUG_EXIT_H
#define VX86_HW_DEBUG_EXIT_H

#include <stdint.h>

#include "hw/bus.h"

/* The exit status for a written value; the OS keeps the low 8 bits. */
int debug_exit_status(uint64_t value);

/* The guest asked to end with status; why describes the write. Called on
 * the vCPU thread that wrote. */
typedef void debug_exit_fn(void *opaque, int status, const char *why);

struct debug_exit {
    debug_exit_fn *exit;
    void *opaque;
};

/* Registers the 4-byte port range at port on pio; a write at its first
 * byte calls exit(opaque, ...). Returns 0 or -errno (-EEXIST: taken). */
__attribute__((warn_unused_result)) int debug_exit_init(struct debug_exit *d, struct bus *pio,
                                                        uint16_t port, debug_exit_fn *exit,
                                                        void *opaque);

#endif
