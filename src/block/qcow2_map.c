/*
 * qcow2 guest clusters (the spec, "Cluster mapping"): the L1 table, L2
 * tables allocated as writes need them, reads of normal, zero, compressed
 * (zlib, raw deflate) and unallocated clusters (from the backing file, or
 * zeros), writes that allocate clusters, and discards.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"

/* A fresh L2 table for L1 index l1i: made durable (refcount, then the
 * zeroed table) before the L1 entry that points at it is written. */
static int new_l2(struct qcow2 *q, uint64_t l1i, struct qcache_ent **e)
{
    uint64_t off, be;
    int err = qcow2_alloc(q, &off);

    if (!err)
        err = qcache_get(q, &q->l2c, off, true, e);
    if (!err)
        err = qcow2_sync_refs(q);
    if (!err)
        err = block_write_full(q->fd, (*e)->data, q->cs, off);
    if (err)
        return err;
    if (fdatasync(q->fd))
        return -EIO;
    be = htobe64(off | QCOW_OFLAG_COPIED);
    if ((err = block_write_full(q->fd, &be, sizeof(be), q->l1_off + l1i * 8)))
        return err;
    q->l1[l1i] = off | QCOW_OFLAG_COPIED;
    return 0;
}

/* The L2 table holding guest cluster vc's entry, in *e (NULL when it has
 * none and !alloc); the entry's index in it in *i. */
static int l2_slot(struct qcow2 *q, uint64_t vc, bool alloc, struct qcache_ent **e, uint64_t *i)
{
    unsigned l2_bits = q->cluster_bits - 3;
    uint64_t l1i = vc >> l2_bits, off;

    *e = NULL;
    *i = vc & ((1ULL << l2_bits) - 1);
    /* Open checked that the L1 table covers the virtual size. */
    off = q->l1[l1i] & QCOW_OFFSET_MASK;
    if (!off)
        return alloc ? new_l2(q, l1i, e) : 0;
    if (!qcow2_cluster_ok(q, off))
        return qcow2_corrupt(q, "L2 table", off);
    return qcache_get(q, &q->l2c, off, false, e);
}

/* The spec, "Compressed Clusters Descriptor": where the compressed bytes
 * of entry e lie, from the 512-byte sector holding *off on. */
static void compressed_range(const struct qcow2 *q, uint64_t e, uint64_t *off, uint64_t *len)
{
    unsigned x = 62 - (q->cluster_bits - 8);
    uint64_t sectors = ((e >> x) & ((1ULL << (q->cluster_bits - 8)) - 1)) + 1;

    *off = e & ((1ULL << x) - 1);
    *len = sectors * 512 - (*off & 511);
}

/* Inflates the compressed cluster of entry e into q->zout. */
static int decompress(struct qcow2 *q, uint64_t e)
{
    uint64_t off, len;
    int err, r;

    if (e == q->zlast)
        return 0;
    q->zlast = 0;
    if ((!q->zin && !(q->zin = malloc(2 * q->cs))) || (!q->zout && !(q->zout = malloc(q->cs))))
        return -ENOMEM;
    compressed_range(q, e, &off, &len);
    if (off < q->cs || off >= q->end)
        return qcow2_corrupt(q, "compressed cluster", off);
    if ((err = block_read_full(q->fd, q->zin, len, off)))
        return err;
    if (!q->z_ready) {
        /* Raw deflate (QEMU writes it with a 4 KiB window; any decodes). */
        if (inflateInit2(&q->z, -15) != Z_OK)
            return -ENOMEM;
        q->z_ready = true;
    } else {
        inflateReset(&q->z);
    }
    q->z.next_in = q->zin;
    q->z.avail_in = (uInt)len;
    q->z.next_out = q->zout;
    q->z.avail_out = (uInt)q->cs;
    r = inflate(&q->z, Z_FINISH);
    if (r != Z_STREAM_END && !((r == Z_OK || r == Z_BUF_ERROR) && q->z.avail_out == 0))
        return qcow2_corrupt(q, "compressed cluster", off);
    memset(q->zout + (q->cs - q->z.avail_out), 0, q->z.avail_out);
    q->zlast = e;
    return 0;
}

static bool zero_flag(const struct qcow2 *q, uint64_t e)
{
    return q->version >= 3 && !(e & QCOW_OFLAG_COMPRESSED) && (e & QCOW_OFLAG_ZERO);
}

