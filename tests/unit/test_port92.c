/* System Control Port A (hw/port92.h): A20 always on, fast reset on bit 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hw/bus.h"
#include "hw/port92.h"
#include "vm/board.h"

static int resets;

static void on_reset(void *opaque)
{
    (void)opaque;
    resets++;
}

static void test_port92(void **state)
{
    struct port92 p;
    struct bus pio;

    (void)state;
    bus_init(&pio, "pio");
    assert_int_equal(port92_init(&p, &pio, on_reset, NULL), 0);
    assert_int_equal(bus_read(&pio, BOARD_PORT92, 1), PORT92_A20);
    /* Linux's fast-A20 path: read, set bit 1, clear bit 0, write back. */
    bus_write(&pio, BOARD_PORT92, 1, PORT92_A20);
    assert_int_equal(resets, 0);
    /* A20 cannot be turned off. */
    bus_write(&pio, BOARD_PORT92, 1, 0);
    assert_int_equal(bus_read(&pio, BOARD_PORT92, 1), PORT92_A20);
    assert_int_equal(resets, 0);
    bus_write(&pio, BOARD_PORT92, 1, PORT92_A20 | PORT92_FAST_RESET);
    assert_int_equal(resets, 1);
    bus_write(&pio, BOARD_PORT92, 1, PORT92_FAST_RESET);
    assert_int_equal(resets, 2);
    /* The next port is not the device's. */
    assert_int_equal(bus_read(&pio, BOARD_PORT92 + 1, 1), 0xff);
    bus_destroy(&pio);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port92),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
