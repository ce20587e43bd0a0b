/* QEMU's pci-testdev (hw/pci_testdev.h) found and driven as kvm-unit-tests'
 * lib/pci-testdev.c does: configuration space through 0xcf8/0xcfc, then
 * each test of both BARs: select, read the header, write 16 times, read the
 * count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hw/bus.h"
#include "hw/pci.h"
#include "hw/pci_testdev.h"
#include "vm/board.h"

#define SLOT 5

struct fixture {
    struct bus pio, mmio;
    struct pci pci;
    struct pci_testdev t;
};

static uint32_t cfg_read(struct fixture *f, unsigned off)
{
    bus_write(&f->pio, PCI_CONFIG_ADDRESS, 4, PCI_CONFIG_ENABLE | SLOT << 11 | off);
    return (uint32_t)bus_read(&f->pio, PCI_CONFIG_DATA, 4);
}

static void cfg_write(struct fixture *f, unsigned off, uint32_t v)
{
    bus_write(&f->pio, PCI_CONFIG_ADDRESS, 4, PCI_CONFIG_ENABLE | SLOT << 11 | off);
    bus_write(&f->pio, PCI_CONFIG_DATA, 4, v);
}

static int setup(void **state)
{
    static struct fixture f;
    struct bus_range reset = {.base = 0xcf9, .len = 1, .widths = BUS_W1, .name = "reset"};

    memset(&f, 0, sizeof(f));
    bus_init(&f.pio, "pio");
    bus_init(&f.mmio, "mmio");
    if (pci_init(&f.pci, &f.pio, &f.mmio, &reset) || pci_testdev_init(&f.t, &f.pci, &f.pio, SLOT))
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    pci_testdev_destroy(&f->t);
    pci_destroy(&f->pci);
    bus_destroy(&f->pio);
    bus_destroy(&f->mmio);
    return 0;
}

static void test_config_space(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(cfg_read(f, 0x00), PCI_TESTDEV_DEVICE << 16 | PCI_TESTDEV_VENDOR);
    assert_int_equal(cfg_read(f, 0x08) >> 8, PCI_TESTDEV_CLASS);
    assert_int_equal(cfg_read(f, 0x10), BOARD_PCI_MEM32_BASE + SLOT * 0x10000);
    assert_int_equal(cfg_read(f, 0x14), PCI_TESTDEV_IO_BASE | PCI_BAR_IO);
    assert_int_equal(cfg_read(f, 0x04) & 3, PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    assert_int_equal(cfg_read(f, 0x3c) >> 8 & 0xff, 0); /* no interrupt pin */
    /* kvm-unit-tests' pci_config_readw(): the word offset in CONFIG_ADDRESS
     * bits 1:0, then a word at 0xCFC; the bits read back as 0. */
    bus_write(&f->pio, PCI_CONFIG_ADDRESS, 4, PCI_CONFIG_ENABLE | SLOT << 11 | 2);
    assert_int_equal(bus_read(&f->pio, PCI_CONFIG_DATA, 2), PCI_TESTDEV_DEVICE);
    assert_int_equal(bus_read(&f->pio, PCI_CONFIG_ADDRESS, 4), PCI_CONFIG_ENABLE | SLOT << 11);
    /* BAR sizing. */
    cfg_write(f, 0x10, 0xffffffff);
    assert_int_equal(cfg_read(f, 0x10), (uint32_t)-PCI_TESTDEV_MEM_SIZE);
    cfg_write(f, 0x10, BOARD_PCI_MEM32_BASE + SLOT * 0x10000);
}

/* One BAR's tests through rd/wr at base; returns how many pass, as
 * pci_testdev_all() counts them. */
static int run_all(struct fixture *f, struct bus *bus, uint64_t base, const char *const *names)
{
    int i;

    for (i = 0;; i++) {
        uint32_t off, count;
        uint8_t sig;
        char name[40];

        bus_write(bus, base, 1, (uint64_t)i);
        if (bus_read(bus, base + 12, 4) != 0 || bus_read(bus, base + 1, 1) != 1)
            break;
        sig = (uint8_t)bus_read(bus, base + 8, 4);
        off = (uint32_t)bus_read(bus, base + 4, 4);
        for (int n = 0; n < 16; n++)
            bus_write(bus, base + off, 1, sig);
        count = (uint32_t)bus_read(bus, base + 12, 4);
        assert_int_equal(count, 16);
        for (unsigned c = 0; c < sizeof(name); c++)
            if (!(name[c] = (char)bus_read(bus, base + 16 + c, 1)))
                break;
        assert_string_equal(name, names[i]);
    }
    (void)f;
    return i;
}

static void test_all(void **state)
{
    static const char *const mem_names[] = {"mmio-no-eventfd", "mmio-wildcard-eventfd",
                                            "mmio-datamatch-eventfd"};
    static const char *const io_names[] = {"portio-no-eventfd", "portio-wildcard-eventfd",
                                           "portio-datamatch-eventfd"};
    struct fixture *f = *state;

    assert_int_equal(run_all(f, &f->mmio, BOARD_PCI_MEM32_BASE + SLOT * 0x10000, mem_names), 3);
    assert_int_equal(run_all(f, &f->pio, PCI_TESTDEV_IO_BASE, io_names), 3);
}

/* Data-match tests count only the right byte; the wildcard one any. */
static void test_matching(void **state)
{
    struct fixture *f = *state;
    uint64_t io = PCI_TESTDEV_IO_BASE;

    bus_write(&f->pio, io, 1, 2); /* portio-datamatch */
    assert_int_equal(bus_read(&f->pio, io, 1), 5);
    bus_write(&f->pio, io + 128 + 5, 1, 0x12);
    bus_write(&f->pio, io + 128 + 4, 1, 0xfa);
    assert_int_equal(bus_read(&f->pio, io + 12, 4), 0);
    bus_write(&f->pio, io + 128 + 5, 1, 0xfa);
    assert_int_equal(bus_read(&f->pio, io + 12, 4), 1);
    bus_write(&f->pio, io, 1, 1); /* portio-wildcard */
    bus_write(&f->pio, io + 128 + 4, 1, 0x12);
    assert_int_equal(bus_read(&f->pio, io + 12, 4), 1);
    /* No test selected: reads 0. */
    bus_write(&f->pio, io, 1, 7);
    assert_int_equal(bus_read(&f->pio, io + 1, 1), 0);
}

/* The I/O BAR decodes at its firmware address only, while I/O is on. */
static void test_io_decoding(void **state)
{
    struct fixture *f = *state;
    uint64_t io = PCI_TESTDEV_IO_BASE;

    bus_write(&f->pio, io, 1, 0);
    cfg_write(f, 0x04, PCI_COMMAND_MEMORY);
    assert_int_equal(bus_read(&f->pio, io + 1, 1), 0xff);
    cfg_write(f, 0x04, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
    assert_int_equal(bus_read(&f->pio, io + 1, 1), 1);
    cfg_write(f, 0x14, 0xd000);
    assert_int_equal(bus_read(&f->pio, io + 1, 1), 0xff);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_config_space),
        T(test_all),
        T(test_matching),
        T(test_io_decoding),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
