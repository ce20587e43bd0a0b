/* Two local APICs (hw/irqchip/lapic.c) driven as their vCPUs would: the
 * xAPIC page and x2APIC MSRs, IPIs with every destination form, INIT and
 * SIPI, TPR/PPR, EOI, spurious interrupts, the timer in its three modes
 * on a fake clock. SDM Vol. 3A chapter 11. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "irqchip_fixture.h"

enum {
    ID = 0x20,
    LVR = 0x30,
    TPR = 0x80,
    PPR = 0xa0,
    EOI = 0xb0,
    LDR = 0xd0,
    DFR = 0xe0,
    SVR = 0xf0,
    ISR = 0x100,
    IRR = 0x200,
    ESR = 0x280,
    ICR = 0x300,
    ICR2 = 0x310,
    LVTT = 0x320,
    LVT0 = 0x350,
    LVT1 = 0x360,
    LVTERR = 0x370,
    TMICT = 0x380,
    TMCCT = 0x390,
    TDCR = 0x3e0,
};

#define ICR_SELF   (1u << 18)
#define ICR_ALL    (2u << 18)
#define ICR_OTHERS (3u << 18)
#define ICR_ASSERT 0x4000
#define ICR_LEVEL  0x8000
#define ICR_LOG    0x800
#define ICR_NMI    0x400
#define ICR_INIT   0x500
#define ICR_SIPI   0x600

#define APIC_EN  0x800
#define APIC_X2  0x400
#define APIC_BSP 0x100

static int setup(void **state)
{
    struct fixture *f;
    int err = fixture_setup(state, 2);

    f = *state;
    lapic_mmio_write(f->c, 0, SVR, 0x1ff);
    lapic_mmio_write(f->c, 1, SVR, 0x1ff);
    return err;
}

static uint32_t rd(struct fixture *f, int cpu, uint32_t reg)
{
    return lapic_mmio_read(f->c, cpu, reg);
}

static void wr(struct fixture *f, int cpu, uint32_t reg, uint32_t v)
{
    lapic_mmio_write(f->c, cpu, reg, v);
}

static void ipi(struct fixture *f, int from, uint8_t dest, uint32_t icr)
{
    wr(f, from, ICR2, (uint32_t)dest << 24);
    wr(f, from, ICR, icr);
}

static void reset_state(void **state)
{
    struct fixture *f;

    fixture_setup(state, 2);
    f = *state;
    assert_int_equal(rd(f, 0, ID), 0);
    assert_int_equal(rd(f, 1, ID), 1u << 24);
    assert_int_equal(rd(f, 1, LVR), 0x50014);
    assert_int_equal(rd(f, 1, SVR), 0xff);
    assert_int_equal(rd(f, 1, DFR), 0xffffffff);
    /* LINT0 of the BSP is in ExtINT mode (virtual wire), all else masked. */
    assert_int_equal(rd(f, 0, LVT0), 0x700);
    assert_int_equal(rd(f, 1, LVT0), 0x10000);
    assert_int_equal(rd(f, 0, LVTT), 0x10000);
    assert_int_equal(rd(f, 0, LVT1), 0x10000);
    /* Software-disabled: LVT writes stay masked. */
    wr(f, 1, LVTERR, 0xfe);
    assert_int_equal(rd(f, 1, LVTERR), 0x100fe);
    teardown(state);
}

static void fixed_ipis(void **state)
{
    struct fixture *f = *state;

    f->woken = 0;
    ipi(f, 0, 1, ICR_ASSERT | 0x40);
    assert_int_equal(f->woken & 2, 2);
    assert_int_equal(rd(f, 0, ICR), ICR_ASSERT | 0x40); /* delivery status idle */
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    assert_int_equal(irqchip_pending(f->c, 1, false), -1);
    assert_int_equal(irqchip_pending(f->c, 1, true), 0x40);
    assert_int_equal(irqchip_ack(f->c, 1), 0x40);
    assert_int_equal(rd(f, 1, ISR + 0x20), 1u << 0);
    wr(f, 1, EOI, 0);
    assert_int_equal(rd(f, 1, ISR + 0x20), 0);

    ipi(f, 0, 0, ICR_OTHERS | 0x41);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    assert_int_equal(take(f, 1), 0x41);
    ipi(f, 0, 0, ICR_SELF | 0x42);
    assert_int_equal(take(f, 0), 0x42);
    ipi(f, 1, 0, ICR_ALL | 0x43);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1); /* below 0x42 in service */
    wr(f, 0, EOI, 0);
    assert_int_equal(take(f, 0), 0x43);
    assert_int_equal(irqchip_pending(f->c, 1, true), -1); /* below 0x41 */
    wr(f, 1, EOI, 0);
    assert_int_equal(take(f, 1), 0x43);
}

