/*
 * ACPI S3, suspend to RAM, and the wake-up by the RTC alarm, done as an OS
 * does it and checked against the specifications only (ACPI 6.5 §16.1.3;
 * §5.2.10, the FACS; §4.8.3, the PM1 registers; §7.4.2, \_S3), so that it
 * passes under QEMU (-M pc, SeaBIOS's resume path) as under vx86: the
 * FACS's waking vector names real-mode code below 1 MiB
 * (acpi_s3_wake.S), RTC_EN is set in PM1_EN, the RTC's alarm is armed for
 * every second (MC146818A: alarm bytes with bits 7:6 set match any value)
 * with AIE, and \_S3's SLP_TYP with SLP_EN goes to PM1a_CNT. The machine
 * must come back at the waking vector in real mode, CS:IP = vector >> 4 :
 * vector & 0xF, with RAM as it was and WAK_STS and RTC_STS set in PM1_STS;
 * s3_resumed() checks. (Not the alarm flag in the RTC's register C: QEMU
 * resets its RTC on the way back.)
 *
 * A multiboot guest, so that QEMU's -kernel takes it too. What must
 * survive lies outside the guest's image, which QEMU's -kernel copies in
 * again at the reset that ends its S3.
 */
#include "acpi_s3.h"
#include "lib/acpi.h"
#include "lib/guest.h"

#define PM1_STS_RTC (1u << 10)
#define PM1_STS_WAK (1u << 15)
#define PM1_EN_RTC  (1u << 10)
#define PM1_SLP_EN  (1u << 13)
#define RTC_B_AIE   0x20

extern const char s3_wake16[], s3_wake16_ip[], s3_wake16_end[];

static const uint64_t gdt[] = {0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull};

/* What must survive the sleep: a pattern over 64 KiB of RAM at 2 MiB. */
#define PATTERN       ((volatile uint32_t *)0x200000)
#define PATTERN_WORDS 16384

static uint32_t get32(const void *p)
{
    const uint8_t *b = p;

    return b[0] | b[1] << 8 | b[2] << 16 | (uint32_t)b[3] << 24;
}

/* The table at addr (below 4 GiB: paging is off) if it has signature sig. */
static const uint8_t *table(uint64_t addr, const char *sig)
{
    const uint8_t *t = (const uint8_t *)(uintptr_t)addr;

    return addr && addr < 0x100000000ull && !memcmp(t, sig, 4) ? t : 0;
}

/* ACPI 6.5 §5.2.5.1: "RSD PTR " on a 16-byte boundary in the BIOS area,
 * then the XSDT (revision 2) or the RSDT, then the FADT among its entries. */
static const uint8_t *find_fadt(void)
{
    for (uintptr_t a = 0xe0000; a < 0x100000; a += 16) {
        const uint8_t *p = (const uint8_t *)a, *root;
        unsigned entry = p[15] >= 2 && get32(p + 24) ? 8 : 4;

        if (memcmp(p, "RSD PTR ", 8))
            continue;
        root = entry == 8 ? table(get32(p + 24), "XSDT") : table(get32(p + 16), "RSDT");
        for (uint32_t off = 36; root && off + entry <= get32(root + 4); off += entry) {
            const uint8_t *t = table(get32(root + off), "FACP");

            if (t)
                return t;
        }
        return 0;
    }
    return 0;
}

/* SLP_TYPa of \_S3 (§7.4.2; AML §20.2): NameOp "_S3_" PackageOp PkgLength
 * NumElements, then ZeroOp, OneOp or BytePrefix n. -1 if absent. */
static int s3_slp_typ(const uint8_t *dsdt)
{
    const uint8_t *p = dsdt + 36, *end = dsdt + get32(dsdt + 4);

    for (; p + 8 < end; p++) {
        if (memcmp(p, "_S3_", 4) || p[4] != 0x12)
            continue;
        p += 5 + 1 + (p[5] >> 6) + 1;
        if (p[0] == 0x00 || p[0] == 0x01)
            return p[0];
        return p[0] == 0x0a ? p[1] : -1;
    }
    return -1;
}

static uint8_t rtc_read(uint8_t reg)
{
    outb(0x70, reg);
    return inb(0x71);
}

static void rtc_write(uint8_t reg, uint8_t v)
{
    outb(0x70, reg);
    outb(0x71, v);
}

static uint16_t get16(uintptr_t a)
{
    return *(volatile uint16_t *)a;
}

void s3_resumed(void);

