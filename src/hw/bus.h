/*
 * One bus type serves both port I/O and MMIO: a device registers an address
 * range with the access widths it accepts and a pair of handlers.
 *
 * An access of a width the device does not accept is split into narrower
 * accepted accesses at increasing addresses (little-endian, as x86 does);
 * if no accepted width divides it, reads return all ones and writes are
 * dropped, which is what an unclaimed ISA or MMIO access gives on a PC.
 * Accesses that hit no device behave the same way.
 *
 * Ranges are kept sorted; lookups bisect. Registration happens before any
 * vCPU runs; after that the bus is read-only and needs no lock. Devices lock
 * their own state.
 */
#ifndef VX86_HW_BUS_H
#define VX86_HW_BUS_H

#include <stdint.h>

#define BUS_W1   (1u << 0)
#define BUS_W2   (1u << 1)
#define BUS_W4   (1u << 2)
#define BUS_W8   (1u << 3)
#define BUS_WANY (BUS_W1 | BUS_W2 | BUS_W4 | BUS_W8)

/* offset is relative to the start of the registered range; size is 1, 2, 4 or 8. */
typedef uint64_t bus_read_fn(void *opaque, uint64_t offset, unsigned size);
typedef void bus_write_fn(void *opaque, uint64_t offset, unsigned size, uint64_t value);

struct bus_range {
    uint64_t base;
    uint64_t len;
    unsigned widths;     /* BUS_W* mask */
    bus_read_fn *read;   /* NULL: reads give all ones */
    bus_write_fn *write; /* NULL: writes are dropped */
    void *opaque;
    const char *name;
};

struct bus {
    const char *name; /* "pio" or "mmio", for messages */
    struct bus_range *ranges;
    int nr, cap;
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);

/*
 * Adds [base, base + len). Returns 0, -EINVAL for an empty, wrapping or
 * widthless range, -EEXIST if it overlaps a registered range, -ENOMEM.
 */
__attribute__((warn_unused_result)) int bus_register(struct bus *bus, const struct bus_range *r);

/* size: 1, 2, 4 or 8; other sizes read all ones / are dropped. */
uint64_t bus_read(const struct bus *bus, uint64_t addr, unsigned size);
void bus_write(const struct bus *bus, uint64_t addr, unsigned size, uint64_t value);

/* The range containing addr, or NULL. */
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);

#endif
