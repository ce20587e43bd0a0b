/*
 * The PC platform as firmware and an OS see it: the ACPI tables found the
 * way an OS finds them (ACPI 6.5 §5.2.5.1: "RSD PTR " on a 16-byte boundary
 * in 0xE0000-0xFFFFF), every table's signature and checksum, the MADT's
 * processors against QEMU's fw_cfg CPU count, fw_cfg's signature and
 * etc/e820 file, the MP tables (MP Specification 1.4), the interrupt
 * controllers at the addresses the MADT gives, and the PCI host bridge
 * through configuration mechanism #1 and, where an MCFG names it, ECAM. Written against the
 * specifications only, so it passes under QEMU (-M pc, SeaBIOS's tables) as
 * under vx86.
 *
 * A multiboot guest, so that QEMU's -kernel takes it too. Expects --mem 128M.
 * With "poweroff" on the command line it then enters S5 through the FADT's
 * PM1a control block and the DSDT's \_S5 object; with "reset" it writes the
 * FADT's reset value to its reset register. Either way it does not come
 * back: a return is a failure.
 */
#include "lib/acpi.h"
#include "lib/guest.h"

#define KIB 1024ull
#define MIB (1024 * KIB)

#define FW_CFG_SEL       0x510
#define FW_CFG_DATA      0x511
#define FW_CFG_SIGNATURE 0x0000
#define FW_CFG_NB_CPUS   0x0005
#define FW_CFG_FILE_DIR  0x0019

#define PM1_SLP_EN         (1u << 13)
#define FADT_RESET_REG_SUP (1u << 10)

/* struct multiboot_info, up to the command line. */
struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
};

static uint8_t sum(const void *p, uint32_t len)
{
    const uint8_t *b = p;
    uint8_t s = 0;

    for (uint32_t i = 0; i < len; i++)
        s = (uint8_t)(s + b[i]);
    return s;
}

