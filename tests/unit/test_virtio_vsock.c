/*
 * virtio-vsock behind the virtio-mmio transport, driven through the MMIO bus
 * as a driver would, with the test as the host's end of the Unix sockets:
 * connections both ways, and a hostile driver (short chains, foreign CIDs,
 * packets for unknown connections, lengths the chain does not hold, credit
 * lies, a ring out of guest RAM) that only ever loses its own connections.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "virtio/vsock.h"
#include "vm/vm.h"
#include "loop_fixture.h"
#include "virtio_mmio_driver.h"

#define QSIZE   8
#define RX_BUF  0x40000ULL /* QSIZE buffers of BUF_LEN */
#define BUF_LEN 4096
#define TX_HDR  0x50000ULL
#define TX_DATA 0x51000ULL /* up to 200 KiB */

#define CID       42
#define HOST_PORT 5000

enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE };

/* §5.10.6, struct virtio_vsock_hdr. */
struct hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

struct fixture {
    struct vm vm;
    struct loop_fixture loop; /* the device's; the test is also the host's clients */
    struct virtio_dev *dev;
    char dir[64], uds[96];
    uint16_t avail_idx[3];
    uint16_t rx_seen; /* receive buffers the test has read */
};

static int setup(void **state)
{
    static struct fixture f;

    memset(&f, 0, sizeof(f));
    snprintf(f.dir, sizeof(f.dir), "/tmp/vx86-vsock-XXXXXX");
    assert_non_null(mkdtemp(f.dir));
    snprintf(f.uds, sizeof(f.uds), "%s/v.sock", f.dir);
    f.vm.accel = &fake_engine;
    f.vm.loop = loop_fixture_init(&f.loop);
    bus_init(&f.vm.mmio, "mmio");
    assert_int_equal(mem_init(&f.vm.mem, 4 << 20), 0);
    f.dev = virtio_vsock_create(&f.vm, CID, f.uds);
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
    assert_int_equal(access(f->uds, F_OK), -1); /* removed */
    mem_destroy(&f->vm.mem);
    bus_destroy(&f->vm.mmio);
    rmdir(f->dir);
    return 0;
}

