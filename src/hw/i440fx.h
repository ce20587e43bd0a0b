/*
 * What a PC BIOS written for QEMU's "pc" machine (SeaBIOS) needs of the
 * chipset, present only when vx86 boots through firmware (--firmware, or
 * --disk without --kernel):
 *
 *   00:00.0  the host bridge takes the i440FX's identity (Intel 82441FX,
 *            8086:1237) with QEMU's subsystem IDs (1af4:1100), which is how
 *            SeaBIOS knows it runs on QEMU's PC; its PAM registers 0x59-0x5f
 *            (82441FX datasheet §3.2.18) hold what the firmware writes
 *   00:1d.0  a PIIX3 PCI-to-ISA bridge (8086:7000) with the PIRQ route
 *            registers 0x60-0x63 (82371SB datasheet §2.2.11)
 *   ROM      the firmware image, read-only, ending at 4 GiB, where the
 *            reset vector (0xfffffff0) lies
 *
 * Simplifications, each harmless to SeaBIOS: 0xc0000-0xfffff is RAM
 * whatever PAM says (vx86 backs it with RAM always, vm/mem.h), so the
 * "read-only" shadow the firmware asks for at the end stays writable; the
 * loader (boot/firmware.c) puts the image's last 128 KiB there at reset, as
 * the PAM's reset state would read the ROM. The PIRQ registers route
 * nothing: PCI INTx lines reach the IOAPIC's GSIs 16-23 as hw/pci.h says and
 * the DSDT's _PRT tells an ACPI OS; the interrupt line numbers the firmware
 * writes for a PIC-mode OS are not delivered (a BIOS's own drivers poll).
 */
#ifndef VX86_HW_I440FX_H
#define VX86_HW_I440FX_H

#include <stdint.h>

#include "hw/bus.h"
#include "hw/pci.h"
#include "vm/mem.h"

#define I440FX_VENDOR    0x8086
#define I440FX_DEVICE    0x1237
#define PIIX3_ISA_DEVICE 0x7000
#define PIIX3_SLOT       29 /* clear of virtio (1 up), edu (30), pci-testdev (31) */
#define I440FX_PAM0      0x59
#define I440FX_PAM_COUNT 7
#define PIIX3_PIRQ_ROUTE 0x60 /* PIRQA-D at 0x60-0x63 */
#define PIIX3_PIRQ_OFF   0x80 /* bit 7: the PIRQ is not routed */
#define I440FX_ROM_MAX   (16ULL << 20)

struct i440fx {
    struct pci_device isa; /* the PIIX3 function */
    const uint8_t *rom;    /* the firmware image; the caller keeps it */
    uint64_t rom_size;
};

/*
 * Gives pci's host bridge the i440FX identity, registers the PIIX3 at
 * PIIX3_SLOT and the ROM of rom_size bytes (a multiple of 4 KiB, at most
 * I440FX_ROM_MAX) at 4 GiB - rom_size on mmio, and records it as mem->rom
 * for engines that map it (the kvm engine: a read-only memory slot). Only
 * before vCPUs run. Returns 0 or -errno (-EEXIST: an address is taken).
 */
__attribute__((warn_unused_result)) int i440fx_init(struct i440fx *c, struct pci *pci,
                                                    struct bus *mmio, struct guest_mem *mem,
                                                    const uint8_t *rom, uint64_t rom_size);

#endif
