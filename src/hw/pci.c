#include "hw/pci.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "vm/board.h"

/* CONFIG_ADDRESS bits that hold something (PCI Local Bus 3.0 §3.2.2.3.2):
 * enable, bus, device, function, register. Bits 30:24 are reserved and
 * 1:0 read 0. */
#define CONFIG_ADDRESS_MASK 0x80fffffcu

static uint32_t ones(unsigned size)
{
    return size >= 4 ? ~0u : (1u << (8 * size)) - 1;
}

static bool access_ok(unsigned devfn, unsigned off, unsigned size)
{
    return devfn < PCI_DEVFNS && off < PCI_CFG_SIZE && (size == 1 || size == 2 || size == 4) &&
           (off & 3) + size <= 4;
}

uint32_t pci_cfg_read(struct pci *pci, unsigned devfn, unsigned off, unsigned size)
{
    struct pci_device *d;
    uint32_t v = 0;

    if (!access_ok(devfn, off, size))
        return ones(size);
    pthread_mutex_lock(&pci->lock);
    d = pci->devs[devfn];
    if (d) {
        for (unsigned i = 0; i < size; i++)
            v |= (uint32_t)d->cfg[off + i] << (8 * i);
        if (d->read)
            d->read(d, off, size, &v);
    } else {
        v = ones(size);
    }
    pthread_mutex_unlock(&pci->lock);
    return v;
}

void pci_cfg_write(struct pci *pci, unsigned devfn, unsigned off, unsigned size, uint32_t value)
{
    struct pci_device *d;

    if (!access_ok(devfn, off, size))
        return;
    pthread_mutex_lock(&pci->lock);
    d = pci->devs[devfn];
    if (d) {
        for (unsigned i = 0; i < size; i++) {
            uint8_t m = d->wmask[off + i], b = (uint8_t)(value >> (8 * i));

            d->cfg[off + i] = (uint8_t)((d->cfg[off + i] & ~m) | (b & m));
        }
        if (d->write)
            d->write(d, off, size, value);
    }
    pthread_mutex_unlock(&pci->lock);
}

/* The register an access at 0xCFC + (offset - 4) reaches. CONFIG_ADDRESS
 * bits 1:0 read 0 but, as on QEMU's i440FX, are ORed into the byte offset:
 * kvm-unit-tests (lib/x86/asm/pci.h) selects a word that way and reads
 * 0xCFC. */
static unsigned data_offset(uint32_t addr, uint64_t offset)
{
    return (addr & 0xfc) + ((addr & 3) | (unsigned)(offset - 4));
}

/* 0xCF8-0xCFF. As on the PIIX and ICH, only a dword access at 0xCF8 is
 * CONFIG_ADDRESS; a byte at 0xCF9 is the reset control register; other
 * accesses to 0xCF8-0xCFB reach nothing (Linux's type 2 probe writes bytes
 * there and must find no type 2 mechanism). */
static uint64_t conf1_read(void *opaque, uint64_t offset, unsigned size)
{
    struct pci *pci = opaque;
    uint32_t addr;

    if (offset == 1 && size == 1)
        return pci->reset.read ? pci->reset.read(pci->reset.opaque, 0, 1) : 0xff;
    if (offset < 4 && !(offset == 0 && size == 4))
        return ones(size);
    pthread_mutex_lock(&pci->lock);
    addr = pci->config_address;
    pthread_mutex_unlock(&pci->lock);
    if (offset == 0)
        return addr & CONFIG_ADDRESS_MASK;
    if (!(addr & PCI_CONFIG_ENABLE) || (addr >> 16 & 0xff) != 0)
        return ones(size);
    return pci_cfg_read(pci, addr >> 8 & 0xff, data_offset(addr, offset), size);
}

static void conf1_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct pci *pci = opaque;
    uint32_t addr;

    if (offset == 1 && size == 1) {
        if (pci->reset.write)
            pci->reset.write(pci->reset.opaque, 0, 1, value);
        return;
    }
    if (offset < 4 && !(offset == 0 && size == 4))
        return;
    pthread_mutex_lock(&pci->lock);
    if (offset == 0)
        pci->config_address = (uint32_t)value & (CONFIG_ADDRESS_MASK | 3);
    addr = pci->config_address;
    pthread_mutex_unlock(&pci->lock);
    if (offset == 0 || !(addr & PCI_CONFIG_ENABLE) || (addr >> 16 & 0xff) != 0)
        return;
    pci_cfg_write(pci, addr >> 8 & 0xff, data_offset(addr, offset), size, (uint32_t)value);
}

