#include "hw/pc.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot/acpi.h"
#include "boot/boot.h"
#include "boot/firmware.h"
#include "util/log.h"
#include "virtio/devices.h"
#include "vm/board.h"
#include "vm/console.h"

/* The last slots, clear of the virtio functions from 00:01.0 on. */
/* Past the 64 KiB per slot that virtio-pci's BARs take (virtio/pci.c),
 * aligned to the BAR's 1 MiB. */
#define EDU_BAR_ADDR (BOARD_PCI_MEM32_BASE + 0x200000)

static void com1_irq(void *opaque, int level)
{
    vm_irq_set(opaque, BOARD_COM1_IRQ, level);
}

static void com1_tx(void *opaque, uint8_t byte)
{
    (void)opaque;
    console_put(byte);
}

static void kbc_irq(void *opaque, unsigned irq, int level)
{
    vm_irq_set(opaque, irq, level);
}

static void pirq_irq(void *opaque, unsigned irq, int level)
{
    vm_irq_set(opaque, irq, level);
}

void pc_pci_intx(struct vm *vm, uint32_t gsi, int level)
{
    if (vm->pc && vm->cfg.rom)
        i440fx_pci_intx(&vm->pc->i440fx, gsi, level);
}

static void guest_exit(void *opaque, int status, const char *why)
{
    vm_stop(opaque, status, log_verbose ? why : NULL);
}

static uint64_t uptime(void *opaque)
{
    return vm_uptime_ns(opaque);
}

static void kbc_reset(void *opaque)
{
    vm_reset(opaque, "guest requested a reset through the i8042");
}

static void port92_reset(void *opaque)
{
    vm_reset(opaque, "guest requested a reset through port 0x92");
}

/* ACPI S3's wake event: the RTC alarm (RTC_STS), when RTC_EN allows it
 * (vm_sleep's ring, on vCPU 0's thread). */
static void rtc_alarm_due(void *opaque)
{
    struct vm *vm = opaque;

    rtc_alarm_ring(&vm->pc->rtc);
    acpi_pm_wake_event(&vm->pc->acpi_pm, PM1_STS_RTC);
}

/*
 * The wake from S3. Booted through firmware, as on QEMU's PC: the
 * processors reset with RAM kept, and the BIOS, finding its shadow already
 * set up (0xc0000-0xfffff stays RAM) and the CMOS shutdown status that
 * suspend() left, jumps to the waking vector of the FACS it installed
 * (SeaBIOS's handle_resume and s3_resume), or reboots without one. Booted
 * without, vx86 does what that BIOS would, with its own FACS.
 */
static void s3_resume(struct vm *vm)
{
    struct cpu_state bsp;

    if (vm->cfg.rom) {
        firmware_reset_state(&bsp);
    } else if (acpi_waking_state(&vm->mem, &bsp)) {
        vm_reset(vm, "guest woke from S3 without a waking vector in the FACS");
        return;
    }
    vm_wake(vm, &bsp);
}

static void acpi_pm_event(void *opaque, enum acpi_pm_event ev)
{
    struct vm *vm = opaque;
    struct timespec alarm;
    bool timed;

    switch (ev) {
    case ACPI_PM_POWEROFF:
        vm_stop(vm, VX86_OK, "guest powered off");
        break;
    case ACPI_PM_RESET:
        vm_reset(vm, "guest requested a reset through port 0xcf9");
        break;
    case ACPI_PM_SLEEP:
        if (vm->cfg.rom) /* QEMU's rtc_notify_suspend */
            rtc_cmos_set(&vm->pc->rtc, RTC_SHUTDOWN_STATUS, RTC_SHUTDOWN_S3);
        timed = acpi_pm_wake_enabled(&vm->pc->acpi_pm, PM1_STS_RTC) &&
                !rtc_next_alarm(&vm->pc->rtc, &alarm);
        vm_sleep(vm, timed ? &alarm : NULL, rtc_alarm_due, vm);
        break;
    case ACPI_PM_WAKE:
        s3_resume(vm);
        break;
    }
}

static void testdev_irq(void *opaque, unsigned gsi, int level)
{
    vm_irq_set(opaque, gsi, level);
}

static void testdev_flush(void *opaque, uint64_t gpa)
{
    vm_mem_written(opaque, gpa, 4096);
}

static void dma_written(void *opaque, uint64_t gpa, uint64_t len)
{
    vm_mem_written(opaque, gpa, len);
}

static void vtd_event(void *opaque, uint64_t addr, uint32_t data)
{
    vm_msi_deliver(opaque, addr, data);
}

