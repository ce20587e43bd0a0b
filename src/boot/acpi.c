/*
 * ACPI tables (ACPI 6.5 chapter 5). Section numbers below are that
 * specification's. The tables are built in a host buffer laid out like the
 * guest's BOOT_ACPI area, then copied in once.
 */
#include "boot/acpi.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/layout.h"
#include "hw/acpi_pm.h"
#include "hw/iommu/vtd.h"
#include "hw/pci.h"
#include "vm/board.h"
#include "vm/vm.h"

#define OEM_ID       "VX86  "
#define OEM_TABLE_ID "VX86PC  "
#define CREATOR_ID   "VX86"

/* §5.2.5.3 */
struct __attribute__((packed)) rsdp {
    char signature[8];
    uint8_t checksum; /* over the first 20 bytes (the ACPI 1.0 part) */
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt;
    uint32_t length;
    uint64_t xsdt;
    uint8_t ext_checksum; /* over all 36 bytes */
    uint8_t reserved[3];
};

/* §5.2.6 */
struct __attribute__((packed)) sdt_header {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    char creator_id[4];
    uint32_t creator_revision;
};

/* §5.2.3.2 Generic Address Structure */
struct __attribute__((packed)) gas {
    uint8_t space_id, bit_width, bit_offset, access_size;
    uint64_t address;
};

#define GAS_SYSTEM_IO    1
#define GAS_ACCESS_BYTE  1
#define GAS_ACCESS_WORD  2
#define GAS_ACCESS_DWORD 3

/* §5.2.9, Table 5.9: the FADT of revision 6 (ACPI 6.0 and later). */
struct __attribute__((packed)) fadt {
    struct sdt_header h;
    uint32_t firmware_ctrl, dsdt;
    uint8_t reserved0, preferred_pm_profile;
    uint16_t sci_int;
    uint32_t smi_cmd;
    uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
    uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk, pm2_cnt_blk, pm_tmr_blk;
    uint32_t gpe0_blk, gpe1_blk;
    uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len, gpe0_blk_len, gpe1_blk_len;
    uint8_t gpe1_base, cst_cnt;
    uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
    uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
    uint16_t iapc_boot_arch;
    uint8_t reserved1;
    uint32_t flags;
    struct gas reset_reg;
    uint8_t reset_value;
    uint16_t arm_boot_arch;
    uint8_t minor_version;
    uint64_t x_firmware_ctrl, x_dsdt;
    struct gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk, x_pm2_cnt_blk;
    struct gas x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk, sleep_control_reg, sleep_status_reg;
    uint64_t hypervisor_vendor_id;
};

_Static_assert(sizeof(struct fadt) == 276, "FADT revision 6 is 276 bytes");

/* FADT flags (Table 5.10) and IA-PC boot architecture flags (Table 5.11). */
#define FADT_WBINVD        (1u << 0)
#define FADT_PROC_C1       (1u << 2)
#define FADT_PWR_BUTTON    (1u << 4) /* set: no fixed-feature power button */
#define FADT_SLP_BUTTON    (1u << 5) /* set: no fixed-feature sleep button */
#define FADT_TMR_VAL_EXT   (1u << 8) /* PM_TMR counts 32 bits, not 24 */
#define FADT_RESET_REG_SUP (1u << 10)
#define BOOT_ARCH_LEGACY   (1u << 0) /* ISA devices (COM1, RTC, PIT) */
/* Latencies above 100 / 1000 us say C2 / C3 are not supported (Table 5.9). */
#define NO_C2_LATENCY 101
#define NO_C3_LATENCY 1001
#define RTC_CENTURY   0x32 /* CMOS register hw/rtc.c keeps the century in */

/* §5.2.10 */
struct __attribute__((packed)) facs {
    char signature[4];
    uint32_t length, hardware_signature, firmware_waking_vector, global_lock, flags;
    uint64_t x_firmware_waking_vector;
    uint8_t version, reserved0[3];
    uint32_t ospm_flags;
    uint8_t reserved1[24];
};

_Static_assert(sizeof(struct facs) == 64, "FACS is 64 bytes");

/* §5.2.12 MADT and its interrupt controller structures (Table 5.21). */
struct __attribute__((packed)) madt {
    struct sdt_header h;
    uint32_t lapic_addr, flags;
};

#define MADT_PCAT_COMPAT 1 /* dual 8259s present */

struct __attribute__((packed)) madt_lapic {
    uint8_t type, length, uid, apic_id;
    uint32_t flags;
};

struct __attribute__((packed)) madt_ioapic {
    uint8_t type, length, id, reserved;
    uint32_t addr, gsi_base;
};

struct __attribute__((packed)) madt_iso {
    uint8_t type, length, bus, source;
    uint32_t gsi;
    uint16_t flags;
};

struct __attribute__((packed)) madt_lapic_nmi {
    uint8_t type, length, uid;
    uint16_t flags;
    uint8_t lint;
};

/* PCI Firmware Specification 3.3 §4.1.2, Tables 4-2 and 4-3: the MCFG
 * with one allocation, the ECAM window of segment 0, buses 0 to 0. */
