/* The PCI host (hw/pci.h) as a guest drives it: configuration mechanism #1
 * through ports 0xCF8/0xCFC, ECAM through MMIO, the host bridge's header,
 * absent devices, read-only fields, BAR sizing on a fake device, and the
 * reset control byte at 0xCF9 that shares CONFIG_ADDRESS's dword. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hw/bus.h"
#include "hw/pci.h"
#include "vm/board.h"

struct fixture {
    struct bus pio, mmio;
    struct pci pci;
    uint8_t reset_reg;
    int reset_writes;
    struct pci_device fake;
    unsigned hook_reads, hook_writes;
};

static uint64_t reset_read(void *opaque, uint64_t offset, unsigned size)
{
    struct fixture *f = opaque;

    assert_int_equal(offset, 0);
    assert_int_equal(size, 1);
    return f->reset_reg;
}

static void reset_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct fixture *f = opaque;

    assert_int_equal(offset, 0);
    assert_int_equal(size, 1);
    f->reset_reg = (uint8_t)value;
    f->reset_writes++;
}

static int setup(void **state)
{
    static struct fixture f;
    struct bus_range reset = {.base = 0xcf9,
                              .len = 1,
                              .widths = BUS_W1,
                              .read = reset_read,
                              .write = reset_write,
                              .opaque = &f,
                              .name = "reset"};

    f = (struct fixture){0};
    bus_init(&f.pio, "pio");
    bus_init(&f.mmio, "mmio");
    if (pci_init(&f.pci, &f.pio, &f.mmio, &reset))
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    pci_destroy(&f->pci);
    bus_destroy(&f->pio);
    bus_destroy(&f->mmio);
    return 0;
}

static uint32_t conf1(unsigned dev, unsigned fn, unsigned reg)
{
    return PCI_CONFIG_ENABLE | dev << 11 | fn << 8 | reg;
}

/* Mechanism #1: a dword write to 0xCF8, then size bytes at 0xCFC + (reg & 3). */
static uint32_t cfg1_read(struct fixture *f, uint32_t addr, unsigned reg, unsigned size)
{
    bus_write(&f->pio, PCI_CONFIG_ADDRESS, 4, addr | (reg & 0xfc));
    return (uint32_t)bus_read(&f->pio, PCI_CONFIG_DATA + (reg & 3), size);
}

static void cfg1_write(struct fixture *f, uint32_t addr, unsigned reg, unsigned size, uint32_t v)
{
    bus_write(&f->pio, PCI_CONFIG_ADDRESS, 4, addr | (reg & 0xfc));
    bus_write(&f->pio, PCI_CONFIG_DATA + (reg & 3), size, v);
}

static uint64_t ecam(unsigned dev, unsigned fn, unsigned reg)
{
    return BOARD_PCI_ECAM_BASE + (dev << 15 | fn << 12 | reg);
}

static void test_host_bridge_ids(void **state)
{
    struct fixture *f = *state;
    uint32_t a = conf1(0, 0, 0);

    assert_int_equal(cfg1_read(f, a, PCI_VENDOR_ID, 4), 0x00081b36);
    assert_int_equal(cfg1_read(f, a, PCI_REVISION_ID, 4), 0x06000000); /* class 06/00/00 */
    assert_int_equal(cfg1_read(f, a, PCI_HEADER_TYPE, 1), 0);          /* type 0, one function */
    assert_int_equal(cfg1_read(f, a, PCI_BAR0, 4), 0);                 /* no BARs */
    assert_int_equal(bus_read(&f->mmio, ecam(0, 0, PCI_VENDOR_ID), 4), 0x00081b36);
    assert_int_equal(bus_read(&f->mmio, ecam(0, 0, 0x0b), 1), 0x06);
    /* Extended configuration space exists (and is empty) through ECAM. */
    assert_int_equal(bus_read(&f->mmio, ecam(0, 0, 0x100), 4), 0);
}

/* Bit 31 and the reserved bits of CONFIG_ADDRESS; with bit 31 clear, the
 * data port reaches nothing. */
