/* The block interface (block.h): range checks, format detection, iovecs. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/driver.h"
#include "util/log.h"

/* A chain deeper than this is taken for a loop (a.qcow2 -> b.qcow2 -> a). */
#define MAX_BACKING_DEPTH 16

int block_read_full(int fd, void *buf, size_t len, uint64_t off)
{
    for (size_t done = 0; done < len;) {
        ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -EIO;
        if (r == 0) {
            memset((char *)buf + done, 0, len - done);
            break;
        }
        done += (size_t)r;
    }
    return 0;
}

int block_write_full(int fd, const void *buf, size_t len, uint64_t off)
{
    for (size_t done = 0; done < len;) {
        ssize_t r = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 && errno == ENOSPC ? -ENOSPC : -EIO;
        done += (size_t)r;
    }
    return 0;
}

static int open_fd(int fd, const char *name, const struct block_opts *o, int depth,
                   struct block **out)
{
    static const uint8_t qcow2_magic[4] = {'Q', 'F', 'I', 0xfb};
    uint8_t magic[4];
    ssize_t r = pread(fd, magic, sizeof(magic), 0);
    bool qcow2 = r == (ssize_t)sizeof(magic) && !memcmp(magic, qcow2_magic, sizeof(magic));

    if (o->format == BLOCK_FORMAT_QCOW2 && !qcow2) {
        BLOCK_ERR(name, "not a qcow2 image (format=qcow2)");
        close(fd);
        return -EINVAL;
    }
    if (qcow2 && o->format != BLOCK_FORMAT_RAW)
        return qcow2_open(fd, name, o, depth, out);
    return raw_open(fd, name, o->ro, out);
}

int block_open_fd(int fd, const char *name, const struct block_opts *o, struct block **out)
{
    return open_fd(fd, name, o, 0, out);
}

int block_open_depth(const char *path, const struct block_opts *o, int depth, struct block **out)
{
    struct stat st;
    int fd, err;

    if (depth > MAX_BACKING_DEPTH) {
        BLOCK_ERR(path, "more than %d backing files (a loop?)", MAX_BACKING_DEPTH);
        return -ELOOP;
    }
    fd = open(path, (o->ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st)) {
        err = -errno;
        BLOCK_ERR(path, "%s", strerror(-err));
        if (fd >= 0)
            close(fd);
        return err;
    }
    if (!S_ISREG(st.st_mode)) {
        BLOCK_ERR(path, "not a regular file (a disk image)");
        close(fd);
        return -EINVAL;
    }
    /* As QEMU does: two writers, or a writer and a reader, would corrupt. */
    if (flock(fd, (o->ro ? LOCK_SH : LOCK_EX) | LOCK_NB)) {
        BLOCK_ERR(path, "in use by another process");
        close(fd);
        return -EBUSY;
    }
    return open_fd(fd, path, o, depth, out);
}

int block_open(const char *path, const struct block_opts *o, struct block **out)
{
    struct block_opts base = *o;
    struct block *b;
    int err;

    if (!o->snapshot)
        return block_open_depth(path, o, 0, out);
    base.ro = true;
    base.snapshot = false;
    err = block_open_depth(path, &base, 0, &b);
    if (err)
        return err;
    return qcow2_overlay(b, path, out);
}

uint64_t block_size(const struct block *b)
{
    return b->size;
}

uint64_t block_discard_granularity(const struct block *b)
{
    return b->discard_granularity;
}

static int check(const struct block *b, uint64_t len, uint64_t off, bool write)
{
    if (off > b->size || len > b->size - off)
        return -EINVAL;
    return write && b->ro ? -EROFS : 0;
}

int block_pread(struct block *b, void *buf, uint64_t len, uint64_t off)
{
    int err = check(b, len, off, false);

    return err ? err : len ? b->ops->read(b, buf, len, off) : 0;
}

int block_pwrite(struct block *b, const void *buf, uint64_t len, uint64_t off)
{
    int err = check(b, len, off, true);

    return err ? err : len ? b->ops->write(b, buf, len, off) : 0;
}

int block_preadv(struct block *b, const struct iovec *iov, int iovcnt, uint64_t off)
{
    for (int i = 0; i < iovcnt; i++) {
        int err = block_pread(b, iov[i].iov_base, iov[i].iov_len, off);

        if (err)
            return err;
        off += iov[i].iov_len;
    }
    return 0;
}

int block_pwritev(struct block *b, const struct iovec *iov, int iovcnt, uint64_t off)
{
    for (int i = 0; i < iovcnt; i++) {
        int err = block_pwrite(b, iov[i].iov_base, iov[i].iov_len, off);

        if (err)
            return err;
        off += iov[i].iov_len;
    }
    return 0;
}

int block_flush(struct block *b)
{
    return b->ro ? 0 : b->ops->flush(b);
}

int block_discard(struct block *b, uint64_t off, uint64_t len)
{
    int err = check(b, len, off, true);

    return err ? err : len ? b->ops->discard(b, off, len) : 0;
}

void block_close(struct block *b)
{
    if (b)
        b->ops->close(b);
}