struct __attribute__((packed)) mcfg {
    struct sdt_header h;
    uint8_t reserved[8];
    uint64_t base;
    uint16_t segment;
    uint8_t start_bus, end_bus;
    uint32_t reserved1;
};

_Static_assert(sizeof(struct mcfg) == 60, "MCFG with one allocation is 60 bytes");

#define MADT_LAPIC        0
#define MADT_IOAPIC       1
#define MADT_ISO          2
#define MADT_LAPIC_NMI    4
#define MADT_LAPIC_ENABLE 1
#define MADT_ALL_CPUS     0xff
/* MPS INTI flags (Table 5.26): polarity bits 1:0, trigger mode bits 3:2. */
#define INTI_CONFORMS    0x0
#define INTI_ACTIVE_HIGH 0x1
#define INTI_LEVEL       0xc

/*
 * The DSDT's AML (§20.2), written byte by byte:
 *
 *     Scope (\_SB) {
 *         Device (PCI0) {                      // the PCI host bridge, hw/pci.h
 *             Name (_HID, EisaId ("PNP0A08"))  // PCI Express root bridge
 *             Name (_CID, EisaId ("PNP0A03"))  // PCI root bridge
 *             Name (_SEG, Zero)                // the MCFG's segment
 *             Name (_BBN, Zero)
 *             Name (_UID, Zero)
 *             Name (_CRS, ResourceTemplate () {
 *                 WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
 *                                0, 0, 0, 0, 1)
 *                 IO (Decode16, 0x0CF8, 0x0CF8, 1, 8)
 *                 WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
 *                         0, 0x0000, 0x0CF7, 0, 0x0CF8)
 *                 WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
 *                         0, 0x0D00, 0xFFFF, 0, 0xF300)
 *                 DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed,
 *                              NonCacheable, ReadWrite, 0, BOARD_PCI_MEM32_BASE,
 *                              BOARD_PCI_MEM32_BASE + BOARD_PCI_MEM32_SIZE - 1, 0,
 * BOARD_PCI_MEM32_SIZE)
 *             })
 *             Name (_PRT, Package (124) {      // slots 1-31, INTA-INTD
 *                 Package (4) { 0x0001FFFF, 0, Zero, pci_intx_gsi (1, 0) }, ...
 *             })
 *         }
 *         Device (VR00) {                      // one per virtio-mmio device
 *             Name (_HID, "LNRO0005")
 *             Name (_UID, 0)
 *             Name (_CRS, ResourceTemplate () {
 *                 Memory32Fixed (ReadWrite, base, size)
 *                 Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { gsi }
 *             })
 *         }
 *     }
 *     Name (_S3, Package (4) { 1, 1, 0, 0 })
 *     Name (_S5, Package (4) { 5, 5, 0, 0 })
 *
 * PCI0's _CRS is QEMU's PC one without the VGA window and the 64-bit
 * window: the bridge consumes the mechanism #1 ports and forwards every
 * other I/O port, and memory in a part of the hole below 4 GiB that nothing
 * else uses, for BARs. With _SEG and _BBN matching the MCFG entry, Linux
 * uses ECAM under it. No _OSC: Linux then keeps the PCIe features native
 * to the platform (an info line). The _PRT (§6.2.13) routes every slot's
 * INTx pins straight to IOAPIC inputs (source Zero: the fourth element is a
 * GSI), the way hw/pci.h wires them, so a device without MSI-X works.
 *
 * _S3 and _S5 tell the OS the SLP_TYP values to write to PM1a_CNT (and
 * PM1b_CNT, which the FADT leaves out) to enter S3, suspend to RAM, and S5,
 * soft-off (§7.4.2); the two reserved trailing elements are what ASL
 * compilers emit for _Sx objects.
 */
#define AML_NAME    0x08 /* NameOp NameString DataRefObject */
#define AML_SCOPE   0x10 /* ScopeOp PkgLength NameString TermList */
#define AML_BUFFER  0x11 /* BufferOp PkgLength BufferSize ByteList */
#define AML_PACKAGE 0x12 /* PackageOp PkgLength NumElements PackageElementList */
#define AML_BYTE    0x0a /* BytePrefix ByteData */
#define AML_STRING  0x0d /* StringPrefix AsciiCharList NullChar */
#define AML_EXT     0x5b /* ExtOpPrefix; with 0x82, DeviceOp PkgLength NameString TermList */
#define AML_DEVICE  0x82
#define AML_DWORD   0x0c /* DWordPrefix DWordData */
#define AML_ZERO    0x00 /* ZeroOp */
#define DEVICE_AML  61   /* bytes of one Device () above */
#define PCI_CRS     84   /* bytes of PCI0's resource template */
#define PRT_SLOTS   31
#define PRT_ENTRIES (PRT_SLOTS * 4)
#define PRT_ENTRY   13 /* bytes of one Package (4) above */
#define PRT_AML     (5 + 1 + 2 + 1 + PRT_ENTRIES * PRT_ENTRY)
#define PCI_AML     (140 + PRT_AML) /* bytes of Device (PCI0) */

