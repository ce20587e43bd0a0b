/* The ACPI tables (boot/acpi.h) as a guest OS reads them: found from the
 * RSDP, every checksum right, the fields Linux uses where hw/acpi_pm.h and
 * the memory map say. Offsets are the specification's (ACPI 6.5 ch. 5),
 * written out here rather than taken from acpi.c's structs. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "boot/acpi.h"
#include "boot/boot.h"
#include "boot/layout.h"
#include "hw/acpi_pm.h"
#include "hw/boot_timer.h"
#include "hw/pci.h"
#include "virtio/virtio.h"
#include "vm/board.h"
#include "vm/vm.h"

#define RAM_FIXTURE_SIZE (64ULL << 20)
#include "ram_fixture.h"

/* Checks a table's header and checksum, that it lies in the ACPI area, and
 * returns its length. */
static uint32_t table(uint64_t gpa, const char *sig)
{
    uint32_t len = (uint32_t)get(gpa + 4, 4);

    assert_memory_equal(at(gpa, 4), sig, 4);
    assert_true(len >= 36);
    assert_true(gpa >= BOOT_ACPI && gpa + len <= BOOT_ACPI + BOOT_ACPI_SIZE);
    assert_int_equal(sum(gpa, len), 0);
    return len;
}

/* The RSDP as a guest finds it: the first "RSD PTR " on a 16-byte boundary
 * in 0xE0000-0xFFFFF. Returns the XSDT's address. */
static uint64_t find_rsdp(void)
{
    for (uint64_t a = 0xe0000; a < 0x100000; a += 16) {
        if (memcmp(at(a, 8), "RSD PTR ", 8))
            continue;
        assert_int_equal(a, BOOT_ACPI);
        assert_int_equal(sum(a, 20), 0);
        assert_int_equal(get(a + 15, 1), 2); /* revision */
        assert_int_equal(get(a + 20, 4), 36);
        assert_int_equal(sum(a, 36), 0);
        return get(a + 24, 8);
    }
    fail_msg("no RSDP");
    return 0;
}

/* The XSDT entry with this signature, or 0. */
static uint64_t xsdt_find(const char *sig)
{
    uint64_t xsdt = find_rsdp();
    uint32_t len = table(xsdt, "XSDT");

    assert_int_equal((len - 36) % 8, 0);
    for (uint32_t off = 36; off < len; off += 8) {
        uint64_t t = get(xsdt + off, 8);

        if (!memcmp(at(t, 4), sig, 4))
            return t;
    }
    return 0;
}

/* Device (PCI0) of the DSDT, as iasl assembles the ASL in acpi.c. */
/* Device (PCI0) is these bytes, then its _PRT: Name, PackageOp, two-byte
 * PkgLength, 124 entries of 13 bytes. */
#define PCI0_HEAD 140
#define PRT_AML   (5 + 1 + 2 + 1 + 124 * 13)
#define PCI0_AML  (PCI0_HEAD + PRT_AML)
static const uint8_t pci0[PCI0_HEAD] = {
    0x5b, 0x82, 0x4f, 0x6d, 'P', 'C', 'I', '0',             /* Device, PkgLength 1759 */
    0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x08, /* EisaId ("PNP0A08") */
    0x08, '_', 'C', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x03, /* EisaId ("PNP0A03") */
    0x08, '_', 'S', 'E', 'G', 0x00,                         /* Zero */
    0x08, '_', 'B', 'B', 'N', 0x00, 0x08, '_', 'U', 'I', 'D', 0x00, 0x08, '_', 'C', 'R', 'S', 0x11,
    0x48, 0x05, 0x0a, 84, /* Buffer (84) */
    /* WordBusNumber: bus 0 to 0, length 1 */
    0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    /* IO (Decode16, 0xCF8, 0xCF8, 1, 8) */
    0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08,
    /* WordIO 0x0000-0x0CF7, length 0x0CF8 */
    0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x00, 0xf7, 0x0c, 0x00, 0x00, 0xf8, 0x0c,
    /* WordIO 0x0D00-0xFFFF, length 0xF300 */
    0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x0d, 0xff, 0xff, 0x00, 0x00, 0x00, 0xf3,
    /* DWordMemory, non-cacheable, read/write: 0xC0000000-0xCFFFFFFF */
    0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xff, 0xff,
    0xff, 0xcf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x79, 0x00}; /* EndTag */

