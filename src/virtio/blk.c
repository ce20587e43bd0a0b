/*
 * virtio-blk (VIRTIO 1.2 §5.2) over a disk image (block/block.h: raw or
 * qcow2). Requests are served on the disk's own I/O thread, so a slow host
 * disk never stalls a vCPU; a FLUSH completes only once the image's writes
 * are durable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/token_bucket.h"
#include "virtio/devices.h"
#include "vm/vm.h"

/* §5.2.3 feature bits, §5.2.6 request types and status values. */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX  2
#define VIRTIO_BLK_F_RO       5
#define VIRTIO_BLK_F_FLUSH    9
#define VIRTIO_BLK_F_DISCARD  13

#define VIRTIO_BLK_T_IN     0
#define VIRTIO_BLK_T_OUT    1
#define VIRTIO_BLK_T_FLUSH  4
#define VIRTIO_BLK_T_GET_ID 8
/* Its data: struct discard_range, one or more. */
#define VIRTIO_BLK_T_DISCARD 11

#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define SECTOR       512
#define HDR_LEN      16
#define ID_LEN       20 /* VIRTIO_BLK_ID_BYTES */
#define SIZE_MAX_SEG (1u << 20)
/* A DISCARD's ranges and the sectors of each: a few GiB at a time. */
#define DISCARD_SEGS    32
#define DISCARD_SECTORS (1u << 22)

/* §5.2.4, up to discard_sector_alignment; little-endian like the host. */
struct blk_config {
    uint64_t capacity; /* sectors */
    uint32_t size_max;
    uint32_t seg_max;
    uint8_t geometry[4];
    uint32_t blk_size;
    uint8_t topology[8];
    uint8_t writeback, unused0;
    uint16_t num_queues;
    uint32_t max_discard_sectors;
    uint32_t max_discard_seg;
    uint32_t discard_sector_alignment; /* sectors */
};

/* §5.2.6: each range of a DISCARD. */
struct discard_range {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};

struct blk {
    struct virtio_dev dev; /* first: the transport's handle */
    struct blk_config config;
    struct vm_disk disk;
    struct block *img;
    char id[ID_LEN];

    /* Under dev.lock: */
    pthread_t thread;
    bool started, kicked, busy, quit;
    pthread_cond_t kick, idle;
    struct virtq_elem elem; /* the request in flight (busy) */
    struct rate_limiter rl;
    struct virtio_blk_metrics metrics; /* under dev.lock, since the last take */
    uint64_t resets;                   /* driver resets, so that a held-back request knows */
};

/* Moves len bytes between the file at pos and the segments of e from
 * index first on, skipping skip bytes of them. */
static int transfer(struct blk *b, const struct virtq_elem *e, unsigned first, unsigned last,
                    uint64_t skip, uint64_t len, uint64_t pos, bool to_file)
{
    for (unsigned i = first; i < last && len; i++) {
        const struct virtq_seg *s = &e->seg[i];
        uint64_t n;

        if (skip >= s->len) {
            skip -= s->len;
            continue;
        }
        n = s->len - skip < len ? s->len - skip : len;
        if (to_file ? block_pwrite(b->img, s->p + skip, n, pos)
                    : block_pread(b->img, s->p + skip, n, pos))
            return -EIO;
        pos += n;
        len -= n;
        skip = 0;
    }
    return len ? -EIO : 0;
}

/* The request's data range in bytes, if it is whole sectors inside the disk. */
static bool in_range(const struct blk *b, uint64_t sector, uint64_t len)
{
    return len % SECTOR == 0 && sector <= b->config.capacity &&
           len / SECTOR <= b->config.capacity - sector;
}

/* Discards each range of the request's data (§5.2.6.2: no flags for a
 * DISCARD); the status of the request. */
