/* The chipset of a firmware boot (hw/i440fx.h) as SeaBIOS reads it: the
 * host bridge's i440FX and QEMU IDs, PAM registers that keep what is written
 * in their defined bits, the PIIX3's PIRQ registers, the BIOS ROM at the top
 * of 4 GiB (reads of the image, writes dropped) and the same ROM in
 * guest_mem for the kvm engine. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hw/bus.h"
#include "hw/i440fx.h"
#include "hw/pci.h"
#include "vm/mem.h"

#define ROM_SIZE (64u << 10)

struct fixture {
    struct bus pio, mmio;
    struct pci pci;
    struct guest_mem mem;
    struct i440fx chip;
    uint8_t rom[ROM_SIZE];
};

static int setup(void **state)
{
    static struct fixture f;
    struct bus_range reset = {0};

    memset(&f, 0, sizeof(f));
    bus_init(&f.pio, "pio");
    bus_init(&f.mmio, "mmio");
    for (unsigned i = 0; i < ROM_SIZE; i++)
        f.rom[i] = (uint8_t)(i * 7 + 1);
    if (mem_init(&f.mem, 4ULL << 20) || pci_init(&f.pci, &f.pio, &f.mmio, &reset) ||
        i440fx_init(&f.chip, &f.pci, &f.mmio, &f.mem, f.rom, ROM_SIZE))
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
    mem_destroy(&f->mem);
    return 0;
}

static void test_host_bridge(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(pci_cfg_read(&f->pci, 0, PCI_VENDOR_ID, 4), 0x12378086);
    assert_int_equal(pci_cfg_read(&f->pci, 0, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4);
    assert_int_equal(pci_cfg_read(&f->pci, 0, PCI_CLASS_PROG, 2) >> 8, 0x00);
    assert_int_equal(pci_cfg_read(&f->pci, 0, PCI_CLASS_PROG + 1, 2), 0x0600);
    /* PAM0 keeps bits 5:4 only, PAM1-6 bits 5:4 and 1:0. */
    pci_cfg_write(&f->pci, 0, I440FX_PAM0, 1, 0xff);
    assert_int_equal(pci_cfg_read(&f->pci, 0, I440FX_PAM0, 1), 0x30);
    pci_cfg_write(&f->pci, 0, I440FX_PAM0 + 3, 4, 0xffffffff);
    assert_int_equal(pci_cfg_read(&f->pci, 0, I440FX_PAM0 + 3, 4), 0x33333333);
}

static void test_piix3(void **state)
{
    struct fixture *f = *state;
    unsigned devfn = PCI_DEVFN(PIIX3_SLOT, 0);

    assert_int_equal(pci_cfg_read(&f->pci, devfn, PCI_VENDOR_ID, 4), 0x70008086);
    assert_int_equal(pci_cfg_read(&f->pci, devfn, PCI_CLASS_PROG + 1, 2), 0x0601);
    assert_int_equal(pci_cfg_read(&f->pci, devfn, PIIX3_PIRQ_ROUTE, 4), 0x80808080);
    pci_cfg_write(&f->pci, devfn, PIIX3_PIRQ_ROUTE, 4, 0x0b0b0a0a);
    assert_int_equal(pci_cfg_read(&f->pci, devfn, PIIX3_PIRQ_ROUTE, 4), 0x0b0b0a0a);
    pci_cfg_write(&f->pci, devfn, PIIX3_PIRQ_ROUTE, 1, 0xff);
    assert_int_equal(pci_cfg_read(&f->pci, devfn, PIIX3_PIRQ_ROUTE, 1), 0x8f);
}

static void test_rom(void **state)
{
    struct fixture *f = *state;
    uint64_t base = MEM_4G - ROM_SIZE, v;

    memcpy(&v, f->rom + ROM_SIZE - 16, 8);
    assert_int_equal(bus_read(&f->mmio, 0xfffffff0, 8), v);
    assert_int_equal(bus_read(&f->mmio, base, 1), f->rom[0]);
    bus_write(&f->mmio, base, 4, 0);
    assert_int_equal(bus_read(&f->mmio, base, 1), f->rom[0]);
    assert_int_equal(f->mem.rom.gpa, base);
    assert_int_equal(f->mem.rom.size, ROM_SIZE);
    assert_ptr_equal(f->mem.rom.host, f->rom);
    /* Not RAM for vx86's own accesses. */
    assert_null(mem_ptr(&f->mem, base, 1));
}

static void test_bad_rom_sizes(void **state)
{
    struct fixture *f = *state;
    struct i440fx other;

    assert_int_equal(i440fx_init(&other, &f->pci, &f->mmio, &f->mem, f->rom, 0), -EINVAL);
    assert_int_equal(i440fx_init(&other, &f->pci, &f->mmio, &f->mem, f->rom, 1000), -EINVAL);
    assert_int_equal(i440fx_init(&other, &f->pci, &f->mmio, &f->mem, f->rom, I440FX_ROM_MAX + 4096),
                     -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_bridge),
        cmocka_unit_test(test_piix3),
        cmocka_unit_test(test_rom),
        cmocka_unit_test(test_bad_rom_sizes),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