static void test_config_address(void **state)
{
    struct fixture *f = *state;

    bus_write(&f->pio, PCI_CONFIG_ADDRESS, 4, 0x80000000);
    assert_int_equal(bus_read(&f->pio, PCI_CONFIG_ADDRESS, 4), 0x80000000); /* Linux's probe */
    bus_write(&f->pio, PCI_CONFIG_ADDRESS, 4, 0xffffffff);
    assert_int_equal(bus_read(&f->pio, PCI_CONFIG_ADDRESS, 4), 0x80fffffc);
    assert_int_equal(cfg1_read(f, 0, PCI_VENDOR_ID, 4), 0xffffffff);
    assert_int_equal(cfg1_read(f, 0, PCI_VENDOR_ID, 2), 0xffff);
    cfg1_write(f, 0, PCI_CACHE_LINE, 1, 0x10);
    assert_int_equal(cfg1_read(f, conf1(0, 0, 0), PCI_CACHE_LINE, 1), 0);
    /* Only dword accesses reach CONFIG_ADDRESS (Linux's type 2 probe). */
    bus_write(&f->pio, PCI_CONFIG_ADDRESS, 4, conf1(0, 0, 0));
    bus_write(&f->pio, PCI_CONFIG_ADDRESS, 1, 0);
    bus_write(&f->pio, PCI_CONFIG_ADDRESS + 2, 2, 0);
    bus_write(&f->pio, PCI_CONFIG_ADDRESS + 3, 1, 1);
    assert_int_equal(bus_read(&f->pio, PCI_CONFIG_ADDRESS, 4), conf1(0, 0, 0));
    assert_int_equal(bus_read(&f->pio, PCI_CONFIG_ADDRESS, 1), 0xff);
    assert_int_equal(bus_read(&f->pio, PCI_CONFIG_ADDRESS + 2, 2), 0xffff);
}

/* The byte lanes of 0xCFC-0xCFF, and the register bits of CONFIG_ADDRESS. */
static void test_sub_dword(void **state)
{
    struct fixture *f = *state;
    uint32_t a = conf1(0, 0, 0);

    assert_int_equal(cfg1_read(f, a, 0, 1), 0x36);
    assert_int_equal(cfg1_read(f, a, 1, 1), 0x1b);
    assert_int_equal(cfg1_read(f, a, 2, 1), 0x08);
    assert_int_equal(cfg1_read(f, a, 3, 1), 0x00);
    assert_int_equal(cfg1_read(f, a, 2, 2), 0x0008);
    assert_int_equal(cfg1_read(f, a, 0x0a, 2), 0x0600);
    assert_int_equal(cfg1_read(f, a, 0x0b, 1), 0x06);
    /* A word across the dword's end reaches nothing. */
    bus_write(&f->pio, PCI_CONFIG_ADDRESS, 4, a);
    assert_int_equal(bus_read(&f->pio, PCI_CONFIG_DATA + 3, 2), 0xffff);
    /* Byte writes land in their lane: cache line size (0x0c) but not the
     * read-only header type (0x0e) beside it. */
    cfg1_write(f, a, 0x0c, 1, 0x10);
    cfg1_write(f, a, 0x0e, 1, 0x80);
    assert_int_equal(cfg1_read(f, a, 0x0c, 4), 0x00000010);
    cfg1_write(f, a, 0x0c, 4, 0xffffffff);
    assert_int_equal(cfg1_read(f, a, 0x0c, 4), 0x000000ff);
    /* ECAM sees the same space; misaligned accesses across a dword do not. */
    assert_int_equal(bus_read(&f->mmio, ecam(0, 0, 0x0c), 1), 0xff);
    bus_write(&f->mmio, ecam(0, 0, 0x0c), 1, 0x08);
    assert_int_equal(cfg1_read(f, a, 0x0c, 1), 0x08);
    assert_int_equal(bus_read(&f->mmio, ecam(0, 0, 0x0b), 2), 0xffff);
    /* An 8-byte access is two dwords: IDs, then command and status. */
    assert_int_equal(bus_read(&f->mmio, ecam(0, 0, 0), 8), 0x0000000000081b36ULL);
}

/* Read-only fields ignore writes; the command register keeps only the bits
 * a device implements. */
