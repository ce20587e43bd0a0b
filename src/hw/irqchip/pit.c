#include "hw/irqchip/pit.h"

#include <string.h>

#include "vm/board.h"

#define NS_PER_S     1000000000ull
#define REFRESH_NS   15085 /* port 0x61 bit 4 toggles every 15.085 us, as on the PC/AT */
#define PORT61_GATE2 0x01
#define PORT61_RW    0x0f /* gate, speaker data, parity and IOCHK enables */
#define PORT61_REF   0x10
#define PORT61_OUT2  0x20

/* Control word (82C54 data sheet, figure 8) and read-back (figure 10). */
#define CW_SC_SHIFT   6
#define CW_RW_SHIFT   4
#define CW_BCD        0x01
#define READBACK      3
#define RB_NO_COUNT   0x20
#define RB_NO_STATUS  0x10
#define ST_OUT        0x80
#define ST_NULL_COUNT 0x40

enum { RW_LATCH = 0, RW_LSB = 1, RW_MSB = 2, RW_WORD = 3 };

static uint64_t ns_to_clocks(uint64_t ns)
{
    return (uint64_t)((unsigned __int128)ns * PIT_HZ / NS_PER_S);
}

/* The least ns with ns_to_clocks(ns) >= clocks. */
static uint64_t clocks_to_ns(uint64_t clocks)
{
    unsigned __int128 ns = ((unsigned __int128)clocks * NS_PER_S + PIT_HZ - 1) / PIT_HZ;

    return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

static bool gated_mode(const struct pit_channel *ch)
{
    return ch->mode == 1 || ch->mode == 5;
}

static bool running(const struct pit_channel *ch)
{
    return ch->counting && (ch->gate || gated_mode(ch));
}

/* Clocks counted since the count was loaded (or triggered). */
static uint64_t clocks(const struct pit_channel *ch, uint64_t now)
{
    if (!running(ch) || now < ch->start_ns)
        return ch->ticks;
    return ch->ticks + ns_to_clocks(now - ch->start_ns);
}

static void restart(struct pit_channel *ch, uint64_t now)
{
    ch->counting = true;
    ch->ticks = 0;
    ch->start_ns = now;
    ch->seen = 0;
}

/* The OUT pin after d clocks, 82C54 data sheet "Mode definitions". */
static int out(const struct pit_channel *ch, uint64_t d)
{
    uint64_t n = ch->count;

    if (!ch->counting)
        return ch->mode != 0;
    switch (ch->mode) {
    case 0:
    case 1:
        return d >= n;
    case 2:
        return !ch->gate || d % n != n - 1;
    case 3:
        return !ch->gate || d % n < (n + 1) / 2;
    default: /* 4, 5: low for the one clock at terminal count */
        return d != n;
    }
}

/* The first clock count > d at which OUT rises, or UINT64_MAX. */
static uint64_t next_edge(const struct pit_channel *ch, uint64_t d)
{
    uint64_t n = ch->count;

    if (!running(ch))
        return UINT64_MAX;
    switch (ch->mode) {
    case 0:
    case 1:
        return d < n ? n : UINT64_MAX;
    case 2:
    case 3:
        return (d / n + 1) * n;
    default:
        return d <= n ? n + 1 : UINT64_MAX;
    }
}

/* The counting element's value after d clocks, as the 16 bits read back. */
static uint16_t counter(const struct pit_channel *ch, uint64_t d)
{
    uint64_t mod = ch->bcd ? 10000 : 0x10000, n = ch->count, v;

    if (!ch->counting)
        v = n;
    else if (ch->mode == 2)
        v = n - d % n;
    else if (ch->mode == 3)
        v = n - (2 * d) % n; /* counts down by two */
    else
        v = (n + mod - d % mod) % mod;
    v %= mod;
    if (ch->bcd)
        v = (v / 1000) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10;
    return (uint16_t)v;
}

static void set_line(struct pit *p, int level)
{
    if (level == p->irq_level)
        return;
    p->irq_level = level;
    if (p->irq)
        p->irq(p->opaque, level);
}

/* When channel 0's next unserviced rising edge comes, or UINT64_MAX. */
static uint64_t next_event(const struct pit_channel *ch)
{
    uint64_t e = next_edge(ch, ch->seen), t;

    if (e == UINT64_MAX)
        return UINT64_MAX;
    if (e <= ch->ticks)
        return 0; /* due already */
    if (__builtin_add_overflow(ch->start_ns, clocks_to_ns(e - ch->ticks), &t))
        return UINT64_MAX;
    return t;
}

/* Drives IRQ0 from channel 0's OUT as of now; ends every locked operation. */
static void service(struct pit *p, uint64_t now)
{
    struct pit_channel *ch = &p->ch[0];
    uint64_t d = clocks(ch, now);
    bool edge = d > ch->seen && next_edge(ch, ch->seen) <= d;

    if (d > ch->seen)
        ch->seen = d;
    if (edge) {
        set_line(p, 0);
        set_line(p, 1);
    }
    set_line(p, out(ch, d));
    atomic_store(&p->next_event_ns, next_event(ch));
}

static void load(struct pit_channel *ch, uint16_t raw, uint64_t now)
{
    uint32_t n = raw;

    if (ch->bcd)
        n = (raw >> 12 & 15) * 1000 + (raw >> 8 & 15) * 100 + (raw >> 4 & 15) * 10 + (raw & 15);
    if (n == 0)
        n = ch->bcd ? 10000 : 0x10000;
    /* Modes 2 and 3 divide by n; a count of 1 is illegal there (data sheet). */
    if (n == 1 && (ch->mode == 2 || ch->mode == 3))
        n = 2;
    ch->count = n;
    ch->loaded = true;
    ch->null_count = false;
    if (!gated_mode(ch))
        restart(ch, now);
}

static void write_counter(struct pit_channel *ch, uint8_t v, uint64_t now)
{
    switch (ch->rw) {
    case RW_LSB:
        load(ch, v, now);
        break;
    case RW_MSB:
        load(ch, (uint16_t)(v << 8), now);
        break;
    default:
        if (!ch->write_msb) {
            ch->write_lsb = v;
            ch->write_msb = true;
            /* Mode 0: writing the first byte stops the count, OUT stays low. */
            if (ch->mode == 0)
                ch->counting = false;
        } else {
            ch->write_msb = false;
            load(ch, (uint16_t)(ch->write_lsb | v << 8), now);
        }
        break;
    }
}

static void latch_count(struct pit_channel *ch, uint64_t now)
{
    if (ch->latched)
        return;
    ch->latch = counter(ch, clocks(ch, now));
    ch->latched = true;
    ch->latch_msb = false;
}

static void latch_status(struct pit_channel *ch, uint64_t now)
{
    if (ch->status_latched)
        return;
    ch->status =
        (uint8_t)((out(ch, clocks(ch, now)) ? ST_OUT : 0) | (ch->null_count ? ST_NULL_COUNT : 0) |
                  ch->rw << CW_RW_SHIFT | ch->mode << 1 | (ch->bcd ? CW_BCD : 0));
    ch->status_latched = true;
}

static void control_word(struct pit *p, uint8_t v, uint64_t now)
{
    int sc = v >> CW_SC_SHIFT, rw = (v >> CW_RW_SHIFT) & 3;
    struct pit_channel *ch;

    if (sc == READBACK) {
        for (int i = 0; i < 3; i++) {
            if (!(v & (2u << i)))
                continue;
            if (!(v & RB_NO_COUNT))
                latch_count(&p->ch[i], now);
            if (!(v & RB_NO_STATUS))
                latch_status(&p->ch[i], now);
        }
        return;
    }
    ch = &p->ch[sc];
    if (rw == RW_LATCH) {
        latch_count(ch, now);
        return;
    }
    ch->rw = (uint8_t)rw;
    ch->mode = (v >> 1) & 7;
    if (ch->mode > 5)
        ch->mode -= 4; /* 6 and 7 are 2 and 3 */
    ch->bcd = v & CW_BCD;
    ch->loaded = ch->counting = false;
    ch->null_count = true;
    ch->latched = ch->status_latched = false;
    ch->read_msb = ch->write_msb = false;
}

static uint8_t read_counter(struct pit_channel *ch, uint64_t now)
{
    uint16_t v;
    bool msb;

    if (ch->status_latched) {
        ch->status_latched = false;
        return ch->status;
    }
    if (ch->latched) {
        v = ch->latch;
        msb = ch->rw == RW_MSB || (ch->rw == RW_WORD && ch->latch_msb);
        if (ch->rw == RW_WORD && !ch->latch_msb)
            ch->latch_msb = true;
        else
            ch->latched = false;
    } else {
        v = counter(ch, clocks(ch, now));
        msb = ch->rw == RW_MSB || (ch->rw == RW_WORD && ch->read_msb);
        if (ch->rw == RW_WORD)
            ch->read_msb = !ch->read_msb;
    }
    return msb ? v >> 8 : v & 0xff;
}

static void set_gate(struct pit_channel *ch, bool gate, uint64_t now)
{
    if (gate == ch->gate)
        return;
    if (!gate) {
        if (!gated_mode(ch))
            ch->ticks = clocks(ch, now); /* modes 0, 2, 3 and 4 pause */
        ch->gate = false;
        return;
    }
    ch->gate = true;
    switch (ch->mode) {
    case 1:
    case 5: /* a rising gate triggers */
        if (ch->loaded)
            restart(ch, now);
        break;
    case 2:
    case 3: /* a rising gate reloads */
        if (ch->counting)
            restart(ch, now);
        break;
    default: /* 0 and 4 resume */
        ch->start_ns = now;
        break;
    }
}

void pit_init(struct pit *p, uint64_t (*clock_ns)(void), void (*irq)(void *opaque, int level),
              void *opaque)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    /* Channels 0 and 1 have their gates tied high on the PC. OUT starts
     * high, as the firmware's square wave would leave it, so that the
     * guest's first mode 2-5 control word raises no edge on IRQ0. */
    p->ch[0].gate = p->ch[1].gate = true;
    for (int i = 0; i < 3; i++)
        p->ch[i].mode = 3, p->ch[i].rw = RW_WORD;
    p->irq_level = 1;
    p->clock_ns = clock_ns;
    p->irq = irq;
    p->opaque = opaque;
    atomic_init(&p->next_event_ns, UINT64_MAX);
}

