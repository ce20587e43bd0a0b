/*
 * qcow2 images, versions 2 and 3 (QEMU's docs/interop/qcow2.txt, "the
 * spec"): the header and its checks, open, flush, close, and the
 * temporary overlay of --disk ...,snapshot. Tables: qcow2_map.c,
 * refcounts: qcow2_refcount.c; the ordering that keeps the image
 * consistent across a kill: qcow2.h.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "util/log.h"

/* The spec, "Header". */
#define HDR_V2_LEN        72
#define HDR_V3_LEN        104
#define INCOMPAT_DIRTY    (1ULL << 0)
#define INCOMPAT_CORRUPT  (1ULL << 1)
#define INCOMPAT_DATAFILE (1ULL << 2)
#define INCOMPAT_COMPRESS (1ULL << 3)
#define INCOMPAT_EXTL2    (1ULL << 4)
#define EXT_END           0
#define EXT_BACKING_FMT   0xe2792acaU
#define MAX_BACKING_NAME  1023

/* QEMU's own limits (block/qcow2.h; MAX_RT_BYTES in qcow2.h). */
#define MAX_L1_BYTES (32u << 20)
#define MAX_SIZE     (1ULL << 56)

#define L2_CACHE_TABLES 16
#define RB_CACHE_BLOCKS 4

static uint32_t be32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return be32toh(v);
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return be64toh(v);
}

int qcow2_corrupt(struct qcow2 *q, const char *what, uint64_t off)
{
    if (!q->corrupt_logged)
        log_err("--disk %s: corrupt qcow2 image: %s at offset %#" PRIx64, q->name, what, off);
    q->corrupt_logged = true;
    return -EIO;
}

bool qcow2_cluster_ok(const struct qcow2 *q, uint64_t off)
{
    uint64_t l1_len = (uint64_t)q->l1_size * 8, rt_len = q->rt_clusters << q->cluster_bits;

    return off && !(off & (q->cs - 1)) && off < q->end &&
           !(off < q->l1_off + l1_len && q->l1_off < off + q->cs) &&
           !(off < q->rt_off + rt_len && q->rt_off < off + q->cs);
}

static int qcow2_flush(struct block *b)
{
    return qcow2_flush_all((struct qcow2 *)b);
}

static void qcow2_close(struct block *b)
{
    struct qcow2 *q = (struct qcow2 *)b;

    if (!b->ro && q->l1)
        qcow2_flush_all(q);
    qcache_fini(&q->l2c);
    qcache_fini(&q->rbc);
    if (q->z_ready)
        inflateEnd(&q->z);
    block_close(q->backing);
    free(q->l1);
    free(q->rt);
    free(q->frees);
    free(q->cbuf);
    free(q->zin);
    free(q->zout);
    free(q->name);
    close(q->fd);
    free(q);
}

static const struct block_ops qcow2_ops = {
    .read = qcow2_read,
    .write = qcow2_write,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .close = qcow2_close,
};

/* Reads a table of n big-endian 64-bit entries at off into *out. */
static int load_table(int fd, uint64_t off, uint64_t n, uint64_t **out)
{
    uint64_t *t = malloc(n ? n * 8 : 1);
    int err = t ? block_read_full(fd, t, n * 8, off) : -ENOMEM;

    for (uint64_t i = 0; !err && i < n; i++)
        t[i] = be64toh(t[i]);
    if (err)
        free(t);
    else
        *out = t;
    return err;
}

/* Checks the header (h: the first cluster, or the whole file if shorter)
 * against what vx86 supports; one line and -EINVAL if it does not. The
 * backing file's name and format into backing[] and fmt[] ("" if none). */