/* Waits up to 5 s for queue q's used index to reach want (or pass it). */
static void wait_used(struct fixture *f, int q, uint16_t want)
{
    for (int i = 0; i < 5000 && (int16_t)(ring_used_idx(&f->vm, q) - want) < 0; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    assert_true((int16_t)(ring_used_idx(&f->vm, q) - want) >= 0);
}

static void offer(struct fixture *f, int q, uint16_t head)
{
    ring_offer(&f->vm, q, &f->avail_idx[q], QSIZE, head);
}

/* VERSION_1 alone; three queues; every receive buffer posted. */
static void driver_init(struct fixture *f)
{
    memset(f->avail_idx, 0, sizeof(f->avail_idx));
    f->rx_seen = 0;
    mmio_wr(&f->vm, R_STATUS, 0);
    mmio_wr(&f->vm, R_STATUS, 3);
    mmio_wr(&f->vm, R_DRV_FEAT_SEL, 1);
    mmio_wr(&f->vm, R_DRV_FEAT, 1);
    mmio_wr(&f->vm, R_STATUS, 0xb);
    for (int q = 0; q < 3; q++) {
        mem_write(&f->vm.mem, avail_of(q), &(uint32_t){0}, 4);
        mem_write(&f->vm.mem, used_of(q), &(uint32_t){0}, 4);
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

static struct hdr guest_hdr(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t len)
{
    return (struct hdr){.src_cid = CID,
                        .dst_cid = 2,
                        .src_port = src_port,
                        .dst_port = dst_port,
                        .len = len,
                        .type = 1,
                        .op = op,
                        .buf_alloc = 65536};
}

/* Sends h with len bytes of data (header and data in two buffers, as
 * Linux does) and waits for the chain to come back. */
static void send_pkt(struct fixture *f, const struct hdr *h, const void *data, uint32_t len)
{
    uint16_t used = ring_used_idx(&f->vm, 1);

    mem_write(&f->vm.mem, TX_HDR, h, sizeof(*h));
    if (len) {
        mem_write(&f->vm.mem, TX_DATA, data, len);
        ring_put_desc(&f->vm, 1, 0, TX_HDR, sizeof(*h), 1, 1);
        ring_put_desc(&f->vm, 1, 1, TX_DATA, len, 0, 0);
    } else {
        ring_put_desc(&f->vm, 1, 0, TX_HDR, sizeof(*h), 0, 0);
    }
    offer(f, 1, 0);
    wait_used(f, 1, (uint16_t)(used + 1));
}

/* The next packet the device put in a receive buffer; its data into data
 * (room for BUF_LEN). The buffer is posted again. */
static struct hdr recv_pkt(struct fixture *f, void *data)
{
    struct hdr h;
    uint32_t id;
    uint16_t n = f->rx_seen++;

    wait_used(f, 0, (uint16_t)(n + 1));
    mem_read(&f->vm.mem, used_of(0) + 4 + 8 * (n % QSIZE), &id, 4);
    mem_read(&f->vm.mem, RX_BUF + BUF_LEN * id, &h, sizeof(h));
    assert_true(h.len <= BUF_LEN - sizeof(h));
    if (data)
        mem_read(&f->vm.mem, RX_BUF + BUF_LEN * id + sizeof(h), data, h.len);
    offer(f, 0, (uint16_t)id);
    return h;
}

static void assert_rst(const struct hdr *h, uint32_t src_port, uint32_t dst_port)
{
    assert_int_equal(h->op, OP_RST);
    assert_int_equal(h->src_cid, 2);
    assert_int_equal(h->dst_cid, CID);
    assert_int_equal(h->src_port, src_port);
    assert_int_equal(h->dst_port, dst_port);
}

static int host_listener(struct fixture *f, uint32_t port)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", f->uds, port);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(s, 4), 0);
    return s;
}

static void test_identity_and_config(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(mmio_rd(&f->vm, R_DEVICE_ID), 19);
    assert_int_equal(mmio_rd(&f->vm, R_CONFIG), CID);
    assert_int_equal(mmio_rd(&f->vm, R_CONFIG + 4), 0);
}

/* REQUEST to a host port with a listener: RESPONSE, data reaches the
 * host's socket, the host's answer comes back, SHUTDOWN both ends in RST. */
static void test_guest_connects(void **state)
{
    struct fixture *f = *state;
    int l = host_listener(f, HOST_PORT), c;
    struct hdr h;
    char buf[BUF_LEN];

    driver_init(f);
    h = guest_hdr(OP_REQUEST, 1025, HOST_PORT, 0);
    send_pkt(f, &h, NULL, 0);
    h = recv_pkt(f, NULL);
    assert_int_equal(h.op, OP_RESPONSE);
    assert_int_equal(h.src_port, HOST_PORT);
    assert_int_equal(h.dst_port, 1025);
    assert_true(h.buf_alloc > 0);
    c = accept(l, NULL, NULL);
    assert_true(c >= 0);
    h = guest_hdr(OP_RW, 1025, HOST_PORT, 5);
    send_pkt(f, &h, "hello", 5);
    assert_int_equal(recv(c, buf, sizeof(buf), 0), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(send(c, "world!", 6, 0), 6);
    h = recv_pkt(f, buf);
    assert_int_equal(h.op, OP_RW);
    assert_int_equal(h.len, 6);
    assert_memory_equal(buf, "world!", 6);
    h = guest_hdr(OP_SHUTDOWN, 1025, HOST_PORT, 0);
    h.flags = 3;
    send_pkt(f, &h, NULL, 0);
    h = recv_pkt(f, NULL);
    assert_rst(&h, HOST_PORT, 1025);
    assert_int_equal(recv(c, buf, sizeof(buf), 0), 0); /* closed */
    close(c);
    close(l);
}

/* CONNECT from the host: a REQUEST to the guest's port, OK once it answers;
 * the guest's RST closes the host's socket. */
static void test_host_connects(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    char buf[BUF_LEN], ok[32];
    struct hdr h;
    uint32_t port;

    driver_init(f);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->uds);
    assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(send(s, "CONNECT 77\nping", 15, 0), 15);
    h = recv_pkt(f, NULL);
    assert_int_equal(h.op, OP_REQUEST);
    assert_int_equal(h.src_cid, 2);
    assert_int_equal(h.dst_cid, CID);
    assert_int_equal(h.dst_port, 77);
    port = h.src_port;
    assert_true(port >= 1u << 30);
    h = guest_hdr(OP_RESPONSE, 77, port, 0);
    send_pkt(f, &h, NULL, 0);
    snprintf(ok, sizeof(ok), "OK %u\n", port);
    assert_int_equal(recv(s, buf, strlen(ok), MSG_WAITALL), (ssize_t)strlen(ok));
    assert_memory_equal(buf, ok, strlen(ok));
    h = recv_pkt(f, buf); /* what the client sent after its line */
    assert_int_equal(h.op, OP_RW);
    assert_int_equal(h.len, 4);
    assert_memory_equal(buf, "ping", 4);
    h = guest_hdr(OP_RST, 77, port, 0);
    send_pkt(f, &h, NULL, 0);
    assert_int_equal(recv(s, buf, sizeof(buf), 0), 0);
    close(s);
}

/* A guest that leaves a REQUEST unanswered: after 2 s the host's socket
 * closes and the guest gets an RST. */
static void test_host_connect_times_out(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 10};
    struct hdr h;
    uint32_t port;
    char buf[16];

    driver_init(f);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->uds);
    assert_int_equal(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    assert_int_equal(send(s, "CONNECT 78\n", 11, 0), 11);
    h = recv_pkt(f, NULL);
    assert_int_equal(h.op, OP_REQUEST);
    assert_int_equal(recv(s, buf, sizeof(buf), 0), 0);
    port = h.src_port;
    h = recv_pkt(f, NULL);
    assert_rst(&h, port, 78);
    close(s);
}

/* A host listener whose backlog is full: the guest's connection waits for
 * room (a Unix socket's connect does not), and gets it once the listener
 * accepts. */
static void test_guest_connect_waits_for_the_backlog(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int l = host_listener(f, HOST_PORT), first = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int a, b;
    uint16_t rx;
    struct hdr h;

    assert_int_equal(listen(l, 0), 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", f->uds, HOST_PORT);
    assert_int_equal(connect(first, (struct sockaddr *)&sa, sizeof(sa)), 0);
    driver_init(f);
    rx = ring_used_idx(&f->vm, 0);
    h = guest_hdr(OP_REQUEST, 30, HOST_PORT, 0);
    send_pkt(f, &h, NULL, 0);
    nanosleep(&(struct timespec){0, 100000000}, NULL);
    assert_int_equal(ring_used_idx(&f->vm, 0), rx); /* no answer yet */
    a = accept(l, NULL, NULL);
    h = recv_pkt(f, NULL);
    assert_int_equal(h.op, OP_RESPONSE);
    assert_int_equal(h.dst_port, 30);
    b = accept(l, NULL, NULL);
    assert_true(a >= 0 && b >= 0);
    close(a);
    close(b);
    close(first);
    close(l);
}

/* With every receive buffer full and more RSTs for unknown connections
 * than the device keeps, the RST that ends a real connection still comes. */
static void test_rst_of_a_connection_is_never_dropped(void **state)
{
    struct fixture *f = *state;
    int l = host_listener(f, HOST_PORT), c;
    bool found = false;
    struct hdr h;

    driver_init(f);
    h = guest_hdr(OP_REQUEST, 20, HOST_PORT, 0);
    send_pkt(f, &h, NULL, 0);
    assert_int_equal(recv_pkt(f, NULL).op, OP_RESPONSE);
    c = accept(l, NULL, NULL);
    for (uint32_t port = 100; port < 200; port++) {
        h = guest_hdr(OP_RW, port, 9, 1);
        send_pkt(f, &h, "x", 1);
    }
    h = guest_hdr(OP_SHUTDOWN, 20, HOST_PORT, 0);
    h.flags = 3;
    send_pkt(f, &h, NULL, 0);
    for (int n = 0; n < 200 && !found; n++) {
        h = recv_pkt(f, NULL);
        assert_int_equal(h.op, OP_RST);
        found = h.dst_port == 20;
    }
    assert_true(found);
    close(c);
    close(l);
}

/* Each misdeed costs the guest at most its connection; the device and its
 * other connections go on. */
static void test_hostile_packets(void **state)
{
    struct fixture *f = *state;
    static uint8_t big[200 << 10];
    int l = host_listener(f, HOST_PORT), c;
    struct hdr h;
    char buf[BUF_LEN];

    driver_init(f);
    /* A chain shorter than a header: returned, nothing else. */
    ring_put_desc(&f->vm, 1, 0, TX_HDR, 10, 0, 0);
    offer(f, 1, 0);
    wait_used(f, 1, 1);
    /* Another source CID: dropped without an answer. */
    h = guest_hdr(OP_REQUEST, 1, HOST_PORT, 0);
    h.src_cid = 7;
    send_pkt(f, &h, NULL, 0);
    /* Data, an unknown operation, a credit update for no connection. */
    h = guest_hdr(OP_RW, 2, 9, 3);
    send_pkt(f, &h, "abc", 3);
    h = guest_hdr(99, 3, 9, 0);
    send_pkt(f, &h, NULL, 0);
    h = guest_hdr(OP_CREDIT_UPDATE, 4, 9, 0);
    send_pkt(f, &h, NULL, 0);
    /* A connection to a host port where nothing listens. */
    h = guest_hdr(OP_REQUEST, 5, 9, 0);
    send_pkt(f, &h, NULL, 0);
    /* A stream of another type (SEQPACKET, not offered). */
    h = guest_hdr(OP_REQUEST, 6, HOST_PORT, 0);
    h.type = 2;
    send_pkt(f, &h, NULL, 0);
    for (uint32_t port = 2; port <= 6; port++) {
        h = recv_pkt(f, NULL);
        assert_rst(&h, port == 6 ? HOST_PORT : 9, port);
    }
    /* A connection; then a length its chain does not hold: RST. */
    h = guest_hdr(OP_REQUEST, 10, HOST_PORT, 0);
    send_pkt(f, &h, NULL, 0);
    assert_int_equal(recv_pkt(f, NULL).op, OP_RESPONSE);
    c = accept(l, NULL, NULL);
    h = guest_hdr(OP_RW, 10, HOST_PORT, 100);
    send_pkt(f, &h, "short", 5);
    h = recv_pkt(f, NULL);
    assert_rst(&h, HOST_PORT, 10);
    assert_int_equal(recv(c, buf, sizeof(buf), 0), 0);
    close(c);
    /* Another, that sends more than its credit: RST. */
    h = guest_hdr(OP_REQUEST, 11, HOST_PORT, 0);
    send_pkt(f, &h, NULL, 0);
    h = recv_pkt(f, NULL);
    assert_int_equal(h.op, OP_RESPONSE);
    assert_true(h.buf_alloc < sizeof(big));
    c = accept(l, NULL, NULL);
    h = guest_hdr(OP_RW, 11, HOST_PORT, sizeof(big));
    send_pkt(f, &h, big, sizeof(big));
    h = recv_pkt(f, NULL);
    assert_rst(&h, HOST_PORT, 11);
    assert_int_equal(recv(c, buf, sizeof(buf), 0), 0);
    close(c);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS) & 64, 0); /* no NEEDS_RESET */
    /* A descriptor outside guest RAM breaks the device, not vx86; a reset
     * repairs it. */
    ring_put_desc(&f->vm, 1, 0, 1ULL << 40, 44, 0, 0);
    offer(f, 1, 0);
    for (int i = 0; i < 5000 && !(mmio_rd(&f->vm, R_STATUS) & 64); i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS) & 64, 64);
    driver_init(f);
    h = guest_hdr(OP_REQUEST, 12, HOST_PORT, 0);
    send_pkt(f, &h, NULL, 0);
    assert_int_equal(recv_pkt(f, NULL).op, OP_RESPONSE);
    c = accept(l, NULL, NULL);
    /* A reset closes the host's end of every connection. */
    mmio_wr(&f->vm, R_STATUS, 0);
    assert_int_equal(recv(c, buf, sizeof(buf), 0), 0);
    close(c);
    close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity_and_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guest_connects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_connects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_connect_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guest_connect_waits_for_the_backlog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rst_of_a_connection_is_never_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_packets, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
