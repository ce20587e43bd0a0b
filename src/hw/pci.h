/*
 * The PCI host side of the PC: bus 0 of PCI segment 0, its configuration
 * space reached two ways, and the host bridge at device 0.
 *
 *   0xCF8       CONFIG_ADDRESS, configuration mechanism #1 (PCI Local Bus
 *               3.0 §3.2.2.3.2): 32-bit accesses only; bit 31 enables,
 *               bits 23:16 bus, 15:11 device, 10:8 function, 7:2 register
 *   0xCF9       not PCI's: the reset control register (hw/acpi_pm.h), which
 *               shares the dword; byte accesses there are forwarded to it
 *   0xCFC-0xCFF CONFIG_DATA: 1-, 2- and 4-byte accesses, the byte lanes
 *               of the dword CONFIG_ADDRESS selects
 *   ECAM        at BOARD_PCI_ECAM_BASE: PCIe enhanced configuration access (PCIe Base
 *               6.0 §7.2.2): 4 KiB per function, bus 0 only (1 MiB)
 *
 * Both mechanisms end in pci_cfg_read() / pci_cfg_write(), so a device sees
 * the same accesses whichever the guest uses. Absent devices, other buses and
 * accesses that cross a dword read all ones and drop writes, as a master
 * abort / unsupported request does on a PC.
 *
 * A device (virtio-pci later) fills a struct pci_device with
 * pci_device_init() and pci_set_bar(), then pci_register()s it before any
 * vCPU runs. The core keeps its 4 KiB configuration space: a write changes
 * only the bits set in wmask, so read-only fields stay put and BAR sizing
 * (write all ones, read back the size mask, PCI 3.0 §6.2.5.1) works without
 * the device's help. Hooks may look at or change an access after the core.
 * Memory BARs are decoded in one place: the host bridge's 32-bit window
 * (BOARD_PCI_MEM32_BASE and BOARD_PCI_MEM32_HIGH_BASE, vm/board.h) is one
 * range on the MMIO bus each, and an access there goes to the device whose enabled memory BAR holds
 * it (bar_read/bar_write), so the guest may move BARs at any time without the bus changing. I/O
 * BARs and BARs outside the window are not decoded.
 */
#ifndef VX86_HW_PCI_H
#define VX86_HW_PCI_H

#include <pthread.h>
#include <stdint.h>

#include "hw/bus.h"
#include "vm/board.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA    0xcfc
#define PCI_CONFIG_ENABLE  0x80000000u

#define PCI_CFG_SIZE       4096
#define PCI_DEVFNS         256 /* 32 devices x 8 functions */
#define PCI_NR_BARS        6
#define PCI_DEVFN(dev, fn) ((unsigned)(dev) << 3 | (unsigned)(fn))

/* Type 0 configuration header (PCI 3.0 §6.1, Figure 6-1). */
#define PCI_VENDOR_ID           0x00
#define PCI_DEVICE_ID           0x02
#define PCI_COMMAND             0x04
#define PCI_STATUS              0x06
#define PCI_REVISION_ID         0x08
#define PCI_CLASS_PROG          0x09 /* class code: prog-if, sub-class, class */
#define PCI_CACHE_LINE          0x0c
#define PCI_HEADER_TYPE         0x0e
#define PCI_BAR0                0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID        0x2e
#define PCI_CAPABILITY_LIST     0x34
#define PCI_INTERRUPT_LINE      0x3c
#define PCI_INTERRUPT_PIN       0x3d

#define PCI_STATUS_CAP_LIST 0x0010 /* §6.2.3: a capability list at 0x34 */
#define PCI_CAP_START       0x40   /* capabilities live in 0x40-0xff (§6.7) */
#define PCI_CAP_ID_VNDR     0x09
#define PCI_CAP_ID_MSIX     0x11

/* Command register bits a device lets software change (§6.2.2). */
#define PCI_COMMAND_IO     0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_PARITY 0x0040
#define PCI_COMMAND_SERR   0x0100
#define PCI_COMMAND_INTX   0x0400 /* interrupt disable */

/* BAR flags (§6.2.5.1): the low, read-only bits of a BAR. */
#define PCI_BAR_IO       0x1
#define PCI_BAR_MEM64    0x4
#define PCI_BAR_PREFETCH 0x8

/* QEMU's generic PCIe host bridge ("gpex-pcihost", Red Hat's vendor ID): a
 * host bridge Linux knows to need nothing from, with no chipset quirks. */
#define PCI_HOST_VENDOR 0x1b36
#define PCI_HOST_DEVICE 0x0008
#define PCI_CLASS_HOST  0x060000