static void test_read_only(void **state)
{
    struct fixture *f = *state;
    uint32_t a = conf1(0, 0, 0);

    cfg1_write(f, a, PCI_VENDOR_ID, 4, 0x12345678);
    cfg1_write(f, a, PCI_REVISION_ID, 4, 0xffffffff);
    bus_write(&f->mmio, ecam(0, 0, 0x100), 4, 0xffffffff);
    assert_int_equal(cfg1_read(f, a, PCI_VENDOR_ID, 4), 0x00081b36);
    assert_int_equal(cfg1_read(f, a, PCI_REVISION_ID, 4), 0x06000000);
    assert_int_equal(bus_read(&f->mmio, ecam(0, 0, 0x100), 4), 0);
    cfg1_write(f, a, PCI_COMMAND, 2, 0xffff);
    assert_int_equal(cfg1_read(f, a, PCI_COMMAND, 2), 0x0547);
    assert_int_equal(cfg1_read(f, a, PCI_STATUS, 2), 0);
    cfg1_write(f, a, PCI_COMMAND, 2, 0);
}

/* Absent devices and functions, other buses: all ones, writes dropped. */
static void test_absent(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(cfg1_read(f, conf1(1, 0, 0), 0, 4), 0xffffffff);
    assert_int_equal(cfg1_read(f, conf1(0, 1, 0), 0, 4), 0xffffffff);
    assert_int_equal(cfg1_read(f, conf1(31, 7, 0), 0, 2), 0xffff);
    assert_int_equal(cfg1_read(f, conf1(0, 0, 0) | 1 << 16, 0, 4), 0xffffffff); /* bus 1 */
    cfg1_write(f, conf1(0, 0, 0) | 1 << 16, PCI_CACHE_LINE, 1, 0x20);
    assert_int_equal(cfg1_read(f, conf1(0, 0, 0), PCI_CACHE_LINE, 1), 0);
    assert_int_equal(bus_read(&f->mmio, ecam(3, 0, 0), 4), 0xffffffff);
    assert_int_equal(bus_read(&f->mmio, ecam(31, 7, 0xffc), 4), 0xffffffff);
    bus_write(&f->mmio, ecam(3, 0, 0), 4, 0);
    /* Bus 1 is outside the window. */
    assert_null(bus_find(&f->mmio, BOARD_PCI_ECAM_BASE + BOARD_PCI_ECAM_SIZE));
}

static void fake_read(struct pci_device *d, unsigned off, unsigned size, uint32_t *value)
{
    struct fixture *f = d->opaque;

    if (off == 0x40 && size == 4)
        *value = 0xcafe0000 | f->hook_reads;
    f->hook_reads++;
}

static void fake_write(struct pci_device *d, unsigned off, unsigned size, uint32_t value)
{
    struct fixture *f = d->opaque;

    (void)off;
    (void)size;
    (void)value;
    f->hook_writes++;
}

/* A fake device at 00:03.0 with a 4 KiB memory BAR 0, a 64-bit 1 MiB
 * prefetchable BAR 2-3 and a 32-byte I/O BAR 4: sizing as a PCI BIOS and
 * Linux's __pci_read_base() do it, then programming an address. */