static const uint8_t s3_aml[] = {AML_NAME, '_', 'S', '3', '_', AML_PACKAGE,
                                 /* PkgLength: these 8 bytes */
                                 0x08, 0x04, AML_BYTE, ACPI_PM_SLP_TYP_S3, AML_BYTE,
                                 ACPI_PM_SLP_TYP_S3, 0x00, 0x00};
static const uint8_t s5_aml[] = {AML_NAME, '_', 'S', '5', '_', AML_PACKAGE,
                                 /* PkgLength: these 8 bytes */
                                 0x08, 0x04, AML_BYTE, ACPI_PM_SLP_TYP_S5, AML_BYTE,
                                 ACPI_PM_SLP_TYP_S5, 0x00, 0x00};

/* PkgLength (§20.2.4) for len bytes that follow it; it counts itself. One
 * byte up to 63 in all, else two (up to 4095, which is all the DSDT needs). */
static uint8_t *pkg_length(uint8_t *p, size_t len)
{
    if (len + 1 < 64) {
        *p++ = (uint8_t)(len + 1);
        return p;
    }
    len += 2;
    *p++ = (uint8_t)(0x40 | (len & 0xf));
    *p++ = (uint8_t)(len >> 4);
    return p;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static uint8_t *aml_name(uint8_t *p, const char seg[4])
{
    *p++ = AML_NAME;
    memcpy(p, seg, 4);
    return p + 4;
}

static uint8_t *aml_device(uint8_t *p, int i, const struct acpi_mmio_dev *d)
{
    static const char hex[] = "0123456789ABCDEF";
    uint8_t *start = p;

    *p++ = AML_EXT;
    *p++ = AML_DEVICE;
    p = pkg_length(p, DEVICE_AML - 3);
    *p++ = 'V', *p++ = 'R', *p++ = (uint8_t)hex[(i >> 4) & 0xf], *p++ = (uint8_t)hex[i & 0xf];
    p = aml_name(p, "_HID");
    *p++ = AML_STRING;
    memcpy(p, "LNRO0005", 9);
    p += 9;
    p = aml_name(p, "_UID");
    *p++ = AML_BYTE, *p++ = (uint8_t)i;
    p = aml_name(p, "_CRS");
    *p++ = AML_BUFFER;
    p = pkg_length(p, 2 + 23);
    *p++ = AML_BYTE, *p++ = 23;
    /* Memory32Fixed (§6.4.3.4): tag, length 9, read/write. */
    *p++ = 0x86, *p++ = 9, *p++ = 0, *p++ = 1;
    p = put32(p, (uint32_t)d->base);
    p = put32(p, d->size);
    /* Extended Interrupt (§6.4.3.6): tag, length 6, flags (consumer, level,
     * active-high, exclusive), one interrupt. */
    *p++ = 0x89, *p++ = 6, *p++ = 0, *p++ = 0x01, *p++ = 1;
    p = put32(p, d->gsi);
    /* End tag (§6.4.2.9), checksum 0: "treated as if the checksum is OK". */
    *p++ = 0x79, *p++ = 0;
    assert(p - start == DEVICE_AML);
    return p;
}

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    *p++ = (uint8_t)v;
    *p++ = (uint8_t)(v >> 8);
    return p;
}

/* Word Address Space Descriptor (§6.4.3.5.3): tag 0x88, length 13, resource
 * type (1 I/O, 2 bus number), general flags 0x0c (producer, positive
 * decode, min and max fixed), type-specific flags (for I/O, 3: entire
 * range, §6.4.3.5.5), then granularity, min, max, translation, length. */
static uint8_t *word_space(uint8_t *p, uint8_t type, uint8_t tflags, uint16_t min, uint16_t max)
{
    *p++ = 0x88, *p++ = 13, *p++ = 0, *p++ = type, *p++ = 0x0c, *p++ = tflags;
    p = put16(p, 0);
    p = put16(p, min);
    p = put16(p, max);
    p = put16(p, 0);
    return put16(p, (uint16_t)(max - min + 1));
}

/* Name (seg, EisaId (...)): an EISA ID as its 32-bit integer (§6.1.5; the
 * ASL EISAID macro, §19.6): in byte order, the three letters as 5-bit
 * values (A = 1) packed big-endian into 15 bits, then the four hex digits;
 * "PNP" gives 0x41 0xd0. */
static uint8_t *aml_eisaid(uint8_t *p, const char seg[4], const uint8_t id[4])
{
    p = aml_name(p, seg);
    *p++ = AML_DWORD;
    memcpy(p, id, 4);
    return p + 4;
}

/* Name (_PRT, ...) with each element's integers in fixed-size encodings
 * (DWordConst, ByteConst), so every entry is PRT_ENTRY bytes. */
