/*
 * QEMU's "pci-testdev" (vendor 0x1b36, device 0x0005, class 0xff), opt-in
 * (`--testdev`): kvm-unit-tests' vmexit test times accesses to it, and its
 * lib/pci-testdev.c checks that writes land. Two BARs hold the same
 * registers: BAR0, 4 KiB of memory, and BAR1, 256 I/O ports. A byte
 * written at offset 0 selects test n (0-2) of that BAR's kind (memory or
 * I/O; any other value selects none) and zeroes its count; the selected
 * test's header then reads, byte by byte, at offset 0:
 *
 *   +0 test number (kind * 3 + n)   +1 width of the access to count (1)
 *   +4 offset to write, 32 bits     +8 the byte to write (0xfa; 0xce for n = 1)
 *   +12 count, 32 bits              +16 name, NUL-terminated ("mmio-no-eventfd")
 *
 * and each byte written at the offset (for n = 1 any byte, else the right
 * one) adds one to the count. Wider accesses act as that many bytes, as in
 * QEMU; reads with no test selected, or past the header, give 0.
 *
 * vx86 has no firmware to place BARs, so the device comes with them placed
 * as a BIOS would: BAR0 at BOARD_PCI_MEM32_BASE + slot * 64 KiB (decoded by the
 * PCI host wherever the guest moves it) and BAR1 at PCI_TESTDEV_IO_BASE,
 * decoded there only, while the I/O bit of the command register is on.
 * QEMU's "eventfd" tests count the same here: vx86 has no ioeventfd path
 * for them, and the test accepts either a full count or none.
 */
#ifndef VX86_HW_PCI_TESTDEV_H
#define VX86_HW_PCI_TESTDEV_H

#include <pthread.h>
#include <stdint.h>

#include "hw/bus.h"
#include "hw/pci.h"

#define PCI_TESTDEV_VENDOR   0x1b36
#define PCI_TESTDEV_DEVICE   0x0005
#define PCI_TESTDEV_CLASS    0xff0000 /* "device does not fit any class" */
#define PCI_TESTDEV_MEM_BAR  0
#define PCI_TESTDEV_IO_BAR   1
#define PCI_TESTDEV_MEM_SIZE 4096
#define PCI_TESTDEV_IO_SIZE  256
#define PCI_TESTDEV_IO_BASE  0xc000 /* in the DSDT's I/O window */
#define PCI_TESTDEV_TESTS    6      /* memory 0-2, I/O 3-5 */

struct pci_testdev {
    struct pci_device pci;
    struct pci *host;
    pthread_mutex_t lock; /* current, count */
    int current;          /* selected test, -1: none */
    uint32_t count[PCI_TESTDEV_TESTS];
};

/* Puts the device at slot (1-31) of pci's bus 0 and registers its I/O
 * window on pio. Before vCPUs run. Returns 0 or -errno. */
__attribute__((warn_unused_result)) int pci_testdev_init(struct pci_testdev *t, struct pci *pci,
                                                         struct bus *pio, unsigned slot);

/* Safe on a zeroed struct. */
void pci_testdev_destroy(struct pci_testdev *t);

#endif