void s3_resumed(void)
{
    const uint8_t *fadt = find_fadt();
    uint16_t pm1_evt = fadt ? (uint16_t)get32(fadt + 56) : 0, sts = pm1_evt ? inw(pm1_evt) : 0;
    unsigned bad = 0;

    printf("resumed: CS:IP %x:%x, DS %x, CR0 %x, EFLAGS %x, PM1_STS %x\n", get16(S3_SEEN_CS),
           get16(S3_SEEN_IP), get16(S3_SEEN_DS), *(volatile uint32_t *)S3_SEEN_CR0,
           *(volatile uint32_t *)S3_SEEN_EFLAGS, sts);
    CHECK(get16(S3_SEEN_CS) == S3_WAKE_VECTOR >> 4);
    CHECK(get16(S3_SEEN_IP) == (S3_WAKE_VECTOR & 0xf) + (s3_wake16_ip - s3_wake16));
    CHECK(!(*(volatile uint32_t *)S3_SEEN_CR0 & CR0_PE));
    CHECK(!(*(volatile uint32_t *)S3_SEEN_EFLAGS & RFLAGS_IF));
    CHECK(sts & PM1_STS_WAK);
    CHECK(sts & PM1_STS_RTC);
    for (unsigned i = 0; i < PATTERN_WORDS; i++)
        bad += PATTERN[i] != i * 2654435761u;
    CHECK(bad == 0);
    /* Write 1 to clear (§4.8.3.1). */
    outw(pm1_evt, PM1_STS_WAK | PM1_STS_RTC);
    CHECK(!(inw(pm1_evt) & (PM1_STS_WAK | PM1_STS_RTC)));
    guest_finish();
}

int guest_main_multiboot(uint32_t magic, uint32_t info)
{
    const uint8_t *fadt = find_fadt(), *facs = 0, *dsdt = 0;
    uint8_t *low = (uint8_t *)(uintptr_t)S3_WAKE_VECTOR;
    uint16_t pm1_evt = 0, pm1_cnt = 0;
    int typ = -1;

    (void)magic;
    (void)info;
    CHECK(fadt != 0);
    if (fadt) {
        /* FIRMWARE_CTRL, or X_FIRMWARE_CTRL past it in a newer FADT. */
        facs = table(get32(fadt + 36), "FACS");
        if (!facs && get32(fadt + 4) >= 140)
            facs = table(get32(fadt + 132), "FACS");
        dsdt = table(get32(fadt + 40), "DSDT");
        pm1_evt = (uint16_t)get32(fadt + 56);
        pm1_cnt = (uint16_t)get32(fadt + 64);
        typ = dsdt ? s3_slp_typ(dsdt) : -1;
    }
    printf("FACS at %lx, PM1a_EVT %x, PM1a_CNT %x, \\_S3 SLP_TYP %d\n",
           (unsigned long)(uintptr_t)facs, pm1_evt, pm1_cnt, typ);
    CHECK(facs && pm1_evt && pm1_cnt && typ >= 0);
    if (!facs || !pm1_evt || !pm1_cnt || typ < 0)
        guest_finish();

    for (unsigned i = 0; i < PATTERN_WORDS; i++)
        PATTERN[i] = i * 2654435761u;
    memcpy(low, s3_wake16, (unsigned long)(s3_wake16_end - s3_wake16));
    *(volatile uint16_t *)S3_GDT_PTR = sizeof(gdt) - 1;
    *(volatile uint32_t *)(S3_GDT_PTR + 2) = (uint32_t)(uintptr_t)gdt;
    /* Firmware_Waking_Vector; X_Firmware_Waking_Vector 0 (FACS version 1
     * and later have it) so that firmware takes the real-mode one. */
    *(volatile uint32_t *)(facs + 12) = S3_WAKE_VECTOR;
    if (get32(facs + 4) >= 32 && facs[32] >= 1)
        *(volatile uint64_t *)(facs + 24) = 0;

    outw(pm1_evt, 0xffff); /* every status bit cleared */
    CHECK(!(inw(pm1_evt) & (PM1_STS_WAK | PM1_STS_RTC)));
    outw((uint16_t)(pm1_evt + 2), (uint16_t)(inw((uint16_t)(pm1_evt + 2)) | PM1_EN_RTC));
    CHECK(inw((uint16_t)(pm1_evt + 2)) & PM1_EN_RTC);
    rtc_read(0x0c); /* no alarm flag from before */
    rtc_write(0x01, 0xff);
    rtc_write(0x03, 0xff);
    rtc_write(0x05, 0xff);
    rtc_write(0x0b, rtc_read(0x0b) | RTC_B_AIE);

    printf("entering S3\n");
    outw(pm1_cnt, (uint16_t)((inw(pm1_cnt) & ~(7u << 10)) | (unsigned)typ << 10));
    outw(pm1_cnt, (uint16_t)((inw(pm1_cnt) & ~(7u << 10)) | (unsigned)typ << 10 | PM1_SLP_EN));
    /* A machine that sleeps stops here; QEMU goes on for a while first. */
    for (volatile int i = 0; i < 50000000; i++)
        __asm__ volatile("pause");
    printf("FAIL: still running after entering S3\n");
    CHECK(0);
    guest_finish();
}