void pit_destroy(struct pit *p)
{
    pthread_mutex_destroy(&p->lock);
}

uint8_t pit_read(struct pit *p, uint16_t port)
{
    uint64_t now;
    uint8_t v;

    pthread_mutex_lock(&p->lock);
    now = p->clock_ns();
    if (port == BOARD_PORT61) {
        v = p->port61 | ((now / REFRESH_NS) & 1 ? PORT61_REF : 0) |
            (out(&p->ch[2], clocks(&p->ch[2], now)) ? PORT61_OUT2 : 0);
    } else if (port >= BOARD_PIT_PORT && port < BOARD_PIT_PORT + 3) {
        v = read_counter(&p->ch[port - BOARD_PIT_PORT], now);
    } else {
        v = 0xff; /* the control word register is write-only */
    }
    service(p, now);
    pthread_mutex_unlock(&p->lock);
    return v;
}

void pit_write(struct pit *p, uint16_t port, uint8_t value)
{
    uint64_t now;

    pthread_mutex_lock(&p->lock);
    now = p->clock_ns();
    service(p, now); /* edges due before the write happened before it */
    if (port == BOARD_PORT61) {
        p->port61 = value & PORT61_RW;
        set_gate(&p->ch[2], value & PORT61_GATE2, now);
    } else if (port == BOARD_PIT_PORT + 3) {
        control_word(p, value, now);
    } else if (port >= BOARD_PIT_PORT && port < BOARD_PIT_PORT + 3) {
        write_counter(&p->ch[port - BOARD_PIT_PORT], value, now);
    }
    service(p, now);
    pthread_mutex_unlock(&p->lock);
}

void pit_service(struct pit *p)
{
    pthread_mutex_lock(&p->lock);
    service(p, p->clock_ns());
    pthread_mutex_unlock(&p->lock);
}

uint64_t pit_next_event(struct pit *p)
{
    return atomic_load(&p->next_event_ns);
}
