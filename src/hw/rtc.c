#include "hw/rtc.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "vm/board.h"

/* Register numbers and bits, MC146818A data sheet. */
enum { SEC = 0, SEC_ALARM, MIN, MIN_ALARM, HOUR, HOUR_ALARM, WDAY, MDAY, MONTH, YEAR,
       REG_A = 0x0a, REG_B, REG_C, REG_D, CENTURY = 0x32 };

#define A_UIP       0x80
#define A_DV_MASK   0x70
#define A_DV_32K    0x20 /* divider running from a 32.768 kHz crystal */
#define UIP_NS      244000 /* UIP rises this long before each update */

#define B_24H    0x02
#define B_BINARY 0x04
#define B_SET    0x80
#define B_AIE    0x20
#define C_IRQF   0x80
#define C_AF     0x20
#define D_VRT    0x80 /* valid RAM and time */
#define DONT_CARE 0xc0 /* an alarm byte with both top bits set matches any value */
#define HOUR_PM  0x80

static uint8_t to_bcd(unsigned v)
{
    return (uint8_t)((v / 10) << 4 | (v % 10));
}

static unsigned from_bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 0xf);
}

static uint8_t encode(const struct rtc *rtc, unsigned v)
{
    return rtc->cmos[REG_B] & B_BINARY ? (uint8_t)v : to_bcd(v);
}

static unsigned decode(const struct rtc *rtc, uint8_t v)
{
    return rtc->cmos[REG_B] & B_BINARY ? v : from_bcd(v);
}

static void guest_time(const struct rtc *rtc, struct tm *tm)
{
    struct timespec ts;
    time_t t;

    rtc->now(&ts);
    t = ts.tv_sec + rtc->offset;
    gmtime_r(&t, tm);
}

/* Register A with UIP: set in the last 244 us of each guest second (the
 * offset is whole seconds, so the host's fraction is the guest's). */
static uint8_t read_reg_a(const struct rtc *rtc)
{
    struct timespec ts;
    uint8_t a = rtc->cmos[REG_A];

    if ((a & A_DV_MASK) != A_DV_32K || (rtc->cmos[REG_B] & B_SET))
        return a;
    rtc->now(&ts);
    return ts.tv_nsec >= 1000000000L - UIP_NS ? a | A_UIP : a;
}

/* Register reg (a time register) at guest time tm. */
static uint8_t time_reg(const struct rtc *rtc, unsigned reg, const struct tm *tm)
{
    unsigned hour;

    switch (reg) {
    case SEC: return encode(rtc, (unsigned)tm->tm_sec);
    case MIN: return encode(rtc, (unsigned)tm->tm_min);
    case HOUR:
        if (rtc->cmos[REG_B] & B_24H)
            return encode(rtc, (unsigned)tm->tm_hour);
        hour = (unsigned)tm->tm_hour % 12;
        return (uint8_t)(encode(rtc, hour ? hour : 12) | (tm->tm_hour >= 12 ? HOUR_PM : 0));
    case WDAY: return encode(rtc, (unsigned)tm->tm_wday + 1);
    case MDAY: return encode(rtc, (unsigned)tm->tm_mday);
    case MONTH: return encode(rtc, (unsigned)tm->tm_mon + 1);
    case YEAR: return encode(rtc, (unsigned)tm->tm_year % 100);
    default: return encode(rtc, (unsigned)(tm->tm_year + 1900) / 100); /* CENTURY */
    }
}

static uint8_t read_time(const struct rtc *rtc, unsigned reg)
{
    struct tm tm;

    guest_time(rtc, &tm);
    return time_reg(rtc, reg, &tm);
}

/* A write to a time register moves the guest's clock by the difference. */
static void write_time(struct rtc *rtc, unsigned reg, uint8_t v)
{
    struct tm tm;
    time_t before, after;
    unsigned n = decode(rtc, v & (reg == HOUR ? 0x7f : 0xff));

    guest_time(rtc, &tm);
    before = timegm(&tm);
    switch (reg) {
    case SEC: tm.tm_sec = (int)n; break;
    case MIN: tm.tm_min = (int)n; break;
    case HOUR:
        if (!(rtc->cmos[REG_B] & B_24H))
            n = n % 12 + (v & HOUR_PM ? 12 : 0);
        tm.tm_hour = (int)n;
        break;
    case MDAY: tm.tm_mday = (int)n; break;
    case MONTH: tm.tm_mon = (int)n - 1; break;
    case YEAR: tm.tm_year = tm.tm_year / 100 * 100 + (int)n; break;
    case CENTURY: tm.tm_year = (int)n * 100 - 1900 + tm.tm_year % 100; break;
    default: return; /* the weekday follows from the date */
    }
    after = timegm(&tm);
    if (after != (time_t)-1)
        rtc->offset += after - before;
}

static bool is_time(unsigned reg)
{
    return reg <= YEAR || reg == CENTURY;
}

