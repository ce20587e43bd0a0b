/*
 * libFuzzer target for the virtio-pci transport and MSI-X (virtio/pci.c,
 * hw/msix.c): a hostile driver of a virtio-rng and a virtio-console at
 * 00:01.0 and 00:02.0 that writes and reads their configuration space
 * (through 0xCF8/0xCFC: the capabilities, MSI-X control, the configuration
 * access window, BARs and the command register) and their BARs (common
 * configuration, ISR, notifications, MSI-X table and pending bits), with
 * rings and buffers wherever it likes in guest RAM.
 *
 * Input: 256 bytes of guest RAM at 0x10000 (rings, descriptors), then
 * records of 12 bytes: kind (bit 0 write; bits 1-2 log2 of the size; bit 3
 * configuration space instead of the BAR; bit 4 the console instead of the
 * rng), offset (2 bytes: in config space, or in the 32 KiB BAR), value (8
 * bytes), and one spare byte. Checks: no crash or sanitizer report (no
 * access outside guest RAM, no lock taken twice), and the functions' IDs
 * read back unchanged.
 *
 * Guest RAM (2 MiB) is made once: a memfd, an mmap and fresh pages for each
 * input would cost more than the input on a virtualized host. Before each
 * input, the pages the last one wrote go back to zero: the harness's 256
 * bytes, and what the devices wrote, which they report through the
 * engine's mem_written (as they do so that the emu engine's decode caches
 * see DMA). The devices and the PCI host are made again for each input;
 * they only allocate. quiet.c stands in for the console's write(2) per
 * byte and virtio-rng's getrandom.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/pc.h"
#include "virtio/devices.h"
#include "vm/board.h"
#include "vm/vm.h"

#define RECORD    12
#define RAM_PAGES (MEM_MIN_SIZE >> 12)

static bool dirty[RAM_PAGES];

static int no_irq(struct vm *vm, uint32_t gsi, int level)
{
    (void)vm, (void)gsi, (void)level;
    return 0;
}

static int no_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
    (void)vm, (void)addr, (void)data;
    return 0;
}

/* Called for every device write to guest RAM, inside RAM. */
static void written(struct vm *vm, uint64_t gpa, uint64_t len)
{
    (void)vm;
    for (uint64_t p = gpa >> 12; p < RAM_PAGES && p <= (gpa + len - 1) >> 12; p++)
        dirty[p] = true;
}

static const struct accel_ops engine = {
    .name = "fuzz", .irq_set = no_irq, .msi_send = no_msi, .mem_written = written};

static void fail(const char *why)
{
    fprintf(stderr, "fuzz_virtio_pci: %s\n", why);
    abort();
}

static uint32_t cfg_read(struct vm *vm, unsigned slot, unsigned off, unsigned size)
{
    bus_write(&vm->pio, PCI_CONFIG_ADDRESS, 4, PCI_CONFIG_ENABLE | slot << 11 | (off & 0xfc));
    return (uint32_t)bus_read(&vm->pio, PCI_CONFIG_DATA + (off & 3), size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vm vm;
    static struct pc pc;
    struct virtio_dev *dev[2];
    struct bus_range reset = {0};
    struct guest_mem mem = vm.mem;

    if (!mem.base && mem_init(&mem, MEM_MIN_SIZE))
        fail("mem_init");
    for (unsigned p = 0; p < RAM_PAGES; p++)
        if (dirty[p]) {
            memset(mem.base + p * 4096, 0, 4096);
            dirty[p] = false;
        }
    memset(&vm, 0, sizeof(vm));
    memset(&pc, 0, sizeof(pc));
    vm.mem = mem;
    vm.accel = &engine;
    vm.accel_vm = dirty; /* vm_mem_written calls written() only with one */
    vm.pc = &pc;
    vm.stop_fd = -1;
    bus_init(&vm.pio, "pio");
    bus_init(&vm.mmio, "mmio");
    if (pci_init(&pc.pci, &vm.pio, &vm.mmio, &reset))
        fail("init");
    dev[0] = virtio_rng_create(&vm);
    dev[1] = virtio_console_create(&vm);
    if (!dev[0] || !dev[1] || virtio_pci_add(dev[0], 0, 1) || virtio_pci_add(dev[1], 1, 2))
        fail("device init");
    if (size >= 256) {
        memcpy(vm.mem.base + 0x10000, data, 256);
        written(&vm, 0x10000, 256);
        data += 256;
        size -= 256;
    }
    for (; size >= RECORD; data += RECORD, size -= RECORD) {
        unsigned width = 1u << ((data[0] >> 1) & 3), slot = (data[0] & 16) ? 2 : 1;
        unsigned off = (unsigned)data[1] | (unsigned)data[2] << 8;
        uint64_t value;

        memcpy(&value, data + 3, 8);
        if (data[0] & 8) {
            off &= 0xfff;
            bus_write(&vm.pio, PCI_CONFIG_ADDRESS, 4,
                      PCI_CONFIG_ENABLE | slot << 11 | (off & 0xfc));
            if (data[0] & 1)
                bus_write(&vm.pio, PCI_CONFIG_DATA + (off & 3), width > 4 ? 4 : width, value);
            else
                bus_read(&vm.pio, PCI_CONFIG_DATA + (off & 3), width > 4 ? 4 : width);
        } else {
            uint64_t gpa = BOARD_PCI_MEM32_BASE + slot * 0x10000ULL + (off & 0x7fff);

            if (data[0] & 1)
                bus_write(&vm.mmio, gpa, width, value);
            else
                bus_read(&vm.mmio, gpa, width);
        }
    }
    if (cfg_read(&vm, 1, 0, 4) != 0x10441af4 || cfg_read(&vm, 2, 0, 4) != 0x10431af4)
        fail("a read-only ID changed");
    for (int i = 0; i < 2; i++) {
        virtio_pci_remove(dev[i]);
        dev[i]->ops->destroy(dev[i]);
    }
    pci_destroy(&pc.pci);
    bus_destroy(&vm.mmio);
    bus_destroy(&vm.pio);
    return 0;
}
