/*
 * The block layer's qcow2 driver (block/block.h) against images that
 * QEMU's own tools make and check: qemu-img creates and converts, qemu-io
 * writes patterns, and after vx86 has written, `qemu-img check` must find
 * nothing wrong and `qemu-img convert -O raw` must give the bytes vx86 was
 * asked to write. Skipped without qemu-img (Debian's qemu-utils).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/block.h"

#define MIB (1u << 20)

static char dir[64];

/* Runs a shell command in dir; its exit status. */
static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    int n = snprintf(cmd, sizeof(cmd), "cd %s && ", dir);

    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
    va_end(ap);
    n = system(cmd);
    return WIFEXITED(n) ? WEXITSTATUS(n) : -1;
}

static char *path(const char *name)
{
    static char p[4][128];
    static int i;

    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
    return p[i];
}

static struct block *open_img(const char *name, bool ro, bool backing)
{
    struct block_opts o = {.ro = ro, .backing = backing};
    struct block *b = NULL;

    assert_int_equal(block_open(path(name), &o, &b), 0);
    return b;
}

/* The image as raw bytes, by qemu-img. */
static uint8_t *as_raw(const char *name, size_t len)
{
    uint8_t *buf = malloc(len);
    int fd;

    assert_int_equal(sh("qemu-img convert -O raw %s out.raw", name), 0);
    fd = open(path("out.raw"), O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, len, 0), (ssize_t)len);
    close(fd);
    return buf;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(seed + i * 7 + (i >> 9));
}

/* Writes across clusters and L2 tables (small clusters: many of both, new
 * refcount blocks too), rewrites, reads back, and lets QEMU judge. */
static void write_check(const char *opts)
{
    const size_t len = 8 * MIB;
    uint8_t *want = calloc(1, len), *got = malloc(len), *raw;
    struct block *b;
    static const struct {
        size_t off, len;
    } w[] = {{0, 512},       {4096, 65536}, {65536 * 3 + 100, 200000}, {5 * MIB - 512, 1024},
             {7 * MIB, MIB}, {4096, 512},   {65536 * 3, 1000}};

    assert_int_equal(sh("qemu-img create -q -f qcow2 %s t.qcow2 8M", opts), 0);
    b = open_img("t.qcow2", false, false);
    assert_int_equal(block_size(b), len);
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
        fill(want + w[i].off, w[i].len, (unsigned)i);
        assert_int_equal(block_pwrite(b, want + w[i].off, w[i].len, w[i].off), 0);
    }
    assert_int_equal(block_pread(b, got, len, 0), 0);
    assert_memory_equal(got, want, len);
    assert_int_equal(block_flush(b), 0);
    block_close(b);
    assert_int_equal(sh("qemu-img check -q t.qcow2"), 0);
    raw = as_raw("t.qcow2", len);
    assert_memory_equal(raw, want, len);
    /* Discard: whole clusters read zeros and are freed. */
    b = open_img("t.qcow2", false, false);
    assert_int_equal(block_discard(b, 6 * MIB, 2 * MIB), 0);
    memset(want + 6 * MIB, 0, 2 * MIB);
    assert_int_equal(block_pread(b, got, len, 0), 0);
    assert_memory_equal(got, want, len);
    block_close(b);
    assert_int_equal(sh("qemu-img check -q t.qcow2"), 0);
    free(raw);
    raw = as_raw("t.qcow2", len);
    assert_memory_equal(raw, want, len);
    free(raw);
    free(want);
    free(got);
}

static void test_write_v3(void **state)
{
    (void)state;
    write_check("");
}

static void test_write_v2(void **state)
{
    (void)state;
    write_check("-o compat=0.10");
}

static void test_write_small_clusters(void **state)
{
    (void)state;
    write_check("-o cluster_size=512");
}

static void test_write_large_clusters(void **state)
{
    (void)state;
    write_check("-o cluster_size=2M");
}

/* 512-byte clusters: one refcount table cluster counts 8 MiB of them, so
 * 24 MiB of writes must grow the table (and add refcount blocks). */
static void test_refcount_table_grows(void **state)
{
    const size_t len = 32 * MIB, chunk = MIB;
    uint8_t *want = calloc(1, len), *raw;
    struct block *b;

    (void)state;
    assert_int_equal(sh("qemu-img create -q -f qcow2 -o cluster_size=512 g.qcow2 32M"), 0);
    b = open_img("g.qcow2", false, false);
    for (size_t off = 0; off < 24 * MIB; off += chunk) {
        fill(want + off, chunk, (unsigned)(off >> 20));
        assert_int_equal(block_pwrite(b, want + off, chunk, off), 0);
    }
    assert_int_equal(block_flush(b), 0);
    block_close(b);
    assert_int_equal(sh("qemu-img check -q g.qcow2"), 0);
    raw = as_raw("g.qcow2", len);
    assert_memory_equal(raw, want, len);
    free(raw);
    free(want);
}

