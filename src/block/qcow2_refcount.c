/*
 * qcow2 refcounts (the spec, "Host cluster management"): 16-bit entries in
 * refcount blocks that the refcount table points at; allocation of host
 * clusters; frees deferred until no durable L2 entry points at them; the
 * L2 and refcount block caches and their write-back order (qcow2.h).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "util/log.h"

/* Frees kept before a flush is forced, to bound their memory. */
#define MAX_FREES 4096

int qcache_init(struct qcache *c, unsigned n)
{
    c->e = calloc(n, sizeof(*c->e));
    c->n = c->e ? n : 0;
    return c->e ? 0 : -ENOMEM;
}

void qcache_fini(struct qcache *c)
{
    for (unsigned i = 0; i < c->n; i++)
        free(c->e[i].data);
    free(c->e);
    c->e = NULL;
    c->n = 0;
}

static int write_ent(struct qcow2 *q, struct qcache *c, struct qcache_ent *e)
{
    int err = c == &q->l2c ? qcow2_sync_refs(q) : 0;

    if (!err)
        err = block_write_full(q->fd, e->data, q->cs, e->off);
    if (err)
        return err;
    e->dirty = false;
    if (c == &q->rbc)
        q->unsynced = true;
    return 0;
}

static int write_dirty(struct qcow2 *q, struct qcache *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        int err = c->e[i].dirty ? write_ent(q, c, &c->e[i]) : 0;

        if (err)
            return err;
    }
    return 0;
}

int qcow2_sync_refs(struct qcow2 *q)
{
    int err = write_dirty(q, &q->rbc);

    if (err)
        return err;
    if (q->unsynced && fdatasync(q->fd))
        return -EIO;
    q->unsynced = false;
    return 0;
}

int qcache_get(struct qcow2 *q, struct qcache *c, uint64_t off, bool fresh, struct qcache_ent **out)
{
    struct qcache_ent *v = &c->e[0];
    int err;

    for (unsigned i = 0; i < c->n; i++) {
        if (c->e[i].off == off) {
            v = &c->e[i];
            if (fresh)
                memset(v->data, 0, q->cs);
            goto hit;
        }
        if (c->e[i].used < v->used)
            v = &c->e[i];
    }
    if (v->dirty && (err = write_ent(q, c, v)))
        return err;
    v->off = 0;
    if (!v->data && !(v->data = malloc(q->cs)))
        return -ENOMEM;
    if (fresh)
        memset(v->data, 0, q->cs);
    else if ((err = block_read_full(q->fd, v->data, q->cs, off)))
        return err;
    v->off = off;
hit:
    v->used = ++c->tick;
    *out = v;
    return 0;
}

/* The refcount block entry of host cluster c: *e NULL if it has none. */
static int refblock(struct qcow2 *q, uint64_t c, struct qcache_ent **e, uint16_t **ref)
{
    uint64_t bi = c >> (q->cluster_bits - 1), off;
    int err;

    *e = NULL;
    if (bi >= q->rt_size || !(off = q->rt[bi] & QCOW_RT_OFFSET_MASK))
        return 0;
    if (!qcow2_cluster_ok(q, off))
        return qcow2_corrupt(q, "refcount block", off);
    if ((err = qcache_get(q, &q->rbc, off, false, e)))
        return err;
    *ref = (uint16_t *)(*e)->data + (c & ((q->cs >> 1) - 1));
    return 0;
}

static int get_ref(struct qcow2 *q, uint64_t c, unsigned *rc)
{
    struct qcache_ent *e;
    uint16_t *ref;
    int err = refblock(q, c, &e, &ref);

    *rc = !err && e ? be16toh(*ref) : 0;
    return err;
}

