/* Guest RAM (vm/mem.h): sizes, the regions around the 3 GiB hole, mem_ptr. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vm/mem.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static void test_init_rejects(void **state)
{
    static const uint64_t sizes[] = {
        0, 4096, MEM_MIN_SIZE - 4096, MEM_MIN_SIZE + 1, MEM_MIN_SIZE + 2048, 3 * MiB + 100};
    struct guest_mem mem;

    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        assert_int_equal(mem_init(&mem, sizes[i]), -EINVAL);
        assert_int_equal(mem.fd, -1);
        assert_null(mem.base);
        assert_int_equal(mem.nr_regions, 0);
        mem_destroy(&mem);
    }
}

/* A size the host cannot map fails with an errno, leaving nothing behind. */
static void test_init_too_big_for_host(void **state)
{
    struct guest_mem mem;
    int err;

    (void)state;
    err = mem_init(&mem, 1ULL << 62);
    assert_true(err < 0);
    assert_int_equal(mem.fd, -1);
    assert_null(mem.base);
    mem_destroy(&mem);
}

static void test_destroy_zeroed(void **state)
{
    struct guest_mem mem;

    (void)state;
    memset(&mem, 0, sizeof(mem));
    mem.fd = -1;
    mem_destroy(&mem);
    mem_destroy(&mem);
    assert_int_equal(mem.fd, -1);
}

/* Size of RAM -> the regions it makes. */
static const struct {
    uint64_t size;
    int nr;
    uint64_t low, high;
} layout_vectors[] = {
    {MEM_MIN_SIZE, 1, MEM_MIN_SIZE, 0},
    {256 * MiB, 1, 256 * MiB, 0},
    {3 * GiB - 4096, 1, 3 * GiB - 4096, 0},
    {3 * GiB, 1, 3 * GiB, 0},
    {3 * GiB + 4096, 2, 3 * GiB, 4096},
    {4 * GiB, 2, 3 * GiB, 1 * GiB},
    {4 * GiB + 8 * MiB, 2, 3 * GiB, 1 * GiB + 8 * MiB},
};

static void test_layout(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(layout_vectors) / sizeof(layout_vectors[0]); i++) {
        struct guest_mem mem;

        assert_int_equal(mem_init(&mem, layout_vectors[i].size), 0);
        assert_true(mem.fd >= 0);
        assert_int_equal(mem.size, layout_vectors[i].size);
        assert_int_equal(mem.nr_regions, layout_vectors[i].nr);
        assert_int_equal(mem.regions[0].gpa, 0);
        assert_int_equal(mem.regions[0].size, layout_vectors[i].low);
        assert_ptr_equal(mem.regions[0].host, mem.base);
        assert_int_equal(mem.regions[0].fd_offset, 0);
        if (layout_vectors[i].nr == 2) {
            /* RAM above the hole is the rest of the same memfd. */
            assert_int_equal(mem.regions[1].gpa, MEM_4G);
            assert_int_equal(mem.regions[1].size, layout_vectors[i].high);
            assert_ptr_equal(mem.regions[1].host, mem.base + MEM_HOLE_START);
            assert_int_equal(mem.regions[1].fd_offset, MEM_HOLE_START);
        }
        mem_destroy(&mem);
        assert_int_equal(mem.fd, -1);
    }
}

static void test_zeroed(void **state)
{
    struct guest_mem mem;
    uint8_t buf[64], zero[64] = {0};

    (void)state;
    assert_int_equal(mem_init(&mem, 4 * GiB + 8 * MiB), 0);
    assert_int_equal(mem_read(&mem, 0, buf, sizeof(buf)), 0);
    assert_memory_equal(buf, zero, sizeof(buf));
    assert_int_equal(mem_read(&mem, MEM_4G + 8 * MiB, buf, sizeof(buf)), 0);
    assert_memory_equal(buf, zero, sizeof(buf));
    mem_destroy(&mem);
}

#define HIGH (1 * GiB + 8 * MiB) /* RAM above 4 GiB in the big layout */
#define NO   (~0ULL)             /* mem_ptr gives NULL */

/* On 4 GiB + 8 MiB of RAM: (gpa, len) -> offset in the memfd, or NO. */
static const struct {
    uint64_t gpa, len, fd_offset;
} ptr_vectors[] = {
    {0, 0, 0},
    {0, 1, 0},
    {0, 3 * GiB, 0},
    {0x1234, 0x100, 0x1234},
    {3 * GiB - 1, 1, 3 * GiB - 1},
    {3 * GiB - 8, 8, 3 * GiB - 8},
    {3 * GiB - 1, 2, NO}, /* runs into the hole */
    {3 * GiB - 4096, 8192, NO},
    {3 * GiB, 1, NO}, /* in the hole */
    {3 * GiB + 4096, 0, NO},
    {MEM_4G - 1, 1, NO},
    {MEM_4G - 1, 2, NO},        /* spans hole and high RAM */
    {2 * GiB, 3 * GiB, NO},     /* low RAM, hole, high RAM */
    {0, 4 * GiB + 8 * MiB, NO}, /* as many bytes as RAM has, but not in one piece */
    {MEM_4G, 0, 3 * GiB},
    {MEM_4G, 1, 3 * GiB},
    {MEM_4G, HIGH, 3 * GiB},
    {MEM_4G, HIGH + 1, NO},
    {MEM_4G + HIGH - 1, 1, 3 * GiB + HIGH - 1},
    {MEM_4G + HIGH - 1, 2, NO},
    {MEM_4G + HIGH, 1, NO},
    {MEM_4G + HIGH + 4096, 0, NO},
    {UINT64_MAX, 0, NO},
    {UINT64_MAX, 1, NO},
    {UINT64_MAX - 4095, 4096, NO},
    /* gpa + len wraps around to an address inside RAM */
    {16, UINT64_MAX - 15, NO},
    {16, UINT64_MAX, NO},
    {1, UINT64_MAX, NO},
    {MEM_4G, UINT64_MAX, NO},
    {MEM_4G + 16, UINT64_MAX - 15, NO},
    {MEM_4G + 16, UINT64_MAX - MEM_4G - 15, NO},
    {0, UINT64_MAX, NO},
};

