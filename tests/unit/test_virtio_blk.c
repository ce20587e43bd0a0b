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
#include "vm/vm.h"

/* virtio-mmio registers (VIRTIO 1.2 §4.2.2). */
#define R_MAGIC         0x000
#define R_VERSION       0x004
#define R_DEVICE_ID     0x008
#define R_DEV_FEAT      0x010
#define R_DEV_FEAT_SEL  0x014
#define R_DRV_FEAT      0x020
#define R_DRV_FEAT_SEL  0x024
#define R_QUEUE_SEL     0x030
#define R_QUEUE_NUM_MAX 0x034
#define R_QUEUE_NUM     0x038
#define R_QUEUE_READY   0x044
#define R_NOTIFY        0x050
#define R_ISR           0x060
#define R_ACK           0x064
#define R_STATUS        0x070
#define R_DESC          0x080
#define R_DRIVER        0x090
#define R_DEVICE        0x0a0
#define R_CONFIG        0x100

#define DESC  0x10000ULL
#define AVAIL 0x11000ULL
#define USED  0x12000ULL
#define HDR   0x20000ULL
#define DATA  0x21000ULL
#define STAT  0x23000ULL
#define QSIZE 8

#define SECTORS       128
#define F_RO          (1u << 5)
#define F_VERSION1_HI 1u /* bit 32 */

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };

static int irq_level[24]; /* the IOAPIC's GSIs */

static int fake_irq_set(struct vm *vm, uint32_t gsi, int level)
{
    (void)vm;
    if (gsi < sizeof(irq_level) / sizeof(irq_level[0]))
        irq_level[gsi] = level;
    return 0;
}

static const struct accel_ops fake_engine = {.name = "fake", .irq_set = fake_irq_set};

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
    f.dev = virtio_blk_create(&f.vm, f.path, ro);
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

static uint32_t rd(struct fixture *f, uint64_t off)
{
    return (uint32_t)bus_read(&f->vm.mmio, VIRTIO_MMIO_BASE + off, 4);
}

static void wr(struct fixture *f, uint64_t off, uint32_t v)
{
    bus_write(&f->vm.mmio, VIRTIO_MMIO_BASE + off, 4, v);
}

/* Linux's virtio_mmio probe and virtio_dev_probe, queue 0 of size qsize
 * on fresh (zeroed) rings. */
static void driver_init(struct fixture *f, uint32_t feat_hi, uint16_t qsize)
{
    static const uint8_t zero[0x1000];

    wr(f, R_STATUS, 0);
    mem_write(&f->vm.mem, AVAIL, zero, sizeof(zero));
    mem_write(&f->vm.mem, USED, zero, sizeof(zero));
    wr(f, R_STATUS, 1);
    wr(f, R_STATUS, 3);
    wr(f, R_DEV_FEAT_SEL, 0);
    wr(f, R_DRV_FEAT_SEL, 0);
    wr(f, R_DRV_FEAT, rd(f, R_DEV_FEAT) & (1u << 9)); /* FLUSH */
    wr(f, R_DRV_FEAT_SEL, 1);
    wr(f, R_DRV_FEAT, feat_hi);
    wr(f, R_STATUS, 0xb);
    wr(f, R_QUEUE_SEL, 0);
    wr(f, R_QUEUE_NUM, qsize);
    wr(f, R_DESC, DESC);
    wr(f, R_DRIVER, AVAIL);
    wr(f, R_DEVICE, USED);
    wr(f, R_QUEUE_READY, 1);
    wr(f, R_STATUS, 0xf);
    f->avail_idx = 0;
}

static void put_desc(struct fixture *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t d[16];

    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    mem_write(&f->vm.mem, DESC + 16 * i, d, 16);
}

