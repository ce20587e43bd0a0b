/*
 * virtio-net behind the virtio-mmio transport, driven through the MMIO bus
 * as Linux's driver does, on the user-mode backend (libslirp needs no root):
 * an ARP request for the gateway must come back as an ARP reply in a
 * receive buffer. A hostile driver's short and oversized frames are dropped
 * without breaking the device. Rate limiters hold frames back each way
 * without losing them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "virtio/devices.h"
#include "vm/board.h"
#include "vm/vm.h"
#include "loop_fixture.h"
#include "virtio_mmio_driver.h"

/* virtio-mmio registers (VIRTIO 1.2 §4.2.2). */

#define QSIZE   8
#define RX_BUF  0x20000ULL /* QSIZE buffers of BUF_LEN */
#define BUF_LEN 2048
#define TX_HDR  0x30000ULL
#define TX_DATA 0x31000ULL
#define BIG     0x40000ULL /* 70000 bytes */

#define F_MAC    (1u << 5)
#define F_STATUS (1u << 16)

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

/* Ring addresses of queue q (0 receive, 1 transmit). */
struct fixture {
    struct vm vm;
    struct virtio_dev *dev;
    uint16_t avail_idx[2];
    struct loop_fixture loop; /* the backend's */
};

static int setup(void **state)
{
    static struct fixture f;

    memset(&f, 0, sizeof(f));
    f.vm.accel = &fake_engine;
    f.vm.loop = loop_fixture_init(&f.loop);
    f.vm.cfg.net = (struct vm_net){.mode = NET_USER};
    memcpy(f.vm.cfg.net.mac, mac, 6);
    bus_init(&f.vm.mmio, "mmio");
    assert_int_equal(mem_init(&f.vm.mem, 4 << 20), 0);
    f.dev = virtio_net_create(&f.vm, &f.vm.cfg.net);
    assert_non_null(f.dev);
    assert_int_equal(virtio_mmio_add(f.dev, 0), 0);
    loop_fixture_start(&f.loop);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    loop_fixture_stop(&f->loop);
    f->dev->ops->destroy(f->dev);
    loop_fixture_fini(&f->loop);
    mem_destroy(&f->vm.mem);
    bus_destroy(&f->vm.mmio);
    return 0;
}

