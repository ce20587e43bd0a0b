/* The PIO/MMIO bus (hw/bus.h): checked registration, lookup, width splitting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hw/bus.h"

/* A device that records every access it receives. A read returns, in byte j,
 * the low byte of (offset + j) | 0x80, so an assembled value shows where each
 * byte came from. */
#define MAX_CALLS 16

struct call {
    int write;
    uint64_t offset;
    unsigned size;
    uint64_t value;
};

struct dev {
    struct call calls[MAX_CALLS];
    int n;
};

static uint64_t pattern(uint64_t offset, unsigned size)
{
    uint64_t v = 0;

    for (unsigned j = 0; j < size; j++)
        v |= (uint64_t)(((offset + j) & 0x7f) | 0x80) << (j * 8);
    return v;
}

static void record(struct dev *d, int write, uint64_t offset, unsigned size, uint64_t value)
{
    assert_true(d->n < MAX_CALLS);
    d->calls[d->n++] = (struct call){write, offset, size, value};
}

static uint64_t dev_read(void *opaque, uint64_t offset, unsigned size)
{
    record(opaque, 0, offset, size, 0);
    return pattern(offset, size);
}

static void dev_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    record(opaque, 1, offset, size, value);
}

static struct bus_range range(uint64_t base, uint64_t len, unsigned widths, struct dev *d)
{
    return (struct bus_range){.base = base,
                              .len = len,
                              .widths = widths,
                              .read = dev_read,
                              .write = dev_write,
                              .opaque = d,
                              .name = "test"};
}

static void add(struct bus *bus, uint64_t base, uint64_t len, unsigned widths, struct dev *d)
{
    struct bus_range r = range(base, len, widths, d);

    assert_int_equal(bus_register(bus, &r), 0);
}

/* Each vector is tried alone on a bus holding [0x100, 0x110) and [0x200, 0x208). */
static const struct {
    const char *what;
    uint64_t base, len;
    unsigned widths;
    int err;
} register_vectors[] = {
    {"adjacent after", 0x110, 0x10, BUS_W1, 0},
    {"adjacent before", 0xf0, 0x10, BUS_W1, 0},
    {"the gap between, exactly", 0x110, 0xf0, BUS_W1, 0},
    {"last byte of a range", 0x10f, 1, BUS_W1, -EEXIST},
    {"first byte of a range", 0x100, 1, BUS_W1, -EEXIST},
    {"straddles a start", 0xff, 2, BUS_W1, -EEXIST},
    {"straddles an end", 0x207, 2, BUS_W1, -EEXIST},
    {"adjacent after the second", 0x208, 1, BUS_W1, 0},
    {"inside", 0x104, 4, BUS_WANY, -EEXIST},
    {"the same range", 0x100, 0x10, BUS_W1, -EEXIST},
    {"covers both", 0, 0x1000, BUS_W1, -EEXIST},
    {"one byte too long to fit the gap", 0x110, 0xf1, BUS_W1, -EEXIST},
    {"zero length", 0x150, 0, BUS_W1, -EINVAL},
    {"zero length at 0", 0, 0, BUS_W1, -EINVAL},
    {"wraps past the top", UINT64_MAX, 2, BUS_W1, -EINVAL},
    {"wraps by a lot", 0x8000000000000000ULL, 0x8000000000000001ULL, BUS_W1, -EINVAL},
    {"length of all of 64-bit space", 0, UINT64_MAX, BUS_W1, -EEXIST},
    {"last byte of 64-bit space", UINT64_MAX, 1, BUS_W1, 0},
    {"ends exactly at the top", UINT64_MAX - 0xf, 0x10, BUS_W4, 0},
    {"no width", 0x300, 4, 0, -EINVAL},
    {"unknown width bit", 0x300, 4, BUS_W1 | (1u << 4), -EINVAL},
    {"all widths", 0x300, 4, BUS_WANY, 0},
};

