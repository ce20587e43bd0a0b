/*
 * Disk images behind one interface: raw files and qcow2 (versions 2 and 3),
 * the format found from the file's magic unless the user names it.
 *
 * Every image is hostile input (DESIGN.md "Bad input"): an open checks the
 * whole header and prints one line naming the file and the fault; a corrupt
 * table met later fails that request with -EIO, and no request reads or
 * writes outside the image's file.
 *
 * Threads: one thread at a time per struct block (virtio-blk's I/O thread);
 * the calls take no lock of their own.
 */
#ifndef VX86_BLOCK_BLOCK_H
#define VX86_BLOCK_BLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct block;

enum block_format { BLOCK_FORMAT_AUTO, BLOCK_FORMAT_RAW, BLOCK_FORMAT_QCOW2 };

struct block_opts {
    bool ro;
    /* AUTO: qcow2 if the file starts with qcow2's magic, else raw. A qcow2
     * file opened as RAW is served as the bytes of the file. */
    enum block_format format;
    /* Open a qcow2's backing file (read-only, and its own backing files in
     * turn). Off by default, as QEMU asks for the backing format: a guest
     * that writes a qcow2 header into a raw disk must not make vx86 open a
     * host file the guest names. Without it, an image that has a backing
     * file is refused. */
    bool backing;
    /* The image read-only under a temporary qcow2 overlay (an unlinked file
     * in $TMPDIR, or /tmp) that takes the writes and is gone at close, as
     * QEMU's -snapshot. */
    bool snapshot;
};

/*
 * Opens the image at path: a regular file, locked as QEMU locks it (flock:
 * shared when read-only, else exclusive), a raw one a whole number of
 * 512-byte sectors. Returns 0 and *out, or -errno after one line
 * "--disk PATH: why" (every image comes from --disk or the API's drives).
 */
int block_open(const char *path, const struct block_opts *o, struct block **out);

/* As block_open on an open file descriptor, which it takes (closed on
 * failure too); name names it in messages. No lock is taken. */
int block_open_fd(int fd, const char *name, const struct block_opts *o, struct block **out);

/* The virtual disk's size in bytes. */
uint64_t block_size(const struct block *b);

/* The unit a discard frees in bytes (qcow2: a cluster), a power of two. */
uint64_t block_discard_granularity(const struct block *b);

/*
 * Reads or writes len bytes at byte offset off of the virtual disk. The
 * range must lie inside block_size() (else -EINVAL); a write to a read-only
 * image is -EROFS; -EIO for a host I/O error or a corrupt table, -ENOSPC
 * when an image cannot grow. Data written is durable after block_flush().
 */
int block_pread(struct block *b, void *buf, uint64_t len, uint64_t off);
int block_pwrite(struct block *b, const void *buf, uint64_t len, uint64_t off);
int block_preadv(struct block *b, const struct iovec *iov, int iovcnt, uint64_t off);
int block_pwritev(struct block *b, const struct iovec *iov, int iovcnt, uint64_t off);

/* Makes every write completed before it durable (fdatasync after the
 * image's tables, in the order that keeps them consistent). */
int block_flush(struct block *b);

/* Tells the image that [off, off + len) is no longer needed: its later
 * reads return zeros or, on a qcow2 with a backing file, may return the
 * backing file's data. Partial clusters are left as they are. */
int block_discard(struct block *b, uint64_t off, uint64_t len);

/* Writes back what is cached (as block_flush, errors dropped), closes the
 * file and any backing files. NULL is a no-op. */
void block_close(struct block *b);

#endif
