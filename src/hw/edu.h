/*
 * QEMU's "edu" teaching device (QEMU docs/specs/edu.rst), opt-in with
 * `--device edu`: kvm-unit-tests' intel_iommu test drives its DMA and its
 * interrupts through the IOMMU (hw/iommu/vtd.h). PCI 1234:11e8, class
 * 0x00ff, BAR0 1 MiB of memory:
 *
 *   0x00 RO  identification 0x010000ed (version 1.0)
 *   0x04 RW  liveness: reads the bitwise NOT of the value written
 *   0x08 RW  factorial of the value written (32 bits, wrapping)
 *   0x20 RW  status: bit 0 computing (read-only; never seen, as the
 *            factorial is ready at once), bit 7 raise interrupt 0x1 when
 *            a factorial is done
 *   0x24 RO  interrupt status; 0x60 WO raise (ORs bits in); 0x64 WO ack
 *   0x80 RW  DMA source, 0x88 destination, 0x90 count (64-bit registers)
 *   0x98 RW  DMA command: bit 0 start (reads 1 while running), bit 1
 *            direction (0: guest memory to the buffer, 1: the buffer to
 *            guest memory), bit 2 raise interrupt 0x100 when done
 *
 * Registers below 0x80 take 4-byte accesses, those from 0x80 on 4 or 8
 * bytes; other accesses read all ones and are dropped, as in QEMU. The
 * 4 KiB buffer sits at device address 0x40000 (EDU_DMA_BASE): one side of
 * a transfer must lie wholly inside it, the other is a bus address that
 * goes through the dma callback (the IOMMU's translation when there is
 * one). A transfer outside the buffer, or with bus mastering off, moves
 * nothing but completes (QEMU aborts the whole VM there). DMA runs at the
 * command write, so a guest never sees bit 0 set.
 *
 * Interrupts: while the interrupt status is non-zero the device asserts
 * INTx (pin A, level), unless MSI is enabled (hw/msi.h), in which case
 * each raise sends the message once, as QEMU's does.
 *
 * vx86 has no firmware to place BARs: BAR0 comes at the address init
 * gets, the interrupt line register holds the pin's GSI, as a BIOS leaves
 * them.
 *
 * Locking: e->lock is held across a whole register access, including the
 * callbacks (which may take the PCI host's lock, interrupt controllers'
 * and the IOMMU's, never e->lock).
 */
#ifndef VX86_HW_EDU_H
#define VX86_HW_EDU_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/pci.h"

#define EDU_VENDOR   0x1234
#define EDU_DEVICE   0x11e8
#define EDU_CLASS    0x00ff00
#define EDU_BAR_SIZE 0x100000
#define EDU_DMA_BASE 0x40000
#define EDU_DMA_SIZE 4096
#define EDU_ID       0x010000ed
#define EDU_IRQ_FACT 0x1
#define EDU_IRQ_DMA  0x100

/* Registers (offsets in BAR0). */
#define EDU_REG_ID        0x00
#define EDU_REG_LIVENESS  0x04
#define EDU_REG_FACTORIAL 0x08
#define EDU_REG_STATUS    0x20
#define EDU_REG_IRQ_STAT  0x24
#define EDU_REG_IRQ_RAISE 0x60
#define EDU_REG_IRQ_ACK   0x64
#define EDU_REG_DMA_SRC   0x80
#define EDU_REG_DMA_DST   0x88
#define EDU_REG_DMA_COUNT 0x90
#define EDU_REG_DMA_CMD   0x98

#define EDU_STATUS_COMPUTING 0x01
#define EDU_STATUS_IRQ_FACT  0x80
#define EDU_DMA_RUN          0x1
#define EDU_DMA_TO_RAM       0x2
#define EDU_DMA_IRQ          0x4

struct edu_ops {
    /* Drives the INTx line (GSI gsi) to level. */
    void (*irq)(void *opaque, unsigned gsi, int level);
    /* Sends the MSI addr/data as requester sid (bus << 8 | devfn). */
    void (*msi)(void *opaque, uint16_t sid, uint64_t addr, uint32_t data);
    /* Reads (write false) or writes len bytes at bus address addr for
     * requester sid, to or from buf. Returns 0, or -errno when some of it
     * could not be reached (a translation fault, outside RAM). */
    int (*dma)(void *opaque, uint16_t sid, uint64_t addr, void *buf, uint64_t len, bool write);
};

struct edu {
    struct pci_device pci;
    struct pci *host;
    const struct edu_ops *ops;
    void *opaque;
    unsigned msi_cap;
    unsigned gsi;
    uint16_t sid;
    pthread_mutex_t lock; /* everything below */
    uint32_t liveness, factorial, status, irq_status;
    uint64_t dma_src, dma_dst, dma_count, dma_cmd;
    uint8_t buf[EDU_DMA_SIZE];
};

/* Puts the device at slot (1-31) of pci's bus 0 with BAR0 at bar_addr (1
 * MiB aligned, in PCI_MEM32's window). Before vCPUs run. Returns 0 or
 * -errno (-EINVAL for a bad slot or address, -EEXIST: the slot is taken). */
__attribute__((warn_unused_result)) int edu_init(struct edu *e, struct pci *pci, unsigned slot,
                                                 uint32_t bar_addr, const struct edu_ops *ops,
                                                 void *opaque);

/* Safe on a zeroed struct. */
void edu_destroy(struct edu *e);

#endif
