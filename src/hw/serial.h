/*
 * 16550A UART (National Semiconductor PC16550D data sheet), the PC's COM1.
 * Transmission is instant: a byte written to THR goes straight to the
 * back-end and THR is empty again. Receive has the 16-byte FIFO. Loopback
 * (MCR bit 4) works, as Linux's 8250 driver probes with it.
 *
 * The state is locked internally: the bus handlers run on vCPU threads and
 * serial_receive on the main thread (the console, on its event loop).
 */
#ifndef VX86_HW_SERIAL_H
#define VX86_HW_SERIAL_H

#include <stdint.h>

#define SERIAL_NR_REGS   8

struct serial;

/* Called with the UART's lock held: must not call back into the UART. */
typedef void serial_tx_fn(void *opaque, uint8_t byte);
typedef void serial_irq_fn(void *opaque, int level);

/* Returns NULL when out of memory. */
struct serial *serial_create(serial_tx_fn *tx, serial_irq_fn *irq, void *opaque);
void serial_free(struct serial *s);

/* Bus handlers for the 8 one-byte registers; opaque is the struct serial. */
uint64_t serial_read(void *opaque, uint64_t offset, unsigned size);
void serial_write(void *opaque, uint64_t offset, unsigned size, uint64_t value);

/* Queues received bytes; returns how many fit in the FIFO (the rest must be
 * offered again later). */
int serial_receive(struct serial *s, const uint8_t *buf, int len);

#endif