static void logical_ipis(void **state)
{
    struct fixture *f = *state;

    /* Flat model. */
    wr(f, 0, LDR, 0x01000000);
    wr(f, 1, LDR, 0x02000000);
    assert_int_equal(rd(f, 1, LDR), 0x02000000);
    ipi(f, 0, 0x02, ICR_LOG | ICR_ASSERT | 0x50);
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    assert_int_equal(take(f, 1), 0x50);
    ipi(f, 0, 0x03, ICR_LOG | ICR_ASSERT | 0x60);
    assert_int_equal(take(f, 0), 0x60);
    assert_int_equal(take(f, 1), 0x60);

    /* Cluster model: cluster 1, members 1 and 2. */
    wr(f, 0, DFR, 0x0fffffff);
    wr(f, 1, DFR, 0x0fffffff);
    wr(f, 0, LDR, 0x11000000);
    wr(f, 1, LDR, 0x12000000);
    ipi(f, 0, 0x22, ICR_LOG | ICR_ASSERT | 0x70);
    assert_int_equal(irqchip_pending(f->c, 1, true), -1);
    ipi(f, 0, 0x12, ICR_LOG | ICR_ASSERT | 0x70);
    assert_int_equal(take(f, 1), 0x70);
}

static void init_sipi(void **state)
{
    struct fixture *f = *state;
    uint8_t vector = 0;

    wr(f, 1, TPR, 0x30);
    /* Linux's wakeup_secondary_cpu_via_init. */
    ipi(f, 0, 1, ICR_LEVEL | ICR_ASSERT | ICR_INIT);
    assert_int_equal(irqchip_take_startup(f->c, 0, &vector), 0);
    assert_int_equal(irqchip_take_startup(f->c, 1, &vector), IRQCHIP_INIT);
    assert_int_equal(rd(f, 1, TPR), 0);
    assert_int_equal(rd(f, 1, SVR), 0xff);
    assert_int_equal(rd(f, 1, ID), 1u << 24);
    ipi(f, 0, 1, ICR_LEVEL | ICR_INIT); /* de-assert: nothing */
    assert_int_equal(irqchip_take_startup(f->c, 1, &vector), 0);
    ipi(f, 0, 1, ICR_ASSERT | ICR_SIPI | 0x08);
    assert_int_equal(irqchip_take_startup(f->c, 1, &vector), IRQCHIP_SIPI);
    assert_int_equal(vector, 0x08);
    /* Running now: the second SIPI of the protocol is ignored. */
    ipi(f, 0, 1, ICR_ASSERT | ICR_SIPI | 0x08);
    assert_int_equal(irqchip_take_startup(f->c, 1, &vector), 0);
    /* The BSP is not waiting for SIPI. */
    ipi(f, 1, 0, ICR_ASSERT | ICR_SIPI | 0x09);
    assert_int_equal(irqchip_take_startup(f->c, 0, &vector), 0);
}

static void nmi_ipi(void **state)
{
    struct fixture *f = *state;

    ipi(f, 0, 1, ICR_ASSERT | ICR_NMI);
    assert_int_equal(irqchip_take_nmi(f->c, 0), 0);
    assert_int_equal(irqchip_take_nmi(f->c, 1), 1);
    assert_int_equal(irqchip_take_nmi(f->c, 1), 0);
}

static void tpr_ppr(void **state)
{
    struct fixture *f = *state;

    ipi(f, 1, 0, ICR_SELF | 0x45);
    ipi(f, 1, 0, ICR_SELF | 0x81);
    assert_int_equal(rd(f, 1, IRR + 0x20), 1u << 5);
    assert_int_equal(rd(f, 1, IRR + 0x40), 1u << 1);
    wr(f, 1, TPR, 0x50);
    assert_int_equal(lapic_get_cr8(f->c, 1), 5);
    assert_int_equal(take(f, 1), 0x81);
    assert_int_equal(rd(f, 1, PPR), 0x80);
    assert_int_equal(irqchip_pending(f->c, 1, true), -1);
    wr(f, 1, EOI, 0);
    assert_int_equal(rd(f, 1, PPR), 0x50);
    assert_int_equal(irqchip_pending(f->c, 1, true), -1);
    f->woken = 0;
    lapic_set_cr8(f->c, 1, 0);
    assert_int_equal(f->woken, 2);
    assert_int_equal(rd(f, 1, TPR), 0);
    assert_int_equal(take(f, 1), 0x45);
}