static void test_register_vectors(void **state)
{
    struct dev d = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(register_vectors) / sizeof(register_vectors[0]); i++) {
        struct bus bus;
        struct bus_range r = range(register_vectors[i].base, register_vectors[i].len,
                                   register_vectors[i].widths, &d);
        int err;

        bus_init(&bus, "test");
        add(&bus, 0x100, 0x10, BUS_W1, &d);
        add(&bus, 0x200, 0x8, BUS_W1, &d);
        err = bus_register(&bus, &r);
        if (err != register_vectors[i].err)
            fail_msg("%s: bus_register gave %d, expected %d", register_vectors[i].what, err,
                     register_vectors[i].err);
        assert_int_equal(bus.nr, err ? 2 : 3);
        bus_destroy(&bus);
    }
}

/* Registration in scrambled order, past the first growth of the array: every
 * range is found at its first and last byte, and gaps find nothing. */
static void test_find_many(void **state)
{
    enum { N = 40 };
    struct dev d = {0};
    struct bus bus;

    (void)state;
    bus_init(&bus, "test");
    for (int i = 0; i < N; i++) {
        uint64_t k = (uint64_t)(i * 17 % N); /* 17 and 40 are coprime: a permutation */

        add(&bus, 0x1000 * k, 0x10 + k, BUS_W1, &d);
    }
    assert_int_equal(bus.nr, N);
    for (int i = 1; i < bus.nr; i++)
        assert_true(bus.ranges[i - 1].base < bus.ranges[i].base);
    for (uint64_t k = 0; k < N; k++) {
        const struct bus_range *r = bus_find(&bus, 0x1000 * k);

        assert_non_null(r);
        assert_int_equal(r->base, 0x1000 * k);
        assert_ptr_equal(bus_find(&bus, 0x1000 * k + 0x10 + k - 1), r);
        assert_null(bus_find(&bus, 0x1000 * k + 0x10 + k));
    }
    assert_null(bus_find(&bus, 0x1000 * N));
    assert_null(bus_find(&bus, UINT64_MAX));
    bus_destroy(&bus);
    assert_int_equal(bus.nr, 0);
    assert_null(bus_find(&bus, 0));
}

static void test_find_empty_bus(void **state)
{
    struct bus bus;

    (void)state;
    bus_init(&bus, "test");
    assert_null(bus_find(&bus, 0));
    assert_int_equal(bus_read(&bus, 0x3f8, 1), 0xff);
    bus_write(&bus, 0x3f8, 1, 0);
    bus_destroy(&bus);
}

/*
 * Width splitting: an access of size bytes to a device accepting widths
 * becomes pieces accesses of piece bytes, or none (all ones / dropped).
 */
static const struct {
    unsigned widths, size, pieces, piece;
} split_vectors[] = {
    {BUS_W1, 1, 1, 1},          {BUS_W1, 2, 2, 1},          {BUS_W1, 4, 4, 1},
    {BUS_W1, 8, 8, 1},          {BUS_W2, 4, 2, 2},          {BUS_W2, 8, 4, 2},
    {BUS_W4, 8, 2, 4},          {BUS_W1 | BUS_W4, 8, 2, 4}, /* the widest accepted width */
    {BUS_W1 | BUS_W4, 2, 2, 1}, {BUS_W1 | BUS_W2, 4, 2, 2}, {BUS_WANY, 8, 1, 8},
    {BUS_WANY, 2, 1, 2},        {BUS_W2, 1, 0, 0}, /* narrower than anything accepted */
    {BUS_W4, 2, 0, 0},          {BUS_W8, 4, 0, 0},          {BUS_W2 | BUS_W4 | BUS_W8, 1, 0, 0},
};

