/* Split virtqueues (virtio/virtq.h) against well-formed and hostile rings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "virtio/virtq.h"
#include "vm/vm.h"

#define RAM   (4ULL << 20)
#define DESC  0x10000ULL
#define AVAIL 0x11000ULL
#define USED  0x12000ULL
#define TABLE 0x13000ULL /* an indirect table */
#define BUF   0x20000ULL
#define QSIZE 8

#define F_NEXT     1
#define F_WRITE    2
#define F_INDIRECT 4

struct fixture {
    struct vm vm;
    struct virtq q;
    struct virtq_elem e;
};

static int setup(void **state)
{
    static struct fixture f;

    memset(&f, 0, sizeof(f));
    if (mem_init(&f.vm.mem, RAM))
        return -1;
    f.q = (struct virtq){.size = QSIZE, .desc = DESC, .avail = AVAIL, .used = USED};
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    mem_destroy(&f->vm.mem);
    return 0;
}

static void put_desc(struct fixture *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint8_t d[16];

    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    assert_int_equal(mem_write(&f->vm.mem, table + 16ULL * i, d, 16), 0);
}

static void put16(struct fixture *f, uint64_t gpa, uint16_t v)
{
    assert_int_equal(mem_write(&f->vm.mem, gpa, &v, 2), 0);
}

static uint16_t get16(struct fixture *f, uint64_t gpa)
{
    uint16_t v;

    assert_int_equal(mem_read(&f->vm.mem, gpa, &v, 2), 0);
    return v;
}

/* Makes head the next available chain (avail idx one past it). */
static void offer(struct fixture *f, uint16_t head)
{
    uint16_t idx = get16(f, AVAIL + 2);

    put16(f, AVAIL + 4 + 2 * (idx % QSIZE), head);
    put16(f, AVAIL + 2, (uint16_t)(idx + 1));
}

static void enable(struct fixture *f, bool indirect, bool event_idx)
{
    f->q.indirect = indirect;
    f->q.event_idx = event_idx;
    assert_int_equal(virtq_enable(&f->q, &f->vm), 0);
}

