/*
 * libFuzzer target for virtio-vsock (virtio/vsock.c and its Unix-socket back
 * end, virtio/vsock_uds.c): the input plays a hostile guest that sets the
 * device up through its MMIO registers and hands it rings of its making
 * (transmit packets with any virtio_vsock_hdr, receive buffers of any
 * layout, any descriptor chains), and, on the host's side, a client of the
 * device's Unix socket and a listener that the guest's connections reach.
 *
 * Input (little-endian): flags (1 byte: bit 0 INDIRECT_DESC, bit 1
 * EVENT_IDX negotiated, bit 2 a host client connects and writes
 * "CONNECT <client port>\n" then the host bytes, bit 3 the harness closes
 * the host's sockets before the last round (of two or more), bits 4-7 all
 * set: the device is destroyed at the end, as at power-off, instead of
 * reset by the driver; rarely, since a new device costs as much as a few
 * inputs), rounds (1 byte: 1 + its low 2 bits), the transmit queue's size
 * (2) and its desc, avail and used rings (4 each, guest-physical), the
 * receive queue's (the same, 14 bytes), the client's port (2), per round
 * the transmit and then the receive ring's avail index (2 each, 4 rounds:
 * 16), the host bytes' count n (2), per round the time that passes before
 * it (1 each, in 16 ms steps), the n host bytes, then the first bytes of
 * guest RAM (2 MiB, the rest zero). Before each round the harness sets
 * both avail indexes, so that the guest posts packets and buffers as it
 * goes, and notifies the queues; one round of the machine's loop
 * (util/loop.h) then runs everything the device does, and its timer if
 * due. The guest's CID is GUEST_CID, a listener waits at
 * "<uds>_<LISTEN_PORT>", nothing at any other port.
 *
 * Checks: no sanitizer report, no crash and no hang; every payload that
 * the device reads from a Unix socket for the guest fits the credit that
 * the guest's last header gave (bytes sent to it, counted here, minus its
 * fwd_cnt, against its buf_alloc) and the receive buffer; no connection
 * holds more of the guest's bytes than it advertised (CONN_BUF); the reset
 * queue stays within MAX_RST; a driver's reset, or the device's
 * destruction, ends every connection and leaks no file descriptor; and
 * after a reset the device works whatever came before: a REQUEST to the
 * listener's port, on rings of the harness, gets its RESPONSE.
 *
 * One device serves every input (one destroyed is made again at once):
 * what an input leaves is put back before the next. The guest RAM that it
 * or the device wrote (the engine's mem_written hook) is zeroed, the
 * driver resets the device, the harness closes its sockets, and the
 * counters that a reset keeps (the next host port, the round-robin slot)
 * start again, so that a run depends on its input alone and a crash
 * replays exactly. Everything here is
 * local Unix sockets and eventfds, whose readiness a loop round sees at
 * once; the device's timer (a host client's 2 s wait for the guest's
 * answer, the 10 ms retries of a guest's connection to a full backlog)
 * runs on a virtual clock that each input starts at the same time and
 * moves as it says: -Wl,--wrap of clock_gettime (CLOCK_MONOTONIC) and of
 * loop_timer_set_ms, whose timer the harness runs after a round once due.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/loop.h"
#include "virtio/devices.h"
#include "virtio/vsock_conn.h"
#include "vm/board.h"
#include "vm/vm.h"

#define HDR         54
#define ROUNDS      4
#define RAM_SIZE    MEM_MIN_SIZE
#define RAM_PAGES   (RAM_SIZE >> 12)
#define GUEST_CID   3
#define LISTEN_PORT 1234
#define MAX_HOST    4096 /* host bytes */

/* The harness's own rings for the check (receive, then transmit, then
 * their buffers), past any input's RAM image. */
#define CHK_AREA 0x100000u
#define CHK_RX   CHK_AREA
#define CHK_TX   (CHK_AREA + 0x3000u)
#define CHK_BUF  (CHK_AREA + 0x6000u)

static void fail(const char *why)
{
    fprintf(stderr, "fuzz_vsock: %s\n", why);
    abort();
}

#include "virtio_mmio_guest.h"

static struct vm vm;
static struct virtio_dev *dev;
static struct vsock *vs; /* dev, as the device's insides */
static char dir[64], uds[96];
static int listener = -1; /* "<uds>_<LISTEN_PORT>" */

/* Bytes the device read from each slot's socket for the guest, counted
 * here for the credit check (a new generation in the slot starts at 0). */
static uint32_t sent[MAX_CONNS], sent_gen[MAX_CONNS];

/*
 * vsock.c's reads from a connection's socket, through -Wl,--wrap: each
 * must fit the guest's credit (§5.10.6.3) as its headers gave it, counted
 * from what the device really sent, and one receive buffer.
 */