static uint8_t discard(struct blk *b, const struct virtq_elem *e, uint64_t len)
{
    struct discard_range r;

    if (b->disk.ro || len % sizeof(r) || len / sizeof(r) > DISCARD_SEGS)
        return VIRTIO_BLK_S_IOERR;
    for (uint64_t at = HDR_LEN; at < HDR_LEN + len; at += sizeof(r)) {
        if (virtq_elem_read(e, at, &r, sizeof(r)))
            return VIRTIO_BLK_S_IOERR;
        if (r.flags)
            return VIRTIO_BLK_S_UNSUPP;
        if (r.num_sectors > DISCARD_SECTORS ||
            !in_range(b, r.sector, (uint64_t)r.num_sectors * SECTOR) ||
            block_discard(b->img, r.sector * SECTOR, (uint64_t)r.num_sectors * SECTOR))
            return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
}

/* Serves one request; returns the bytes of its in buffers to count as
 * written (all of them: the status byte is the last), or -1 if it has no
 * room for a header and a status byte. No lock held. */
static int64_t serve(struct blk *b, const struct virtq_elem *e)
{
    struct {
        uint32_t type, reserved;
        uint64_t sector;
    } h;
    uint64_t out_data, in_data;
    uint8_t status = VIRTIO_BLK_S_OK;

    if (e->in_len < 1 || virtq_elem_read(e, 0, &h, HDR_LEN))
        return -1;
    out_data = e->out_len - HDR_LEN;
    in_data = e->in_len - 1;
    switch (h.type) {
    case VIRTIO_BLK_T_IN:
        if (!in_range(b, h.sector, in_data) ||
            transfer(b, e, e->nr_out, e->nr_out + e->nr_in, 0, in_data, h.sector * SECTOR, false))
            status = VIRTIO_BLK_S_IOERR;
        break;
    case VIRTIO_BLK_T_OUT:
        if (b->disk.ro || !in_range(b, h.sector, out_data) ||
            transfer(b, e, 0, e->nr_out, HDR_LEN, out_data, h.sector * SECTOR, true))
            status = VIRTIO_BLK_S_IOERR;
        break;
    case VIRTIO_BLK_T_FLUSH:
        if (block_flush(b->img))
            status = VIRTIO_BLK_S_IOERR;
        break;
    case VIRTIO_BLK_T_DISCARD:
        status = discard(b, e, out_data);
        break;
    case VIRTIO_BLK_T_GET_ID:
        virtq_elem_write(e, 0, b->id, in_data < ID_LEN ? in_data : ID_LEN);
        break;
    default:
        status = VIRTIO_BLK_S_UNSUPP;
        break;
    }
    virtq_elem_write(e, e->in_len - 1, &status, 1);
    return (int64_t)e->in_len;
}

/* The type of request e, read from its header; false when it has no
 * header or no status byte. */
static bool request_type(const struct virtq_elem *e, uint32_t *type)
{
    return e->in_len >= 1 && e->out_len >= HDR_LEN && !virtq_elem_read(e, 0, type, sizeof(*type));
}

/* The bytes a request moves, for the rate limiter: its data for reads and
 * writes (as Firecracker counts), none for the others. */
static uint64_t data_len(const struct virtq_elem *e)
{
    uint32_t type;

    if (!request_type(e, &type))
        return 0;
    if (type == VIRTIO_BLK_T_IN)
        return e->in_len - 1;
    return type == VIRTIO_BLK_T_OUT ? e->out_len - HDR_LEN : 0;
}
/* Counts request e, served, in b's metrics; dev.lock held. */
static void count(struct blk *b, const struct virtq_elem *e)
{
    uint32_t type;

    if (!request_type(e, &type))
        return;
    if (type == VIRTIO_BLK_T_IN) {
        b->metrics.read_count++;
        b->metrics.read_bytes += e->in_len - 1;
    } else if (type == VIRTIO_BLK_T_OUT) {
        b->metrics.write_count++;
        b->metrics.write_bytes += e->out_len - HDR_LEN;
    } else if (type == VIRTIO_BLK_T_FLUSH) {
        b->metrics.flush_count++;
    }
}

/*
 * Waits until the rate limiter lets b->elem pass, dev.lock held (the wait
 * releases it: vCPUs and the control plane go on). False when the driver
 * reset the device or it is going away meanwhile; the request is then
 * dropped, as a reset drops requests in flight.
 */
static bool throttle(struct blk *b)
{
    uint64_t resets = b->resets;
    bool counted = false;
    int64_t wait;

    while ((wait = rate_limiter_take(&b->rl, 1, data_len(&b->elem), clock_now_ns()))) {
        /* At most a second at a time: the limit may change meanwhile. */
        struct timespec t = clock_mono_after_ns(wait < 1000000000 ? wait : 1000000000);

        if (!counted)
            b->metrics.throttled++;
        counted = true;
        pthread_cond_timedwait(&b->kick, &b->dev.lock, &t);
        if (b->quit || b->resets != resets)
            return false;
    }
    return true;
}

static void *io_thread(void *arg)
{
    struct blk *b = arg;
    struct virtio_dev *d = &b->dev;

    pthread_mutex_lock(&d->lock);
    for (;;) {
        while (!b->kicked && !b->quit)
            pthread_cond_wait(&b->kick, &d->lock);
        if (b->quit)
            break;
        b->kicked = false;
        while (virtio_pop(d, 0, &b->elem) == 1) {
            int64_t len;

            if (!throttle(b))
                break;
            b->busy = true;
            pthread_mutex_unlock(&d->lock);
            len = serve(b, &b->elem);
            pthread_mutex_lock(&d->lock);
            b->busy = false;
            pthread_cond_broadcast(&b->idle);
            if (len < 0) {
                virtio_fail(d, "request without a header or a status byte");
            } else {
                count(b, &b->elem);
                virtio_push(d, 0, &b->elem, (uint32_t)len);
            }
        }
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

static void blk_notify(struct virtio_dev *d, unsigned q)
{
    struct blk *b = (struct blk *)d;

    (void)q;
    b->kicked = true;
    pthread_cond_signal(&b->kick);
}

/* A reset waits for the request in flight; its result is then dropped. */
static void blk_reset(struct virtio_dev *d)
{
    struct blk *b = (struct blk *)d;

    b->resets++;
    pthread_cond_broadcast(&b->kick); /* a request the limiter holds back is dropped */
    while (b->busy)
        pthread_cond_wait(&b->idle, &d->lock);
}

static void blk_destroy(struct virtio_dev *d)
{
    struct blk *b = (struct blk *)d;

    if (b->started) {
        pthread_mutex_lock(&d->lock);
        b->quit = true;
        pthread_cond_signal(&b->kick);
        pthread_mutex_unlock(&d->lock);
        pthread_join(b->thread, NULL);
    }
    block_close(b->img);
    pthread_cond_destroy(&b->kick);
    pthread_cond_destroy(&b->idle);
    virtio_dev_fini(d);
    free(b);
}

static const struct virtio_dev_ops blk_ops = {
    .name = "virtio-blk",
    .device_id = 2,
    .notify = blk_notify,
    .reset = blk_reset,
    .destroy = blk_destroy,
};

/* The image of disk, read-only when the disk is; *sectors its size. */
static int open_image(const struct vm_disk *disk, struct block **img, uint64_t *sectors)
{
    struct block_opts o = {.ro = disk->ro,
                           .format = disk->format,
                           .backing = disk->backing,
                           .snapshot = disk->snapshot};
    int err = block_open(disk->path, &o, img);

    if (!err)
        *sectors = block_size(*img) / SECTOR;
    return err;
}

bool virtio_is_blk(const struct virtio_dev *d)
{
    return d->ops == &blk_ops;
}

void virtio_blk_set_rate_limiter(struct virtio_dev *d, const struct rate_limiter_cfg *cfg)
{
    struct blk *b = (struct blk *)d;

    pthread_mutex_lock(&d->lock);
    rate_limiter_update(&b->rl, cfg, clock_now_ns());
    pthread_cond_broadcast(&b->kick);
    pthread_mutex_unlock(&d->lock);
}

void virtio_blk_take_metrics(struct virtio_dev *d, struct virtio_blk_metrics *m)
{
    struct blk *b = (struct blk *)d;
    struct virtio_blk_metrics *c = &b->metrics;

    pthread_mutex_lock(&d->lock);
    m->read_count += c->read_count;
    m->write_count += c->write_count;
    m->flush_count += c->flush_count;
    m->read_bytes += c->read_bytes;
    m->write_bytes += c->write_bytes;
    m->throttled += c->throttled;
    *c = (struct virtio_blk_metrics){0};
    pthread_mutex_unlock(&d->lock);
}

int virtio_blk_update(struct virtio_dev *d, const char *path)
{
    struct blk *b = (struct blk *)d;
    struct vm_disk disk = b->disk;
    struct block *img;
    uint64_t sectors;
    int err;

    /* The new image is opened as PUT /drives opens one: detected. */
    disk.path = path;
    disk.format = BLOCK_FORMAT_AUTO;
    if ((err = open_image(&disk, &img, &sectors)))
        return err;
    pthread_mutex_lock(&d->lock);
    /* The I/O thread reads b->img and the capacity only while busy, or
     * under the lock. */
    while (b->busy)
        pthread_cond_wait(&b->idle, &d->lock);
    block_close(b->img);
    b->img = img;
    b->disk = disk;
    b->config.capacity = sectors;
    b->config.discard_sector_alignment = (uint32_t)(block_discard_granularity(img) / SECTOR);
    if (virtio_running(d))
        d->interrupt(d, VIRTIO_CONFIG_IRQ); /* §5.2.4: the capacity may have changed */
    pthread_mutex_unlock(&d->lock);
    return 0;
}

struct virtio_dev *virtio_blk_create(struct vm *vm, const struct vm_disk *disk)
{
    struct blk *b = calloc(1, sizeof(*b));
    const char *path = disk->path;
    bool ro = disk->ro;
    uint64_t features = 1ULL << VIRTIO_BLK_F_SIZE_MAX | 1ULL << VIRTIO_BLK_F_SEG_MAX |
                        1ULL << VIRTIO_BLK_F_FLUSH |
                        (ro ? 1ULL << VIRTIO_BLK_F_RO : 1ULL << VIRTIO_BLK_F_DISCARD);
    const char *name;
    pthread_condattr_t mono;
    int err;

    if (!b) {
        log_err("--disk %s: out of memory", path);
        return NULL;
    }
    b->disk = *disk;
    rate_limiter_init(&b->rl, &(struct rate_limiter_cfg){0}, 0);
    /* The rate limiter's waits are on the monotonic clock. */
    pthread_condattr_init(&mono);
    pthread_condattr_setclock(&mono, CLOCK_MONOTONIC);
    pthread_cond_init(&b->kick, &mono);
    pthread_condattr_destroy(&mono);
    pthread_cond_init(&b->idle, NULL);
    /* A chain holds the header and the status byte besides the data. */
    b->config.seg_max = VIRTQ_MAX_SEGS - 2;
    b->config.size_max = SIZE_MAX_SEG;
    b->config.max_discard_sectors = DISCARD_SECTORS;
    b->config.max_discard_seg = DISCARD_SEGS;
    err = virtio_dev_init(&b->dev, &blk_ops, vm, features, 1, &b->config, sizeof(b->config));
    if (err) {
        log_err("--disk %s: %s", path, strerror(-err));
        free(b);
        return NULL;
    }
    if (open_image(disk, &b->img, &b->config.capacity))
        goto fail;
    b->config.discard_sector_alignment = (uint32_t)(block_discard_granularity(b->img) / SECTOR);
    /* GET_ID: the disk's id or the image's file name, NUL-padded, cut at
     * 20 bytes (§5.2.6). */
    name = disk->id ? disk->id : strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    memcpy(b->id, name, strlen(name) < sizeof(b->id) ? strlen(name) : sizeof(b->id));
    err = thread_start(&b->thread, "virtio-blk", SECCOMP_IO, io_thread, b);
    if (err) {
        log_err("--disk %s: cannot start its I/O thread: %s", path, strerror(-err));
        goto fail;
    }
    b->started = true;
    return &b->dev;
fail:
    blk_destroy(&b->dev);
    return NULL;
}
