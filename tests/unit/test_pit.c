/* The 8254 PIT (hw/irqchip/pit.c) through ports 0x40-0x43 and 0x61, on a
 * fake clock: counting, latches, read-back, the access modes, channel 2's
 * gate, and channel 0's IRQ0 through the 8259A. Intel 82C54 data sheet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hw/irqchip/pit.h"
#include "irqchip_fixture.h"

#define CW       0x43
#define RB_CH0   0xe2 /* read-back, status only, counter 0 */
#define RB_BOTH0 0xc2 /* read-back, count and status, counter 0 */

/* The first time at which clocks PIT clocks have passed since t. */
static uint64_t at(uint64_t t, uint64_t clocks)
{
    return t + (clocks * 1000000000ull + PIT_HZ - 1) / PIT_HZ;
}

static int setup(void **state)
{
    int err = fixture_setup(state, 2);

    pic_init_linux(*state, 0xfffe); /* IRQ0 only */
    return err;
}

static void load(struct fixture *f, int ch, uint16_t count)
{
    outb(f, 0x40 + ch, count & 0xff);
    outb(f, 0x40 + ch, count >> 8);
}

static uint16_t read16(struct fixture *f, int ch)
{
    uint8_t lo = inb(f, 0x40 + ch);

    return (uint16_t)(lo | inb(f, 0x40 + ch) << 8);
}

static uint8_t status0(struct fixture *f)
{
    outb(f, CW, RB_CH0);
    return inb(f, 0x40);
}

static void eoi(struct fixture *f)
{
    outb(f, 0x20, 0x20);
}

static void mode2_periodic(void **state)
{
    struct fixture *f = *state;

    outb(f, CW, 0x34); /* Linux's periodic clockevent: counter 0, LSB/MSB, mode 2 */
    load(f, 0, 1193);
    assert_int_equal(irqchip_next_deadline(f->c, 0), at(T0, 1193));
    assert_true(irqchip_next_deadline(f->c, 1) == UINT64_MAX); /* cpu 0 services the PIT */

    fake_now = at(T0, 1193) - 1;
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    fake_now = at(T0, 1193);
    assert_int_equal(take(f, 0), 0x30);
    eoi(f);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    assert_int_equal(irqchip_next_deadline(f->c, 0), at(T0, 2 * 1193));

    /* Three periods missed: one interrupt. */
    fake_now = at(T0, 5 * 1193) + 10;
    assert_int_equal(take(f, 0), 0x30);
    eoi(f);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    assert_int_equal(irqchip_next_deadline(f->c, 0), at(T0, 6 * 1193));

    /* The timer is serviced with IF clear too; the request waits in IRR. */
    fake_now = at(T0, 6 * 1193);
    assert_int_equal(irqchip_pending(f->c, 0, false), -1);
    assert_int_equal(inb(f, 0x20), 0x01);
}

static void count_and_latch(void **state)
{
    struct fixture *f = *state;

    outb(f, CW, 0x34);
    load(f, 0, 1000);
    fake_now = at(T0, 250);
    assert_int_equal(read16(f, 0), 750);
    outb(f, CW, 0x00); /* counter latch command */
    fake_now = at(T0, 400);
    assert_int_equal(read16(f, 0), 750);
    assert_int_equal(read16(f, 0), 600);
    fake_now = at(T0, 1250); /* reloaded at 1000 */
    assert_int_equal(read16(f, 0), 750);
}

static void read_back(void **state)
{
    struct fixture *f = *state;

    outb(f, CW, 0x34);
    /* OUT high, null count, LSB/MSB, mode 2, binary. */
    assert_int_equal(status0(f), 0xf4);
    load(f, 0, 1000);
    assert_int_equal(status0(f), 0xb4);
    fake_now = at(T0, 999); /* the one clock OUT is low in mode 2 */
    assert_int_equal(status0(f), 0x34);
    fake_now = at(T0, 1100);
    outb(f, CW, RB_BOTH0);
    assert_int_equal(inb(f, 0x40), 0xb4); /* status comes first */
    assert_int_equal(read16(f, 0), 900);
}

static void channel2_gate(void **state)
{
    struct fixture *f = *state;
    uint64_t t;

    /* As Linux's pit_calibrate_tsc: gate on, speaker off, mode 0. */
    outb(f, 0x61, (inb(f, 0x61) & ~0x02) | 0x01);
    outb(f, CW, 0xb0);
    load(f, 2, 100);
    assert_int_equal(inb(f, 0x61) & 0x20, 0);
    fake_now = at(T0, 99);
    assert_int_equal(inb(f, 0x61) & 0x20, 0);
    fake_now = at(T0, 100);
    assert_int_equal(inb(f, 0x61) & 0x20, 0x20);
    assert_int_equal(inb(f, 0x61) & 0x0f, 0x01);

    /* Gate low pauses mode 0. */
    t = fake_now;
    load(f, 2, 100);
    assert_int_equal(inb(f, 0x61) & 0x20, 0);
    fake_now = at(t, 50);
    outb(f, 0x61, 0x00);
    fake_now += 1000000;
    outb(f, CW, 0x80);
    assert_int_equal(read16(f, 2), 50);
    assert_int_equal(inb(f, 0x61) & 0x20, 0);
    t = fake_now;
    outb(f, 0x61, 0x01);
    fake_now = at(t, 50);
    assert_int_equal(inb(f, 0x61) & 0x20, 0x20);
}

