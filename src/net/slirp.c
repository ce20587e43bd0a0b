/*
 * The user-mode backend: libslirp's TCP/IP stack turns the guest's frames
 * into ordinary host sockets (connect, sendto), with QEMU's addresses:
 * 10.0.2.0/24, DHCP from 10.0.2.15, the host at 10.0.2.2, DNS at 10.0.2.3.
 * No root and no host set-up.
 *
 * libslirp is not thread-safe: s->lock guards every call into it. The
 * machine's event loop serves it: libslirp names the sockets it wants
 * polled anew each round (slirp_pollfds_fill), so a pass polls the last
 * round's set without waiting, hands libslirp what is ready, runs its
 * timers, and syncs the new set into an epoll set of its own, which is
 * one fd on the loop (beside a loop timer for libslirp's timers). Frames
 * from the guest come in on virtio-net's transmit thread (slirp_input),
 * which then wakes the loop, as slirp may have opened a socket.
 * libslirp's frames for the guest cannot wait in it: those the device
 * does not take at once (no receive buffer, its rate limiter) queue here,
 * up to RXQ_MAX, and go to the device in order on resume or once the
 * limiter's wait is over; beyond that they are dropped, as a full NIC
 * ring drops (TCP sends them again).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <slirp/libslirp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/ipv4_reass.h"
#include "net/net.h"
#include "util/log.h"
#include "util/loop.h"

#define MAX_TIMERS 8
#define RXQ_MAX    256 /* frames for the guest waiting for the device */

struct frame {
    struct frame *next;
    size_t len;
    uint8_t data[];
};

struct timer {
    bool used, armed;
    int64_t expire_ms;
    SlirpTimerCb cb;
    void *cb_opaque;
};

struct slirp {
    struct net_backend be; /* first */
    pthread_mutex_t lock;
    Slirp *slirp;
    net_rx_fn *rx;
    void *opaque;
    /* The loop's: ep holds the sockets of the last round (reg). */
    int ep;
    struct loop_watch ep_watch;
    struct loop_timer timer;
    struct loop_waker wake; /* a guest frame or a resume: a pass is due */
    struct pollfd *reg;
    int nr_reg, max_reg;

    struct ipv4_reass *reass; /* virtio-net's transmit thread's alone */

    /* Under lock: */
    struct frame *rxq, **rxq_tail; /* for the guest, oldest first */
    int rxq_len;
    int64_t rxq_retry_ms; /* the limiter's wait is over then; 0: on resume */
    atomic_bool blocked;  /* a frame is offered or waits: resume must wake */
    struct timer timers[MAX_TIMERS];
    struct pollfd *pfd;
    int nr_pfd, max_pfd;
};

static int64_t now_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Offers the device one frame; true if it took it. lock held. */
static bool offer(struct slirp *s, const uint8_t *frame, size_t len)
{
    int64_t wait;

    atomic_store(&s->blocked, true);
    wait = s->rx(s->opaque, frame, len);
    if (!wait) {
        atomic_store(&s->blocked, false);
        return true;
    }
    s->rxq_retry_ms = wait > 0 ? now_ns() / 1000000 + wait / 1000000 + 1 : 0;
    return false;
}

/* Hands the device the queued frames it takes now. lock held. */
static void flush_rxq(struct slirp *s)
{
    while (s->rxq && offer(s, s->rxq->data, s->rxq->len)) {
        struct frame *f = s->rxq;

        s->rxq = f->next;
        if (!s->rxq)
            s->rxq_tail = &s->rxq;
        s->rxq_len--;
        free(f);
    }
}

static ssize_t cb_send(const void *buf, size_t len, void *opaque)
{
    struct slirp *s = opaque;
    struct frame *f;

    if (!s->rxq && offer(s, buf, len))
        return (ssize_t)len;
    if (s->rxq_len == RXQ_MAX || !(f = malloc(sizeof(*f) + len)))
        return (ssize_t)len; /* dropped */
    f->next = NULL;
    f->len = len;
    memcpy(f->data, buf, len);
    *s->rxq_tail = f;
    s->rxq_tail = &f->next;
    s->rxq_len++;
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    (void)opaque;
    log_info("--net user: guest error: %s", msg);
}

