/*
 * virtio-net (VIRTIO 1.2 §5.1): one receive queue (0) and one transmit
 * queue (1), a MAC address and a link that is always up. Frames go to and
 * come from a network backend (net/net.h); where it takes the virtio_net_hdr
 * (TAP), the device offers checksum and TSO offload for transmit and hands
 * the guest's header on. Receive has no offloads.
 *
 * Transmit runs on the device's own thread: it takes a chain under the
 * device lock, copies the frame out and returns the chain, then sends
 * without the lock, so a backend may call back into rx() from send()
 * (libslirp answers ARP and pings at once). Receive runs where the backend
 * calls rx() (TAP: the event loop; slirp: its thread, or the transmit
 * thread) and never waits: a frame without a receive buffer, or held back
 * by the rate limiter, stays with the backend (net/net.h), resumed when the
 * guest posts buffers or the limit changes. Lock order: a backend's own
 * lock, then dev.lock.
 *
 * Rate limiters (the control plane's, util/token_bucket.h) hold frames back:
 * the transmit thread waits before it sends a frame (it takes no more of
 * the guest's buffers meanwhile), and rx() tells the backend how long a
 * frame must wait (the backend then reads no more from the host, whose
 * socket or TAP queue holds what follows). Neither drops a frame.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/net.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/token_bucket.h"
#include "virtio/devices.h"
#include "vm/vm.h"

/* §5.1.3 feature bits, §5.1.4 status bits. */
#define VIRTIO_NET_F_MAC     5
#define VIRTIO_NET_F_STATUS  16
#define VIRTIO_NET_S_LINK_UP 1

#define RXQ 0
#define TXQ 1

/* Transmit offloads (§5.1.3), for a backend that takes the header. */
#define VIRTIO_NET_F_CSUM      0
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12

/* VERSION_1: the header always has num_buffers (§5.1.6). */
#define HDR_LEN NET_HDR_LEN

/* §5.1.4, the fields before max_virtqueue_pairs. */
struct net_config {
    uint8_t mac[6];
    uint16_t status;
};

struct net {
    struct virtio_dev dev; /* first: the transport's handle */
    struct net_config config;
    struct net_backend *be;

    /* Under dev.lock: */
    pthread_t thread;
    bool started, kicked, quit, warned;
    pthread_cond_t kick; /* the transmit queue was notified, or quit */
    struct virtq_elem rx_elem;
    /* The frame rx() last refused: it is counted as throttled once, and
     * the limiter's tokens, once paid, are not taken again. */
    bool rx_counted, rx_paid;
    struct rate_limiter rx_rl, tx_rl;
    struct virtio_net_metrics metrics; /* under dev.lock, since the last take */

    /* The transmit thread's alone: */
    struct virtq_elem tx_elem;
    uint8_t tx_buf[HDR_LEN + NET_MAX_FRAME];
};

/* One line per device for a guest that sends malformed frames, then quiet:
 * a driver bug, not worth a reset, and the guest must not flood the log. */
static void warn_once(struct net *n, const char *why, uint64_t len)
{
    if (n->warned)
        return;
    n->warned = true;
    log_err("virtio-net %d: transmit chain of %llu bytes dropped: %s", n->dev.index,
            (unsigned long long)len, why);
}

/* Takes the next frame off the transmit queue into tx_buf. Returns its
 * length with the header, 0 for a dropped chain, -1 when none is left.
 * dev.lock held. */
static int64_t tx_pop(struct net *n)
{
    struct virtio_dev *d = &n->dev;
    uint64_t len;

    if (virtio_pop(d, TXQ, &n->tx_elem) != 1)
        return -1;
    len = n->tx_elem.out_len;
    if (len < HDR_LEN) {
        warn_once(n, "shorter than the 12-byte virtio-net header", len);
        len = 0;
    } else if (len > HDR_LEN + NET_MAX_FRAME) {
        warn_once(n, "frame longer than 65550 bytes", len);
        len = 0;
    } else if (len == HDR_LEN) {
        len = 0; /* an empty frame: nothing to send */
    } else {
        virtq_elem_read(&n->tx_elem, 0, n->tx_buf, len);
    }
    virtio_push(d, TXQ, &n->tx_elem, 0);
    return (int64_t)len;
}

