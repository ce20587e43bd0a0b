/*
 * An event loop (util/loop.h) on a thread of the test's, for devices whose
 * back ends serve it (vsock, network): the test plays the guest's vCPU
 * meanwhile. Create the device on the test's thread before
 * loop_fixture_start and destroy it after loop_fixture_stop, as the loop's
 * rule wants (watches are added and removed on its thread alone). Include
 * after cmocka.h.
 */
#ifndef VX86_TESTS_LOOP_FIXTURE_H
#define VX86_TESTS_LOOP_FIXTURE_H

#include <pthread.h>

#include "util/loop.h"

struct loop_fixture {
    struct loop *loop;
    struct loop_waker stop;
    pthread_t thread;
};

static void *loop_fixture_run(void *arg)
{
    struct loop_fixture *f = arg;

    assert_int_equal(loop_run(f->loop), 0);
    return NULL;
}

static void loop_fixture_quit(void *opaque, uint32_t events)
{
    (void)events;
    loop_quit(((struct loop_fixture *)opaque)->loop);
}

/* The loop, for the device's struct vm. */
static inline struct loop *loop_fixture_init(struct loop_fixture *f)
{
    f->loop = loop_new();
    assert_non_null(f->loop);
    assert_int_equal(loop_waker_add(f->loop, &f->stop, loop_fixture_quit, f), 0);
    return f->loop;
}

static inline void loop_fixture_start(struct loop_fixture *f)
{
    assert_int_equal(pthread_create(&f->thread, NULL, loop_fixture_run, f), 0);
}

static inline void loop_fixture_stop(struct loop_fixture *f)
{
    loop_wake(&f->stop);
    pthread_join(f->thread, NULL);
}

static inline void loop_fixture_fini(struct loop_fixture *f)
{
    loop_waker_del(&f->stop);
    loop_free(f->loop);
}

#endif