/* What qemu-io wrote, vx86 reads. */
static void test_read_qemu_written(void **state)
{
    uint8_t buf[4096], want[4096];
    struct block *b;

    (void)state;
    assert_int_equal(
        sh("qemu-img create -q -f qcow2 r.qcow2 16M && "
           "qemu-io -c 'write -P 0x5a 1M 64k' -c 'write -z 2M 64k' r.qcow2 >/dev/null"),
        0);
    b = open_img("r.qcow2", true, false);
    assert_int_equal(block_pread(b, buf, sizeof(buf), MIB + 4096), 0);
    memset(want, 0x5a, sizeof(want));
    assert_memory_equal(buf, want, sizeof(buf));
    assert_int_equal(block_pread(b, buf, sizeof(buf), 2 * MIB), 0);
    memset(want, 0, sizeof(want));
    assert_memory_equal(buf, want, sizeof(buf));
    assert_int_equal(block_pwrite(b, buf, 512, 0), -EROFS);
    assert_int_equal(block_pread(b, buf, 512, 16 * MIB), -EINVAL);
    block_close(b);
}

/* Compressed clusters (qemu-img convert -c): read, then overwritten. */
static void test_compressed(void **state)
{
    const size_t len = 4 * MIB;
    uint8_t *want = malloc(len), *got = malloc(len), *raw;
    struct block *b;
    int fd;

    (void)state;
    fill(want, len, 3);
    memset(want + MIB, 0, 65536);
    fd = open(path("c.raw"), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    assert_int_equal(write(fd, want, len), (ssize_t)len);
    close(fd);
    assert_int_equal(sh("qemu-img convert -q -c -O qcow2 c.raw c.qcow2"), 0);
    b = open_img("c.qcow2", false, false);
    assert_int_equal(block_pread(b, got, len, 0), 0);
    assert_memory_equal(got, want, len);
    memset(want + 100000, 0xee, 3000);
    assert_int_equal(block_pwrite(b, want + 100000, 3000, 100000), 0);
    assert_int_equal(block_discard(b, 2 * MIB, MIB), 0);
    memset(want + 2 * MIB, 0, MIB);
    block_close(b);
    assert_int_equal(sh("qemu-img check -q c.qcow2"), 0);
    raw = as_raw("c.qcow2", len);
    assert_memory_equal(raw, want, len);
    free(raw);
    free(want);
    free(got);
}

/* A chain raw <- qcow2 <- qcow2, opened only when asked. */
static void test_backing_chain(void **state)
{
    uint8_t buf[65536], want[65536];
    struct block_opts o = {.ro = false};
    struct block *b;

    (void)state;
    assert_int_equal(sh("qemu-img create -q -f raw base.raw 4M && "
                        "qemu-io -f raw -c 'write -P 0x11 0 1M' base.raw >/dev/null && "
                        "qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2 && "
                        "qemu-io -c 'write -P 0x22 64k 64k' mid.qcow2 >/dev/null && "
                        "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 && "
                        "md5sum base.raw mid.qcow2 > sums"),
                     0);
    assert_int_equal(block_open(path("top.qcow2"), &o, &b), -EINVAL);
    b = open_img("top.qcow2", false, true);
    assert_int_equal(block_pread(b, buf, sizeof(buf), 0), 0);
    memset(want, 0x11, sizeof(want));
    assert_memory_equal(buf, want, sizeof(buf));
    assert_int_equal(block_pread(b, buf, sizeof(buf), 65536), 0);
    memset(want, 0x22, sizeof(want));
    assert_memory_equal(buf, want, sizeof(buf));
    assert_int_equal(block_pread(b, buf, sizeof(buf), 2 * MIB), 0);
    memset(want, 0, sizeof(want));
    assert_memory_equal(buf, want, sizeof(buf));
    /* A partial write fills the rest of its cluster from below. */
    memset(buf, 0x33, 512);
    assert_int_equal(block_pwrite(b, buf, 512, 65536 + 512), 0);
    assert_int_equal(block_discard(b, 0, 65536), 0);
    assert_int_equal(block_pread(b, buf, 1024, 65536), 0);
    assert_int_equal(buf[0], 0x22);
    assert_int_equal(buf[512], 0x33);
    block_close(b);
    assert_int_equal(sh("qemu-img check -q top.qcow2 && md5sum -c --quiet sums"), 0);
    assert_int_equal(sh("qemu-io -c 'read -P 0x22 64k 512' -c 'read -P 0x33 66048 512' "
                        "-c 'read -P 0x11 0 64k' top.qcow2 | grep 'Pattern verification failed'"),
                     1);
}

/* snapshot: writes seen until close, the image unchanged. */
static void test_snapshot(void **state)
{
    struct block_opts o = {.snapshot = true};
    uint8_t buf[512];
    struct block *b;

    (void)state;
    assert_int_equal(sh("qemu-img create -q -f qcow2 s.qcow2 1M && md5sum s.qcow2 > ssum"), 0);
    assert_int_equal(block_open(path("s.qcow2"), &o, &b), 0);
    memset(buf, 0x77, sizeof(buf));
    assert_int_equal(block_pwrite(b, buf, sizeof(buf), 4096), 0);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(block_pread(b, buf, sizeof(buf), 4096), 0);
    assert_int_equal(buf[511], 0x77);
    assert_int_equal(block_flush(b), 0);
    block_close(b);
    assert_int_equal(sh("md5sum -c --quiet ssum"), 0);
}

/* A table that points outside the file, met after open: that request
 * fails with -EIO, the others go on. */
static void test_corrupt_at_run_time(void **state)
{
    uint8_t buf[512];
    struct block *b;

    (void)state;
    /* 64 KiB clusters: the L1 table at 0x30000; its first entry, at the
     * first guest GiB's L2 table, pointed past the end of the file. */
    assert_int_equal(sh("qemu-img create -q -f qcow2 k.qcow2 2G && "
                        "qemu-io -c 'write -P 0x5a 1G 4k' -c 'write -P 0x11 0 4k' k.qcow2 "
                        ">/dev/null && printf '\\200\\000\\000\\001\\000\\000\\000\\000' | "
                        "dd of=k.qcow2 bs=1 seek=196608 conv=notrunc status=none"),
                     0);
    b = open_img("k.qcow2", false, false);
    assert_int_equal(block_pread(b, buf, sizeof(buf), 0), -EIO);
    assert_int_equal(block_pwrite(b, buf, sizeof(buf), 4096), -EIO);
    assert_int_equal(block_pread(b, buf, sizeof(buf), 1ULL << 30), 0);
    assert_int_equal(buf[0], 0x5a);
    block_close(b);
}

/* What vx86 refuses, each with its line. */
static void test_refused(void **state)
{
    static const char *const made[] = {
        "qemu-img create -q -f qcow2 -o refcount_bits=8 x.qcow2 1M",
        "qemu-img create -q -f qcow2 -o extended_l2=on x.qcow2 1M",
        "qemu-img create -q -f qcow2 -o data_file=x.data x.qcow2 1M",
        /* The dirty bit, incompatible feature bit 0 of byte 79. */
        "qemu-img create -q -f qcow2 x.qcow2 1M && printf '\\001' | "
        "dd of=x.qcow2 bs=1 seek=79 conv=notrunc status=none",
        /* An unknown incompatible feature (bit 6). */
        "qemu-img create -q -f qcow2 x.qcow2 1M && printf '\\100' | "
        "dd of=x.qcow2 bs=1 seek=79 conv=notrunc status=none",
        /* Encryption (crypt_method 1 at byte 35). */
        "qemu-img create -q -f qcow2 x.qcow2 1M && printf '\\001' | "
        "dd of=x.qcow2 bs=1 seek=35 conv=notrunc status=none",
    };
    struct block_opts o = {0};
    struct block *b;

    (void)state;
    for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
        assert_int_equal(sh("rm -f x.qcow2 x.data && %s", made[i]), 0);
        assert_int_equal(block_open(path("x.qcow2"), &o, &b), -EINVAL);
    }
    /* A qcow2 opened as raw is its bytes. */
    o.format = BLOCK_FORMAT_RAW;
    assert_int_equal(sh("rm -f x.qcow2 x.data && qemu-img create -q -f qcow2 x.qcow2 1M && "
                        "truncate -s 1M x.qcow2"),
                     0);
    assert_int_equal(block_open(path("x.qcow2"), &o, &b), 0);
    assert_int_equal(block_size(b), MIB);
    block_close(b);
}

static int setup(void **state)
{
    (void)state;
    if (system("qemu-img --version >/dev/null 2>&1")) {
        print_message("qemu-img not found (apt-get install qemu-utils): skipped\n");
        skip();
    }
    strcpy(dir, "/tmp/vx86-test-qcow2-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (*dir)
        assert_int_equal(sh("cd / && rm -rf %s", dir), 0);
    *dir = '\0';
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_v3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_v2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_small_clusters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_large_clusters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refcount_table_grows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_qemu_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backing_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_at_run_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
