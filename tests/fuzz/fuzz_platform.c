/*
 * libFuzzer target for the platform devices a guest reaches by port I/O and
 * that read or write guest RAM on its say or keep state machines: fw_cfg
 * (with DMA), the ACPI PM registers / reset control, the PCI host's
 * configuration mechanisms and the i8042 with its keyboard (hw/fw_cfg.h,
 * hw/acpi_pm.h, hw/pci.h, hw/i8042.h), on one bus as pc.c puts them, with
 * a device with a 32-bit and a 64-bit memory BAR at 00:01.0.
 *
 * Input: 64 bytes of guest RAM at 0 (where DMA requests are read from), then
 * records of 7 bytes: kind (bit 0 write, bits 1-2 log2 of the size: 1, 2, 4
 * or 8 bytes; bit 3 ECAM instead of a port, bits 4-5 a byte offset), port
 * selector, offset (both pick a port near the devices; for ECAM, function
 * 0-15 and dword 0-255), value (4 bytes, little-endian). Checks: no crash or
 * sanitizer report; fw_cfg's read offset stays inside its item; the signature
 * item still reads "QEMU" and the host bridge its IDs afterwards (the guest
 * cannot change read-only fields); CONFIG_ADDRESS's reserved bits read 0;
 * the i8042 never reports an input buffer full, raises only IRQ 1 and 12,
 * empties its output buffer within a bounded number of reads and still
 * passes its self-test afterwards.
 *
 * Guest RAM is made once; before each input, what the last one wrote goes
 * back to zero: its 64 bytes, and the pages fw_cfg's DMA wrote (it reports
 * them through its written hook).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/acpi_pm.h"
#include "hw/bus.h"
#include "hw/fw_cfg.h"
#include "hw/i8042.h"
#include "hw/pci.h"
#include "vm/board.h"

#define RAM_SIZE  (2u << 20)
#define RAM_PAGES (RAM_SIZE >> 12)

static bool dirty[RAM_PAGES];

static const uint16_t bases[] = {BOARD_FW_CFG_PORT, FW_CFG_PORT_DMA, ACPI_PM1_EVT_PORT,
                                 BOARD_RESET_PORT - 1, BOARD_I8042_DATA_PORT};
#define NR_BASES (sizeof(bases) / sizeof(bases[0]))

/* The controller's answers, then the keyboard's queue, then one byte. */
#define I8042_MAX_READS (I8042_REPLIES + PS2_KBD_QUEUE + 1)

static void event(void *opaque, enum acpi_pm_event ev)
{
    (void)ev;
    (*(int *)opaque)++;
}

static void fail(const char *why)
{
    fprintf(stderr, "fuzz_platform: %s\n", why);
    abort();
}

static void kbc_irq(void *opaque, unsigned irq, int level)
{
    (void)opaque;
    (void)level;
    if (irq != BOARD_KBD_IRQ && irq != BOARD_MOUSE_IRQ)
        fail("the i8042 drove a line other than IRQ 1 and 12");
}

/* fw_cfg's DMA wrote [gpa, gpa + len), inside RAM. */
static void written(void *opaque, uint64_t gpa, uint64_t len)
{
    (void)opaque;
    for (uint64_t p = gpa >> 12; p < RAM_PAGES && p <= (gpa + len - 1) >> 12; p++)
        dirty[p] = true;
}

