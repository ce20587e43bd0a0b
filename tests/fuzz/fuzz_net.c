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
 * EVENT_IDX negotiated, bit 2 destroy the device while it transmits, as
 * when the guest powers off, bit 3 reset it there instead, or first),
 * notifies (1 byte: 1 + its low 2 bits; k below in the others), transmit
 * queue size (2), its desc, avail and used rings (4 each,
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
 * The reset or the destruction of bits 2 and 3 comes while the transmit
 * thread is inside its (k+1)th send of the last notify, k = the notifies
 * byte >> 2 (after all of them if it sends fewer frames): the thread holds
 * no device lock there, so a driver's reset or vx86's shutdown meets it
 * there.
 *
 * One device and its threads serve every input (bit 2 aside, which
 * destroys them): what an input leaves is put back before the next. The
 * guest RAM that it or the device wrote (the engine's mem_written hook) is
 * zeroed, the driver resets the device, and libslirp's instance is
 * replaced by a fresh one, so that no socket, ARP entry, DHCP lease or IP
 * fragment of an earlier input is left. The device's transmit thread runs
 * as a fiber on the fuzzer's thread, until it would block, through
 * -Wl,--wrap of the pthread calls it makes, right after each register
 * write that kicks it; the backend's event loop (util/loop.h: libslirp's
 * sockets and timers) runs one round without waiting after each notify
 * has been handled. So a run depends on its input alone (but for
 * libslirp's clock and random seed), costs no context switch, and a crash
 * replays exactly. A thread's timed wait (virtio-net's rate limiter, off
 * here) times out at once.
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
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <slirp/libslirp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>

#include "util/loop.h"
#include "virtio/devices.h"
#include "vm/board.h"
#include "vm/vm.h"

#define HDR       16
#define RAM_SIZE  (2u << 20)
#define RAM_PAGES (RAM_SIZE >> 12)

/* The harness's receive queue: ring, then RX_QSIZE buffers of RX_BUF_LEN;
 * after them its own transmit ring and frame, for the check. */
#define RX_AREA    0x100000u
#define RX_QSIZE   64
#define RX_BUF_LEN 2048
#define RX_BUFS    (RX_AREA + 0x3000u)
#define TX_AREA    (RX_BUFS + RX_QSIZE * RX_BUF_LEN)
#define TX_QSIZE   2
#define TX_FRAME   (TX_AREA + 0x3000u)

#define F_MAC    (1u << 5)
#define F_STATUS (1u << 16)

static void fail(const char *why)
{
    fprintf(stderr, "fuzz_net: %s\n", why);
    abort();
}

#include "virtio_mmio_guest.h"

/* AddressSanitizer must know when the stack changes (a fiber switch). */
#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif
#ifdef FIBER_ASAN
#include <sanitizer/common_interface_defs.h>
#define switch_start  __sanitizer_start_switch_fiber
#define switch_finish __sanitizer_finish_switch_fiber
#else
static void switch_start(void **save, const void *bottom, size_t size)
{
    (void)save;
    (void)bottom;
    (void)size;
}

static void switch_finish(void *save, const void **bottom, size_t *size)
{
    (void)save;
    (void)bottom;
    (void)size;
}
#endif

/*
 * The thread that virtio_net_create starts (virtio-net's transmit thread)
 * as a fiber on the fuzzer's thread. A fiber runs until it would block: in
 * pthread_cond_wait (until a signal of that condition) or, once an input
 * asks, in a send (held). It yields only with no lock held (wait releases
 * its mutex) but for a held send, which holds slirp.c's lock and no device
 * lock; the harness then runs no other fiber, nor the loop (which takes
 * that lock), until it resumes that one. The wrappers pass every other
 * thread's calls on (libFuzzer's own threads, the harness outside a
 * fiber).
 */
#define NR_FIBERS   1
#define FIBER_STACK (256u << 10)
#define FIBER_GUARD (64u << 10)

enum fiber_state { F_FREE, F_RUNNABLE, F_COND, F_HELD };

struct fiber {
    enum fiber_state state;
    pthread_cond_t *cond; /* F_COND: what it waits for */
    void *(*fn)(void *);
    void *arg;
    ucontext_t ctx;
    uint8_t *stack; /* FIBER_STACK bytes above FIBER_GUARD, kept */
    void *fake_stack;
};

static struct fiber fibers[NR_FIBERS];
static struct fiber *running; /* NULL: the harness */
static ucontext_t harness_ctx;
static sigset_t harness_mask;
static const void *harness_stack;
static size_t harness_stack_size;
static bool making;        /* virtio_net_create is running: its threads become fibers */
static int hold_send = -1; /* the send (counted in sends) that yields, F_HELD; -1: none */
static bool held;          /* a fiber is F_HELD */

static void resume(struct fiber *f)
{
    void *fake;

    running = f;
    switch_start(&fake, f->stack, FIBER_STACK);
    if (swapcontext(&harness_ctx, &f->ctx))
        fail("swapcontext");
    switch_finish(fake, NULL, NULL);
    running = NULL;
}

/* From the running fiber back to the harness, in state. */
static void yield(enum fiber_state state)
{
    struct fiber *f = running;

    f->state = state;
    switch_start(&f->fake_stack, harness_stack, harness_stack_size);
    swapcontext(&f->ctx, &harness_ctx);
    switch_finish(f->fake_stack, &harness_stack, &harness_stack_size);
}

static void fiber_main(void)
{
    struct fiber *f = running;

    switch_finish(NULL, &harness_stack, &harness_stack_size);
    f->fn(f->arg);
    f->state = F_FREE;
    /* NULL: this fiber's fake stack is done with; then to uc_link. */
    switch_start(NULL, harness_stack, harness_stack_size);
}

/* Runs the fibers that can run until none can, unless one is held. */
static void run(void)
{
    for (bool again = true; again && !held;) {
        again = false;
        for (int i = 0; i < NR_FIBERS && !held; i++)
            if (fibers[i].state == F_RUNNABLE) {
                resume(&fibers[i]);
                again = true;
            }
    }
}

/* The held send goes on (at the next run). */
static void release(void)
{
    for (int i = 0; i < NR_FIBERS; i++)
        if (fibers[i].state == F_HELD)
            fibers[i].state = F_RUNNABLE;
    held = false;
}

static struct loop *loop; /* the device's event loop, vm.loop */

/* The loop's turn: one round, without waiting, handles what is ready
 * (libslirp's sockets and timers, the wake-up of a send). */
static void poll_round(void)
{
    run();
    if (held)
        return;
    if (loop_run_once(loop, 0))
        fail("loop_run_once");
    run();
}

static struct fiber *fiber_of(pthread_t t)
{
    return t >= 1 && t <= NR_FIBERS ? &fibers[t - 1] : NULL;
}

int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
int __real_pthread_join(pthread_t t, void **ret);
int __real_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
int __real_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t);
int __real_pthread_cond_signal(pthread_cond_t *c);
int __real_pthread_cond_broadcast(pthread_cond_t *c);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
int __wrap_pthread_join(pthread_t t, void **ret);
int __wrap_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
int __wrap_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t);
int __wrap_pthread_cond_signal(pthread_cond_t *c);
int __wrap_pthread_cond_broadcast(pthread_cond_t *c);

