/*
 * An Intel VT-d DMA and interrupt remapping unit ("Intel Virtualization
 * Technology for Directed I/O Architecture Specification", rev. 4.x; the
 * section numbers below are that document's), opt-in with `--iommu`. One
 * unit covers every PCI function (the DMAR table's INCLUDE_PCI_ALL) and the
 * IOAPIC, its registers at BOARD_VTD_BASE, where QEMU's q35 puts them (and
 * kvm-unit-tests' intel_iommu test looks):
 *
 *   version 1.0; CAP: 16-bit domain IDs, 3- and 4-level second-level
 *   tables (39- and 48-bit guest addresses), 2 MiB and 1 GiB pages,
 *   page-selective invalidation, one fault recording register; ECAP:
 *   coherent page walks, queued invalidation, interrupt remapping in xAPIC
 *   format (no EIM: 8-bit destinations), pass-through translation.
 *
 * DMA remapping (§3): legacy-mode root and context tables, second-level
 * translation with read and write permissions, large pages; scalable mode,
 * device TLBs and first-level tables are not offered. Interrupt remapping
 * (§5): remappable-format requests are looked up in the interrupt
 * remapping table and leave as compatibility-format messages; compatibility
 * format requests pass while GSTS.CFIS is set and are blocked otherwise.
 * Source-ID verification applies to requests whose requester is known (PCI
 * functions that say it, as edu does); the IOAPIC's and virtio's messages
 * come without one and are not verified (QEMU does the same).
 *
 * The unit caches nothing: every request walks the guest's tables, so the
 * context-cache, IOTLB and interrupt entry cache invalidations (register
 * based or queued) complete at once with nothing to drop. Faults are
 * recorded in the fault recording register and FSTS (§7.2), and raise the
 * fault event interrupt unless masked; invalidation wait descriptors write
 * their status and raise the invalidation event.
 *
 * Hostile guest: every table address, index, queue size and descriptor is
 * guest-controlled; guest memory is read and written only through mem.h's
 * checked helpers, and a bad value ends in a recorded fault or an
 * invalidation queue error, never outside guest RAM.
 *
 * Locking: v->lock guards the registers and is held across a translation's
 * table walk. The msi callback (fault and invalidation events, which are
 * not themselves remapped, §5.1.6) runs after v->lock is released, but may
 * run with the caller's locks held (the IOAPIC's): it must only reach the
 * LAPICs. Lock order: a device's, the IOAPIC's, v->lock, guest memory.
 */
#ifndef VX86_HW_IOMMU_VTD_H
#define VX86_HW_IOMMU_VTD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/bus.h"
#include "vm/mem.h"

#define VTD_SIZE 0x1000

/* A request whose source-id is unknown: no source-id verification. */
#define VTD_SID_NONE (-1)

struct vtd_ops {
    /* Delivers an event interrupt: data written to addr, straight to the
     * LAPICs. */
    void (*msi)(void *opaque, uint64_t addr, uint32_t data);
    /* The unit wrote [gpa, gpa + len) of guest RAM (a DMA through it, an
     * invalidation wait status). */
    void (*written)(void *opaque, uint64_t gpa, uint64_t len);
};

struct vtd {
    pthread_mutex_t lock;
    const struct guest_mem *mem;
    const struct vtd_ops *ops;
    void *opaque;
    uint32_t gsts;
    uint64_t rtaddr, root; /* RTADDR as written, and as latched by SRTP */
    uint64_t irta, irt;    /* IRTA as written, and as latched by SIRTP */
    uint64_t ccmd, iotlb, iva;
    uint32_t fsts, fectl, fedata, feaddr, feuaddr;
    uint64_t frcd[2]; /* the fault recording register, low and high */
    uint64_t iqh, iqt, iqa;
    uint32_t ics, iectl, iedata, ieaddr, ieuaddr;
    bool fault_event, inv_event; /* to send once v->lock is released */
};

/* Registers the unit's registers on mmio. Before vCPUs run. Returns 0 or
 * -errno (-EEXIST: the range is taken). */
__attribute__((warn_unused_result)) int vtd_init(struct vtd *v, struct bus *mmio,
                                                 const struct guest_mem *mem,
                                                 const struct vtd_ops *ops, void *opaque);

/* Safe on a zeroed struct. */
void vtd_destroy(struct vtd *v);

/*
 * A DMA by requester sid (bus << 8 | devfn): reads (write false) or writes
 * len bytes at I/O virtual address iova from or into buf, page by page
 * through the translation; with translation off, iova is a guest physical
 * address. Returns 0, or -EFAULT once a page faults (the fault recorded
 * unless the context entry disables it; the bytes before it have moved) or
 * lies outside guest RAM.
 */
int vtd_dma(struct vtd *v, uint16_t sid, uint64_t iova, void *buf, uint64_t len, bool write);

/*
 * Interrupt remapping of the message data to addr from requester sid (or
 * VTD_SID_NONE). Returns 0 with *addr and *data the compatibility-format
 * message to deliver (unchanged when remapping is off or the request
 * passes through), or -EPERM when the request is blocked (the fault
 * recorded unless the IRTE disables it).
 */
int vtd_msi_remap(struct vtd *v, int sid, uint64_t *addr, uint32_t *data);

#endif
