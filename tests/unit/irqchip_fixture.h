/* A VM's buses with the software interrupt controllers on them, a fake
 * clock and a record of wake-ups, for test_pic, test_pit, test_ioapic and
 * test_lapic. Include after cmocka.h. */
#ifndef VX86_TESTS_IRQCHIP_FIXTURE_H
#define VX86_TESTS_IRQCHIP_FIXTURE_H

#include <stdlib.h>

#include "hw/bus.h"
#include "hw/irqchip/irqchip.h"
#include "vm/vm.h"

#define TSC_HZ 2000000000ull
#define T0     1000000000ull /* the fake clock's start, 1 s */

struct fixture {
    struct vm vm;
    struct irqchip *c;
    uint64_t woken; /* CPUs wake() was called for */
};

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
    return fake_now;
}

static void on_wake(void *opaque, int cpu)
{
    struct fixture *f = opaque;

    f->woken |= 1ull << cpu;
}

static int fixture_setup(void **state, int ncpus)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    bus_init(&f->vm.pio, "pio");
    bus_init(&f->vm.mmio, "mmio");
    f->c = irqchip_create(&f->vm, ncpus, TSC_HZ, NULL, on_wake, f);
    assert_non_null(f->c);
    fake_now = T0;
    irqchip_set_clock(f->c, fake_clock);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    irqchip_destroy(f->c);
    bus_destroy(&f->vm.pio);
    bus_destroy(&f->vm.mmio);
    free(f);
    return 0;
}

static inline void outb(struct fixture *f, uint16_t port, uint8_t v)
{
    bus_write(&f->vm.pio, port, 1, v);
}

static inline uint8_t inb(struct fixture *f, uint16_t port)
{
    return (uint8_t)bus_read(&f->vm.pio, port, 1);
}

/* Linux's init_8259A(): vectors 0x30-0x3f, IRQ2 cascade, normal EOI, and
 * then every line unmasked but the ones in mask. */
static inline void pic_init_linux(struct fixture *f, uint16_t mask)
{
    outb(f, 0x21, 0xff);
    outb(f, 0xa1, 0xff);
    outb(f, 0x20, 0x11);
    outb(f, 0x21, 0x30);
    outb(f, 0x21, 0x04);
    outb(f, 0x21, 0x01);
    outb(f, 0xa0, 0x11);
    outb(f, 0xa1, 0x38);
    outb(f, 0xa1, 0x02);
    outb(f, 0xa1, 0x01);
    outb(f, 0x21, mask & 0xff);
    outb(f, 0xa1, mask >> 8);
}

/* The INTA cycle the CPU runs once pending says yes. */
static inline int take(struct fixture *f, int cpu)
{
    int v = irqchip_pending(f->c, cpu, true);

    if (v < 0)
        return v;
    return irqchip_ack(f->c, cpu);
}

#endif