static int64_t cb_clock(void *opaque)
{
    (void)opaque;
    return now_ns();
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct slirp *s = opaque;

    for (int i = 0; i < MAX_TIMERS; i++)
        if (!s->timers[i].used) {
            s->timers[i] = (struct timer){.used = true, .cb = cb, .cb_opaque = cb_opaque};
            return &s->timers[i];
        }
    log_err("--net user: libslirp asked for more than %d timers", MAX_TIMERS);
    return NULL;
}

static void cb_timer_free(void *timer, void *opaque)
{
    (void)opaque;
    if (timer)
        *(struct timer *)timer = (struct timer){0};
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    struct timer *t = timer;

    (void)opaque;
    if (t) {
        t->armed = true;
        t->expire_ms = expire_ms;
    }
}

/* The poll set is rebuilt from slirp_pollfds_fill() every round. */
static void cb_fd_ignored(int fd, void *opaque)
{
    (void)fd;
    (void)opaque;
}

static void cb_notify(void *opaque)
{
    struct slirp *s = opaque;

    loop_wake(&s->wake);
}

static const SlirpCb callbacks = {
    .send_packet = cb_send,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_fd_ignored,
    .unregister_poll_fd = cb_fd_ignored,
    .notify = cb_notify,
};

static short to_poll(int events)
{
    return (short)(((events & SLIRP_POLL_IN) ? POLLIN : 0) |
                   ((events & SLIRP_POLL_OUT) ? POLLOUT : 0) |
                   ((events & SLIRP_POLL_PRI) ? POLLPRI : 0));
}

/* SlirpAddPollCb. */
static int add_poll(int fd, int events, void *opaque)
{
    struct slirp *s = opaque;

    if (s->nr_pfd == s->max_pfd) {
        int max = s->max_pfd * 2;
        struct pollfd *p = realloc(s->pfd, sizeof(*p) * (size_t)max);

        if (!p)
            return -1; /* libslirp then skips the socket this round */
        s->pfd = p;
        s->max_pfd = max;
    }
    s->pfd[s->nr_pfd] = (struct pollfd){.fd = fd, .events = to_poll(events)};
    return s->nr_pfd++;
}

static int get_revents(int idx, void *opaque)
{
    struct slirp *s = opaque;
    short r;

    if (idx < 0 || idx >= s->nr_pfd)
        return 0;
    r = s->pfd[idx].revents;
    return ((r & POLLIN) ? SLIRP_POLL_IN : 0) | ((r & POLLOUT) ? SLIRP_POLL_OUT : 0) |
           ((r & POLLPRI) ? SLIRP_POLL_PRI : 0) | ((r & POLLERR) ? SLIRP_POLL_ERR : 0) |
           ((r & POLLHUP) ? SLIRP_POLL_HUP : 0);
}

/* Runs the expired timers; returns ms until the next one (or timeout).
 * s->lock held. */
static uint32_t run_timers(struct slirp *s, uint32_t timeout)
{
    int64_t now = now_ns() / 1000000;

    for (int i = 0; i < MAX_TIMERS; i++) {
        struct timer *t = &s->timers[i];

        if (!t->used || !t->armed)
            continue;
        if (t->expire_ms <= now) {
            t->armed = false;
            t->cb(t->cb_opaque);
        } else if (t->expire_ms - now < timeout) {
            timeout = (uint32_t)(t->expire_ms - now);
        }
    }
    return timeout;
}

/* ep to hold the fds of pfd (what the last slirp_pollfds_fill asked for)
 * with their events; a closed fd left it by itself, a reused number gets
 * added again. lock held. */