static void test_fadt(void **state)
{
    uint64_t fadt, dsdt, facs;
    uint32_t dsdt_len;

    (void)state;
    assert_int_equal(acpi_build(&mem, 1, NULL, 0), 0);
    fadt = xsdt_find("FACP");
    assert_int_equal(table(fadt, "FACP"), 276);
    assert_int_equal(get(fadt + 8, 1), 6);
    /* Not hardware-reduced; the reset register is supported. */
    assert_int_equal(get(fadt + 112, 4) & (1u << 20), 0);
    assert_int_not_equal(get(fadt + 112, 4) & (1u << 10), 0);
    assert_int_equal(get(fadt + 46, 2), BOARD_SCI_IRQ);
    assert_int_equal(get(fadt + 109, 2), 1); /* legacy devices, no 8042 */
    assert_int_equal(get(fadt + 56, 4), ACPI_PM1_EVT_PORT);
    assert_int_equal(get(fadt + 64, 4), ACPI_PM1_CNT_PORT);
    assert_int_equal(get(fadt + 88, 1), 4);
    assert_int_equal(get(fadt + 89, 1), 2);
    /* X_PM1a_EVT_BLK and X_PM1a_CNT_BLK: system I/O, widths matching. */
    assert_int_equal(get(fadt + 148, 1), 1);
    assert_int_equal(get(fadt + 149, 1), 32);
    assert_int_equal(get(fadt + 152, 8), ACPI_PM1_EVT_PORT);
    assert_int_equal(get(fadt + 172, 1), 1);
    assert_int_equal(get(fadt + 173, 1), 16);
    assert_int_equal(get(fadt + 176, 8), ACPI_PM1_CNT_PORT);
    /* PM_TMR_BLK and X_PM_TMR_BLK: 32-bit I/O; TMR_VAL_EXT says 32 bits count. */
    assert_int_equal(get(fadt + 76, 4), ACPI_PM_TMR_PORT);
    assert_int_equal(get(fadt + 91, 1), 4);
    assert_int_equal(get(fadt + 208, 1), 1);
    assert_int_equal(get(fadt + 209, 1), 32);
    assert_int_equal(get(fadt + 211, 1), 3);
    assert_int_equal(get(fadt + 212, 8), ACPI_PM_TMR_PORT);
    assert_int_not_equal(get(fadt + 112, 4) & (1u << 8), 0);
    /* RESET_REG: byte I/O port 0xCF9, value 6. */
    assert_int_equal(get(fadt + 116, 1), 1);
    assert_int_equal(get(fadt + 117, 1), 8);
    assert_int_equal(get(fadt + 120, 8), 0xcf9);
    assert_int_equal(get(fadt + 128, 1), 6);

    dsdt = get(fadt + 40, 4);
    assert_int_equal(get(fadt + 140, 8), dsdt);
    dsdt_len = table(dsdt, "DSDT");
    /* Scope (\_SB) { Device (PCI0) }, then Name (_S3, Package (4) { 1, 1, 0, 0 })
     * and Name (_S5, Package (4) { 5, 5, 0, 0 }) */
    assert_int_equal(dsdt_len, 36 + 3 + 5 + PCI0_AML + 28);
    assert_memory_equal(at(dsdt + dsdt_len - 28, 14),
                        ((const uint8_t[]){0x08, '_', 'S', '3', '_', 0x12, 0x08, 0x04, 0x0a,
                                           ACPI_PM_SLP_TYP_S3, 0x0a, ACPI_PM_SLP_TYP_S3, 0, 0}),
                        14);
    assert_memory_equal(at(dsdt + dsdt_len - 14, 14),
                        ((const uint8_t[]){0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04, 0x0a,
                                           ACPI_PM_SLP_TYP_S5, 0x0a, ACPI_PM_SLP_TYP_S5, 0, 0}),
                        14);

    facs = get(fadt + 36, 4);
    assert_int_equal(get(fadt + 132, 8), 0); /* X_FIRMWARE_CTRL: FIRMWARE_CTRL has it */
    assert_int_equal(facs % 64, 0);
    assert_memory_equal(at(facs, 4), "FACS", 4);
    assert_int_equal(get(facs + 4, 4), 64);
}

