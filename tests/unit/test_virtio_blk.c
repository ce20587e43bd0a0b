/*
 * virtio-blk behind the virtio-mmio transport (virtio/), driven through the
 * MMIO bus the way Linux's drivers do, by a well-behaved and a hostile
 * driver. The disk is a temporary file; the engine is a stand-in that
 * records the IRQ line.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "virtio/devices.h"
#include "vm/board.h"
#include "vm/vm.h"
#include "virtio_mmio_driver.h"

#define DESC  desc_of(0)
#define AVAIL avail_of(0)
#define USED  used_of(0)
#define HDR   0x20000ULL
#define DATA  0x21000ULL
#define STAT  0x23000ULL
#define QSIZE 8

#define SECTORS       128
#define F_RO          (1u << 5)
#define F_DISCARD     (1u << 13)
#define F_VERSION1_HI 1u /* bit 32 */

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };

struct fixture {
    struct vm vm;
    struct virtio_dev *dev;
    char path[64];
    int fd;
    uint16_t avail_idx;
};

static struct fixture *make(bool ro)
{
    static struct fixture f;
    uint8_t sector[512];

    memset(&f, 0, sizeof(f));
    memset(irq_level, 0, sizeof(irq_level));
    strcpy(f.path, "/tmp/vx86-test-blk-XXXXXX");
    f.fd = mkstemp(f.path);
    assert_true(f.fd >= 0);
    for (int i = 0; i < SECTORS; i++) {
        memset(sector, i, sizeof(sector));
        assert_int_equal(pwrite(f.fd, sector, 512, i * 512), 512);
    }
    f.vm.accel = &fake_engine;
    bus_init(&f.vm.mmio, "mmio");
    assert_int_equal(mem_init(&f.vm.mem, 4 << 20), 0);
    f.dev = virtio_blk_create(&f.vm, &(struct vm_disk){.path = f.path, .ro = ro});
    assert_non_null(f.dev);
    assert_int_equal(virtio_mmio_add(f.dev, 0), 0);
    return &f;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    f->dev->ops->destroy(f->dev);
    mem_destroy(&f->vm.mem);
    bus_destroy(&f->vm.mmio);
    close(f->fd);
    unlink(f->path);
    return 0;
}

static int setup_rw(void **state)
{
    *state = make(false);
    return 0;
}

static int setup_ro(void **state)
{
    *state = make(true);
    return 0;
}

/* Linux's virtio_mmio probe and virtio_dev_probe, queue 0 of size qsize
 * on fresh (zeroed) rings. */
static void driver_init(struct fixture *f, uint32_t feat_hi, uint16_t qsize)
{
    static const uint8_t zero[0x1000];

    mmio_wr(&f->vm, R_STATUS, 0);
    mem_write(&f->vm.mem, AVAIL, zero, sizeof(zero));
    mem_write(&f->vm.mem, USED, zero, sizeof(zero));
    mmio_wr(&f->vm, R_STATUS, 1);
    mmio_wr(&f->vm, R_STATUS, 3);
    mmio_wr(&f->vm, R_DEV_FEAT_SEL, 0);
    mmio_wr(&f->vm, R_DRV_FEAT_SEL, 0);
    mmio_wr(&f->vm, R_DRV_FEAT, mmio_rd(&f->vm, R_DEV_FEAT) & (1u << 9)); /* FLUSH */
    mmio_wr(&f->vm, R_DRV_FEAT_SEL, 1);
    mmio_wr(&f->vm, R_DRV_FEAT, feat_hi);
    mmio_wr(&f->vm, R_STATUS, 0xb);
    mmio_wr(&f->vm, R_QUEUE_SEL, 0);
    mmio_wr(&f->vm, R_QUEUE_NUM, qsize);
    mmio_wr(&f->vm, R_DESC, DESC);
    mmio_wr(&f->vm, R_DRIVER, AVAIL);
    mmio_wr(&f->vm, R_DEVICE, USED);
    mmio_wr(&f->vm, R_QUEUE_READY, 1);
    mmio_wr(&f->vm, R_STATUS, 0xf);
    f->avail_idx = 0;
}

/* Offers descriptor 0 and notifies; returns once the device used it, or
 * after ms milliseconds (the caller checks used_idx). */
