/* QEMU's pc-testdev (hw/misc/pc-testdev.c in QEMU 7.2): see pc_testdev.h. */
#include "hw/pc_testdev.h"

#include <string.h>

static uint32_t lane_mask(uint64_t offset, unsigned size)
{
    unsigned shift = (unsigned)(offset & 3) * 8;

    return size >= 4 ? UINT32_MAX << shift : ((1u << (size * 8)) - 1) << shift;
}

static uint64_t data_read(void *opaque, uint64_t offset, unsigned size)
{
    struct pc_testdev *t = opaque;
    uint32_t v;

    pthread_mutex_lock(&t->lock);
    v = (t->data & lane_mask(offset, size)) >> ((offset & 3) * 8);
    pthread_mutex_unlock(&t->lock);
    return v;
}

static void data_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct pc_testdev *t = opaque;
    uint32_t mask = lane_mask(offset, size);

    pthread_mutex_lock(&t->lock);
    t->data = (t->data & ~mask) | ((uint32_t)(value << ((offset & 3) * 8)) & mask);
    pthread_mutex_unlock(&t->lock);
}

static void flush_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct pc_testdev *t = opaque;

    (void)offset;
    (void)size;
    t->flush(t->opaque, (uint32_t)value & ~0xfffull);
}

static void irq_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct pc_testdev *t = opaque;

    (void)size;
    t->irq(t->opaque, (unsigned)offset, (value & 0xff) != 0);
}

static uint64_t iomem_read(void *opaque, uint64_t offset, unsigned size)
{
    struct pc_testdev *t = opaque;
    uint64_t v = 0;

    pthread_mutex_lock(&t->lock);
    memcpy(&v, t->iomem + offset, size);
    pthread_mutex_unlock(&t->lock);
    return v;
}

static void iomem_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct pc_testdev *t = opaque;

    pthread_mutex_lock(&t->lock);
    memcpy(t->iomem + offset, &value, size);
    pthread_mutex_unlock(&t->lock);
}

int pc_testdev_init(struct pc_testdev *t, struct bus *pio, struct bus *mmio, pc_testdev_irq_fn *irq,
                    pc_testdev_flush_fn *flush, void *opaque)
{
    const struct bus_range ranges[] = {
        {PC_TESTDEV_DATA_PORT, 4, BUS_W1 | BUS_W2 | BUS_W4, data_read, data_write, t, "pc-testdev"},
        {PC_TESTDEV_FLUSH_PORT, 4, BUS_W4, NULL, flush_write, t, "pc-testdev flush"},
        {PC_TESTDEV_BYTE_PORT, 4, BUS_W1, data_read, data_write, t, "pc-testdev"},
        {PC_TESTDEV_IRQ_PORT, PC_TESTDEV_IRQ_LINES, BUS_W1, NULL, irq_write, t, "pc-testdev irq"},
    };
    int err = 0;

    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->irq = irq;
    t->flush = flush;
    t->opaque = opaque;
    for (unsigned i = 0; i < sizeof(ranges) / sizeof(ranges[0]) && !err; i++)
        err = bus_register(pio, &ranges[i]);
    if (!err)
        err = bus_register(mmio, &(struct bus_range){.base = PC_TESTDEV_IOMEM,
                                                     .len = PC_TESTDEV_IOMEM_SIZE,
                                                     .widths = BUS_WANY,
                                                     .read = iomem_read,
                                                     .write = iomem_write,
                                                     .opaque = t,
                                                     .name = "pc-testdev iomem"});
    return err;
}

void pc_testdev_destroy(struct pc_testdev *t)
{
    if (t->irq)
        pthread_mutex_destroy(&t->lock);
}