static int check_header(struct qcow2 *q, const uint8_t *h, uint64_t fsize,
                        const struct block_opts *o, char *backing, char *fmt)
{
    const char *n = q->name;
    uint64_t size = be64(h + 24), incompat = 0, l2_span, backing_off = be64(h + 8);
    uint32_t crypt = be32(h + 32), hlen = HDR_V2_LEN, order = 4, backing_len = be32(h + 16);
    uint64_t limit, pos;

    if (q->version >= 3) {
        incompat = be64(h + 72);
        order = be32(h + 96);
        hlen = be32(h + 100);
        if (hlen < HDR_V3_LEN || hlen > q->cs) {
            BLOCK_ERR(n, "qcow2 header length %" PRIu32 " out of range", hlen);
            return -EINVAL;
        }
    }
    if (crypt) {
        BLOCK_ERR(n, "encrypted qcow2 images are not supported");
        return -EINVAL;
    }
    if (incompat & INCOMPAT_DIRTY) {
        BLOCK_ERR(n, "qcow2 image not closed cleanly (dirty bit; lazy refcounts): repair it "
                     "with qemu-img check -r all");
        return -EINVAL;
    }
    if (incompat & INCOMPAT_CORRUPT) {
        BLOCK_ERR(n, "qcow2 image marked corrupt: repair it with qemu-img check -r all");
        return -EINVAL;
    }
    if (incompat & INCOMPAT_DATAFILE) {
        BLOCK_ERR(n, "qcow2 external data files are not supported");
        return -EINVAL;
    }
    if (incompat & INCOMPAT_EXTL2) {
        BLOCK_ERR(n, "qcow2 extended L2 entries (subclusters) are not supported");
        return -EINVAL;
    }
    if (incompat & ~(INCOMPAT_COMPRESS | (INCOMPAT_COMPRESS - 1))) {
        BLOCK_ERR(n, "unknown qcow2 incompatible features %#" PRIx64, incompat);
        return -EINVAL;
    }
    if ((incompat & INCOMPAT_COMPRESS) && (hlen <= HDR_V3_LEN || h[HDR_V3_LEN])) {
        BLOCK_ERR(n, "qcow2 compression type %u is not supported (zlib is)",
                  hlen > HDR_V3_LEN ? h[HDR_V3_LEN] : 0);
        return -EINVAL;
    }
    if (order != 4) {
        BLOCK_ERR(n, "qcow2 refcount_order %" PRIu32 " is not supported (4: 16-bit refcounts)",
                  order);
        return -EINVAL;
    }
    if (size > MAX_SIZE) {
        BLOCK_ERR(n, "qcow2 virtual size %" PRIu64 " is too large", size);
        return -EINVAL;
    }
    /* Each L1 entry maps an L2 table of cs / 8 clusters. */
    l2_span = q->cs * (q->cs / 8);
    if (q->l1_size < (size + l2_span - 1) / l2_span || q->l1_size > MAX_L1_BYTES / 8) {
        BLOCK_ERR(n, "qcow2 L1 table of %" PRIu32 " entries does not fit the virtual size",
                  q->l1_size);
        return -EINVAL;
    }
    if ((q->l1_off & (q->cs - 1)) || (q->l1_size && !q->l1_off) || q->l1_off > fsize ||
        (uint64_t)q->l1_size * 8 > fsize - q->l1_off) {
        BLOCK_ERR(n, "qcow2 L1 table at %#" PRIx64 " lies outside the file", q->l1_off);
        return -EINVAL;
    }
    if (!q->rt_clusters || q->rt_clusters > MAX_RT_BYTES >> q->cluster_bits || !q->rt_off ||
        (q->rt_off & (q->cs - 1)) || q->rt_off > q->end ||
        q->rt_clusters << q->cluster_bits > q->end - q->rt_off) {
        BLOCK_ERR(n, "qcow2 refcount table at %#" PRIx64 " lies outside the file", q->rt_off);
        return -EINVAL;
    }
    if (q->nb_snapshots && !o->ro) {
        BLOCK_ERR(n,
                  "qcow2 image with %" PRIu32 " internal snapshots: only read-only use "
                  "is supported (add ,ro)",
                  q->nb_snapshots);
        return -EINVAL;
    }
    limit = q->cs;
    if (backing_off) {
        if (!backing_len || backing_len > MAX_BACKING_NAME || backing_off > q->cs ||
            backing_len > q->cs - backing_off) {
            BLOCK_ERR(n, "qcow2 backing file name lies outside the header");
            return -EINVAL;
        }
        memcpy(backing, h + backing_off, backing_len);
        backing[backing_len] = '\0';
        limit = backing_off;
    }
    /* Header extensions, each 8-byte aligned, up to the end marker. */
    for (pos = q->version >= 3 ? hlen : HDR_V2_LEN; pos + 8 <= limit;) {
        uint32_t type = be32(h + pos), len = be32(h + pos + 4);

        if (type == EXT_END)
            break;
        if (len > limit - pos - 8) {
            BLOCK_ERR(n, "qcow2 header extension %#" PRIx32 " lies outside the header", type);
            return -EINVAL;
        }
        if (type == EXT_BACKING_FMT) {
            size_t m = len < 15 ? len : 15;

            memcpy(fmt, h + pos + 8, m);
            fmt[m] = '\0';
        }
        pos += 8 + ((len + 7ULL) & ~7ULL);
    }
    if (*backing && !o->backing) {
        BLOCK_ERR(n, "qcow2 image with backing file %s: add backing=on to open it (read-only)",
                  backing);
        return -EINVAL;
    }
    if (*fmt && strcmp(fmt, "raw") && strcmp(fmt, "qcow2")) {
        BLOCK_ERR(n, "backing file format %s is not supported (raw and qcow2 are)", fmt);
        return -EINVAL;
    }
    q->b.size = size;
    return 0;
}