/* ECAM (PCIe Base 6.0 §7.2.2, Table 7-1): offset bits 19:15 device, 14:12
 * function, 11:0 register; the window holds bus 0 only. The bus splits
 * 8-byte accesses into dwords. */
static uint64_t ecam_read(void *opaque, uint64_t offset, unsigned size)
{
    return pci_cfg_read(opaque, (unsigned)(offset >> 12), (unsigned)(offset & 0xfff), size);
}

static void ecam_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    pci_cfg_write(opaque, (unsigned)(offset >> 12), (unsigned)(offset & 0xfff), size,
                  (uint32_t)value);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device, uint32_t class_code,
                     uint8_t revision)
{
    memset(d, 0, sizeof(*d));
    put16(d->cfg + PCI_VENDOR_ID, vendor);
    put16(d->cfg + PCI_DEVICE_ID, device);
    put32(d->cfg + PCI_REVISION_ID, class_code << 8 | revision);
    put16(d->wmask + PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
                                      PCI_COMMAND_PARITY | PCI_COMMAND_SERR | PCI_COMMAND_INTX);
    d->wmask[PCI_CACHE_LINE] = 0xff;
    d->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

int pci_set_bar(struct pci_device *d, unsigned bar, uint64_t size, unsigned flags)
{
    bool io = flags & PCI_BAR_IO, wide = flags & PCI_BAR_MEM64;
    uint64_t addr_mask = ~(size - 1);
    uint8_t *mask;

    if (bar >= PCI_NR_BARS || (wide && bar + 1 >= PCI_NR_BARS) || !size || (size & (size - 1)) ||
        (io && (flags != PCI_BAR_IO || size < 4 || size > 256)) ||
        (!io && (flags & ~(PCI_BAR_MEM64 | PCI_BAR_PREFETCH) || size < 16 ||
                 (!wide && size > 0x80000000ULL))))
        return -EINVAL;
    d->bar_size[bar] = size;
    put32(d->cfg + PCI_BAR0 + 4 * bar, flags);
    mask = d->wmask + PCI_BAR0 + 4 * bar;
    put32(mask, (uint32_t)addr_mask & (io ? ~3u : ~15u));
    if (wide)
        put32(mask + 4, (uint32_t)(addr_mask >> 32));
    return 0;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint64_t pci_bar_addr(const struct pci_device *d, unsigned bar)
{
    const uint8_t *reg;
    uint32_t lo;

    if (bar >= PCI_NR_BARS || !d->bar_size[bar])
        return 0;
    reg = d->cfg + PCI_BAR0 + 4 * bar;
    lo = get32(reg);
    if (lo & PCI_BAR_IO)
        return lo & ~3u;
    if (lo & PCI_BAR_MEM64)
        return (uint64_t)get32(reg + 4) << 32 | (lo & ~15u);
    return lo & ~15u;
}

unsigned pci_add_cap(struct pci_device *d, uint8_t id, unsigned len)
{
    unsigned off = d->cap_end ? d->cap_end : PCI_CAP_START, prev;

    if (len < 2 || off + len > 0x100)
        return 0;
    d->cfg[off] = id;
    d->cfg[off + 1] = 0;
    /* Link it at the end of the list (§6.7): the pointer at 0x34 or the
     * last capability's next byte. */
    prev = PCI_CAPABILITY_LIST;
    while (d->cfg[prev])
        prev = d->cfg[prev] + 1u;
    d->cfg[prev] = (uint8_t)off;
    d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
    d->cap_end = (uint8_t)((off + len + 3) & ~3u);
    if (off + len + 3 > 0xff)
        d->cap_end = 0xff; /* full: the next call finds no room */
    return off;
}

int pci_register(struct pci *pci, struct pci_device *d, unsigned devfn)
{
    if (devfn >= PCI_DEVFNS)
        return -EINVAL;
    if (pci->devs[devfn])
        return -EEXIST;
    pci->devs[devfn] = d;
    pci->devs_list[pci->nr_devs++] = d;
    return 0;
}

/* The device and memory BAR that decode gpa, with memory decoding on; the
 * BARs can change under a config write, hence the lock. */
static struct pci_device *decode(struct pci *pci, uint64_t gpa, unsigned *bar, uint64_t *off)
{
    struct pci_device *hit = NULL;

    pthread_mutex_lock(&pci->lock);
    for (int i = 0; i < pci->nr_devs && !hit; i++) {
        struct pci_device *d = pci->devs_list[i];

        if (!d->bar_read || !(d->cfg[PCI_COMMAND] & PCI_COMMAND_MEMORY))
            continue;
        for (unsigned b = 0; b < PCI_NR_BARS; b++) {
            uint64_t base = pci_bar_addr(d, b);

            if (!d->bar_size[b] || (d->cfg[PCI_BAR0 + 4 * b] & PCI_BAR_IO) || !base ||
                gpa - base >= d->bar_size[b])
                continue;
            hit = d, *bar = b, *off = gpa - base;
            break;
        }
    }
    pthread_mutex_unlock(&pci->lock);
    return hit;
}

static uint64_t read_at(struct pci *pci, uint64_t gpa, unsigned size)
{
    uint64_t off;
    unsigned bar;
    struct pci_device *d = decode(pci, gpa, &bar, &off);

    if (!d || off + size > d->bar_size[bar])
        return size >= 8 ? ~0ULL : (1ULL << (8 * size)) - 1;
    return d->bar_read(d, bar, off, size);
}

static void write_at(struct pci *pci, uint64_t gpa, unsigned size, uint64_t value)
{
    uint64_t off;
    unsigned bar;
    struct pci_device *d = decode(pci, gpa, &bar, &off);

    if (d && off + size <= d->bar_size[bar])
        d->bar_write(d, bar, off, size, value);
}

static uint64_t window_read(void *opaque, uint64_t offset, unsigned size)
{
    return read_at(opaque, BOARD_PCI_MEM32_BASE + offset, size);
}

static void window_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    write_at(opaque, BOARD_PCI_MEM32_BASE + offset, size, value);
}

static uint64_t high_read(void *opaque, uint64_t offset, unsigned size)
{
    return read_at(opaque, BOARD_PCI_MEM32_HIGH_BASE + offset, size);
}

static void high_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    write_at(opaque, BOARD_PCI_MEM32_HIGH_BASE + offset, size, value);
}

