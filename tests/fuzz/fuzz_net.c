/*
 * libFuzzer target for virtio-net's transmit path (virtio/net.c) on the
 * user-mode backend (net/slirp.c, the real libslirp): the input plays a
 * hostile guest that sets the NIC up through its MMIO registers, as Linux's
 * driver does, and hands it transmit chains of its making: any
 * virtio_net_hdr, any lengths (short, empty, oversized), any descriptor
 * layout (indirect tables, chains, device-writable buffers, rings that
 * overlap), any bytes of frame. The harness posts receive buffers of its
 * own, so that what libslirp answers (ARP, ICMP, TCP resets) comes back.
 *
 * Input (little-endian): flags (1 byte: bit 0 INDIRECT_DESC, bit 1
 * EVENT_IDX negotiated, bit 2 destroy the device right after the last
 * notify, as when the guest powers off while it transmits, bit 3 reset the
 * device after the notifies instead), notifies (1 byte: 1 + its low 2
 * bits), transmit queue size (2), its desc, avail and used rings (4 each,
 * guest-physical), then the first bytes of guest RAM (2 MiB, the rest
 * zero): the transmit rings, their descriptors and frames. The receive ring
 * and its buffers lie from RX_AREA on, unless the input's rings or
 * descriptors overlap them.
 *
 * Checks: no sanitizer report, no crash and no hang; after a reset by the
 * driver, the device works whatever came before: an ARP request for the
 * gateway, on rings of the harness, gets libslirp's reply. libslirp is a
 * shared library built without sanitizers: what it does wrong shows only
 * if it crashes.
 *
 * libslirp turns the guest's traffic into host sockets (connect, sendto to
 * any address): fuzzing must not send random packets to this host's
 * services or to the Internet. So the target moves into a network namespace
 * of its own (only a loopback, down) before it starts; under libFuzzer
 * (LLVMFuzzerInitialize) it refuses to run without one. A replay of the
 * committed corpus (replay.c) carries on without it: those inputs reach
 * only libslirp's own gateway and DNS addresses, and a closed port at most.
 */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "virtio/devices.h"
#include "vm/vm.h"

#define HDR      16
#define RAM_SIZE (2u << 20)

/* The harness's receive queue: ring, then RX_QSIZE buffers of RX_BUF_LEN;
 * after them its own transmit ring and frame, for the check. */
#define RX_AREA    0x100000u
#define RX_QSIZE   64
#define RX_BUF_LEN 2048
#define RX_BUFS    (RX_AREA + 0x3000u)
#define TX_AREA    (RX_BUFS + RX_QSIZE * RX_BUF_LEN)
#define TX_QSIZE   2
#define TX_FRAME   (TX_AREA + 0x3000u)

/* virtio-mmio registers (VIRTIO 1.2 §4.2.2). */
enum {
    R_DRV_FEAT = 0x020,
    R_DRV_FEAT_SEL = 0x024,
    R_QUEUE_SEL = 0x030,
    R_QUEUE_NUM = 0x038,
    R_QUEUE_READY = 0x044,
    R_NOTIFY = 0x050,
    R_ACK = 0x064,
    R_STATUS = 0x070,
    R_DESC = 0x080,
    R_DRIVER = 0x090,
    R_DEVICE = 0x0a0,
};

#define STATUS_NEEDS_RESET 64
#define F_MAC              (1u << 5)
#define F_STATUS           (1u << 16)
#define F_INDIRECT         (1u << 28)
#define F_EVENT_IDX        (1u << 29)

static int fake_irq_set(struct vm *vm, uint32_t gsi, int level)
{
    (void)vm;
    (void)gsi;
    (void)level;
    return 0;
}

static const struct accel_ops fake_engine = {.name = "fake", .irq_set = fake_irq_set};

static void fail(const char *why)
{
    fprintf(stderr, "fuzz_net: %s\n", why);
    abort();
}

/* 0, or -errno: neither a plain nor a user namespace could be made. */
static int own_network(void)
{
    if (!unshare(CLONE_NEWNET) || !unshare(CLONE_NEWUSER | CLONE_NEWNET))
        return 0;
    return -errno;
}