static uint8_t *aml_prt(uint8_t *p)
{
    p = aml_name(p, "_PRT");
    *p++ = AML_PACKAGE;
    p = pkg_length(p, 1 + PRT_ENTRIES * PRT_ENTRY);
    *p++ = PRT_ENTRIES;
    for (unsigned slot = 1; slot <= PRT_SLOTS; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            *p++ = AML_PACKAGE;
            p = pkg_length(p, PRT_ENTRY - 2);
            *p++ = 4;
            *p++ = AML_DWORD;
            p = put32(p, slot << 16 | 0xffff); /* any function of the slot */
            *p++ = AML_BYTE, *p++ = (uint8_t)pin;
            *p++ = AML_ZERO;
            *p++ = AML_BYTE, *p++ = (uint8_t)pci_intx_gsi(slot, pin);
        }
    }
    return p;
}

static uint8_t *aml_pci_host(uint8_t *p)
{
    static const uint8_t pnp0a08[4] = {0x41, 0xd0, 0x0a, 0x08},
                         pnp0a03[4] = {0x41, 0xd0, 0x0a, 0x03};
    uint8_t *start = p;

    *p++ = AML_EXT;
    *p++ = AML_DEVICE;
    p = pkg_length(p, PCI_AML - 4);
    memcpy(p, "PCI0", 4);
    p += 4;
    p = aml_eisaid(p, "_HID", pnp0a08);
    p = aml_eisaid(p, "_CID", pnp0a03);
    p = aml_name(p, "_SEG");
    *p++ = AML_ZERO;
    p = aml_name(p, "_BBN");
    *p++ = AML_ZERO;
    p = aml_name(p, "_UID");
    *p++ = AML_ZERO;
    p = aml_name(p, "_CRS");
    *p++ = AML_BUFFER;
    p = pkg_length(p, 2 + PCI_CRS);
    *p++ = AML_BYTE, *p++ = PCI_CRS;
    p = word_space(p, 2, 0, 0, 0);
    /* I/O port descriptor (§6.4.2.5): 16-bit decode, min, max, alignment 1,
     * length 8. */
    *p++ = 0x47, *p++ = 1;
    p = put16(p, PCI_CONFIG_ADDRESS);
    p = put16(p, PCI_CONFIG_ADDRESS);
    *p++ = 1, *p++ = 8;
    p = word_space(p, 1, 3, 0x0000, PCI_CONFIG_ADDRESS - 1);
    p = word_space(p, 1, 3, PCI_CONFIG_ADDRESS + 8, 0xffff);
    /* DWord Address Space Descriptor (§6.4.3.5.2): tag 0x87, length 23,
     * memory, general flags as above, type-specific 0x01 (read/write,
     * non-cacheable, §6.4.3.5.5), granularity, min, max, translation, length. */
    *p++ = 0x87, *p++ = 23, *p++ = 0, *p++ = 0, *p++ = 0x0c, *p++ = 0x01;
    p = put32(p, 0);
    p = put32(p, (uint32_t)BOARD_PCI_MEM32_BASE);
    p = put32(p, (uint32_t)(BOARD_PCI_MEM32_BASE + BOARD_PCI_MEM32_SIZE - 1));
    p = put32(p, 0);
    p = put32(p, (uint32_t)BOARD_PCI_MEM32_SIZE);
    *p++ = 0x79, *p++ = 0;
    p = aml_prt(p);
    assert(p - start == PCI_AML);
    return p;
}

/* Writes the AML at p; returns its length. */
static size_t dsdt_aml(uint8_t *p, const struct acpi_mmio_dev *devs, int ndevs)
{
    uint8_t *start = p;

    *p++ = AML_SCOPE;
    p = pkg_length(p, 5 + PCI_AML + (size_t)ndevs * DEVICE_AML);
    *p++ = '\\', *p++ = '_', *p++ = 'S', *p++ = 'B', *p++ = '_';
    p = aml_pci_host(p);
    for (int i = 0; i < ndevs; i++)
        p = aml_device(p, i, &devs[i]);
    memcpy(p, s3_aml, sizeof(s3_aml));
    p += sizeof(s3_aml);
    memcpy(p, s5_aml, sizeof(s5_aml));
    return (size_t)(p + sizeof(s5_aml) - start);
}

uint8_t acpi_checksum(const void *p, uint64_t len)
{
    const uint8_t *b = p;
    uint8_t sum = 0;

    for (uint64_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + b[i]);
    return (uint8_t)-sum;
}

/* Fills a table header; the checksum is set by finish(). */
static void header(struct sdt_header *h, const char *sig, uint32_t length, uint8_t revision)
{
    memcpy(h->signature, sig, 4);
    h->length = length;
    h->revision = revision;
    memcpy(h->oem_id, OEM_ID, 6);
    memcpy(h->oem_table_id, OEM_TABLE_ID, 8);
    h->oem_revision = 1;
    memcpy(h->creator_id, CREATOR_ID, 4);
    h->creator_revision = 1;
}

static void finish(void *table)
{
    struct sdt_header *h = table;

    h->checksum = 0;
    h->checksum = acpi_checksum(table, h->length);
}

static struct gas io_gas(uint16_t port, unsigned bytes, uint8_t access)
{
    return (struct gas){.space_id = GAS_SYSTEM_IO,
                        .bit_width = (uint8_t)(bytes * 8),
                        .access_size = access,
                        .address = port};
}

/* Offsets in the BOOT_ACPI area, each table 16-byte aligned (the FACS must
 * be 64-byte aligned, §5.2.10). The MADT comes last: it grows with cpus. */
