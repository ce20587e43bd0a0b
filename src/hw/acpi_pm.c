#include "hw/acpi_pm.h"

#include <string.h>
#include <time.h>

#include "vm/board.h"

/* PM1 status bits (ACPI 6.5 Table 4.13): write 1 to clear. */
#define PM1_STS_MASK 0xc731u /* TMR, BM, GBL, PWRBTN, SLPBTN, RTC, PCIEXP_WAKE, WAK */
/* PM1 enable bits (Table 4.14). */
#define PM1_EN_MASK 0x4721u /* TMR, GBL, PWRBTN, SLPBTN, RTC, PCIEXP_WAKE_DIS */
/* Reset control register (PIIX4 datasheet §4.1.17, ICH9 §13.7.5). */
#define RCR_SYS_RST 0x02
#define RCR_RST_CPU 0x04

/* Merges an access of size bytes at byte offset off into a 16-bit register. */
static uint16_t merge16(uint16_t old, uint64_t off, unsigned size, uint64_t value)
{
    uint32_t mask = (size >= 2 ? 0xffffu : 0xffu) << (8 * off);

    return (uint16_t)((old & ~mask) | (((uint32_t)value << (8 * off)) & mask));
}

/* The event block as one little-endian 32-bit value: status, then enable. */
static uint64_t evt_read(void *opaque, uint64_t offset, unsigned size)
{
    struct acpi_pm *pm = opaque;
    uint32_t block;

    (void)size;
    pthread_mutex_lock(&pm->lock);
    block = pm->sts | (uint32_t)pm->en << 16;
    pthread_mutex_unlock(&pm->lock);
    return block >> (8 * offset);
}

/* Byte by byte, so that an access of any width and alignment inside the
 * block reaches the halves it covers. */
static void evt_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct acpi_pm *pm = opaque;

    pthread_mutex_lock(&pm->lock);
    for (unsigned i = 0; i < size; i++) {
        uint64_t pos = offset + i;
        uint16_t b = (uint16_t)(((value >> (8 * i)) & 0xff) << (8 * (pos & 1)));

        if (pos < 2)
            pm->sts &= (uint16_t) ~(b & PM1_STS_MASK);
        else
            pm->en = (uint16_t)((pm->en & ~(0xff << (8 * (pos & 1)))) | (b & PM1_EN_MASK));
    }
    pthread_mutex_unlock(&pm->lock);
}

static uint64_t cnt_read(void *opaque, uint64_t offset, unsigned size)
{
    struct acpi_pm *pm = opaque;
    uint64_t v;

    (void)size;
    pthread_mutex_lock(&pm->lock);
    v = pm->cnt >> (8 * offset);
    pthread_mutex_unlock(&pm->lock);
    return v;
}

static void cnt_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct acpi_pm *pm = opaque;
    uint16_t written = merge16(0, offset, size, value), mask = merge16(0, offset, size, 0xffff);
    unsigned typ;
    bool off, s3;

    pthread_mutex_lock(&pm->lock);
    /* SLP_EN and GBL_RLS are write-only, SCI_EN is fixed at 1. */
    pm->cnt = (uint16_t)((pm->cnt & ~mask) | (written & mask & (PM1_CNT_BM_RLD | PM1_CNT_SLP_TYP)));
    pm->cnt |= PM1_CNT_SCI_EN;
    typ = (pm->cnt & PM1_CNT_SLP_TYP) >> PM1_CNT_SLP_SHIFT;
    off = (written & PM1_CNT_SLP_EN) && typ == ACPI_PM_SLP_TYP_S5;
    s3 = (written & PM1_CNT_SLP_EN) && typ == ACPI_PM_SLP_TYP_S3 && !pm->asleep;
    if (s3)
        pm->asleep = true;
    pthread_mutex_unlock(&pm->lock);
    if (off)
        pm->event(pm->opaque, ACPI_PM_POWEROFF);
    else if (s3)
        pm->event(pm->opaque, ACPI_PM_SLEEP);
}

/* The enable bit of each wake event's status bit (Tables 4.13, 4.14). */
static bool enabled(const struct acpi_pm *pm, uint16_t sts)
{
    return sts == PM1_STS_RTC && (pm->en & PM1_EN_RTC);
}

