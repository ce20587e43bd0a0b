/*
 * Plain MSI (PCI Local Bus 3.0 §6.8.1): the 64-bit capability with one
 * message and no per-vector masking, for devices that signal through it
 * rather than MSI-X (hw/msix.h). The capability lives in config space
 * only: the PCI core applies the guest's writes through wmask, so the
 * device reads the enable bit and the message back when it signals.
 */
#ifndef VX86_HW_MSI_H
#define VX86_HW_MSI_H

#include <stdbool.h>
#include <stdint.h>

#include "hw/pci.h"

#define PCI_CAP_ID_MSI  0x05
#define MSI_CTRL        0x02 /* Message Control */
#define MSI_ADDR_LO     0x04
#define MSI_ADDR_HI     0x08
#define MSI_DATA        0x0c /* in the 64-bit layout */
#define MSI_CAP_LEN     0x0e
#define MSI_CTRL_ENABLE 0x0001
#define MSI_CTRL_64BIT  0x0080

/* Appends the capability to d (before it is registered). Returns its
 * offset in config space, or 0 when there is no room. */
unsigned msi_add_cap(struct pci_device *d);

/* With the PCI host's lock held (or before vCPUs run): whether MSI at cap
 * is enabled, and if so its message in *addr and *data. */
bool msi_message(const struct pci_device *d, unsigned cap, uint64_t *addr, uint32_t *data);

#endif
