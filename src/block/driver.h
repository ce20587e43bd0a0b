/* What a format driver (raw.c, qcow2*.c) gives block.c. */
#ifndef VX86_BLOCK_DRIVER_H
#define VX86_BLOCK_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "block/block.h"

/* block.c has checked each range against size and ro before these run. */
struct block_ops {
    int (*read)(struct block *b, void *buf, uint64_t len, uint64_t off);
    int (*write)(struct block *b, const void *buf, uint64_t len, uint64_t off);
    int (*flush)(struct block *b);
    int (*discard)(struct block *b, uint64_t off, uint64_t len);
    void (*close)(struct block *b); /* frees b */
};

/* The first member of each driver's state. */
struct block {
    const struct block_ops *ops;
    uint64_t size;
    uint64_t discard_granularity;
    bool ro;
};

/* Every image opened comes from --disk or the API's drives, so messages
 * begin "--disk NAME: ". */
#define BLOCK_ERR(name, fmt, ...) log_err("--disk %s: " fmt, name, ##__VA_ARGS__)

/* Opens fd (taken, closed on failure) as each format. depth counts the
 * backing files above this one. */
int raw_open(int fd, const char *name, bool ro, struct block **out);
int qcow2_open(int fd, const char *name, const struct block_opts *o, int depth, struct block **out);

/* A fresh qcow2 in an unlinked temporary file over base (taken, closed with
 * the overlay), the same size: block_opts.snapshot. */
int qcow2_overlay(struct block *base, const char *name, struct block **out);

/* Opens path with block_open's checks, depth backing files down. */
int block_open_depth(const char *path, const struct block_opts *o, int depth, struct block **out);

/* pread/pwrite of all len bytes (EINTR retried). A read past the end of
 * the file fills the rest with zeros; -EIO on an error. */
int block_read_full(int fd, void *buf, size_t len, uint64_t off);
int block_write_full(int fd, const void *buf, size_t len, uint64_t off);

#endif