#define OFF_RSDP     0x000
#define OFF_FACS     0x040
#define OFF_XSDT     0x080
#define OFF_FADT     0x100
#define OFF_MCFG     0x220
#define OFF_MADT     0x260
#define XSDT_ENTRIES 3
#define MADT_MAX                                                                                   \
    (sizeof(struct madt) + VM_MAX_CPUS * sizeof(struct madt_lapic) + sizeof(struct madt_ioapic) +  \
     2 * sizeof(struct madt_iso) + sizeof(struct madt_lapic_nmi))
#define OFF_DSDT (((OFF_MADT + MADT_MAX) + 15) & ~15u)
#define DSDT_MAX                                                                                   \
    (sizeof(struct sdt_header) + 1 + 2 + 5 + PCI_AML + ACPI_MMIO_MAX * DEVICE_AML +                \
     sizeof(s3_aml) + sizeof(s5_aml))
#define AREA_MAX (OFF_DSDT + DSDT_MAX)

_Static_assert(OFF_XSDT + sizeof(struct sdt_header) + 8 * (XSDT_ENTRIES + 1) <= OFF_FADT,
               "XSDT, with room for the DMAR's entry");
_Static_assert(OFF_FADT + sizeof(struct fadt) <= OFF_MCFG, "FADT");
_Static_assert(OFF_MCFG + sizeof(struct mcfg) <= OFF_MADT, "MCFG");
_Static_assert(AREA_MAX <= BOOT_ACPI_SIZE, "the tables fit in the ACPI area");

/* Where a table at off in the area lies for a reader: BOOT_ACPI + off in
 * guest RAM, or off itself in the blob acpi_export() hands to firmware. */
static uint32_t gpa_at(uint32_t base, unsigned off)
{
    return base + off;
}

static uint32_t gpa_of(unsigned off)
{
    return gpa_at((uint32_t)BOOT_ACPI, off);
}

static void build_fadt(uint8_t *area, uint32_t base)
{
    struct fadt f = {0};

    header(&f.h, "FACP", sizeof(f), 6);
    /* X_FIRMWARE_CTRL stays 0: with both set, ACPICA installs the FACS
     * twice. The DSDT goes in both, as QEMU's. */
    f.firmware_ctrl = gpa_at(base, OFF_FACS);
    f.dsdt = gpa_at(base, OFF_DSDT);
    f.x_dsdt = f.dsdt;
    f.sci_int = BOARD_SCI_IRQ;
    /* smi_cmd 0: always in ACPI mode, no SMM hand-over (§5.2.9). */
    f.pm1a_evt_blk = ACPI_PM1_EVT_PORT;
    f.pm1a_cnt_blk = ACPI_PM1_CNT_PORT;
    f.pm1_evt_len = ACPI_PM1_EVT_LEN;
    f.pm1_cnt_len = ACPI_PM1_CNT_LEN;
    f.pm_tmr_blk = ACPI_PM_TMR_PORT;
    f.pm_tmr_len = ACPI_PM_TMR_LEN;
    /* The 64-bit blocks repeat the 32-bit ones with matching widths, or
     * ACPICA warns of a mismatch. PM1 event registers are two 16-bit halves. */
    f.x_pm1a_evt_blk = io_gas(ACPI_PM1_EVT_PORT, ACPI_PM1_EVT_LEN, GAS_ACCESS_WORD);
    f.x_pm1a_cnt_blk = io_gas(ACPI_PM1_CNT_PORT, ACPI_PM1_CNT_LEN, GAS_ACCESS_WORD);
    f.x_pm_tmr_blk = io_gas(ACPI_PM_TMR_PORT, ACPI_PM_TMR_LEN, GAS_ACCESS_DWORD);
    f.p_lvl2_lat = NO_C2_LATENCY;
    f.p_lvl3_lat = NO_C3_LATENCY;
    f.century = RTC_CENTURY;
    /* No BOOT_ARCH_8042 and no PNP0303 in the DSDT: the i8042 (hw/i8042.h)
     * has no host input behind its keyboard, so ACPI does not announce it
     * and Linux leaves it alone ("i8042: PNP: No PS/2 controller found.",
     * nothing more). Booted with acpi=off, Linux probes the ports and
     * finds the controller and its keyboard. */
    f.iapc_boot_arch = BOOT_ARCH_LEGACY;
    f.flags = FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON | FADT_SLP_BUTTON | FADT_TMR_VAL_EXT |
              FADT_RESET_REG_SUP;
    f.reset_reg = io_gas(BOARD_RESET_PORT, 1, GAS_ACCESS_BYTE);
    f.reset_value = ACPI_RESET_VALUE;
    memcpy(&f.hypervisor_vendor_id, "vx86vx86", 8);
    memcpy(area + OFF_FADT, &f, sizeof(f));
    finish(area + OFF_FADT);
}