static void test_ptr_vectors(void **state)
{
    struct guest_mem mem;

    (void)state;
    assert_int_equal(mem_init(&mem, 4 * GiB + 8 * MiB), 0);
    for (size_t i = 0; i < sizeof(ptr_vectors) / sizeof(ptr_vectors[0]); i++) {
        uint8_t *p = mem_ptr(&mem, ptr_vectors[i].gpa, ptr_vectors[i].len);
        uint8_t *want = ptr_vectors[i].fd_offset == NO ? NULL : mem.base + ptr_vectors[i].fd_offset;

        if (p != want)
            fail_msg("mem_ptr(0x%llx, 0x%llx) = %p, expected %p",
                     (unsigned long long)ptr_vectors[i].gpa, (unsigned long long)ptr_vectors[i].len,
                     (void *)p, (void *)want);
    }
    mem_destroy(&mem);
}

/* With RAM below the hole only, nothing lies at or above its end. */
static void test_ptr_small(void **state)
{
    struct guest_mem mem;

    (void)state;
    assert_int_equal(mem_init(&mem, MEM_MIN_SIZE), 0);
    assert_ptr_equal(mem_ptr(&mem, MEM_MIN_SIZE - 1, 1), mem.base + MEM_MIN_SIZE - 1);
    assert_ptr_equal(mem_ptr(&mem, 0, MEM_MIN_SIZE), mem.base);
    assert_null(mem_ptr(&mem, 0, MEM_MIN_SIZE + 1));
    assert_null(mem_ptr(&mem, MEM_MIN_SIZE, 1));
    assert_null(mem_ptr(&mem, MEM_MIN_SIZE + 4096, 0));
    assert_null(mem_ptr(&mem, MEM_4G, 0));
    assert_null(mem_ptr(&mem, MEM_4G, 1));
    mem_destroy(&mem);
}

/* A byte written at a guest address is visible through the region's host
 * mapping, and at the matching memfd offset. */
static void test_read_write(void **state)
{
    static const uint8_t msg[] = "guest RAM";
    struct guest_mem mem;
    uint8_t buf[sizeof(msg)];

    (void)state;
    assert_int_equal(mem_init(&mem, 4 * GiB + 8 * MiB), 0);
    assert_int_equal(mem_write(&mem, 0x1000, msg, sizeof(msg)), 0);
    assert_memory_equal(mem.base + 0x1000, msg, sizeof(msg));
    assert_int_equal(mem_write(&mem, MEM_4G + 0x2000, msg, sizeof(msg)), 0);
    assert_memory_equal(mem.base + MEM_HOLE_START + 0x2000, msg, sizeof(msg));
    memset(buf, 0, sizeof(buf));
    assert_int_equal(mem_read(&mem, MEM_4G + 0x2000, buf, sizeof(buf)), 0);
    assert_memory_equal(buf, msg, sizeof(msg));
    assert_int_equal(mem_write(&mem, MEM_4G + HIGH - sizeof(msg), msg, sizeof(msg)), 0);
    assert_int_equal(mem_read(&mem, 0, buf, 0), 0);
    mem_destroy(&mem);
}

/* Accesses that do not lie in one region fail whole: nothing is copied. */
static void test_read_write_fault(void **state)
{
    static const uint8_t msg[16] = "0123456789abcdef";
    struct guest_mem mem;
    uint8_t buf[16], zero[16] = {0};

    (void)state;
    assert_int_equal(mem_init(&mem, 4 * GiB + 8 * MiB), 0);
    assert_int_equal(mem_write(&mem, MEM_HOLE_START - 8, msg, sizeof(msg)), -EFAULT);
    assert_memory_equal(mem.base + MEM_HOLE_START - 8, zero, 8);
    assert_int_equal(mem_write(&mem, MEM_HOLE_START, msg, 1), -EFAULT);
    assert_int_equal(mem_write(&mem, MEM_4G + HIGH - 8, msg, sizeof(msg)), -EFAULT);
    assert_int_equal(mem_write(&mem, UINT64_MAX - 7, msg, sizeof(msg)), -EFAULT);
    memset(buf, 0x5a, sizeof(buf));
    assert_int_equal(mem_read(&mem, MEM_4G - 8, buf, sizeof(buf)), -EFAULT);
    assert_int_equal(mem_read(&mem, MEM_4G + HIGH, buf, 1), -EFAULT);
    assert_int_equal(mem_read(&mem, 8, buf, UINT64_MAX - 7), -EFAULT);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0x5a);
    mem_destroy(&mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_rejects),     cmocka_unit_test(test_init_too_big_for_host),
        cmocka_unit_test(test_destroy_zeroed),   cmocka_unit_test(test_layout),
        cmocka_unit_test(test_zeroed),           cmocka_unit_test(test_ptr_vectors),
        cmocka_unit_test(test_ptr_small),        cmocka_unit_test(test_read_write),
        cmocka_unit_test(test_read_write_fault),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