/* A free fiber, its stack mapped. */
static struct fiber *free_fiber(void)
{
    for (int i = 0; i < NR_FIBERS; i++) {
        struct fiber *f = &fibers[i];

        if (f->state != F_FREE)
            continue;
        if (!f->stack) {
            uint8_t *m = mmap(NULL, FIBER_GUARD + FIBER_STACK, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

            if (m == MAP_FAILED || mprotect(m, FIBER_GUARD, PROT_NONE))
                fail("cannot map a fiber's stack");
            f->stack = m + FIBER_GUARD;
        }
        return f;
    }
    fail("virtio_net_create starts more threads than the harness has fibers");
    return NULL;
}

/* getcontext, which returns once here: in a function of its own so that
 * no caller's variable lives across it (gcc's -Wclobbered). */
__attribute__((noinline)) static void save_context(ucontext_t *c)
{
    if (getcontext(c))
        fail("getcontext");
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    struct fiber *const f = making ? free_fiber() : NULL;

    if (!f)
        return __real_pthread_create(t, attr, fn, arg);
    f->fn = fn;
    f->arg = arg;
    save_context(&f->ctx);
    /* Not the blocked set that vx86 starts its threads with: a fault in
     * a fiber must reach the sanitizers and libFuzzer, which save the
     * input; the kernel kills a process whose fault signal is blocked. */
    f->ctx.uc_sigmask = harness_mask;
    f->ctx.uc_stack.ss_sp = f->stack;
    f->ctx.uc_stack.ss_size = FIBER_STACK;
    f->ctx.uc_link = &harness_ctx;
    makecontext(&f->ctx, fiber_main, 0);
    f->state = F_RUNNABLE;
    *t = (pthread_t)(f - fibers + 1);
    return 0;
}

/* The fiber runs until it returns: it must not need anyone else. */
int __wrap_pthread_join(pthread_t t, void **ret)
{
    struct fiber *f = fiber_of(t);

    if (!f)
        return __real_pthread_join(t, ret);
    release();
    while (f->state != F_FREE) {
        if (f->state == F_COND)
            fail("a thread being joined waits for a signal that nobody can send");
        resume(f);
    }
    if (ret)
        *ret = NULL;
    return 0;
}

int __wrap_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    if (!running)
        return __real_pthread_cond_wait(c, m);
    running->cond = c;
    pthread_mutex_unlock(m);
    yield(F_COND);
    pthread_mutex_lock(m);
    return 0;
}

