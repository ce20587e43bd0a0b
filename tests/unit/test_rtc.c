/* The CMOS RTC (hw/rtc.h) as a guest reads and sets it through ports
 * 0x70/0x71, against a fixed host clock. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hw/bus.h"
#include "hw/rtc.h"
#include "vm/board.h"

/* 2026-11-25 14:07:09 UTC, a Wednesday */
#define FIXED_TIME 1795615629

static long fixed_nsec; /* the fraction of FIXED_TIME's second */

static void fixed_now(struct timespec *ts)
{
    ts->tv_sec = FIXED_TIME;
    ts->tv_nsec = fixed_nsec;
}

struct fixture {
    struct bus pio;
    struct rtc rtc;
};

static uint8_t cmos_read(struct fixture *f, uint8_t reg)
{
    bus_write(&f->pio, BOARD_RTC_PORT, 1, reg);
    return (uint8_t)bus_read(&f->pio, BOARD_RTC_PORT + 1, 1);
}

static void cmos_write(struct fixture *f, uint8_t reg, uint8_t v)
{
    bus_write(&f->pio, BOARD_RTC_PORT, 1, reg);
    bus_write(&f->pio, BOARD_RTC_PORT + 1, 1, v);
}

static int setup(void **state)
{
    static struct fixture f;

    bus_init(&f.pio, "pio");
    if (rtc_init(&f.rtc, &f.pio, 256ULL << 20))
        return -1;
    f.rtc.now = fixed_now;
    fixed_nsec = 0;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    bus_destroy(&f->pio);
    return 0;
}

static void test_bcd_24h(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(cmos_read(f, 0x00), 0x09); /* seconds */
    assert_int_equal(cmos_read(f, 0x02), 0x07);
    assert_int_equal(cmos_read(f, 0x04), 0x14);
    assert_int_equal(cmos_read(f, 0x06), 0x04); /* Wednesday: day 4 with Sunday 1 */
    assert_int_equal(cmos_read(f, 0x07), 0x25);
    assert_int_equal(cmos_read(f, 0x08), 0x11);
    assert_int_equal(cmos_read(f, 0x09), 0x26);
    assert_int_equal(cmos_read(f, 0x32), 0x20);
    assert_int_equal(cmos_read(f, 0x0a), 0x26); /* not updating */
    assert_int_equal(cmos_read(f, 0x0d), 0x80);     /* valid RAM and time */
}

/* UIP is set in the 244 us before each second's update, as the divider
 * runs and SET is clear; writes cannot set it. */
static void test_update_in_progress(void **state)
{
    static const struct {
        long nsec;
        uint8_t a;
    } vectors[] = {
        {0, 0x26},
        {500000000, 0x26},
        {999755999, 0x26},
        {999756000, 0xa6},
        {999999999, 0xa6},
    };
    struct fixture *f = *state;

    for (unsigned i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        fixed_nsec = vectors[i].nsec;
        assert_int_equal(cmos_read(f, 0x0a), vectors[i].a);
    }
    cmos_write(f, 0x0a, 0xa6);
    fixed_nsec = 0;
    assert_int_equal(cmos_read(f, 0x0a), 0x26);
    /* SET stops updates; so does a stopped divider. */
    fixed_nsec = 999900000;
    cmos_write(f, 0x0b, 0x82);
    assert_int_equal(cmos_read(f, 0x0a), 0x26);
    cmos_write(f, 0x0b, 0x02);
    assert_int_equal(cmos_read(f, 0x0a), 0xa6);
    cmos_write(f, 0x0a, 0x76);
    assert_int_equal(cmos_read(f, 0x0a), 0x76);
    cmos_write(f, 0x0a, 0x26);
    fixed_nsec = 0;
}

static void test_binary_12h(void **state)
{
    struct fixture *f = *state;

    cmos_write(f, 0x0b, 0x04); /* binary, 12-hour */
    assert_int_equal(cmos_read(f, 0x04), 0x80 | 2); /* 2 PM */
    assert_int_equal(cmos_read(f, 0x07), 25);
    assert_int_equal(cmos_read(f, 0x09), 26);
    cmos_write(f, 0x0b, 0x02);
}

static void test_setting_the_clock_moves_it(void **state)
{
    struct fixture *f = *state;

    cmos_write(f, 0x04, 0x15); /* 15:xx */
    assert_int_equal(cmos_read(f, 0x04), 0x15);
    assert_int_equal(cmos_read(f, 0x02), 0x07);
    assert_int_equal(f->rtc.offset, 3600);
    cmos_write(f, 0x09, 0x27); /* a year later */
    assert_int_equal(cmos_read(f, 0x09), 0x27);
    f->rtc.offset = 0;
}

