/*
 * Token buckets and rate limiters (util/token_bucket.h) on an injected
 * clock: refill rates, the one-time burst, unlimited buckets, requests
 * larger than the bucket, both buckets charged or neither, updates, and
 * sizes and times up to 2^64 - 1 without overflow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/token_bucket.h"

#define MS 1000000LL /* ns */
#define T0 (1000 * MS)

static struct token_bucket bucket(uint64_t size, uint64_t burst, uint64_t refill_ms)
{
    struct token_bucket b;

    token_bucket_init(&b, &(struct token_bucket_cfg){size, burst, refill_ms}, T0);
    return b;
}

static void unlimited(void **state)
{
    struct token_bucket b = bucket(0, 0, 1000);
    struct token_bucket c = bucket(1000, 0, 0);
    struct rate_limiter rl;

    (void)state;
    assert_false(token_bucket_limited(&b.cfg));
    assert_false(token_bucket_limited(&c.cfg));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(token_bucket_take(&b, UINT64_MAX, T0), 0);
        assert_int_equal(token_bucket_take(&c, UINT64_MAX, T0), 0);
    }
    rate_limiter_init(&rl, &(struct rate_limiter_cfg){0}, T0);
    assert_false(rate_limiter_active(&rl));
    assert_int_equal(rate_limiter_take(&rl, UINT64_MAX, UINT64_MAX, T0), 0);
}

/* Full at first; then size tokens per refill time, in proportion. */
static void refill_rate(void **state)
{
    struct token_bucket b = bucket(1000, 0, 1000); /* 1 token per ms */

    (void)state;
    assert_int_equal(token_bucket_take(&b, 1000, T0), 0);
    assert_int_equal(token_bucket_take(&b, 1, T0), 1 * MS);
    assert_int_equal(token_bucket_take(&b, 500, T0), 500 * MS);
    assert_int_equal(token_bucket_take(&b, 500, T0 + 200 * MS), 300 * MS);
    assert_int_equal(token_bucket_take(&b, 500, T0 + 500 * MS), 0);
    assert_int_equal(token_bucket_take(&b, 1, T0 + 500 * MS), 1 * MS);
    /* Never more than size, however long it waits. */
    assert_int_equal(token_bucket_take(&b, 1000, T0 + 100000 * MS), 0);
    assert_int_equal(token_bucket_take(&b, 1, T0 + 100000 * MS), 1 * MS);
}

/* A rate that is not a whole number of tokens per step: no fraction of a
 * token is lost or counted twice. 3 tokens per 10 ms, polled every ms for
 * one second: 3 at first, then 300. */
static void fractions(void **state)
{
    struct token_bucket b = bucket(3, 0, 10);
    int taken = 0;

    (void)state;
    for (int64_t t = T0; t <= T0 + 1000 * MS; t += MS)
        while (!token_bucket_take(&b, 1, t))
            taken++;
    assert_int_equal(taken, 303);
}

/* The wait a refusal names is exact: the request passes then, not before. */
static void wait_is_exact(void **state)
{
    struct token_bucket b = bucket(7, 0, 3);
    int64_t t = T0, w;

    (void)state;
    assert_int_equal(token_bucket_take(&b, 7, t), 0);
    for (int i = 0; i < 50; i++) {
        uint64_t n = (uint64_t)(i % 7) + 1;

        w = token_bucket_take(&b, n, t);
        assert_true(w > 0);
        if (w > 1)
            assert_true(token_bucket_take(&b, n, t + w - 1) > 0);
        t += w;
        assert_int_equal(token_bucket_take(&b, n, t), 0);
    }
}

/* one_time_burst is spent first, once, and the regular budget stays. */
static void burst(void **state)
{
    struct token_bucket b = bucket(100, 50, 1000);

    (void)state;
    assert_int_equal(token_bucket_take(&b, 30, T0), 0);
    assert_int_equal(b.burst, 20);
    assert_int_equal(b.budget, 100);
    assert_int_equal(token_bucket_take(&b, 120, T0), 0);
    assert_int_equal(b.burst, 0);
    assert_int_equal(b.budget, 0);
    assert_int_equal(token_bucket_take(&b, 1, T0), 10 * MS);
    /* Refill starts once the burst is spent (the budget is full till then). */
    b = bucket(100, 50, 1000);
    assert_int_equal(token_bucket_take(&b, 50, T0), 0);
    assert_int_equal(token_bucket_take(&b, 100, T0 + 500 * MS), 0);
    assert_int_equal(token_bucket_take(&b, 1, T0 + 500 * MS), 10 * MS);
}

/* Larger than the bucket: passes when nothing is owed, then the excess is
 * owed; the next request waits for the debt and its own tokens. */
static void larger_than_the_bucket(void **state)
{
    struct token_bucket b = bucket(100, 0, 100); /* 1 token per ms */

    (void)state;
    assert_int_equal(token_bucket_take(&b, 250, T0), 0);
    assert_int_equal(b.debt, 150);
    assert_int_equal(token_bucket_take(&b, 1, T0), 151 * MS);
    assert_int_equal(token_bucket_take(&b, 1000, T0), 150 * MS);
    assert_int_equal(token_bucket_take(&b, 1, T0 + 150 * MS), 1 * MS);
    assert_int_equal(token_bucket_take(&b, 1000, T0 + 150 * MS), 0);
    assert_int_equal(b.debt, 1000);
    /* From an empty bucket, with the burst spent first. */
    b = bucket(100, 20, 100);
    assert_int_equal(token_bucket_take(&b, 60, T0), 0);
    assert_int_equal(token_bucket_take(&b, 200, T0), 0);
    assert_int_equal(b.burst, 0);
    assert_int_equal(b.debt, 200 - 60);
    /* The long-run rate holds for a stream of them: the tenth request of
     * 300 tokens passes 2.6 s after the first (27 requests' worth less the
     * full bucket's 100 ms), its own 300 still owed. */
    b = bucket(100, 0, 100);
    int64_t t = T0;
    for (int i = 0; i < 10; i++) {
        int64_t w;

        while ((w = token_bucket_take(&b, 300, t)))
            t += w;
    }
    assert_int_equal(t - T0, 2600 * MS);
}

