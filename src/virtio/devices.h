/*
 * The virtio devices vx86 offers: virtio-blk over a raw image (blk.c),
 * virtio-console (console.c), virtio-rng (rng.c) and virtio-net (net.c). Each create function
 * returns the device, not yet on a transport, or NULL after printing one
 * line; ops->destroy frees it.
 */
#ifndef VX86_VIRTIO_DEVICES_H
#define VX86_VIRTIO_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio.h"

struct vm;
struct vm_net;
struct rate_limiter_cfg;
struct vm_disk;

/* The image of disk (block_open's options; disk->path must outlive the
 * device); ro: offered with VIRTIO_BLK_F_RO, else with
 * VIRTIO_BLK_F_DISCARD. Requests run on the disk's own I/O thread. */
struct virtio_dev *virtio_blk_create(struct vm *vm, const struct vm_disk *disk);

/* True for a device virtio_blk_create made. */
bool virtio_is_blk(const struct virtio_dev *d);

/*
 * Puts the image at path (checked as virtio_blk_create checks it, opened
 * the same way, read-only or not) behind disk d in place of its own, once
 * the request in flight is done, and tells the driver its capacity may have
 * changed (a config interrupt): the control plane's PATCH /drives. path
 * must outlive d. Any thread but d's. Returns 0, or -errno after printing
 * one line (d keeps its image).
 */
int virtio_blk_update(struct virtio_dev *d, const char *path);

/*
 * The control plane's rate limiter for disk d (util/token_bucket.h): each
 * request takes one op and its data's bytes (reads and writes; none for
 * the others), and waits on the disk's I/O thread until both buckets let
 * it pass. A bucket whose configuration changes starts full. Any thread
 * but d's.
 */
void virtio_blk_set_rate_limiter(struct virtio_dev *d, const struct rate_limiter_cfg *cfg);

/* Firecracker's block metrics (its names): requests served, bytes moved,
 * and requests the rate limiter held back (each counted once, however long
 * it waited). */
struct virtio_blk_metrics {
    uint64_t read_count, write_count, flush_count, read_bytes, write_bytes, throttled;
};

/* Adds d's counts since the last call to *m and starts them again. Any
 * thread but d's. */
void virtio_blk_take_metrics(struct virtio_dev *d, struct virtio_blk_metrics *m);

/* hvc0: what the guest writes goes to the console (console_put); what the
 * user types comes in through virtio_console_input (virtio/console.h). The
 * device sets vm->hvc to itself, and destroy clears it. */
struct virtio_dev *virtio_console_create(struct vm *vm);

/* Entropy from the host's getrandom(). */
struct virtio_dev *virtio_rng_create(struct vm *vm);

/* A NIC on cfg's backend (tap or user), MAC cfg->mac, rate limiters
 * cfg->rx_rl and cfg->tx_rl. Frames are sent on the device's own thread and
 * received on the backend's (net/net.h). */
struct virtio_dev *virtio_net_create(struct vm *vm, const struct vm_net *cfg);

/* True for a device virtio_net_create made. */
bool virtio_is_net(const struct virtio_dev *d);

/*
 * The control plane's rate limiters for NIC d: rx for frames to the guest,
 * tx for frames from it; each frame takes one op and its length in bytes
 * (without the virtio-net header). A frame the limiter holds back waits:
 * transmit stops taking the guest's buffers, receive stops taking the
 * backend's frames (the host's socket or TAP queue holds the rest) until
 * the buckets refill. A bucket whose configuration changes starts full.
 * Any thread but d's and its backend's.
 */
void virtio_net_set_rate_limiters(struct virtio_dev *d, const struct rate_limiter_cfg *rx,
                                  const struct rate_limiter_cfg *tx);

/* Firecracker's net metrics (its names): frames and their bytes (without
 * the virtio-net header) each way, and frames the rate limiters held back. */
struct virtio_net_metrics {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes, rx_throttled, tx_throttled;
};

/* Adds d's counts since the last call to *m and starts them again. Any
 * thread but d's and its backend's. */
void virtio_net_take_metrics(struct virtio_dev *d, struct virtio_net_metrics *m);

/* Creates the console, the rng, vm->cfg's disks and NIC on its transport.
 * Returns 0 or -errno after printing one line. */
int virtio_devices_create(struct vm *vm);

/* Safe after a failed or no virtio_devices_create(). */
void virtio_devices_destroy(struct vm *vm);

#endif
