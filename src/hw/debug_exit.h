/*
 * QEMU's isa-debug-exit at port 0xf4: a guest write of v ends vx86 with
 * status (v << 1) | 1, so a guest can never produce vx86's own (even)
 * statuses. Test suites written for QEMU (kvm-unit-tests, ...) rely on it.
 */
#ifndef VX86_HW_DEBUG_EXIT_H
#define VX86_HW_DEBUG_EXIT_H

#include "vm/vm.h"

#define DEBUG_EXIT_PORT 0xf4

/* The exit status for a written value; the OS keeps the low 8 bits. */
int debug_exit_status(uint64_t value);

__attribute__((warn_unused_result)) int debug_exit_init(struct vm *vm);

#endif