static uint32_t get32(const void *p)
{
    const uint8_t *b = p;

    return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint16_t get16(const void *p)
{
    const uint8_t *b = p;

    return (uint16_t)(b[0] | b[1] << 8);
}

/* A table below 4 GiB (paging is off) with this signature and a checksum
 * that holds, or NULL. */
static const struct sdt *table(uint64_t addr, const char *sig)
{
    const struct sdt *t = (const struct sdt *)(uintptr_t)addr;

    if (addr == 0 || addr >= 0x100000000ull || memcmp(t->signature, sig, 4)) {
        printf("FAIL: no %s table at %llx\n", sig, addr);
        CHECK(0);
        return 0;
    }
    {
        char oem[7] = {0};

        memcpy(oem, t->oem_id, 6);
        printf("  %s at %lx, %u bytes, revision %u, OEM \"%s\"\n", sig, (unsigned long)addr,
               t->length, t->revision, oem);
    }
    CHECK(t->length >= sizeof(*t));
    CHECK(sum(t, t->length) == 0);
    return t;
}

static const uint8_t *find_rsdp(void)
{
    for (uintptr_t a = 0xe0000; a < 0x100000; a += 16) {
        const uint8_t *p = (const uint8_t *)a;

        if (!memcmp(p, "RSD PTR ", 8) && sum(p, 20) == 0)
            return p;
    }
    return 0;
}

struct acpi {
    const struct sdt *fadt, *madt, *dsdt, *mcfg;
};

static void walk_acpi(struct acpi *acpi)
{
    const uint8_t *rsdp = find_rsdp();
    const struct sdt *root;
    unsigned entry;

    CHECK(rsdp != 0);
    if (!rsdp)
        return;
    printf("RSDP at %lx, revision %u\n", (unsigned long)(uintptr_t)rsdp, rsdp[15]);
    /* Revision 2 and later: the XSDT, with 64-bit entries; else the RSDT. */
    if (rsdp[15] >= 2 && get32(rsdp + 24)) {
        CHECK(get32(rsdp + 20) >= 36 && sum(rsdp, get32(rsdp + 20)) == 0);
        CHECK(get32(rsdp + 28) == 0);
        root = table(get32(rsdp + 24), "XSDT");
        entry = 8;
    } else {
        root = table(get32(rsdp + 16), "RSDT");
        entry = 4;
    }
    if (!root)
        return;
    for (uint32_t off = sizeof(*root); off + entry <= root->length; off += entry) {
        const uint8_t *e = (const uint8_t *)root + off;
        uint64_t addr = get32(e) | (entry == 8 ? (uint64_t)get32(e + 4) << 32 : 0);
        const struct sdt *t = (const struct sdt *)(uintptr_t)addr;
        char sig[5] = {0};

        CHECK(addr < 0x100000000ull);
        if (addr >= 0x100000000ull)
            continue;
        memcpy(sig, t->signature, 4);
        if (!table(addr, sig))
            continue;
        if (!memcmp(t->signature, "FACP", 4))
            acpi->fadt = t;
        else if (!memcmp(t->signature, "APIC", 4))
            acpi->madt = t;
        else if (!memcmp(t->signature, "MCFG", 4))
            acpi->mcfg = t;
    }
}

/* FADT fields (ACPI 6.5 Table 5.9) by offset: revision 1 tables end at 116. */
static void check_fadt(struct acpi *acpi)
{
    const uint8_t *f = (const uint8_t *)acpi->fadt;
    const uint8_t *facs;

    CHECK(f != 0);
    if (!f)
        return;
    printf("FADT: SCI %u, PM1a_EVT %x, PM1a_CNT %x, flags %x\n", get16(f + 46), get32(f + 56),
           get32(f + 64), get32(f + 112));
    CHECK(get16(f + 46) == 9);
    CHECK(get32(f + 56) != 0 && f[88] == 4);
    CHECK(get32(f + 64) != 0 && f[89] == 2);
    /* FACS: no checksum, at least 64 bytes, 64-byte aligned. */
    facs = (const uint8_t *)(uintptr_t)get32(f + 36);
    CHECK(facs && !memcmp(facs, "FACS", 4) && get32(facs + 4) >= 64 && ((uintptr_t)facs & 63) == 0);
    acpi->dsdt = table(get32(f + 40), "DSDT");
    if (acpi->fadt->length >= 129 && (get32(f + 112) & FADT_RESET_REG_SUP)) {
        printf("FADT: reset register space %u address %x value %x\n", f[116], get32(f + 120),
               f[128]);
        CHECK(f[116] == 1 || f[116] == 0); /* system I/O or memory */
    }
}

/* MADT processors and the IOAPIC (Table 5.21); returns the LAPIC count. */
static int check_madt(const struct sdt *madt, uint32_t *ioapic, uint32_t *lapic, int *ioapic_id)
{
    const uint8_t *m = (const uint8_t *)madt;
    int cpus = 0, ioapics = 0;
    uint32_t off = 44;

    CHECK(madt != 0);
    if (!madt)
        return 0;
    *lapic = get32(m + 36);
    while (off + 2 <= madt->length && m[off + 1] >= 2) {
        const uint8_t *e = m + off;

        if (e[0] == 0 && (get32(e + 4) & 1)) {
            printf("  LAPIC: processor %u, APIC ID %u\n", e[2], e[3]);
            cpus++;
        } else if (e[0] == 1) {
            *ioapic = get32(e + 4);
            *ioapic_id = e[2];
            printf("  IOAPIC: ID %u at %x, GSI base %u\n", e[2], get32(e + 4), get32(e + 8));
            CHECK(get32(e + 8) == 0);
            ioapics++;
        } else if (e[0] == 2) {
            printf("  override: IRQ %u -> GSI %u, flags %x\n", e[3], get32(e + 4), get16(e + 8));
        }
        off += e[1];
    }
    CHECK(off == madt->length);
    CHECK(ioapics == 1);
    return cpus;
}

static void check_apics(uint32_t lapic, uint32_t ioapic, int ioapic_id)
{
    volatile uint32_t *regsel = (volatile uint32_t *)(uintptr_t)ioapic;
    volatile uint32_t *win = (volatile uint32_t *)(uintptr_t)(ioapic + 0x10);
    uint32_t id, ver;

    CHECK(lapic == 0xfee00000);
    CHECK(ioapic == 0xfec00000);
    if (lapic != 0xfee00000 || ioapic != 0xfec00000)
        return;
    /* The BSP's xAPIC ID (SDM Vol. 3A §11.4.6) is processor 0's. */
    id = *(volatile uint32_t *)(uintptr_t)(lapic + 0x20) >> 24;
    ver = *(volatile uint32_t *)(uintptr_t)(lapic + 0x30);
    printf("LAPIC: ID %u, version %x, %u LVT entries\n", id, ver & 0xff, (ver >> 16 & 0xff) + 1);
    CHECK(id == 0);
    CHECK((ver & 0xf0) == 0x10);
    *regsel = 0;
    id = *win >> 24 & 0xf;
    *regsel = 1;
    ver = *win;
    printf("IOAPIC: ID %u, version %x, %u pins\n", id, ver & 0xff, (ver >> 16 & 0xff) + 1);
    CHECK((int)id == ioapic_id);
    CHECK((ver >> 16 & 0xff) + 1 >= 24);
}

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA    0xcfc
#define PCI_ENABLE         0x80000000u

/* Configuration mechanism #1 (PCI Local Bus 3.0 §3.2.2.3.2), bus 0. */
static uint32_t conf1(unsigned dev, unsigned fn, unsigned reg)
{
    return PCI_ENABLE | dev << 11 | fn << 8 | reg;
}

static uint32_t conf1_read(unsigned dev, unsigned fn, unsigned reg)
{
    outl(PCI_CONFIG_ADDRESS, conf1(dev, fn, reg));
    return inl(PCI_CONFIG_DATA);
}

/* The host bridge at 00:00.0 (class 06/00): its IDs through mechanism #1
 * as dword, words and bytes; an absent function (00:1f.7, free on QEMU's pc
 * and q35 too) and a disabled CONFIG_ADDRESS read all ones. With an MCFG
 * (PCI Firmware Specification 3.3 §4.1.2), the same through ECAM at its
 * base, paging being off. vx86 has QEMU's generic host bridge and an MCFG;
 * QEMU's pc has an i440FX and no MCFG. */
static void check_pci(const struct sdt *mcfg)
{
    uint32_t ids = conf1_read(0, 0, 0), class = conf1_read(0, 0, 8) >> 8;

    printf("PCI: 00:00.0 is %04x:%04x, class %06x\n", ids & 0xffff, ids >> 16, class);
    CHECK(class >> 8 == 0x0600);
    CHECK(inl(PCI_CONFIG_ADDRESS) == conf1(0, 0, 8));
    outl(PCI_CONFIG_ADDRESS, conf1(0, 0, 0));
    CHECK(inw(PCI_CONFIG_DATA) == (ids & 0xffff));
    CHECK(inw(PCI_CONFIG_DATA + 2) == ids >> 16);
    CHECK(inb(PCI_CONFIG_DATA + 1) == (ids >> 8 & 0xff));
    CHECK(inb(PCI_CONFIG_DATA + 3) == ids >> 24);
    CHECK(conf1_read(31, 7, 0) == 0xffffffff);
    outl(PCI_CONFIG_ADDRESS, 0);
    CHECK(inl(PCI_CONFIG_DATA) == 0xffffffff);
    if ((ids & 0xffff) == 0x1b36) {
        CHECK(ids == 0x00081b36);
        CHECK(mcfg != 0);
    }
    if (!mcfg)
        return;
    {
        const uint8_t *m = (const uint8_t *)mcfg;
        uint64_t base = get32(m + 44) | (uint64_t)get32(m + 48) << 32;
        volatile uint32_t *ecam = (volatile uint32_t *)(uintptr_t)base;

        printf("MCFG: ECAM at %llx, segment %u, buses %u-%u\n", base, get16(m + 52), m[54], m[55]);
        CHECK(mcfg->length >= 60 && base && base < 0x100000000ull && get16(m + 52) == 0 &&
              m[54] == 0);
        if (!base || base >= 0x100000000ull)
            return;
        CHECK(ecam[0] == ids);
        CHECK(ecam[2] >> 8 == class);
        CHECK(*(volatile uint16_t *)(uintptr_t)(base + 2) == ids >> 16);
        CHECK(ecam[(31 << 15 | 7 << 12) / 4] == 0xffffffff);
    }
}

/* MP Specification 1.4 §4: the floating pointer on a 16-byte boundary in
 * the BIOS area, its configuration table; returns the processor count and
 * whether vx86 made the table (*vx86). */
static int check_mptable(int *vx86)
{
    const uint8_t *mpf = 0, *c, *p;
    int cpus = 0, ioapics = 0;

    for (uintptr_t a = 0xf0000; a < 0x100000 && !mpf; a += 16)
        if (!memcmp((const void *)a, "_MP_", 4) && sum((const void *)a, 16) == 0)
            mpf = (const uint8_t *)a;
    CHECK(mpf != 0);
    if (!mpf)
        return 0;
    c = (const uint8_t *)(uintptr_t)get32(mpf + 4);
    printf("MP: floating pointer at %lx, version 1.%u, table at %lx\n",
           (unsigned long)(uintptr_t)mpf, mpf[9], (unsigned long)(uintptr_t)c);
    CHECK(c && !memcmp(c, "PCMP", 4) && sum(c, get16(c + 4)) == 0);
    if (!c || memcmp(c, "PCMP", 4))
        return 0;
    *vx86 = !memcmp(c + 8, "VX86    ", 8);
    p = c + 44;
    for (unsigned i = 0; i < get16(c + 34) && p < c + get16(c + 4); i++) {
        if (p[0] == 0) {
            cpus += p[3] & 1;
            p += 20;
            continue;
        }
        if (p[0] == 2) {
            CHECK(get32(p + 4) == 0xfec00000);
            ioapics++;
        }
        p += 8;
    }
    CHECK(p == c + get16(c + 4));
    CHECK(ioapics == 1);
    printf("MP: %d processors\n", cpus);
    return cpus;
}

static void cfg_select(uint16_t key)
{
    outw(FW_CFG_SEL, key);
}

static void cfg_read(void *buf, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        ((uint8_t *)buf)[i] = inb(FW_CFG_DATA);
}

static uint32_t be32(uint32_t v)
{
    return v >> 24 | (v >> 8 & 0xff00) | (v << 8 & 0xff0000) | v << 24;
}

/* fw_cfg.rst: etc/e820 is a list of {u64 address, u64 length, u32 type}. */
static void check_e820_file(void)
{
    uint32_t count, size = 0;
    uint16_t select = 0;
    uint64_t ram = 0;
    struct __attribute__((packed)) {
        uint32_t size;
        uint16_t select, reserved;
        char name[56];
    } f;
    struct __attribute__((packed)) {
        uint64_t addr, len;
        uint32_t type;
    } e;

    cfg_select(FW_CFG_FILE_DIR);
    cfg_read(&count, 4);
    count = be32(count);
    printf("fw_cfg: %u files\n", count);
    CHECK(count > 0 && count < 1000);
    for (uint32_t i = 0; i < count && i < 1000; i++) {
        cfg_read(&f, sizeof(f));
        if (strcmp(f.name, "etc/e820") == 0) {
            size = be32(f.size);
            select = (uint16_t)(f.select >> 8 | f.select << 8);
        }
    }
    printf("fw_cfg: etc/e820 at key %x, %u bytes\n", select, size);
    CHECK(select >= 0x20 && size > 0 && size % 20 == 0);
    cfg_select(select);
    for (uint32_t i = 0; i < size / 20 && i < 128; i++) {
        cfg_read(&e, sizeof(e));
        printf("  e820: %llx-%llx type %u\n", e.addr, e.addr + e.len - 1, e.type);
        if (e.type == 1)
            ram += e.len;
    }
    printf("fw_cfg: %llu KiB of RAM in etc/e820\n", ram / KIB);
    CHECK(ram > 127 * MIB && ram <= 128 * MIB);
    /* Past the end, the data port reads zeros. */
    cfg_read(&e, sizeof(e));
    CHECK(e.addr == 0 && e.len == 0 && e.type == 0);
}

static int check_fw_cfg(void)
{
    char sig[5] = {0};
    uint16_t cpus;

    cfg_select(FW_CFG_SIGNATURE);
    cfg_read(sig, 4);
    printf("fw_cfg: signature \"%s\"\n", sig);
    CHECK(strcmp(sig, "QEMU") == 0);
    cfg_select(FW_CFG_NB_CPUS);
    cfg_read(&cpus, 2);
    printf("fw_cfg: %u CPUs\n", cpus);
    check_e820_file();
    return cpus;
}

/* The SLP_TYPa value of the DSDT's \_S5 package (ACPI 6.5 §7.4.2, AML
 * encoding §20.2): NameOp "_S5_" PackageOp PkgLength NumElements, then an
 * integer: ZeroOp, OneOp or BytePrefix n. -1 if not found. */
static int s5_slp_typ(const struct sdt *dsdt)
{
    const uint8_t *p = (const uint8_t *)dsdt, *end = p + dsdt->length;

    for (p += sizeof(*dsdt); p + 8 < end; p++) {
        if (memcmp(p, "_S5_", 4) || p[4] != 0x12)
            continue;
        p += 5 + 1 + (p[5] >> 6) + 1; /* PackageOp, PkgLength bytes, NumElements */
        if (p >= end)
            return -1;
        if (p[0] == 0x00 || p[0] == 0x01)
            return p[0];
        if (p[0] == 0x0a && p + 1 < end)
            return p[1];
        return -1;
    }
    return -1;
}

/* Gives a machine that ends asynchronously (QEMU acts on a power-off or
 * reset request after the vCPU goes on) time to do so; vx86 stops at once. */
static void linger(void)
{
    for (volatile int i = 0; i < 20000000; i++)
        __asm__ volatile("pause");
}

static int has_word(const char *s, const char *w)
{
    unsigned n = 0;

    while (w[n])
        n++;
    for (; *s; s++)
        if ((s[0] != ' ') && !memcmp(s, w, n) && (s[n] == 0 || s[n] == ' '))
            return 1;
    return 0;
}

static void power_off(const struct acpi *acpi)
{
    const uint8_t *f = (const uint8_t *)acpi->fadt;
    int typ = acpi->dsdt ? s5_slp_typ(acpi->dsdt) : -1;
    uint16_t port = f ? (uint16_t)get32(f + 64) : 0;

    printf("S5: SLP_TYP %d through PM1a_CNT %x\n", typ, port);
    CHECK(typ >= 0 && port);
    /* Legacy mode first hands over to ACPI mode (§16.3.1): ACPI_ENABLE to
     * SMI_CMD, then SCI_EN reads 1. vx86 has no SMI_CMD: always ACPI mode. */
    if (port && !(inw(port) & 1) && get32(f + 48)) {
        outb((uint16_t)get32(f + 48), f[52]);
        for (int i = 0; i < 1000000 && !(inw(port) & 1); i++)
            ;
        CHECK(inw(port) & 1);
    }
    if (typ >= 0 && port) {
        outw(port, (uint16_t)((inw(port) & ~(7u << 10)) | (unsigned)typ << 10));
        outw(port, (uint16_t)((inw(port) & ~(7u << 10)) | (unsigned)typ << 10 | PM1_SLP_EN));
    }
    linger();
    printf("FAIL: still running after entering S5\n");
    CHECK(0);
}

/* The FADT's reset register (ACPI 6.5 §4.8.4.6) where it has one, which
 * vx86's does; else the PC's reset control port, 0xCF9 = 6, as QEMU's
 * revision 1 FADT leaves. */
static void reset(const struct acpi *acpi)
{
    const uint8_t *f = (const uint8_t *)acpi->fadt;
    int has_reg = f && acpi->fadt->length >= 129 && (get32(f + 112) & FADT_RESET_REG_SUP);
    uint16_t port = 0xcf9;
    uint8_t value = 6;

    if (f && !memcmp(acpi->fadt->oem_id, "VX86  ", 6))
        CHECK(has_reg);
    if (has_reg) {
        CHECK(f[116] == 1); /* system I/O */
        port = (uint16_t)get32(f + 120);
        value = f[128];
    }
    printf("reset: %x to port %x\n", value, port);
    outb(port, value);
    linger();
    printf("FAIL: still running after the reset\n");
    CHECK(0);
}

int guest_main_multiboot(uint32_t magic, uint32_t info)
{
    const struct mb_info *mbi = (const struct mb_info *)info;
    const char *cmdline = (mbi->flags & (1u << 2)) ? (const char *)mbi->cmdline : "";
    struct acpi acpi = {0};
    uint32_t lapic = 0, ioapic = 0;
    int ioapic_id = -1, madt_cpus, cfg_cpus, mp_cpus, mp_vx86 = 0;

    (void)magic;
    printf("platform guest, command line \"%s\"\n", cmdline);
    walk_acpi(&acpi);
    check_fadt(&acpi);
    madt_cpus = check_madt(acpi.madt, &ioapic, &lapic, &ioapic_id);
    cfg_cpus = check_fw_cfg();
    printf("MADT: %d processors, fw_cfg: %d\n", madt_cpus, cfg_cpus);
    CHECK(madt_cpus >= 1 && madt_cpus == cfg_cpus);
    /* SeaBIOS lists one processor per package; vx86 lists each. */
    mp_cpus = check_mptable(&mp_vx86);
    CHECK(mp_cpus >= 1 && mp_cpus <= madt_cpus);
    if (mp_vx86)
        CHECK(mp_cpus == madt_cpus);
    check_apics(lapic, ioapic, ioapic_id);
    check_pci(acpi.mcfg);
    CHECK(acpi.dsdt && s5_slp_typ(acpi.dsdt) >= 0);
    if (has_word(cmdline, "poweroff"))
        power_off(&acpi);
    else if (has_word(cmdline, "reset"))
        reset(&acpi);
    guest_finish();
}