static void test_split_read(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(split_vectors) / sizeof(split_vectors[0]); i++) {
        unsigned size = split_vectors[i].size;
        struct dev d = {0};
        struct bus bus;
        uint64_t v, all = size == 8 ? ~0ULL : (1ULL << (size * 8)) - 1;

        bus_init(&bus, "test");
        add(&bus, 0x1000, 0x10, split_vectors[i].widths, &d);
        v = bus_read(&bus, 0x1004, size);
        assert_int_equal(d.n, split_vectors[i].pieces);
        if (!split_vectors[i].pieces) {
            assert_int_equal(v, all);
        } else {
            /* Increasing offsets, assembled little-endian: the same as one
             * access of the whole size would give. */
            assert_int_equal(v, pattern(4, size));
            for (int k = 0; k < d.n; k++) {
                assert_false(d.calls[k].write);
                assert_int_equal(d.calls[k].offset, 4 + (uint64_t)k * split_vectors[i].piece);
                assert_int_equal(d.calls[k].size, split_vectors[i].piece);
            }
        }
        bus_destroy(&bus);
    }
}

static void test_split_write(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(split_vectors) / sizeof(split_vectors[0]); i++) {
        unsigned size = split_vectors[i].size, piece = split_vectors[i].piece;
        struct dev d = {0};
        struct bus bus;
        const uint64_t value = 0x8877665544332211ULL;

        bus_init(&bus, "test");
        add(&bus, 0x1000, 0x10, split_vectors[i].widths, &d);
        bus_write(&bus, 0x1008, size, value);
        assert_int_equal(d.n, split_vectors[i].pieces);
        for (int k = 0; k < d.n; k++) {
            uint64_t mask = piece == 8 ? ~0ULL : (1ULL << (piece * 8)) - 1;

            assert_true(d.calls[k].write);
            assert_int_equal(d.calls[k].offset, 8 + (uint64_t)k * piece);
            assert_int_equal(d.calls[k].size, piece);
            assert_int_equal(d.calls[k].value, (value >> (k * piece * 8)) & mask);
        }
        bus_destroy(&bus);
    }
}

/* A 4-byte access to a 1-byte device: four accesses, little-endian. */
static void test_dword_to_byte_device(void **state)
{
    struct dev d = {0};
    struct bus bus;

    (void)state;
    bus_init(&bus, "pio");
    add(&bus, 0x3f8, 8, BUS_W1, &d);
    bus_write(&bus, 0x3f8, 4, 0xddccbbaa);
    assert_int_equal(d.n, 4);
    assert_int_equal(d.calls[0].value, 0xaa);
    assert_int_equal(d.calls[1].value, 0xbb);
    assert_int_equal(d.calls[2].value, 0xcc);
    assert_int_equal(d.calls[3].value, 0xdd);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(d.calls[k].offset, k);
        assert_int_equal(d.calls[k].size, 1);
    }
    d.n = 0;
    assert_int_equal(bus_read(&bus, 0x3f9, 4), 0x84838281);
    assert_int_equal(d.n, 4);
    bus_destroy(&bus);
}

/* Sizes other than 1, 2, 4 and 8 never reach a device. */
static void test_bad_sizes(void **state)
{
    static const unsigned sizes[] = {0, 3, 5, 6, 7, 9, 16, 32, 0x80000000u};
    struct dev d = {0};
    struct bus bus;

    (void)state;
    bus_init(&bus, "test");
    add(&bus, 0, 0x100, BUS_WANY, &d);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        assert_int_equal(bus_read(&bus, 0x10, sizes[i]), ~0ULL);
        bus_write(&bus, 0x10, sizes[i], 0);
    }
    assert_int_equal(d.n, 0);
    bus_destroy(&bus);
}

static void test_unclaimed(void **state)
{
    struct dev d = {0};
    struct bus bus;

    (void)state;
    bus_init(&bus, "test");
    add(&bus, 0x100, 0x10, BUS_WANY, &d);
    assert_int_equal(bus_read(&bus, 0xff, 1), 0xff);
    assert_int_equal(bus_read(&bus, 0x110, 2), 0xffff);
    assert_int_equal(bus_read(&bus, 0, 4), 0xffffffff);
    assert_int_equal(bus_read(&bus, UINT64_MAX, 8), ~0ULL);
    bus_write(&bus, 0xff, 1, 0);
    bus_write(&bus, 0x110, 8, 0);
    assert_int_equal(d.n, 0);
    bus_destroy(&bus);
}

