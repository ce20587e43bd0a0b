#include "hw/bus.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
    memset(bus, 0, sizeof(*bus));
    bus->name = name;
}

void bus_destroy(struct bus *bus)
{
    free(bus->ranges);
    bus_init(bus, bus->name);
}

int bus_register(struct bus *bus, const struct bus_range *r)
{
    uint64_t last;
    int i;

    if (r->len == 0 || __builtin_add_overflow(r->base, r->len - 1, &last) ||
        !(r->widths & BUS_WANY) || (r->widths & ~BUS_WANY))
        return -EINVAL;
    for (i = 0; i < bus->nr; i++) {
        const struct bus_range *o = &bus->ranges[i];

        if (r->base <= o->base + (o->len - 1) && o->base <= last)
            return -EEXIST;
        if (o->base > r->base)
            break;
    }
    if (bus->nr == bus->cap) {
        int cap = bus->cap ? bus->cap * 2 : 16;
        struct bus_range *n = realloc(bus->ranges, (size_t)cap * sizeof(*n));

        if (!n)
            return -ENOMEM;
        bus->ranges = n;
        bus->cap = cap;
    }
    memmove(&bus->ranges[i + 1], &bus->ranges[i], (size_t)(bus->nr - i) * sizeof(*r));
    bus->ranges[i] = *r;
    bus->nr++;
    return 0;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
    int lo = 0, hi = bus->nr;

    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const struct bus_range *r = &bus->ranges[mid];

        if (addr < r->base)
            hi = mid;
        else if (addr - r->base >= r->len)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

static uint64_t ones(unsigned size)
{
    return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

/* Widest accepted width that divides size, or 0. */
static unsigned piece_size(unsigned widths, unsigned size)
{
    for (unsigned w = size; w; w >>= 1)
        if ((widths & w) && size % w == 0)
            return w;
    return 0;
}

static bool valid_size(unsigned size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

uint64_t bus_read(const struct bus *bus, uint64_t addr, unsigned size)
{
    const struct bus_range *r;
    uint64_t off, value = 0;
    unsigned w;

    if (!valid_size(size))
        return ~0ULL;
    r = bus_find(bus, addr);
    if (!r || !r->read)
        return ones(size);
    off = addr - r->base;
    w = piece_size(r->widths, size);
    if (!w || size > r->len || off > r->len - size)
        return ones(size);
    for (unsigned done = 0; done < size; done += w)
        value |= (r->read(r->opaque, off + done, w) & ones(w)) << (done * 8);
    return value;
}

void bus_write(const struct bus *bus, uint64_t addr, unsigned size, uint64_t value)
{
    const struct bus_range *r;
    uint64_t off;
    unsigned w;

    if (!valid_size(size))
        return;
    r = bus_find(bus, addr);
    if (!r || !r->write)
        return;
    off = addr - r->base;
    w = piece_size(r->widths, size);
    if (!w || size > r->len || off > r->len - size)
        return;
    for (unsigned done = 0; done < size; done += w)
        r->write(r->opaque, off + done, w, (value >> (done * 8)) & ones(w));
}