static void kick(struct fixture *f, int ms)
{
    uint16_t head = 0, want;

    mem_write(&f->vm.mem, AVAIL + 4 + 2 * (f->avail_idx % QSIZE), &head, 2);
    f->avail_idx++;
    mem_write(&f->vm.mem, AVAIL + 2, &f->avail_idx, 2);
    want = f->avail_idx;
    mmio_wr(&f->vm, R_NOTIFY, 0);
    for (int i = 0; i < ms && ring_used_idx(&f->vm, 0) != want; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
}

/* One request: header, len data bytes (out or in), status byte. */
static uint8_t request(struct fixture *f, uint32_t type, uint64_t sector, uint32_t len, bool in)
{
    uint32_t hdr[4] = {type, 0, (uint32_t)sector, (uint32_t)(sector >> 32)};
    uint8_t status = 0xee;
    uint16_t before = ring_used_idx(&f->vm, 0);

    mem_write(&f->vm.mem, HDR, hdr, 16);
    mem_write(&f->vm.mem, STAT, &status, 1);
    ring_put_desc(&f->vm, 0, 0, HDR, 16, 1, 1);
    if (len) {
        ring_put_desc(&f->vm, 0, 1, DATA, len, 1 | (in ? 2 : 0), 2);
        ring_put_desc(&f->vm, 0, 2, STAT, 1, 2, 0);
    } else {
        ring_put_desc(&f->vm, 0, 0, HDR, 16, 1, 2);
        ring_put_desc(&f->vm, 0, 2, STAT, 1, 2, 0);
    }
    kick(f, 5000);
    assert_int_equal(ring_used_idx(&f->vm, 0), (uint16_t)(before + 1));
    mem_read(&f->vm.mem, STAT, &status, 1);
    return status;
}

static void test_identity_and_config(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(mmio_rd(&f->vm, R_MAGIC), 0x74726976);
    assert_int_equal(mmio_rd(&f->vm, R_VERSION), 2);
    assert_int_equal(mmio_rd(&f->vm, R_DEVICE_ID), 2);
    assert_int_equal(mmio_rd(&f->vm, R_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
    assert_int_equal(mmio_rd(&f->vm, R_CONFIG), SECTORS);
    assert_int_equal(mmio_rd(&f->vm, R_CONFIG + 4), 0);
    assert_int_equal(bus_read(&f->vm.mmio, BOARD_VIRTIO_MMIO_BASE + R_CONFIG, 1), SECTORS);
    mmio_wr(&f->vm, R_DEV_FEAT_SEL, 1);
    assert_int_equal(mmio_rd(&f->vm, R_DEV_FEAT) & F_VERSION1_HI, F_VERSION1_HI);
    mmio_wr(&f->vm, R_DEV_FEAT_SEL, 0);
    assert_int_equal(mmio_rd(&f->vm, R_DEV_FEAT) & F_RO, 0);
}

static void test_write_flush_read(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[1024], back[1024];

    driver_init(f, F_VERSION1_HI, QSIZE);
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 7);
    mem_write(&f->vm.mem, DATA, buf, sizeof(buf));
    assert_int_equal(request(f, T_OUT, 5, 1024, false), S_OK);
    assert_int_equal(request(f, T_FLUSH, 0, 0, false), S_OK);
    assert_int_equal(pread(f->fd, back, sizeof(back), 5 * 512), (ssize_t)sizeof(back));
    assert_memory_equal(back, buf, sizeof(buf));
    memset(back, 0, sizeof(back));
    mem_write(&f->vm.mem, DATA, back, sizeof(back));
    assert_int_equal(request(f, T_IN, 5, 1024, true), S_OK);
    mem_read(&f->vm.mem, DATA, back, sizeof(back));
    assert_memory_equal(back, buf, sizeof(buf));
    /* The last sector; then one past the end, and a sector number that wraps. */
    assert_int_equal(request(f, T_IN, SECTORS - 1, 512, true), S_OK);
    assert_int_equal(request(f, T_IN, SECTORS - 1, 1024, true), S_IOERR);
    assert_int_equal(request(f, T_IN, UINT64_MAX / 512 + 1, 512, true), S_IOERR);
    assert_int_equal(request(f, T_IN, 0, 100, true), S_IOERR); /* not whole sectors */
    assert_int_equal(request(f, 99, 0, 512, true), S_UNSUPP);
}

static void test_get_id_and_interrupt(void **state)
{
    struct fixture *f = *state;
    char id[21] = {0};
    const char *name = strrchr(f->path, '/') + 1;

    driver_init(f, F_VERSION1_HI, QSIZE);
    assert_int_equal(request(f, T_GET_ID, 0, 20, true), S_OK);
    mem_read(&f->vm.mem, DATA, id, 20);
    assert_string_equal(id, name);
    assert_int_equal(mmio_rd(&f->vm, R_ISR), 1);
    assert_int_equal(irq_level[f->dev->irq], 1);
    mmio_wr(&f->vm, R_ACK, 1);
    assert_int_equal(mmio_rd(&f->vm, R_ISR), 0);
    assert_int_equal(irq_level[f->dev->irq], 0);
}

static void test_read_only(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[512], back[512];

    assert_int_equal(mmio_rd(&f->vm, R_DEV_FEAT) & F_RO, F_RO);
    driver_init(f, F_VERSION1_HI, QSIZE);
    memset(buf, 0xab, sizeof(buf));
    mem_write(&f->vm.mem, DATA, buf, sizeof(buf));
    assert_int_equal(request(f, T_OUT, 3, 512, false), S_IOERR);
    assert_int_equal(pread(f->fd, back, sizeof(back), 3 * 512), 512);
    assert_int_equal(back[0], 3); /* unchanged */
    assert_int_equal(request(f, T_IN, 3, 512, true), S_OK);
}

/* DISCARD (§5.2.6): its config fields, a range punched out of the raw
 * image (reads as zeros), flags and bad ranges refused. */
static void test_discard(void **state)
{
    struct fixture *f = *state;
    struct {
        uint64_t sector;
        uint32_t num_sectors, flags;
    } r[2] = {{8, 8, 0}, {SECTORS - 8, 8, 0}};
    uint8_t back[4096], zero[4096] = {0};

    assert_int_equal(mmio_rd(&f->vm, R_DEV_FEAT) & F_DISCARD, F_DISCARD);
    assert_int_equal(mmio_rd(&f->vm, R_CONFIG + 36), 1u << 22); /* max_discard_sectors */
    assert_int_equal(mmio_rd(&f->vm, R_CONFIG + 40), 32);       /* max_discard_seg */
    assert_int_equal(mmio_rd(&f->vm, R_CONFIG + 44), 8);        /* 4 KiB alignment */
    driver_init(f, F_VERSION1_HI, QSIZE);
    mem_write(&f->vm.mem, DATA, r, sizeof(r));
    assert_int_equal(request(f, T_DISCARD, 0, sizeof(r), false), S_OK);
    assert_int_equal(pread(f->fd, back, sizeof(back), 8 * 512), (ssize_t)sizeof(back));
    assert_memory_equal(back, zero, sizeof(back));
    assert_int_equal(pread(f->fd, back, 512, 16 * 512), 512);
    assert_int_equal(back[0], 16); /* the next sector is kept */
    r[0].flags = 1;
    mem_write(&f->vm.mem, DATA, r, sizeof(r));
    assert_int_equal(request(f, T_DISCARD, 0, sizeof(r[0]), false), S_UNSUPP);
    r[0].sector = SECTORS - 4;
    r[0].flags = 0;
    mem_write(&f->vm.mem, DATA, r, sizeof(r));
    assert_int_equal(request(f, T_DISCARD, 0, sizeof(r[0]), false), S_IOERR);
    assert_int_equal(request(f, T_DISCARD, 0, 10, false), S_IOERR); /* not whole ranges */
}

/* No VERSION_1 (a legacy driver) or a feature never offered: no FEATURES_OK. */
static void test_features_ok_refused(void **state)
{
    struct fixture *f = *state;

    driver_init(f, 0, QSIZE);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS) & 8, 0);
    driver_init(f, F_VERSION1_HI | 0x80000000u, QSIZE);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS) & 8, 0);
    driver_init(f, F_VERSION1_HI, QSIZE);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS) & 8, 8);
}