static int add_ref(struct qcow2 *q, uint64_t c, int delta, unsigned *rc)
{
    struct qcache_ent *e;
    uint16_t *ref;
    int err = refblock(q, c, &e, &ref);
    int v;

    if (err)
        return err;
    if (!e)
        return qcow2_corrupt(q, "cluster without a refcount block", c << q->cluster_bits);
    v = be16toh(*ref) + delta;
    if (v < 0 || v > 0xffff)
        return qcow2_corrupt(q, "refcount out of range", c << q->cluster_bits);
    *ref = htobe16((uint16_t)v);
    e->dirty = true;
    *rc = (unsigned)v;
    return 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* A refcount block for block index bi, placed at the free cluster c that
 * it counts (its own refcount 1). Written and made durable before the
 * refcount table points at it. */
static int new_refblock(struct qcow2 *q, uint64_t c, uint64_t bi)
{
    uint64_t off = c << q->cluster_bits, be = htobe64(off);
    struct qcache_ent *e;
    int err = qcache_get(q, &q->rbc, off, true, &e);

    if (err)
        return err;
    ((uint16_t *)e->data)[c & ((q->cs >> 1) - 1)] = htobe16(1);
    if ((err = block_write_full(q->fd, e->data, q->cs, off)))
        return err;
    if (fdatasync(q->fd))
        return -EIO;
    if ((err = block_write_full(q->fd, &be, sizeof(be), q->rt_off + bi * 8)))
        return err;
    q->rt[bi] = off;
    q->unsynced = true;
    if (off + q->cs > q->end)
        q->end = off + q->cs;
    return 0;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, sizeof(v));
}

/* Whether block index bi lacks a refcount block. */
static bool uncovered(const struct qcow2 *q, uint64_t bi)
{
    return bi >= q->rt_size || !(q->rt[bi] & QCOW_RT_OFFSET_MASK);
}

/*
 * A refcount table of at least need entries (twice the old, at least), at
 * the end of the file, followed by the refcount blocks that its own
 * clusters need. All of it is written and durable before the header points
 * at it (one 12-byte write: offset and size share a sector); the old table
 * is freed at the next flush. A kill before leaves unused clusters only.
 */
static int grow_rt(struct qcow2 *q, uint64_t need)
{
    unsigned cb = q->cluster_bits, bb = cb - 1; /* clusters per refcount block: 2^bb */
    uint64_t entries = need > 2 * q->rt_size ? need : 2 * q->rt_size;
    uint64_t n = (entries * 8 + q->cs - 1) >> cb, a = q->end >> cb, r = 0, *rt, nb = 0;
    uint8_t *blk = NULL, hdr[12];
    unsigned rc;
    int err = 0;

    if (n > (MAX_RT_BYTES >> cb) || a + n > (QCOW_OFFSET_MASK >> cb) / 2)
        return -ENOSPC;
    entries = n << (cb - 3);
    /* r: the new refcount blocks, right after the table, for the blocks
     * of [a, a + n + r) that have none. */
    for (;;) {
        uint64_t want = 0;

        for (uint64_t bi = a >> bb; bi <= (a + n + r - 1) >> bb; bi++)
            want += uncovered(q, bi);
        if (want <= r)
            break;
        r = want;
    }
    if (!(rt = calloc(entries, 8)) || !(blk = calloc(1, q->cs))) {
        free(rt);
        return -ENOMEM;
    }
    for (uint64_t i = 0; i < q->rt_size; i++)
        put_be64((uint8_t *)&rt[i], q->rt[i]);
    for (uint64_t bi = a >> bb; !err && bi <= (a + n + r - 1) >> bb; bi++) {
        uint64_t first = bi << bb, last = first + (1ULL << bb) - 1;

        first = first > a ? first : a;
        last = last < a + n + r - 1 ? last : a + n + r - 1;
        if (!uncovered(q, bi)) {
            for (uint64_t c = first; !err && c <= last; c++)
                err = add_ref(q, c, 1, &rc);
            continue;
        }
        memset(blk, 0, q->cs);
        for (uint64_t c = first; c <= last; c++)
            ((uint16_t *)blk)[c & ((1ULL << bb) - 1)] = htobe16(1);
        put_be64((uint8_t *)&rt[bi], (a + n + nb) << cb);
        err = block_write_full(q->fd, blk, q->cs, (a + n + nb) << cb);
        nb++;
    }
    if (!err)
        err = block_write_full(q->fd, rt, n << cb, a << cb);
    if (!err)
        err = qcow2_sync_refs(q);
    if (!err && fdatasync(q->fd))
        err = -EIO;
    put_be64(hdr, a << cb);
    memcpy(hdr + 8, &(uint32_t){htobe32((uint32_t)n)}, 4);
    if (!err)
        err = block_write_full(q->fd, hdr, sizeof(hdr), 48);
    if (!err && fdatasync(q->fd))
        err = -EIO;
    free(blk);
    if (err) {
        free(rt);
        return err;
    }
    for (uint64_t i = 0; i < entries; i++)
        rt[i] = be64toh(rt[i]);
    err = qcow2_free_later(q, q->rt_off, q->rt_clusters << cb);
    free(q->rt);
    q->rt = rt;
    q->rt_off = a << cb;
    q->rt_clusters = n;
    q->rt_size = entries;
    q->end = (a + n + r) << cb;
    return err;
}

