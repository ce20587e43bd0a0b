#include "util/token_bucket.h"

#include <string.h>

typedef unsigned __int128 u128;

#define NS_PER_MS 1000000u

bool token_bucket_limited(const struct token_bucket_cfg *cfg)
{
    return cfg->size && cfg->refill_ms;
}

void token_bucket_init(struct token_bucket *b, const struct token_bucket_cfg *cfg, int64_t now)
{
    *b = (struct token_bucket){
        .cfg = *cfg, .burst = cfg->one_time_burst, .budget = cfg->size, .last_ns = now};
}

/* The nanoseconds that refill the bucket by size tokens (below 2^84). */
static u128 period(const struct token_bucket *b)
{
    return (u128)b->cfg.refill_ms * NS_PER_MS;
}

/*
 * Adds the tokens accrued since last_ns: debt first, then budget up to
 * size. frac keeps what accrued towards the next token, so no fraction is
 * lost or counted twice. elapsed * size < 2^128 - 2^65 and frac < 2^84:
 * the sum fits.
 */
static void refill(struct token_bucket *b, int64_t now)
{
    u128 acc, tokens, room;

    if (now <= b->last_ns)
        return;
    acc = (u128)((uint64_t)now - (uint64_t)b->last_ns) * b->cfg.size + b->frac;
    b->last_ns = now;
    tokens = acc / period(b);
    b->frac = acc % period(b);
    room = (u128)b->debt + (b->cfg.size - b->budget);
    if (tokens >= room) {
        b->debt = 0;
        b->budget = b->cfg.size;
        b->frac = 0; /* full: nothing accrues */
    } else if (tokens <= b->debt) {
        b->debt -= (uint64_t)tokens;
    } else {
        b->budget += (uint64_t)(tokens - b->debt);
        b->debt = 0;
    }
}

/* Nanoseconds from now until missing (> 0) more tokens have accrued;
 * refill() ran at now. At least 1, at most INT64_MAX. */
static int64_t wait_for(const struct token_bucket *b, u128 missing)
{
    u128 p = period(b), t;

    if (p > ~(u128)0 / missing)
        return INT64_MAX;
    t = (missing * p - b->frac + b->cfg.size - 1) / b->cfg.size;
    return t > INT64_MAX ? INT64_MAX : t ? (int64_t)t : 1;
}

int64_t token_bucket_take(struct token_bucket *b, uint64_t n, int64_t now)
{
    uint64_t from_burst, rest;

    if (!token_bucket_limited(&b->cfg))
        return 0;
    refill(b, now);
    from_burst = n < b->burst ? n : b->burst;
    rest = n - from_burst;
    if (!rest) {
        b->burst -= n;
        return 0;
    }
    if (rest > b->cfg.size) {
        /* Larger than the bucket: passes once nothing is owed. */
        if (b->debt)
            return wait_for(b, b->debt);
        b->burst -= from_burst;
        b->debt = rest - b->budget;
        b->budget = 0;
        return 0;
    }
    if (b->debt || b->budget < rest)
        return wait_for(b, (u128)b->debt + rest - b->budget);
    b->burst -= from_burst;
    b->budget -= rest;
    return 0;
}

void rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_cfg *cfg, int64_t now)
{
    token_bucket_init(&rl->bandwidth, &cfg->bandwidth, now);
    token_bucket_init(&rl->ops, &cfg->ops, now);
}

void rate_limiter_update(struct rate_limiter *rl, const struct rate_limiter_cfg *cfg, int64_t now)
{
    if (memcmp(&rl->bandwidth.cfg, &cfg->bandwidth, sizeof(cfg->bandwidth)))
        token_bucket_init(&rl->bandwidth, &cfg->bandwidth, now);
    if (memcmp(&rl->ops.cfg, &cfg->ops, sizeof(cfg->ops)))
        token_bucket_init(&rl->ops, &cfg->ops, now);
}

bool rate_limiter_active(const struct rate_limiter *rl)
{
    return token_bucket_limited(&rl->bandwidth.cfg) || token_bucket_limited(&rl->ops.cfg);
}

int64_t rate_limiter_take(struct rate_limiter *rl, uint64_t ops, uint64_t bytes, int64_t now)
{
    struct token_bucket saved = rl->ops;
    int64_t wait = token_bucket_take(&rl->ops, ops, now);

    if (wait)
        return wait;
    wait = token_bucket_take(&rl->bandwidth, bytes, now);
    if (wait)
        rl->ops = saved; /* both or neither */
    return wait;
}