static uint64_t rtc_read(void *opaque, uint64_t offset, unsigned size)
{
    struct rtc *rtc = opaque;
    unsigned reg;
    uint8_t v;

    (void)size;
    if (offset == 0)
        return 0xff; /* the index port is write-only */
    pthread_mutex_lock(&rtc->lock);
    reg = rtc->index;
    if (is_time(reg) && reg != SEC_ALARM && reg != MIN_ALARM && reg != HOUR_ALARM)
        v = read_time(rtc, reg);
    else if (reg == REG_A)
        v = read_reg_a(rtc);
    else
        v = rtc->cmos[reg];
    if (reg == REG_C)
        rtc->cmos[REG_C] = 0; /* reading C acknowledges */
    pthread_mutex_unlock(&rtc->lock);
    return v;
}

static void rtc_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct rtc *rtc = opaque;
    uint8_t v = (uint8_t)value;
    unsigned reg;

    (void)size;
    pthread_mutex_lock(&rtc->lock);
    if (offset == 0) {
        rtc->index = v & 0x7f; /* bit 7 masks NMIs; there are none to mask */
        goto out;
    }
    reg = rtc->index;
    switch (reg) {
    case REG_A:
        rtc->cmos[REG_A] = v & 0x7f; /* UIP is read-only */
        break;
    case REG_C:
    case REG_D:
        break; /* read-only */
    default:
        if (is_time(reg) && reg != SEC_ALARM && reg != MIN_ALARM && reg != HOUR_ALARM)
            write_time(rtc, reg, v);
        else
            rtc->cmos[reg] = v;
        break;
    }
out:
    pthread_mutex_unlock(&rtc->lock);
}

static bool alarm_matches(const struct rtc *rtc, time_t t)
{
    static const unsigned pairs[][2] = {{SEC_ALARM, SEC}, {MIN_ALARM, MIN}, {HOUR_ALARM, HOUR}};
    struct tm tm;

    gmtime_r(&t, &tm);
    for (unsigned i = 0; i < 3; i++) {
        uint8_t alarm = rtc->cmos[pairs[i][0]];

        if ((alarm & DONT_CARE) != DONT_CARE && alarm != time_reg(rtc, pairs[i][1], &tm))
            return false;
    }
    return true;
}

/* A second at a time over the next day: the alarm names at most a time of
 * day, so one that does not match within a day never does. */
int rtc_next_alarm(struct rtc *rtc, struct timespec *at)
{
    struct timespec now;
    int err = -ENOENT;

    pthread_mutex_lock(&rtc->lock);
    rtc->now(&now);
    for (time_t t = now.tv_sec + 1; (rtc->cmos[REG_B] & B_AIE) && t <= now.tv_sec + 86400; t++) {
        if (alarm_matches(rtc, t + rtc->offset)) {
            *at = (struct timespec){.tv_sec = t};
            err = 0;
            break;
        }
    }
    pthread_mutex_unlock(&rtc->lock);
    return err;
}

void rtc_cmos_set(struct rtc *rtc, unsigned index, uint8_t value)
{
    if (index < 0x0e || index >= sizeof(rtc->cmos))
        return;
    pthread_mutex_lock(&rtc->lock);
    rtc->cmos[index] = value;
    pthread_mutex_unlock(&rtc->lock);
}

void rtc_alarm_ring(struct rtc *rtc)
{
    pthread_mutex_lock(&rtc->lock);
    rtc->cmos[REG_C] |= C_AF | (rtc->cmos[REG_B] & B_AIE ? C_IRQF : 0);
    pthread_mutex_unlock(&rtc->lock);
}

static void host_now(struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
}

int rtc_init(struct rtc *rtc, struct bus *pio, uint64_t mem_size)
{
    uint64_t above_1m = mem_size > (1 << 20) ? (mem_size - (1 << 20)) >> 10 : 0;
    uint64_t above_16m = mem_size > (16 << 20) ? (mem_size - (16 << 20)) >> 16 : 0;

    memset(rtc, 0, sizeof(*rtc));
    pthread_mutex_init(&rtc->lock, NULL);
    rtc->now = host_now;
    rtc->cmos[REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
    rtc->cmos[REG_B] = B_24H;
    rtc->cmos[REG_D] = D_VRT;
    /* Memory size in the PC/AT CMOS layout, as firmware leaves it:
     * 0x15/0x16 base KiB, 0x17/0x18 and 0x30/0x31 KiB above 1 MiB (up to
     * 63 MiB), 0x34/0x35 64 KiB blocks above 16 MiB. */
    rtc->cmos[0x15] = 640 & 0xff;
    rtc->cmos[0x16] = 640 >> 8;
    if (above_1m > 0xffff)
        above_1m = 0xffff;
    if (above_16m > 0xffff)
        above_16m = 0xffff;
    rtc->cmos[0x17] = rtc->cmos[0x30] = (uint8_t)above_1m;
    rtc->cmos[0x18] = rtc->cmos[0x31] = (uint8_t)(above_1m >> 8);
    rtc->cmos[0x34] = (uint8_t)above_16m;
    rtc->cmos[0x35] = (uint8_t)(above_16m >> 8);
    return bus_register(pio, &(struct bus_range){.base = BOARD_RTC_PORT,
                                                 .len = 2,
                                                 .widths = BUS_W1,
                                                 .read = rtc_read,
                                                 .write = rtc_write,
                                                 .opaque = rtc,
                                                 .name = "rtc"});
}