static void build_mcfg(uint8_t *area)
{
    struct mcfg m = {.base = BOARD_PCI_ECAM_BASE,
                     .end_bus = (uint8_t)(BOARD_PCI_ECAM_SIZE / PCI_DEVFNS / PCI_CFG_SIZE - 1)};

    header(&m.h, "MCFG", sizeof(m), 1);
    memcpy(area + OFF_MCFG, &m, sizeof(m));
    finish(area + OFF_MCFG);
}

/* Returns the MADT's length. */
static uint32_t build_madt(uint8_t *area, int cpus)
{
    uint8_t *p = area + OFF_MADT + sizeof(struct madt);
    struct madt m = {.lapic_addr = BOARD_LAPIC_BASE, .flags = MADT_PCAT_COMPAT};
    struct madt_ioapic io = {MADT_IOAPIC, sizeof(io), ACPI_IOAPIC_ID, 0, BOARD_IOAPIC_BASE, 0};
    /* As QEMU: the PIT's IRQ 0 is wired to IOAPIC pin 2; the SCI is
     * level-triggered, active high (§5.2.12.5). */
    const struct madt_iso isos[] = {
        {MADT_ISO, sizeof(struct madt_iso), 0, 0, 2, INTI_CONFORMS},
        {MADT_ISO, sizeof(struct madt_iso), 0, BOARD_SCI_IRQ, BOARD_SCI_IRQ,
         INTI_ACTIVE_HIGH | INTI_LEVEL},
    };
    struct madt_lapic_nmi nmi = {MADT_LAPIC_NMI, sizeof(nmi), MADT_ALL_CPUS, INTI_CONFORMS, 1};
    uint32_t len;

    for (int i = 0; i < cpus; i++) {
        struct madt_lapic l = {MADT_LAPIC, sizeof(l), (uint8_t)i, (uint8_t)i, MADT_LAPIC_ENABLE};

        memcpy(p, &l, sizeof(l));
        p += sizeof(l);
    }
    memcpy(p, &io, sizeof(io));
    p += sizeof(io);
    memcpy(p, isos, sizeof(isos));
    p += sizeof(isos);
    memcpy(p, &nmi, sizeof(nmi));
    p += sizeof(nmi);
    len = (uint32_t)(p - (area + OFF_MADT));
    header(&m.h, "APIC", len, 3);
    memcpy(area + OFF_MADT, &m, sizeof(m));
    finish(area + OFF_MADT);
    return len;
}

/* Builds the tables into area (AREA_MAX bytes), pointers made for the area
 * at base; returns the bytes used. */
static uint32_t build(uint8_t *area, uint32_t base, int cpus, const struct acpi_mmio_dev *devs,
                      int ndevs)
{
    struct rsdp rsdp = {.revision = 2, .length = sizeof(rsdp), .xsdt = gpa_at(base, OFF_XSDT)};
    /* Flags 0: no S4BIOS_REQ, no 64-bit waking environment; version 2 has
     * X_Firmware_Waking_Vector (§5.2.10), which the OS leaves 0 to be woken
     * in real mode (acpi_waking_state). */
    struct facs facs = {.length = sizeof(facs), .version = 2};
    struct sdt_header xsdt = {0}, dsdt = {0};
    uint64_t entries[XSDT_ENTRIES] = {gpa_at(base, OFF_FADT), gpa_at(base, OFF_MADT),
                                      gpa_at(base, OFF_MCFG)};
    uint32_t dsdt_len;

    memset(area, 0, AREA_MAX);
    memcpy(rsdp.signature, "RSD PTR ", 8);
    memcpy(rsdp.oem_id, OEM_ID, 6);
    rsdp.checksum = acpi_checksum(&rsdp, offsetof(struct rsdp, length));
    rsdp.ext_checksum = acpi_checksum(&rsdp, sizeof(rsdp));
    memcpy(area + OFF_RSDP, &rsdp, sizeof(rsdp));

    memcpy(facs.signature, "FACS", 4); /* no checksum (§5.2.10) */
    memcpy(area + OFF_FACS, &facs, sizeof(facs));

    header(&xsdt, "XSDT", sizeof(xsdt) + sizeof(entries), 1);
    memcpy(area + OFF_XSDT, &xsdt, sizeof(xsdt));
    memcpy(area + OFF_XSDT + sizeof(xsdt), entries, sizeof(entries));
    finish(area + OFF_XSDT);

    /* Revision 2: integers in the AML are 64 bits wide (§5.2.11.1). */
    dsdt_len = (uint32_t)(sizeof(dsdt) + dsdt_aml(area + OFF_DSDT + sizeof(dsdt), devs, ndevs));
    header(&dsdt, "DSDT", dsdt_len, 2);
    memcpy(area + OFF_DSDT, &dsdt, sizeof(dsdt));
    finish(area + OFF_DSDT);

    build_fadt(area, base);
    build_mcfg(area);
    build_madt(area, cpus); /* it ends before OFF_DSDT whatever its length */
    return OFF_DSDT + dsdt_len;
}

int acpi_build(const struct guest_mem *mem, int cpus, const struct acpi_mmio_dev *devs, int ndevs)
{
    uint8_t area[AREA_MAX];
    uint32_t len;

    if (cpus < 1 || cpus > VM_MAX_CPUS || ndevs < 0 || ndevs > ACPI_MMIO_MAX)
        return -EINVAL;
    len = build(area, (uint32_t)BOOT_ACPI, cpus, devs, ndevs);
    return mem_write(mem, BOOT_ACPI, area, len);
}

