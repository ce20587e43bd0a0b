/*
 * What a PC BIOS written for QEMU's "pc" machine (SeaBIOS) needs of the
 * chipset, present only when vx86 boots through firmware (--firmware, or
 * --disk without --kernel):
 *
 *   00:00.0  the host bridge takes the i440FX's identity (Intel 82441FX,
 *            8086:1237) with QEMU's subsystem IDs (1af4:1100), which is how
 *            SeaBIOS knows it runs on QEMU's PC; its PAM registers 0x59-0x5f
 *            (82441FX datasheet §3.2.18) hold what the firmware writes
 *   00:01.0  a PIIX3 PCI-to-ISA bridge (8086:7000), where QEMU's PC has it
 *            and SeaBIOS's $PIR table says the interrupt router is, with the
 *            PIRQ route registers 0x60-0x63 (82371SB datasheet §2.2.11)
 *   ROM      the firmware image, read-only, ending at 4 GiB, where the
 *            reset vector (0xfffffff0) lies
 *
 * Simplifications, each harmless to SeaBIOS: 0xc0000-0xfffff is RAM
 * whatever PAM says (vx86 backs it with RAM always, vm/mem.h), so the
 * "read-only" shadow the firmware asks for at the end stays writable; the
 * loader (boot/firmware.c) puts the image's last 128 KiB there at reset, as
 * the PAM's reset state would read the ROM.
 *
 * Interrupts: a PCI INTx line reaches the IOAPIC's GSIs 16-23 as hw/pci.h
 * says and the DSDT's _PRT tells an ACPI OS, and, as on a PC, the ISA IRQ
 * its PIRQ register names as well (the PIC's and the IOAPIC's pin of that
 * number), for an OS that routes PCI interrupts through the PIC with the
 * $PIR table or the interrupt line registers the BIOS wrote. GSI 16 + k
 * is PIRQ k % 4: the slot rotation of pci_intx_gsi taken modulo 4 is the
 * PIIX's, (slot - 1 + pin) % 4, which QEMU and SeaBIOS's tables use. A
 * PIRQ register routes when bit 7 is clear and bits 3:0 name IRQ 3-7, 9-12,
 * 14 or 15; the datasheet's reserved values (0-2, 8, 13) route nothing.
 * The ISA IRQ's level is the OR of the PIRQs routed to it; a route that
 * changes while a line is asserted moves the level with it.
 */
#ifndef VX86_HW_I440FX_H
#define VX86_HW_I440FX_H

#include <pthread.h>
#include <stdint.h>

#include "hw/bus.h"
#include "hw/pci.h"
#include "vm/mem.h"

#define I440FX_VENDOR    0x8086
#define I440FX_DEVICE    0x1237
#define PIIX3_ISA_DEVICE 0x7000
#define I440FX_PAM0      0x59
#define I440FX_PAM_COUNT 7
#define PIIX3_PIRQ_ROUTE 0x60 /* PIRQA-D at 0x60-0x63 */
#define PIIX3_PIRQ_OFF   0x80 /* bit 7: the PIRQ is not routed */

#define PIIX3_PIRQS 4

/* Drives ISA IRQ irq (0-15) to level; called with the i440fx's lock held. */
typedef void i440fx_irq_fn(void *opaque, unsigned irq, int level);

struct i440fx {
    struct pci_device isa; /* the PIIX3 function */
    const uint8_t *rom;    /* the firmware image; the caller keeps it */
    uint64_t rom_size;
    i440fx_irq_fn *irq;
    void *opaque;
    pthread_mutex_t lock;       /* the three below; taken inside pci->lock */
    uint8_t route[PIIX3_PIRQS]; /* the PIRQ registers as last written */
    uint8_t intx;               /* bit k: GSI BOARD_PCI_INTX_GSI + k asserted */
    uint16_t isa_level;         /* bit n: the PIRQs drive ISA IRQ n */
};

/*
 * Gives pci's host bridge the i440FX identity, registers the PIIX3 at
 * BOARD_PIIX3_SLOT and the ROM of rom_size bytes (a multiple of 4 KiB, at most
 * BOARD_ROM_MAX) at 4 GiB - rom_size on mmio, and records it as mem->rom
 * for engines that map it (the kvm engine: a read-only memory slot). The
 * PIRQ router drives ISA IRQs through irq(opaque, ...). Only before vCPUs
 * run. Returns 0 or -errno (-EEXIST: an address is taken).
 */
__attribute__((warn_unused_result)) int i440fx_init(struct i440fx *c, struct pci *pci,
                                                    struct bus *mmio, struct guest_mem *mem,
                                                    const uint8_t *rom, uint64_t rom_size,
                                                    i440fx_irq_fn *irq, void *opaque);

/* PCI INTx line gsi (BOARD_PCI_INTX_GSI up, others ignored) is now at
 * level: drives the ISA IRQ its PIRQ is routed to. Any thread. */
void i440fx_pci_intx(struct i440fx *c, unsigned gsi, int level);

/* Safe on a zeroed struct (no firmware boot) or after a failed init. */
void i440fx_destroy(struct i440fx *c);

#endif
