/* Raw images: the virtual disk is the file's bytes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/driver.h"
#include "util/log.h"

#define SECTOR 512

struct raw {
    struct block b; /* first */
    int fd;
};

static int raw_read(struct block *b, void *buf, uint64_t len, uint64_t off)
{
    return block_read_full(((struct raw *)b)->fd, buf, len, off);
}

static int raw_write(struct block *b, const void *buf, uint64_t len, uint64_t off)
{
    return block_write_full(((struct raw *)b)->fd, buf, len, off);
}

static int raw_flush(struct block *b)
{
    return fdatasync(((struct raw *)b)->fd) ? -EIO : 0;
}

/* A hole reads as zeros; a file system without holes keeps the data, which
 * a discard allows (block.h). */
static int raw_discard(struct block *b, uint64_t off, uint64_t len)
{
    if (fallocate(((struct raw *)b)->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                  (off_t)len) &&
        errno != EOPNOTSUPP)
        return -EIO;
    return 0;
}

static void raw_close(struct block *b)
{
    close(((struct raw *)b)->fd);
    free(b);
}

static const struct block_ops raw_ops = {
    .read = raw_read,
    .write = raw_write,
    .flush = raw_flush,
    .discard = raw_discard,
    .close = raw_close,
};

int raw_open(int fd, const char *name, bool ro, struct block **out)
{
    struct raw *r;
    struct stat st;

    if (fstat(fd, &st)) {
        BLOCK_ERR(name, "%s", strerror(errno));
        close(fd);
        return -EIO;
    }
    if (st.st_size % SECTOR) {
        BLOCK_ERR(name, "%" PRIu64 " bytes is not a whole number of 512-byte sectors",
                  (uint64_t)st.st_size);
        close(fd);
        return -EINVAL;
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        BLOCK_ERR(name, "out of memory");
        close(fd);
        return -ENOMEM;
    }
    r->b = (struct block){
        .ops = &raw_ops, .size = (uint64_t)st.st_size, .discard_granularity = 4096, .ro = ro};
    r->fd = fd;
    *out = &r->b;
    return 0;
}