static void kbc_reset(void *opaque)
{
    (*(int *)opaque)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct guest_mem mem;
    static const uint8_t file[40] = {[0] = 1, [39] = 2};
    static struct pci_device dev;
    struct bus pio, mmio;
    struct bus_range reset;
    struct fw_cfg fw;
    struct acpi_pm pm;
    struct pci pci;
    struct i8042 kbc;
    int events = 0, n;
    char sig[4];

    if (!mem.base && mem_init(&mem, RAM_SIZE))
        fail("mem_init");
    for (unsigned p = 0; p < RAM_PAGES; p++)
        if (dirty[p]) {
            memset(mem.base + p * 4096, 0, 4096);
            dirty[p] = false;
        }
    if (size >= 64) {
        dirty[0] = true;
        memcpy(mem.base, data, 64);
        data += 64;
        size -= 64;
    }
    bus_init(&pio, "pio");
    bus_init(&mmio, "mmio");
    pci_device_init(&dev, 0x1af4, 0x1041, 0x020000, 1);
    if (fw_cfg_init(&fw, &pio, &mem) || fw_cfg_add_file(&fw, "etc/test", file, sizeof(file)) ||
        acpi_pm_init(&pm, &pio, event, &events) ||
        i8042_init(&kbc, &pio, kbc_irq, kbc_reset, &events))
        fail("init");
    fw.written = written;
    reset = acpi_pm_reset_range(&pm);
    if (pci_init(&pci, &pio, &mmio, &reset) || pci_set_bar(&dev, 0, 0x1000, 0) ||
        pci_set_bar(&dev, 2, 0x4000, PCI_BAR_MEM64) || pci_register(&pci, &dev, PCI_DEVFN(1, 0)))
        fail("pci init");
    for (; size >= 7; data += 7, size -= 7) {
        unsigned width = 1u << ((data[0] >> 1) & 3);
        uint16_t port = (uint16_t)(bases[data[1] % NR_BASES] + data[2] % 16);
        uint64_t ecam = BOARD_PCI_ECAM_BASE + ((uint64_t)(data[1] & 15) << 12) + data[2] * 4u +
                        ((data[0] >> 4) & 3);
        uint32_t value = (uint32_t)data[3] | (uint32_t)data[4] << 8 | (uint32_t)data[5] << 16 |
                         (uint32_t)data[6] << 24;

        if (data[0] & 8) {
            if (data[0] & 1)
                bus_write(&mmio, ecam, width, value);
            else
                bus_read(&mmio, ecam, width);
        } else if (data[0] & 1) {
            bus_write(&pio, port, width, value);
        } else {
            bus_read(&pio, port, width);
        }
        for (int i = 0; i < fw.nr_items; i++)
            if (fw.items[i].key == fw.sel && fw.offset > fw.items[i].len)
                fail("fw_cfg offset past its item");
        if (bus_read(&pio, BOARD_I8042_CMD_PORT, 1) & I8042_STR_IBF)
            fail("the i8042 reported its input buffer full");
    }
    for (n = 0; bus_read(&pio, BOARD_I8042_CMD_PORT, 1) & I8042_STR_OBF; n++) {
        if (n == I8042_MAX_READS)
            fail("the i8042's output buffer does not empty");
        bus_read(&pio, BOARD_I8042_DATA_PORT, 1);
    }
    bus_write(&pio, BOARD_I8042_CMD_PORT, 1, 0xaa);
    if (bus_read(&pio, BOARD_I8042_DATA_PORT, 1) != 0x55)
        fail("the i8042 failed its self-test");
    bus_write(&pio, BOARD_FW_CFG_PORT, 2, FW_CFG_SIGNATURE);
    for (int i = 0; i < 4; i++)
        sig[i] = (char)bus_read(&pio, FW_CFG_PORT_DATA, 1);
    if (memcmp(sig, "QEMU", 4))
        fail("the guest changed the fw_cfg signature");
    if (bus_read(&pio, PCI_CONFIG_ADDRESS, 4) & 0x7f000003)
        fail("CONFIG_ADDRESS kept reserved bits");
    bus_write(&pio, PCI_CONFIG_ADDRESS, 4, PCI_CONFIG_ENABLE);
    if (bus_read(&pio, PCI_CONFIG_DATA, 4) != 0x00081b36 ||
        bus_read(&mmio, BOARD_PCI_ECAM_BASE + (PCI_DEVFN(1, 0) << 12), 4) != 0x10411af4)
        fail("the guest changed a PCI ID");
    pci_destroy(&pci);
    acpi_pm_destroy(&pm);
    i8042_destroy(&kbc);
    fw_cfg_destroy(&fw);
    bus_destroy(&pio);
    bus_destroy(&mmio);
    return 0;
}
