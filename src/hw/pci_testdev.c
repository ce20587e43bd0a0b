/* QEMU's pci-testdev (hw/misc/pci-testdev.c in QEMU 7.2): see pci_testdev.h. */
#include "hw/pci_testdev.h"

#include <errno.h>
#include <string.h>

#include "vm/board.h"

#define MATCH_DATA   0xfa
#define NOMATCH_DATA 0xce
#define HDR_SIZE     16 /* the fixed fields before the name */
#define IO_KIND      1

static const char *const names[PCI_TESTDEV_TESTS] = {
    "mmio-no-eventfd",   "mmio-wildcard-eventfd",   "mmio-datamatch-eventfd",
    "portio-no-eventfd", "portio-wildcard-eventfd", "portio-datamatch-eventfd",
};

static int wildcard(int test)
{
    return test % 3 == 1;
}

/* Where test's counted writes go: past the first half of its BAR. */
static uint32_t test_offset(int test)
{
    return (test < 3 ? PCI_TESTDEV_MEM_SIZE / 2 : PCI_TESTDEV_IO_SIZE / 2) + (uint32_t)test;
}

/* Byte off of the selected test's header. Called with t->lock. */
static uint8_t hdr_byte(const struct pci_testdev *t, uint64_t off)
{
    int test = t->current;
    uint8_t hdr[HDR_SIZE] = {0};
    uint32_t offset = test_offset(test);
    size_t name_len = strlen(names[test]);

    if (off >= HDR_SIZE)
        return off < HDR_SIZE + name_len ? (uint8_t)names[test][off - HDR_SIZE] : 0;
    hdr[0] = (uint8_t)test;
    hdr[1] = 1;
    memcpy(hdr + 4, &offset, 4);
    hdr[8] = wildcard(test) ? NOMATCH_DATA : MATCH_DATA;
    memcpy(hdr + 12, &t->count[test], 4);
    return hdr[off];
}

static uint64_t regs_read(struct pci_testdev *t, uint64_t off, unsigned size)
{
    uint64_t v = 0;

    pthread_mutex_lock(&t->lock);
    for (unsigned i = 0; i < size && t->current >= 0; i++)
        v |= (uint64_t)hdr_byte(t, off + i) << (8 * i);
    pthread_mutex_unlock(&t->lock);
    return v;
}

static void regs_write(struct pci_testdev *t, int kind, uint64_t off, unsigned size, uint64_t v)
{
    pthread_mutex_lock(&t->lock);
    for (unsigned i = 0; i < size; i++) {
        uint8_t b = (uint8_t)(v >> (8 * i));
        int test = t->current;

        if (off + i == 0) {
            t->current = b < 3 ? kind * 3 + b : -1;
            if (t->current >= 0)
                t->count[t->current] = 0;
        } else if (test >= 0 && off + i == test_offset(test) &&
                   (wildcard(test) || b == MATCH_DATA)) {
            t->count[test]++;
        }
    }
    pthread_mutex_unlock(&t->lock);
}

static uint64_t mem_read(struct pci_device *d, unsigned bar, uint64_t off, unsigned size)
{
    (void)bar;
    return regs_read(d->opaque, off, size);
}

static void mem_write(struct pci_device *d, unsigned bar, uint64_t off, unsigned size,
                      uint64_t value)
{
    (void)bar;
    regs_write(d->opaque, 0, off, size, value);
}

/* BAR1 decodes only at its firmware address, with I/O decoding on. */
static int io_decoded(struct pci_testdev *t)
{
    int on;

    pthread_mutex_lock(&t->host->lock);
    on = (t->pci.cfg[PCI_COMMAND] & PCI_COMMAND_IO) &&
         pci_bar_addr(&t->pci, PCI_TESTDEV_IO_BAR) == PCI_TESTDEV_IO_BASE;
    pthread_mutex_unlock(&t->host->lock);
    return on;
}

static uint64_t io_read(void *opaque, uint64_t offset, unsigned size)
{
    if (!io_decoded(opaque))
        return (1ULL << (8 * size)) - 1;
    return regs_read(opaque, offset, size);
}

static void io_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    if (io_decoded(opaque))
        regs_write(opaque, IO_KIND, offset, size, value);
}

int pci_testdev_init(struct pci_testdev *t, struct pci *pci, struct bus *pio, unsigned slot)
{
    struct pci_device *d = &t->pci;
    uint32_t mem = (uint32_t)(BOARD_PCI_MEM32_BASE + slot * 0x10000ULL),
             io = PCI_TESTDEV_IO_BASE | 1;
    int err;

    memset(t, 0, sizeof(*t));
    if (slot < 1 || slot >= 32)
        return -EINVAL;
    pthread_mutex_init(&t->lock, NULL);
    t->host = pci;
    t->current = -1;
    pci_device_init(d, PCI_TESTDEV_VENDOR, PCI_TESTDEV_DEVICE, PCI_TESTDEV_CLASS, 0);
    d->opaque = t;
    d->bar_read = mem_read;
    d->bar_write = mem_write;
    err = pci_set_bar(d, PCI_TESTDEV_MEM_BAR, PCI_TESTDEV_MEM_SIZE, 0);
    if (!err)
        err = pci_set_bar(d, PCI_TESTDEV_IO_BAR, PCI_TESTDEV_IO_SIZE, PCI_BAR_IO);
    if (err)
        return err;
    memcpy(d->cfg + PCI_BAR0 + 4 * PCI_TESTDEV_MEM_BAR, &mem, 4);
    memcpy(d->cfg + PCI_BAR0 + 4 * PCI_TESTDEV_IO_BAR, &io, 4);
    d->cfg[PCI_COMMAND] = PCI_COMMAND_IO | PCI_COMMAND_MEMORY;
    err = bus_register(pio, &(struct bus_range){.base = PCI_TESTDEV_IO_BASE,
                                                .len = PCI_TESTDEV_IO_SIZE,
                                                .widths = BUS_W1 | BUS_W2 | BUS_W4,
                                                .read = io_read,
                                                .write = io_write,
                                                .opaque = t,
                                                .name = "pci-testdev io"});
    if (!err)
        err = pci_register(pci, d, PCI_DEVFN(slot, 0));
    return err;
}

void pci_testdev_destroy(struct pci_testdev *t)
{
    if (t->host)
        pthread_mutex_destroy(&t->lock);
}
