#include "hw/debug_exit.h"

#include <stdio.h>

int debug_exit_status(uint64_t value)
{
    return (int)(((value << 1) | 1) & 0xff);
}

static void debug_exit_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct debug_exit *d = opaque;
    char why[64];

    (void)size;
    if (offset != 0)
        return;
    snprintf(why, sizeof(why), "guest wrote 0x%llx to the debug-exit port",
             (unsigned long long)value);
    d->exit(d->opaque, debug_exit_status(value), why);
}

int debug_exit_init(struct debug_exit *d, struct bus *pio, uint16_t port, debug_exit_fn *exit,
                    void *opaque)
{
    d->exit = exit;
    d->opaque = opaque;
    return bus_register(pio, &(struct bus_range){.base = port,
                                                 .len = 4,
                                                 .widths = BUS_W1 | BUS_W2 | BUS_W4,
                                                 .write = debug_exit_write,
                                                 .opaque = d,
                                                 .name = "debug-exit"});
}