int __wrap_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *t)
{
    if (!running)
        return __real_pthread_cond_timedwait(c, m, t);
    return ETIMEDOUT;
}

static void wake(pthread_cond_t *c, bool all)
{
    for (int i = 0; i < NR_FIBERS; i++)
        if (fibers[i].state == F_COND && fibers[i].cond == c) {
            fibers[i].state = F_RUNNABLE;
            if (!all)
                return;
        }
}

int __wrap_pthread_cond_signal(pthread_cond_t *c)
{
    wake(c, false);
    return __real_pthread_cond_signal(c);
}

int __wrap_pthread_cond_broadcast(pthread_cond_t *c)
{
    wake(c, true);
    return __real_pthread_cond_broadcast(c);
}

/*
 * libslirp as net/slirp.c sees it, through -Wl,--wrap: a box around the
 * real instance, which renew() replaces by a fresh one between inputs
 * (when no fiber is inside libslirp). A fiber's send may be held (above).
 */
struct box {
    SlirpConfig cfg;
    const SlirpCb *cb;
    void *opaque;
    Slirp *real;
};

static struct box *box; /* the device's, or NULL */
static int sends;       /* slirp_input calls since the input asked to hold one */

Slirp *__real_slirp_new(const SlirpConfig *cfg, const SlirpCb *callbacks, void *opaque);
void __real_slirp_cleanup(Slirp *slirp);
void __real_slirp_input(Slirp *slirp, const uint8_t *pkt, int pkt_len);
void __real_slirp_pollfds_fill(Slirp *slirp, uint32_t *timeout, SlirpAddPollCb add_poll,
                               void *opaque);
void __real_slirp_pollfds_poll(Slirp *slirp, int select_error, SlirpGetREventsCb get_revents,
                               void *opaque);
int __real_slirp_add_hostfwd(Slirp *slirp, int is_udp, struct in_addr host_addr, int host_port,
                             struct in_addr guest_addr, int guest_port);
Slirp *__wrap_slirp_new(const SlirpConfig *cfg, const SlirpCb *callbacks, void *opaque);
void __wrap_slirp_cleanup(Slirp *slirp);
void __wrap_slirp_input(Slirp *slirp, const uint8_t *pkt, int pkt_len);
void __wrap_slirp_pollfds_fill(Slirp *slirp, uint32_t *timeout, SlirpAddPollCb add_poll,
                               void *opaque);
void __wrap_slirp_pollfds_poll(Slirp *slirp, int select_error, SlirpGetREventsCb get_revents,
                               void *opaque);
int __wrap_slirp_add_hostfwd(Slirp *slirp, int is_udp, struct in_addr host_addr, int host_port,
                             struct in_addr guest_addr, int guest_port);

static void renew(void)
{
    __real_slirp_cleanup(box->real);
    box->real = __real_slirp_new(&box->cfg, box->cb, box->opaque);
    if (!box->real)
        fail("libslirp failed to start again");
}

