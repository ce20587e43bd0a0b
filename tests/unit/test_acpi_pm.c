/* The ACPI PM1 registers and the 0xCF9 reset control (hw/acpi_pm.h) as a
 * guest drives them through the port bus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hw/acpi_pm.h"
#include "hw/bus.h"
#include "vm/board.h"

struct fixture {
    struct bus pio;
    struct acpi_pm pm;
    int poweroffs, resets, sleeps, wakes;
};

static void event(void *opaque, enum acpi_pm_event ev)
{
    struct fixture *f = opaque;

    switch (ev) {
    case ACPI_PM_POWEROFF:
        f->poweroffs++;
        break;
    case ACPI_PM_RESET:
        f->resets++;
        break;
    case ACPI_PM_SLEEP:
        f->sleeps++;
        break;
    case ACPI_PM_WAKE:
        f->wakes++;
        break;
    }
}

static int setup(void **state)
{
    static struct fixture f;
    struct bus_range reset;

    f = (struct fixture){0};
    bus_init(&f.pio, "pio");
    if (acpi_pm_init(&f.pm, &f.pio, event, &f))
        return -1;
    /* Without PCI, as the header allows; test_pci.c reaches it through the
     * PCI host. */
    reset = acpi_pm_reset_range(&f.pm);
    if (bus_register(&f.pio, &reset))
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    acpi_pm_destroy(&f->pm);
    bus_destroy(&f->pio);
    return 0;
}

static uint64_t fake_ns;

static uint64_t fake_clock(void)
{
    return fake_ns;
}

/* PM_TMR counts 3579545 Hz from the clock, all 32 bits, read-only, at any
 * width. */
static void test_pm_timer(void **state)
{
    static const struct {
        uint64_t ns;
        uint32_t ticks;
    } vectors[] = {
        {0, 0},
        {1000, 3},                      /* 3.58 ticks */
        {1000000000, 3579545},          /* one second */
        {1000000280, 3579546},          /* a tick is 279.37 ns */
        {1200ULL * 1000000000, 486704}, /* 2^32 ticks wrap at 1199.86 s */
        {3600ULL * 1000000000, (uint32_t)(3600ULL * 3579545)},
    };
    struct fixture *f = *state;

    f->pm.clock_ns = fake_clock;
    for (unsigned i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        fake_ns = vectors[i].ns;
        assert_int_equal(bus_read(&f->pio, ACPI_PM_TMR_PORT, 4), vectors[i].ticks);
    }
    fake_ns = 1000000000;
    assert_int_equal(bus_read(&f->pio, ACPI_PM_TMR_PORT, 2), 3579545 & 0xffff);
    assert_int_equal(bus_read(&f->pio, ACPI_PM_TMR_PORT + 2, 1), (3579545 >> 16) & 0xff);
    bus_write(&f->pio, ACPI_PM_TMR_PORT, 4, 0);
    assert_int_equal(bus_read(&f->pio, ACPI_PM_TMR_PORT, 4), 3579545);
}

#define SLP(typ) (((typ) << PM1_CNT_SLP_SHIFT) | PM1_CNT_SLP_EN)

/* What ACPICA's acpi_hw_legacy_sleep() does for S5: SLP_TYP alone, then
 * SLP_TYP with SLP_EN, in 16-bit writes. */
static void test_s5_powers_off(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(bus_read(&f->pio, ACPI_PM1_CNT_PORT, 2), PM1_CNT_SCI_EN);
    bus_write(&f->pio, ACPI_PM1_CNT_PORT, 2, ACPI_PM_SLP_TYP_S5 << PM1_CNT_SLP_SHIFT);
    assert_int_equal(f->poweroffs, 0);
    /* SLP_TYP reads back; SCI_EN stays set though written 0. */
    assert_int_equal(bus_read(&f->pio, ACPI_PM1_CNT_PORT, 2),
                     (ACPI_PM_SLP_TYP_S5 << PM1_CNT_SLP_SHIFT) | PM1_CNT_SCI_EN);
    bus_write(&f->pio, ACPI_PM1_CNT_PORT, 2, SLP(ACPI_PM_SLP_TYP_S5));
    assert_int_equal(f->poweroffs, 1);
    assert_int_equal(f->resets, 0);
    /* SLP_EN is write-only. */
    assert_int_equal(bus_read(&f->pio, ACPI_PM1_CNT_PORT, 2) & PM1_CNT_SLP_EN, 0);
}

/* The high byte alone carries SLP_TYP and SLP_EN. */
static void test_s5_by_byte_write(void **state)
{
    struct fixture *f = *state;

    bus_write(&f->pio, ACPI_PM1_CNT_PORT + 1, 1, SLP(ACPI_PM_SLP_TYP_S5) >> 8);
    assert_int_equal(f->poweroffs, 1);
}

static void test_other_sleep_types_are_ignored(void **state)
{
    struct fixture *f = *state;

    for (unsigned typ = 0; typ < 8; typ++)
        if (typ != ACPI_PM_SLP_TYP_S5 && typ != ACPI_PM_SLP_TYP_S3)
            bus_write(&f->pio, ACPI_PM1_CNT_PORT, 2, SLP(typ));
    bus_write(&f->pio, ACPI_PM1_CNT_PORT, 1, 0xff); /* low byte: no SLP_EN */
    assert_int_equal(f->poweroffs + f->resets + f->sleeps, 0);
}

