/* The IOAPIC (hw/irqchip/ioapic.c) through its MMIO window at 0xfec00000,
 * delivering to two LAPICs: registers, edge and level pins, Remote IRR and
 * EOI, masking, destinations, the IRQ0 override. 82093AA data sheet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "irqchip_fixture.h"

#define IOREGSEL 0xfec00000
#define IOWIN    0xfec00010
#define IOEOI    0xfec00040

#define RTE_LOGICAL (1u << 11)
#define RTE_REMOTE  (1u << 14)
#define RTE_LEVEL   (1u << 15)
#define RTE_MASKED  (1u << 16)
#define DM_LOWEST   (1u << 8)
#define DM_NMI      (4u << 8)

static int setup(void **state)
{
    struct fixture *f;
    int err = fixture_setup(state, 2);

    f = *state;
    /* As Linux with an IOAPIC: the 8259A masked, both APICs enabled. */
    pic_init_linux(f, 0xffff);
    lapic_mmio_write(f->c, 0, 0xf0, 0x1ff);
    lapic_mmio_write(f->c, 1, 0xf0, 0x1ff);
    return err;
}

static uint32_t ioapic_reg(struct fixture *f, uint32_t index)
{
    bus_write(&f->vm.mmio, IOREGSEL, 4, index);
    return (uint32_t)bus_read(&f->vm.mmio, IOWIN, 4);
}

static void set_ioapic_reg(struct fixture *f, uint32_t index, uint32_t v)
{
    bus_write(&f->vm.mmio, IOREGSEL, 4, index);
    bus_write(&f->vm.mmio, IOWIN, 4, v);
}

static void route(struct fixture *f, int pin, uint32_t low, uint8_t dest)
{
    set_ioapic_reg(f, 0x11 + 2 * pin, (uint32_t)dest << 24);
    set_ioapic_reg(f, 0x10 + 2 * pin, low);
}

static void lapic_eoi(struct fixture *f, int cpu)
{
    lapic_mmio_write(f->c, cpu, 0xb0, 0);
}

static void registers(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(ioapic_reg(f, 1), 0x00170020);
    set_ioapic_reg(f, 0, 0x05000000);
    assert_int_equal(ioapic_reg(f, 0), 0x05000000);
    assert_int_equal(ioapic_reg(f, 2), 0x05000000);
    bus_write(&f->vm.mmio, IOREGSEL, 4, 0x12);
    assert_int_equal(bus_read(&f->vm.mmio, IOREGSEL, 4), 0x12);
    /* Pins come up masked; Remote IRR and delivery status are read-only. */
    for (int pin = 0; pin < 24; pin++)
        assert_int_equal(ioapic_reg(f, 0x10 + 2 * pin), RTE_MASKED);
    set_ioapic_reg(f, 0x10, 0xffffffff);
    assert_int_equal(ioapic_reg(f, 0x10), 0x1afff);
    set_ioapic_reg(f, 0x11, 0xffffffff);
    assert_int_equal(ioapic_reg(f, 0x11), 0xff000000);
}

static void edge(void **state)
{
    struct fixture *f = *state;

    route(f, 4, 0x41, 0);
    f->woken = 0;
    irqchip_set_irq(f->c, 4, 1);
    assert_int_equal(f->woken, 1);
    assert_int_equal(irqchip_pending(f->c, 1, true), -1);
    assert_int_equal(take(f, 0), 0x41);
    /* Still high: no second edge. */
    lapic_eoi(f, 0);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    irqchip_set_irq(f->c, 4, 0);
    irqchip_set_irq(f->c, 4, 1);
    assert_int_equal(take(f, 0), 0x41);
    /* Physical destination 1. */
    route(f, 4, 0x42, 1);
    irqchip_set_irq(f->c, 4, 0);
    irqchip_set_irq(f->c, 4, 1);
    assert_int_equal(take(f, 1), 0x42);
}

static void masked_edge_is_lost(void **state)
{
    struct fixture *f = *state;

    route(f, 3, RTE_MASKED | 0x43, 0);
    irqchip_set_irq(f->c, 3, 1);
    route(f, 3, 0x43, 0);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
}

static void level_remote_irr(void **state)
{
    struct fixture *f = *state;

    route(f, 10, RTE_LEVEL | 0x52, 0);
    irqchip_set_irq(f->c, 10, 1);
    assert_int_equal(ioapic_reg(f, 0x10 + 20) & RTE_REMOTE, RTE_REMOTE);
    assert_int_equal(take(f, 0), 0x52);
    assert_int_equal(lapic_mmio_read(f->c, 0, 0x180 + 0x20), 1u << (0x52 - 64)); /* TMR */
    /* EOI with the line still asserted: delivered again. */
    lapic_eoi(f, 0);
    assert_int_equal(ioapic_reg(f, 0x10 + 20) & RTE_REMOTE, RTE_REMOTE);
    assert_int_equal(take(f, 0), 0x52);
    irqchip_set_irq(f->c, 10, 0);
    lapic_eoi(f, 0);
    assert_int_equal(ioapic_reg(f, 0x10 + 20) & RTE_REMOTE, 0);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
}