int qcow2_alloc(struct qcow2 *q, uint64_t *out)
{
    unsigned cb = q->cluster_bits, rc;
    int err;

    for (uint64_t c = q->free_hint;; c++) {
        uint64_t off = c << cb, bi = c >> (cb - 1);

        if (bi >= q->rt_size && off <= QCOW_OFFSET_MASK - q->cs) {
            if ((err = grow_rt(q, bi + 1)) && err != -ENOSPC)
                return err;
        }
        if (off > QCOW_OFFSET_MASK - q->cs || bi >= q->rt_size) {
            if (!q->corrupt_logged)
                log_err("--disk %s: the qcow2 image is full (its refcount table is at its "
                        "largest, 8 MiB)",
                        q->name);
            q->corrupt_logged = true;
            return -ENOSPC;
        }
        /* Clusters a hostile image does not count as used. */
        if (c == 0 || overlaps(off, q->cs, q->l1_off, (uint64_t)q->l1_size * 8) ||
            overlaps(off, q->cs, q->rt_off, q->rt_clusters << cb))
            continue;
        if (!(q->rt[bi] & QCOW_RT_OFFSET_MASK)) {
            if ((err = new_refblock(q, c, bi)))
                return err;
            continue;
        }
        if ((err = get_ref(q, c, &rc)))
            return err;
        if (rc) {
            /* A valid image counts nothing past its end: stop the scan. */
            if (off >= q->end)
                return qcow2_corrupt(q, "refcount past the end of the file", off);
            continue;
        }
        if ((err = add_ref(q, c, 1, &rc)))
            return err;
        q->free_hint = c + 1;
        if (off + q->cs > q->end)
            q->end = off + q->cs;
        *out = off;
        return 0;
    }
}

int qcow2_free_later(struct qcow2 *q, uint64_t off, uint64_t len)
{
    if (q->nr_frees + 2 > q->cap_frees) {
        size_t cap = q->cap_frees ? 2 * q->cap_frees : 64;
        uint64_t *f = realloc(q->frees, cap * sizeof(*f));

        if (!f)
            return -ENOMEM;
        q->frees = f;
        q->cap_frees = cap;
    }
    q->frees[q->nr_frees++] = off;
    q->frees[q->nr_frees++] = len;
    return q->nr_frees >= 2 * MAX_FREES ? qcow2_flush_all(q) : 0;
}

/* Drops the pending references; a cluster left unused gives its space back
 * to the host file system. */
static int apply_frees(struct qcow2 *q)
{
    unsigned cb = q->cluster_bits, rc;
    int err = 0;

    q->zlast = 0;
    for (size_t i = 0; i < q->nr_frees && !err; i += 2) {
        uint64_t first = q->frees[i] >> cb, last = (q->frees[i] + q->frees[i + 1] - 1) >> cb;

        for (uint64_t c = first; c <= last && !err; c++) {
            if ((err = add_ref(q, c, -1, &rc)) || rc)
                continue;
            if (c < q->free_hint)
                q->free_hint = c;
            if (qcow2_cluster_ok(q, c << cb))
                fallocate(q->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(c << cb),
                          (off_t)q->cs);
        }
    }
    q->nr_frees = 0;
    return err;
}

int qcow2_flush_all(struct qcow2 *q)
{
    int err = qcow2_sync_refs(q);

    if (!err)
        err = write_dirty(q, &q->l2c);
    if (!err && q->nr_frees) {
        /* The L2 entries that no longer point at them first. */
        if (fdatasync(q->fd))
            return -EIO;
        err = apply_frees(q);
        if (!err)
            err = write_dirty(q, &q->rbc);
    }
    if (!err && fdatasync(q->fd))
        err = -EIO;
    if (!err)
        q->unsynced = false;
    return err;
}