static bool isolated;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int err = own_network();

    (void)argc;
    (void)argv;
    if (err) {
        fprintf(stderr,
                "fuzz_net: cannot make a network namespace of its own (%s); refusing to let "
                "libslirp send fuzzed packets to this host's network\n",
                strerror(-err));
        exit(1);
    }
    isolated = true;
    return 0;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr(struct vm *vm, uint64_t off, uint32_t v)
{
    bus_write(&vm->mmio, VIRTIO_MMIO_BASE + off, 4, v);
}

static uint32_t rd(struct vm *vm, uint64_t off)
{
    return (uint32_t)bus_read(&vm->mmio, VIRTIO_MMIO_BASE + off, 4);
}

/* The 16-bit ring field at gpa, or -1 outside RAM. */
static int field16(struct vm *vm, uint64_t gpa)
{
    uint16_t v;

    return mem_read(&vm->mem, gpa, &v, 2) ? -1 : v;
}

static void queue(struct vm *vm, unsigned q, uint32_t size, uint32_t desc, uint32_t avail,
                  uint32_t used)
{
    wr(vm, R_QUEUE_SEL, q);
    wr(vm, R_QUEUE_NUM, size);
    wr(vm, R_DESC, desc);
    wr(vm, R_DRIVER, avail);
    wr(vm, R_DEVICE, used);
    wr(vm, R_QUEUE_READY, 1);
}

/* Receive queue 0 on fresh rings: every buffer posted, device-writable. */
static void post_rx(struct vm *vm)
{
    static const uint8_t zero[0x3000];

    mem_write(&vm->mem, RX_AREA, zero, sizeof(zero));
    for (uint16_t i = 0; i < RX_QSIZE; i++) {
        uint64_t d[2] = {RX_BUFS + (uint64_t)RX_BUF_LEN * i, RX_BUF_LEN | 2ULL << 32};

        mem_write(&vm->mem, RX_AREA + 16u * i, d, sizeof(d));
        mem_write(&vm->mem, RX_AREA + 0x1000 + 4 + 2u * i, &i, 2);
    }
    mem_write(&vm->mem, RX_AREA + 0x1000 + 2, &(uint16_t){RX_QSIZE}, 2);
}

/* Until the device has used every chain offered on the transmit queue, or
 * needs a reset, or makes no progress for 5 ms (a ring the device's own
 * writes changed), 200 ms at most. */
static void wait_tx(struct vm *vm, uint32_t avail, uint32_t used)
{
    int last = -2, still = 0;

    for (int i = 0; i < 2000 && still < 50; i++) {
        int u = field16(vm, used + 2ULL);

        if ((rd(vm, R_STATUS) & STATUS_NEEDS_RESET) || u < 0 || u == field16(vm, avail + 2ULL))
            return;
        still = u == last ? still + 1 : 0;
        last = u;
        nanosleep(&(struct timespec){0, 100000}, NULL);
    }
}

/* A driver's set-up up to FEATURES_OK: VERSION_1, MAC, STATUS and the ring
 * features of flags (bit 0 indirect, bit 1 event index). */
static void negotiate(struct vm *vm, uint8_t flags)
{
    uint32_t feat = F_MAC | F_STATUS | (flags & 1 ? F_INDIRECT : 0) | (flags & 2 ? F_EVENT_IDX : 0);

    wr(vm, R_STATUS, 0);
    wr(vm, R_STATUS, 3);
    wr(vm, R_DRV_FEAT_SEL, 0);
    wr(vm, R_DRV_FEAT, feat);
    wr(vm, R_DRV_FEAT_SEL, 1);
    wr(vm, R_DRV_FEAT, 1); /* VERSION_1 */
    wr(vm, R_STATUS, 0xb);
    if (!(rd(vm, R_STATUS) & 8))
        fail("FEATURES_OK refused for features the device offers");
}

/* Is receive buffer i an ARP reply (opcode 2) from 10.0.2.2? */
static bool arp_reply(struct vm *vm, uint32_t i)
{
    uint8_t f[12 + 42];
    static const uint8_t gw[4] = {10, 0, 2, 2};

    mem_read(&vm->mem, RX_BUFS + (uint64_t)RX_BUF_LEN * (i % RX_QSIZE), f, sizeof(f));
    return f[12 + 12] == 8 && f[12 + 13] == 6 && f[12 + 21] == 2 && !memcmp(f + 12 + 28, gw, 4);
}