/* QEMU's table loader (its hw/acpi/bios-linker-loader.c describes the
 * format; SeaBIOS's romfile_loader.c runs it): 128-byte commands. */
#define LOADER_ENTRY       128
#define LOADER_FILESZ      56
#define LOADER_ALLOCATE    1
#define LOADER_ADD_POINTER 2
#define LOADER_ADD_CKSUM   3
#define LOADER_ZONE_HIGH   1
#define LOADER_ZONE_FSEG   2
#define LOADER_MAX         16

static uint8_t *loader_cmd(struct acpi_export *x, uint32_t command)
{
    uint8_t *e = x->loader + x->loader_len;

    assert(x->loader_len + LOADER_ENTRY <= sizeof(x->loader));
    memset(e, 0, LOADER_ENTRY);
    memcpy(e, &command, 4);
    x->loader_len += LOADER_ENTRY;
    return e + 4;
}

static void loader_alloc(struct acpi_export *x, const char *file, uint32_t align, uint8_t zone)
{
    uint8_t *p = loader_cmd(x, LOADER_ALLOCATE);

    strcpy((char *)p, file);
    memcpy(p + LOADER_FILESZ, &align, 4);
    p[LOADER_FILESZ + 4] = zone;
}

/* The size-byte field at offset of dest gets src's address added. */
static void loader_pointer(struct acpi_export *x, const char *dest, const char *src,
                           uint32_t offset, uint8_t size)
{
    uint8_t *p = loader_cmd(x, LOADER_ADD_POINTER);

    strcpy((char *)p, dest);
    strcpy((char *)p + LOADER_FILESZ, src);
    memcpy(p + 2 * LOADER_FILESZ, &offset, 4);
    p[2 * LOADER_FILESZ + 4] = size;
}

/* The byte at offset of file gets the checksum of [start, start + len)
 * added: run after the pointers, it makes the sum zero again. */
static void loader_cksum(struct acpi_export *x, const char *file, uint32_t offset, uint32_t start,
                         uint32_t len)
{
    uint8_t *p = loader_cmd(x, LOADER_ADD_CKSUM);

    strcpy((char *)p, file);
    memcpy(p + LOADER_FILESZ, &offset, 4);
    memcpy(p + LOADER_FILESZ + 4, &start, 4);
    memcpy(p + LOADER_FILESZ + 8, &len, 4);
}

static uint32_t table_len(const uint8_t *area, unsigned off)
{
    uint32_t len;

    memcpy(&len, area + off + offsetof(struct sdt_header, length), 4);
    return len;
}

int acpi_export(int cpus, struct acpi_export *x)
{
    static const char tables[] = ACPI_EXPORT_TABLES, rsdp[] = ACPI_EXPORT_RSDP;
    static const unsigned sums[] = {OFF_XSDT, OFF_FADT, OFF_MCFG, OFF_MADT, OFF_DSDT};
    const unsigned cksum = offsetof(struct sdt_header, checksum);

    if (cpus < 1 || cpus > VM_MAX_CPUS)
        return -EINVAL;
    _Static_assert(AREA_MAX <= sizeof(x->tables), "acpi_export's buffer");
    _Static_assert(LOADER_MAX * LOADER_ENTRY <= sizeof(x->loader), "acpi_export's loader");
    _Static_assert(sizeof(struct rsdp) == sizeof(x->rsdp), "acpi_export's RSDP");
    memset(x, 0, sizeof(*x));
    /* Built at base 0, every pointer holds its target's offset in the
     * blob; the loader adds the blob's address. The RSDP goes apart, to
     * the F segment, where an OS looks for it (§5.2.5.1). */
    x->tables_len = build(x->tables, 0, cpus, NULL, 0);
    memcpy(x->rsdp, x->tables + OFF_RSDP, sizeof(x->rsdp));
    memset(x->tables + OFF_RSDP, 0, sizeof(struct rsdp));

    loader_alloc(x, rsdp, 16, LOADER_ZONE_FSEG);
    loader_alloc(x, tables, 64, LOADER_ZONE_HIGH); /* the FACS wants 64 */
    loader_pointer(x, rsdp, tables, offsetof(struct rsdp, xsdt), 8);
    for (unsigned i = 0; i < XSDT_ENTRIES; i++)
        loader_pointer(x, tables, tables, OFF_XSDT + sizeof(struct sdt_header) + 8 * i, 8);
    loader_pointer(x, tables, tables, OFF_FADT + offsetof(struct fadt, firmware_ctrl), 4);
    loader_pointer(x, tables, tables, OFF_FADT + offsetof(struct fadt, dsdt), 4);
    loader_pointer(x, tables, tables, OFF_FADT + offsetof(struct fadt, x_dsdt), 8);
    for (unsigned i = 0; i < sizeof(sums) / sizeof(sums[0]); i++)
        loader_cksum(x, tables, sums[i] + cksum, sums[i], table_len(x->tables, sums[i]));
    loader_cksum(x, rsdp, offsetof(struct rsdp, checksum), 0, offsetof(struct rsdp, length));
    loader_cksum(x, rsdp, offsetof(struct rsdp, ext_checksum), 0, sizeof(struct rsdp));
    return 0;
}