/* An access that starts inside a range but runs past its end is not split
 * between the device and what follows it: it reads all ones. */
static void test_straddle(void **state)
{
    struct dev d = {0}, next = {0};
    struct bus bus;

    (void)state;
    bus_init(&bus, "test");
    add(&bus, 0x100, 4, BUS_WANY, &d);
    add(&bus, 0x104, 4, BUS_WANY, &next);
    assert_int_equal(bus_read(&bus, 0x102, 4), 0xffffffff);
    assert_int_equal(bus_read(&bus, 0x100, 8), ~0ULL);
    assert_int_equal(bus_read(&bus, 0x103, 2), 0xffff);
    bus_write(&bus, 0x102, 4, 0);
    bus_write(&bus, 0x100, 8, 0);
    assert_int_equal(d.n, 0);
    assert_int_equal(next.n, 0);

    /* Flush with the end is inside. */
    assert_int_equal(bus_read(&bus, 0x102, 2), pattern(2, 2));
    assert_int_equal(bus_read(&bus, 0x100, 4), pattern(0, 4));
    assert_int_equal(d.n, 2);
    bus_destroy(&bus);
}

/* A range holding the last bytes of the address space. */
static void test_top_of_space(void **state)
{
    struct dev d = {0};
    struct bus bus;

    (void)state;
    bus_init(&bus, "mmio");
    add(&bus, UINT64_MAX - 7, 8, BUS_WANY, &d);
    assert_non_null(bus_find(&bus, UINT64_MAX));
    assert_null(bus_find(&bus, UINT64_MAX - 8));
    assert_int_equal(bus_read(&bus, UINT64_MAX, 1), pattern(7, 1));
    assert_int_equal(bus_read(&bus, UINT64_MAX - 7, 8), pattern(0, 8));
    assert_int_equal(d.n, 2);
    assert_int_equal(bus_read(&bus, UINT64_MAX, 2), 0xffff);
    assert_int_equal(bus_read(&bus, UINT64_MAX - 3, 8), ~0ULL);
    bus_write(&bus, UINT64_MAX - 1, 4, 0);
    assert_int_equal(d.n, 2);
    bus_destroy(&bus);
}

static void test_null_handlers(void **state)
{
    struct bus_range r = {.base = 0x80, .len = 1, .widths = BUS_W1, .name = "post"};
    struct bus bus;

    (void)state;
    bus_init(&bus, "pio");
    assert_int_equal(bus_register(&bus, &r), 0);
    assert_int_equal(bus_read(&bus, 0x80, 1), 0xff);
    bus_write(&bus, 0x80, 1, 0x12);
    bus_destroy(&bus);
}

/* Handlers see offsets from the start of their own range. */
static void test_offsets_are_relative(void **state)
{
    struct dev a = {0}, b = {0};
    struct bus bus;

    (void)state;
    bus_init(&bus, "mmio");
    add(&bus, 0xfee00000, 0x1000, BUS_W4, &a);
    add(&bus, 0xfec00000, 0x20, BUS_W4, &b);
    bus_write(&bus, 0xfee000b0, 4, 0);
    bus_write(&bus, 0xfec00010, 4, 1);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.calls[0].offset, 0xb0);
    assert_int_equal(b.n, 1);
    assert_int_equal(b.calls[0].offset, 0x10);
    bus_destroy(&bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_vectors), cmocka_unit_test(test_find_many),
        cmocka_unit_test(test_find_empty_bus),   cmocka_unit_test(test_split_read),
        cmocka_unit_test(test_split_write),      cmocka_unit_test(test_dword_to_byte_device),
        cmocka_unit_test(test_bad_sizes),        cmocka_unit_test(test_unclaimed),
        cmocka_unit_test(test_straddle),         cmocka_unit_test(test_top_of_space),
        cmocka_unit_test(test_null_handlers),    cmocka_unit_test(test_offsets_are_relative),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