/* Waits up to 5 s for queue q's used index to reach want. */
static void wait_used(struct fixture *f, int q, uint16_t want)
{
    for (int i = 0; i < 5000 && ring_used_idx(&f->vm, q) != want; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    assert_int_equal(ring_used_idx(&f->vm, q), want);
}

/* Makes descriptor head available on queue q and notifies. */
static void offer(struct fixture *f, int q, uint16_t head)
{
    ring_offer(&f->vm, q, &f->avail_idx[q], QSIZE, head);
}

/* Linux's probe with VERSION_1, MAC and STATUS; both queues; every receive
 * descriptor posted (one BUF_LEN buffer each). */
static void driver_init(struct fixture *f)
{
    mmio_wr(&f->vm, R_STATUS, 0);
    mmio_wr(&f->vm, R_STATUS, 3);
    mmio_wr(&f->vm, R_DRV_FEAT_SEL, 0);
    mmio_wr(&f->vm, R_DRV_FEAT, F_MAC | F_STATUS);
    mmio_wr(&f->vm, R_DRV_FEAT_SEL, 1);
    mmio_wr(&f->vm, R_DRV_FEAT, 1); /* VERSION_1 */
    mmio_wr(&f->vm, R_STATUS, 0xb);
    for (int q = 0; q < 2; q++) {
        mmio_wr(&f->vm, R_QUEUE_SEL, (uint32_t)q);
        mmio_wr(&f->vm, R_QUEUE_NUM, QSIZE);
        mmio_wr(&f->vm, R_DESC, (uint32_t)desc_of(q));
        mmio_wr(&f->vm, R_DRIVER, (uint32_t)avail_of(q));
        mmio_wr(&f->vm, R_DEVICE, (uint32_t)used_of(q));
        mmio_wr(&f->vm, R_QUEUE_READY, 1);
    }
    mmio_wr(&f->vm, R_STATUS, 0xf);
    for (unsigned i = 0; i < QSIZE; i++) {
        ring_put_desc(&f->vm, 0, i, RX_BUF + BUF_LEN * i, BUF_LEN, 2, 0);
        offer(f, 0, (uint16_t)i);
    }
}

/* Sends "who has 10.0.2.2" (header and frame in two buffers); returns
 * once the device took the chain. */
static void arp_send(struct fixture *f)
{
    uint8_t hdr[12] = {0}, frame[42];
    uint8_t arp[] = {0, 1, 8, 0, 6, 4, 0, 1};
    uint32_t me = inet_addr("10.0.2.15"), gw = inet_addr("10.0.2.2");
    uint16_t tx = ring_used_idx(&f->vm, 1);

    memset(frame, 0xff, 6);
    memcpy(frame + 6, mac, 6);
    frame[12] = 0x08;
    frame[13] = 0x06;
    memcpy(frame + 14, arp, 8);
    memcpy(frame + 22, mac, 6);
    memcpy(frame + 28, &me, 4);
    memset(frame + 32, 0, 6);
    memcpy(frame + 38, &gw, 4);
    mem_write(&f->vm.mem, TX_HDR, hdr, sizeof(hdr));
    mem_write(&f->vm.mem, TX_DATA, frame, sizeof(frame));
    ring_put_desc(&f->vm, 1, 0, TX_HDR, 12, 1, 1);
    ring_put_desc(&f->vm, 1, 1, TX_DATA, sizeof(frame), 0, 0);
    offer(f, 1, 0);
    wait_used(f, 1, (uint16_t)(tx + 1));
}

/* Checks that the n-th received frame is the gateway's answer to
 * arp_send's question (waiting for it up to 5 s). */
static void arp_check(struct fixture *f, unsigned n)
{
    uint8_t got[12 + 42];
    uint32_t gw = inet_addr("10.0.2.2"), len;

    wait_used(f, 0, (uint16_t)(n + 1));
    mem_read(&f->vm.mem, used_of(0) + 4 + 8 * (n % QSIZE) + 4, &len, 4);
    assert_true(len >= sizeof(got));
    mem_read(&f->vm.mem, RX_BUF + BUF_LEN * (n % QSIZE), got, sizeof(got));
    assert_int_equal(got[10] | got[11] << 8, 1); /* num_buffers */
    assert_memory_equal(got + 12, mac, 6);       /* to us */
    assert_int_equal(got[12 + 12], 0x08);        /* ARP */
    assert_int_equal(got[12 + 13], 0x06);
    assert_int_equal(got[12 + 21], 2);          /* a reply */
    assert_memory_equal(got + 12 + 28, &gw, 4); /* from the gateway */
}

static void arp_roundtrip(struct fixture *f, unsigned n)
{
    arp_send(f);
    arp_check(f, n);
}

static void test_identity_and_config(void **state)
{
    struct fixture *f = *state;
    uint8_t m[6];

    assert_int_equal(mmio_rd(&f->vm, R_DEVICE_ID), 1);
    mmio_wr(&f->vm, R_DEV_FEAT_SEL, 0);
    assert_int_equal(mmio_rd(&f->vm, R_DEV_FEAT) & (F_MAC | F_STATUS), F_MAC | F_STATUS);
    for (int i = 0; i < 6; i++)
        m[i] = (uint8_t)bus_read(&f->vm.mmio, BOARD_VIRTIO_MMIO_BASE + R_CONFIG + i, 1);
    assert_memory_equal(m, mac, 6);
    assert_int_equal(bus_read(&f->vm.mmio, BOARD_VIRTIO_MMIO_BASE + R_CONFIG + 6, 2),
                     1); /* LINK_UP */
}

static void test_arp_through_slirp(void **state)
{
    struct fixture *f = *state;

    driver_init(f);
    arp_roundtrip(f, 0);
    arp_roundtrip(f, 1);
}

/* A chain shorter than the header, one longer than 65550 bytes of frame,
 * and an empty frame are each returned unsent; the device keeps working. */
static void test_hostile_frames(void **state)
{
    struct fixture *f = *state;
    static uint8_t big[70000];

    driver_init(f);
    ring_put_desc(&f->vm, 1, 0, TX_HDR, 4, 0, 0);
    offer(f, 1, 0);
    wait_used(f, 1, 1);
    mem_write(&f->vm.mem, BIG, big, sizeof(big));
    ring_put_desc(&f->vm, 1, 0, BIG, sizeof(big), 0, 0);
    offer(f, 1, 0);
    wait_used(f, 1, 2);
    ring_put_desc(&f->vm, 1, 0, TX_HDR, 12, 0, 0);
    offer(f, 1, 0);
    wait_used(f, 1, 3);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS) & 64, 0); /* no NEEDS_RESET */
    assert_int_equal(ring_used_idx(&f->vm, 0), 0);
    arp_roundtrip(f, 0);
}