/* Walks the MADT of a cpus-vCPU table set and counts its entries by type. */
static void check_madt(int cpus)
{
    uint64_t madt;
    uint32_t len, off;
    int lapics = 0, ioapics = 0, isos = 0, nmis = 0;

    assert_int_equal(acpi_build(&mem, cpus, NULL, 0), 0);
    madt = xsdt_find("APIC");
    len = table(madt, "APIC");
    assert_int_equal(get(madt + 36, 4), 0xfee00000);
    assert_int_equal(get(madt + 40, 4), 1); /* PCAT_COMPAT */
    for (off = 44; off + 2 <= len; off += (uint32_t)get(madt + off + 1, 1)) {
        uint64_t e = madt + off;

        assert_true(get(e + 1, 1) >= 2);
        switch (get(e, 1)) {
        case 0:
            assert_int_equal(get(e + 2, 1), lapics); /* UID */
            assert_int_equal(get(e + 3, 1), lapics); /* APIC ID */
            assert_int_equal(get(e + 4, 4), 1);      /* enabled */
            lapics++;
            break;
        case 1:
            assert_int_equal(get(e + 4, 4), 0xfec00000);
            assert_int_equal(get(e + 8, 4), 0); /* GSI base */
            ioapics++;
            break;
        case 2:
            if (get(e + 3, 1) == 0) {
                assert_int_equal(get(e + 4, 4), 2);
            } else {
                assert_int_equal(get(e + 3, 1), 9);
                assert_int_equal(get(e + 4, 4), 9);
                assert_int_equal(get(e + 8, 2), 0xd); /* level, active high */
            }
            isos++;
            break;
        case 4:
            assert_int_equal(get(e + 5, 1), 1); /* LINT1 */
            nmis++;
            break;
        default:
            fail_msg("unexpected MADT entry type %d", (int)get(e, 1));
        }
    }
    assert_int_equal(off, len);
    assert_int_equal(lapics, cpus);
    assert_int_equal(ioapics, 1);
    assert_int_equal(isos, 2);
    assert_int_equal(nmis, 1);
}

static void test_madt(void **state)
{
    (void)state;
    check_madt(1);
    check_madt(4);
    check_madt(VM_MAX_CPUS);
    assert_int_equal(acpi_build(&mem, 0, NULL, 0), -EINVAL);
    assert_int_equal(acpi_build(&mem, VM_MAX_CPUS + 1, NULL, 0), -EINVAL);
}

/* The host bridge comes first under \_SB, whatever else the DSDT has; its
 * windows hold what hw/pci.h says and nothing else claims. */
static void test_dsdt_pci_host(void **state)
{
    uint64_t dsdt;

    (void)state;
    assert_int_equal(acpi_build(&mem, 1, NULL, 0), 0);
    dsdt = get(xsdt_find("FACP") + 40, 4);
    assert_int_equal(table(dsdt, "DSDT"), 36 + 3 + 5 + PCI0_AML + 28);
    /* Scope (\_SB): two-byte PkgLength of 2 + 5 + 1761 = 1768 bytes. */
    assert_memory_equal(at(dsdt + 36, 8),
                        ((const uint8_t[]){0x10, 0x48, 0x6e, '\\', '_', 'S', 'B', '_'}), 8);
    assert_memory_equal(at(dsdt + 44, PCI0_HEAD), pci0, PCI0_HEAD);
    assert_int_equal(BOARD_PCI_MEM32_BASE, 0xc0000000);
    assert_int_equal(BOARD_PCI_MEM32_SIZE, 0x10000000);
    /* The memory window ends below everything else in the hole. */
    assert_true(BOARD_PCI_MEM32_BASE >= MEM_HOLE_START);
    assert_true(BOARD_PCI_MEM32_BASE + BOARD_PCI_MEM32_SIZE <= BOARD_BOOT_TIMER_MMIO);
    assert_true(BOARD_PCI_MEM32_BASE + BOARD_PCI_MEM32_SIZE <= BOARD_VIRTIO_MMIO_BASE);
    assert_true(BOARD_PCI_ECAM_BASE >=
                BOARD_VIRTIO_MMIO_BASE + BOARD_VIRTIO_MMIO_SLOTS * BOARD_VIRTIO_MMIO_SIZE);
    assert_true(BOARD_PCI_ECAM_BASE + BOARD_PCI_ECAM_SIZE <= BOARD_IOAPIC_BASE);
}

