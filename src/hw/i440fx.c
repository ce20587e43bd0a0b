#include "hw/i440fx.h"

#include <errno.h>
#include <string.h>

#include "vm/board.h"

#define PCI_CLASS_ISA_BRIDGE 0x060100
#define I440FX_REVISION      0x02
#define QEMU_SUBSYS_VENDOR   0x1af4
#define QEMU_SUBSYS_DEVICE   0x1100

static uint64_t rom_read(void *opaque, uint64_t offset, unsigned size)
{
    const struct i440fx *c = opaque;
    uint64_t v = 0;

    /* The bus splits accesses to the widths BUS_WANY lists; an access
     * running off the top of 4 GiB reads what it can. */
    if (offset < c->rom_size)
        memcpy(&v, c->rom + offset, c->rom_size - offset < size ? c->rom_size - offset : size);
    return v;
}

/* The ISA IRQ a PIRQ register value routes to, or -1 (82371SB §2.2.11:
 * bit 7 off; 0-2, 8 and 13 reserved). */
static int pirq_target(uint8_t route)
{
    unsigned irq = route & 0x0f;

    if (route & PIIX3_PIRQ_OFF || irq <= 2 || irq == 8 || irq == 13)
        return -1;
    return (int)irq;
}

/* Recomputes the ISA IRQs the PIRQs drive and sends the changes; c->lock
 * held. */
static void update(struct i440fx *c)
{
    uint16_t isa = 0, changed;

    for (unsigned p = 0; p < PIIX3_PIRQS; p++) {
        int irq = pirq_target(c->route[p]);

        /* GSIs 16 + p and 20 + p share PIRQ p (hw/i440fx.h). */
        if (irq >= 0 && c->intx & (1u << p | 1u << (p + PIIX3_PIRQS)))
            isa |= (uint16_t)(1u << irq);
    }
    changed = isa ^ c->isa_level;
    c->isa_level = isa;
    for (unsigned irq = 0; irq < 16; irq++)
        if (changed & (1u << irq))
            c->irq(c->opaque, irq, isa >> irq & 1);
}

void i440fx_pci_intx(struct i440fx *c, unsigned gsi, int level)
{
    uint8_t bit;

    if (gsi < BOARD_PCI_INTX_GSI || gsi >= BOARD_PCI_INTX_GSI + BOARD_PCI_INTX_GSIS)
        return;
    bit = (uint8_t)(1u << (gsi - BOARD_PCI_INTX_GSI));
    pthread_mutex_lock(&c->lock);
    c->intx = level ? c->intx | bit : c->intx & ~bit;
    update(c);
    pthread_mutex_unlock(&c->lock);
}

/* A write to the PIIX3's config space (pci->lock held): the routes may
 * have changed. */
static void isa_write(struct pci_device *d, unsigned off, unsigned size, uint32_t value)
{
    struct i440fx *c = d->opaque;

    (void)value;
    if (off + size <= PIIX3_PIRQ_ROUTE || off >= PIIX3_PIRQ_ROUTE + PIIX3_PIRQS)
        return;
    pthread_mutex_lock(&c->lock);
    memcpy(c->route, d->cfg + PIIX3_PIRQ_ROUTE, PIIX3_PIRQS);
    update(c);
    pthread_mutex_unlock(&c->lock);
}

void i440fx_destroy(struct i440fx *c)
{
    if (c->irq)
        pthread_mutex_destroy(&c->lock);
}

int i440fx_init(struct i440fx *c, struct pci *pci, struct bus *mmio, struct guest_mem *mem,
                const uint8_t *rom, uint64_t rom_size, i440fx_irq_fn *irq, void *opaque)
{
    struct pci_device *host = &pci->host;
    int err;

    if (!rom_size || rom_size > BOARD_ROM_MAX || rom_size % 4096)
        return -EINVAL;
    memset(c, 0, sizeof(*c));
    c->rom = rom;
    c->rom_size = rom_size;
    c->irq = irq;
    c->opaque = opaque;
    pthread_mutex_init(&c->lock, NULL);

    pci_device_init(host, I440FX_VENDOR, I440FX_DEVICE, PCI_CLASS_HOST, I440FX_REVISION);
    host->cfg[PCI_SUBSYSTEM_VENDOR_ID] = (uint8_t)QEMU_SUBSYS_VENDOR;
    host->cfg[PCI_SUBSYSTEM_VENDOR_ID + 1] = QEMU_SUBSYS_VENDOR >> 8;
    host->cfg[PCI_SUBSYSTEM_ID] = (uint8_t)QEMU_SUBSYS_DEVICE;
    host->cfg[PCI_SUBSYSTEM_ID + 1] = QEMU_SUBSYS_DEVICE >> 8;
    /* PAM0 holds the 0xf0000 segment in bits 5:4 only; PAM1-6 two 16 KiB
     * segments each, read enable and write enable per nibble (§3.2.18). */
    host->wmask[I440FX_PAM0] = 0x30;
    for (unsigned i = 1; i < I440FX_PAM_COUNT; i++)
        host->wmask[I440FX_PAM0 + i] = 0x33;

    pci_device_init(&c->isa, I440FX_VENDOR, PIIX3_ISA_DEVICE, PCI_CLASS_ISA_BRIDGE, 0);
    for (unsigned i = 0; i < 4; i++) {
        c->isa.cfg[PIIX3_PIRQ_ROUTE + i] = PIIX3_PIRQ_OFF;
        c->isa.wmask[PIIX3_PIRQ_ROUTE + i] = 0x8f; /* bit 7 and the IRQ number */
        c->route[i] = PIIX3_PIRQ_OFF;
    }
    c->isa.write = isa_write;
    c->isa.opaque = c;
    err = pci_register(pci, &c->isa, PCI_DEVFN(BOARD_PIIX3_SLOT, 0));
    if (!err)
        err = bus_register(mmio, &(struct bus_range){.base = MEM_4G - rom_size,
                                                     .len = rom_size,
                                                     .widths = BUS_WANY,
                                                     .read = rom_read,
                                                     .opaque = c,
                                                     .name = "firmware-rom"});
    if (!err)
        mem->rom = (struct mem_region){
            .gpa = MEM_4G - rom_size, .size = rom_size, .host = (uint8_t *)(uintptr_t)rom};
    return err;
}
