/*
 * The TAP backend: frames go through /dev/net/tun to an existing TAP
 * interface of the host, behind a 12-byte virtio_net_hdr (IFF_VNET_HDR
 * and TUNSETVNETHDRSZ): the kernel checks it and does the checksums and
 * segmentation the guest left to the device. The host sends whole,
 * checksummed frames (no TUNSETOFFLOAD), so receive needs no offloads.
 * A thread reads the interface; writes come from virtio-net's transmit
 * thread and never block (O_NONBLOCK: a full queue drops the frame).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "net/net.h"
#include "util/log.h"
#include "util/thread.h"

struct tap {
    struct net_backend be; /* first */
    int fd, quit_fd;
    const char *ifname;
    net_rx_fn *rx;
    void *opaque;
    pthread_t thread;
    bool started;
    uint8_t buf[NET_HDR_LEN + NET_MAX_FRAME];
};

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

static void *rx_thread(void *arg)
{
    struct tap *t = arg;
    struct pollfd p[2] = {{.fd = t->fd, .events = POLLIN}, {.fd = t->quit_fd, .events = POLLIN}};

    for (;;) {
        ssize_t len;

        if (poll(p, 2, -1) < 0 && errno != EINTR)
            break;
        if (p[1].revents)
            return NULL;
        while ((len = read(t->fd, t->buf, sizeof(t->buf))) > NET_HDR_LEN)
            t->rx(t->opaque, t->buf + NET_HDR_LEN, (size_t)len - NET_HDR_LEN);
        if (len < 0 && errno != EAGAIN && errno != EINTR)
            break;
    }
    log_err("--net tap=%s: reading the interface failed: %s; the guest receives no more", t->ifname,
            strerror(errno));
    return NULL;
}

static void tap_destroy(struct net_backend *be)
{
    struct tap *t = (struct tap *)be;

    if (t->started) {
        eventfd_write(t->quit_fd, 1);
        pthread_join(t->thread, NULL);
    }
    if (t->fd >= 0)
        close(t->fd);
    if (t->quit_fd >= 0)
        close(t->quit_fd);
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

struct net_backend *net_tap_create(const char *ifname, net_rx_fn *rx, void *opaque)
{
    struct tap *t = calloc(1, sizeof(*t));
    int err;

    if (!t) {
        log_err("--net tap=%s: out of memory", ifname);
        return NULL;
    }
    t->be = (struct net_backend){.vnet_hdr = true, .send = tap_send, .destroy = tap_destroy};
    t->fd = -1;
    t->ifname = ifname;
    t->rx = rx;
    t->opaque = opaque;
    t->quit_fd = eventfd(0, EFD_CLOEXEC);
    if (t->quit_fd < 0) {
        log_err("--net tap=%s: eventfd: %s", ifname, strerror(errno));
        goto fail;
    }
    if (attach(t, ifname))
        goto fail;
    err = thread_start(&t->thread, "tap rx", SECCOMP_IO, rx_thread, t);
    if (err) {
        log_err("--net tap=%s: cannot start its thread: %s", ifname, strerror(-err));
        goto fail;
    }
    t->started = true;
    return &t->be;
fail:
    tap_destroy(&t->be);
    return NULL;
}
