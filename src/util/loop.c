#include "util/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define BATCH 32

struct loop {
    int epfd;
    bool quit;
    /* The round being dispatched: loop_watch_del clears a removed watch's
     * entries from [next, nr). */
    struct epoll_event evs[BATCH];
    int next, nr;
};

struct loop *loop_new(void)
{
    struct loop *l = calloc(1, sizeof(*l));

    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        int err = errno;

        free(l);
        errno = err;
        return NULL;
    }
    return l;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    close(l->epfd);
    free(l);
}

int loop_watch_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events, loop_fn *fn,
                   void *opaque)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};

    *w = (struct loop_watch){.loop = l, .fd = fd, .events = events, .fn = fn, .opaque = opaque};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -errno;
    w->added = true;
    return 0;
}

int loop_watch_set(struct loop_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};

    if (!w->added || w->events == events)
        return 0;
    if (epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -errno;
    w->events = events;
    return 0;
}

void loop_watch_del(struct loop_watch *w)
{
    struct loop *l = w->loop;

    if (!w->added)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->added = false;
    for (int i = l->next; i < l->nr; i++)
        if (l->evs[i].data.ptr == w)
            l->evs[i].data.ptr = NULL;
}

/* Watches fd (for EPOLLIN), which w owns from now on: closed on failure
 * and by del_owned. fd < 0: the call that made it failed, errno says why. */
static int add_owned(struct loop *l, struct loop_watch *w, int fd, loop_fn *ready, void *opaque)
{
    int err;

    w->added = false;
    if (fd < 0)
        return -errno;
    err = loop_watch_add(l, w, fd, EPOLLIN, ready, opaque);
    if (err)
        close(fd);
    return err;
}

static void del_owned(struct loop_watch *w)
{
    if (!w->added)
        return;
    loop_watch_del(w);
    close(w->fd);
}

static void timer_ready(void *opaque, uint32_t events)
{
    struct loop_timer *t = opaque;
    uint64_t expiries;

    if (read(t->w.fd, &expiries, sizeof(expiries)) == sizeof(expiries))
        t->fn(t->opaque, events);
}

int loop_timer_add(struct loop *l, struct loop_timer *t, loop_fn *fn, void *opaque)
{
    t->fn = fn;
    t->opaque = opaque;
    return add_owned(l, &t->w, timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
                     timer_ready, t);
}

static struct timespec ts(int64_t ns)
{
    return (struct timespec){.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
}

void loop_timer_arm(struct loop_timer *t, int64_t ns, int64_t period_ns)
{
    struct itimerspec its = {.it_value = ts(ns > 0 ? ns : 1), .it_interval = ts(period_ns)};

    /* Cannot fail for a valid timerfd and these values. */
    timerfd_settime(t->w.fd, 0, &its, NULL);
}

void loop_timer_disarm(struct loop_timer *t)
{
    struct itimerspec its = {0};
    uint64_t stale;

    timerfd_settime(t->w.fd, 0, &its, NULL);
    /* An expiry not read yet would still run fn. */
    if (read(t->w.fd, &stale, sizeof(stale)) < 0) {
        /* EAGAIN: there was none. */
    }
}

void loop_timer_set_ms(struct loop_timer *t, int64_t ms)
{
    if (ms < 0)
        loop_timer_disarm(t);
    else
        loop_timer_arm(t, ms * 1000000, 0);
}

void loop_timer_del(struct loop_timer *t)
{
    del_owned(&t->w);
}

static void waker_ready(void *opaque, uint32_t events)
{
    struct loop_waker *k = opaque;
    eventfd_t count;

    if (eventfd_read(k->w.fd, &count) == 0)
        k->fn(k->opaque, events);
}

int loop_waker_add(struct loop *l, struct loop_waker *k, loop_fn *fn, void *opaque)
{
    k->fn = fn;
    k->opaque = opaque;
    return add_owned(l, &k->w, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), waker_ready, k);
}

void loop_wake(struct loop_waker *k)
{
    /* Only a counter at its maximum refuses, and then a wake is pending. */
    eventfd_write(k->w.fd, 1);
}

void loop_waker_del(struct loop_waker *k)
{
    del_owned(&k->w);
}

int loop_run_once(struct loop *l, int timeout_ms)
{
    int n = epoll_wait(l->epfd, l->evs, BATCH, timeout_ms);

    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    l->nr = n;
    for (l->next = 0; l->next < l->nr;) {
        struct epoll_event *ev = &l->evs[l->next++];
        struct loop_watch *w = ev->data.ptr;

        if (w)
            w->fn(w->opaque, ev->events);
    }
    l->nr = l->next = 0;
    return 0;
}

int loop_run(struct loop *l)
{
    int err = 0;

    l->quit = false;
    while (!l->quit && !err)
        err = loop_run_once(l, -1);
    return err;
}

void loop_quit(struct loop *l)
{
    l->quit = true;
}
