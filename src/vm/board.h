/*
 * The board: where vx86's PC puts each device in guest-physical memory and
 * in I/O space, and which interrupt line each one drives. The one place
 * these numbers are defined; the ACPI and MP tables (boot/), fw_cfg and the
 * e820 map, and the code that creates the devices (hw/pc.c, virtio/,
 * the engines' interrupt controllers) read them here. Pure constants, no
 * includes: any layer may include it.
 *
 * What a device's registers mean within its range stays with the device
 * (hw/serial.h's register offsets, hw/pci.h's CONFIG_ADDRESS bits); RAM's
 * own layout (the hole below 4 GiB, MEM_HOLE_START) is vm/mem.h's, and
 * the boot structures in RAM are boot/layout.h's.
 *
 * Guest-physical memory map, the hole below 4 GiB (vm/mem.h) from the
 * bottom; the DSDT's _CRS and the e820 map describe the same:
 *
 *   0xc0000000  PCI memory window for 32-bit BARs, 256 MiB
 *   0xd0000000  boot timer (MMIO side)
 *   0xd0100000  virtio-mmio windows, 4 KiB each
 *   0xe0000000  PCIe ECAM, bus 0 (1 MiB), 256 MiB-aligned as the MCFG wants
 *   0xfe000000  second PCI window, where a PC BIOS places BARs
 *   0xfec00000  IOAPIC
 *   0xfed90000  Intel VT-d remapping unit (--iommu)
 *   0xfee00000  local APICs (each vCPU's own)
 *   4 GiB - n   the firmware ROM (--firmware), up to 16 MiB
 */
#ifndef VX86_VM_BOARD_H
#define VX86_VM_BOARD_H

/* --- memory map --- */

#define BOARD_PCI_MEM32_BASE    0xc0000000ULL /* the DSDT's _CRS window */
#define BOARD_PCI_MEM32_SIZE    0x10000000ULL
#define BOARD_BOOT_TIMER_MMIO   0xd0000000ULL /* Firecracker's boot timer address */
#define BOARD_VIRTIO_MMIO_BASE  0xd0100000ULL
#define BOARD_VIRTIO_MMIO_SIZE  0x1000ULL
#define BOARD_VIRTIO_MMIO_SLOTS 7 /* one IOAPIC line each, BOARD_VIRTIO_MMIO_GSI up */
#define BOARD_PCI_ECAM_BASE     0xe0000000ULL
#define BOARD_PCI_ECAM_SIZE     0x100000ULL /* bus 0: 32 devices x 8 functions x 4 KiB */
/* SeaBIOS allocates BARs top-down from the IOAPIC; an OS that finds them
 * there moves them into the _CRS window above. */
#define BOARD_PCI_MEM32_HIGH_BASE 0xfe000000ULL
#define BOARD_PCI_MEM32_HIGH_SIZE 0x00c00000ULL
#define BOARD_IOAPIC_BASE         0xfec00000ULL /* the PC's (MP spec 1.4 §3.6.1) */
#define BOARD_VTD_BASE            0xfed90000ULL /* where QEMU's q35 puts its intel-iommu */
#define BOARD_LAPIC_BASE          0xfee00000ULL /* IA32_APIC_BASE's reset value (SDM 3A §11.4.4) */
#define BOARD_ROM_MAX             (16ULL << 20) /* ends at 4 GiB (the reset vector) */

/* --- I/O ports --- */

#define BOARD_PIT_PORT        0x40 /* 8254, 0x40-0x43 */
#define BOARD_PIC_MASTER_PORT 0x20 /* 8259A pair */
#define BOARD_PIC_SLAVE_PORT  0xa0
#define BOARD_PIC_ELCR_PORT   0x4d0 /* edge/level control, PIIX's 0x4d0-0x4d1 */
#define BOARD_I8042_DATA_PORT 0x60
#define BOARD_PORT61          0x61 /* NMI status and control: the PIT's timer 2 */
#define BOARD_I8042_CMD_PORT  0x64
#define BOARD_RTC_PORT        0x70 /* index, then data at 0x71 */
#define BOARD_POST_PORT       0x80
#define BOARD_PORT92          0x92 /* System Control Port A */
#define BOARD_DEBUG_EXIT_PORT 0xf4 /* QEMU's isa-debug-exit default */
#define BOARD_COM1_PORT       0x3f8
#define BOARD_BOOT_TIMER_PORT 0x440
#define BOARD_FW_CFG_PORT     0x510 /* QEMU's: selector, data at +1, DMA at +4 */
#define BOARD_ACPI_PM_PORT    0x600 /* PM1a event, PM1a control at +4, PM timer at +8 */
#define BOARD_RESET_PORT      0xcf9 /* reset control, in PCI's 0xcf8 dword */

/* --- interrupt lines (GSIs; ISA IRQ n is GSI n, but IRQ 0 on IOAPIC pin 2,
 * the MADT's and MP table's interrupt source override) --- */

#define BOARD_PIT_IRQ   0
#define BOARD_KBD_IRQ   1
#define BOARD_COM1_IRQ  4
#define BOARD_RTC_IRQ   8
#define BOARD_SCI_IRQ   9 /* the FADT's SCI_INT */
#define BOARD_MOUSE_IRQ 12
/* PCI INTx: the IOAPIC's pins 16-23, slot-rotated (hw/pci.h's
 * pci_intx_gsi; the DSDT's _PRT); level-triggered, shareable. */
#define BOARD_PCI_INTX_GSI  16
#define BOARD_PCI_INTX_GSIS 8
/* virtio-mmio window i drives GSI BOARD_VIRTIO_MMIO_GSI + i (the DSDT). */
#define BOARD_VIRTIO_MMIO_GSI 16

/* --- fixed PCI slots on bus 0; virtio-pci takes the free ones from 1 up --- */

#define BOARD_PIIX3_SLOT       1 /* firmware boot only; where QEMU's PC and SeaBIOS's $PIR have it */
#define BOARD_EDU_SLOT         30 /* --device edu */
#define BOARD_PCI_TESTDEV_SLOT 31 /* --testdev */

#endif
