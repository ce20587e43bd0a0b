/*
 * The 8254 programmable interval timer (Intel 82C54 data sheet, order no.
 * 231244) at ports 0x40-0x43, and port 0x61's timer bits: channel 0 drives
 * IRQ0, channel 1 (DRAM refresh) goes nowhere, channel 2's gate is port
 * 0x61 bit 0 and its OUT reads back as bit 5.
 *
 * There is no timer thread: the counters are computed from the time on each
 * access (PIT_HZ clocks per second of the clock_ns time base), and channel
 * 0's OUT edges are turned into IRQ0 edges when pit_service() runs, which
 * the owner does by the time pit_next_event() gives. Missed periods
 * coalesce into one edge, as lost ticks on a PC.
 *
 * Simplifications: a counter loads its count at the write (not at the next
 * clock), a new count in modes 2 and 3 restarts the period at once rather
 * than at its end, and odd counts in mode 3 read back as even ones do.
 *
 * Locking: every function takes p->lock; the irq callback runs with it held
 * and must not call back into the PIT.
 */
#ifndef VX86_HW_IRQCHIP_PIT_H
#define VX86_HW_IRQCHIP_PIT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define PIT_HZ 1193182

struct pit_channel {
    uint32_t count; /* N: 1-0x10000 (a written 0 is 0x10000, or 10000 in BCD) */
    uint8_t mode;   /* 0-5 */
    uint8_t rw;     /* 1 LSB, 2 MSB, 3 LSB then MSB */
    bool bcd;
    bool gate;
    bool loaded;   /* a count was written since the control word */
    bool counting; /* loaded and, in modes 1 and 5, triggered by the gate */
    bool null_count;
    uint64_t ticks;    /* clocks counted before start_ns */
    uint64_t start_ns; /* when the current stretch of counting began */
    uint64_t seen;     /* clocks at the last look for OUT edges */
    uint16_t latch;
    bool latched, latch_msb;
    uint8_t status;
    bool status_latched;
    bool read_msb, write_msb;
    uint8_t write_lsb;
};

struct pit {
    pthread_mutex_t lock;
    struct pit_channel ch[3];
    uint8_t port61; /* bits 0-3 as written */
    int irq_level;  /* IRQ0 as last driven */
    /* pit_next_event's answer, kept current under the lock, read without it. */
    _Atomic uint64_t next_event_ns;
    uint64_t (*clock_ns)(void);
    void (*irq)(void *opaque, int level); /* IRQ0 changes; called with the lock held */
    void *opaque;
};

void pit_init(struct pit *p, uint64_t (*clock_ns)(void), void (*irq)(void *opaque, int level),
              void *opaque);
void pit_destroy(struct pit *p);

/* port: 0x40-0x43 or 0x61. */
uint8_t pit_read(struct pit *p, uint16_t port);
void pit_write(struct pit *p, uint16_t port, uint8_t value);

/* Drives IRQ0 for the OUT edges of channel 0 up to now. */
void pit_service(struct pit *p);

/* clock_ns time of channel 0's next rising OUT edge not yet serviced (in
 * the past if one is due), or UINT64_MAX when none will come. Lock-free. */
uint64_t pit_next_event(struct pit *p);

#endif
