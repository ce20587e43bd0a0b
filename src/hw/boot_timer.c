#include "hw/boot_timer.h"

#include <inttypes.h>

#include "util/log.h"

static void boot_timer_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct boot_timer *bt = opaque;
    bool expected = false;

    (void)size;
    if (offset != 0 || (value & 0xff) != BOOT_TIMER_MAGIC)
        return;
    if (!atomic_compare_exchange_strong(&bt->fired, &expected, true))
        return;
    bt->ns = bt->uptime_ns(bt->opaque);
    log_info("boot-timer: guest booted %" PRIu64 ".%03" PRIu64 " ms after start", bt->ns / 1000000,
             bt->ns / 1000 % 1000);
}

int boot_timer_init(struct boot_timer *bt, struct bus *pio, struct bus *mmio, uint16_t port,
                    uint64_t addr, boot_timer_clock_fn *uptime_ns, void *opaque)
{
    struct bus_range r = {
        .len = 1, .widths = BUS_W1, .write = boot_timer_write, .opaque = bt, .name = "boot-timer"};
    int err;

    bt->uptime_ns = uptime_ns;
    bt->opaque = opaque;
    r.base = port;
    err = bus_register(pio, &r);
    if (err)
        return err;
    r.base = addr;
    r.len = 4096;
    r.widths = BUS_WANY;
    return bus_register(mmio, &r);
}
