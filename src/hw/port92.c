/* System Control Port A: see port92.h. */
#include "hw/port92.h"

#include "vm/board.h"

/* Bit 0 reads 0 as long as the machine runs (a reset ends it), so every
 * write of 1 is a rising edge. */
static uint64_t port92_read(void *opaque, uint64_t offset, unsigned size)
{
    (void)opaque;
    (void)offset;
    (void)size;
    return PORT92_A20;
}

static void port92_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct port92 *p = opaque;

    (void)offset;
    (void)size;
    if (value & PORT92_FAST_RESET)
        p->reset(p->opaque);
}

int port92_init(struct port92 *p, struct bus *pio, port92_reset_fn *reset, void *opaque)
{
    p->reset = reset;
    p->opaque = opaque;
    return bus_register(pio, &(struct bus_range){.base = BOARD_PORT92,
                                                 .len = 1,
                                                 .widths = BUS_W1,
                                                 .read = port92_read,
                                                 .write = port92_write,
                                                 .opaque = p,
                                                 .name = "port92"});
}
