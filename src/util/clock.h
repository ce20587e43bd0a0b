/* The host's monotonic clock, for timeouts and periods of vx86's own. */
#ifndef VX86_UTIL_CLOCK_H
#define VX86_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in milliseconds. */
static inline int64_t clock_now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* CLOCK_MONOTONIC in nanoseconds. */
static inline int64_t clock_now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The CLOCK_MONOTONIC time ns (>= 0) from now, for pthread_cond_timedwait
 * on a condition variable set to that clock. */
static inline struct timespec clock_mono_after_ns(int64_t ns)
{
    int64_t until = clock_now_ns() + ns;

    return (struct timespec){.tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
}

#endif
