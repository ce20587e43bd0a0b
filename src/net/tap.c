/*
 * The TAP backend: frames go through /dev/net/tun to an existing TAP
 * interface of the host, behind a 12-byte virtio_net_hdr (IFF_VNET_HDR
 * and TUNSETVNETHDRSZ): the kernel checks it and does the checksums and
 * segmentation the guest left to the device. The host sends whole,
 * checksummed frames (no TUNSETOFFLOAD), so receive needs no offloads.
 * The machine's event loop reads the interface, a frame at a time, while
 * the device takes them; a frame it cannot take yet waits here and the
 * interface is not read meanwhile (its queue in the kernel holds, then
 * drops, what follows, as a NIC whose ring is full). Writes come from
 * virtio-net's transmit thread and never block (O_NONBLOCK: a full queue
 * drops the frame).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "net/net.h"
#include "util/log.h"
#include "util/loop.h"

struct tap {
    struct net_backend be; /* first */
    int fd;
    const char *ifname;
    net_rx_fn *rx;
    void *opaque;
    /* The loop's: */
    struct loop *loop;
    struct loop_watch watch;
    struct loop_waker resumed; /* the device's resume */
    struct loop_timer retry;   /* the device's rate limiter */
    size_t held;               /* a frame in buf the device has not taken; 0: none */
    /* A frame is being offered or was refused: the device's resume must
     * wake the loop (set before each offer, so a resume during one is
     * not lost). */
    atomic_bool blocked;
    uint8_t buf[NET_HDR_LEN + NET_MAX_FRAME];
};

/* Frames read at most per event: the loop serves others between. */
#define BATCH 64

static int tap_send(struct net_backend *be, const uint8_t *hdr, size_t len)
{
    struct tap *t = (struct tap *)be;

    for (;;) {
        ssize_t r = write(t->fd, hdr, NET_HDR_LEN + len);

        if (r >= 0)
            return 0;
        if (errno != EINTR)
            return -errno;
    }
}

/* Offers the held frame; true if the device took it. Otherwise the
 * interface goes unread until resumed or the limiter's wait is over. */
static bool offer(struct tap *t)
{
    int64_t wait;

    atomic_store(&t->blocked, true);
    wait = t->rx(t->opaque, t->buf + NET_HDR_LEN, t->held - NET_HDR_LEN);
    if (!wait) {
        atomic_store(&t->blocked, false);
        t->held = 0;
        return true;
    }
    loop_watch_set(&t->watch, 0);
    if (wait > 0)
        loop_timer_arm(&t->retry, wait, 0);
    return false;
}

/* The held frame first, then what the interface has, BATCH at most. */
static void receive(struct tap *t)
{
    for (int i = 0;; i++) {
        ssize_t len;

        if (t->held && !offer(t))
            return;
        if (i == BATCH)
            break; /* EPOLLIN, level-triggered, brings the rest */
        len = read(t->fd, t->buf, sizeof(t->buf));
        if (len < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (len < 0) {
            log_err("--net tap=%s: reading the interface failed: %s; the guest receives no more",
                    t->ifname, strerror(errno));
            loop_watch_del(&t->watch);
            return;
        }
        if (len > NET_HDR_LEN)
            t->held = (size_t)len;
    }
    loop_watch_set(&t->watch, EPOLLIN);
}

/* The interface, the resume waker, the limiter's timer; nothing once a
 * read failed (the watch is gone). */
static void ready(void *opaque, uint32_t events)
{
    struct tap *t = opaque;

    (void)events;
    if (t->watch.added)
        receive(t);
}

static void tap_resume(struct net_backend *be)
{
    struct tap *t = (struct tap *)be;

    if (atomic_exchange(&t->blocked, false))
        loop_wake(&t->resumed);
}

static void tap_destroy(struct net_backend *be)
{
    struct tap *t = (struct tap *)be;

    loop_watch_del(&t->watch);
    loop_waker_del(&t->resumed);
    loop_timer_del(&t->retry);
    if (t->fd >= 0)
        close(t->fd);
    free(t);
}

/* TUNSETIFF would create a missing interface (given CAP_NET_ADMIN): vx86
 * only attaches to one the user made, so a typo does not leave one behind. */
static int attach(struct tap *t, const char *ifname)
{
    struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
    int hdr_len = NET_HDR_LEN;

    if (strlen(ifname) >= IFNAMSIZ) {
        log_err("--net tap=%s: interface names are at most %d characters", ifname, IFNAMSIZ - 1);
        return -EINVAL;
    }
    if (!if_nametoindex(ifname)) {
        log_err("--net tap=%s: no such interface (ip tuntap add %s mode tap creates it)", ifname,
                ifname);
        return -ENODEV;
    }
    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        log_err("--net tap=%s: /dev/net/tun: %s", ifname, strerror(errno));
        return -errno;
    }
    strcpy(ifr.ifr_name, ifname);
    if (ioctl(t->fd, TUNSETIFF, &ifr) == 0) {
        if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr_len) == 0)
            return 0;
        log_err("--net tap=%s: cannot set its virtio-net header size: %s", ifname, strerror(errno));
        return -errno;
    }
    switch (errno) {
    case EPERM:
        log_err("--net tap=%s: permission denied (the interface must belong to this user: "
                "ip tuntap add %s mode tap user $USER)",
                ifname, ifname);
        break;
    case EBUSY:
        log_err("--net tap=%s: in use by another process", ifname);
        break;
    case EINVAL:
        log_err("--net tap=%s: not a TAP interface", ifname);
        break;
    default:
        log_err("--net tap=%s: %s", ifname, strerror(errno));
    }
    return -errno;
}

struct net_backend *net_tap_create(const char *ifname, struct loop *loop, net_rx_fn *rx,
                                   void *opaque)
{
    struct tap *t = calloc(1, sizeof(*t));
    int err;

    if (!t) {
        log_err("--net tap=%s: out of memory", ifname);
        return NULL;
    }
    t->be = (struct net_backend){
        .vnet_hdr = true, .send = tap_send, .resume = tap_resume, .destroy = tap_destroy};
    t->fd = -1;
    t->ifname = ifname;
    t->rx = rx;
    t->opaque = opaque;
    t->loop = loop;
    if (attach(t, ifname))
        goto fail;
    err = loop_waker_add(loop, &t->resumed, ready, t);
    if (!err)
        err = loop_timer_add(loop, &t->retry, ready, t);
    if (!err)
        err = loop_watch_add(loop, &t->watch, t->fd, EPOLLIN, ready, t);
    if (err) {
        log_err("--net tap=%s: cannot watch it: %s", ifname, strerror(-err));
        goto fail;
    }
    return &t->be;
fail:
    tap_destroy(&t->be);
    return NULL;
}
