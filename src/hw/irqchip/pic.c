#include "hw/irqchip/pic.h"

#include <string.h>

#include "vm/board.h"

/* Command words, 8259A data sheet, figures 7 and 8. */
#define ICW1      0x10
#define ICW1_IC4  0x01
#define ICW1_SNGL 0x02
#define ICW1_LTIM 0x08
#define ICW4_AEOI 0x02
#define ICW4_SFNM 0x10
#define OCW3      0x08
#define OCW3_RIS  0x01
#define OCW3_RR   0x02
#define OCW3_P    0x04
#define OCW3_SMM  0x20
#define OCW3_ESMM 0x40
#define POLL_IRQ  0x80 /* poll word: I, "an interrupt is requested" */
#define SPURIOUS  7

/* OCW2 R/SL/EOI, bits 7-5. */
enum {
    OCW2_ROTATE_AEOI_CLEAR = 0,
    OCW2_EOI = 1,
    OCW2_NOP = 2,
    OCW2_SPECIFIC_EOI = 3,
    OCW2_ROTATE_AEOI_SET = 4,
    OCW2_ROTATE_EOI = 5,
    OCW2_SET_PRIORITY = 6,
    OCW2_ROTATE_SPECIFIC_EOI = 7,
};

static uint8_t level_mask(const struct pic_chip *s)
{
    return s->ltim ? 0xff : s->elcr;
}

/* 0 is the highest priority, 8 means mask is empty. */
static int priority(const struct pic_chip *s, uint8_t mask)
{
    int prio = 0;

    if (!mask)
        return 8;
    while (!(mask & (1u << ((prio + s->priority_add) & 7))))
        prio++;
    return prio;
}

/* The level the chip asks service for (its INT output), or -1. */
static int chip_irq(const struct pic_chip *s, bool master)
{
    uint8_t req = s->irr & ~s->imr;
    uint8_t busy = s->isr;
    int prio;

    if (s->special_mask) {
        /* Special mask mode enables every unmasked level but those in service. */
        req &= ~s->isr;
        busy = 0;
    } else if (master && s->sfnm) {
        /* Special fully nested mode: the slave's further requests get through. */
        busy &= ~(1u << PIC_CASCADE_IRQ);
    }
    prio = priority(s, req);
    if (prio == 8 || prio >= priority(s, busy))
        return -1;
    return (prio + s->priority_add) & 7;
}

/* An edge latches IRR until INTA; a level input is IRR. Unlike the real part,
 * an edge request survives its input going low before INTA, so that pulses
 * (the PIT's) are not lost, as in other emulated 8259s. */
static void chip_set_line(struct pic_chip *s, int irq, int level)
{
    uint8_t bit = 1u << irq;

    if (level) {
        if (!(s->lines & bit) || (level_mask(s) & bit))
            s->irr |= bit;
        s->lines |= bit;
    } else {
        s->lines &= ~bit;
        if (level_mask(s) & bit)
            s->irr &= ~bit;
    }
}

static void chip_ack(struct pic_chip *s, int irq)
{
    uint8_t bit = 1u << irq;

    if (!s->auto_eoi)
        s->isr |= bit;
    else if (s->rotate_auto_eoi)
        s->priority_add = (irq + 1) & 7;
    if (!(level_mask(s) & bit))
        s->irr &= ~bit;
}

/* Recomputes the cascade and the INT pin. The slave's INT is pulsed into
 * the master's IR2 on every change while it requests service, so a request
 * that arrives while IR2 is latched or in service is not lost. */
static void update(struct pic *p)
{
    struct pic_chip *m = &p->chip[0], *s = &p->chip[1];
    bool was = atomic_load(&p->output), out;

    if (chip_irq(s, false) >= 0) {
        chip_set_line(m, PIC_CASCADE_IRQ, 1);
        chip_set_line(m, PIC_CASCADE_IRQ, 0);
    }
    out = chip_irq(m, true) >= 0;
    atomic_store(&p->output, out);
    if (out && !was && p->raise)
        p->raise(p->opaque);
}

void pic_init(struct pic *p, void (*raise)(void *opaque), void *opaque)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    p->chip[0].elcr_mask = 0xf8;
    p->chip[1].elcr_mask = 0xde;
    p->raise = raise;
    p->opaque = opaque;
}

void pic_destroy(struct pic *p)
{
    pthread_mutex_destroy(&p->lock);
}

void pic_set_irq(struct pic *p, int irq, int level)
{
    if (irq < 0 || irq > 15 || irq == PIC_CASCADE_IRQ)
        return;
    pthread_mutex_lock(&p->lock);
    chip_set_line(&p->chip[irq >> 3], irq & 7, level != 0);
    update(p);
    pthread_mutex_unlock(&p->lock);
}

static void icw1(struct pic_chip *s, uint8_t v)
{
    s->icw4_needed = v & ICW1_IC4;
    s->single = v & ICW1_SNGL;
    s->ltim = v & ICW1_LTIM;
    /* Data sheet, "Initialization command words": the edge sense latches are
     * reset (a high input must go low and high again), IMR is cleared, IR7
     * gets the lowest priority, special mask mode is left, IRR is read. */
    s->irr = s->lines & level_mask(s);
    s->isr = 0;
    s->imr = 0;
    s->priority_add = 0;
    s->special_mask = false;
    s->read_isr = false;
    s->poll = false;
    if (!s->icw4_needed)
        s->auto_eoi = s->sfnm = false;
    s->init_state = 1;
}