/* The driver resets the device and sets it up again on the harness's
 * rings; an ARP request for the gateway must get its reply within 5 s. */
static void check_works(struct vm *vm)
{
    static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    static const uint8_t zero[0x3000];
    uint8_t frame[12 + 42] = {0};
    uint64_t d[2] = {TX_FRAME, sizeof(frame)};

    negotiate(vm, 0);
    post_rx(vm);
    queue(vm, 0, RX_QSIZE, RX_AREA, RX_AREA + 0x1000, RX_AREA + 0x2000);
    memset(frame + 12, 0xff, 6);
    memcpy(frame + 18, mac, 6);
    memcpy(frame + 24, (uint8_t[]){8, 6, 0, 1, 8, 0, 6, 4, 0, 1}, 10);
    memcpy(frame + 34, mac, 6);
    memcpy(frame + 40, (uint8_t[]){10, 0, 2, 15}, 4);
    memcpy(frame + 50, (uint8_t[]){10, 0, 2, 2}, 4);
    mem_write(&vm->mem, TX_AREA, zero, sizeof(zero));
    mem_write(&vm->mem, TX_FRAME, frame, sizeof(frame));
    mem_write(&vm->mem, TX_AREA, d, sizeof(d));
    mem_write(&vm->mem, TX_AREA + 0x1000 + 2, &(uint16_t){1}, 2);
    queue(vm, 1, TX_QSIZE, TX_AREA, TX_AREA + 0x1000, TX_AREA + 0x2000);
    wr(vm, R_STATUS, 0xf);
    wr(vm, R_NOTIFY, 1);
    for (int i = 0; i < 50000; i++) {
        int n = field16(vm, RX_AREA + 0x2000 + 2);

        for (int k = 0; k < n; k++)
            if (arp_reply(vm, (uint32_t)k))
                return;
        nanosleep(&(struct timespec){0, 100000}, NULL);
    }
    fail("no ARP reply after a reset: the device no longer works");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vm vm;
    struct virtio_dev *dev;
    uint32_t desc, avail, used;
    uint16_t qsize;
    uint8_t flags;

    if (size < HDR)
        return 0;
    if (!vm.mem.base) {
        if (!isolated)
            own_network(); /* replay.c: best effort, see above */
        vm.accel = &fake_engine;
        vm.cfg.net = (struct vm_net){.mode = NET_USER, .mac = {0x52, 0x54, 0, 0x12, 0x34, 0x56}};
        if (mem_init(&vm.mem, RAM_SIZE))
            fail("mem_init");
    }
    memset(vm.mem.base, 0, vm.mem.size);
    memcpy(vm.mem.base, data + HDR, size - HDR < RAM_SIZE ? size - HDR : RAM_SIZE);
    flags = data[0];
    memcpy(&qsize, data + 2, 2);
    desc = le32(data + 4);
    avail = le32(data + 8);
    used = le32(data + 12);
    /* As Linux does, and so that a stale index does not look like progress. */
    mem_write(&vm.mem, used + 2ULL, &(uint16_t){0}, 2);

    bus_init(&vm.mmio, "mmio");
    dev = virtio_net_create(&vm, &vm.cfg.net);
    if (!dev || virtio_mmio_add(dev, 0))
        fail("cannot create the device");
    negotiate(&vm, flags);
    post_rx(&vm);
    queue(&vm, 0, RX_QSIZE, RX_AREA, RX_AREA + 0x1000, RX_AREA + 0x2000);
    queue(&vm, 1, qsize, desc, avail, used);
    wr(&vm, R_STATUS, 0xf);
    for (int i = 0; i <= (data[1] & 3); i++) {
        wr(&vm, R_NOTIFY, 1);
        wr(&vm, R_NOTIFY, 0);
        wr(&vm, R_ACK, 3);
    }
    if (flags & 8)
        wr(&vm, R_STATUS, 0);
    else if (!(flags & 4))
        wait_tx(&vm, avail, used);
    if (!(flags & 4))
        check_works(&vm);
    dev->ops->destroy(dev);
    bus_destroy(&vm.mmio);
    return 0;
}
