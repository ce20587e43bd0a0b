/*
 * virtio-console behind the virtio-mmio transport, driven through the MMIO
 * bus as Linux's driver does: typed input (virtio_console_input, as the
 * console loop hands it) lands in the receive buffers the driver posted,
 * waits for buffers when none is posted, and overflows by dropping the
 * newest bytes; output reaches the console; a receive buffer the device
 * may not write breaks the device until a reset.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "virtio/console.h"
#include "virtio/devices.h"
#include "vm/vm.h"
#include "virtio_mmio_driver.h"

/* virtio-mmio registers (VIRTIO 1.2 §4.2.2). */

#define RECEIVEQ  0
#define TRANSMITQ 1
#define QSIZE     8
#define BUF       0x20000ULL /* receive buffers */
#define TX_BUF    0x30000ULL
#define INPUT_MAX 4096 /* what the device keeps without a buffer */

#define F_NEXT  1
#define F_WRITE 2

struct fixture {
    struct vm vm;
    struct virtio_dev *dev;
    uint16_t avail_idx[2];
};

static int setup(void **state)
{
    static struct fixture f;

    memset(&f, 0, sizeof(f));
    memset(irq_level, 0, sizeof(irq_level));
    f.vm.accel = &fake_engine;
    bus_init(&f.vm.mmio, "mmio");
    assert_int_equal(mem_init(&f.vm.mem, 4 << 20), 0);
    f.dev = virtio_console_create(&f.vm);
    assert_non_null(f.dev);
    assert_ptr_equal(f.vm.hvc, f.dev);
    assert_int_equal(virtio_mmio_add(f.dev, 0), 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    f->dev->ops->destroy(f->dev);
    assert_null(f->vm.hvc);
    mem_destroy(&f->vm.mem);
    bus_destroy(&f->vm.mmio);
    return 0;
}

/* The n-th used element of queue q: its head and length. */
static void used_elem(struct fixture *f, int q, uint16_t n, uint32_t *head, uint32_t *len)
{
    mem_read(&f->vm.mem, used_of(q) + 4 + 8 * (n % QSIZE), head, 4);
    mem_read(&f->vm.mem, used_of(q) + 8 + 8 * (n % QSIZE), len, 4);
}

/* Makes descriptor head available on queue q and notifies. */
static void offer(struct fixture *f, int q, uint16_t head)
{
    ring_offer(&f->vm, q, &f->avail_idx[q], QSIZE, head);
}

/* Linux's probe with VERSION_1 alone, both queues on fresh rings, and no
 * receive buffer posted yet. */
static void driver_init(struct fixture *f)
{
    static const uint8_t zero[0x6000];

    mmio_wr(&f->vm, R_STATUS, 0);
    mem_write(&f->vm.mem, desc_of(0), zero, sizeof(zero));
    f->avail_idx[0] = f->avail_idx[1] = 0;
    mmio_wr(&f->vm, R_STATUS, 3);
    mmio_wr(&f->vm, R_DRV_FEAT_SEL, 0);
    mmio_wr(&f->vm, R_DRV_FEAT, 0);
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
}

/* Posts receive descriptor i: len writable bytes at BUF + 0x1000 * i. */
static void post(struct fixture *f, unsigned i, uint32_t len)
{
    ring_put_desc(&f->vm, RECEIVEQ, i, BUF + 0x1000ULL * i, len, F_WRITE, 0);
    offer(f, RECEIVEQ, (uint16_t)i);
}

/* Checks that the n-th used receive element is descriptor i holding text. */
static void expect_received(struct fixture *f, uint16_t n, unsigned i, const char *text)
{
    uint32_t head, len;
    char got[64] = {0};

    assert_true(ring_used_idx(&f->vm, RECEIVEQ) > n);
    used_elem(f, RECEIVEQ, n, &head, &len);
    assert_int_equal(head, i);
    assert_int_equal(len, strlen(text));
    mem_read(&f->vm.mem, BUF + 0x1000ULL * i, got, len);
    assert_string_equal(got, text);
}

static int input(struct fixture *f, const char *text)
{
    return virtio_console_input(f->dev, (const uint8_t *)text, (int)strlen(text));
}

/* One port, no optional feature: the driver finds a single console. */
static void test_identity(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(mmio_rd(&f->vm, R_DEVICE_ID), 3);
    mmio_wr(&f->vm, R_DEV_FEAT_SEL, 0);
    assert_int_equal(mmio_rd(&f->vm, R_DEV_FEAT) & 0xffffff,
                     0); /* no SIZE, MULTIPORT, EMERG_WRITE */
}

/* Input goes into the posted buffer at once, with an interrupt; what does
 * not fit waits for the next buffer, and its notify delivers it. */
static void test_input_into_posted_buffers(void **state)
{
    struct fixture *f = *state;

    driver_init(f);
    post(f, 0, 8);
    assert_int_equal(ring_used_idx(&f->vm, RECEIVEQ), 0);
    assert_int_equal(input(f, "echo $((6*7))\n"), 14);
    assert_int_equal(ring_used_idx(&f->vm, RECEIVEQ), 1);
    expect_received(f, 0, 0, "echo $((");
    assert_int_equal(mmio_rd(&f->vm, R_ISR), 1);
    assert_int_equal(irq_level[f->dev->irq], 1);
    mmio_wr(&f->vm, R_ACK, 1);
    assert_int_equal(irq_level[f->dev->irq], 0);

    post(f, 1, 64);
    assert_int_equal(ring_used_idx(&f->vm, RECEIVEQ), 2);
    expect_received(f, 1, 1, "6*7))\n");
    assert_int_equal(irq_level[f->dev->irq], 1);
}

/* A receive chain of two writable descriptors is filled across both. */
static void test_input_across_a_chain(void **state)
{
    struct fixture *f = *state;
    char got[8] = {0};
    uint32_t head, len;

    driver_init(f);
    ring_put_desc(&f->vm, RECEIVEQ, 2, BUF, 3, F_WRITE | F_NEXT, 3);
    ring_put_desc(&f->vm, RECEIVEQ, 3, BUF + 0x100, 16, F_WRITE, 0);
    offer(f, RECEIVEQ, 2);
    assert_int_equal(input(f, "hello"), 5);
    used_elem(f, RECEIVEQ, 0, &head, &len);
    assert_int_equal(head, 2);
    assert_int_equal(len, 5);
    mem_read(&f->vm.mem, BUF, got, 3);
    mem_read(&f->vm.mem, BUF + 0x100, got + 3, 2);
    assert_string_equal(got, "hello");
}

/* Typed before the driver is up, and before it posts a buffer: kept, and
 * delivered in order once buffers come. */
static void test_input_before_any_buffer(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(input(f, "early "), 6);
    driver_init(f);
    assert_int_equal(input(f, "bird"), 4);
    assert_int_equal(ring_used_idx(&f->vm, RECEIVEQ), 0);
    assert_int_equal(irq_level[f->dev->irq], 0);
    post(f, 0, 64);
    assert_int_equal(ring_used_idx(&f->vm, RECEIVEQ), 1);
    expect_received(f, 0, 0, "early bird");
    /* Nothing left: the next buffer waits for the next key. */
    post(f, 1, 64);
    assert_int_equal(ring_used_idx(&f->vm, RECEIVEQ), 1);
    assert_int_equal(input(f, "!"), 1);
    expect_received(f, 1, 1, "!");
}

/* Past 4 KiB without a buffer the newest bytes are dropped; the kept ones
 * come out whole and in order, also when the buffer has wrapped around. */
static void test_overflow_drops_the_newest(void **state)
{
    struct fixture *f = *state;
    static uint8_t typed[INPUT_MAX + 100], got[INPUT_MAX];
    uint32_t head, len;

    for (size_t i = 0; i < sizeof(typed); i++)
        typed[i] = (uint8_t)(i * 7 + i / 251);
    driver_init(f);
    assert_int_equal(virtio_console_input(f->dev, typed, 3000), 3000);
    assert_int_equal(virtio_console_input(f->dev, typed + 3000, sizeof(typed) - 3000),
                     INPUT_MAX - 3000);
    ring_put_desc(&f->vm, RECEIVEQ, 0, BUF, INPUT_MAX, F_WRITE, 0);
    offer(f, RECEIVEQ, 0);
    used_elem(f, RECEIVEQ, 0, &head, &len);
    assert_int_equal(len, INPUT_MAX);
    mem_read(&f->vm.mem, BUF, got, INPUT_MAX);
    assert_memory_equal(got, typed, INPUT_MAX);

    /* The ring now starts at 0 again after a full round; move it to 3000
     * and make the next input wrap. */
    assert_int_equal(virtio_console_input(f->dev, typed, 3000), 3000);
    ring_put_desc(&f->vm, RECEIVEQ, 0, BUF, 3000, F_WRITE, 0);
    offer(f, RECEIVEQ, 0);
    assert_int_equal(virtio_console_input(f->dev, typed + 100, 2000), 2000);
    ring_put_desc(&f->vm, RECEIVEQ, 0, BUF, INPUT_MAX, F_WRITE, 0);
    offer(f, RECEIVEQ, 0);
    assert_int_equal(ring_used_idx(&f->vm, RECEIVEQ), 3);
    used_elem(f, RECEIVEQ, 2, &head, &len);
    assert_int_equal(len, 2000);
    mem_read(&f->vm.mem, BUF, got, 2000);
    assert_memory_equal(got, typed + 100, 2000);
}

/* A receive chain with a device-readable buffer, or one of no bytes, is
 * refused: DEVICE_NEEDS_RESET and a config interrupt; the input is kept
 * and reaches the driver after its reset. */
static void test_hostile_receive_buffers(void **state)
{
    struct fixture *f = *state;

    driver_init(f);
    ring_put_desc(&f->vm, RECEIVEQ, 0, BUF, 16, 0, 0);
    offer(f, RECEIVEQ, 0);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS) & 64, 0); /* no input yet: not looked at */
    assert_int_equal(input(f, "ls\n"), 3);
    assert_int_equal(ring_used_idx(&f->vm, RECEIVEQ), 0);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS) & 64, 64);
    assert_int_equal(mmio_rd(&f->vm, R_ISR) & 2, 2);

    driver_init(f);
    ring_put_desc(&f->vm, RECEIVEQ, 0, BUF, 0, F_WRITE, 0);
    offer(f, RECEIVEQ, 0);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS) & 64, 64);

    /* Outside guest RAM: the ring walker refuses it. */
    driver_init(f);
    ring_put_desc(&f->vm, RECEIVEQ, 0, 0xfffff000ULL, 16, F_WRITE, 0);
    offer(f, RECEIVEQ, 0);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS) & 64, 64);

    driver_init(f);
    assert_int_equal(mmio_rd(&f->vm, R_STATUS), 0xf);
    post(f, 0, 16);
    expect_received(f, 0, 0, "ls\n");
}