int pci_init(struct pci *pci, struct bus *pio, struct bus *mmio, const struct bus_range *reset)
{
    int err;

    memset(pci, 0, sizeof(*pci));
    pthread_mutex_init(&pci->lock, NULL);
    pci->reset = *reset;
    pci_device_init(&pci->host, PCI_HOST_VENDOR, PCI_HOST_DEVICE, PCI_CLASS_HOST, 0);
    err = pci_register(pci, &pci->host, PCI_DEVFN(0, 0));
    if (!err)
        err = bus_register(pio, &(struct bus_range){.base = PCI_CONFIG_ADDRESS,
                                                    .len = 8,
                                                    .widths = BUS_W1 | BUS_W2 | BUS_W4,
                                                    .read = conf1_read,
                                                    .write = conf1_write,
                                                    .opaque = pci,
                                                    .name = "pci-conf1"});
    if (!err)
        err = bus_register(mmio, &(struct bus_range){.base = BOARD_PCI_ECAM_BASE,
                                                     .len = BOARD_PCI_ECAM_SIZE,
                                                     .widths = BUS_W1 | BUS_W2 | BUS_W4,
                                                     .read = ecam_read,
                                                     .write = ecam_write,
                                                     .opaque = pci,
                                                     .name = "pci-ecam"});
    if (!err)
        err = bus_register(mmio, &(struct bus_range){.base = BOARD_PCI_MEM32_BASE,
                                                     .len = BOARD_PCI_MEM32_SIZE,
                                                     .widths = BUS_WANY,
                                                     .read = window_read,
                                                     .write = window_write,
                                                     .opaque = pci,
                                                     .name = "pci-mem32"});
    if (!err)
        err = bus_register(mmio, &(struct bus_range){.base = BOARD_PCI_MEM32_HIGH_BASE,
                                                     .len = BOARD_PCI_MEM32_HIGH_SIZE,
                                                     .widths = BUS_WANY,
                                                     .read = high_read,
                                                     .write = high_write,
                                                     .opaque = pci,
                                                     .name = "pci-mem32-high"});
    return err;
}

void pci_destroy(struct pci *pci)
{
    pthread_mutex_destroy(&pci->lock);
}