static const struct vtd_ops vtd_ops = {.msi = vtd_event, .written = dma_written};

static void edu_irq(void *opaque, unsigned gsi, int level)
{
    vm_irq_set(opaque, gsi, level);
}

static void edu_msi(void *opaque, uint16_t sid, uint64_t addr, uint32_t data)
{
    vm_msi_send_from(opaque, sid, addr, data);
}

/* A device's DMA: through the IOMMU with --iommu, else to guest physical
 * addresses. */
static int edu_dma(void *opaque, uint16_t sid, uint64_t addr, void *buf, uint64_t len, bool write)
{
    struct vm *vm = opaque;
    int err;

    if (vm->cfg.iommu)
        return vtd_dma(&vm->pc->vtd, sid, addr, buf, len, write);
    err = write ? mem_write(&vm->mem, addr, buf, len) : mem_read(&vm->mem, addr, buf, len);
    if (!err && write)
        vm_mem_written(vm, addr, len);
    return err;
}

static const struct edu_ops edu_ops = {.irq = edu_irq, .msi = edu_msi, .dma = edu_dma};

/* What SeaBIOS reads besides (QEMU's docs/specs/fw_cfg.rst and SeaBIOS's
 * romfile users): its console on COM1 ("etc/sercon-port": int 10h text goes
 * to the serial port, as with QEMU -nographic; there is no VGA) and the
 * ACPI tables with the commands that install them (boot/acpi.h). */
static int fw_cfg_firmware(struct vm *vm)
{
    struct fw_cfg *fw = &vm->pc->fw_cfg;
    struct acpi_export *x = malloc(sizeof(*x));
    uint16_t sercon = htole16(BOARD_COM1_PORT);
    int err;

    if (!x)
        return -ENOMEM;
    err = acpi_export(vm->cfg.cpus, x);
    if (!err)
        err = fw_cfg_add_file(fw, "etc/sercon-port", &sercon, sizeof(sercon));
    if (!err)
        err = fw_cfg_add_file(fw, ACPI_EXPORT_TABLES, x->tables, x->tables_len);
    if (!err)
        err = fw_cfg_add_file(fw, ACPI_EXPORT_RSDP, x->rsdp, sizeof(x->rsdp));
    if (!err)
        err = fw_cfg_add_file(fw, ACPI_EXPORT_LOADER, x->loader, x->loader_len);
    free(x);
    return err;
}

/* What QEMU's PC machine tells its firmware: RAM size, CPU counts and the
 * memory map as "etc/e820" ({u64 address, u64 length, u32 type}, packed,
 * little-endian), the same map the kernel gets. */
static int fw_cfg_setup(struct vm *vm)
{
    struct fw_cfg *fw = &vm->pc->fw_cfg;
    struct e820_entry map[E820_MAX];
    uint8_t e820[E820_MAX * 20];
    uint64_t ram = htole64(vm->mem.size);
    uint16_t cpus = htole16((uint16_t)vm->cfg.cpus);
    int n = e820_build(&vm->mem, map), err;

    for (int i = 0; i < n; i++) {
        uint64_t addr = htole64(map[i].addr), size = htole64(map[i].size);
        uint32_t type = htole32(map[i].type);

        memcpy(e820 + 20 * i, &addr, 8);
        memcpy(e820 + 20 * i + 8, &size, 8);
        memcpy(e820 + 20 * i + 16, &type, 4);
    }
    err = fw_cfg_init(fw, &vm->pio, &vm->mem);
    fw->written = dma_written;
    fw->opaque = vm;
    if (!err)
        err = fw_cfg_add(fw, FW_CFG_RAM_SIZE, &ram, sizeof(ram));
    if (!err)
        err = fw_cfg_add(fw, FW_CFG_NB_CPUS, &cpus, sizeof(cpus));
    if (!err)
        err = fw_cfg_add(fw, FW_CFG_MAX_CPUS, &cpus, sizeof(cpus));
    if (!err)
        err = fw_cfg_add_file(fw, "etc/e820", e820, (uint32_t)(20 * n));
    if (!err && vm->cfg.rom)
        err = fw_cfg_firmware(vm);
    return err;
}