/* Sizes, bursts, refill times and requests up to 2^64 - 1. */
static void extremes(void **state)
{
    struct token_bucket b = bucket(UINT64_MAX, UINT64_MAX, UINT64_MAX);
    int64_t w;

    (void)state;
    assert_int_equal(token_bucket_take(&b, UINT64_MAX, T0), 0);
    assert_int_equal(token_bucket_take(&b, UINT64_MAX, T0), 0);
    w = token_bucket_take(&b, UINT64_MAX, T0);
    assert_int_equal(w, INT64_MAX);
    assert_int_equal(token_bucket_take(&b, UINT64_MAX, INT64_MAX), INT64_MAX);
    /* 2^64 - 1 tokens per ms. */
    b = bucket(UINT64_MAX, 0, 1);
    assert_int_equal(token_bucket_take(&b, UINT64_MAX, T0), 0);
    assert_int_equal(token_bucket_take(&b, UINT64_MAX, T0), 1 * MS);
    assert_int_equal(token_bucket_take(&b, UINT64_MAX / 2, T0 + MS / 2), 0);
    assert_int_equal(token_bucket_take(&b, UINT64_MAX, T0 + MS), MS / 2);
    assert_int_equal(token_bucket_take(&b, 1, INT64_MAX), 0);
    /* One token per 2^64 - 1 ms, and a debt of nearly 2^64 tokens. */
    b = bucket(2, 0, UINT64_MAX);
    assert_int_equal(token_bucket_take(&b, UINT64_MAX, T0), 0);
    assert_int_equal(b.debt, UINT64_MAX - 2);
    assert_int_equal(token_bucket_take(&b, 1, T0), INT64_MAX);
    assert_int_equal(token_bucket_take(&b, 1, INT64_MAX), INT64_MAX);
    /* A clock that goes back refills nothing. */
    b = bucket(10, 0, 10);
    assert_int_equal(token_bucket_take(&b, 10, T0), 0);
    assert_int_equal(token_bucket_take(&b, 1, T0 - 1000 * MS), 1 * MS);
}

/* A request passes both buckets or is charged to neither. */
static void both_or_neither(void **state)
{
    struct rate_limiter rl;
    struct rate_limiter_cfg cfg = {.bandwidth = {1000, 0, 1000}, .ops = {10, 0, 1000}};

    (void)state;
    rate_limiter_init(&rl, &cfg, T0);
    assert_true(rate_limiter_active(&rl));
    assert_int_equal(rate_limiter_take(&rl, 1, 900, T0), 0);
    /* Bandwidth refuses: ops keeps its 9. */
    assert_int_equal(rate_limiter_take(&rl, 1, 200, T0), 100 * MS);
    assert_int_equal(rl.ops.budget, 9);
    assert_int_equal(rate_limiter_take(&rl, 9, 100, T0), 0);
    /* Ops refuses: nothing is charged to bandwidth. */
    assert_int_equal(rate_limiter_take(&rl, 1, 0, T0), 100 * MS);
    assert_int_equal(rl.bandwidth.budget, 0);
    assert_int_equal(rate_limiter_take(&rl, 1, 0, T0 + 100 * MS), 0);
    /* Zero bytes (a flush) asks nothing of the bandwidth bucket. */
    assert_int_equal(rate_limiter_take(&rl, 1, 0, T0 + 200 * MS), 0);
}

/* A changed bucket starts full; an unchanged one keeps its tokens; size 0
 * turns it off. */
static void update(void **state)
{
    struct rate_limiter rl;
    struct rate_limiter_cfg cfg = {.bandwidth = {1000, 0, 1000}, .ops = {10, 0, 1000}};

    (void)state;
    rate_limiter_init(&rl, &cfg, T0);
    assert_int_equal(rate_limiter_take(&rl, 10, 1000, T0), 0);
    cfg.ops = (struct token_bucket_cfg){20, 0, 1000};
    rate_limiter_update(&rl, &cfg, T0);
    assert_int_equal(rl.ops.budget, 20);
    assert_int_equal(rl.bandwidth.budget, 0);
    cfg.bandwidth.size = 0;
    rate_limiter_update(&rl, &cfg, T0);
    assert_int_equal(rate_limiter_take(&rl, 1, UINT64_MAX, T0), 0);
    cfg.ops.refill_ms = 0;
    rate_limiter_update(&rl, &cfg, T0);
    assert_false(rate_limiter_active(&rl));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unlimited), cmocka_unit_test(refill_rate),
        cmocka_unit_test(fractions), cmocka_unit_test(wait_is_exact),
        cmocka_unit_test(burst),     cmocka_unit_test(larger_than_the_bucket),
        cmocka_unit_test(extremes),  cmocka_unit_test(both_or_neither),
        cmocka_unit_test(update),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
