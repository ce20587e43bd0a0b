/*
 * libFuzzer target for the qcow2 driver (block/block.h) on hostile images:
 * tables that loop or overlap, refcounts pointing anywhere, sizes that
 * overflow, tables beyond the file.
 *
 * Input: a 16-bit little-endian length n, n bytes of image (put in a
 * memfd made once, opened read-write as qcow2), then operations of 8 bytes
 * each: kind (bits 0-1: read, write, flush, discard), sector (4 bytes,
 * taken modulo the disk's size), length (2 bytes, modulo MAX_LEN), pattern
 * byte. At most MAX_OPS of them.
 *
 * Checked: no crash or sanitizer report; every call returns 0 or -errno;
 * a one-sector read after its write returns what was written; and the
 * file grows by at most what the writes may allocate (a data cluster, an
 * L2 table and a refcount block each, and refcount tables that double).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/block.h"

#define MAX_OPS 16
/* Longer writes only cost time: 16 KiB spans 32 clusters of the smallest
 * size and reaches L2 table boundaries just as well. */
#define MAX_LEN 16384u

static void fail(const char *why, long long a)
{
    fprintf(stderr, "fuzz_qcow2: %s (%lld)\n", why, a);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *buf, *back;
    struct block_opts o = {.format = BLOCK_FORMAT_QCOW2};
    struct block *b;
    struct stat st;
    size_t n, ops;
    uint64_t disk, grow = 0, cs = 1ULL << 21;
    static int keep = -1;
    int fd;

    if (size < 2)
        return 0;
    n = data[0] | (size_t)data[1] << 8;
    if (n > size - 2)
        n = size - 2;
    if (!buf && (!(buf = malloc(MAX_LEN)) || !(back = malloc(MAX_LEN))))
        abort();
    /* One memfd for every input; the driver gets a dup of it. */
    if (keep < 0 && (keep = memfd_create("fuzz_qcow2", MFD_CLOEXEC)) < 0)
        abort();
    if (ftruncate(keep, 0) || pwrite(keep, data + 2, n, 0) != (ssize_t)n || (fd = dup(keep)) < 0)
        abort();
    if (block_open_fd(fd, "fuzz.qcow2", &o, &b))
        return 0;
    disk = block_size(b) / 512;
    ops = (size - 2 - n) / 8;
    for (size_t i = 0; i < ops && i < MAX_OPS; i++) {
        const uint8_t *op = data + 2 + n + 8 * i;
        uint64_t sector = (uint64_t)(op[1] | op[2] << 8 | op[3] << 16 | (uint32_t)op[4] << 24);
        uint64_t len = (uint64_t)(op[5] | op[6] << 8) % MAX_LEN, off;
        int err = 0;

        if (disk)
            sector %= disk;
        off = sector * 512;
        if (len > block_size(b) - off)
            len = block_size(b) - off;
        switch (op[0] & 3) {
        case 0:
            err = block_pread(b, buf, len, off);
            break;
        case 1:
            memset(buf, op[7], len);
            err = block_pwrite(b, buf, len, off);
            /* One sector: tables that overlap (hostile) cannot change it
             * between the write and the read. */
            if (!err && len <= 512 && (err = block_pread(b, back, len, off)) == 0 &&
                memcmp(buf, back, len))
                fail("a read after a write differs", (long long)off);
            /* Each cluster written may take a data cluster, an L2 table
             * and a refcount block. */
            grow += 3 * (len / 512 + 2) * cs;
            break;
        case 2:
            err = block_flush(b);
            break;
        case 3:
            err = block_discard(b, off, len);
            break;
        }
        if (err > 0 || err < -4095)
            fail("not 0 or -errno", err);
    }
    block_close(b);
    if (fstat(keep, &st))
        abort();
    /* A refcount table that grows takes up to twice its old size, and
     * the old one stays in the file. */
    if ((uint64_t)st.st_size > 4 * ((n + cs - 1) & ~(cs - 1)) + 2 * grow)
        fail("the file grew past what the writes may allocate", (long long)st.st_size);
    return 0;
}
