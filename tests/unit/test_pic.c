/* The 8259A pair (hw/irqchip/pic.c) as a guest drives it through ports
 * 0x20/0x21, 0xa0/0xa1 and 0x4d0/0x4d1, with interrupts taken by vCPU 0
 * through its LAPIC's LINT0 in virtual-wire mode (the guest never touches
 * the APIC). Intel 8259A data sheet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "irqchip_fixture.h"

#define OCW2_EOI      0x20
#define OCW2_SEOI     0x60
#define OCW2_ROT_EOI  0xa0
#define OCW2_SETPRIO  0xc0
#define OCW3_READ_IRR 0x0a
#define OCW3_READ_ISR 0x0b
#define OCW3_POLL     0x0c
#define OCW3_SMM_ON   0x68
#define OCW3_SMM_OFF  0x48

static int setup(void **state)
{
    int err = fixture_setup(state, 2);

    pic_init_linux(*state, 0x0000);
    return err;
}

static uint8_t isr(struct fixture *f, uint16_t cmd)
{
    uint8_t v;

    outb(f, cmd, OCW3_READ_ISR);
    v = inb(f, cmd);
    outb(f, cmd, OCW3_READ_IRR);
    return v;
}

static void probe_imr(void **state)
{
    struct fixture *f = *state;

    /* Linux's probe_8259A: the mask register reads back what was written. */
    outb(f, 0x21, 0xff);
    assert_int_equal(inb(f, 0x21), 0xff);
    outb(f, 0x21, 0xfb);
    assert_int_equal(inb(f, 0x21), 0xfb);
    outb(f, 0xa1, 0x5a);
    assert_int_equal(inb(f, 0xa1), 0x5a);
}

static void irq_inta_eoi(void **state)
{
    struct fixture *f = *state;

    f->woken = 0;
    irqchip_set_irq(f->c, 1, 1);
    assert_int_equal(f->woken, 1); /* cpu 0 (virtual wire), not cpu 1 */
    assert_int_equal(inb(f, 0x20), 0x02);
    assert_int_equal(irqchip_pending(f->c, 0, false), -1);
    assert_int_equal(irqchip_pending(f->c, 1, true), -1);
    assert_int_equal(irqchip_pending(f->c, 0, true), 0x31);
    assert_int_equal(irqchip_ack(f->c, 0), 0x31);
    assert_int_equal(inb(f, 0x20), 0x00);
    assert_int_equal(isr(f, 0x20), 0x02);
    irqchip_set_irq(f->c, 1, 0);
    /* An edge request stays in service until the EOI, and no new one comes. */
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    outb(f, 0x20, OCW2_EOI);
    assert_int_equal(isr(f, 0x20), 0x00);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
}

static void priority_nesting(void **state)
{
    struct fixture *f = *state;

    irqchip_set_irq(f->c, 3, 1);
    assert_int_equal(take(f, 0), 0x33);
    irqchip_set_irq(f->c, 4, 1);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1); /* below IRQ3 in service */
    irqchip_set_irq(f->c, 0, 1);
    assert_int_equal(take(f, 0), 0x30); /* above it: nests */
    assert_int_equal(isr(f, 0x20), 0x09);
    outb(f, 0x20, OCW2_EOI); /* non-specific: the highest in service, IRQ0 */
    assert_int_equal(isr(f, 0x20), 0x08);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    outb(f, 0x20, OCW2_SEOI | 3);
    assert_int_equal(take(f, 0), 0x34);
}

static void mask_holds_request(void **state)
{
    struct fixture *f = *state;

    outb(f, 0x21, 0x40);
    irqchip_set_irq(f->c, 6, 1);
    assert_int_equal(inb(f, 0x20), 0x40);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    f->woken = 0;
    outb(f, 0x21, 0x00);
    assert_int_equal(f->woken, 1);
    assert_int_equal(take(f, 0), 0x36);
}

static void cascade(void **state)
{
    struct fixture *f = *state;

    irqchip_set_irq(f->c, 12, 1);
    assert_int_equal(irqchip_pending(f->c, 0, true), 0x3c);
    assert_int_equal(irqchip_ack(f->c, 0), 0x3c);
    assert_int_equal(isr(f, 0x20), 0x04);
    assert_int_equal(isr(f, 0xa0), 0x10);
    /* IRQ1 is above the cascade, IRQ9 below IRQ12 on the slave. */
    irqchip_set_irq(f->c, 9, 1);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    irqchip_set_irq(f->c, 1, 1);
    assert_int_equal(take(f, 0), 0x31);
    outb(f, 0x20, OCW2_EOI);
    outb(f, 0xa0, OCW2_EOI);
    outb(f, 0x20, OCW2_EOI);
    assert_int_equal(take(f, 0), 0x39);
    assert_int_equal(isr(f, 0xa0), 0x02);
}

static void spurious(void **state)
{
    struct fixture *f = *state;

    /* A level request withdrawn before INTA gives IR7, with no ISR bit. */
    outb(f, 0x4d0, 0x20);
    assert_int_equal(inb(f, 0x4d0), 0x20);
    irqchip_set_irq(f->c, 5, 1);
    assert_int_equal(irqchip_pending(f->c, 0, true), 0x35);
    irqchip_set_irq(f->c, 5, 0);
    assert_int_equal(irqchip_ack(f->c, 0), 0x37);
    assert_int_equal(isr(f, 0x20), 0x00);

    /* On the slave: IRQ15, with the master's IR2 in service. */
    outb(f, 0x4d1, 0x04);
    irqchip_set_irq(f->c, 10, 1);
    assert_int_equal(irqchip_pending(f->c, 0, true), 0x3a);
    irqchip_set_irq(f->c, 10, 0);
    assert_int_equal(irqchip_ack(f->c, 0), 0x3f);
    assert_int_equal(isr(f, 0xa0), 0x00);
    assert_int_equal(isr(f, 0x20), 0x04);
}