/* A virtio-blk-like request: 16-byte header, 512 data bytes, status byte. */
static void test_chain_pop_push(void **state)
{
    struct fixture *f = *state;
    uint8_t hdr[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, got[16];
    uint8_t status = 0x5a;

    enable(f, false, false);
    assert_int_equal(virtq_pop(&f->q, &f->vm, &f->e), 0);
    put_desc(f, DESC, 3, BUF, 16, F_NEXT, 5);
    put_desc(f, DESC, 5, BUF + 0x100, 512, F_NEXT | F_WRITE, 0);
    put_desc(f, DESC, 0, BUF + 0x400, 1, F_WRITE, 0);
    mem_write(&f->vm.mem, BUF, hdr, 16);
    offer(f, 3);
    assert_int_equal(virtq_pop(&f->q, &f->vm, &f->e), 1);
    assert_int_equal(f->e.head, 3);
    assert_int_equal(f->e.nr_out, 1);
    assert_int_equal(f->e.nr_in, 2);
    assert_int_equal(f->e.out_len, 16);
    assert_int_equal(f->e.in_len, 513);
    assert_int_equal(virtq_elem_read(&f->e, 0, got, 16), 0);
    assert_memory_equal(got, hdr, 16);
    assert_int_equal(virtq_elem_read(&f->e, 1, got, 16), -EINVAL);
    assert_int_equal(virtq_elem_write(&f->e, 512, &status, 1), 0);
    assert_int_equal(virtq_elem_write(&f->e, 513, &status, 1), -EINVAL);
    assert_int_equal(virtq_pop(&f->q, &f->vm, &f->e), 0);

    assert_int_equal(virtq_push(&f->q, &f->vm, &f->e, 513), 0);
    assert_int_equal(get16(f, USED + 2), 1);
    assert_int_equal(get16(f, USED + 4), 3);   /* id */
    assert_int_equal(get16(f, USED + 8), 513); /* len */
    assert_true(virtq_need_irq(&f->q, &f->vm));
    mem_read(&f->vm.mem, BUF + 0x400, &status, 1);
    assert_int_equal(status, 0x5a);
}

/* A used length beyond the in buffers is clamped to them. */
static void test_push_clamps_len(void **state)
{
    struct fixture *f = *state;

    enable(f, false, false);
    put_desc(f, DESC, 0, BUF, 8, F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(&f->q, &f->vm, &f->e), 1);
    assert_int_equal(virtq_push(&f->q, &f->vm, &f->e, 0xffffffff), 0);
    assert_int_equal(get16(f, USED + 8), 8);
}

static void test_enable_rejects(void **state)
{
    struct fixture *f = *state;
    static const struct {
        uint16_t size;
        uint64_t desc, avail, used;
    } bad[] = {
        {0, DESC, AVAIL, USED},         {3, DESC, AVAIL, USED},
        {512, DESC, AVAIL, USED},       {QSIZE, DESC + 8, AVAIL, USED},
        {QSIZE, DESC, AVAIL + 1, USED}, {QSIZE, DESC, AVAIL, USED + 2},
        {QSIZE, RAM - 64, AVAIL, USED}, {QSIZE, DESC, UINT64_MAX - 1, USED},
        {QSIZE, DESC, AVAIL, RAM - 4},  {QSIZE, 0xfffffffffffffff0ULL, AVAIL, USED},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        f->q = (struct virtq){
            .size = bad[i].size, .desc = bad[i].desc, .avail = bad[i].avail, .used = bad[i].used};
        assert_int_equal(virtq_enable(&f->q, &f->vm), -EINVAL);
        assert_false(f->q.ready);
        assert_non_null(f->q.why);
        assert_int_equal(virtq_pop(&f->q, &f->vm, &f->e), 0); /* not ready: nothing */
    }
}

/* Each hostile chain fails with -EINVAL and a reason; nothing is popped. */
static void expect_bad(struct fixture *f, uint16_t head)
{
    offer(f, head);
    f->q.why = NULL;
    assert_int_equal(virtq_pop(&f->q, &f->vm, &f->e), -EINVAL);
    assert_non_null(f->q.why);
    assert_int_equal(f->q.last_avail, 0);
}

static void test_buffer_outside_ram(void **state)
{
    struct fixture *f = *state;

    enable(f, true, false);
    put_desc(f, DESC, 0, RAM - 8, 16, 0, 0);
    expect_bad(f, 0);
}

static void test_buffer_length_wraps(void **state)
{
    struct fixture *f = *state;

    enable(f, true, false);
    put_desc(f, DESC, 0, 0xfffffffffffffff0ULL, 0x20, 0, 0);
    expect_bad(f, 0);
}

static void test_loop(void **state)
{
    struct fixture *f = *state;

    enable(f, true, false);
    put_desc(f, DESC, 0, BUF, 1, F_NEXT, 1);
    put_desc(f, DESC, 1, BUF, 1, F_NEXT, 0);
    expect_bad(f, 0);
}

static void test_self_loop_in_indirect(void **state)
{
    struct fixture *f = *state;

    enable(f, true, false);
    put_desc(f, DESC, 0, TABLE, 32, F_INDIRECT, 0);
    put_desc(f, TABLE, 0, BUF, 1, F_NEXT, 1);
    put_desc(f, TABLE, 1, BUF, 1, F_NEXT, 1);
    expect_bad(f, 0);
}

static void test_index_out_of_range(void **state)
{
    struct fixture *f = *state;

    enable(f, true, false);
    expect_bad(f, QSIZE); /* head */
    f->q.last_avail = 0;
    put16(f, AVAIL + 2, 0);
    put_desc(f, DESC, 0, BUF, 1, F_NEXT, QSIZE);
    expect_bad(f, 0); /* next */
}

static void test_avail_idx_too_far(void **state)
{
    struct fixture *f = *state;

    enable(f, true, false);
    put16(f, AVAIL + 2, QSIZE + 1);
    assert_int_equal(virtq_pop(&f->q, &f->vm, &f->e), -EINVAL);
}

static void test_readable_after_writable(void **state)
{
    struct fixture *f = *state;

    enable(f, true, false);
    put_desc(f, DESC, 0, BUF, 1, F_NEXT | F_WRITE, 1);
    put_desc(f, DESC, 1, BUF, 1, 0, 0);
    expect_bad(f, 0);
}

static void test_indirect(void **state)
{
    struct fixture *f = *state;

    enable(f, true, false);
    put_desc(f, DESC, 2, TABLE, 48, F_INDIRECT, 0);
    put_desc(f, TABLE, 0, BUF, 16, F_NEXT, 2);
    put_desc(f, TABLE, 2, BUF + 16, 100, F_NEXT | F_WRITE, 1);
    put_desc(f, TABLE, 1, BUF + 200, 1, F_WRITE, 0);
    offer(f, 2);
    assert_int_equal(virtq_pop(&f->q, &f->vm, &f->e), 1);
    assert_int_equal(f->e.head, 2);
    assert_int_equal(f->e.nr_out, 1);
    assert_int_equal(f->e.nr_in, 2);
    assert_int_equal(f->e.in_len, 101);
    assert_int_equal(f->e.seg[2].gpa, BUF + 200);
}

static void test_indirect_hostile(void **state)
{
    struct fixture *f = *state;
    static const struct {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
    } bad[] = {
        {TABLE, 24, F_INDIRECT},          /* not a multiple of 16 */
        {TABLE, 0, F_INDIRECT},           /* empty */
        {TABLE, 16 * 257, F_INDIRECT},    /* more than 256 */
        {RAM - 16, 32, F_INDIRECT},       /* outside RAM */
        {TABLE, 16, F_INDIRECT | F_NEXT}, /* INDIRECT with NEXT */
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enable(f, true, false);
        put16(f, AVAIL + 2, 0);
        put_desc(f, DESC, 0, bad[i].addr, bad[i].len, bad[i].flags, 1);
        put_desc(f, TABLE, 0, BUF, 1, 0, 0);
        expect_bad(f, 0);
    }
    /* nested */
    enable(f, true, false);
    put16(f, AVAIL + 2, 0);
    put_desc(f, DESC, 0, TABLE, 16, F_INDIRECT, 0);
    put_desc(f, TABLE, 0, TABLE, 16, F_INDIRECT, 0);
    expect_bad(f, 0);
    /* not negotiated */
    enable(f, false, false);
    put16(f, AVAIL + 2, 0);
    put_desc(f, DESC, 0, TABLE, 16, F_INDIRECT, 0);
    put_desc(f, TABLE, 0, BUF, 1, 0, 0);
    expect_bad(f, 0);
}

/* used_event suppresses interrupts until the used index passes it; the
 * device publishes avail_event after each pop. */
static void test_event_idx(void **state)
{
    struct fixture *f = *state;

    enable(f, false, true);
    put_desc(f, DESC, 0, BUF, 4, F_WRITE, 0);
    put16(f, AVAIL + 4 + 2 * QSIZE, 1); /* used_event: interrupt after entry 1 */
    for (int i = 0; i < 3; i++) {
        offer(f, 0);
        assert_int_equal(virtq_pop(&f->q, &f->vm, &f->e), 1);
        assert_int_equal(get16(f, USED + 4 + 8 * QSIZE), i + 1); /* avail_event */
        assert_int_equal(virtq_push(&f->q, &f->vm, &f->e, 4), 0);
        /* used_idx 1: not past 1; 2: crosses it; 3: already signalled */
        assert_int_equal(virtq_need_irq(&f->q, &f->vm), i == 1);
    }
}

static void test_no_interrupt_flag(void **state)
{
    struct fixture *f = *state;

    enable(f, false, false);
    put16(f, AVAIL, 1);
    put_desc(f, DESC, 0, BUF, 4, F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(virtq_pop(&f->q, &f->vm, &f->e), 1);
    assert_int_equal(virtq_push(&f->q, &f->vm, &f->e, 4), 0);
    assert_false(virtq_need_irq(&f->q, &f->vm));
}

/* The ring wraps: indices are free-running 16-bit counters. */
static void test_wraparound(void **state)
{
    struct fixture *f = *state;

    enable(f, false, false);
    f->q.last_avail = f->q.used_idx = 0xfffe;
    put16(f, AVAIL + 2, 0xfffe);
    put_desc(f, DESC, 1, BUF, 4, F_WRITE, 0);
    for (int i = 0; i < 4; i++) {
        offer(f, 1);
        assert_int_equal(virtq_pop(&f->q, &f->vm, &f->e), 1);
        assert_int_equal(virtq_push(&f->q, &f->vm, &f->e, 4), 0);
    }
    assert_int_equal(get16(f, USED + 2), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chain_pop_push, setup, teardown),
        cmocka_unit_test_setup_teardown(test_push_clamps_len, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enable_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_outside_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_buffer_length_wraps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_self_loop_in_indirect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_avail_idx_too_far, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readable_after_writable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indirect_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_idx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_interrupt_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wraparound, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
