/*
 * The ACPI fixed-hardware power management registers of a PC (ACPI 6.5
 * §4.8.3, "PM1 Event Grouping" and "PM1 Control Grouping"), at the ports the
 * FADT names (boot/acpi.c), and the PIIX/ICH reset control register at 0xCF9
 * that the FADT names as the reset register.
 *
 *   ACPI_PM_BASE + 0  PM1a_STS  16 bits, write 1 to clear (nothing sets them)
 *   ACPI_PM_BASE + 2  PM1a_EN   16 bits
 *   ACPI_PM_BASE + 4  PM1a_CNT  16 bits: SCI_EN reads 1 (the platform has no
 *                     legacy mode, FADT SMI_CMD = 0); SLP_EN with SLP_TYP =
 *                     ACPI_PM_SLP_TYP_S5 powers off; other sleep types are
 *                     not offered (the DSDT has only \_S5) and are ignored
 *   ACPI_PM_BASE + 8  PM_TMR    the power management timer (§4.8.3.3): a
 *                     free-running 32-bit count at 3.579545 MHz (the FADT
 *                     sets TMR_VAL_EXT), read-only; its overflow status
 *                     (TMR_STS) is never set, so it raises no SCI
 *   0xCF9             reset control: a write with bit 2 (RST_CPU) resets;
 *                     reached through the PCI host (hw/pci.h)
 *
 * Any value at any width is accepted; nothing the guest writes can do more
 * than power off or reset its own VM.
 */
#ifndef VX86_HW_ACPI_PM_H
#define VX86_HW_ACPI_PM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/bus.h"

/* QEMU's PIIX4 and ICH9 put the PM block at 0x600 too. */
#define ACPI_PM_BASE      0x600
#define ACPI_PM1_EVT_PORT ACPI_PM_BASE
#define ACPI_PM1_EVT_LEN  4
#define ACPI_PM1_CNT_PORT (ACPI_PM_BASE + 4)
#define ACPI_PM1_CNT_LEN  2
#define ACPI_PM_TMR_PORT  (ACPI_PM_BASE + 8) /* where QEMU's PIIX4 has it */
#define ACPI_PM_TMR_LEN   4
#define ACPI_PM_TMR_HZ    3579545ULL
#define ACPI_PM_SCI_IRQ   9
/* The SLP_TYP value the DSDT's \_S5 package names; any 3-bit value is
 * valid, a non-zero one keeps a stray SLP_EN from powering off. */
#define ACPI_PM_SLP_TYP_S5 5

#define ACPI_RESET_PORT  0xcf9
#define ACPI_RESET_VALUE 0x06 /* SYS_RST | RST_CPU: a hard reset */

/* PM1 control register bits (ACPI 6.5 Table 4.16). */
#define PM1_CNT_SCI_EN    (1u << 0)
#define PM1_CNT_BM_RLD    (1u << 1)
#define PM1_CNT_GBL_RLS   (1u << 2)
#define PM1_CNT_SLP_TYP   (7u << 10)
#define PM1_CNT_SLP_EN    (1u << 13)
#define PM1_CNT_SLP_SHIFT 10

enum acpi_pm_event { ACPI_PM_POWEROFF, ACPI_PM_RESET };

struct acpi_pm {
    pthread_mutex_t lock; /* the registers below; event() is called without it */
    uint16_t sts, en, cnt;
    uint8_t rcr; /* reset control: only SYS_RST (bit 1) is kept */
    void (*event)(void *opaque, enum acpi_pm_event ev);
    void *opaque;
    uint64_t (*clock_ns)(void); /* PM_TMR's time base: CLOCK_MONOTONIC; replaceable for tests */
};

/* Registers the PM1 blocks and the PM timer on pio. event() runs on the vCPU thread that
 * wrote the register. Returns 0 or -errno. */
int acpi_pm_init(struct acpi_pm *pm, struct bus *pio,
                 void (*event)(void *opaque, enum acpi_pm_event ev), void *opaque);

/* The reset control register as a 1-byte range at ACPI_RESET_PORT. It is
 * not registered by acpi_pm_init: 0xCF9 lies inside the dword of PCI's
 * CONFIG_ADDRESS, so the PCI host (hw/pci.h) owns the port and forwards
 * byte accesses; without PCI, the caller registers this range itself. */
struct bus_range acpi_pm_reset_range(struct acpi_pm *pm);

/* Safe on a zeroed struct or after a failed init. */
void acpi_pm_destroy(struct acpi_pm *pm);

#endif