/* PCI0's _PRT (ACPI 6.5 §6.2.13): for each slot 1-31 and pin INTA-INTD,
 * Package (4) { slot << 16 | 0xFFFF, pin, Zero, GSI }, the GSI an IOAPIC
 * input from 16 to 23, rotating with slot and pin (hw/pci.h). */
static void test_dsdt_prt(void **state)
{
    uint64_t prt;

    (void)state;
    assert_int_equal(acpi_build(&mem, 1, NULL, 0), 0);
    prt = get(xsdt_find("FACP") + 40, 4) + 44 + PCI0_HEAD;
    /* Name (_PRT, Package (124)): PkgLength 1 + 124 * 13 + 2 = 1615 */
    assert_memory_equal(at(prt, 9),
                        ((const uint8_t[]){0x08, '_', 'P', 'R', 'T', 0x12, 0x4f, 0x64, 124}), 9);
    for (unsigned slot = 1; slot <= 31; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            const uint8_t want[13] = {0x12,
                                      12,
                                      4,
                                      0x0c,
                                      0xff,
                                      0xff,
                                      (uint8_t)slot,
                                      0,
                                      0x0a,
                                      (uint8_t)pin,
                                      0x00,
                                      0x0a,
                                      (uint8_t)(16 + (slot - 1 + pin) % 8)};

            assert_memory_equal(at(prt + 9 + 13 * (4 * (slot - 1) + pin), 13), want, 13);
        }
    }
    assert_int_equal(pci_intx_gsi(1, 0), 16);
    assert_int_equal(pci_intx_gsi(8, 1), 16);
    assert_int_equal(pci_intx_gsi(31, 3), 17);
}

/* MCFG (PCI Firmware Specification 3.3 §4.1.2): one allocation, the ECAM
 * window of segment 0, bus 0 only; the memory map reserves it. */
static void test_mcfg(void **state)
{
    struct e820_entry map[E820_MAX];
    uint64_t mcfg;
    int n, reserved = 0;

    (void)state;
    assert_int_equal(acpi_build(&mem, 1, NULL, 0), 0);
    mcfg = xsdt_find("MCFG");
    assert_int_not_equal(mcfg, 0);
    assert_int_equal(table(mcfg, "MCFG"), 60);
    assert_int_equal(get(mcfg + 8, 1), 1);  /* revision */
    assert_int_equal(get(mcfg + 36, 8), 0); /* reserved */
    assert_int_equal(get(mcfg + 44, 8), 0xe0000000);
    assert_int_equal(get(mcfg + 44, 8), BOARD_PCI_ECAM_BASE);
    assert_int_equal(get(mcfg + 52, 2), 0); /* segment */
    assert_int_equal(get(mcfg + 54, 1), 0); /* start bus */
    assert_int_equal(get(mcfg + 55, 1), 0); /* end bus */
    assert_int_equal(get(mcfg + 56, 4), 0);
    n = e820_build(&mem, map);
    for (int i = 0; i < n; i++)
        if (map[i].addr <= BOARD_PCI_ECAM_BASE &&
            map[i].addr + map[i].size >= BOARD_PCI_ECAM_BASE + BOARD_PCI_ECAM_SIZE) {
            assert_int_equal(map[i].type, E820_RESERVED);
            reserved = 1;
        }
    assert_true(reserved);
}

