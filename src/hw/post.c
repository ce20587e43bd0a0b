#include "hw/post.h"

#include "vm/board.h"

static uint64_t post_read(void *opaque, uint64_t offset, unsigned size)
{
    struct post *p = opaque;

    (void)offset;
    (void)size;
    return atomic_load_explicit(&p->code, memory_order_relaxed);
}

static void post_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct post *p = opaque;

    (void)offset;
    (void)size;
    atomic_store_explicit(&p->code, (uint8_t)value, memory_order_relaxed);
}

int post_init(struct post *post, struct bus *pio)
{
    return bus_register(pio, &(struct bus_range){.base = BOARD_POST_PORT,
                                                 .len = 1,
                                                 .widths = BUS_W1,
                                                 .read = post_read,
                                                 .write = post_write,
                                                 .opaque = post,
                                                 .name = "post"});
}
