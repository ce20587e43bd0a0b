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
#include "vm/board.h"
#include "vm/mem.h"

#define ROM_SIZE (64u << 10)

struct fixture {
    struct bus pio, mmio;
    struct pci pci;
    struct guest_mem mem;
    struct i440fx chip;
    uint8_t rom[ROM_SIZE];
    int isa[16];      /* each ISA IRQ's level as the router last drove it */
    unsigned changes; /* how many times it drove one */
};

static void isa_irq(void *opaque, unsigned irq, int level)
{
    struct fixture *f = opaque;

    assert_true(irq < 16);
    assert_int_not_equal(f->isa[irq], level); /* only changes are sent */
    f->isa[irq] = level;
    f->changes++;
}

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
        i440fx_init(&f.chip, &f.pci, &f.mmio, &f.mem, f.rom, ROM_SIZE, isa_irq, &f))
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    i440fx_destroy(&f->chip);
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
    unsigned devfn = PCI_DEVFN(BOARD_PIIX3_SLOT, 0);

    assert_int_equal(pci_cfg_read(&f->pci, devfn, PCI_VENDOR_ID, 4), 0x70008086);
    assert_int_equal(pci_cfg_read(&f->pci, devfn, PCI_CLASS_PROG + 1, 2), 0x0601);
    assert_int_equal(pci_cfg_read(&f->pci, devfn, PIIX3_PIRQ_ROUTE, 4), 0x80808080);
    pci_cfg_write(&f->pci, devfn, PIIX3_PIRQ_ROUTE, 4, 0x0b0b0a0a);
    assert_int_equal(pci_cfg_read(&f->pci, devfn, PIIX3_PIRQ_ROUTE, 4), 0x0b0b0a0a);
    pci_cfg_write(&f->pci, devfn, PIIX3_PIRQ_ROUTE, 1, 0xff);
    assert_int_equal(pci_cfg_read(&f->pci, devfn, PIIX3_PIRQ_ROUTE, 1), 0x8f);
}

/* SeaBIOS's routing (src/fw/pciinit.c): PIRQA-D to IRQs 10, 10, 11, 11. */
static void route_like_seabios(struct fixture *f)
{
    pci_cfg_write(&f->pci, PCI_DEVFN(BOARD_PIIX3_SLOT, 0), PIIX3_PIRQ_ROUTE, 4, 0x0b0b0a0a);
}

static void test_pirq_unrouted(void **state)
{
    struct fixture *f = *state;

    /* At reset every PIRQ is off: INTx reaches no ISA IRQ. */
    for (unsigned gsi = BOARD_PCI_INTX_GSI; gsi < BOARD_PCI_INTX_GSI + BOARD_PCI_INTX_GSIS; gsi++)
        i440fx_pci_intx(&f->chip, gsi, 1);
    assert_int_equal(f->changes, 0);
    /* Routing it then raises the IRQ of the lines already asserted. */
    route_like_seabios(f);
    assert_int_equal(f->isa[10], 1);
    assert_int_equal(f->isa[11], 1);
    assert_int_equal(f->changes, 2);
}

