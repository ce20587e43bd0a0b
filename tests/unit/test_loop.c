/*
 * The event loop (util/loop.h): fd watches and changing what they wait
 * for, one-shot and periodic timers, wake-ups posted from another thread
 * (several coalescing into one call), loop_quit, and a watch removed by an
 * earlier callback of the same round getting no call. And thread_start
 * (util/thread.h): the name and the signal mask a thread starts with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util/loop.h"
#include "util/thread.h"

static int calls;

static void count_fd(void *opaque, uint32_t events)
{
    char c;

    (void)events;
    if (read(*(int *)opaque, &c, 1) == 1)
        calls++;
}

static void watch_pipe(void **state)
{
    struct loop *l = loop_new();
    struct loop_watch w;
    int p[2];

    (void)state;
    assert_non_null(l);
    assert_int_equal(pipe(p), 0);
    calls = 0;
    assert_int_equal(loop_watch_add(l, &w, p[0], EPOLLIN, count_fd, &p[0]), 0);
    assert_int_equal(loop_run_once(l, 0), 0);
    assert_int_equal(calls, 0);
    assert_int_equal(write(p[1], "ab", 2), 2);
    assert_int_equal(loop_run_once(l, 1000), 0);
    assert_int_equal(calls, 1);
    /* Quiet: the second byte waits. */
    assert_int_equal(loop_watch_set(&w, 0), 0);
    assert_int_equal(loop_run_once(l, 0), 0);
    assert_int_equal(calls, 1);
    assert_int_equal(loop_watch_set(&w, EPOLLIN), 0);
    assert_int_equal(loop_run_once(l, 1000), 0);
    assert_int_equal(calls, 2);
    loop_watch_del(&w);
    loop_watch_del(&w);
    close(p[0]);
    close(p[1]);
    loop_free(l);
}

struct pair {
    struct loop_watch a, b;
    int calls;
};

/* Counts its call and removes both watches. */
static void drop_both(void *opaque, uint32_t events)
{
    struct pair *p = opaque;

    (void)events;
    p->calls++;
    loop_watch_del(&p->a);
    loop_watch_del(&p->b);
}

/* Both fds are ready in one round; whichever runs first removes both. */
static void removed_in_round(void **state)
{
    struct loop *l = loop_new();
    struct pair p = {0};
    int x[2], y[2];

    (void)state;
    assert_int_equal(pipe(x), 0);
    assert_int_equal(pipe(y), 0);
    assert_int_equal(write(x[1], "a", 1), 1);
    assert_int_equal(write(y[1], "b", 1), 1);
    assert_int_equal(loop_watch_add(l, &p.a, x[0], EPOLLIN, drop_both, &p), 0);
    assert_int_equal(loop_watch_add(l, &p.b, y[0], EPOLLIN, drop_both, &p), 0);
    assert_int_equal(loop_run_once(l, 1000), 0);
    assert_int_equal(p.calls, 1);
    for (int i = 0; i < 2; i++) {
        close(x[i]);
        close(y[i]);
    }
    loop_free(l);
}

struct tick {
    struct loop *l;
    struct loop_timer t;
    int n, quit_at;
};

static void tick(void *opaque, uint32_t events)
{
    struct tick *t = opaque;

    (void)events;
    if (++t->n == t->quit_at)
        loop_quit(t->l);
}

static void timers(void **state)
{
    struct tick t = {.l = loop_new(), .quit_at = 3};

    (void)state;
    assert_int_equal(loop_timer_add(t.l, &t.t, tick, &t), 0);
    loop_timer_arm(&t.t, 1000000, 1000000);
    assert_int_equal(loop_run(t.l), 0);
    assert_int_equal(t.n, 3);
    /* Disarmed, an expiry already due runs nothing. */
    usleep(3000);
    loop_timer_disarm(&t.t);
    assert_int_equal(loop_run_once(t.l, 10), 0);
    assert_int_equal(t.n, 3);
    loop_timer_arm(&t.t, 1000000, 0);
    assert_int_equal(loop_run_once(t.l, 1000), 0);
    assert_int_equal(t.n, 4);
    assert_int_equal(loop_run_once(t.l, 10), 0);
    assert_int_equal(t.n, 4);
    loop_timer_del(&t.t);
    loop_free(t.l);
}

struct woken {
    struct loop *l;
    struct loop_waker k;
    int n;
};

static void woke(void *opaque, uint32_t events)
{
    struct woken *w = opaque;

    assert_int_equal(events, EPOLLIN);
    w->n++;
    loop_quit(w->l);
}

static void *waker_thread(void *arg)
{
    struct woken *w = arg;

    for (int i = 0; i < 3; i++)
        loop_wake(&w->k);
    return NULL;
}

static void wake_from_thread(void **state)
{
    struct woken w = {.l = loop_new()};
    pthread_t t;

    (void)state;
    assert_int_equal(loop_waker_add(w.l, &w.k, woke, &w), 0);
    assert_int_equal(pthread_create(&t, NULL, waker_thread, &w), 0);
    pthread_join(t, NULL);
    assert_int_equal(loop_run(w.l), 0);
    assert_int_equal(w.n, 1); /* three wakes, one call */
    loop_waker_del(&w.k);
    loop_free(w.l);
}

static void *report(void *arg)
{
    sigset_t *mask = arg;
    char name[16];

    pthread_getname_np(pthread_self(), name, sizeof(name));
    pthread_sigmask(SIG_SETMASK, NULL, mask);
    return strcmp(name, "test thread") ? NULL : arg;
}

static void thread_start_names_and_masks(void **state)
{
    sigset_t mask;
    pthread_t t;
    void *ret;

    (void)state;
    assert_int_equal(thread_start(&t, "test thread", SECCOMP_IO, report, &mask), 0);
    pthread_join(t, &ret);
    assert_ptr_equal(ret, &mask);
    assert_true(sigismember(&mask, SIGTERM));
    assert_true(sigismember(&mask, SIGUSR1));
    assert_int_equal(thread_start(&t, "test thread", SECCOMP_VCPU, report, &mask), 0);
    pthread_join(t, &ret);
    assert_true(sigismember(&mask, SIGINT));
    assert_false(sigismember(&mask, THREAD_KICK_SIGNAL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(watch_pipe),
        cmocka_unit_test(removed_in_round),
        cmocka_unit_test(timers),
        cmocka_unit_test(wake_from_thread),
        cmocka_unit_test(thread_start_names_and_masks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
