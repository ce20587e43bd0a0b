/*
 * The ACPI fixed-hardware power management registers of a PC (ACPI 6.5
 * §4.8.3, "PM1 Event Grouping" and "PM1 Control Grouping"), at the ports the
 * FADT names (boot/acpi.c), and the PIIX/ICH reset control register at 0xCF9
 * that the FADT names as the reset register.
 *
 *   BOARD_ACPI_PM_PORT + 0  PM1a_STS  16 bits, write 1 to clear; only wake-ups
 *                     set them (acpi_pm_wake_event), and no SCI is raised
 *   BOARD_ACPI_PM_PORT + 2  PM1a_EN   16 bits
 *   BOARD_ACPI_PM_PORT + 4  PM1a_CNT  16 bits: SCI_EN reads 1 (the platform has no
 *                     legacy mode, FADT SMI_CMD = 0); SLP_EN with SLP_TYP =
 *                     ACPI_PM_SLP_TYP_S5 powers off, with
 *                     ACPI_PM_SLP_TYP_S3 puts the machine to sleep (S3,
 *                     suspend to RAM, §16.1.3) until a wake event; other
 *                     sleep types are not offered (the DSDT has \_S3 and
 *                     \_S5 only) and are ignored
 *   BOARD_ACPI_PM_PORT + 8  PM_TMR    the power management timer (§4.8.3.3): a
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
#include "vm/board.h"

#define ACPI_PM1_EVT_PORT BOARD_ACPI_PM_PORT
#define ACPI_PM1_EVT_LEN  4
#define ACPI_PM1_CNT_PORT (BOARD_ACPI_PM_PORT + 4)
#define ACPI_PM1_CNT_LEN  2
#define ACPI_PM_TMR_PORT  (BOARD_ACPI_PM_PORT + 8) /* where QEMU's PIIX4 has it */
#define ACPI_PM_TMR_LEN   4
#define ACPI_PM_TMR_HZ    3579545ULL
/* The SLP_TYP values the DSDT's \_S5 and \_S3 packages name; any 3-bit
 * value is valid. A non-zero S5 keeps a stray SLP_EN from powering off; S3
 * is QEMU's PIIX4 value, which kvm-unit-tests' s3 writes without reading
 * \_S3. */
#define ACPI_PM_SLP_TYP_S5 5
#define ACPI_PM_SLP_TYP_S3 1

#define ACPI_RESET_VALUE 0x06 /* SYS_RST | RST_CPU: a hard reset */

/* PM1 control register bits (ACPI 6.5 Table 4.16). */
#define PM1_CNT_SCI_EN    (1u << 0)
#define PM1_CNT_BM_RLD    (1u << 1)
#define PM1_CNT_GBL_RLS   (1u << 2)
#define PM1_CNT_SLP_TYP   (7u << 10)
#define PM1_CNT_SLP_EN    (1u << 13)
#define PM1_CNT_SLP_SHIFT 10

/* PM1 status and enable bits of the wake events (ACPI 6.5 Tables 4.13 and
 * 4.14). */
#define PM1_STS_RTC (1u << 10)
#define PM1_STS_WAK (1u << 15)
#define PM1_EN_RTC  (1u << 10)

/*
 * ACPI_PM_SLEEP: the guest entered S3; the machine must stop every vCPU,
 * RAM and devices kept, until a wake event. ACPI_PM_WAKE: a wake event
 * ended it (WAK_STS is set); the machine must resume the guest as firmware
 * does (at the FACS waking vector, §5.2.10).
 */
enum acpi_pm_event { ACPI_PM_POWEROFF, ACPI_PM_RESET, ACPI_PM_SLEEP, ACPI_PM_WAKE };

struct acpi_pm {
    pthread_mutex_t lock; /* the registers below; event() is called without it */
    uint16_t sts, en, cnt;
    uint8_t rcr; /* reset control: only SYS_RST (bit 1) is kept */
    bool asleep; /* in S3: from SLP_EN until a wake event */
    void (*event)(void *opaque, enum acpi_pm_event ev);
    void *opaque;
    uint64_t (*clock_ns)(void); /* PM_TMR's time base: CLOCK_MONOTONIC; replaceable for tests */
};

/* Registers the PM1 blocks and the PM timer on pio. event() runs on the vCPU thread that
 * wrote the register (ACPI_PM_WAKE: on acpi_pm_wake_event's caller's). Returns 0 or
 * -errno. */
int acpi_pm_init(struct acpi_pm *pm, struct bus *pio,
                 void (*event)(void *opaque, enum acpi_pm_event ev), void *opaque);

/* The reset control register as a 1-byte range at BOARD_RESET_PORT. It is
 * not registered by acpi_pm_init: 0xCF9 lies inside the dword of PCI's
 * CONFIG_ADDRESS, so the PCI host (hw/pci.h) owns the port and forwards
 * byte accesses; without PCI, the caller registers this range itself. */
struct bus_range acpi_pm_reset_range(struct acpi_pm *pm);

/*
 * A wake event's status bit sts (PM1_STS_RTC: the RTC alarm) goes up in
 * PM1_STS. If the machine sleeps in S3 and the event's enable bit is set
 * (Table 4.14: RTC_EN for RTC_STS), the machine wakes: WAK_STS goes up too
 * and event(ACPI_PM_WAKE) runs, on the caller's thread. Returns whether it
 * woke. Any thread.
 */
bool acpi_pm_wake_event(struct acpi_pm *pm, uint16_t sts);

/* Whether a wake event of status bit sts would wake the machine now, as
 * PM1_EN says. Any thread. */
bool acpi_pm_wake_enabled(struct acpi_pm *pm, uint16_t sts);

/* Safe on a zeroed struct or after a failed init. */
void acpi_pm_destroy(struct acpi_pm *pm);

#endif