static void test_pirq_routes(void **state)
{
    struct fixture *f = *state;

    route_like_seabios(f);
    assert_int_equal(f->changes, 0);
    /* Slot 2 INTA (GSI 17): PIRQB, as SeaBIOS's $PIR and interrupt line
     * say (pci_irqs[(pin - 1 + slot - 1) & 3] = IRQ 10). */
    i440fx_pci_intx(&f->chip, pci_intx_gsi(2, 0), 1);
    assert_int_equal(f->isa[10], 1);
    /* Slot 6 INTA shares PIRQB (GSI 21): the IRQ stays up until both drop. */
    i440fx_pci_intx(&f->chip, pci_intx_gsi(6, 0), 1);
    i440fx_pci_intx(&f->chip, pci_intx_gsi(2, 0), 0);
    assert_int_equal(f->isa[10], 1);
    /* PIRQA (slot 1) also goes to IRQ 10: wired-OR. */
    i440fx_pci_intx(&f->chip, pci_intx_gsi(1, 0), 1);
    i440fx_pci_intx(&f->chip, pci_intx_gsi(6, 0), 0);
    assert_int_equal(f->isa[10], 1);
    i440fx_pci_intx(&f->chip, pci_intx_gsi(1, 0), 0);
    assert_int_equal(f->isa[10], 0);
    /* Slot 3 INTA: PIRQC, IRQ 11; slot 4 INTB: (4 - 1 + 1) & 3, PIRQA,
     * IRQ 10. */
    i440fx_pci_intx(&f->chip, pci_intx_gsi(3, 0), 1);
    assert_int_equal(f->isa[11], 1);
    assert_int_equal(f->isa[10], 0);
    i440fx_pci_intx(&f->chip, pci_intx_gsi(4, 1), 1);
    assert_int_equal(f->isa[10], 1);
    /* Not PCI lines: ignored. */
    i440fx_pci_intx(&f->chip, 4, 1);
    i440fx_pci_intx(&f->chip, BOARD_PCI_INTX_GSI + BOARD_PCI_INTX_GSIS, 1);
    assert_int_equal(f->isa[4], 0);
}

static void test_pirq_reroute(void **state)
{
    struct fixture *f = *state;
    unsigned devfn = PCI_DEVFN(BOARD_PIIX3_SLOT, 0);

    route_like_seabios(f);
    i440fx_pci_intx(&f->chip, pci_intx_gsi(1, 0), 1); /* PIRQA */
    assert_int_equal(f->isa[10], 1);
    /* Moved to IRQ 5 while asserted: 10 drops, 5 rises. */
    pci_cfg_write(&f->pci, devfn, PIIX3_PIRQ_ROUTE, 1, 5);
    assert_int_equal(f->isa[10], 0);
    assert_int_equal(f->isa[5], 1);
    /* Bit 7 turns the route off. */
    pci_cfg_write(&f->pci, devfn, PIIX3_PIRQ_ROUTE, 1, 0x85);
    assert_int_equal(f->isa[5], 0);
    /* The datasheet's reserved IRQs route nothing: 0-2, 8, 13. */
    for (unsigned irq = 0; irq < 16; irq++) {
        pci_cfg_write(&f->pci, devfn, PIIX3_PIRQ_ROUTE, 1, irq);
        for (unsigned i = 0; i < 16; i++)
            assert_int_equal(f->isa[i], i == irq && irq > 2 && irq != 8 && irq != 13);
    }
    /* A write elsewhere in config space leaves the levels alone. */
    pci_cfg_write(&f->pci, devfn, PIIX3_PIRQ_ROUTE, 1, 9);
    f->changes = 0;
    pci_cfg_write(&f->pci, devfn, PCI_COMMAND, 2, 7);
    pci_cfg_write(&f->pci, devfn, PIIX3_PIRQ_ROUTE + 1, 1, 3);
    assert_int_equal(f->changes, 0);
    assert_int_equal(f->isa[9], 1);
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

    assert_int_equal(i440fx_init(&other, &f->pci, &f->mmio, &f->mem, f->rom, 0, isa_irq, f),
                     -EINVAL);
    assert_int_equal(i440fx_init(&other, &f->pci, &f->mmio, &f->mem, f->rom, 1000, isa_irq, f),
                     -EINVAL);
    assert_int_equal(
        i440fx_init(&other, &f->pci, &f->mmio, &f->mem, f->rom, BOARD_ROM_MAX + 4096, isa_irq, f),
        -EINVAL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_host_bridge),  T(test_piix3), T(test_pirq_unrouted), T(test_pirq_routes),
        T(test_pirq_reroute), T(test_rom),   T(test_bad_rom_sizes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
