#include "hw/serial.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

/* Register offsets and bits, PC16550D data sheet tables 2 and 3. */
enum { RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

#define IER_RDI  0x01 /* received data available */
#define IER_THRI 0x02 /* THR empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI  0x08 /* modem status */

#define IIR_NO_INT 0x01
#define IIR_MSI    0x00
#define IIR_THRI   0x02
#define IIR_RDI    0x04
#define IIR_RLSI   0x06
#define IIR_FIFO   0xc0

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80

#define FIFO_SIZE 16

struct serial {
    pthread_mutex_t lock;
    serial_tx_fn *tx;
    serial_irq_fn *irq;
    void *opaque;

    uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm;
    bool fifo_enabled;
    bool thr_pending; /* THR-empty interrupt latched, cleared by an IIR read */
    uint8_t rx[FIFO_SIZE];
    int rx_head, rx_len;
    int irq_level;
};

static uint8_t pending_iir(const struct serial *s)
{
    if ((s->ier & IER_RLSI) && (s->lsr & LSR_OE))
        return IIR_RLSI;
    if ((s->ier & IER_RDI) && s->rx_len)
        return IIR_RDI;
    if ((s->ier & IER_THRI) && s->thr_pending)
        return IIR_THRI;
    if ((s->ier & IER_MSI) && (s->msr & (MSR_DCTS | MSR_DDSR | MSR_TERI | MSR_DDCD)))
        return IIR_MSI;
    return IIR_NO_INT;
}

static void update_irq(struct serial *s)
{
    int level = pending_iir(s) != IIR_NO_INT;

    if (level != s->irq_level) {
        s->irq_level = level;
        s->irq(s->opaque, level);
    }
}

static void rx_push(struct serial *s, uint8_t byte)
{
    int cap = s->fifo_enabled ? FIFO_SIZE : 1;

    if (s->rx_len >= cap) {
        s->lsr |= LSR_OE;
        return;
    }
    s->rx[(s->rx_head + s->rx_len) % FIFO_SIZE] = byte;
    s->rx_len++;
    s->lsr |= LSR_DR;
}

static uint8_t rx_pop(struct serial *s)
{
    uint8_t byte;

    if (!s->rx_len)
        return 0;
    byte = s->rx[s->rx_head];
    s->rx_head = (s->rx_head + 1) % FIFO_SIZE;
    if (--s->rx_len == 0)
        s->lsr &= ~LSR_DR;
    return byte;
}

/* Modem status as the lines give it: in loopback the MCR outputs feed the
 * inputs (data sheet 8.6); otherwise the "cable" holds CTS, DSR and DCD up. */
static void update_msr(struct serial *s)
{
    uint8_t old = s->msr, lines;

    if (s->mcr & MCR_LOOP)
        lines = (s->mcr & MCR_RTS ? MSR_CTS : 0) | (s->mcr & MCR_DTR ? MSR_DSR : 0) |
                (s->mcr & MCR_OUT1 ? MSR_RI : 0) | (s->mcr & MCR_OUT2 ? MSR_DCD : 0);
    else
        lines = MSR_CTS | MSR_DSR | MSR_DCD;
    s->msr = (uint8_t)(lines | (old & 0x0f));
    if ((old ^ lines) & MSR_CTS)
        s->msr |= MSR_DCTS;
    if ((old ^ lines) & MSR_DSR)
        s->msr |= MSR_DDSR;
    if ((old ^ lines) & MSR_DCD)
        s->msr |= MSR_DDCD;
    if ((old & MSR_RI) && !(lines & MSR_RI))
        s->msr |= MSR_TERI;
}

struct serial *serial_create(serial_tx_fn *tx, serial_irq_fn *irq, void *opaque)
{
    struct serial *s = calloc(1, sizeof(*s));

    if (!s)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    s->tx = tx;
    s->irq = irq;
    s->opaque = opaque;
    s->lsr = LSR_THRE | LSR_TEMT;
    update_msr(s);
    s->msr &= 0xf0; /* no deltas at power-on */
    return s;
}

void serial_free(struct serial *s)
{
    if (!s)
        return;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static uint8_t read_reg(struct serial *s, unsigned reg)
{
    uint8_t v, iir;

    switch (reg) {
    case RBR_THR:
        if (s->lcr & LCR_DLAB)
            return s->dll;
        return rx_pop(s);
    case IER:
        return s->lcr & LCR_DLAB ? s->dlm : s->ier;
    case IIR_FCR:
        iir = pending_iir(s);
        if (iir == IIR_THRI)
            s->thr_pending = false;
        return (uint8_t)(iir | (s->fifo_enabled ? IIR_FIFO : 0));
    case LCR:
        return s->lcr;
    case MCR:
        return s->mcr;
    case LSR:
        v = s->lsr;
        s->lsr &= ~LSR_OE;
        return v;
    case MSR:
        v = s->msr;
        s->msr &= 0xf0;
        return v;
    default:
        return s->scr;
    }
}

static void write_reg(struct serial *s, unsigned reg, uint8_t v)
{
    switch (reg) {
    case RBR_THR:
        if (s->lcr & LCR_DLAB) {
            s->dll = v;
            break;
        }
        if (s->mcr & MCR_LOOP)
            rx_push(s, v);
        else
            s->tx(s->opaque, v);
        s->thr_pending = true;
        break;
    case IER:
        if (s->lcr & LCR_DLAB) {
            s->dlm = v;
            break;
        }
        /* Enabling the THR-empty interrupt while THR is empty raises it at once. */
        if ((v & IER_THRI) && !(s->ier & IER_THRI))
            s->thr_pending = true;
        s->ier = v & 0x0f;
        break;
    case IIR_FCR:
        if ((v & FCR_ENABLE) != s->fifo_enabled || (v & FCR_CLEAR_RX)) {
            s->rx_head = s->rx_len = 0;
            s->lsr &= ~LSR_DR;
        }
        s->fifo_enabled = v & FCR_ENABLE;
        break;
    case LCR:
        s->lcr = v;
        break;
    case MCR:
        s->mcr = v & 0x1f;
        update_msr(s);
        break;
    case LSR:
    case MSR:
        break; /* read-only; writes are for factory test */
    default:
        s->scr = v;
        break;
    }
}

uint64_t serial_read(void *opaque, uint64_t offset, unsigned size)
{
    struct serial *s = opaque;
    uint8_t v;

    (void)size;
    pthread_mutex_lock(&s->lock);
    v = read_reg(s, (unsigned)offset % SERIAL_NR_REGS);
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
    return v;
}

void serial_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct serial *s = opaque;

    (void)size;
    pthread_mutex_lock(&s->lock);
    write_reg(s, (unsigned)offset % SERIAL_NR_REGS, (uint8_t)value);
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
}

int serial_receive(struct serial *s, const uint8_t *buf, int len)
{
    int cap, n = 0;

    pthread_mutex_lock(&s->lock);
    cap = s->fifo_enabled ? FIFO_SIZE : 1;
    /* In loopback the receiver is cut off from the line: bytes are lost. */
    if (s->mcr & MCR_LOOP)
        n = len;
    while (n < len && s->rx_len < cap)
        rx_push(s, buf[n++]);
    update_irq(s);
    pthread_mutex_unlock(&s->lock);
    return n;
}