static void lsb_msb_bcd(void **state)
{
    struct fixture *f = *state;
    uint64_t t;

    outb(f, CW, 0x51); /* counter 1, LSB only, mode 0, BCD */
    outb(f, 0x41, 0x99);
    fake_now = at(T0, 10);
    assert_int_equal(inb(f, 0x41), 0x89);
    assert_int_equal(inb(f, 0x41), 0x89);

    t = fake_now;
    outb(f, CW, 0x64); /* counter 1, MSB only, mode 2, binary */
    outb(f, 0x41, 0x10);
    fake_now = at(t, 0x100);
    assert_int_equal(inb(f, 0x41), 0x0f);
}

static void mode4_oneshot(void **state)
{
    struct fixture *f = *state;

    outb(f, CW, 0x38); /* Linux's one-shot clockevent: mode 4 */
    load(f, 0, 100);
    /* OUT pulses low at terminal count; IRQ0 rises one clock later. */
    assert_int_equal(irqchip_next_deadline(f->c, 0), at(T0, 101));
    fake_now = at(T0, 101) - 1;
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    fake_now = at(T0, 101);
    assert_int_equal(take(f, 0), 0x30);
    eoi(f);
    assert_true(irqchip_next_deadline(f->c, 0) == UINT64_MAX);
    fake_now = at(T0, 100000);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
}

static void mode0_reload(void **state)
{
    struct fixture *f = *state;
    uint64_t t;

    outb(f, CW, 0x30);
    load(f, 0, 50);
    fake_now = at(T0, 50);
    assert_int_equal(take(f, 0), 0x30);
    eoi(f);
    /* OUT stays high; a new count drops it and the next terminal count
     * is a new edge. */
    t = fake_now;
    load(f, 0, 50);
    assert_int_equal(status0(f) & 0x80, 0);
    fake_now = at(t, 50);
    assert_int_equal(take(f, 0), 0x30);
}

static void mode3_square_wave(void **state)
{
    struct fixture *f = *state;

    outb(f, CW, 0x36);
    load(f, 0, 1000);
    fake_now = at(T0, 100);
    assert_int_equal(read16(f, 0), 800); /* counts down by two */
    fake_now = at(T0, 499);
    assert_int_equal(status0(f) & 0x80, 0x80);
    fake_now = at(T0, 500);
    assert_int_equal(status0(f) & 0x80, 0);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    fake_now = at(T0, 1000);
    assert_int_equal(take(f, 0), 0x30);
}

static void refresh_toggles(void **state)
{
    struct fixture *f = *state;
    uint8_t a = inb(f, 0x61) & 0x10;

    fake_now += 15085;
    assert_int_equal(inb(f, 0x61) & 0x10, a ^ 0x10);
}

static void pit_through_ioapic(void **state)
{
    struct fixture *f = *state;

    /* IRQ0 reaches IOAPIC pin 2 (the MADT override), not pin 0. */
    outb(f, 0x21, 0xff);
    lapic_mmio_write(f->c, 0, 0xf0, 0x1ff);
    bus_write(&f->vm.mmio, 0xfec00000, 4, 0x14);
    bus_write(&f->vm.mmio, 0xfec00010, 4, 0x41);
    outb(f, CW, 0x34);
    load(f, 0, 1193);
    fake_now = at(T0, 1193);
    assert_int_equal(take(f, 0), 0x41);
}

/* --no-pit (QEMU's -machine pit=off): the PIT's ports stay off the bus, the
 * PICs' do not, and no timer deadline comes from it. */
static void no_pit(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    (void)state;
    assert_non_null(f);
    f->vm.cfg.no_pit = true;
    bus_init(&f->vm.pio, "pio");
    bus_init(&f->vm.mmio, "mmio");
    f->c = irqchip_create(&f->vm, 1, TSC_HZ, NULL, on_wake, f);
    assert_non_null(f->c);
    for (uint16_t port = 0x40; port <= 0x43; port++)
        assert_null(bus_find(&f->vm.pio, port));
    assert_null(bus_find(&f->vm.pio, 0x61));
    assert_non_null(bus_find(&f->vm.pio, 0x20));
    assert_int_equal(irqchip_next_deadline(f->c, 0), UINT64_MAX);
    teardown((void **)&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(mode2_periodic, setup, teardown),
        cmocka_unit_test_setup_teardown(count_and_latch, setup, teardown),
        cmocka_unit_test_setup_teardown(read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(channel2_gate, setup, teardown),
        cmocka_unit_test_setup_teardown(lsb_msb_bcd, setup, teardown),
        cmocka_unit_test_setup_teardown(mode4_oneshot, setup, teardown),
        cmocka_unit_test_setup_teardown(mode0_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(mode3_square_wave, setup, teardown),
        cmocka_unit_test_setup_teardown(refresh_toggles, setup, teardown),
        cmocka_unit_test_setup_teardown(pit_through_ioapic, setup, teardown),
        cmocka_unit_test(no_pit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
