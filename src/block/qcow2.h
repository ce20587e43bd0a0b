/*
 * qcow2's state shared by qcow2.c (header, open, flush, overlay),
 * qcow2_map.c (L1/L2 tables, reads and writes) and qcow2_refcount.c
 * (refcounts, allocation, the caches). Facts from QEMU's
 * docs/interop/qcow2.txt ("the spec"); all table entries are big-endian on
 * disk and host-order in memory only in l1 and rt.
 *
 * Crash consistency: a cluster's refcount reaches the file before any L2
 * entry that points at it, an L2 table before the L1 entry that points at
 * it, and a cluster's refcount drops only after the L2 entry that no longer
 * points at it is durable. A kill therefore leaves at worst leaked clusters
 * (refcount 1, no reference), never a reference to a free cluster.
 */
#ifndef VX86_BLOCK_QCOW2_H
#define VX86_BLOCK_QCOW2_H

#include <stdbool.h>
#include <stdint.h>
#include <zlib.h>

#include "block/driver.h"

/* QEMU's own limit (block/qcow2.h): a larger table is not an image it made. */
#define MAX_RT_BYTES (8u << 20)

/* The spec, "Cluster mapping": L1 and L2 entry bits. */
#define QCOW_OFLAG_COPIED     (1ULL << 63)
#define QCOW_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW_OFLAG_ZERO       1ULL
#define QCOW_OFFSET_MASK      0x00fffffffffffe00ULL
#define QCOW_RT_OFFSET_MASK   0xfffffffffffffe00ULL

/* A few clusters of one kind of table, written back least recently used. */
struct qcache_ent {
    uint64_t off; /* 0: empty */
    uint64_t used;
    bool dirty;
    uint8_t *data; /* allocated on first use */
};
struct qcache {
    unsigned n;
    uint64_t tick;
    struct qcache_ent *e;
};

struct qcow2 {
    struct block b; /* first */
    int fd;
    char *name;
    unsigned version;
    unsigned cluster_bits;
    uint64_t cs;  /* cluster size */
    uint64_t end; /* the file's size rounded up to a cluster, or more as clusters are added */
    uint32_t nb_snapshots;

    uint64_t l1_off;
    uint32_t l1_size;
    uint64_t *l1; /* host order */

    uint64_t rt_off;
    uint64_t rt_clusters;
    uint64_t rt_size; /* entries */
    uint64_t *rt;     /* host order */

    struct qcache l2c, rbc;
    bool unsynced;      /* refblocks written since the last fdatasync */
    uint64_t free_hint; /* no free cluster below it (cluster index) */
    uint64_t *frees;    /* (offset, length) pairs to free once L2 is durable */
    size_t nr_frees, cap_frees;

    struct block *backing;

    /* Allocated on first use: */
    uint8_t *cbuf;  /* a cluster being filled for a new allocation */
    uint8_t *zin;   /* compressed bytes, up to 2 clusters */
    uint8_t *zout;  /* the last decompressed cluster */
    uint64_t zlast; /* its L2 entry, 0 if none */
    z_stream z;
    bool z_ready;
    bool corrupt_logged;
};

/* Logs, once per image, that a table is corrupt; returns -EIO. */
int qcow2_corrupt(struct qcow2 *q, const char *what, uint64_t off);

/* Whether off may hold a table or data cluster: aligned, inside the file,
 * not the header, L1 or refcount table. */
bool qcow2_cluster_ok(const struct qcow2 *q, uint64_t off);

/* qcow2_refcount.c. */
/* An empty cache of n clusters (their buffers allocated on first use). */
int qcache_init(struct qcache *c, unsigned n);
void qcache_fini(struct qcache *c);
/* The cached cluster at off (read in, or zeroed when fresh); it stays valid
 * until the next qcache_get on the same cache. */
int qcache_get(struct qcow2 *q, struct qcache *c, uint64_t off, bool fresh,
               struct qcache_ent **out);
/* A fresh cluster with refcount 1 (its refcount block in the cache), its
 * offset in *off; grows the refcount table when it must. -ENOSPC once the
 * table has reached MAX_RT_BYTES. */
int qcow2_alloc(struct qcow2 *q, uint64_t *off);
/* Drops one reference to each cluster of [off, off + len) at the next
 * flush, after the L2 entries that pointed there are durable. */
int qcow2_free_later(struct qcow2 *q, uint64_t off, uint64_t len);
/* Writes the dirty refcount blocks back and makes them durable: before an
 * L2 or L1 entry may point at what they count. */
int qcow2_sync_refs(struct qcow2 *q);
/* Writes back both caches and the pending frees in the crash-safe order
 * above; ends with an fdatasync. */
int qcow2_flush_all(struct qcow2 *q);

/* qcow2_map.c: the block_ops. */
int qcow2_read(struct block *b, void *buf, uint64_t len, uint64_t off);
int qcow2_write(struct block *b, const void *buf, uint64_t len, uint64_t off);
int qcow2_discard(struct block *b, uint64_t off, uint64_t len);

#endif