static void eoi_register(void **state)
{
    struct fixture *f = *state;

    /* Linux's directed EOI on version 0x20 IOAPICs. */
    route(f, 11, RTE_LEVEL | 0x53, 0);
    irqchip_set_irq(f->c, 11, 1);
    irqchip_set_irq(f->c, 11, 0);
    assert_int_equal(ioapic_reg(f, 0x10 + 22) & RTE_REMOTE, RTE_REMOTE);
    bus_write(&f->vm.mmio, IOEOI, 4, 0x53);
    assert_int_equal(ioapic_reg(f, 0x10 + 22) & RTE_REMOTE, 0);
    /* And the older way: a trip through edge mode. */
    irqchip_set_irq(f->c, 11, 1);
    irqchip_set_irq(f->c, 11, 0);
    assert_int_equal(ioapic_reg(f, 0x10 + 22) & RTE_REMOTE, RTE_REMOTE);
    route(f, 11, 0x53, 0);
    route(f, 11, RTE_LEVEL | 0x53, 0);
    assert_int_equal(ioapic_reg(f, 0x10 + 22) & RTE_REMOTE, 0);
}

static void unmask_asserted_level(void **state)
{
    struct fixture *f = *state;

    route(f, 16, RTE_MASKED | RTE_LEVEL | 0x60, 1);
    irqchip_set_irq(f->c, 16, 1);
    assert_int_equal(irqchip_pending(f->c, 1, true), -1);
    route(f, 16, RTE_LEVEL | 0x60, 1);
    assert_int_equal(take(f, 1), 0x60);
}

static void irq0_override(void **state)
{
    struct fixture *f = *state;

    route(f, 0, 0x50, 0);
    route(f, 2, 0x51, 0);
    irqchip_set_irq(f->c, 0, 1);
    assert_int_equal(take(f, 0), 0x51);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    irqchip_set_irq(f->c, 2, 1); /* the cascade is no device's line */
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
}

static void logical_destinations(void **state)
{
    struct fixture *f = *state;

    lapic_mmio_write(f->c, 0, 0xd0, 0x01000000);
    lapic_mmio_write(f->c, 1, 0xd0, 0x02000000);
    route(f, 5, RTE_LOGICAL | 0x45, 0x02);
    f->woken = 0;
    irqchip_set_irq(f->c, 5, 1);
    assert_int_equal(f->woken, 2);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    assert_int_equal(take(f, 1), 0x45);
    lapic_eoi(f, 1);

    /* Lowest priority among both: cpu 0 has the higher TPR. */
    lapic_mmio_write(f->c, 0, 0x80, 0x20);
    route(f, 6, RTE_LOGICAL | DM_LOWEST | 0x46, 0x03);
    irqchip_set_irq(f->c, 6, 1);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    assert_int_equal(take(f, 1), 0x46);
}

static void nmi(void **state)
{
    struct fixture *f = *state;

    route(f, 7, DM_NMI, 1);
    irqchip_set_irq(f->c, 7, 1);
    assert_int_equal(irqchip_take_nmi(f->c, 0), 0);
    assert_int_equal(irqchip_take_nmi(f->c, 1), 1);
    assert_int_equal(irqchip_take_nmi(f->c, 1), 0);
    /* Two NMIs before the CPU takes one are both kept; a third collapses. */
    for (int i = 0; i < 3; i++) {
        irqchip_set_irq(f->c, 7, 0);
        irqchip_set_irq(f->c, 7, 1);
    }
    assert_int_equal(irqchip_take_nmi(f->c, 1), 2);
    assert_int_equal(irqchip_take_nmi(f->c, 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(registers, setup, teardown),
        cmocka_unit_test_setup_teardown(edge, setup, teardown),
        cmocka_unit_test_setup_teardown(masked_edge_is_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(level_remote_irr, setup, teardown),
        cmocka_unit_test_setup_teardown(eoi_register, setup, teardown),
        cmocka_unit_test_setup_teardown(unmask_asserted_level, setup, teardown),
        cmocka_unit_test_setup_teardown(irq0_override, setup, teardown),
        cmocka_unit_test_setup_teardown(logical_destinations, setup, teardown),
        cmocka_unit_test_setup_teardown(nmi, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
