/*
 * QEMU's "pc-testdev", the ISA test device kvm-unit-tests drives (its
 * emulator, ioapic, realmode and eventinj tests), opt-in (`--testdev`):
 *
 *   0xe0-0xe3     a 32-bit data register; an access of 1, 2 or 4 bytes at
 *                 0xe0 + n reads or writes its bytes n and up
 *   0xe4          flush page: a 4-byte write of an address asks the VMM to
 *                 drop what it cached of that 4 KiB page
 *   0xe8-0xeb     the same data register, taken a byte at a time (a wider
 *                 access is split, as a string I/O test expects)
 *   0x2000-0x2017 a byte written to 0x2000 + n drives interrupt line n
 *                 (GSI n): nonzero raises it, zero lowers it
 *   PC_TESTDEV_IOMEM  64 KiB of memory-like MMIO: reads give back what was
 *                 written, at any width; kvm-unit-tests runs instructions
 *                 against it to test MMIO emulation
 *
 * Reads of the flush and interrupt ports give all ones.
 */
#ifndef VX86_HW_PC_TESTDEV_H
#define VX86_HW_PC_TESTDEV_H

#include <pthread.h>
#include <stdint.h>

#include "hw/bus.h"

#define PC_TESTDEV_DATA_PORT  0xe0
#define PC_TESTDEV_FLUSH_PORT 0xe4
#define PC_TESTDEV_BYTE_PORT  0xe8
#define PC_TESTDEV_IRQ_PORT   0x2000
#define PC_TESTDEV_IRQ_LINES  24
/* Just above the LAPIC's page and below the BIOS ROM alias at the top of
 * 4 GiB, in the hole (vm/mem.h), where QEMU puts it. */
#define PC_TESTDEV_IOMEM      0xff000000ULL
#define PC_TESTDEV_IOMEM_SIZE 0x10000

/* Drives interrupt line gsi (0-23) to level (0 or 1). From a vCPU thread. */
typedef void pc_testdev_irq_fn(void *opaque, unsigned gsi, int level);
/* The guest asked to flush the page at gpa (4 KiB-aligned). */
typedef void pc_testdev_flush_fn(void *opaque, uint64_t gpa);

struct pc_testdev {
    pthread_mutex_t lock; /* data and iomem */
    uint32_t data;
    uint8_t iomem[PC_TESTDEV_IOMEM_SIZE];
    pc_testdev_irq_fn *irq;
    pc_testdev_flush_fn *flush;
    void *opaque;
};

/* Registers the ports on pio and the memory on mmio. Returns 0 or -errno
 * (bus_register()'s). */
__attribute__((warn_unused_result)) int pc_testdev_init(struct pc_testdev *t, struct bus *pio,
                                                        struct bus *mmio, pc_testdev_irq_fn *irq,
                                                        pc_testdev_flush_fn *flush, void *opaque);

/* Safe on a zeroed struct. */
void pc_testdev_destroy(struct pc_testdev *t);

#endif