static void spurious(void **state)
{
    struct fixture *f = *state;

    wr(f, 1, SVR, 0x1ef);
    ipi(f, 0, 1, ICR_ASSERT | 0x61);
    assert_int_equal(irqchip_pending(f->c, 1, true), 0x61);
    lapic_set_cr8(f->c, 1, 7);
    assert_int_equal(irqchip_ack(f->c, 1), 0xef);
    assert_int_equal(rd(f, 1, ISR + 0x30), 0);
}

static void software_disabled(void **state)
{
    struct fixture *f = *state;

    wr(f, 1, SVR, 0xff);
    ipi(f, 0, 1, ICR_ASSERT | 0x62);
    assert_int_equal(irqchip_pending(f->c, 1, true), -1);
    ipi(f, 0, 1, ICR_ASSERT | ICR_NMI);
    assert_true(irqchip_take_nmi(f->c, 1));
}

static void esr(void **state)
{
    struct fixture *f = *state;

    ipi(f, 0, 1, ICR_ASSERT | 0x05);
    assert_int_equal(irqchip_pending(f->c, 1, true), -1);
    wr(f, 0, ESR, 0);
    assert_int_equal(rd(f, 0, ESR), 0x20); /* send illegal vector */
    wr(f, 0, ESR, 0);
    assert_int_equal(rd(f, 0, ESR), 0);
}

static void timer_oneshot(void **state)
{
    struct fixture *f = *state;

    wr(f, 0, TDCR, 0xb); /* divide by 1: 1 ns per count */
    wr(f, 0, LVTT, 0xef);
    wr(f, 0, TMICT, 1000);
    assert_int_equal(rd(f, 0, TMCCT), 1000);
    fake_now = T0 + 400;
    assert_int_equal(rd(f, 0, TMCCT), 600);
    assert_int_equal(irqchip_next_deadline(f->c, 0), T0 + 1000);
    fake_now = T0 + 999;
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    fake_now = T0 + 1000;
    assert_int_equal(take(f, 0), 0xef);
    assert_int_equal(rd(f, 0, TMCCT), 0);
    assert_true(irqchip_next_deadline(f->c, 0) == UINT64_MAX);
    wr(f, 0, EOI, 0);
    fake_now = T0 + 5000;
    assert_int_equal(irqchip_pending(f->c, 0, true), -1);
    /* An expired one-shot stays at 0 when the mode becomes periodic... */
    wr(f, 0, LVTT, 0x200ef);
    assert_int_equal(rd(f, 0, TMCCT), 0);
    assert_true(irqchip_next_deadline(f->c, 0) == UINT64_MAX);
    /* ...until the initial count is written. */
    wr(f, 0, TMICT, 1000);
    assert_int_equal(rd(f, 0, TMCCT), 1000);
    assert_int_equal(irqchip_next_deadline(f->c, 0), T0 + 6000);
    /* One that has not expired goes on counting in the new mode. */
    fake_now = T0 + 5400;
    wr(f, 0, LVTT, 0xef);
    wr(f, 0, LVTT, 0x200ef);
    assert_int_equal(rd(f, 0, TMCCT), 600);
}

static void timer_periodic(void **state)
{
    struct fixture *f = *state;

    wr(f, 1, TDCR, 0x3); /* divide by 16 */
    wr(f, 1, LVTT, 0x200ef);
    wr(f, 1, TMICT, 100); /* 1600 ns */
    assert_int_equal(irqchip_next_deadline(f->c, 1), T0 + 1600);
    fake_now = T0 + 1600;
    assert_int_equal(take(f, 1), 0xef);
    wr(f, 1, EOI, 0);
    fake_now = T0 + 4 * 1600 + 160;
    assert_int_equal(rd(f, 1, TMCCT), 90);
    assert_int_equal(take(f, 1), 0xef); /* periods missed coalesce */
    wr(f, 1, EOI, 0);
    assert_int_equal(irqchip_pending(f->c, 1, true), -1);
    assert_int_equal(irqchip_next_deadline(f->c, 1), T0 + 5 * 1600);
    /* Masked, it counts on but raises nothing. */
    wr(f, 1, LVTT, 0x300ef);
    fake_now = T0 + 6 * 1600;
    assert_int_equal(irqchip_pending(f->c, 1, true), -1);
    wr(f, 1, TMICT, 0);
    assert_true(irqchip_next_deadline(f->c, 1) == UINT64_MAX);
}