static void ocw2(struct pic_chip *s, uint8_t v)
{
    int irq = v & 7, prio;

    switch (v >> 5) {
    case OCW2_ROTATE_AEOI_CLEAR:
    case OCW2_ROTATE_AEOI_SET:
        s->rotate_auto_eoi = (v >> 5) == OCW2_ROTATE_AEOI_SET;
        break;
    case OCW2_EOI:
    case OCW2_ROTATE_EOI:
        prio = priority(s, s->isr);
        if (prio == 8)
            break;
        irq = (prio + s->priority_add) & 7;
        s->isr &= ~(1u << irq);
        if ((v >> 5) == OCW2_ROTATE_EOI)
            s->priority_add = (irq + 1) & 7;
        break;
    case OCW2_SPECIFIC_EOI:
        s->isr &= ~(1u << irq);
        break;
    case OCW2_ROTATE_SPECIFIC_EOI:
        s->isr &= ~(1u << irq);
        s->priority_add = (irq + 1) & 7;
        break;
    case OCW2_SET_PRIORITY:
        s->priority_add = (irq + 1) & 7;
        break;
    case OCW2_NOP:
        break;
    }
}

static void write_command(struct pic_chip *s, uint8_t v)
{
    if (v & ICW1) {
        icw1(s, v);
    } else if (v & OCW3) {
        if (v & OCW3_P)
            s->poll = true;
        if (v & OCW3_RR)
            s->read_isr = v & OCW3_RIS;
        if (v & OCW3_ESMM)
            s->special_mask = v & OCW3_SMM;
    } else {
        ocw2(s, v);
    }
}

static void write_data(struct pic_chip *s, uint8_t v)
{
    switch (s->init_state) {
    case 0: /* OCW1 */
        s->imr = v;
        break;
    case 1: /* ICW2 */
        s->vector_base = v & 0xf8;
        s->init_state = !s->single ? 2 : s->icw4_needed ? 3 : 0;
        break;
    case 2: /* ICW3: the PC's wiring is fixed, the value changes nothing */
        s->init_state = s->icw4_needed ? 3 : 0;
        break;
    default: /* ICW4 */
        s->auto_eoi = v & ICW4_AEOI;
        s->sfnm = v & ICW4_SFNM;
        s->init_state = 0;
        break;
    }
}

void pic_write(struct pic *p, uint16_t port, uint8_t value)
{
    pthread_mutex_lock(&p->lock);
    if (port == BOARD_PIC_ELCR_PORT || port == BOARD_PIC_ELCR_PORT + 1) {
        struct pic_chip *s = &p->chip[port & 1];

        s->elcr = value & s->elcr_mask;
        s->irr = (s->irr & ~level_mask(s)) | (s->lines & level_mask(s));
    } else {
        struct pic_chip *s =
            &p->chip[port == BOARD_PIC_SLAVE_PORT || port == BOARD_PIC_SLAVE_PORT + 1];

        if (port & 1)
            write_data(s, value);
        else
            write_command(s, value);
    }
    update(p);
    pthread_mutex_unlock(&p->lock);
}

uint8_t pic_read(struct pic *p, uint16_t port)
{
    struct pic_chip *s;
    uint8_t v;

    pthread_mutex_lock(&p->lock);
    if (port == BOARD_PIC_ELCR_PORT || port == BOARD_PIC_ELCR_PORT + 1) {
        v = p->chip[port & 1].elcr;
    } else {
        s = &p->chip[port == BOARD_PIC_SLAVE_PORT || port == BOARD_PIC_SLAVE_PORT + 1];
        if (s->poll) {
            /* A poll read is an INTA for this chip alone, data sheet "The poll command". */
            int irq;

            s->poll = false;
            irq = chip_irq(s, s == &p->chip[0]);
            v = 0;
            if (irq >= 0) {
                chip_ack(s, irq);
                v = POLL_IRQ | irq;
            }
            update(p);
        } else if (port & 1) {
            v = s->imr;
        } else {
            v = s->read_isr ? s->isr : s->irr;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return v;
}

/* The vector of an INTA now; with ack set, performs it. */
static int inta(struct pic *p, bool ack)
{
    struct pic_chip *m = &p->chip[0], *s = &p->chip[1];
    int irq = chip_irq(m, true), irq2;

    if (irq < 0)
        return m->vector_base | SPURIOUS;
    if (ack)
        chip_ack(m, irq);
    if (irq != PIC_CASCADE_IRQ)
        return m->vector_base | irq;
    irq2 = chip_irq(s, false);
    if (irq2 < 0)
        return s->vector_base | SPURIOUS;
    if (ack)
        chip_ack(s, irq2);
    return s->vector_base | irq2;
}

int pic_peek(struct pic *p)
{
    int v;

    pthread_mutex_lock(&p->lock);
    v = inta(p, false);
    pthread_mutex_unlock(&p->lock);
    return v;
}

int pic_ack(struct pic *p)
{
    int v;

    pthread_mutex_lock(&p->lock);
    v = inta(p, true);
    update(p);
    pthread_mutex_unlock(&p->lock);
    return v;
}
