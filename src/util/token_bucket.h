/*
 * Rate limiters as Firecracker defines them (its API's RateLimiter and
 * TokenBucket): a limiter holds two optional token buckets, bandwidth
 * (bytes) and ops (requests), and a request passes only when both let it.
 *
 * A bucket holds up to size tokens and starts full; it refills at size
 * tokens per refill_ms milliseconds, continuously (tokens accrue in
 * proportion to the time elapsed, not in steps). one_time_burst extra
 * tokens are spent first, once. A bucket with size 0 or refill_ms 0 is
 * unlimited, as Firecracker's TokenBucket::new then gives no bucket.
 *
 * A request larger than the bucket (more than size tokens after the burst)
 * could never be served by waiting. As Firecracker does, it passes as soon
 * as the bucket owes nothing, empties it and leaves the bucket in debt for
 * the excess; the next request waits until the debt is refilled. (Firecracker
 * blocks the limiter for the excess's refill time but lets the bucket
 * refill meanwhile, so a stream of large requests exceeds its rate;
 * here the debt is paid first, so the long-run rate holds.)
 *
 * Pure: the caller passes the time (monotonic nanoseconds) to every call,
 * and guards the structs with its own lock. Arithmetic is overflow-safe for
 * every value up to UINT64_MAX.
 */
#ifndef VX86_UTIL_TOKEN_BUCKET_H
#define VX86_UTIL_TOKEN_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

/* A bucket's configuration (the API's TokenBucket). */
struct token_bucket_cfg {
    uint64_t size;           /* tokens; 0: unlimited */
    uint64_t one_time_burst; /* extra tokens, once */
    uint64_t refill_ms;      /* to refill an empty bucket to size; 0: unlimited */
};

/* The API's RateLimiter: bandwidth in bytes, ops in requests. */
struct rate_limiter_cfg {
    struct token_bucket_cfg bandwidth, ops;
};

struct token_bucket {
    struct token_bucket_cfg cfg;
    uint64_t burst;         /* one_time_burst tokens left */
    uint64_t budget;        /* regular tokens, up to cfg.size */
    uint64_t debt;          /* tokens owed by an oversized request; budget is 0 meanwhile */
    int64_t last_ns;        /* the time budget and debt were refilled up to */
    unsigned __int128 frac; /* toward the next token: ns x size, below refill_ms x 10^6 */
};

struct rate_limiter {
    struct token_bucket bandwidth, ops;
};

/* True for a bucket that limits (size and refill time both nonzero). */
bool token_bucket_limited(const struct token_bucket_cfg *cfg);

/* A full bucket of cfg at time now. */
void token_bucket_init(struct token_bucket *b, const struct token_bucket_cfg *cfg, int64_t now);

/*
 * Takes n tokens at time now if the bucket lets them pass (see above) and
 * returns 0; otherwise takes nothing and returns the nanoseconds (at least
 * 1) until it will let them pass, if nothing else is taken meanwhile.
 */
int64_t token_bucket_take(struct token_bucket *b, uint64_t n, int64_t now);

/* Both buckets full (unlimited where cfg says so). */
void rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_cfg *cfg, int64_t now);

/*
 * A new configuration: a bucket whose cfg differs from its current one
 * starts afresh (full), one whose cfg is the same keeps its tokens, as
 * Firecracker's update keeps the buckets a PATCH does not name.
 */
void rate_limiter_update(struct rate_limiter *rl, const struct rate_limiter_cfg *cfg, int64_t now);

/* True when either bucket limits. */
bool rate_limiter_active(const struct rate_limiter *rl);

/*
 * Takes one request of ops operations and bytes bytes at time now: 0 when
 * both buckets let it pass (both are charged), else nothing is charged and
 * the result is the nanoseconds until the bucket that refused will let it.
 */
int64_t rate_limiter_take(struct rate_limiter *rl, uint64_t ops, uint64_t bytes, int64_t now);

#endif