int pc_boot_order(struct vm *vm)
{
    struct firmware_disk disks[FIRMWARE_MAX_DISKS];
    char order[FIRMWARE_MAX_DISKS * 40];
    int n = 0, len, err;

    /* virtio_devices_create puts the disks first, in --disk order. */
    for (int i = 0; i < vm->nr_virtio && virtio_is_blk(vm->virtio[i]); i++) {
        const struct vm_disk *d = &vm->cfg.disks[i];

        if (n == FIRMWARE_MAX_DISKS)
            break;
        disks[n++] = (struct firmware_disk){.name = d->path,
                                            .has_bootindex = d->has_bootindex,
                                            .bootindex = d->bootindex,
                                            .devfn = PCI_DEVFN(vm->virtio[i]->slot, 0)};
    }
    len = firmware_boot_order(disks, n, order, sizeof(order));
    if (len == -ENOSPC)
        log_err("bootorder: longer than %zu bytes", sizeof(order));
    if (len < 0)
        return len;
    err = fw_cfg_add_file(&vm->pc->fw_cfg, "bootorder", order, (uint32_t)len);
    if (err)
        log_err("fw_cfg: cannot add the bootorder file: %s", strerror(-err));
    return err;
}

int pc_init(struct vm *vm)
{
    struct pc *pc = calloc(1, sizeof(*pc));
    struct bus_range reset;
    int err;

    if (!pc)
        return -ENOMEM;
    vm->pc = pc;
    pc->com1 = serial_create(com1_tx, com1_irq, vm);
    if (!pc->com1)
        return -ENOMEM;
    err = bus_register(&vm->pio, &(struct bus_range){.base = BOARD_COM1_PORT,
                                                     .len = SERIAL_NR_REGS,
                                                     .widths = BUS_W1,
                                                     .read = serial_read,
                                                     .write = serial_write,
                                                     .opaque = pc->com1,
                                                     .name = "com1"});
    if (!err)
        err = debug_exit_init(&pc->debug_exit, &vm->pio, BOARD_DEBUG_EXIT_PORT, guest_exit, vm);
    if (!err)
        err = i8042_init(&pc->i8042, &vm->pio, kbc_irq, kbc_reset, vm);
    if (!err)
        err = post_init(&pc->post, &vm->pio);
    if (!err)
        err = boot_timer_init(&pc->boot_timer, &vm->pio, &vm->mmio, BOARD_BOOT_TIMER_PORT,
                              BOARD_BOOT_TIMER_MMIO, uptime, vm);
    if (!err)
        err = rtc_init(&pc->rtc, &vm->pio, vm->cfg.mem_size);
    if (!err)
        err = acpi_pm_init(&pc->acpi_pm, &vm->pio, acpi_pm_event, vm);
    if (!err) {
        reset = acpi_pm_reset_range(&pc->acpi_pm);
        err = pci_init(&pc->pci, &vm->pio, &vm->mmio, &reset);
    }
    if (!err && vm->cfg.rom)
        err = i440fx_init(&pc->i440fx, &pc->pci, &vm->mmio, &vm->mem, vm->cfg.rom, vm->cfg.rom_size,
                          pirq_irq, vm);
    if (!err)
        err = port92_init(&pc->port92, &vm->pio, port92_reset, vm);
    if (!err)
        err = fw_cfg_setup(vm);
    if (!err && vm->cfg.testdev)
        err = pc_testdev_init(&pc->testdev, &vm->pio, &vm->mmio, testdev_irq, testdev_flush, vm);
    if (!err && vm->cfg.testdev)
        err = pci_testdev_init(&pc->pci_testdev, &pc->pci, &vm->pio, BOARD_PCI_TESTDEV_SLOT);
    if (!err && vm->cfg.iommu)
        err = vtd_init(&pc->vtd, &vm->mmio, &vm->mem, &vtd_ops, vm);
    if (!err && vm->cfg.edu)
        err = edu_init(&pc->edu, &pc->pci, BOARD_EDU_SLOT, (uint32_t)EDU_BAR_ADDR, &edu_ops, vm);
    if (err)
        log_err("cannot register platform devices: %s", strerror(-err));
    return err;
}

void pc_destroy(struct vm *vm)
{
    if (!vm->pc)
        return;
    serial_free(vm->pc->com1);
    i8042_destroy(&vm->pc->i8042);
    pthread_mutex_destroy(&vm->pc->rtc.lock);
    acpi_pm_destroy(&vm->pc->acpi_pm);
    pci_destroy(&vm->pc->pci);
    i440fx_destroy(&vm->pc->i440fx);
    fw_cfg_destroy(&vm->pc->fw_cfg);
    pc_testdev_destroy(&vm->pc->testdev);
    pci_testdev_destroy(&vm->pc->pci_testdev);
    edu_destroy(&vm->pc->edu);
    vtd_destroy(&vm->pc->vtd);
    free(vm->pc);
    vm->pc = NULL;
}