/* The GSI that INTx pin (0-3 for INTA-INTD) of a function in slot (1-31)
 * reaches: the IOAPIC's lines 16-23, rotated by slot as PCI slots' INTx
 * wires are swizzled (PCI-to-PCI Bridge 1.2 §9.1). The DSDT's _PRT says
 * the same to the guest. Lines are level-triggered and may be shared. */
static inline unsigned pci_intx_gsi(unsigned slot, unsigned pin)
{
    return BOARD_PCI_INTX_GSI + (slot - 1 + pin) % BOARD_PCI_INTX_GSIS;
}

struct pci_device;

/* Called with pci->lock held, after the core has done the access: a read
 * hook may replace *value (size bytes at off), a write hook sees the value
 * the guest wrote (cfg already holds the masked result). They must not call
 * pci_cfg_read/write. off + size never crosses a dword. */
typedef void pci_cfg_read_fn(struct pci_device *d, unsigned off, unsigned size, uint32_t *value);
typedef void pci_cfg_write_fn(struct pci_device *d, unsigned off, unsigned size, uint32_t value);
/* An access of size bytes (1, 2, 4 or 8) at off into memory BAR bar,
 * without pci->lock (the device locks its own state). */
typedef uint64_t pci_bar_read_fn(struct pci_device *d, unsigned bar, uint64_t off, unsigned size);
typedef void pci_bar_write_fn(struct pci_device *d, unsigned bar, uint64_t off, unsigned size,
                              uint64_t value);

struct pci_device {
    uint8_t cfg[PCI_CFG_SIZE];      /* little-endian, as the guest reads it */
    uint8_t wmask[PCI_CFG_SIZE];    /* bits the guest may change */
    uint64_t bar_size[PCI_NR_BARS]; /* 0: not implemented (or a 64-bit BAR's upper half) */
    pci_cfg_read_fn *read;          /* NULL: none */
    pci_cfg_write_fn *write;        /* NULL: none */
    pci_bar_read_fn *bar_read;      /* NULL: no memory BARs */
    pci_bar_write_fn *bar_write;
    void *opaque;
    uint8_t cap_end; /* first free byte for pci_add_cap */
};

struct pci {
    pthread_mutex_t lock; /* config_address and every registered device's cfg */
    uint32_t config_address;
    struct bus_range reset; /* the 0xCF9 byte's owner */
    struct pci_device *devs[PCI_DEVFNS];
    int nr_devs; /* registered, in devs_list order */
    struct pci_device *devs_list[PCI_DEVFNS];
    struct pci_device host;
};

/*
 * Registers mechanism #1 on pio (0xCF8-0xCFF) and the ECAM window on mmio,
 * and the host bridge at 00.0. reset describes the byte register at 0xCF9
 * (acpi_pm_reset_range()); accesses to it go to its handlers. Returns 0 or
 * -errno (-EEXIST: a range is taken).
 */
int pci_init(struct pci *pci, struct bus *pio, struct bus *mmio, const struct bus_range *reset);

/* Safe on a zeroed struct or after a failed init. */
void pci_destroy(struct pci *pci);

/* Zeroes d and writes a type 0 header: IDs, class (24 bits), revision;
 * software may change the command bits above, the cache line size and the
 * interrupt line. */
void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device, uint32_t class_code,
                     uint8_t revision);

/*
 * Makes BAR bar a size-byte BAR with flags (PCI_BAR_*). size is a power of
 * two: 4 to 256 for I/O, at least 16 for memory, below 4 GiB unless
 * PCI_BAR_MEM64, which takes bar and bar + 1. Returns 0 or -EINVAL.
 */
int pci_set_bar(struct pci_device *d, unsigned bar, uint64_t size, unsigned flags);

/*
 * Appends a capability with ID id and len bytes (2 or more: ID and next
 * pointer included) to d's list; the caller fills in the rest and its
 * wmask. Returns its offset in config space, or 0 when 0x40-0xff is full.
 */
unsigned pci_add_cap(struct pci_device *d, uint8_t id, unsigned len);

/* The address the guest programmed into BAR bar (64-bit BARs whole), flags
 * masked off; 0 for an unimplemented BAR. Call with pci->lock held (from a
 * hook) or before vCPUs run. */
uint64_t pci_bar_addr(const struct pci_device *d, unsigned bar);

/* Puts d at devfn on bus 0. Returns 0, -EINVAL (devfn out of range),
 * -EEXIST (taken). Only before vCPUs run. */
int pci_register(struct pci *pci, struct pci_device *d, unsigned devfn);

/* Configuration access to bus 0: size 1, 2 or 4 bytes at off, not crossing
 * a dword. Anything else, or no device at devfn: reads all ones, writes
 * dropped. */
uint32_t pci_cfg_read(struct pci *pci, unsigned devfn, unsigned off, unsigned size);
void pci_cfg_write(struct pci *pci, unsigned devfn, unsigned off, unsigned size, uint32_t value);

#endif