ssize_t __real_vsock_conn_recv(struct conn *c, void *buf, size_t len);
ssize_t __wrap_vsock_conn_recv(struct conn *c, void *buf, size_t len);

ssize_t __wrap_vsock_conn_recv(struct conn *c, void *buf, size_t len)
{
    uint32_t in_flight, credit;
    ssize_t r;

    if (sent_gen[c->slot] != c->gen) {
        sent_gen[c->slot] = c->gen;
        sent[c->slot] = 0;
    }
    in_flight = sent[c->slot] - c->peer_fwd_cnt;
    credit = in_flight < c->peer_buf_alloc ? c->peer_buf_alloc - in_flight : 0;
    if (len > credit)
        fail("the device reads more for the guest than its credit allows");
    if (len > MAX_PKT || len > vs->rx_elem.in_len - HDR_LEN)
        fail("the device reads more than one receive buffer holds");
    r = __real_vsock_conn_recv(c, buf, len);
    if (r > (ssize_t)len)
        fail("recv returned more than asked");
    if (r > 0)
        sent[c->slot] += (uint32_t)r;
    return r;
}

/* The virtual clock (ms) and the device's timer on it (due < 0: disarmed). */
#define TIME_START 1000000
static int64_t now_ms = TIME_START;
static struct loop_timer *timer;
static int64_t timer_due = -1;

int __real_clock_gettime(clockid_t clk, struct timespec *ts);
int __wrap_clock_gettime(clockid_t clk, struct timespec *ts);
void __wrap_loop_timer_set_ms(struct loop_timer *t, int64_t ms);

int __wrap_clock_gettime(clockid_t clk, struct timespec *ts)
{
    if (clk != CLOCK_MONOTONIC)
        return __real_clock_gettime(clk, ts);
    ts->tv_sec = now_ms / 1000;
    ts->tv_nsec = now_ms % 1000 * 1000000;
    return 0;
}

