/* The 8042 keyboard controller and its PS/2 keyboard (hw/i8042.h,
 * hw/ps2_kbd.h) as a guest driver sees them through ports 0x60 and 0x64:
 * the command set, the CTR, IRQ 1 and 12, the reset paths, and the probe
 * Linux's i8042 and atkbd drivers run. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hw/bus.h"
#include "hw/i8042.h"
#include "vm/board.h"

#define STR_OBF     I8042_STR_OBF
#define STR_SYS     I8042_STR_SYS
#define STR_CMD     I8042_STR_CMD
#define STR_UNLOCK  I8042_STR_UNLOCK
#define STR_AUXDATA I8042_STR_AUXDATA
#define STR_TIMEOUT I8042_STR_TIMEOUT

#define CTR_KBDINT I8042_CTR_KBDINT
#define CTR_AUXINT I8042_CTR_AUXINT
#define CTR_SYS    I8042_CTR_SYS
#define CTR_KBDDIS I8042_CTR_KBDDIS
#define CTR_AUXDIS I8042_CTR_AUXDIS
#define CTR_XLATE  I8042_CTR_XLATE

/* The controller and what its callbacks saw. */
struct kbc {
    struct i8042 c;
    struct bus bus;
    int level[13]; /* by IRQ line */
    int edges[13]; /* rising edges by IRQ line */
    int resets;
};

static void on_irq(void *opaque, unsigned irq, int level)
{
    struct kbc *k = opaque;

    assert_true(irq == BOARD_KBD_IRQ || irq == BOARD_MOUSE_IRQ);
    /* The controller reports changes only. */
    assert_int_not_equal(level, k->level[irq]);
    k->level[irq] = level;
    k->edges[irq] += level;
}

static void on_reset(void *opaque)
{
    ((struct kbc *)opaque)->resets++;
}

static int setup(void **state)
{
    static struct kbc k;

    memset(&k, 0, sizeof(k));
    bus_init(&k.bus, "pio");
    if (i8042_init(&k.c, &k.bus, on_irq, on_reset, &k))
        return -1;
    *state = &k;
    return 0;
}

static int teardown(void **state)
{
    struct kbc *k = *state;

    bus_destroy(&k->bus);
    i8042_destroy(&k->c);
    return 0;
}

static struct kbc *K;

#define GIVEN(state) (K = *(state))

static uint8_t status(void)
{
    return (uint8_t)bus_read(&K->bus, BOARD_I8042_CMD_PORT, 1);
}

static uint8_t data(void)
{
    return (uint8_t)bus_read(&K->bus, BOARD_I8042_DATA_PORT, 1);
}

static void command(uint8_t cmd)
{
    bus_write(&K->bus, BOARD_I8042_CMD_PORT, 1, cmd);
}

static void put(uint8_t byte)
{
    bus_write(&K->bus, BOARD_I8042_DATA_PORT, 1, byte);
}

/* Reads the output buffer, which must be full, and checks its status. */
static uint8_t take(uint8_t flags)
{
    uint8_t s = status();

    assert_int_equal(s & (STR_OBF | STR_AUXDATA | STR_TIMEOUT), STR_OBF | flags);
    return data();
}

static void assert_empty(void)
{
    assert_int_equal(status() & STR_OBF, 0);
}

static uint8_t read_ctr(void)
{
    command(0x20);
    return take(0);
}

static void write_ctr(uint8_t ctr)
{
    command(0x60);
    put(ctr);
}

/* The keyboard answers cmd with the given bytes, read by polling. */
static void assert_kbd(uint8_t cmd, const uint8_t *answer, int n)
{
    put(cmd);
    for (int i = 0; i < n; i++)
        assert_int_equal(take(0), answer[i]);
    assert_empty();
}

