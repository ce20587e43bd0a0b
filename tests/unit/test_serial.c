/* The 16550A UART (hw/serial.h), register by register, as a guest driver
 * sees it through the PIO bus. PC16550D data sheet, tables 2 and 3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hw/bus.h"
#include "hw/serial.h"
#include "vm/board.h"

enum { RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
enum { DLL = 0, DLM = 1 }; /* with LCR.DLAB set */

#define IIR_NONE 0x01
#define IIR_MSI  0x00
#define IIR_THRI 0x02
#define IIR_RDI  0x04
#define IIR_RLSI 0x06
#define IIR_FIFO 0xc0

#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80

/* The UART's back-end and interrupt line, as recorded by the callbacks. */
struct line {
    struct serial *s;
    struct bus bus;
    char tx[64];
    int nr_tx;
    int level;
    int irq_calls;
};

static void on_tx(void *opaque, uint8_t byte)
{
    struct line *l = opaque;

    assert_true(l->nr_tx < (int)sizeof(l->tx));
    l->tx[l->nr_tx++] = (char)byte;
}

static void on_irq(void *opaque, int level)
{
    struct line *l = opaque;

    /* The UART reports changes only. */
    assert_int_not_equal(level, l->level);
    l->level = level;
    l->irq_calls++;
}

static int setup(void **state)
{
    static struct line l;
    struct bus_range r = {.base = BOARD_COM1_PORT,
                          .len = SERIAL_NR_REGS,
                          .widths = BUS_W1,
                          .read = serial_read,
                          .write = serial_write,
                          .name = "com1"};

    memset(&l, 0, sizeof(l));
    l.s = serial_create(on_tx, on_irq, &l);
    if (!l.s)
        return -1;
    r.opaque = l.s;
    bus_init(&l.bus, "pio");
    if (bus_register(&l.bus, &r))
        return -1;
    *state = &l;
    return 0;
}

static int teardown(void **state)
{
    struct line *l = *state;

    bus_destroy(&l->bus);
    serial_free(l->s);
    return 0;
}

static struct line *L;

static uint8_t in(unsigned reg)
{
    return (uint8_t)bus_read(&L->bus, BOARD_COM1_PORT + reg, 1);
}

static void out(unsigned reg, uint8_t v)
{
    bus_write(&L->bus, BOARD_COM1_PORT + reg, 1, v);
}

static void receive(const char *text, int expect)
{
    assert_int_equal(serial_receive(L->s, (const uint8_t *)text, (int)strlen(text)), expect);
}

#define GIVEN(state) (L = *(state))

static void test_reset_state(void **state)
{
    GIVEN(state);
    assert_int_equal(in(LSR), LSR_THRE | LSR_TEMT);
    assert_int_equal(in(IIR_FCR), IIR_NONE);
    assert_int_equal(in(IER), 0);
    assert_int_equal(in(LCR), 0);
    assert_int_equal(in(MCR), 0);
    /* The "cable" holds CTS, DSR and DCD; no change is pending at power-on. */
    assert_int_equal(in(MSR), MSR_CTS | MSR_DSR | MSR_DCD);
    assert_int_equal(in(RBR_THR), 0);
    assert_int_equal(L->irq_calls, 0);
}

