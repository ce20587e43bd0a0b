/*
 * The event loop: one epoll set that one thread (vx86's main thread) runs,
 * calling back for ready file descriptors, expired timers and wake-ups
 * posted by other threads. What it serves must not block: its callbacks
 * run one at a time on the loop's thread, and one that waits holds up the
 * terminal, signals, the API and every back end on the loop.
 *
 * Threads: loop_run and every call that adds, changes or removes a
 * watcher or timer are the loop thread's (or, before loop_run, the
 * creator's); loop_wake alone is for any thread. Callbacks may add and
 * remove watchers and timers, their own included (a removed watcher gets
 * no further calls, even for events already fetched in the same round).
 */
#ifndef VX86_UTIL_LOOP_H
#define VX86_UTIL_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;

/* Every callback: events are EPOLLIN, EPOLLOUT, EPOLLHUP, EPOLLERR as epoll
 * reported them for a watch, EPOLLIN for a timer or a waker (so that one
 * function may serve a back end's fd, timer and waker alike). */
typedef void loop_fn(void *opaque, uint32_t events);

/* A file descriptor on the loop; the caller owns the struct and the fd. */
struct loop_watch {
    struct loop *loop;
    int fd;
    uint32_t events;
    loop_fn *fn;
    void *opaque;
    bool added;
};

/* A timerfd on the loop: fn runs at expiry (once per expiry seen, however
 * many periods passed). */
struct loop_timer {
    struct loop_watch w;
    loop_fn *fn;
    void *opaque;
};

/* A wake-up other threads post (an eventfd): fn runs on the loop's thread
 * after one or more loop_wake calls, once per round however many came. */
struct loop_waker {
    struct loop_watch w;
    loop_fn *fn;
    void *opaque;
};

/* A new loop, or NULL with errno set. */
struct loop *loop_new(void);
void loop_free(struct loop *l);

/*
 * Watches fd (which must be one epoll takes: not a regular file) for
 * events (EPOLLIN, EPOLLOUT; 0 keeps it registered but quiet, hang-ups and
 * errors still come). Returns 0 or -errno.
 */
int loop_watch_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events, loop_fn *fn,
                   void *opaque);
/* Changes what w waits for; a no-op when unchanged. 0 or -errno. */
int loop_watch_set(struct loop_watch *w, uint32_t events);
/* Stops watching; w may be freed after. Safe on a watch never added. */
void loop_watch_del(struct loop_watch *w);

/* A disarmed timer. 0 or -errno. */
int loop_timer_add(struct loop *l, struct loop_timer *t, loop_fn *fn, void *opaque);
/* Runs fn ns nanoseconds from now (> 0), then every period_ns (0: once).
 * Arming an armed timer moves it. */
void loop_timer_arm(struct loop_timer *t, int64_t ns, int64_t period_ns);
void loop_timer_disarm(struct loop_timer *t);
/* A one-shot in ms milliseconds (0: at the next round); ms < 0 disarms:
 * what a back end's "next deadline, or none" comes as. */
void loop_timer_set_ms(struct loop_timer *t, int64_t ms);
/* Removes and closes the timer; safe on one never added. */
void loop_timer_del(struct loop_timer *t);

int loop_waker_add(struct loop *l, struct loop_waker *k, loop_fn *fn, void *opaque);
/* Any thread, async-signal-safe: fn will run on the loop's thread. */
void loop_wake(struct loop_waker *k);
void loop_waker_del(struct loop_waker *k);

/*
 * Runs callbacks until loop_quit, or for one round (waits for events, at
 * most timeout_ms with -1 for no limit, and dispatches them) with
 * loop_run_once. Returns 0, or -errno when epoll itself failed.
 */
int loop_run(struct loop *l);
int loop_run_once(struct loop *l, int timeout_ms);
/* Loop thread: loop_run returns after the current round. */
void loop_quit(struct loop *l);

#endif