static void sync_ep(struct slirp *s)
{
    for (int i = 0; i < s->nr_reg; i++) {
        bool kept = false;

        for (int k = 0; k < s->nr_pfd && !kept; k++)
            kept = s->pfd[k].fd == s->reg[i].fd;
        if (!kept)
            epoll_ctl(s->ep, EPOLL_CTL_DEL, s->reg[i].fd, NULL);
    }
    s->nr_reg = 0;
    for (int k = 0; k < s->nr_pfd; k++) {
        struct epoll_event ev = {.events = (uint32_t)s->pfd[k].events, .data.fd = s->pfd[k].fd};

        if (epoll_ctl(s->ep, EPOLL_CTL_MOD, s->pfd[k].fd, &ev) &&
            epoll_ctl(s->ep, EPOLL_CTL_ADD, s->pfd[k].fd, &ev))
            continue; /* not pollable: libslirp gets nothing for it */
        if (s->nr_reg == s->max_reg) {
            int max = s->max_reg ? s->max_reg * 2 : 16;
            struct pollfd *r = realloc(s->reg, sizeof(*r) * (size_t)max);

            if (!r) {
                epoll_ctl(s->ep, EPOLL_CTL_DEL, s->pfd[k].fd, NULL);
                continue;
            }
            s->reg = r;
            s->max_reg = max;
        }
        s->reg[s->nr_reg++] = s->pfd[k];
    }
}

/* One pass: what the last round's sockets have, libslirp's timers, the
 * frames waiting for the device, the next round's set. The callback of the
 * epoll set, the timer and the waker. */
static void pass(void *opaque, uint32_t events)
{
    struct slirp *s = opaque;
    struct epoll_event evs[16];
    uint32_t timeout = UINT32_MAX;
    int r;

    (void)events;
    /* Readiness comes from poll below; this only empties ep's list. */
    while (epoll_wait(s->ep, evs, 16, 0) == 16)
        ;
    pthread_mutex_lock(&s->lock);
    r = s->nr_pfd ? poll(s->pfd, (nfds_t)s->nr_pfd, 0) : 0;
    slirp_pollfds_poll(s->slirp, r < 0, get_revents, s);
    s->nr_pfd = 0;
    slirp_pollfds_fill(s->slirp, &timeout, add_poll, s);
    timeout = run_timers(s, timeout);
    flush_rxq(s);
    if (s->rxq && s->rxq_retry_ms) {
        int64_t left = s->rxq_retry_ms - now_ns() / 1000000;

        if (left < 0)
            left = 0;
        if ((uint32_t)left < timeout)
            timeout = (uint32_t)left;
    }
    sync_ep(s);
    pthread_mutex_unlock(&s->lock);
    loop_timer_set_ms(&s->timer, timeout == UINT32_MAX ? -1 : (int64_t)timeout);
}

/*
 * libslirp 4.7.0 crashes on a datagram whose last fragment reaches it
 * first, as fuzz_net found (its ip_reass; the corpus's
 * regress-last-fragment-first): one frame from any guest would end vx86.
 * So no fragment reaches it: the guest's fragments are put together here
 * (net/ipv4_reass.h) and slirp gets whole datagrams.
 */
static int slirp_send(struct net_backend *be, const uint8_t *hdr, size_t len)
{
    struct slirp *s = (struct slirp *)be;
    const uint8_t *frame = hdr + NET_HDR_LEN, *whole;
    size_t whole_len;

    switch (
        ipv4_reass_add(s->reass, frame, len, (uint64_t)(now_ns() / 1000000), &whole, &whole_len)) {
    case IPV4_HELD:
        return 0;
    case IPV4_DONE:
        frame = whole;
        len = whole_len;
        break;
    case IPV4_WHOLE:
        break;
    }
    pthread_mutex_lock(&s->lock);
    slirp_input(s->slirp, frame, (int)len);
    pthread_mutex_unlock(&s->lock);
    loop_wake(&s->wake);
    return 0;
}

static void slirp_resume(struct net_backend *be)
{
    struct slirp *s = (struct slirp *)be;

    if (atomic_exchange(&s->blocked, false))
        loop_wake(&s->wake);
}