static void elcr(void **state)
{
    struct fixture *f = *state;

    /* IRQ0-2, 8 and 13 are edge only. */
    outb(f, 0x4d0, 0xff);
    outb(f, 0x4d1, 0xff);
    assert_int_equal(inb(f, 0x4d0), 0xf8);
    assert_int_equal(inb(f, 0x4d1), 0xde);

    /* A level line asks again after the EOI while it stays asserted. */
    irqchip_set_irq(f->c, 11, 1);
    assert_int_equal(take(f, 0), 0x3b);
    outb(f, 0xa0, OCW2_EOI);
    outb(f, 0x20, OCW2_EOI);
    assert_int_equal(take(f, 0), 0x3b);
    irqchip_set_irq(f->c, 11, 0);
    outb(f, 0xa0, OCW2_EOI);
    outb(f, 0x20, OCW2_EOI);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
}

static void auto_eoi(void **state)
{
    struct fixture *f = *state;

    outb(f, 0x20, 0x11);
    outb(f, 0x21, 0x30);
    outb(f, 0x21, 0x04);
    outb(f, 0x21, 0x03); /* uPM | AEOI */
    irqchip_set_irq(f->c, 3, 1);
    assert_int_equal(take(f, 0), 0x33);
    assert_int_equal(isr(f, 0x20), 0x00);
    irqchip_set_irq(f->c, 4, 1);
    assert_int_equal(take(f, 0), 0x34); /* nothing in service blocks it */
}

static void rotation(void **state)
{
    struct fixture *f = *state;

    irqchip_set_irq(f->c, 0, 1);
    assert_int_equal(take(f, 0), 0x30);
    outb(f, 0x20, OCW2_ROT_EOI); /* IRQ0 becomes the lowest priority */
    irqchip_set_irq(f->c, 0, 0);
    irqchip_set_irq(f->c, 0, 1);
    irqchip_set_irq(f->c, 5, 1);
    assert_int_equal(take(f, 0), 0x35);
    outb(f, 0x20, OCW2_EOI);
    assert_int_equal(take(f, 0), 0x30);
    outb(f, 0x20, OCW2_EOI);

    /* Set priority: IRQ4 lowest, so IRQ5 highest. */
    outb(f, 0x20, OCW2_SETPRIO | 4);
    irqchip_set_irq(f->c, 3, 1);
    irqchip_set_irq(f->c, 5, 0);
    irqchip_set_irq(f->c, 5, 1);
    assert_int_equal(take(f, 0), 0x35);
}

static void poll(void **state)
{
    struct fixture *f = *state;

    outb(f, 0x21, 0xff); /* polled systems mask the lines... */
    outb(f, 0x21, 0x00); /* ...or not; a poll works either way */
    outb(f, 0x20, OCW3_POLL);
    assert_int_equal(inb(f, 0x20), 0x00); /* nothing requested */
    irqchip_set_irq(f->c, 6, 1);
    outb(f, 0x20, OCW3_POLL);
    assert_int_equal(inb(f, 0x20), 0x86);
    assert_int_equal(isr(f, 0x20), 0x40);
    assert_int_equal(inb(f, 0x20), 0x00); /* IRR again */
}

static void special_mask(void **state)
{
    struct fixture *f = *state;

    irqchip_set_irq(f->c, 3, 1);
    assert_int_equal(take(f, 0), 0x33);
    irqchip_set_irq(f->c, 4, 1);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    outb(f, 0x21, 0x08);
    outb(f, 0x20, OCW3_SMM_ON);
    assert_int_equal(irqchip_pending(f->c, 0, true), 0x34);
    outb(f, 0x20, OCW3_SMM_OFF);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
}

static void icw1_resets_edge_sense(void **state)
{
    struct fixture *f = *state;

    irqchip_set_irq(f->c, 1, 1);
    pic_init_linux(f, 0x0000);
    /* A line still high must go low and high again (data sheet, ICW1). */
    assert_int_equal(inb(f, 0x20), 0x00);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    irqchip_set_irq(f->c, 1, 0);
    irqchip_set_irq(f->c, 1, 1);
    assert_int_equal(take(f, 0), 0x31);
}

static void no_lint0_no_pic(void **state)
{
    struct fixture *f = *state;

    /* Masking LINT0 cuts the 8259A off; disabling the APIC puts it back. */
    lapic_mmio_write(f->c, 0, 0x350, 0x10700);
    irqchip_set_irq(f->c, 1, 1);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    lapic_set_base(f->c, 0, 0xfee00000 | 0x100);
    assert_int_equal(irqchip_pending(f->c, 0, true), 0x31);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(probe_imr, setup, teardown),
        cmocka_unit_test_setup_teardown(irq_inta_eoi, setup, teardown),
        cmocka_unit_test_setup_teardown(priority_nesting, setup, teardown),
        cmocka_unit_test_setup_teardown(mask_holds_request, setup, teardown),
        cmocka_unit_test_setup_teardown(cascade, setup, teardown),
        cmocka_unit_test_setup_teardown(spurious, setup, teardown),
        cmocka_unit_test_setup_teardown(elcr, setup, teardown),
        cmocka_unit_test_setup_teardown(auto_eoi, setup, teardown),
        cmocka_unit_test_setup_teardown(rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(poll, setup, teardown),
        cmocka_unit_test_setup_teardown(special_mask, setup, teardown),
        cmocka_unit_test_setup_teardown(icw1_resets_edge_sense, setup, teardown),
        cmocka_unit_test_setup_teardown(no_lint0_no_pic, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