/* A notification before DRIVER_OK is ignored. */
static void test_notify_before_ready(void **state)
{
    struct fixture *f = *state;

    driver_init(f, F_VERSION1_HI, QSIZE);
    mmio_wr(&f->vm, R_STATUS, 0xb); /* DRIVER_OK taken back */
    ring_put_desc(&f->vm, 0, 0, HDR, 16, 0, 0);
    kick(f, 100);
    assert_int_equal(ring_used_idx(&f->vm, 0), 0);
}

/* A descriptor loop, then a queue size that is not a power of two: each
 * time the device needs a reset, says so with a config interrupt, and
 * works again after one. */
static void test_hostile_ring_then_reset(void **state)
{
    struct fixture *f = *state;

    driver_init(f, F_VERSION1_HI, QSIZE);
    ring_put_desc(&f->vm, 0, 0, HDR, 16, 1, 1);
    ring_put_desc(&f->vm, 0, 1, DATA, 16, 1, 0);
    kick(f, 100);
    /* The I/O thread finds the loop: wait for it, 5 s at most. */
    for (int i = 0; i < 5000 && !(mmio_rd(&f->vm, R_STATUS) & 64); i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    assert_int_equal(ring_used_idx(&f->vm, 0), 0);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS) & 64, 64);
    assert_int_equal(mmio_rd(&f->vm, R_ISR) & 2, 2);
    assert_int_equal(irq_level[f->dev->irq], 1);

    driver_init(f, F_VERSION1_HI, 6);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS) & 64, 64);

    driver_init(f, F_VERSION1_HI, QSIZE);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS), 0xf);
    assert_int_equal(mmio_rd(&f->vm, R_ISR), 0);
    assert_int_equal(request(f, T_IN, 1, 512, true), S_OK);
}