Slirp *__wrap_slirp_new(const SlirpConfig *cfg, const SlirpCb *callbacks, void *opaque)
{
    struct box *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    *b = (struct box){.cfg = *cfg, .cb = callbacks, .opaque = opaque};
    b->real = __real_slirp_new(cfg, callbacks, opaque);
    if (!b->real) {
        free(b);
        return NULL;
    }
    box = b;
    return (Slirp *)b;
}

void __wrap_slirp_cleanup(Slirp *slirp)
{
    struct box *b = (struct box *)slirp;

    __real_slirp_cleanup(b->real);
    free(b);
    box = NULL;
}

void __wrap_slirp_input(Slirp *slirp, const uint8_t *pkt, int pkt_len)
{
    if (running && hold_send >= 0 && sends++ == hold_send) {
        hold_send = -1;
        held = true;
        yield(F_HELD);
    }
    __real_slirp_input(((struct box *)slirp)->real, pkt, pkt_len);
}

void __wrap_slirp_pollfds_fill(Slirp *slirp, uint32_t *timeout, SlirpAddPollCb add_poll,
                               void *opaque)
{
    __real_slirp_pollfds_fill(((struct box *)slirp)->real, timeout, add_poll, opaque);
}

void __wrap_slirp_pollfds_poll(Slirp *slirp, int select_error, SlirpGetREventsCb get_revents,
                               void *opaque)
{
    __real_slirp_pollfds_poll(((struct box *)slirp)->real, select_error, get_revents, opaque);
}