bool acpi_pm_wake_enabled(struct acpi_pm *pm, uint16_t sts)
{
    bool on;

    pthread_mutex_lock(&pm->lock);
    on = enabled(pm, sts);
    pthread_mutex_unlock(&pm->lock);
    return on;
}

bool acpi_pm_wake_event(struct acpi_pm *pm, uint16_t sts)
{
    bool wake;

    pthread_mutex_lock(&pm->lock);
    pm->sts |= sts & PM1_STS_MASK;
    wake = pm->asleep && enabled(pm, sts);
    if (wake) {
        pm->asleep = false;
        pm->sts |= PM1_STS_WAK;
    }
    pthread_mutex_unlock(&pm->lock);
    if (wake)
        pm->event(pm->opaque, ACPI_PM_WAKE);
    return wake;
}

/* Ticks of the 3.579545 MHz clock since clock_ns's origin, the low 32 bits;
 * the two halves keep ns * HZ from overflowing. */
static uint64_t tmr_read(void *opaque, uint64_t offset, unsigned size)
{
    struct acpi_pm *pm = opaque;
    uint64_t ns = pm->clock_ns();
    uint32_t ticks = (uint32_t)(ns / 1000000000 * ACPI_PM_TMR_HZ +
                                ns % 1000000000 * ACPI_PM_TMR_HZ / 1000000000);

    (void)size;
    return ticks >> (8 * offset);
}

static uint64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static uint64_t rcr_read(void *opaque, uint64_t offset, unsigned size)
{
    struct acpi_pm *pm = opaque;
    uint64_t v;

    (void)offset;
    (void)size;
    pthread_mutex_lock(&pm->lock);
    v = pm->rcr;
    pthread_mutex_unlock(&pm->lock);
    return v;
}

/* As QEMU's PIIX3 and ICH9: RST_CPU resets at once, whatever SYS_RST says
 * about hard or soft; a hard one is all vx86 has. */
static void rcr_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct acpi_pm *pm = opaque;

    (void)offset;
    (void)size;
    if (value & RCR_RST_CPU) {
        pm->event(pm->opaque, ACPI_PM_RESET);
        return;
    }
    pthread_mutex_lock(&pm->lock);
    pm->rcr = value & RCR_SYS_RST;
    pthread_mutex_unlock(&pm->lock);
}

int acpi_pm_init(struct acpi_pm *pm, struct bus *pio,
                 void (*event)(void *opaque, enum acpi_pm_event ev), void *opaque)
{
    int err;

    memset(pm, 0, sizeof(*pm));
    pthread_mutex_init(&pm->lock, NULL);
    pm->cnt = PM1_CNT_SCI_EN;
    pm->event = event;
    pm->opaque = opaque;
    pm->clock_ns = monotonic_ns;
    /* 32-bit accesses to the event block reach both halves as two 16-bit ones. */
    err = bus_register(pio, &(struct bus_range){.base = ACPI_PM1_EVT_PORT,
                                                .len = ACPI_PM1_EVT_LEN,
                                                .widths = BUS_W1 | BUS_W2,
                                                .read = evt_read,
                                                .write = evt_write,
                                                .opaque = pm,
                                                .name = "acpi-pm1-evt"});
    if (!err)
        err = bus_register(pio, &(struct bus_range){.base = ACPI_PM1_CNT_PORT,
                                                    .len = ACPI_PM1_CNT_LEN,
                                                    .widths = BUS_W1 | BUS_W2,
                                                    .read = cnt_read,
                                                    .write = cnt_write,
                                                    .opaque = pm,
                                                    .name = "acpi-pm1-cnt"});
    if (!err)
        err = bus_register(pio, &(struct bus_range){.base = ACPI_PM_TMR_PORT,
                                                    .len = ACPI_PM_TMR_LEN,
                                                    .widths = BUS_W1 | BUS_W2 | BUS_W4,
                                                    .read = tmr_read,
                                                    .opaque = pm,
                                                    .name = "acpi-pm-tmr"});
    return err;
}

struct bus_range acpi_pm_reset_range(struct acpi_pm *pm)
{
    return (struct bus_range){.base = BOARD_RESET_PORT,
                              .len = 1,
                              .widths = BUS_W1,
                              .read = rcr_read,
                              .write = rcr_write,
                              .opaque = pm,
                              .name = "reset-control"};
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
    pthread_mutex_destroy(&pm->lock);
}
