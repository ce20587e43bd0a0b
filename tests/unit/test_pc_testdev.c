/* QEMU's pc-testdev (hw/pc_testdev.h) as kvm-unit-tests drives it: the data
 * register through both port windows at every width, the interrupt lines,
 * the flush port and the memory-like MMIO window. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hw/bus.h"
#include "hw/pc_testdev.h"

struct rig {
    struct pc_testdev t;
    struct bus pio, mmio;
    int level[PC_TESTDEV_IRQ_LINES];
    int calls;
    uint64_t flushed;
};

static void on_irq(void *opaque, unsigned gsi, int level)
{
    struct rig *r = opaque;

    assert_true(gsi < PC_TESTDEV_IRQ_LINES);
    r->level[gsi] = level;
    r->calls++;
}

static void on_flush(void *opaque, uint64_t gpa)
{
    ((struct rig *)opaque)->flushed = gpa;
}

static int setup(void **state)
{
    static struct rig r;

    memset(&r, 0, sizeof(r));
    bus_init(&r.pio, "pio");
    bus_init(&r.mmio, "mmio");
    if (pc_testdev_init(&r.t, &r.pio, &r.mmio, on_irq, on_flush, &r))
        return -1;
    *state = &r;
    return 0;
}

static int teardown(void **state)
{
    struct rig *r = *state;

    pc_testdev_destroy(&r->t);
    bus_destroy(&r->pio);
    bus_destroy(&r->mmio);
    return 0;
}

/* One register behind 0xe0 (direct) and 0xe8 (a byte at a time): a write
 * of size s at 0xe0 + n changes bytes n to n + s - 1 only. */
static void test_data_register(void **state)
{
    struct rig *r = *state;

    bus_write(&r->pio, 0xe0, 4, 0x11223344);
    assert_int_equal(bus_read(&r->pio, 0xe0, 4), 0x11223344);
    assert_int_equal(bus_read(&r->pio, 0xe0, 1), 0x44);
    assert_int_equal(bus_read(&r->pio, 0xe1, 1), 0x33);
    assert_int_equal(bus_read(&r->pio, 0xe2, 2), 0x1122);
    bus_write(&r->pio, 0xe1, 1, 0xaa);
    assert_int_equal(bus_read(&r->pio, 0xe0, 4), 0x1122aa44);
    bus_write(&r->pio, 0xe2, 2, 0xbbcc);
    assert_int_equal(bus_read(&r->pio, 0xe0, 4), 0xbbccaa44);
    /* The byte window sees and changes the same register. */
    assert_int_equal(bus_read(&r->pio, 0xe8, 4), 0xbbccaa44);
    assert_int_equal(bus_read(&r->pio, 0xeb, 1), 0xbb);
    bus_write(&r->pio, 0xe8, 2, 0x9999);
    assert_int_equal(bus_read(&r->pio, 0xe0, 4), 0xbbcc9999);
    bus_write(&r->pio, 0xe8, 4, 0x01020304);
    assert_int_equal(bus_read(&r->pio, 0xe0, 4), 0x01020304);
}

static void test_irq_lines(void **state)
{
    struct rig *r = *state;

    bus_write(&r->pio, 0x2000 + 11, 1, 1);
    assert_int_equal(r->level[11], 1);
    bus_write(&r->pio, 0x2000 + 11, 1, 0);
    assert_int_equal(r->level[11], 0);
    bus_write(&r->pio, 0x2000 + 23, 1, 0x80);
    assert_int_equal(r->level[23], 1);
    assert_int_equal(r->calls, 3);
    /* Past line 23 is not the device's. */
    bus_write(&r->pio, 0x2000 + 24, 1, 1);
    assert_int_equal(r->calls, 3);
    assert_int_equal(bus_read(&r->pio, 0x2000, 1), 0xff);
}

static void test_flush(void **state)
{
    struct rig *r = *state;

    bus_write(&r->pio, 0xe4, 4, 0x12345678);
    assert_int_equal(r->flushed, 0x12345000);
}

static void test_iomem(void **state)
{
    struct rig *r = *state;
    uint64_t top = PC_TESTDEV_IOMEM + PC_TESTDEV_IOMEM_SIZE;

    assert_int_equal(bus_read(&r->mmio, PC_TESTDEV_IOMEM, 8), 0);
    bus_write(&r->mmio, PC_TESTDEV_IOMEM + 8, 8, 0x0123456789abcdefULL);
    assert_int_equal(bus_read(&r->mmio, PC_TESTDEV_IOMEM + 8, 8), 0x0123456789abcdefULL);
    assert_int_equal(bus_read(&r->mmio, PC_TESTDEV_IOMEM + 9, 2), 0xabcd);
    bus_write(&r->mmio, PC_TESTDEV_IOMEM + 10, 1, 0x55);
    assert_int_equal(bus_read(&r->mmio, PC_TESTDEV_IOMEM + 8, 4), 0x8955cdef);
    bus_write(&r->mmio, top - 4, 4, 0xdeadbeef);
    assert_int_equal(bus_read(&r->mmio, top - 4, 4), 0xdeadbeef);
    assert_int_equal(bus_read(&r->mmio, top, 4), 0xffffffff);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_data_register),
        T(test_irq_lines),
        T(test_flush),
        T(test_iomem),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