static void test_transmit(void **state)
{
    GIVEN(state);
    out(RBR_THR, 'h');
    out(RBR_THR, 'i');
    out(RBR_THR, '\n');
    assert_int_equal(L->nr_tx, 3);
    assert_memory_equal(L->tx, "hi\n", 3);
    /* Transmission is instant: THR and the shift register are empty again. */
    assert_int_equal(in(LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
    assert_int_equal(L->irq_calls, 0); /* IER is 0 */
}

/* Wider accesses are split by the bus into byte accesses at increasing ports. */
static void test_wide_access(void **state)
{
    GIVEN(state);
    bus_write(&L->bus, BOARD_COM1_PORT, 2, 0x0241); /* THR = 'A', IER = THRI */
    assert_int_equal(L->nr_tx, 1);
    assert_int_equal(L->tx[0], 'A');
    assert_int_equal(in(IER), 0x02);
    out(LCR, 0x03);
    out(MCR, MCR_OUT2 | MCR_RTS | MCR_DTR);
    assert_int_equal(bus_read(&L->bus, BOARD_COM1_PORT + LCR, 2), 0x0b03);
}

static void test_divisor_latch(void **state)
{
    GIVEN(state);
    out(IER, 0x05);
    out(LCR, 0x80 | 0x03);
    out(DLL, 0x0c); /* 9600 baud */
    out(DLM, 0x00);
    assert_int_equal(in(DLL), 0x0c);
    assert_int_equal(in(DLM), 0x00);
    assert_int_equal(L->nr_tx, 0); /* DLL is not THR */
    out(DLM, 0x01);
    assert_int_equal(in(DLM), 0x01);
    out(LCR, 0x03);
    assert_int_equal(in(LCR), 0x03);
    assert_int_equal(in(IER), 0x05); /* DLM was not IER */
    out(RBR_THR, 'x');
    assert_int_equal(L->nr_tx, 1);
    out(LCR, 0x83);
    assert_int_equal(in(DLL), 0x0c); /* kept */
    assert_int_equal(in(DLM), 0x01);
}

/* THR-empty interrupt: raised on enabling IER bit 1 (THR is empty), cleared
 * by reading IIR while it is the one reported, raised again by each write. */
static void test_thr_interrupt(void **state)
{
    GIVEN(state);
    out(IER, 0x02);
    assert_int_equal(L->level, 1);
    assert_int_equal(in(IIR_FCR), IIR_THRI);
    assert_int_equal(L->level, 0);
    assert_int_equal(in(IIR_FCR), IIR_NONE);
    out(RBR_THR, 'a');
    assert_int_equal(L->level, 1);
    out(IER, 0x00);
    assert_int_equal(L->level, 0);
    assert_int_equal(in(IIR_FCR), IIR_NONE);
    out(IER, 0x02);
    assert_int_equal(L->level, 1);
    assert_int_equal(in(IIR_FCR), IIR_THRI);
    out(IER, 0x02); /* already enabled: nothing new */
    assert_int_equal(L->level, 0);
    assert_int_equal(L->irq_calls, 6);
}

/* serial8250_startup() flags UART_BUG_THRE unless re-enabling IER.THRI
 * raises the THR-empty interrupt again after it was acknowledged. */
static void test_linux_thre_check(void **state)
{
    uint8_t iir1, iir2;

    GIVEN(state);
    out(IER, 0x02);
    iir1 = in(IIR_FCR);
    out(IER, 0x00);
    out(IER, 0x02);
    iir2 = in(IIR_FCR);
    out(IER, 0x00);
    assert_int_equal(iir1, IIR_THRI);
    assert_int_equal(iir2, IIR_THRI);
    assert_int_equal(L->level, 0);
}

static void test_rx_no_fifo(void **state)
{
    GIVEN(state);
    out(IER, 0x01);
    receive("ab", 1); /* a holding register, no FIFO */
    assert_int_equal(L->level, 1);
    assert_int_equal(in(LSR)&LSR_DR, LSR_DR);
    assert_int_equal(in(IIR_FCR), IIR_RDI);
    assert_int_equal(L->level, 1); /* an IIR read does not clear RDI */
    receive("b", 0);
    assert_int_equal(in(RBR_THR), 'a');
    assert_int_equal(L->level, 0);
    assert_int_equal(in(LSR) & (LSR_DR | LSR_OE), 0);
    assert_int_equal(in(IIR_FCR), IIR_NONE);
    receive("b", 1);
    assert_int_equal(in(RBR_THR), 'b');
}

static void test_rx_fifo(void **state)
{
    const char *text = "0123456789abcdefXYZ";

    GIVEN(state);
    out(IIR_FCR, 0x01);
    assert_int_equal(in(IIR_FCR), IIR_FIFO | IIR_NONE);
    receive(text, 16);
    out(IER, 0x01);
    assert_int_equal(L->level, 1);
    assert_int_equal(in(IIR_FCR), IIR_FIFO | IIR_RDI);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(in(LSR)&LSR_DR, LSR_DR);
        assert_int_equal(in(RBR_THR), text[i]);
    }
    assert_int_equal(in(LSR) & (LSR_DR | LSR_OE), 0);
    assert_int_equal(L->level, 0);
    receive(text + 16, 3);
    assert_int_equal(in(RBR_THR), 'X');

    /* FCR bit 1 empties the receive FIFO. */
    out(IIR_FCR, 0x03);
    assert_int_equal(in(LSR)&LSR_DR, 0);
    assert_int_equal(L->level, 0);
    /* Turning the FIFO off empties it too, and leaves one byte of room. */
    receive("pq", 2);
    out(IIR_FCR, 0x00);
    assert_int_equal(in(LSR)&LSR_DR, 0);
    assert_int_equal(in(IIR_FCR), IIR_NONE);
    receive("pq", 1);
}

/* Loopback (MCR bit 4), the way Linux's 8250 driver probes a port. */
static void test_loopback_probe(void **state)
{
    GIVEN(state);
    /* autoconfig(): MCR = LOOP | OUT2 | RTS, then MSR & 0xf0 must be 0x90. */
    out(MCR, MCR_LOOP | MCR_OUT2 | MCR_RTS);
    assert_int_equal(in(MSR)&0xf0, MSR_DCD | MSR_CTS);
    out(MCR, MCR_LOOP | MCR_DTR | MCR_OUT1);
    assert_int_equal(in(MSR)&0xf0, MSR_DSR | MSR_RI);
    /* RI falling edge gives TERI; CTS and DCD changes give their deltas. */
    out(MCR, MCR_LOOP);
    assert_int_equal(in(MSR), MSR_TERI | MSR_DDSR);
    assert_int_equal(in(MSR), 0); /* deltas clear on read */

    /* The transmitter feeds the receiver; nothing reaches the back-end. */
    out(RBR_THR, 'L');
    assert_int_equal(L->nr_tx, 0);
    assert_int_equal(in(LSR)&LSR_DR, LSR_DR);
    assert_int_equal(in(RBR_THR), 'L');
    /* and the line is cut off: received bytes are consumed and lost */
    receive("zz", 2);
    assert_int_equal(in(LSR)&LSR_DR, 0);

    out(MCR, 0);
    assert_int_equal(in(MSR)&0xf0, MSR_CTS | MSR_DSR | MSR_DCD);
    out(RBR_THR, 'o');
    assert_int_equal(L->nr_tx, 1);
}

/* Without the FIFO a second byte overruns the first: LSR.OE, cleared when
 * LSR is read; a receiver-line-status interrupt outranks received data. */
static void test_overrun(void **state)
{
    GIVEN(state);
    out(MCR, MCR_LOOP);
    out(IER, 0x05);
    out(RBR_THR, '1');
    assert_int_equal(in(IIR_FCR), IIR_RDI);
    out(RBR_THR, '2');
    assert_int_equal(in(IIR_FCR), IIR_RLSI);
    assert_int_equal(in(LSR) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
    assert_int_equal(in(LSR)&LSR_OE, 0);
    assert_int_equal(in(IIR_FCR), IIR_RDI);
    assert_int_equal(in(RBR_THR), '1');
    assert_int_equal(L->level, 0);

    /* With the FIFO the 17th byte overruns. */
    out(IIR_FCR, 0x01);
    for (int i = 0; i < 16; i++)
        out(RBR_THR, (uint8_t)('a' + i));
    assert_int_equal(in(LSR)&LSR_OE, 0);
    out(RBR_THR, 'q');
    assert_int_equal(in(LSR)&LSR_OE, LSR_OE);
    for (int i = 0; i < 16; i++)
        assert_int_equal(in(RBR_THR), 'a' + i);
}

static void test_modem_status_interrupt(void **state)
{
    GIVEN(state);
    out(IER, 0x08);
    assert_int_equal(L->level, 0);
    out(MCR, MCR_LOOP); /* CTS, DSR, DCD drop */
    assert_int_equal(L->level, 1);
    assert_int_equal(in(IIR_FCR), IIR_MSI);
    assert_int_equal(in(MSR), MSR_DCTS | MSR_DDSR | MSR_DDCD);
    assert_int_equal(L->level, 0);
    assert_int_equal(in(IIR_FCR), IIR_NONE);
}

static void test_scratch(void **state)
{
    static const uint8_t values[] = {0x00, 0x55, 0xaa, 0xff, 0x5a};

    GIVEN(state);
    for (size_t i = 0; i < sizeof(values); i++) {
        out(SCR, values[i]);
        assert_int_equal(in(SCR), values[i]);
    }
    /* LSR and MSR ignore writes. */
    out(LSR, 0x00);
    assert_int_equal(in(LSR), LSR_THRE | LSR_TEMT);
    out(MSR, 0x00);
    assert_int_equal(in(MSR)&0xf0, MSR_CTS | MSR_DSR | MSR_DCD);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_reset_state),
        T(test_transmit),
        T(test_wide_access),
        T(test_divisor_latch),
        T(test_thr_interrupt),
        T(test_linux_thre_check),
        T(test_rx_no_fifo),
        T(test_rx_fifo),
        T(test_loopback_probe),
        T(test_overrun),
        T(test_modem_status_interrupt),
        T(test_scratch),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
