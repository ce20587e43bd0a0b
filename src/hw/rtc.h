/*
 * The PC's CMOS real-time clock (Motorola MC146818A), ports 0x70 (index,
 * bit 7 masks NMI) and 0x71 (data): the host's wall-clock time in BCD or
 * binary, 24- or 12-hour format as register B says, plus 114 bytes of CMOS
 * RAM. The clock reads the host's time at each access; a guest's writes to
 * the time registers set an offset. The update cycle is modelled as the
 * guest sees it: once a second, at each whole second of the guest's clock,
 * the registers move on, and register A's UIP bit is set for the 244 us
 * before (data sheet, "Update Cycle"), while the divider runs (A bits 6:4 =
 * 010) and register B's SET bit is clear. Guests (kvm-unit-tests, Linux's
 * mach_get_cmos_time) wait for UIP to rise and fall to catch a second's
 * start.
 * The alarm (registers 1, 3 and 5; a value with bits 7:6 set matches any)
 * is kept for ACPI S3: rtc_next_alarm says when it next matches, and
 * rtc_alarm_ring sets its flags in register C when it does while the
 * machine sleeps (hw/acpi_pm.h). Not yet: the periodic, alarm and update
 * interrupts on IRQ 8 while the machine runs.
 */
#ifndef VX86_HW_RTC_H
#define VX86_HW_RTC_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "hw/bus.h"

/* CMOS RAM byte 0x0f, the shutdown status a PC BIOS reads at reset to tell
 * a power-on from a return (IBM PC AT Technical Reference; SeaBIOS's
 * handle_resume): 0xfe is QEMU's "resume from ACPI S3", which SeaBIOS
 * answers by jumping to the FACS's waking vector. */
#define RTC_SHUTDOWN_STATUS 0x0f
#define RTC_SHUTDOWN_S3     0xfe

struct rtc {
    pthread_mutex_t lock;
    uint8_t index;
    uint8_t cmos[128];      /* registers 0x0a-0x0d and the RAM */
    int64_t offset;         /* seconds the guest set the clock away from the host's */
    void (*now)(struct timespec *ts); /* the host's wall clock; replaceable for tests */
};

/* Registers ports 0x70-0x71; mem_size fills the CMOS memory-size bytes. */
__attribute__((warn_unused_result)) int rtc_init(struct rtc *rtc, struct bus *pio,
                                                 uint64_t mem_size);

/* The host's CLOCK_REALTIME time of the next update cycle after now at
 * which the time matches the alarm, within a day: 0 with *at set, or
 * -ENOENT when register B's AIE is clear or the alarm never matches. */
int rtc_next_alarm(struct rtc *rtc, struct timespec *at);

/* The alarm matched (at rtc_next_alarm's time): AF, and IRQF as AIE is
 * set, go up in register C. */
void rtc_alarm_ring(struct rtc *rtc);

/* Sets CMOS RAM byte index (0x0e-0x7f; others ignored) as a guest write
 * would: the platform's side of a byte the firmware reads. Any thread. */
void rtc_cmos_set(struct rtc *rtc, unsigned index, uint8_t value);

#endif