/* Each MMIO device is a LNRO0005 device under \_SB with its window and
 * a level-triggered, active-high GSI (ASL in acpi.c, bytes as iasl emits). */
static void test_dsdt_devices(void **state)
{
    static const struct acpi_mmio_dev devs[2] = {{0xd0100000, 0x1000, 16},
                                                 {0xd0101000, 0x1000, 17}};
    static const uint8_t vr01[61] = {
        0x5b, 0x82, 0x3b, 'V',  'R',  '0',  '1', /* Device (VR01) */
        0x08, '_',  'H',  'I',  'D',  0x0d, 'L',  'N',  'R',  'O',  '0', '0',
        '0',  '5',  0,    0x08, '_',  'U',  'I',  'D',  0x0a, 1,            /* _UID 1 */
        0x08, '_',  'C',  'R',  'S',  0x11, 0x1a, 0x0a, 23,                 /* Buffer (23) */
        0x86, 9,    0,    1,    0x00, 0x10, 0x10, 0xd0, 0x00, 0x10, 0,   0, /* Memory32Fixed */
        0x89, 6,    0,    0x01, 1,    17,   0,    0,    0,                  /* Interrupt */
        0x79, 0};
    uint64_t dsdt;
    uint32_t len;

    (void)state;
    assert_int_equal(acpi_build(&mem, 1, devs, 2), 0);
    dsdt = get(xsdt_find("FACP") + 40, 4);
    len = table(dsdt, "DSDT");
    assert_int_equal(len, 36 + 3 + 5 + PCI0_AML + 2 * 61 + 28);
    /* Scope (\_SB): two-byte PkgLength of 2 + 5 + 1761 + 122 = 1890 bytes. */
    assert_memory_equal(at(dsdt + 36, 8),
                        ((const uint8_t[]){0x10, 0x42, 0x76, '\\', '_', 'S', 'B', '_'}), 8);
    assert_memory_equal(at(dsdt + 44, PCI0_HEAD), pci0, PCI0_HEAD);
    assert_memory_equal(at(dsdt + 44 + PCI0_AML + 61, 61), vr01, 61);
    assert_memory_equal(at(dsdt + len - 14, 5), "\x08_S5_", 5);
    assert_int_equal(acpi_build(&mem, 1, devs, ACPI_MMIO_MAX + 1), -EINVAL);
}

/* The memory map keeps the guest's OS off the tables. */
static void test_e820_reserves_the_tables(void **state)
{
    struct e820_entry map[E820_MAX];
    int n = e820_build(&mem, map), covered = 0;

    (void)state;
    for (int i = 0; i < n; i++)
        if (map[i].addr <= BOOT_ACPI && map[i].addr + map[i].size >= BOOT_BIOS_END) {
            assert_int_equal(map[i].type, E820_RESERVED);
            covered = 1;
        }
    assert_true(covered);
}

/* The waking vector the OS left in the FACS (§5.2.10), as firmware enters
 * it on the resume from S3: real mode at vector >> 4 : vector & 0xF, or the
 * X_ one in flat 32-bit protected mode. */
static void test_waking_vector(void **state)
{
    uint64_t facs;
    uint32_t v;
    uint64_t x;
    struct cpu_state s;

    (void)state;
    assert_int_equal(acpi_build(&mem, 1, NULL, 0), 0);
    facs = get(xsdt_find("FACP") + 36, 4);
    assert_int_equal(acpi_waking_state(&mem, &s), -ENOENT); /* none set */

    v = 0x9a014;
    assert_int_equal(mem_write(&mem, facs + 12, &v, 4), 0);
    assert_int_equal(acpi_waking_state(&mem, &s), 0);
    assert_int_equal(s.cs.selector, 0x9a01);
    assert_int_equal(s.cs.base, 0x9a010);
    assert_int_equal(s.rip, 4);
    assert_int_equal(s.ds.selector, 0);
    assert_int_equal(s.ds.base, 0);
    assert_int_equal(s.ss.base, 0);
    assert_int_equal(s.cr0 & 1, 0);
    assert_int_equal(s.rflags, 2);

    x = 0x200000;
    assert_int_equal(mem_write(&mem, facs + 24, &x, 8), 0);
    assert_int_equal(acpi_waking_state(&mem, &s), 0);
    assert_int_equal(s.rip, 0x200000);
    assert_int_equal(s.cr0 & 1, 1);
    assert_int_equal(s.cs.base, 0);
    assert_int_equal(s.cs.db, 1);
    assert_int_equal(s.cs.limit, 0xffffffff);

    x = 0x100000000ULL; /* past what 32-bit protected mode reaches */
    assert_int_equal(mem_write(&mem, facs + 24, &x, 8), 0);
    assert_int_equal(acpi_waking_state(&mem, &s), -EINVAL);
    x = 0;
    v = 0x100000; /* past what real mode reaches */
    assert_int_equal(mem_write(&mem, facs + 24, &x, 8), 0);
    assert_int_equal(mem_write(&mem, facs + 12, &v, 4), 0);
    assert_int_equal(acpi_waking_state(&mem, &s), -EINVAL);
}

