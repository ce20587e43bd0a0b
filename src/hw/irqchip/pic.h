/*
 * The PC's 8259A pair (Intel 8259A data sheet, order no. 231468): master at
 * ports 0x20/0x21, slave at 0xa0/0xa1 cascaded on the master's IR2, and the
 * edge/level control registers (ELCR) at 0x4d0/0x4d1 as the PIIX/ICH have
 * them. Only the x86 (8086/88) mode is modelled: ICW4 uPM is taken as set,
 * ICW1 ADI and the buffered-mode bits of ICW4 are ignored.
 *
 * Locking: every function takes p->lock; the raise callback runs with it
 * held and must not call back into the PIC.
 */
#ifndef VX86_HW_IRQCHIP_PIC_H
#define VX86_HW_IRQCHIP_PIC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define PIC_CASCADE_IRQ 2

/* One 8259A. Plain data, for snapshots. */
struct pic_chip {
    uint8_t irr, isr, imr;
    uint8_t lines;        /* input levels, for edge detection */
    uint8_t elcr;         /* level-triggered inputs (ELCR, or all with ICW1 LTIM) */
    uint8_t elcr_mask;    /* ELCR bits that exist: IRQ0-2, 8 and 13 are edge only */
    uint8_t vector_base;  /* ICW2 & 0xf8 */
    uint8_t priority_add; /* the level that has the highest priority */
    uint8_t init_state;   /* 0: ready, 1-3: next write to the data port is ICW2-ICW4 */
    bool icw4_needed, single, ltim;
    bool auto_eoi, rotate_auto_eoi, sfnm, special_mask;
    bool poll;     /* the next read of the command port is a poll */
    bool read_isr; /* the command port reads ISR, not IRR */
};

struct pic {
    pthread_mutex_t lock;
    struct pic_chip chip[2]; /* master, slave */
    atomic_bool output;      /* the master's INT pin; readable without the lock */
    /* INT went from low to high; called with the lock held. */
    void (*raise)(void *opaque);
    void *opaque;
};

void pic_init(struct pic *p, void (*raise)(void *opaque), void *opaque);
void pic_destroy(struct pic *p);

/* Drives input irq (0-15; 2 is the cascade and is ignored) to level 0 or 1. */
void pic_set_irq(struct pic *p, int irq, int level);

/* Port access, port being 0x20, 0x21, 0xa0, 0xa1, 0x4d0 or 0x4d1. */
uint8_t pic_read(struct pic *p, uint16_t port);
void pic_write(struct pic *p, uint16_t port, uint8_t value);

/* The vector an INTA cycle would give now, without side effects; only
 * meaningful while p->output is set. */
int pic_peek(struct pic *p);

/* The INTA cycle: returns the vector and moves the request from IRR to ISR
 * (unless auto-EOI). With nothing requested, returns the spurious IRQ7 (or
 * IRQ15, when the master had IR2 latched) vector and leaves ISR alone. */
int pic_ack(struct pic *p);

#endif