#define KBD(cmd, ...)                                                                              \
    assert_kbd(cmd, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

static void test_power_on_state(void **state)
{
    GIVEN(state);
    /* As a BIOS leaves it: nothing to read, self-test passed, not inhibited. */
    assert_int_equal(status(), STR_SYS | STR_UNLOCK);
    assert_int_equal(read_ctr(), CTR_KBDINT | CTR_SYS | CTR_AUXDIS | CTR_XLATE);
    assert_int_equal(status(), STR_SYS | STR_UNLOCK | STR_CMD);
    /* The CTR reply raised IRQ 1 (CTR bit 0) and reading it lowered it. */
    assert_int_equal(K->edges[BOARD_KBD_IRQ], 1);
    assert_int_equal(K->level[BOARD_KBD_IRQ], 0);
    assert_int_equal(K->resets, 0);
    /* The output port: reset line and A20 high. */
    command(0xd0);
    assert_int_equal(take(0), 0xcf);
}

static void test_ctr_and_ram(void **state)
{
    GIVEN(state);
    write_ctr(0x00);
    assert_int_equal(read_ctr(), 0x00);
    /* The system flag in the status register follows CTR bit 2. */
    assert_int_equal(status() & STR_SYS, 0);
    write_ctr(CTR_SYS | CTR_XLATE);
    assert_int_equal(status() & STR_SYS, STR_SYS);
    assert_int_equal(read_ctr(), CTR_SYS | CTR_XLATE);
    /* Commands 0x21-0x3f / 0x61-0x7f reach the other 31 bytes of RAM. */
    command(0x7f);
    put(0x5a);
    command(0x61);
    put(0xa5);
    command(0x3f);
    assert_int_equal(take(0), 0x5a);
    command(0x21);
    assert_int_equal(take(0), 0xa5);
    assert_int_equal(read_ctr(), CTR_SYS | CTR_XLATE);
    /* Status bit 3: whether the last write went to the command port. */
    put(0xee);
    assert_int_equal(status() & STR_CMD, 0);
    command(0xa7);
    assert_int_equal(status() & STR_CMD, STR_CMD);
}

static void test_tests(void **state)
{
    GIVEN(state);
    write_ctr(CTR_XLATE);
    command(0xaa);
    assert_int_equal(take(0), 0x55);
    /* A passed self-test sets the system flag. */
    assert_int_equal(status() & STR_SYS, STR_SYS);
    command(0xab);
    assert_int_equal(take(0), 0x00);
    command(0xa9);
    assert_int_equal(take(0), 0x00);
    assert_empty();
}

static void test_port_enable_bits(void **state)
{
    GIVEN(state);
    command(0xa8);
    assert_int_equal(read_ctr() & CTR_AUXDIS, 0);
    command(0xa7);
    assert_int_equal(read_ctr() & CTR_AUXDIS, CTR_AUXDIS);
    command(0xad);
    assert_int_equal(read_ctr() & CTR_KBDDIS, CTR_KBDDIS);
    command(0xae);
    assert_int_equal(read_ctr() & CTR_KBDDIS, 0);
    /* Sending to a port enables it. */
    command(0xad);
    put(0xf4);
    assert_int_equal(take(0), 0xfa);
    assert_int_equal(read_ctr() & CTR_KBDDIS, 0);
    command(0xd4);
    put(0xff);
    take(STR_AUXDATA | STR_TIMEOUT);
    assert_int_equal(read_ctr() & CTR_AUXDIS, 0);
}

/* A disabled keyboard port holds the keyboard's bytes back. */
static void test_kbd_port_disabled_holds_bytes(void **state)
{
    GIVEN(state);
    put(0xff);
    command(0xad);
    assert_int_equal(take(0), 0xfa); /* already in the output buffer */
    assert_empty();
    /* The controller's own answers still come. */
    command(0xab);
    assert_int_equal(take(0), 0x00);
    assert_empty();
    command(0xae);
    assert_int_equal(take(0), 0xaa);
    assert_empty();
}

static void test_write_outputs(void **state)
{
    GIVEN(state);
    command(0xd2);
    put(0x12);
    assert_int_equal(take(0), 0x12);
    command(0xd3);
    put(0x34);
    assert_int_equal(take(STR_AUXDATA), 0x34);
    /* No device on the AUX port: a timeout, with 0xfe, as AUX data. */
    command(0xd4);
    put(0xf2);
    assert_int_equal(take(STR_AUXDATA | STR_TIMEOUT), 0xfe);
    assert_empty();
    /* The output port's bits 4 and 5 show whose byte the buffer holds. */
    command(0xd3);
    put(0x00);
    command(0xd0);
    assert_int_equal(take(STR_AUXDATA), 0x00);
    assert_int_equal(take(0) & 0x30, I8042_OUT_AUXOBF);
    command(0xd2);
    put(0x00);
    command(0xd0);
    assert_int_equal(take(0), 0x00);
    assert_int_equal(take(0) & 0x30, I8042_OUT_OBF);
}

/* A new command cancels one still waiting for its data byte. */
static void test_command_replaces_waiting_command(void **state)
{
    GIVEN(state);
    command(0x60);
    command(0xaa);
    assert_int_equal(take(0), 0x55);
    put(0xf2); /* to the keyboard, not the CTR */
    assert_int_equal(take(0), 0xfa);
    assert_int_equal(take(0), 0xab);
    assert_int_equal(take(0), 0x41);
    assert_int_equal(read_ctr(), CTR_KBDINT | CTR_SYS | CTR_AUXDIS | CTR_XLATE);
}

static void test_irq1(void **state)
{
    GIVEN(state);
    write_ctr(CTR_XLATE); /* no interrupts */
    put(0xff);
    assert_int_equal(K->edges[BOARD_KBD_IRQ], 0);
    assert_int_equal(take(0), 0xfa);
    assert_int_equal(take(0), 0xaa);
    write_ctr(CTR_KBDINT | CTR_XLATE);
    put(0xff);
    assert_int_equal(K->level[BOARD_KBD_IRQ], 1);
    assert_int_equal(K->edges[BOARD_KBD_IRQ], 1);
    /* Each byte is a new edge: the line drops when the buffer is read. */
    assert_int_equal(data(), 0xfa);
    assert_int_equal(K->level[BOARD_KBD_IRQ], 1);
    assert_int_equal(K->edges[BOARD_KBD_IRQ], 2);
    assert_int_equal(data(), 0xaa);
    assert_int_equal(K->level[BOARD_KBD_IRQ], 0);
    /* AUX data does not raise IRQ 1. */
    command(0xd3);
    put(0x01);
    assert_int_equal(K->level[BOARD_KBD_IRQ], 0);
    assert_int_equal(K->level[BOARD_MOUSE_IRQ], 0);
    data();
    /* Clearing CTR bit 0 drops a raised line. */
    command(0xd2);
    put(0x01);
    assert_int_equal(K->level[BOARD_KBD_IRQ], 1);
    write_ctr(CTR_XLATE);
    assert_int_equal(K->level[BOARD_KBD_IRQ], 0);
}

static void test_irq12(void **state)
{
    GIVEN(state);
    write_ctr(CTR_AUXINT | CTR_XLATE);
    command(0xd3);
    put(0xa5);
    assert_int_equal(K->level[BOARD_MOUSE_IRQ], 1);
    assert_int_equal(K->level[BOARD_KBD_IRQ], 0);
    assert_int_equal(take(STR_AUXDATA), 0xa5);
    assert_int_equal(K->level[BOARD_MOUSE_IRQ], 0);
    command(0xd4);
    put(0xf2);
    assert_int_equal(K->level[BOARD_MOUSE_IRQ], 1);
    write_ctr(CTR_XLATE);
    assert_int_equal(K->level[BOARD_MOUSE_IRQ], 0);
    assert_int_equal(take(STR_AUXDATA | STR_TIMEOUT), 0xfe);
    assert_int_equal(K->edges[BOARD_MOUSE_IRQ], 2);
    assert_int_equal(K->edges[BOARD_KBD_IRQ], 0);
}

static void test_reset_pulse(void **state)
{
    GIVEN(state);
    command(0xff); /* pulses nothing: Linux's "null command" */
    assert_int_equal(K->resets, 0);
    command(I8042_CMD_RESET);
    assert_int_equal(K->resets, 1);
    /* Any pulse command with bit 0 clear pulses the reset line. */
    command(0xf0);
    assert_int_equal(K->resets, 2);
    command(0xfd);
    assert_int_equal(K->resets, 2);
}

static void test_output_port_reset(void **state)
{
    GIVEN(state);
    /* Linux's A20 gate write at probe: bit 0 set, no reset. */
    command(0xd1);
    put(0xdf);
    assert_int_equal(K->resets, 0);
    command(0xd0);
    assert_int_equal(take(0), 0xcf); /* bits 4-5 are the buffer's, empty */
    command(0xd1);
    put(0xde);
    assert_int_equal(K->resets, 1);
    /* Only the byte after 0xd1 counts: elsewhere 0xde is keyboard data. */
    put(0xde);
    assert_int_equal(K->resets, 1);
    assert_int_equal(take(0), 0xfe);
}

static void test_kbd_commands(void **state)
{
    GIVEN(state);
    KBD(0xff, 0xfa, 0xaa);
    KBD(0xf2, 0xfa, 0xab, 0x41); /* translated: 0x83 reads 0x41 */
    KBD(0xf5, 0xfa);
    KBD(0xf4, 0xfa);
    KBD(0xf6, 0xfa);
    KBD(0xed, 0xfa);
    KBD(0x07, 0xfa);
    KBD(0xf3, 0xfa);
    KBD(0x00, 0xfa);
    KBD(0xee, 0xee);
    KBD(0xfe, 0xee); /* resend: the last byte again */
    KBD(0x01, 0xfe); /* not a command */
    KBD(0xf1, 0xfe);
    /* Scan code sets: query (0) answers the set, 1-3 select, 4 is refused. */
    KBD(0xf0, 0xfa);
    KBD(0x00, 0xfa, 0x41); /* set 2, translated */
    write_ctr(CTR_SYS);    /* no translation from here on */
    KBD(0xf2, 0xfa, 0xab, 0x83);
    KBD(0xf0, 0xfa);
    KBD(0x03, 0xfa);
    KBD(0xf0, 0xfa);
    KBD(0x00, 0xfa, 0x03);
    KBD(0xf0, 0xfa);
    KBD(0x04, 0xfe);
    KBD(0xf6, 0xfa); /* defaults: set 2 */
    KBD(0xf0, 0xfa);
    KBD(0x00, 0xfa, 0x02);
    /* A command in place of a parameter runs as a command. */
    KBD(0xed, 0xfa);
    KBD(0xf2, 0xfa, 0xab, 0x83);
    /* Set 3 key types: 0xfb-0xfd take key codes until the next command. */
    KBD(0xf8, 0xfa);
    KBD(0xfb, 0xfa);
    KBD(0x1c, 0xfa);
    KBD(0x32, 0xfa);
    KBD(0xee, 0xee);
    KBD(0x1c, 0xfe);
}

/* A guest that never reads loses what does not fit, and nothing else. */
static void test_queues_full(void **state)
{
    GIVEN(state);
    write_ctr(CTR_SYS);
    for (int i = 0; i < 40; i++) {
        command(0xd2);
        put((uint8_t)i);
    }
    for (int i = 0; i < 40; i++)
        put(0xee);
    for (int i = 0; i < 1 + I8042_REPLIES; i++)
        assert_int_equal(take(0), i);
    for (int i = 0; i < PS2_KBD_QUEUE; i++)
        assert_int_equal(take(0), 0xee);
    assert_empty();
}

/* What Linux's i8042_controller_init, i8042_check_aux, i8042_check_mux and
 * atkbd_probe do, in order, and what they need to see. */
static void test_linux_probe(void **state)
{
    uint8_t ctr;

    GIVEN(state);
    /* The A20 gate and the "null command" for SMM firmware. */
    command(0xd1);
    put(0xdf);
    command(0xff);
    assert_empty(); /* i8042_flush finds nothing */
    ctr = read_ctr();
    assert_int_equal(read_ctr(), ctr); /* a stable CTR */
    /* Keylock: status bit 4 set, or Linux warns "Keylock active". */
    assert_int_equal(status() & STR_UNLOCK, STR_UNLOCK);
    ctr = (uint8_t)((ctr | CTR_KBDDIS) & ~CTR_KBDINT);
    write_ctr(ctr);
    assert_int_equal(read_ctr(), ctr);
    /* AUX loopback, returned as AUX data. */
    command(0xd3);
    put(0x5a);
    assert_int_equal(take(STR_AUXDATA), 0x5a);
    /* i8042_toggle_aux(false), (true). */
    command(0xa7);
    assert_int_equal(read_ctr() & CTR_AUXDIS, CTR_AUXDIS);
    command(0xa8);
    assert_int_equal(read_ctr() & CTR_AUXDIS, 0);
    /* The AUX IRQ test: a loopback byte with CTR bit 1 raises IRQ 12. */
    write_ctr((uint8_t)((read_ctr() | CTR_AUXINT) & ~CTR_AUXDIS));
    command(0xd3);
    put(0xa5);
    assert_int_equal(K->level[BOARD_MOUSE_IRQ], 1);
    assert_int_equal(take(STR_AUXDATA), 0xa5);
    /* No active multiplexer: the third loopback byte comes back unchanged. */
    command(0xd3);
    put(0xf0);
    assert_int_equal(take(STR_AUXDATA), 0xf0);
    command(0xd3);
    put(0x56);
    assert_int_equal(take(STR_AUXDATA), 0x56);
    command(0xd3);
    put(0xa4);
    assert_int_equal(take(STR_AUXDATA), 0xa4);
    /* i8042_enable_kbd_port, then atkbd: identify, deactivate, LEDs, rate, enable. */
    write_ctr((uint8_t)((read_ctr() | CTR_KBDINT) & ~CTR_KBDDIS));
    KBD(0xf2, 0xfa, 0xab, 0x41);
    KBD(0xf5, 0xfa);
    KBD(0xed, 0xfa);
    KBD(0x00, 0xfa);
    KBD(0xf3, 0xfa);
    KBD(0x00, 0xfa);
    KBD(0xf4, 0xfa);
    assert_int_equal(K->level[BOARD_KBD_IRQ], 0);
    assert_int_equal(K->resets, 0);
}

/* Ctrl-Alt-Del as the guest reads it: set 1 through the translation (make
 * codes, then break codes with bit 7), set 2 without it, one IRQ 1 edge per
 * byte; refused while the keyboard does not scan, and kept whole. */
static void test_ctrl_alt_del(void **state)
{
    static const uint8_t set1[] = {0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d};
    static const uint8_t set2[] = {0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
                                   0x71, 0xf0, 0x11, 0xf0, 0x14};

    GIVEN(state);
    assert_int_equal(i8042_ctrl_alt_del(&K->c), 0);
    for (unsigned i = 0; i < sizeof(set1); i++) {
        assert_int_equal(K->edges[BOARD_KBD_IRQ], (int)i + 1);
        assert_int_equal(take(0), set1[i]);
    }
    assert_empty();
    assert_int_equal(K->level[BOARD_KBD_IRQ], 0);

    write_ctr(CTR_KBDINT);
    assert_int_equal(i8042_ctrl_alt_del(&K->c), 0);
    for (unsigned i = 0; i < sizeof(set2); i++)
        assert_int_equal(take(0), set2[i]);
    assert_empty();

    put(0xf5); /* disable scanning */
    assert_int_equal(take(0), 0xfa);
    assert_int_equal(i8042_ctrl_alt_del(&K->c), -EAGAIN);
    assert_empty();
    put(0xf4);
    assert_int_equal(take(0), 0xfa);
    /* A second sequence does not fit behind a first one (11 + 11 > 16). */
    write_ctr(CTR_KBDDIS);
    assert_int_equal(i8042_ctrl_alt_del(&K->c), 0);
    assert_int_equal(i8042_ctrl_alt_del(&K->c), -EAGAIN);
    write_ctr(0);
    for (unsigned i = 0; i < sizeof(set2); i++)
        assert_int_equal(take(0), set2[i]);
    assert_empty();
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_power_on_state),
        T(test_ctr_and_ram),
        T(test_tests),
        T(test_port_enable_bits),
        T(test_kbd_port_disabled_holds_bytes),
        T(test_write_outputs),
        T(test_command_replaces_waiting_command),
        T(test_irq1),
        T(test_irq12),
        T(test_reset_pulse),
        T(test_output_port_reset),
        T(test_kbd_commands),
        T(test_queues_full),
        T(test_linux_probe),
        T(test_ctrl_alt_del),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