/* A reset while a request may be in flight returns once none is; nothing
 * reaches the used ring afterwards, and the device works after re-init. */
static void test_reset_mid_request(void **state)
{
    struct fixture *f = *state;
    uint32_t hdr[4] = {T_IN, 0, 0, 0};
    uint16_t head = 0, idx = 1, after;

    driver_init(f, F_VERSION1_HI, QSIZE);
    mem_write(&f->vm.mem, HDR, hdr, 16);
    ring_put_desc(&f->vm, 0, 0, HDR, 16, 1, 1);
    ring_put_desc(&f->vm, 0, 1, DATA, SECTORS * 512, 1 | 2, 2);
    ring_put_desc(&f->vm, 0, 2, STAT, 1, 2, 0);
    mem_write(&f->vm.mem, AVAIL + 4, &head, 2);
    mem_write(&f->vm.mem, AVAIL + 2, &idx, 2);
    mmio_wr(&f->vm, R_NOTIFY, 0);
    mmio_wr(&f->vm, R_STATUS, 0);
    after = ring_used_idx(&f->vm, 0);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS), 0);
    nanosleep(&(struct timespec){0, 50000000}, NULL);
    assert_int_equal(ring_used_idx(&f->vm, 0), after);
    driver_init(f, F_VERSION1_HI, QSIZE);
    assert_int_equal(request(f, T_IN, 1, 512, true), S_OK);
}

static int64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Ops and bytes limits: requests wait for their tokens (the buckets start
 * full), a flush takes no bytes, each held-back request is counted once. */
static void test_rate_limited(void **state)
{
    struct fixture *f = *state;
    struct rate_limiter_cfg ops = {.ops = {2, 0, 300}}, bytes = {.bandwidth = {1024, 0, 1000}};
    int64_t t0;

    driver_init(f, F_VERSION1_HI, QSIZE);
    virtio_blk_set_rate_limiter(f->dev, &ops);
    t0 = now_ms();
    for (int i = 0; i < 4; i++)
        assert_int_equal(request(f, T_IN, 1, 512, true), S_OK);
    assert_true(now_ms() - t0 >= 295);
    {
        struct virtio_blk_metrics m = {0};

        virtio_blk_take_metrics(f->dev, &m);
        assert_int_equal(m.throttled, 2);
        m = (struct virtio_blk_metrics){0};
        virtio_blk_take_metrics(f->dev, &m);
        assert_int_equal(m.throttled, 0);
    }
    virtio_blk_set_rate_limiter(f->dev, &bytes);
    t0 = now_ms();
    assert_int_equal(request(f, T_IN, 1, 1024, true), S_OK);
    assert_int_equal(request(f, T_FLUSH, 0, 0, false), S_OK);
    assert_true(now_ms() - t0 < 400);
    assert_int_equal(request(f, T_OUT, 1, 512, false), S_OK);
    assert_true(now_ms() - t0 >= 495);
}

/* A request held back by a slow limit: a reset returns at once and drops
 * it; after re-init it is gone and the device works once the limit is
 * lifted; destroy with a request held back does not hang. */
static void test_rate_limited_reset(void **state)
{
    struct fixture *f = *state;
    struct rate_limiter_cfg slow = {.ops = {1, 0, 1000000}}, none = {0};
    int64_t t0;

    driver_init(f, F_VERSION1_HI, QSIZE);
    virtio_blk_set_rate_limiter(f->dev, &slow);
    assert_int_equal(request(f, T_IN, 1, 512, true), S_OK);
    kick(f, 100);
    assert_int_equal(ring_used_idx(&f->vm, 0), 1);
    t0 = now_ms();
    mmio_wr(&f->vm, R_STATUS, 0);
    assert_true(now_ms() - t0 < 500);
    driver_init(f, F_VERSION1_HI, QSIZE);
    virtio_blk_set_rate_limiter(f->dev, &none);
    assert_int_equal(request(f, T_IN, 1, 512, true), S_OK);
    assert_int_equal(ring_used_idx(&f->vm, 0), 1);
    virtio_blk_set_rate_limiter(f->dev, &slow);
    assert_int_equal(request(f, T_IN, 1, 512, true), S_OK);
    kick(f, 50); /* held back when teardown destroys the disk */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity_and_config, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_write_flush_read, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_get_id_and_interrupt, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_read_only, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_discard, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_features_ok_refused, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_notify_before_ready, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_ring_then_reset, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_reset_mid_request, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limited, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limited_reset, setup_rw, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