static void test_bar_sizing(void **state)
{
    struct fixture *f = *state;
    struct pci_device *d = &f->fake;
    uint32_t a = conf1(3, 0, 0);

    pci_device_init(d, 0x1af4, 0x1041, 0x020000, 1);
    d->read = fake_read;
    d->write = fake_write;
    d->opaque = f;
    assert_int_equal(pci_set_bar(d, 0, 0x1000, 0), 0);
    assert_int_equal(pci_set_bar(d, 2, 0x100000, PCI_BAR_MEM64 | PCI_BAR_PREFETCH), 0);
    assert_int_equal(pci_set_bar(d, 4, 32, PCI_BAR_IO), 0);
    assert_int_equal(pci_register(&f->pci, d, PCI_DEVFN(3, 0)), 0);
    assert_int_equal(pci_register(&f->pci, d, PCI_DEVFN(3, 0)), -EEXIST);
    assert_int_equal(pci_register(&f->pci, d, PCI_DEVFNS), -EINVAL);

    assert_int_equal(cfg1_read(f, a, PCI_VENDOR_ID, 4), 0x10411af4);
    assert_int_equal(cfg1_read(f, a, PCI_BAR0, 4), 0);
    assert_int_equal(cfg1_read(f, a, PCI_BAR0 + 8, 4), 0xc);
    assert_int_equal(cfg1_read(f, a, PCI_BAR0 + 16, 4), 0x1);
    for (unsigned bar = 0; bar < PCI_NR_BARS; bar++)
        cfg1_write(f, a, PCI_BAR0 + 4 * bar, 4, 0xffffffff);
    assert_int_equal(cfg1_read(f, a, PCI_BAR0, 4), 0xfffff000);
    assert_int_equal(cfg1_read(f, a, PCI_BAR0 + 4, 4), 0);
    assert_int_equal(cfg1_read(f, a, PCI_BAR0 + 8, 4), 0xfff0000c);
    assert_int_equal(cfg1_read(f, a, PCI_BAR0 + 12, 4), 0xffffffff);
    assert_int_equal(cfg1_read(f, a, PCI_BAR0 + 16, 4), 0xffffffe1);
    assert_int_equal(cfg1_read(f, a, PCI_BAR0 + 20, 4), 0);

    cfg1_write(f, a, PCI_BAR0, 4, 0xc0001234);
    cfg1_write(f, a, PCI_BAR0 + 8, 4, 0xc0100000);
    bus_write(&f->mmio, ecam(3, 0, PCI_BAR0 + 12), 4, 0x1);
    cfg1_write(f, a, PCI_BAR0 + 16, 4, 0x1000);
    assert_int_equal(pci_bar_addr(d, 0), 0xc0001000);
    assert_int_equal(pci_bar_addr(d, 2), 0x1c0100000ULL);
    assert_int_equal(pci_bar_addr(d, 4), 0x1000);
    assert_int_equal(pci_bar_addr(d, 1), 0);
    assert_int_equal(pci_bar_addr(d, PCI_NR_BARS), 0);

    /* The hooks see every access, after the core. */
    f->hook_reads = f->hook_writes = 0;
    assert_int_equal(bus_read(&f->mmio, ecam(3, 0, 0x40), 4), 0xcafe0000);
    assert_int_equal(cfg1_read(f, a, 0x40, 2), 0);
    cfg1_write(f, a, 0x44, 4, 1);
    assert_int_equal(f->hook_reads, 2);
    assert_int_equal(f->hook_writes, 1);
    assert_int_equal(cfg1_read(f, a, 0x44, 4), 0); /* read-only still */

    assert_int_equal(pci_set_bar(d, 5, 0x1000, PCI_BAR_MEM64), -EINVAL);
    assert_int_equal(pci_set_bar(d, PCI_NR_BARS, 0x1000, 0), -EINVAL);
    assert_int_equal(pci_set_bar(d, 0, 0x1800, 0), -EINVAL);
    assert_int_equal(pci_set_bar(d, 0, 8, 0), -EINVAL);
    assert_int_equal(pci_set_bar(d, 0, 512, PCI_BAR_IO), -EINVAL);
    assert_int_equal(pci_set_bar(d, 0, 1ULL << 32, 0), -EINVAL);
    assert_int_equal(pci_set_bar(d, 0, 16, PCI_BAR_IO | PCI_BAR_PREFETCH), -EINVAL);
}

/* 0xCF9 stays the reset control register: byte accesses reach it, and
 * CONFIG_ADDRESS is untouched by them. */
static void test_reset_port(void **state)
{
    struct fixture *f = *state;

    bus_write(&f->pio, PCI_CONFIG_ADDRESS, 4, conf1(0, 0, 0));
    bus_write(&f->pio, 0xcf9, 1, 0x06);
    assert_int_equal(f->reset_writes, 1);
    assert_int_equal(f->reset_reg, 0x06);
    f->reset_reg = 0x02;
    assert_int_equal(bus_read(&f->pio, 0xcf9, 1), 0x02);
    assert_int_equal(bus_read(&f->pio, PCI_CONFIG_ADDRESS, 4), conf1(0, 0, 0));
    /* A dword to 0xCF8 is CONFIG_ADDRESS only. */
    bus_write(&f->pio, PCI_CONFIG_ADDRESS, 4, 0xffffffff);
    assert_int_equal(f->reset_writes, 1);
}

/* The ranges collide with nothing pc.c registers, and a second host
 * cannot take them. */
static void test_ranges(void **state)
{
    struct fixture *f = *state;
    struct pci other;
    struct bus_range reset = {0};

    assert_string_equal(bus_find(&f->pio, 0xcf8)->name, "pci-conf1");
    assert_string_equal(bus_find(&f->pio, 0xcff)->name, "pci-conf1");
    assert_null(bus_find(&f->pio, 0xd00));
    assert_string_equal(bus_find(&f->mmio, BOARD_PCI_ECAM_BASE)->name, "pci-ecam");
    assert_int_equal(pci_init(&other, &f->pio, &f->mmio, &reset), -EEXIST);
    pci_destroy(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_host_bridge_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_dword, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bar_sizing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