static int64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* One frame per 200 ms each way (the bucket starts with one): four ARP
 * round trips take at least 600 ms, whichever direction is limited, and no
 * frame is lost; each held-back frame is counted once. */
static void test_rate_limited(void **state)
{
    struct fixture *f = *state;
    struct rate_limiter_cfg none = {0}, one = {.ops = {1, 0, 200}};
    struct virtio_net_metrics m;

    driver_init(f);
    for (int dir = 0; dir < 2; dir++) {
        int64_t t0 = now_ms();

        virtio_net_set_rate_limiters(f->dev, dir ? &one : &none, dir ? &none : &one);
        for (unsigned i = 0; i < 4; i++)
            arp_roundtrip(f, 4 * (unsigned)dir + i);
        assert_true(now_ms() - t0 >= 590);
        m = (struct virtio_net_metrics){0};
        virtio_net_take_metrics(f->dev, &m);
        assert_int_equal(dir ? m.rx_throttled : m.tx_throttled, 3);
        assert_int_equal(dir ? m.tx_throttled : m.rx_throttled, 0);
        /* Four ARP requests out and four replies in, 42 bytes each. */
        assert_int_equal(m.tx_packets, 4);
        assert_int_equal(m.rx_packets, 4);
        /* Unlimited again; the next test direction starts full. */
        virtio_net_set_rate_limiters(f->dev, &none, &none);
    }
}

/* A frame held back by a slow limit goes out as soon as the limit is
 * lifted; a device destroyed with a frame held back does not hang. */
static void test_rate_limit_lifted(void **state)
{
    struct fixture *f = *state;
    /* Room for two frames: ours are 42 bytes, libslirp's answers at most 64. */
    struct rate_limiter_cfg none = {0}, slow = {.bandwidth = {100, 0, 1000000}},
                            slow_rx = {.bandwidth = {130, 0, 1000000}};

    driver_init(f);
    virtio_net_set_rate_limiters(f->dev, &none, &slow);
    arp_roundtrip(f, 0); /* 42 bytes of the bucket's 100 */
    arp_send(f);
    arp_check(f, 1);
    arp_send(f); /* 16 bytes left: held back for minutes */
    nanosleep(&(struct timespec){0, 300000000}, NULL);
    assert_int_equal(ring_used_idx(&f->vm, 0), 2);
    virtio_net_set_rate_limiters(f->dev, &none, &none);
    arp_check(f, 2);
    virtio_net_set_rate_limiters(f->dev, &slow_rx, &none);
    arp_roundtrip(f, 3);
    arp_roundtrip(f, 4);
    arp_send(f); /* its answer is held back when teardown destroys the device */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity_and_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arp_through_slirp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_lifted, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