static void slirp_destroy(struct net_backend *be)
{
    struct slirp *s = (struct slirp *)be;

    loop_watch_del(&s->ep_watch);
    loop_timer_del(&s->timer);
    loop_waker_del(&s->wake);
    if (s->slirp)
        slirp_cleanup(s->slirp);
    if (s->ep >= 0)
        close(s->ep);
    free(s->reg);
    pthread_mutex_destroy(&s->lock);
    ipv4_reass_free(s->reass);
    while (s->rxq) {
        struct frame *f = s->rxq;

        s->rxq = f->next;
        free(f);
    }
    free(s->pfd);
    free(s);
}

static struct in_addr ip(const char *a)
{
    struct in_addr v;

    inet_pton(AF_INET, a, &v);
    return v;
}

/* The hostfwd rules; one line for a port the host will not give. */
static int add_forwards(struct slirp *s, const struct vm_net *cfg)
{
    for (int i = 0; i < cfg->nr_fwd; i++) {
        const struct vm_hostfwd *f = &cfg->fwd[i];
        struct in_addr host = {htonl(f->host_addr)};

        char addr[INET_ADDRSTRLEN] = "";

        if (slirp_add_hostfwd(s->slirp, f->udp, host, f->host_port, ip("10.0.2.15"),
                              f->guest_port)) {
            int err = errno;

            if (f->host_addr)
                inet_ntop(AF_INET, &host, addr, sizeof(addr));
            log_err("--net user,hostfwd=%s:%s:%u-:%u: cannot listen on host port %u: %s",
                    f->udp ? "udp" : "tcp", addr, f->host_port, f->guest_port, f->host_port,
                    strerror(err));
            return -err;
        }
    }
    return 0;
}

struct net_backend *net_slirp_create(const struct vm_net *cfg, struct loop *loop, net_rx_fn *rx,
                                     void *opaque)
{
    struct slirp *s = calloc(1, sizeof(*s));
    SlirpConfig sc = {
        .version = 1,
        .in_enabled = true,
        .vnetwork = ip("10.0.2.0"),
        .vnetmask = ip("255.255.255.0"),
        .vhost = ip("10.0.2.2"),
        /* None unless asked, as QEMU's: systemd-networkd refuses a name
         * it was not told to take, on every lease. */
        .vhostname = cfg->hostname,
        .vdhcp_start = ip("10.0.2.15"),
        .vnameserver = ip("10.0.2.3"),
    };
    int err;

    if (!s) {
        log_err("--net user: out of memory");
        return NULL;
    }
    s->be =
        (struct net_backend){.send = slirp_send, .resume = slirp_resume, .destroy = slirp_destroy};
    s->rxq_tail = &s->rxq;
    s->rx = rx;
    s->opaque = opaque;
    pthread_mutex_init(&s->lock, NULL);
    s->max_pfd = 16;
    s->pfd = malloc(sizeof(*s->pfd) * (size_t)s->max_pfd);
    s->ep = epoll_create1(EPOLL_CLOEXEC);
    s->reass = ipv4_reass_new();
    if (!s->pfd || s->ep < 0 || !s->reass) {
        log_err("--net user: %s", s->pfd && s->reass ? strerror(errno) : "out of memory");
        goto fail;
    }
    s->slirp = slirp_new(&sc, &callbacks, s);
    if (!s->slirp) {
        log_err("--net user: libslirp failed to start");
        goto fail;
    }
    if (add_forwards(s, cfg))
        goto fail;
    err = loop_timer_add(loop, &s->timer, pass, s);
    if (!err)
        err = loop_waker_add(loop, &s->wake, pass, s);
    if (!err)
        err = loop_watch_add(loop, &s->ep_watch, s->ep, EPOLLIN, pass, s);
    if (err) {
        log_err("--net user: cannot watch its sockets: %s", strerror(-err));
        goto fail;
    }
    /* The first round's set and timers. */
    pass(s, 0);
    return &s->be;
fail:
    slirp_destroy(&s->be);
    return NULL;
}