static void test_ram_and_memory_size(void **state)
{
    struct fixture *f = *state;

    cmos_write(f, 0x40, 0x5a);
    assert_int_equal(cmos_read(f, 0x40), 0x5a);
    cmos_write(f, 0x80 | 0x41, 0xa5); /* bit 7 of the index masks NMIs only */
    assert_int_equal(cmos_read(f, 0x41), 0xa5);
    /* KiB above 1 MiB saturate at 0xffff (as QEMU's); 240 MiB above 16 MiB
     * in 64 KiB blocks is 0x0f00. */
    assert_int_equal(cmos_read(f, 0x17) | cmos_read(f, 0x18) << 8, 0xffff);
    assert_int_equal(cmos_read(f, 0x34) | cmos_read(f, 0x35) << 8, 0x0f00);
    cmos_write(f, 0x0d, 0);
    assert_int_equal(cmos_read(f, 0x0d), 0x80); /* read-only */
    /* The platform's write of the shutdown status (an S3 suspend under
     * firmware) reads back as the guest's would; the clock's registers
     * are not RAM and stay as they are. */
    rtc_cmos_set(&f->rtc, RTC_SHUTDOWN_STATUS, RTC_SHUTDOWN_S3);
    assert_int_equal(cmos_read(f, 0x0f), 0xfe);
    rtc_cmos_set(&f->rtc, 0x0d, 0);
    rtc_cmos_set(&f->rtc, 0x80, 1);
    assert_int_equal(cmos_read(f, 0x0d), 0x80);
}

/* The alarm bytes against the time registers, in the guest's format, with
 * bits 7:6 set as "any"; the host time of the next match after now. */
static void test_alarm(void **state)
{
    struct fixture *f = *state;
    struct timespec at;

    assert_int_equal(rtc_next_alarm(&f->rtc, &at), -ENOENT); /* AIE clear */
    cmos_write(f, 0x01, 0xff);
    cmos_write(f, 0x03, 0xc0);
    cmos_write(f, 0x05, 0xc5);
    cmos_write(f, 0x0b, 0x22); /* AIE, BCD, 24-hour */
    assert_int_equal(rtc_next_alarm(&f->rtc, &at), 0);
    assert_int_equal(at.tv_sec, FIXED_TIME + 1); /* every second */
    assert_int_equal(at.tv_nsec, 0);
    cmos_write(f, 0x01, 0x30); /* at :30 of any minute */
    assert_int_equal(rtc_next_alarm(&f->rtc, &at), 0);
    assert_int_equal(at.tv_sec, FIXED_TIME + 21);
    cmos_write(f, 0x03, 0x05); /* 05:30 of any hour: 14:07:09 -> 15:05:30 */
    assert_int_equal(rtc_next_alarm(&f->rtc, &at), 0);
    assert_int_equal(at.tv_sec, FIXED_TIME + 3600 - 7 * 60 - 9 + 5 * 60 + 30);
    cmos_write(f, 0x05, 0x14); /* 14:05:30: tomorrow's */
    assert_int_equal(rtc_next_alarm(&f->rtc, &at), 0);
    assert_int_equal(at.tv_sec, FIXED_TIME + 86400 - 2 * 60 + 21);
    cmos_write(f, 0x05, 0x24); /* no such hour */
    assert_int_equal(rtc_next_alarm(&f->rtc, &at), -ENOENT);
    /* The guest's clock an hour ahead: 13:05:30 on the host. */
    cmos_write(f, 0x05, 0x14);
    f->rtc.offset = 3600;
    assert_int_equal(rtc_next_alarm(&f->rtc, &at), 0);
    assert_int_equal(at.tv_sec, FIXED_TIME + 86400 - 3600 - 2 * 60 + 21);
    f->rtc.offset = 0;

    assert_int_equal(cmos_read(f, 0x0c), 0);
    rtc_alarm_ring(&f->rtc);
    assert_int_equal(cmos_read(f, 0x0c), 0xa0); /* IRQF | AF */
    assert_int_equal(cmos_read(f, 0x0c), 0);    /* reading C clears it */
    cmos_write(f, 0x0b, 0x02);
    rtc_alarm_ring(&f->rtc);
    assert_int_equal(cmos_read(f, 0x0c), 0x20); /* AF alone without AIE */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bcd_24h),
        cmocka_unit_test(test_update_in_progress),
        cmocka_unit_test(test_binary_12h),
        cmocka_unit_test(test_setting_the_clock_moves_it),
        cmocka_unit_test(test_ram_and_memory_size),
        cmocka_unit_test(test_alarm),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