static void test_checksum(void **state)
{
    const uint8_t b[] = {1, 2, 3, 0};

    (void)state;
    assert_int_equal(acpi_checksum(b, 3), 0xfa);
    assert_int_equal(acpi_checksum(b, 0), 0);
}

/* What SeaBIOS's romfile_loader.c does with ACPI_EXPORT_LOADER: with both
 * files placed at BOOT_ACPI (the tables' first 36 bytes are left free for
 * the RSDP), the result must be acpi_build's tables byte for byte. */
static void test_export_matches_build(void **state)
{
    static struct acpi_export x;
    uint8_t *t = x.tables;

    (void)state;
    assert_int_equal(acpi_build(&mem, 3, NULL, 0), 0);
    assert_int_equal(acpi_export(3, &x), 0);
    assert_int_equal(acpi_export(0, &x), -EINVAL);
    assert_int_equal(acpi_export(3, &x), 0);
    for (const uint8_t *c = x.loader; c < x.loader + x.loader_len; c += 128) {
        uint32_t cmd, off, start, len;
        const char *file = (const char *)c + 4;
        uint8_t *data = strcmp(file, ACPI_EXPORT_RSDP) ? t : x.rsdp;
        uint64_t v = 0;

        memcpy(&cmd, c, 4);
        if (cmd == 1) { /* ALLOCATE: name, align, zone */
            assert_true(!strcmp(file, ACPI_EXPORT_RSDP) || !strcmp(file, ACPI_EXPORT_TABLES));
            assert_int_equal(c[4 + 56 + 4], strcmp(file, ACPI_EXPORT_RSDP) ? 1 : 2);
            continue;
        }
        memcpy(&off, c + (cmd == 2 ? 4 + 112 : 4 + 56), 4);
        if (cmd == 2) { /* ADD_POINTER: dest, src, offset, size */
            unsigned size = c[4 + 116];

            assert_string_equal((const char *)c + 4 + 56, ACPI_EXPORT_TABLES);
            assert_true(size == 4 || size == 8);
            memcpy(&v, data + off, size);
            v += BOOT_ACPI;
            memcpy(data + off, &v, size);
            continue;
        }
        assert_int_equal(cmd, 3); /* ADD_CHECKSUM: file, offset, start, length */
        memcpy(&start, c + 4 + 60, 4);
        memcpy(&len, c + 4 + 64, 4);
        data[off] = (uint8_t)(data[off] + acpi_checksum(data + start, len));
    }
    memcpy(t, x.rsdp, sizeof(x.rsdp));
    assert_memory_equal(t, at(BOOT_ACPI, x.tables_len), x.tables_len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fadt),
        cmocka_unit_test(test_madt),
        cmocka_unit_test(test_dsdt_pci_host),
        cmocka_unit_test(test_mcfg),
        cmocka_unit_test(test_dsdt_prt),
        cmocka_unit_test(test_dsdt_devices),
        cmocka_unit_test(test_e820_reserves_the_tables),
        cmocka_unit_test(test_waking_vector),
        cmocka_unit_test(test_checksum),
        cmocka_unit_test(test_export_matches_build),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