int __wrap_slirp_add_hostfwd(Slirp *slirp, int is_udp, struct in_addr host_addr, int host_port,
                             struct in_addr guest_addr, int guest_port)
{
    return __real_slirp_add_hostfwd(((struct box *)slirp)->real, is_udp, host_addr, host_port,
                                    guest_addr, guest_port);
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

static struct vm vm;
static struct virtio_dev *dev;

/* A register write, then what the threads do about it (run). */
static void wr(uint64_t off, uint32_t v)
{
    bus_write(&vm.mmio, BOARD_VIRTIO_MMIO_BASE + off, 4, v);
    run();
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

/* Receive queue 0 on fresh rings: every buffer posted, device-writable. */
static void post_rx(void)
{
    static uint8_t rings[0x3000]; /* desc, avail, used; made once */

    if (!rings[0x1002]) {
        for (uint16_t i = 0; i < RX_QSIZE; i++) {
            uint64_t d[2] = {RX_BUFS + (uint64_t)RX_BUF_LEN * i, RX_BUF_LEN | 2ULL << 32};

            memcpy(rings + 16u * i, d, sizeof(d));
            memcpy(rings + 0x1000 + 4 + 2u * i, &i, 2);
        }
        memcpy(rings + 0x1000 + 2, &(uint16_t){RX_QSIZE}, 2);
    }
    put(RX_AREA, rings, sizeof(rings));
}

/* A driver's set-up up to FEATURES_OK: VERSION_1, MAC, STATUS and the ring
 * features of flags (bit 0 indirect, bit 1 event index). */
static void negotiate(uint8_t flags)
{
    uint32_t feat = F_MAC | F_STATUS | (flags & 1 ? F_INDIRECT : 0) | (flags & 2 ? F_EVENT_IDX : 0);

    wr(R_STATUS, 0);
    wr(R_STATUS, 3);
    wr(R_DRV_FEAT_SEL, 0);
    wr(R_DRV_FEAT, feat);
    wr(R_DRV_FEAT_SEL, 1);
    wr(R_DRV_FEAT, 1); /* VERSION_1 */
    wr(R_STATUS, 0xb);
    if (!(rd(R_STATUS) & 8))
        fail("FEATURES_OK refused for features the device offers");
}

/* Is receive buffer i an ARP reply (opcode 2) from 10.0.2.2? */
static bool arp_reply(uint32_t i)
{
    uint8_t f[12 + 42];
    static const uint8_t gw[4] = {10, 0, 2, 2};

    mem_read(&vm.mem, RX_BUFS + (uint64_t)RX_BUF_LEN * (i % RX_QSIZE), f, sizeof(f));
    return f[12 + 12] == 8 && f[12 + 13] == 6 && f[12 + 21] == 2 && !memcmp(f + 12 + 28, gw, 4);
}

/* The driver resets the device and sets it up again on the harness's
 * rings; an ARP request for the gateway must get libslirp's reply, which
 * it gives within slirp_input. */
static void check_works(void)
{
    static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    static const uint8_t zero[0x3000];
    uint8_t frame[12 + 42] = {0};
    uint64_t d[2] = {TX_FRAME, sizeof(frame)};
    uint16_t n;

    negotiate(0);
    post_rx();
    queue(0, RX_QSIZE, RX_AREA, RX_AREA + 0x1000, RX_AREA + 0x2000);
    memset(frame + 12, 0xff, 6);
    memcpy(frame + 18, mac, 6);
    memcpy(frame + 24, (uint8_t[]){8, 6, 0, 1, 8, 0, 6, 4, 0, 1}, 10);
    memcpy(frame + 34, mac, 6);
    memcpy(frame + 40, (uint8_t[]){10, 0, 2, 15}, 4);
    memcpy(frame + 50, (uint8_t[]){10, 0, 2, 2}, 4);
    put(TX_AREA, zero, sizeof(zero));
    put(TX_FRAME, frame, sizeof(frame));
    put(TX_AREA, d, sizeof(d));
    put(TX_AREA + 0x1000 + 2, &(uint16_t){1}, 2);
    queue(1, TX_QSIZE, TX_AREA, TX_AREA + 0x1000, TX_AREA + 0x2000);
    wr(R_STATUS, 0xf);
    wr(R_NOTIFY, 1);
    mem_read(&vm.mem, RX_AREA + 0x2000 + 2, &n, 2);
    for (uint32_t k = 0; k < n; k++)
        if (arp_reply(k))
            return;
    fail("no ARP reply after a reset: the device no longer works");
}

static void create(void)
{
    bus_init(&vm.mmio, "mmio");
    making = true;
    dev = virtio_net_create(&vm, &vm.cfg.net);
    making = false;
    if (!dev || virtio_mmio_add(dev, 0))
        fail("cannot create the device");
    poll_round();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t desc, avail, used;
    uint16_t qsize;
    uint8_t flags;
    int rounds;

    if (size < HDR)
        return 0;
    if (!vm.mem.base) {
        if (!isolated)
            own_network(); /* replay.c: best effort, see above */
        pthread_sigmask(SIG_SETMASK, NULL, &harness_mask);
        vm.accel = &fake_engine;
        if (!(loop = vm.loop = loop_new()))
            fail("loop_new");
        vm.accel_vm = dirty; /* vm_mem_written calls written() only with one */
        vm.cfg.net = (struct vm_net){.mode = NET_USER, .mac = {0x52, 0x54, 0, 0x12, 0x34, 0x56}};
        if (mem_init(&vm.mem, RAM_SIZE))
            fail("mem_init");
    }
    if (dev)
        renew();
    else
        create();
    for (unsigned p = 0; p < RAM_PAGES; p++)
        if (dirty[p]) {
            memset(vm.mem.base + p * 4096, 0, 4096);
            dirty[p] = false;
        }
    put(0, data + HDR, size - HDR < RAM_SIZE ? size - HDR : RAM_SIZE);
    flags = data[0];
    memcpy(&qsize, data + 2, 2);
    desc = le32(data + 4);
    avail = le32(data + 8);
    used = le32(data + 12);
    /* As Linux does, and so that a stale index does not look like progress. */
    put(used + 2ULL, &(uint16_t){0}, 2);

    negotiate(flags);
    post_rx();
    queue(0, RX_QSIZE, RX_AREA, RX_AREA + 0x1000, RX_AREA + 0x2000);
    queue(1, qsize, desc, avail, used);
    wr(R_STATUS, 0xf);
    rounds = (data[1] & 3) + 1;
    for (int i = 0; i < rounds; i++) {
        if (i + 1 == rounds && flags & 0xc) {
            hold_send = data[1] >> 2;
            sends = 0;
        }
        wr(R_NOTIFY, 1);
        wr(R_NOTIFY, 0);
        wr(R_ACK, 3);
        poll_round();
    }
    hold_send = -1;
    if (flags & 8)
        wr(R_STATUS, 0);
    if (flags & 4) {
        dev->ops->destroy(dev);
        dev = NULL;
        bus_destroy(&vm.mmio);
        return 0;
    }
    release();
    poll_round();
    check_works();
    return 0;
}
