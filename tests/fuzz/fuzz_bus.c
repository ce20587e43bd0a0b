/*
 * libFuzzer target for the PIO/MMIO bus (hw/bus.h), checked against a model
 * written from the header's contract alone.
 *
 * Input: one byte n (low 3 bits: up to 7 ranges), n range records of 14
 * bytes (base: 8, len: 4, widths: 1, handlers: 1), then access records of 17
 * bytes (kind: 1, addr: 8, value: 8); kind bit 0 is write, bits 1-4 the size.
 *
 * Each device behaves like memory whose byte at offset o holds f(device, o),
 * so a read gives the same value however the bus splits it. The devices
 * check that every access they get is of a width they accept and lies inside
 * their range; the target checks results, and that a split write reaches the
 * device as contiguous pieces at increasing offsets carrying the value's bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw/bus.h"

#define MAX_RANGES 7
#define MAX_PIECES 8

struct dev {
    int id;
    uint64_t len;
    unsigned widths;
    int nr; /* accesses in the current bus call */
    uint64_t offset[MAX_PIECES], value[MAX_PIECES];
    unsigned size[MAX_PIECES];
};

static void fail(const char *why, uint64_t a, uint64_t b)
{
    fprintf(stderr, "fuzz_bus: %s (0x%llx, 0x%llx)\n", why, (unsigned long long)a,
            (unsigned long long)b);
    abort();
}

static uint8_t byte_at(const struct dev *d, uint64_t offset)
{
    return (uint8_t)(offset * 0x9d + (uint64_t)d->id * 0x3b + (offset >> 8));
}

static void check_access(struct dev *d, uint64_t offset, unsigned size, uint64_t value)
{
    if ((size != 1 && size != 2 && size != 4 && size != 8) || !(d->widths & size))
        fail("device got a width it does not accept", size, d->widths);
    if (offset >= d->len || size > d->len - offset)
        fail("device got an access outside its range", offset, size);
    if (d->nr == MAX_PIECES)
        fail("more than 8 pieces for one access", offset, size);
    d->offset[d->nr] = offset;
    d->size[d->nr] = size;
    d->value[d->nr] = value;
    d->nr++;
}

static uint64_t dev_read(void *opaque, uint64_t offset, unsigned size)
{
    struct dev *d = opaque;
    uint64_t v = 0;

    check_access(d, offset, size, 0);
    for (unsigned j = 0; j < size; j++)
        v |= (uint64_t)byte_at(d, offset + j) << (j * 8);
    /* High garbage must not leak into the assembled value. */
    return size == 8 ? v : v | (0xdeadULL << 48);
}

static void dev_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    check_access(opaque, offset, size, value);
}

static uint64_t get(const uint8_t **p, const uint8_t *end, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < n && *p < end; i++, (*p)++)
        v |= (uint64_t) * *p << (i * 8);
    return v;
}