static void timer_tsc_deadline(void **state)
{
    struct fixture *f = *state;
    uint64_t tsc = T0 * (TSC_HZ / 1000000000ull), v = 1;

    /* Outside TSC-deadline mode the MSR reads 0 and ignores writes. */
    assert_int_equal(lapic_msr_write(f->c, 1, 0x6e0, tsc + 100), 0);
    assert_int_equal(lapic_msr_read(f->c, 1, 0x6e0, &v), 0);
    assert_int_equal(v, 0);

    wr(f, 1, LVTT, 0x400ef);
    f->woken = 0;
    assert_int_equal(lapic_msr_write(f->c, 1, 0x6e0, tsc + 2000), 0);
    assert_int_equal(f->woken, 2);
    assert_int_equal(lapic_msr_read(f->c, 1, 0x6e0, &v), 0);
    assert_int_equal(v, tsc + 2000);
    assert_int_equal(irqchip_next_deadline(f->c, 1), T0 + 1000);
    fake_now = T0 + 999;
    assert_int_equal(irqchip_pending(f->c, 1, true), -1);
    fake_now = T0 + 1000;
    assert_int_equal(take(f, 1), 0xef);
    assert_int_equal(lapic_msr_read(f->c, 1, 0x6e0, &v), 0);
    assert_int_equal(v, 0);
    assert_true(irqchip_next_deadline(f->c, 1) == UINT64_MAX);
}

static void x2apic(void **state)
{
    struct fixture *f = *state;
    uint64_t v;

    assert_int_equal(lapic_msr_read(f->c, 1, 0x802, &v), -1); /* xAPIC mode */
    lapic_set_base(f->c, 0, 0xfee00000 | APIC_EN | APIC_X2 | APIC_BSP);
    lapic_set_base(f->c, 1, 0xfee00000 | APIC_EN | APIC_X2);
    assert_int_equal(rd(f, 1, LVR), 0xffffffff);
    assert_int_equal(lapic_msr_read(f->c, 1, 0x802, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(lapic_msr_read(f->c, 1, 0x803, &v), 0);
    assert_int_equal(v, 0x50014);
    assert_int_equal(lapic_msr_read(f->c, 1, 0x80d, &v), 0);
    assert_int_equal(v, 0x2);                                 /* cluster 0, bit 1 */
    assert_int_equal(lapic_msr_read(f->c, 1, 0x80b, &v), -1); /* EOI is write-only */
    assert_int_equal(lapic_msr_read(f->c, 1, 0x80e, &v), -1); /* no DFR */
    assert_int_equal(lapic_msr_write(f->c, 1, 0x802, 5), -1); /* ID is read-only */
    assert_int_equal(lapic_msr_write(f->c, 1, 0x80b, 1), -1); /* EOI takes 0 only */
    assert_int_equal(lapic_msr_write(f->c, 1, 0x808, 1ull << 32), -1);
    assert_int_equal(lapic_msr_write(f->c, 1, 0x80f, 0x1ff), 0);

    assert_int_equal(lapic_msr_write(f->c, 0, 0x830, 1ull << 32 | ICR_ASSERT | 0x50), 0);
    assert_int_equal(lapic_msr_read(f->c, 0, 0x830, &v), 0);
    assert_int_equal(v, 1ull << 32 | ICR_ASSERT | 0x50);
    assert_int_equal(lapic_msr_write(f->c, 1, 0x83f, 0x51), 0); /* SELF IPI */
    assert_int_equal(take(f, 1), 0x51);
    assert_int_equal(lapic_msr_write(f->c, 1, 0x80b, 0), 0);
    assert_int_equal(take(f, 1), 0x50);
    assert_int_equal(lapic_msr_write(f->c, 1, 0x80b, 0), 0);
    /* Logical: cluster 0, member bit 1. */
    assert_int_equal(lapic_msr_write(f->c, 0, 0x830, 2ull << 32 | ICR_LOG | ICR_ASSERT | 0x52), 0);
    assert_int_equal(take(f, 1), 0x52);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reset_state),
        cmocka_unit_test_setup_teardown(fixed_ipis, setup, teardown),
        cmocka_unit_test_setup_teardown(logical_ipis, setup, teardown),
        cmocka_unit_test_setup_teardown(init_sipi, setup, teardown),
        cmocka_unit_test_setup_teardown(nmi_ipi, setup, teardown),
        cmocka_unit_test_setup_teardown(tpr_ppr, setup, teardown),
        cmocka_unit_test_setup_teardown(spurious, setup, teardown),
        cmocka_unit_test_setup_teardown(software_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(esr, setup, teardown),
        cmocka_unit_test_setup_teardown(timer_oneshot, setup, teardown),
        cmocka_unit_test_setup_teardown(timer_periodic, setup, teardown),
        cmocka_unit_test_setup_teardown(timer_tsc_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(x2apic, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