static uint16_t used_idx(struct fixture *f)
{
    uint16_t v;

    mem_read(&f->vm.mem, USED + 2, &v, 2);
    return v;
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
    wr(f, R_NOTIFY, 0);
    for (int i = 0; i < ms && used_idx(f) != want; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
}

/* One request: header, len data bytes (out or in), status byte. */
static uint8_t request(struct fixture *f, uint32_t type, uint64_t sector, uint32_t len, bool in)
{
    uint32_t hdr[4] = {type, 0, (uint32_t)sector, (uint32_t)(sector >> 32)};
    uint8_t status = 0xee;
    uint16_t before = used_idx(f);

    mem_write(&f->vm.mem, HDR, hdr, 16);
    mem_write(&f->vm.mem, STAT, &status, 1);
    put_desc(f, 0, HDR, 16, 1, 1);
    if (len) {
        put_desc(f, 1, DATA, len, 1 | (in ? 2 : 0), 2);
        put_desc(f, 2, STAT, 1, 2, 0);
    } else {
        put_desc(f, 0, HDR, 16, 1, 2);
        put_desc(f, 2, STAT, 1, 2, 0);
    }
    kick(f, 5000);
    assert_int_equal(used_idx(f), (uint16_t)(before + 1));
    mem_read(&f->vm.mem, STAT, &status, 1);
    return status;
}

static void test_identity_and_config(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(rd(f, R_MAGIC), 0x74726976);
    assert_int_equal(rd(f, R_VERSION), 2);
    assert_int_equal(rd(f, R_DEVICE_ID), 2);
    assert_int_equal(rd(f, R_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
    assert_int_equal(rd(f, R_CONFIG), SECTORS);
    assert_int_equal(rd(f, R_CONFIG + 4), 0);
    assert_int_equal(bus_read(&f->vm.mmio, VIRTIO_MMIO_BASE + R_CONFIG, 1), SECTORS);
    wr(f, R_DEV_FEAT_SEL, 1);
    assert_int_equal(rd(f, R_DEV_FEAT) & F_VERSION1_HI, F_VERSION1_HI);
    wr(f, R_DEV_FEAT_SEL, 0);
    assert_int_equal(rd(f, R_DEV_FEAT) & F_RO, 0);
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
    assert_int_equal(rd(f, R_ISR), 1);
    assert_int_equal(irq_level[f->dev->irq], 1);
    wr(f, R_ACK, 1);
    assert_int_equal(rd(f, R_ISR), 0);
    assert_int_equal(irq_level[f->dev->irq], 0);
}

static void test_read_only(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[512], back[512];

    assert_int_equal(rd(f, R_DEV_FEAT) & F_RO, F_RO);
    driver_init(f, F_VERSION1_HI, QSIZE);
    memset(buf, 0xab, sizeof(buf));
    mem_write(&f->vm.mem, DATA, buf, sizeof(buf));
    assert_int_equal(request(f, T_OUT, 3, 512, false), S_IOERR);
    assert_int_equal(pread(f->fd, back, sizeof(back), 3 * 512), 512);
    assert_int_equal(back[0], 3); /* unchanged */
    assert_int_equal(request(f, T_IN, 3, 512, true), S_OK);
}

/* No VERSION_1 (a legacy driver) or a feature never offered: no FEATURES_OK. */
static void test_features_ok_refused(void **state)
{
    struct fixture *f = *state;

    driver_init(f, 0, QSIZE);
    assert_int_equal(rd(f, R_STATUS) & 8, 0);
    driver_init(f, F_VERSION1_HI | 0x80000000u, QSIZE);
    assert_int_equal(rd(f, R_STATUS) & 8, 0);
    driver_init(f, F_VERSION1_HI, QSIZE);
    assert_int_equal(rd(f, R_STATUS) & 8, 8);
}

/* A notification before DRIVER_OK is ignored. */
static void test_notify_before_ready(void **state)
{
    struct fixture *f = *state;

    driver_init(f, F_VERSION1_HI, QSIZE);
    wr(f, R_STATUS, 0xb); /* DRIVER_OK taken back */
    put_desc(f, 0, HDR, 16, 0, 0);
    kick(f, 100);
    assert_int_equal(used_idx(f), 0);
}

/* A descriptor loop, then a queue size that is not a power of two: each
 * time the device needs a reset, says so with a config interrupt, and
 * works again after one. */
static void test_hostile_ring_then_reset(void **state)
{
    struct fixture *f = *state;

    driver_init(f, F_VERSION1_HI, QSIZE);
    put_desc(f, 0, HDR, 16, 1, 1);
    put_desc(f, 1, DATA, 16, 1, 0);
    kick(f, 100);
    /* The I/O thread finds the loop: wait for it, 5 s at most. */
    for (int i = 0; i < 5000 && !(rd(f, R_STATUS) & 64); i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    assert_int_equal(used_idx(f), 0);
    assert_int_equal(rd(f, R_STATUS) & 64, 64);
    assert_int_equal(rd(f, R_ISR) & 2, 2);
    assert_int_equal(irq_level[f->dev->irq], 1);

    driver_init(f, F_VERSION1_HI, 6);
    assert_int_equal(rd(f, R_STATUS) & 64, 64);

    driver_init(f, F_VERSION1_HI, QSIZE);
    assert_int_equal(rd(f, R_STATUS), 0xf);
    assert_int_equal(rd(f, R_ISR), 0);
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
    put_desc(f, 0, HDR, 16, 1, 1);
    put_desc(f, 1, DATA, SECTORS * 512, 1 | 2, 2);
    put_desc(f, 2, STAT, 1, 2, 0);
    mem_write(&f->vm.mem, AVAIL + 4, &head, 2);
    mem_write(&f->vm.mem, AVAIL + 2, &idx, 2);
    wr(f, R_NOTIFY, 0);
    wr(f, R_STATUS, 0);
    after = used_idx(f);
    assert_int_equal(rd(f, R_STATUS), 0);
    nanosleep(&(struct timespec){0, 50000000}, NULL);
    assert_int_equal(used_idx(f), after);
    driver_init(f, F_VERSION1_HI, QSIZE);
    assert_int_equal(request(f, T_IN, 1, 512, true), S_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity_and_config, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_write_flush_read, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_get_id_and_interrupt, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_read_only, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(test_features_ok_refused, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_notify_before_ready, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_ring_then_reset, setup_rw, teardown),
        cmocka_unit_test_setup_teardown(test_reset_mid_request, setup_rw, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
