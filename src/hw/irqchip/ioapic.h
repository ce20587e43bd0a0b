/*
 * The I/O APIC (Intel 82093AA data sheet, order no. 290566), version 0x20
 * as in the ICH/PCH: 24 pins, the IOREGSEL/IOWIN window and the directed
 * EOI register at offset 0x40.
 *
 * Pin levels are logical (1 = asserted): the polarity bit is kept for the
 * guest to read back but not applied, as the platform's lines are modelled
 * already in asserted form (as QEMU and KVM do). An edge that arrives on a
 * masked pin is lost (data sheet §3.2.4, bit 16).
 *
 * Locking: every function takes a->lock; the deliver callback runs with it
 * held, so it may take LAPIC locks but must not call back into the IOAPIC.
 */
#ifndef VX86_HW_IRQCHIP_IOAPIC_H
#define VX86_HW_IRQCHIP_IOAPIC_H

#include <pthread.h>
#include <stdint.h>

#include "hw/irqchip/apic.h"

#define IOAPIC_SIZE    0x1000
#define IOAPIC_PINS    24
#define IOAPIC_VERSION 0x20

/* Register window offsets and register indexes, 82093AA §3.0-3.2. */
#define IOAPIC_REGSEL 0x00
#define IOAPIC_IOWIN  0x10
#define IOAPIC_EOI    0x40
#define IOAPIC_ID     0x00
#define IOAPIC_VER    0x01
#define IOAPIC_ARB    0x02
#define IOAPIC_REDTBL 0x10 /* pin n: low dword at 0x10 + 2n, high at 0x11 + 2n */

/* Redirection entry bits. */
#define IOAPIC_RTE_VECTOR     0xffull
#define IOAPIC_RTE_DM_SHIFT   8
#define IOAPIC_RTE_LOGICAL    (1ull << 11)
#define IOAPIC_RTE_DELIVS     (1ull << 12)
#define IOAPIC_RTE_POLARITY   (1ull << 13)
#define IOAPIC_RTE_REMOTE     (1ull << 14)
#define IOAPIC_RTE_LEVEL      (1ull << 15)
#define IOAPIC_RTE_MASKED     (1ull << 16)
#define IOAPIC_RTE_DEST_SHIFT 56
/* VT-d §5.1.5.1: an entry in remappable format holds an interrupt index
 * (bits 63:49 index[14:0], bit 11 index[15]) in place of the destination. */
#define IOAPIC_RTE_REMAPPABLE (1ull << 48)

struct ioapic {
    pthread_mutex_t lock;
    uint32_t regsel;
    uint8_t id;
    uint32_t lines; /* asserted pins */
    uint64_t rte[IOAPIC_PINS];
    /* Sends m to the LAPICs; returns how many accepted it. */
    int (*deliver)(void *opaque, const struct apic_msg *m);
    void *opaque;
    /* With an IOMMU (NULL: none): every interrupt goes out as the MSI
     * addr/data an IOAPIC sends on a VT-d platform (remappable entries in
     * the remappable format) and remap says what to deliver: 0 and the
     * compatibility-format message, or < 0 to drop it. Runs with a->lock.
     * Set before the guest runs; the entries' bits 55:48 are then
     * writable, as the remappable format needs. */
    int (*remap)(void *opaque, uint64_t *addr, uint32_t *data);
    void *remap_opaque;
};

void ioapic_init(struct ioapic *a, int (*deliver)(void *opaque, const struct apic_msg *m),
                 void *opaque);
void ioapic_destroy(struct ioapic *a);

void ioapic_set_irq(struct ioapic *a, int pin, int level);

/* 32-bit accesses at offset within the MMIO page. */
uint32_t ioapic_read(struct ioapic *a, uint64_t offset);
void ioapic_write(struct ioapic *a, uint64_t offset, uint32_t value);

/* A LAPIC EOI for a level-triggered vector: clears Remote IRR of the
 * level-triggered pins with that vector and sends again those still
 * asserted. */
void ioapic_eoi(struct ioapic *a, uint8_t vector);

#endif