void __wrap_loop_timer_set_ms(struct loop_timer *t, int64_t ms)
{
    timer = t;
    timer_due = ms < 0 ? -1 : now_ms + ms;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void wr(uint64_t off, uint32_t v)
{
    bus_write(&vm.mmio, BOARD_VIRTIO_MMIO_BASE + off, 4, v);
}

static uint32_t rd(uint64_t off)
{
    return (uint32_t)bus_read(&vm.mmio, BOARD_VIRTIO_MMIO_BASE + off, 4);
}

/* The harness's own writes to guest RAM, to be put back like the device's. */
static void put(uint64_t gpa, const void *buf, uint64_t len)
{
    if (len && !mem_write(&vm.mem, gpa, buf, len))
        written(&vm, gpa, len);
}

static void queue(unsigned q, uint32_t size, uint32_t desc, uint32_t avail, uint32_t used)
{
    wr(R_QUEUE_SEL, q);
    wr(R_QUEUE_NUM, size);
    wr(R_DESC, desc);
    wr(R_DRIVER, avail);
    wr(R_DEVICE, used);
    wr(R_QUEUE_READY, 1);
}

/* A driver's set-up up to FEATURES_OK: VERSION_1, STREAM and the ring
 * features of flags (bit 0 indirect, bit 1 event index). */
static void negotiate(uint8_t flags)
{
    wr(R_STATUS, 0);
    wr(R_STATUS, 3);
    wr(R_DRV_FEAT_SEL, 0);
    wr(R_DRV_FEAT,
       1u << VIRTIO_VSOCK_F_STREAM | (flags & 1 ? F_INDIRECT : 0) | (flags & 2 ? F_EVENT_IDX : 0));
    wr(R_DRV_FEAT_SEL, 1);
    wr(R_DRV_FEAT, 1); /* VERSION_1 */
    wr(R_STATUS, 0xb);
    if (!(rd(R_STATUS) & 8))
        fail("FEATURES_OK refused for features the device offers");
}

/* A round of the loop, then the device's timer if due. */
static void round_once(void)
{
    if (loop_run_once(vm.loop, 0))
        fail("loop_run_once");
    if (timer_due >= 0 && timer_due <= now_ms) {
        timer_due = -1;
        timer->fn(timer->opaque, EPOLLIN);
    }
}

/* The device's invariants between rounds. */
static void check_state(void)
{
    if (vs->nr_rst > MAX_RST)
        fail("more resets queued than MAX_RST");
    for (unsigned i = 0; i < MAX_CONNS; i++) {
        const struct conn *c = vs->conns[i];

        if (c && (c->slot != i || c->len > CONN_BUF || c->head >= CONN_BUF))
            fail("a connection holds more of the guest's bytes than it advertised");
    }
}

/* The host's sockets of this input: its client, what the listener took. */
#define MAX_HOST_FDS 80
static int host_fds[MAX_HOST_FDS];
static int nr_host_fds;

static void host_add(int fd)
{
    if (nr_host_fds == MAX_HOST_FDS) {
        close(fd);
        return;
    }
    host_fds[nr_host_fds++] = fd;
}

static void host_close(void)
{
    while (nr_host_fds)
        close(host_fds[--nr_host_fds]);
}

/* The listener takes the guest's connections (each gets the host bytes,
 * as far as its buffer takes them) and every socket is read dry. */
static void host_serve(const uint8_t *bytes, size_t n)
{
    static uint8_t sink[65536];
    int fd;

    /* poll first: a Unix accept4 allocates a socket even when none waits. */
    while (poll(&(struct pollfd){.fd = listener, .events = POLLIN}, 1, 0) > 0 &&
           (fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        if (n)
            (void)!send(fd, bytes, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        host_add(fd);
    }
    for (int i = 0; i < nr_host_fds; i++)
        while (recv(host_fds[i], sink, sizeof(sink), MSG_DONTWAIT) > 0)
            ;
}

/* A host client of the device's socket: its CONNECT line, then the host
 * bytes. */
static void host_client(uint16_t port, const uint8_t *bytes, size_t n)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char line[LINE_MAX];
    int len = snprintf(line, sizeof(line), "CONNECT %u\n", port);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", uds);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
        fail("cannot connect to the device's socket");
    (void)!send(fd, line, (size_t)len, MSG_NOSIGNAL);
    if (n)
        (void)!send(fd, bytes, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    host_add(fd);
}

/* The lowest free file descriptor: the same after every input, or the
 * device leaks. */
static int lowest_fd(void)
{
    int fd = dup(0);

    if (fd >= 0)
        close(fd);
    return fd;
}

static void cleanup(void)
{
    if (dev)
        dev->ops->destroy(dev);
    if (listener >= 0) {
        char path[sizeof(uds) + 16];

        snprintf(path, sizeof(path), "%s_%u", uds, LISTEN_PORT);
        unlink(path);
    }
    rmdir(dir);
}

static void create(void)
{
    bus_init(&vm.mmio, "mmio");
    dev = virtio_vsock_create(&vm, GUEST_CID, uds);
    if (!dev || virtio_mmio_add(dev, 0))
        fail("cannot create the device");
    vs = (struct vsock *)dev;
    memset(sent_gen, 0, sizeof(sent_gen)); /* its generations start again */
}

static void setup(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    vm.accel = &fake_engine;
    vm.accel_vm = dirty; /* vm_mem_written calls written() only with one */
    if (!(vm.loop = loop_new()))
        fail("loop_new");
    if (mem_init(&vm.mem, RAM_SIZE))
        fail("mem_init");
    snprintf(dir, sizeof(dir), "/tmp/fuzz_vsock.XXXXXX");
    if (!mkdtemp(dir))
        fail("mkdtemp");
    snprintf(uds, sizeof(uds), "%s/v", dir);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", uds, LISTEN_PORT);
    /* A backlog of 1: the guest's third connection waiting finds it full. */
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener < 0 || bind(listener, (struct sockaddr *)&sa, sizeof(sa)) || listen(listener, 1))
        fail("cannot make the host's listener");
    atexit(cleanup);
}

/* The driver sets the device up again on the harness's rings; a REQUEST
 * to the listener must get a RESPONSE, then the guest's RST ends it. */
static void check_works(void)
{
    struct vsock_hdr h = {.src_cid = GUEST_CID,
                          .dst_cid = HOST_CID,
                          .src_port = 5000,
                          .dst_port = LISTEN_PORT,
                          .type = VIRTIO_VSOCK_TYPE_STREAM,
                          .op = VIRTIO_VSOCK_OP_REQUEST,
                          .buf_alloc = 4096};
    uint64_t rxd[2] = {CHK_BUF, 256 | 2ULL << 32}, txd[2] = {CHK_BUF + 0x1000, HDR_LEN};
    uint16_t n;

    static const uint8_t zero[HDR_LEN];
    uint16_t ring[3] = {0, 1, 0}; /* avail: flags, idx, ring[0] */

    /* What the device reads and what it writes must be the harness's
     * (the input's descriptors may have sent the device's writes here). */
    put(CHK_RX, rxd, sizeof(rxd));
    put(CHK_RX + 0x1000, ring, sizeof(ring));
    put(CHK_RX + 0x2000, zero, 4);
    put(CHK_TX, txd, sizeof(txd));
    put(CHK_TX + 0x1000, ring, sizeof(ring));
    put(CHK_TX + 0x2000, zero, 4);
    put(CHK_BUF, zero, HDR_LEN);
    put(CHK_BUF + 0x1000, &h, HDR_LEN);
    negotiate(0);
    queue(RXQ, 4, CHK_RX, CHK_RX + 0x1000, CHK_RX + 0x2000);
    queue(TXQ, 4, CHK_TX, CHK_TX + 0x1000, CHK_TX + 0x2000);
    wr(R_STATUS, 0xf);
    wr(R_NOTIFY, TXQ);
    round_once();
    host_serve(NULL, 0);
    mem_read(&vm.mem, CHK_RX + 0x2000 + 2, &n, 2);
    mem_read(&vm.mem, CHK_BUF, &h, HDR_LEN);
    if (n != 1 || h.op != VIRTIO_VSOCK_OP_RESPONSE || h.src_port != LISTEN_PORT ||
        h.dst_port != 5000 || h.dst_cid != GUEST_CID)
        fail("no RESPONSE to a REQUEST after a reset: the device no longer works");
    wr(R_STATUS, 0); /* ends that connection too */
    host_close();
    round_once();
    host_serve(NULL, 0);
    host_close();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd_mark;
    uint8_t flags;
    size_t nhost;
    const uint8_t *host;
    int rounds;

    if (size < HDR)
        return 0;
    nhost = le16(data + 48);
    if (nhost > MAX_HOST || nhost > size - HDR)
        nhost = size - HDR < MAX_HOST ? size - HDR : MAX_HOST;
    host = data + HDR;
    now_ms = TIME_START;
    timer_due = -1; /* an earlier input's, moot after its reset */
    if (!vm.mem.base)
        setup();
    if (!dev)
        create();
    /* Within the input: libFuzzer's symbolizer keeps pipes open between
     * inputs once it has named a new function. */
    fd_mark = lowest_fd();
    for (unsigned p = 0; p < RAM_PAGES; p++)
        if (dirty[p]) {
            memset(vm.mem.base + p * 4096, 0, 4096);
            dirty[p] = false;
        }
    put(0, host + nhost, size - HDR - nhost < RAM_SIZE ? size - HDR - nhost : RAM_SIZE);
    flags = data[0];
    /* As Linux does, and so that a stale index does not look like progress. */
    put(le32(data + 12) + 2ULL, &(uint16_t){0}, 2);
    put(le32(data + 28) + 2ULL, &(uint16_t){0}, 2);

    negotiate(flags);
    (void)rd(R_CONFIG);
    (void)rd(R_CONFIG + 4);
    queue(RXQ, le16(data + 16), le32(data + 18), le32(data + 22), le32(data + 26));
    queue(TXQ, le16(data + 2), le32(data + 4), le32(data + 8), le32(data + 12));
    queue(2, 4, CHK_AREA + 0x8000, CHK_AREA + 0x9000, CHK_AREA + 0xa000); /* events: unused */
    wr(R_STATUS, 0xf);
    if (flags & 4)
        host_client(le16(data + 30), host, nhost);
    rounds = (data[1] & 3) + 1;
    for (int i = 0; i < rounds; i++) {
        put(le32(data + 8) + 2ULL, data + 32 + 4 * i, 2);
        put(le32(data + 22) + 2ULL, data + 34 + 4 * i, 2);
        now_ms += 16 * data[50 + i];
        wr(R_NOTIFY, TXQ);
        wr(R_NOTIFY, RXQ);
        wr(R_NOTIFY, 2);
        wr(R_ACK, 3);
        round_once();
        host_serve(host, nhost);
        check_state();
        if (i + 2 == rounds && flags & 8)
            host_close();
    }
    round_once();
    check_state();
    host_close();
    if ((flags & 0xf0) == 0xf0) {
        dev->ops->destroy(dev);
        dev = NULL;
        timer_due = -1; /* its timer is gone with it */
        bus_destroy(&vm.mmio);
        host_serve(NULL, 0);
        host_close();
        create(); /* its descriptors take the numbers of the old one's */
        if (lowest_fd() != fd_mark)
            fail("destroying the device leaks a file descriptor");
        return 0;
    }
    wr(R_STATUS, 0);
    for (unsigned i = 0; i < MAX_CONNS; i++)
        if (vs->conns[i])
            fail("a connection outlives the driver's reset");
    /* A host client still in the device's backlog goes now, and what the
     * listener holds of the guest's connections. */
    round_once();
    host_serve(NULL, 0);
    host_close();
    /* What a reset keeps: counted again from the start, for a replay. */
    vs->next_port = EPHEMERAL_PORT;
    vs->rr = 0;
    timer_due = -1;
    check_works();
    vs->next_port = EPHEMERAL_PORT;
    vs->rr = 0;
    if (lowest_fd() != fd_mark)
        fail("a file descriptor leaks past the driver's reset");
    return 0;
}