/* The backing file, named relative to the image's own folder. */
static int open_backing(struct qcow2 *q, const char *backing, const char *fmt, int depth)
{
    struct block_opts o = {.ro = true, .backing = true};
    const char *slash = strrchr(q->name, '/');
    char *path;
    int err, len = slash ? (int)(slash - q->name + 1) : 0;

    o.format = !strcmp(fmt, "raw")     ? BLOCK_FORMAT_RAW
               : !strcmp(fmt, "qcow2") ? BLOCK_FORMAT_QCOW2
                                       : BLOCK_FORMAT_AUTO;
    if (backing[0] == '/')
        len = 0;
    if (asprintf(&path, "%.*s%s", len, q->name, backing) < 0)
        return -ENOMEM;
    err = block_open_depth(path, &o, depth + 1, &q->backing);
    free(path);
    return err;
}

int qcow2_open(int fd, const char *name, const struct block_opts *o, int depth, struct block **out)
{
    struct qcow2 *q = calloc(1, sizeof(*q));
    char backing[MAX_BACKING_NAME + 1] = "", fmt[16] = "";
    uint8_t *h = NULL;
    struct stat st;
    int err = -ENOMEM;

    if (!q || !(q->name = strdup(name))) {
        BLOCK_ERR(name, "out of memory");
        free(q);
        close(fd);
        return -ENOMEM;
    }
    q->fd = fd;
    q->b = (struct block){.ops = &qcow2_ops, .ro = o->ro};
    if (fstat(fd, &st) || !(h = calloc(1, HDR_V3_LEN + 1)) ||
        (err = block_read_full(fd, h, HDR_V3_LEN + 1, 0))) {
        BLOCK_ERR(name, "cannot read the qcow2 header");
        goto fail;
    }
    q->version = be32(h + 4);
    q->cluster_bits = be32(h + 20);
    if (q->version < 2 || q->version > 3) {
        BLOCK_ERR(name, "qcow2 version %u is not supported (2 and 3 are)", q->version);
        goto fail_inval;
    }
    if (q->cluster_bits < 9 || q->cluster_bits > 21) {
        BLOCK_ERR(name, "qcow2 cluster_bits %u out of range (9 to 21)", q->cluster_bits);
        goto fail_inval;
    }
    q->cs = 1ULL << q->cluster_bits;
    q->end = ((uint64_t)st.st_size + q->cs - 1) & ~(q->cs - 1);
    q->l1_size = be32(h + 36);
    q->l1_off = be64(h + 40);
    q->rt_off = be64(h + 48);
    q->rt_clusters = be32(h + 56);
    q->nb_snapshots = be32(h + 60);
    /* The header and its extensions lie in the first cluster. */
    free(h);
    if (!(h = calloc(1, q->cs)) ||
        (err = block_read_full(fd, h, q->cs < (uint64_t)st.st_size ? q->cs : (size_t)st.st_size,
                               0))) {
        BLOCK_ERR(name, "cannot read the qcow2 header");
        goto fail;
    }
    if ((err = check_header(q, h, (uint64_t)st.st_size, o, backing, fmt)))
        goto fail;
    q->rt_size = q->rt_clusters << (q->cluster_bits - 3);
    err = -ENOMEM;
    if (load_table(fd, q->l1_off, q->l1_size, &q->l1) ||
        load_table(fd, q->rt_off, q->rt_size, &q->rt) ||
        qcache_init(&q->l2c, L2_CACHE_TABLES) ||
        qcache_init(&q->rbc, RB_CACHE_BLOCKS)) {
        BLOCK_ERR(name, "cannot load the qcow2 tables");
        goto fail;
    }
    q->b.discard_granularity = q->cs;
    /* The spec: autoclear bits a writer does not know are cleared (QEMU's
     * bitmaps, which vx86 does not keep up to date). */
    if (!o->ro && q->version >= 3 && be64(h + 88)) {
        uint64_t zero = 0;

        if ((err = block_write_full(fd, &zero, sizeof(zero), 88))) {
            BLOCK_ERR(name, "cannot write the qcow2 header");
            goto fail;
        }
    }
    if (*backing && (err = open_backing(q, backing, fmt, depth)))
        goto fail;
    free(h);
    *out = &q->b;
    return 0;
fail_inval:
    err = -EINVAL;
fail:
    free(h);
    free(q->l1);
    q->l1 = NULL;
    q->b.ro = true;
    qcow2_close(&q->b);
    return err;
}