/* S3 as kvm-unit-tests' s3 and ACPICA enter it: RTC_EN, then SLP_TYP with
 * SLP_EN. Only the RTC alarm with RTC_EN wakes it: WAK_STS and RTC_STS. */
static void test_s3_sleeps_until_the_rtc_alarm(void **state)
{
    struct fixture *f = *state;

    /* An alarm while awake only sets RTC_STS. */
    assert_false(acpi_pm_wake_event(&f->pm, PM1_STS_RTC));
    assert_int_equal(bus_read(&f->pio, ACPI_PM1_EVT_PORT, 2), PM1_STS_RTC);
    bus_write(&f->pio, ACPI_PM1_EVT_PORT, 2, 0xffff);
    bus_write(&f->pio, ACPI_PM1_EVT_PORT + 2, 2, PM1_EN_RTC);
    assert_true(acpi_pm_wake_enabled(&f->pm, PM1_STS_RTC));
    bus_write(&f->pio, ACPI_PM1_CNT_PORT, 2, SLP(ACPI_PM_SLP_TYP_S3));
    assert_int_equal(f->sleeps, 1);
    /* Once asleep, another SLP_EN does not sleep again. */
    bus_write(&f->pio, ACPI_PM1_CNT_PORT, 2, SLP(ACPI_PM_SLP_TYP_S3));
    assert_int_equal(f->sleeps, 1);
    assert_true(acpi_pm_wake_event(&f->pm, PM1_STS_RTC));
    assert_int_equal(f->wakes, 1);
    assert_int_equal(bus_read(&f->pio, ACPI_PM1_EVT_PORT, 2), PM1_STS_WAK | PM1_STS_RTC);
    assert_false(acpi_pm_wake_event(&f->pm, PM1_STS_RTC)); /* awake already */
    assert_int_equal(f->wakes, 1);
    bus_write(&f->pio, ACPI_PM1_EVT_PORT, 2, PM1_STS_WAK | PM1_STS_RTC);
    assert_int_equal(bus_read(&f->pio, ACPI_PM1_EVT_PORT, 2), 0);

    /* Without RTC_EN the alarm does not wake it. */
    bus_write(&f->pio, ACPI_PM1_EVT_PORT + 2, 2, 0);
    assert_false(acpi_pm_wake_enabled(&f->pm, PM1_STS_RTC));
    bus_write(&f->pio, ACPI_PM1_CNT_PORT, 2, SLP(ACPI_PM_SLP_TYP_S3));
    assert_int_equal(f->sleeps, 2);
    assert_false(acpi_pm_wake_event(&f->pm, PM1_STS_RTC));
    assert_int_equal(f->wakes, 1);
    assert_int_equal(bus_read(&f->pio, ACPI_PM1_EVT_PORT, 2), PM1_STS_RTC);
    assert_int_equal(f->poweroffs + f->resets, 0);
}

static void test_event_block(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(bus_read(&f->pio, ACPI_PM1_EVT_PORT, 4), 0);
    /* Enable bits stick (PWRBTN_EN, RTC_EN); undefined ones do not. */
    bus_write(&f->pio, ACPI_PM1_EVT_PORT + 2, 2, 0xffff);
    assert_int_equal(bus_read(&f->pio, ACPI_PM1_EVT_PORT + 2, 2), 0x4721);
    bus_write(&f->pio, ACPI_PM1_EVT_PORT, 4, 0x0100ffff); /* clear status, PWRBTN_EN only */
    assert_int_equal(bus_read(&f->pio, ACPI_PM1_EVT_PORT, 4), 0x01000000);
    /* A byte in the middle of the block. */
    bus_write(&f->pio, ACPI_PM1_EVT_PORT + 3, 1, 0x04);
    assert_int_equal(bus_read(&f->pio, ACPI_PM1_EVT_PORT + 2, 2), 0x0400);
    assert_int_equal(f->poweroffs + f->resets, 0);
}

/* 0xCF9: RST_CPU (bit 2) resets, as the FADT's value 6 and Linux's
 * reboot=pci value 0x0e do; SYS_RST alone is only stored. */
static void test_reset_control(void **state)
{
    struct fixture *f = *state;

    bus_write(&f->pio, BOARD_RESET_PORT, 1, 0x02);
    assert_int_equal(bus_read(&f->pio, BOARD_RESET_PORT, 1), 0x02);
    assert_int_equal(f->resets, 0);
    bus_write(&f->pio, BOARD_RESET_PORT, 1, ACPI_RESET_VALUE);
    assert_int_equal(f->resets, 1);
    bus_write(&f->pio, BOARD_RESET_PORT, 1, 0x0e);
    assert_int_equal(f->resets, 2);
    /* Wider accesses at 0xCF8 are PCI configuration addresses, not resets. */
    bus_write(&f->pio, 0xcf8, 4, 0x80000600);
    assert_int_equal(f->resets, 2);
    assert_int_equal(f->poweroffs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pm_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s5_powers_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s5_by_byte_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_sleep_types_are_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s3_sleeps_until_the_rtc_alarm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_control, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