static uint64_t ones(unsigned size)
{
    return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

/* --- the model --- */

static struct bus_range model[MAX_RANGES];
static int model_nr;

static int model_register(const struct bus_range *r)
{
    uint64_t last;

    if (r->len == 0 || __builtin_add_overflow(r->base, r->len - 1, &last) ||
        (r->widths & 0xf) == 0 || (r->widths & ~0xfu))
        return -EINVAL;
    for (int i = 0; i < model_nr; i++)
        if (r->base <= model[i].base + (model[i].len - 1) && model[i].base <= last)
            return -EEXIST;
    model[model_nr++] = *r;
    return 0;
}

static const struct bus_range *model_find(uint64_t addr)
{
    for (int i = 0; i < model_nr; i++)
        if (addr >= model[i].base && addr - model[i].base < model[i].len)
            return &model[i];
    return NULL;
}

/* The range that must take an access whole, or NULL for all ones / dropped. */
static const struct bus_range *model_target(uint64_t addr, unsigned size, int write)
{
    const struct bus_range *r = model_find(addr);
    uint64_t off;

    if (size != 1 && size != 2 && size != 4 && size != 8)
        return NULL;
    if (!r || (write ? r->write == NULL : r->read == NULL))
        return NULL;
    off = addr - r->base;
    if (size > r->len - off)
        return NULL;
    /* accepted widths no wider than size: powers of two all divide it */
    if (!(r->widths & ((size << 1) - 1)))
        return NULL;
    return r;
}

/* The pieces a device got cover [off, off + size) in order. */
static void check_pieces(const struct dev *d, uint64_t off, unsigned size, int write,
                         uint64_t value)
{
    uint64_t at = off;

    for (int i = 0; i < d->nr; i++) {
        if (d->offset[i] != at)
            fail("pieces not contiguous and increasing", d->offset[i], at);
        if (write && d->value[i] != ((value >> ((at - off) * 8)) & ones(d->size[i])))
            fail("piece carries the wrong bytes", d->value[i], value);
        at += d->size[i];
    }
    if (at != off + size)
        fail("pieces do not add up to the access", at - off, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    struct dev devs[MAX_RANGES];
    struct bus bus;
    int n = size ? data[0] & 7 : 0;

    p += size ? 1 : 0;
    bus_init(&bus, "fuzz");
    model_nr = 0;
    for (int i = 0; i < n; i++) {
        struct bus_range r = {.name = "dev"};
        unsigned handlers;
        int err, want;

        r.base = get(&p, end, 8);
        r.len = get(&p, end, 4);
        r.widths = (unsigned)get(&p, end, 1);
        handlers = (unsigned)get(&p, end, 1);
        devs[i] = (struct dev){.id = i, .len = r.len, .widths = r.widths};
        r.read = handlers & 1 ? NULL : dev_read;
        r.write = handlers & 2 ? NULL : dev_write;
        r.opaque = &devs[i];
        want = model_register(&r);
        err = bus_register(&bus, &r);
        if (err != want)
            fail("bus_register disagrees with the model", (uint64_t)err, (uint64_t)want);
    }
    if (bus.nr != model_nr)
        fail("bus holds a different number of ranges", (uint64_t)bus.nr, (uint64_t)model_nr);
    for (int i = 1; i < bus.nr; i++)
        if (bus.ranges[i - 1].base + (bus.ranges[i - 1].len - 1) >= bus.ranges[i].base)
            fail("ranges out of order or overlapping", bus.ranges[i - 1].base, bus.ranges[i].base);

    while (p < end) {
        unsigned kind = (unsigned)get(&p, end, 1), width = (kind >> 1) & 0xf;
        int write = kind & 1;
        uint64_t addr = get(&p, end, 8), value = get(&p, end, 8), got = 0, off;
        const struct bus_range *found = bus_find(&bus, addr), *want = model_find(addr);
        const struct bus_range *t = model_target(addr, width, write);

        if ((found == NULL) != (want == NULL) || (found && found->base != want->base))
            fail("bus_find disagrees with the model", addr, found ? found->base : 0);
        for (int i = 0; i < n; i++)
            devs[i].nr = 0;
        if (write)
            bus_write(&bus, addr, width, value);
        else
            got = bus_read(&bus, addr, width);
        for (int i = 0; i < n; i++)
            if (devs[i].nr && (!t || t->opaque != &devs[i]))
                fail("a device got an access it should not have", addr, width);
        if (!t) {
            /* all ones of the access's size; of 64 bits for a size the bus refuses */
            int valid = width == 1 || width == 2 || width == 4 || width == 8;

            if (!write && got != (valid ? ones(width) : ~0ULL))
                fail("unclaimed read is not all ones", addr, got);
            continue;
        }
        off = addr - t->base;
        check_pieces(t->opaque, off, width, write, value);
        if (!write) {
            uint64_t v = 0;

            for (unsigned j = 0; j < width; j++)
                v |= (uint64_t)byte_at(t->opaque, off + j) << (j * 8);
            if (got != v)
                fail("read assembled the wrong value", got, v);
        }
    }
    bus_destroy(&bus);
    return 0;
}