/* §5.2.10, Table 5.14: X_Firmware_Waking_Vector, where the OS set it, is
 * entered in 32-bit protected mode, flat, paging off (the FACS flags offer
 * no 64-bit environment); else Firmware_Waking_Vector in real mode, as
 * CS:IP = vector >> 4 : vector & 0xF. The other segments are 0, as
 * SeaBIOS's S3 resume leaves them (its farcall to the vector). */
int acpi_waking_state(const struct guest_mem *mem, struct cpu_state *s)
{
    struct facs facs;
    int err = mem_read(mem, gpa_of(OFF_FACS), &facs, sizeof(facs));

    if (err)
        return err;
    if (memcmp(facs.signature, "FACS", 4))
        return -ENOENT;
    if (facs.x_firmware_waking_vector) {
        if (facs.x_firmware_waking_vector > UINT32_MAX)
            return -EINVAL;
        cpu_state_protected32(s, (uint32_t)facs.x_firmware_waking_vector);
        return 0;
    }
    if (!facs.firmware_waking_vector)
        return -ENOENT;
    if (facs.firmware_waking_vector > 0xfffff)
        return -EINVAL;
    cpu_state_real(s, 0, (uint16_t)(facs.firmware_waking_vector & 0xf), 0);
    s->cs.selector = (uint16_t)(facs.firmware_waking_vector >> 4);
    s->cs.base = facs.firmware_waking_vector & ~0xfu;
    return 0;
}

/* VT-d spec §8.1-8.3: the DMAR table, one DRHD for every PCI function
 * (INCLUDE_PCI_ALL) and the IOAPIC, which a DRHD must name for Linux to
 * turn interrupt remapping on. */
struct __attribute__((packed)) dmar {
    struct sdt_header h;
    uint8_t host_addr_width; /* N - 1 */
    uint8_t flags;
    uint8_t reserved[10];
};

struct __attribute__((packed)) dmar_drhd {
    uint16_t type, length;
    uint8_t flags, size;
    uint16_t segment;
    uint64_t base;
};

struct __attribute__((packed)) dmar_scope {
    uint8_t type, length, flags, reserved, enum_id, start_bus;
    uint8_t device, function; /* one path entry */
};

#define DMAR_INTR_REMAP      1
#define DRHD_INCLUDE_PCI_ALL 1
#define SCOPE_IOAPIC         3
/* The IOAPIC's source-id, as QEMU's q35 gives it: bus 0xff, device 0. */
#define IOAPIC_SID_BUS 0xff
#define OFF_DMAR       ((AREA_MAX + 15) & ~15u)
#define DMAR_LEN       (sizeof(struct dmar) + sizeof(struct dmar_drhd) + sizeof(struct dmar_scope))

_Static_assert(OFF_DMAR + DMAR_LEN <= BOOT_ACPI_SIZE, "the DMAR fits in the ACPI area");

int acpi_add_dmar(const struct guest_mem *mem)
{
    uint8_t t[DMAR_LEN];
    struct dmar d = {.host_addr_width = 47, .flags = DMAR_INTR_REMAP};
    struct dmar_drhd drhd = {.type = 0,
                             .length = sizeof(drhd) + sizeof(struct dmar_scope),
                             .flags = DRHD_INCLUDE_PCI_ALL,
                             .base = BOARD_VTD_BASE};
    struct dmar_scope io = {.type = SCOPE_IOAPIC,
                            .length = sizeof(io),
                            .enum_id = ACPI_IOAPIC_ID,
                            .start_bus = IOAPIC_SID_BUS};
    uint8_t xsdt[sizeof(struct sdt_header) + 8 * (XSDT_ENTRIES + 1)];
    struct sdt_header *xh = (struct sdt_header *)xsdt;
    uint64_t entry = gpa_of(OFF_DMAR);
    int err;

    header(&d.h, "DMAR", DMAR_LEN, 1);
    memcpy(t, &d, sizeof(d));
    memcpy(t + sizeof(d), &drhd, sizeof(drhd));
    memcpy(t + sizeof(d) + sizeof(drhd), &io, sizeof(io));
    finish(t);
    err = mem_write(mem, BOOT_ACPI + OFF_DMAR, t, sizeof(t));
    /* acpi_build's XSDT, one entry longer. */
    if (!err)
        err = mem_read(mem, BOOT_ACPI + OFF_XSDT, xsdt, sizeof(xsdt) - 8);
    if (err)
        return err;
    if (xh->length != sizeof(xsdt) - 8)
        return -EINVAL;
    memcpy(xsdt + sizeof(xsdt) - 8, &entry, 8);
    xh->length = sizeof(xsdt);
    finish(xsdt);
    return mem_write(mem, BOOT_ACPI + OFF_XSDT, xsdt, sizeof(xsdt));
}
