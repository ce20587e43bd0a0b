/*
 * The PC platform's devices, created together for a VM: COM1, debug-exit,
 * i8042, POST port, boot timer, CMOS RTC, ACPI power management (PM1
 * blocks, PM timer) and reset control, System Control Port A (0x92),
 * QEMU's fw_cfg, the PCI host bridge, and with --testdev QEMU's test
 * devices for kvm-unit-tests (pc_testdev.h, pci_testdev.h), with --iommu
 * an Intel VT-d unit (iommu/vtd.h), with --device edu QEMU's edu, and for a
 * boot through firmware the i440FX identity, PIIX3 and BIOS ROM of
 * i440fx.h with the fw_cfg files SeaBIOS reads. The interrupt
 * controllers and PIT come from the engine (KVM's in-kernel irqchip for kvm).
 */
#ifndef VX86_HW_PC_H
#define VX86_HW_PC_H

#include "hw/acpi_pm.h"
#include "hw/boot_timer.h"
#include "hw/debug_exit.h"
#include "hw/edu.h"
#include "hw/fw_cfg.h"
#include "hw/i440fx.h"
#include "hw/i8042.h"
#include "hw/iommu/vtd.h"
#include "hw/pc_testdev.h"
#include "hw/pci.h"
#include "hw/pci_testdev.h"
#include "hw/port92.h"
#include "hw/post.h"
#include "hw/rtc.h"
#include "hw/serial.h"
#include "vm/vm.h"

struct pc {
    struct serial *com1;
    struct debug_exit debug_exit;
    struct i8042 i8042;
    struct post post;
    struct boot_timer boot_timer;
    struct rtc rtc;
    struct acpi_pm acpi_pm;
    struct fw_cfg fw_cfg;
    struct pci pci;
    struct port92 port92;
    struct pc_testdev testdev; /* these two zeroed without --testdev */
    struct pci_testdev pci_testdev;
    struct vtd vtd; /* zeroed without --iommu */
    struct edu edu; /* zeroed without --device edu */
    struct i440fx i440fx; /* zeroed unless booting through firmware */
};

/* Creates vm->pc and registers its devices; prints one line on failure. */
int pc_init(struct vm *vm);

/* For a boot through firmware, once the virtio devices are on PCI: gives
 * the firmware fw_cfg's "bootorder" of vm's disks (boot/firmware.h).
 * Returns 0 or -errno after printing one line. */
int pc_boot_order(struct vm *vm);

/* PCI INTx line gsi changed level: with firmware's chipset, its PIRQ's
 * ISA IRQ follows (hw/i440fx.h). From vm_irq_set, any thread. */
void pc_pci_intx(struct vm *vm, uint32_t gsi, int level);

/* Safe when pc_init failed or never ran. */
void pc_destroy(struct vm *vm);

#endif