/* What the guest sends on transmitq reaches vx86's console (stdout). */
static void test_output_reaches_the_console(void **state)
{
    struct fixture *f = *state;
    static const char text[] = "hvc0 says hi\n";
    char got[sizeof(text)] = {0};
    int fds[2], saved = dup(STDOUT_FILENO);

    assert_true(saved >= 0);
    assert_int_equal(pipe(fds), 0);
    assert_true(dup2(fds[1], STDOUT_FILENO) >= 0);
    driver_init(f);
    mem_write(&f->vm.mem, TX_BUF, text, 5);
    mem_write(&f->vm.mem, TX_BUF + 0x100, text + 5, sizeof(text) - 6);
    ring_put_desc(&f->vm, TRANSMITQ, 0, TX_BUF, 5, F_NEXT, 1);
    ring_put_desc(&f->vm, TRANSMITQ, 1, TX_BUF + 0x100, sizeof(text) - 6, 0, 0);
    offer(f, TRANSMITQ, 0);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(fds[1]);
    assert_int_equal(read(fds[0], got, sizeof(got)), (ssize_t)sizeof(text) - 1);
    close(fds[0]);
    assert_string_equal(got, text);
    assert_int_equal(ring_used_idx(&f->vm, TRANSMITQ), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_into_posted_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_across_a_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_before_any_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overflow_drops_the_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_receive_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_reaches_the_console, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