static void put32(uint8_t *p, uint32_t v)
{
    v = htobe32(v);
    memcpy(p, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, sizeof(v));
}

/* A fresh version 3 image of size bytes in fd, 64 KiB clusters: header,
 * refcount table, one refcount block, the L1 table. */
static int create(int fd, uint64_t size)
{
    const unsigned cb = 16;
    const uint64_t cs = 1ULL << cb, l2_span = cs * (cs / 8);
    uint64_t l1_size = (size + l2_span - 1) / l2_span, l1_clusters = (l1_size * 8 + cs - 1) / cs;
    uint64_t clusters = 3 + l1_clusters;
    uint8_t h[HDR_V3_LEN] = {'Q', 'F', 'I', 0xfb}, rt[8];
    uint16_t one = htobe16(1);
    int err;

    if (l1_size > MAX_L1_BYTES / 8)
        return -EFBIG;
    put32(h + 4, 3);
    put32(h + 20, cb);
    put64(h + 24, size);
    put32(h + 36, (uint32_t)l1_size);
    put64(h + 40, 3 * cs);
    put64(h + 48, cs);
    put32(h + 56, 1);
    put32(h + 96, 4);
    put32(h + 100, HDR_V3_LEN);
    put64(rt, 2 * cs);
    if (ftruncate(fd, (off_t)(clusters * cs)))
        return -errno;
    err = block_write_full(fd, h, sizeof(h), 0);
    if (!err)
        err = block_write_full(fd, rt, sizeof(rt), cs);
    for (uint64_t c = 0; c < clusters && !err; c++)
        err = block_write_full(fd, &one, sizeof(one), 2 * cs + c * 2);
    return err;
}

int qcow2_overlay(struct block *base, const char *name, struct block **out)
{
    const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    struct block_opts o = {0};
    char *path = NULL;
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600), err;

    if (fd < 0 && asprintf(&path, "%s/vx86-snapshot-XXXXXX", dir) >= 0) {
        fd = mkostemp(path, O_CLOEXEC);
        if (fd >= 0)
            unlink(path);
        free(path);
    }
    if (fd < 0) {
        err = -errno;
        BLOCK_ERR(name, "snapshot: cannot create a temporary file in %s: %s", dir, strerror(errno));
        block_close(base);
        return err;
    }
    if ((err = create(fd, block_size(base)))) {
        BLOCK_ERR(name, "snapshot: cannot write its overlay in %s: %s", dir, strerror(-err));
        close(fd);
        block_close(base);
        return err;
    }
    if ((err = qcow2_open(fd, name, &o, 0, out))) {
        block_close(base);
        return err;
    }
    ((struct qcow2 *)*out)->backing = base;
    return 0;
}
