/*
 * ACPI tables for a PC guest (ACPI 6.5, chapter 5), written where firmware
 * would leave them: in the BIOS area at BOOT_ACPI (layout.h), RSDP first,
 * so that a guest can find it by scanning 0xE0000-0xFFFFF on 16-byte
 * boundaries (§5.2.5.1). Linux gets its address directly too
 * (boot_params.acpi_rsdp_addr, hvm_start_info.rsdp_paddr).
 *
 *   RSDP (revision 2) -> XSDT -> FADT -> DSDT (\_S3, \_S5, the PCI host bridge,
 *                                             MMIO devices), FACS
 *                             -> MADT (one LAPIC per vCPU, the IOAPIC,
 *                                      IRQ0 -> GSI2, IRQ9 level/high, NMI)
 *                             -> MCFG (the ECAM window of hw/pci.h)
 *                             -> DMAR (with --iommu: acpi_add_dmar)
 *
 * The FADT is a full (not hardware-reduced) one: SCI on IRQ 9, the PM1a
 * blocks and the 0xCF9 reset register of hw/acpi_pm.h.
 */
#ifndef VX86_BOOT_ACPI_H
#define VX86_BOOT_ACPI_H

#include <stdint.h>

#include "accel/accel.h"
#include "vm/mem.h"

#define ACPI_IOAPIC_ID   0 /* KVM's in-kernel IOAPIC and the emu one start with 0 */

/* A virtio-mmio device for the DSDT: a "LNRO0005" device under \_SB with
 * its register window and a level-triggered, active-high GSI, which is how
 * Linux finds virtio-mmio devices on ACPI systems (QEMU's microvm does the
 * same); a kernel booted with acpi=off does not see them. */
struct acpi_mmio_dev {
    uint64_t base;
    uint32_t size, gsi;
};
#define ACPI_MMIO_MAX 16

/* Writes the tables for cpus vCPUs (1 to VM_MAX_CPUS) and ndevs devices (at
 * most ACPI_MMIO_MAX) into guest RAM at BOOT_ACPI. Returns 0, -EINVAL for a
 * bad count, -EFAULT if RAM is too small to hold them. */
int acpi_build(const struct guest_mem *mem, int cpus, const struct acpi_mmio_dev *devs,
               int ndevs);

/* After acpi_build, on resume from S3 (hw/acpi_pm.h): the registers with
 * which firmware enters the waking vector the guest's OS left in the FACS
 * (§5.2.10). Returns 0, -ENOENT when the FACS names none (or is gone),
 * -EINVAL for a vector the entry mode cannot reach, -EFAULT if RAM is too
 * small. */
int acpi_waking_state(const struct guest_mem *mem, struct cpu_state *s);

/* The same tables (without virtio-mmio devices or a DMAR) for firmware that
 * installs them itself, as QEMU hands them to SeaBIOS through fw_cfg: the
 * files ACPI_EXPORT_TABLES (every table but the RSDP), ACPI_EXPORT_RSDP and
 * ACPI_EXPORT_LOADER (QEMU's table-loader commands that place both, patch
 * the pointers between them and fix the checksums). */
#define ACPI_EXPORT_TABLES "etc/acpi/tables"
#define ACPI_EXPORT_RSDP   "etc/acpi/rsdp"
#define ACPI_EXPORT_LOADER "etc/table-loader"
struct acpi_export {
    uint8_t tables[8192];
    uint32_t tables_len;
    uint8_t rsdp[36];
    uint8_t loader[16 * 128];
    uint32_t loader_len;
};

/* Fills *x for cpus vCPUs. Returns 0 or -EINVAL for a bad count. */
int acpi_export(int cpus, struct acpi_export *x);

/* After acpi_build: adds a DMAR table announcing the VT-d unit of
 * hw/iommu/vtd.h (--iommu) to the XSDT. Returns 0, -EFAULT if RAM is too
 * small, -EINVAL if the XSDT is not acpi_build's (called twice). */
int acpi_add_dmar(const struct guest_mem *mem);

/* The byte that makes the sum of len bytes at p zero (for checksum fields
 * that are zero while it is computed). */
uint8_t acpi_checksum(const void *p, uint64_t len);

#endif