/* n bytes from byte in of guest cluster vc, whose L2 entry is e. */
static int read_part(struct qcow2 *q, uint64_t e, uint64_t vc, uint8_t *buf, uint64_t n,
                     uint64_t in)
{
    uint64_t host = e & QCOW_OFFSET_MASK, vo = (vc << q->cluster_bits) + in, m;
    int err;

    if (e & QCOW_OFLAG_COMPRESSED) {
        if ((err = decompress(q, e)))
            return err;
        memcpy(buf, q->zout + in, n);
    } else if (zero_flag(q, e) || (!host && !q->backing)) {
        memset(buf, 0, n);
    } else if (host) {
        if (!qcow2_cluster_ok(q, host))
            return qcow2_corrupt(q, "data cluster", host);
        return block_read_full(q->fd, buf, n, host + in);
    } else {
        /* The backing file may be shorter than this image. */
        m = vo >= block_size(q->backing) ? 0 : block_size(q->backing) - vo;
        m = m < n ? m : n;
        if (m && (err = block_pread(q->backing, buf, m, vo)))
            return err;
        memset(buf + m, 0, n - m);
    }
    return 0;
}

int qcow2_read(struct block *b, void *buf, uint64_t len, uint64_t off)
{
    struct qcow2 *q = (struct qcow2 *)b;

    while (len) {
        uint64_t vc = off >> q->cluster_bits, in = off & (q->cs - 1), i, e = 0;
        uint64_t n = q->cs - in < len ? q->cs - in : len;
        struct qcache_ent *t;
        int err = l2_slot(q, vc, false, &t, &i);

        if (!err && t)
            e = be64toh(((uint64_t *)t->data)[i]);
        if (err || (err = read_part(q, e, vc, buf, n, in)))
            return err;
        buf = (uint8_t *)buf + n;
        off += n;
        len -= n;
    }
    return 0;
}

/* Queues the release of what entry e points at (nothing, a cluster or
 * the sectors of a compressed one). */
static int release(struct qcow2 *q, uint64_t e)
{
    uint64_t off, len;

    if (e & QCOW_OFLAG_COMPRESSED) {
        compressed_range(q, e, &off, &len);
        return qcow2_free_later(q, off & ~511ULL, len + (off & 511));
    }
    off = e & QCOW_OFFSET_MASK;
    return off ? qcow2_free_later(q, off, q->cs) : 0;
}

int qcow2_write(struct block *b, const void *buf, uint64_t len, uint64_t off)
{
    struct qcow2 *q = (struct qcow2 *)b;

    while (len) {
        uint64_t vc = off >> q->cluster_bits, in = off & (q->cs - 1), i, e, host, fresh;
        uint64_t n = q->cs - in < len ? q->cs - in : len;
        struct qcache_ent *t;
        uint64_t *slot;
        const uint8_t *src = buf;
        int err = l2_slot(q, vc, true, &t, &i);

        if (err)
            return err;
        slot = (uint64_t *)t->data + i;
        e = be64toh(*slot);
        host = e & QCOW_OFFSET_MASK;
        if (host && !(e & QCOW_OFLAG_COMPRESSED) && !zero_flag(q, e)) {
            if (!qcow2_cluster_ok(q, host))
                return qcow2_corrupt(q, "data cluster", host);
            err = block_write_full(q->fd, buf, n, host + in);
        } else {
            /* A new cluster, whole: what the guest saw around the write. */
            if (n < q->cs) {
                if (!q->cbuf && !(q->cbuf = malloc(q->cs)))
                    return -ENOMEM;
                if ((err = read_part(q, e, vc, q->cbuf, q->cs, 0)))
                    return err;
                memcpy(q->cbuf + in, buf, n);
                src = q->cbuf;
            }
            if ((err = qcow2_alloc(q, &fresh)) ||
                (err = block_write_full(q->fd, src, q->cs, fresh)))
                return err;
            /* The refcount is in the cache, written before this table. */
            *slot = htobe64(fresh | QCOW_OFLAG_COPIED);
            t->dirty = true;
            err = release(q, e);
        }
        if (err)
            return err;
        buf = (const uint8_t *)buf + n;
        off += n;
        len -= n;
    }
    return 0;
}

int qcow2_discard(struct block *b, uint64_t off, uint64_t len)
{
    struct qcow2 *q = (struct qcow2 *)b;
    uint64_t first = (off + q->cs - 1) >> q->cluster_bits, end = off + len, last;
    /* With a backing file, an empty entry would show its data again. */
    uint64_t empty = q->backing && q->version >= 3 ? QCOW_OFLAG_ZERO : 0;

    /* Whole clusters only; the image's last one may end at its size. */
    last = end == b->size ? (end + q->cs - 1) >> q->cluster_bits : end >> q->cluster_bits;
    for (uint64_t vc = first; vc < last; vc++) {
        struct qcache_ent *t;
        uint64_t i, e, *slot;
        int err = l2_slot(q, vc, false, &t, &i);

        if (err)
            return err;
        if (!t)
            continue;
        slot = (uint64_t *)t->data + i;
        e = be64toh(*slot);
        if (!(e & QCOW_OFLAG_COMPRESSED) && !(e & QCOW_OFFSET_MASK))
            continue;
        *slot = htobe64(empty);
        t->dirty = true;
        if ((err = release(q, e)))
            return err;
    }
    return 0;
}