/*
 * Waits on cond, dev.lock held, until rl lets a frame of len bytes pass and
 * returns true; false if the device stops running or goes away meanwhile
 * (the frame is then dropped, as a stopped NIC drops it). Counts a frame
 * held back once in *count.
 */
static bool throttle(struct net *n, struct rate_limiter *rl, pthread_cond_t *cond, uint64_t len,
                     uint64_t *count)
{
    int64_t wait;
    bool counted = false;

    while ((wait = rate_limiter_take(rl, 1, len, clock_now_ns()))) {
        /* At most a second at a time: the limit may change meanwhile. */
        struct timespec t = clock_mono_after_ns(wait < 1000000000 ? wait : 1000000000);

        if (!virtio_running(&n->dev) || n->quit)
            return false;
        if (!counted)
            (*count)++;
        counted = true;
        pthread_cond_timedwait(cond, &n->dev.lock, &t);
    }
    return !n->quit;
}

static void *tx_thread(void *arg)
{
    struct net *n = arg;
    struct virtio_dev *d = &n->dev;

    pthread_mutex_lock(&d->lock);
    for (;;) {
        int64_t len;

        while (!n->kicked && !n->quit)
            pthread_cond_wait(&n->kick, &d->lock);
        if (n->quit)
            break;
        n->kicked = false;
        while (!n->quit && (len = tx_pop(n)) >= 0) {
            if (!len || !throttle(n, &n->tx_rl, &n->kick, (uint64_t)len - HDR_LEN,
                                  &n->metrics.tx_throttled))
                continue;
            n->metrics.tx_packets++;
            n->metrics.tx_bytes += (uint64_t)len - HDR_LEN;
            pthread_mutex_unlock(&d->lock);
            n->be->send(n->be, n->tx_buf, (size_t)len - HDR_LEN);
            pthread_mutex_lock(&d->lock);
        }
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

/* net_rx_fn: one frame into one receive chain (no MRG_RXBUF: each buffer
 * Linux posts holds a whole frame). The guest negotiated no receive
 * offloads, so its header says nothing but num_buffers. */
static int64_t rx(void *opaque, const uint8_t *frame, size_t len)
{
    struct net *n = opaque;
    struct virtio_dev *d = &n->dev;
    uint8_t hdr[HDR_LEN] = {0};
    uint16_t one = 1;
    int64_t wait;

    if (!len || len > NET_MAX_FRAME)
        return 0;
    memcpy(hdr + 10, &one, 2); /* num_buffers */
    pthread_mutex_lock(&d->lock);
    if (!virtio_running(d) || n->quit) {
        n->rx_counted = n->rx_paid = false;
        pthread_mutex_unlock(&d->lock);
        return 0; /* a stopped NIC drops it */
    }
    if (!n->rx_paid) {
        wait = rate_limiter_take(&n->rx_rl, 1, len, clock_now_ns());
        if (wait) {
            if (!n->rx_counted)
                n->metrics.rx_throttled++;
            n->rx_counted = true;
            pthread_mutex_unlock(&d->lock);
            return wait;
        }
        n->rx_paid = true;
    }
    if (virtio_pop(d, RXQ, &n->rx_elem) != 1) {
        pthread_mutex_unlock(&d->lock);
        return NET_RX_LATER;
    }
    n->rx_counted = n->rx_paid = false;
    if (n->rx_elem.in_len < HDR_LEN + len) {
        /* Too small for the frame: the driver sees a short buffer and
         * counts a length error, as for a truncated frame. */
        virtio_push(d, RXQ, &n->rx_elem, 0);
    } else {
        virtq_elem_write(&n->rx_elem, 0, hdr, HDR_LEN);
        virtq_elem_write(&n->rx_elem, HDR_LEN, frame, len);
        virtio_push(d, RXQ, &n->rx_elem, (uint32_t)(HDR_LEN + len));
        n->metrics.rx_packets++;
        n->metrics.rx_bytes += len;
    }
    pthread_mutex_unlock(&d->lock);
    return 0;
}

static void net_notify(struct virtio_dev *d, unsigned q)
{
    struct net *n = (struct net *)d;

    if (q == RXQ) {
        if (n->be)
            n->be->resume(n->be);
        return;
    }
    n->kicked = true;
    pthread_cond_signal(&n->kick);
}

static void net_destroy(struct virtio_dev *d)
{
    struct net *n = (struct net *)d;

    /* The transmit thread first, as it calls the backend's send(); a
     * frame it is sending gets there, the rest of the ring does not. rx()
     * drops what comes once quit is set. Then the backend, which calls
     * rx() until it is gone. */
    pthread_mutex_lock(&d->lock);
    n->quit = true;
    pthread_cond_signal(&n->kick);
    pthread_mutex_unlock(&d->lock);
    if (n->started)
        pthread_join(n->thread, NULL);
    if (n->be)
        n->be->destroy(n->be);
    pthread_cond_destroy(&n->kick);
    virtio_dev_fini(d);
    free(n);
}

static const struct virtio_dev_ops net_ops = {
    .name = "virtio-net",
    .device_id = 1,
    .notify = net_notify,
    .destroy = net_destroy,
};

bool virtio_is_net(const struct virtio_dev *d)
{
    return d->ops == &net_ops;
}

void virtio_net_set_rate_limiters(struct virtio_dev *d, const struct rate_limiter_cfg *rx,
                                  const struct rate_limiter_cfg *tx)
{
    struct net *n = (struct net *)d;
    int64_t now = clock_now_ns();

    pthread_mutex_lock(&d->lock);
    rate_limiter_update(&n->rx_rl, rx, now);
    rate_limiter_update(&n->tx_rl, tx, now);
    pthread_cond_broadcast(&n->kick);
    pthread_mutex_unlock(&d->lock);
    if (n->be)
        n->be->resume(n->be);
}

void virtio_net_take_metrics(struct virtio_dev *d, struct virtio_net_metrics *m)
{
    struct net *n = (struct net *)d;
    struct virtio_net_metrics *c = &n->metrics;

    pthread_mutex_lock(&d->lock);
    m->rx_packets += c->rx_packets;
    m->rx_bytes += c->rx_bytes;
    m->tx_packets += c->tx_packets;
    m->tx_bytes += c->tx_bytes;
    m->rx_throttled += c->rx_throttled;
    m->tx_throttled += c->tx_throttled;
    *c = (struct virtio_net_metrics){0};
    pthread_mutex_unlock(&d->lock);
}

struct virtio_dev *virtio_net_create(struct vm *vm, const struct vm_net *cfg)
{
    struct net *n = calloc(1, sizeof(*n));
    uint64_t features = 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_STATUS;
    pthread_condattr_t mono;
    int err;

    if (!n) {
        log_err("--net: out of memory");
        return NULL;
    }
    /* Timed waits (the transmit rate limiter) on the monotonic clock. */
    pthread_condattr_init(&mono);
    pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
    pthread_cond_init(&n->kick, &mono);
    pthread_condattr_destroy(&mono);
    rate_limiter_init(&n->rx_rl, &cfg->rx_rl, clock_now_ns());
    rate_limiter_init(&n->tx_rl, &cfg->tx_rl, clock_now_ns());
    memcpy(n->config.mac, cfg->mac, sizeof(n->config.mac));
    n->config.status = VIRTIO_NET_S_LINK_UP;
    err = virtio_dev_init(&n->dev, &net_ops, vm, features, 2, &n->config, sizeof(n->config));
    if (err) {
        log_err("--net: %s", strerror(-err));
        pthread_cond_destroy(&n->kick);
        free(n);
        return NULL;
    }
    err = thread_start(&n->thread, "virtio-net tx", SECCOMP_IO, tx_thread, n);
    if (err) {
        log_err("--net: cannot start the transmit thread: %s", strerror(-err));
        goto fail;
    }
    n->started = true;
    n->be = cfg->mode == NET_TAP ? net_tap_create(cfg->ifname, vm->loop, rx, n)
                                 : net_slirp_create(cfg, vm->loop, rx, n);
    if (!n->be)
        goto fail;
    if (n->be->vnet_hdr)
        n->dev.host_features |= 1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_HOST_TSO4 |
                                1ULL << VIRTIO_NET_F_HOST_TSO6;
    return &n->dev;
fail:
    net_destroy(&n->dev);
    return NULL;
}
