/*
 * Network backends: where the frames of a virtio-net device go. A backend
 * moves whole Ethernet frames (no virtio header, no FCS) between the device
 * and the host: a TAP interface (tap.c) or libslirp's user-mode stack
 * (slirp.c). Receive never blocks: a frame the device cannot take yet
 * stays with the back end, which reads no more from the host meanwhile
 * (TAP: the kernel's queue holds what follows) or queues what its stack
 * hands it (slirp), and offers it again when the device says it may
 * (resume) or the wait the device named is over. Both back ends receive
 * on the machine's event loop (util/loop.h); create and destroy them on
 * its thread. No vCPU ever waits on host I/O.
 */
#ifndef VX86_NET_NET_H
#define VX86_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm/vm.h"

/* The largest frame either way: 64 KiB of IP packet behind an Ethernet
 * header and a VLAN tag (what Linux's tun and virtio-net accept). */
#define NET_MAX_FRAME 65550

/* struct virtio_net_hdr with num_buffers (VIRTIO 1.2 §5.1.6). */
#define NET_HDR_LEN 12

/*
 * Offers one received frame (without a header) to the device, with none
 * of the device's locks held; never waits. Returns 0 when the device took
 * the frame (or dropped it for good: a stopped device, a frame too long),
 * NET_RX_LATER when it has no receive buffer (the back end offers the frame
 * again after its resume op), or how many nanoseconds the device's rate
 * limiter holds the frame back (offer it again then, or after resume).
 */
#define NET_RX_LATER (-1)
typedef int64_t net_rx_fn(void *opaque, const uint8_t *frame, size_t len);

struct net_backend {
    /* send() does what the guest's virtio_net_hdr asks (checksum,
     * segmentation), so the device may offer those offloads; false: the
     * header must ask for nothing. Constant. */
    bool vnet_hdr;
    /* Sends the frame of len bytes (1 to NET_MAX_FRAME) that follows the
     * NET_HDR_LEN-byte header at hdr to the network.
     * Called from one thread at a time (virtio-net's transmit thread),
     * never blocks for long. Returns 0 or -errno; the frame is then lost,
     * as on a real wire. */
    int (*send)(struct net_backend *be, const uint8_t *hdr, size_t len);
    /* The device may take frames again (the guest posted receive
     * buffers, a rate limiter changed). Any thread, any lock held. */
    void (*resume)(struct net_backend *be);
    /* Stops the backend (no rx call runs once it returns), frees it. The
     * loop thread's. */
    void (*destroy)(struct net_backend *be);
};

struct loop;

/*
 * Attaches to the existing TAP interface ifname, with a virtio_net_hdr on
 * every frame (IFF_VNET_HDR): the host kernel checksums and segments the
 * guest's frames, so the guest can hand it 64 KiB TCP segments. Receives
 * on loop (util/loop.h; called on its thread). Returns the backend or NULL
 * after printing one line (no such interface, not a TAP, in use,
 * permission denied).
 */
struct net_backend *net_tap_create(const char *ifname, struct loop *loop, net_rx_fn *rx,
                                   void *opaque);

/*
 * User-mode networking as QEMU's -netdev user: network 10.0.2.0/24, the
 * guest 10.0.2.15 (DHCP), the host 10.0.2.2 (its loopback too), DNS at
 * 10.0.2.3, cfg's hostfwd rules; libslirp's sockets and timers on loop.
 * Returns the backend or NULL after printing one line.
 */
struct net_backend *net_slirp_create(const struct vm_net *cfg, struct loop *loop, net_rx_fn *rx,
                                     void *opaque);

#endif
