/*
 * The virtio-pci transport (virtio/pci.c) with MSI-X (hw/msix.c), driven as
 * Linux's virtio_pci_modern does: configuration space through mechanism
 * #1, the structures through the BAR in the host bridge's window, and a
 * virtio-rng device behind it. The engine is a stand-in that records the
 * MSIs and the INTx lines.
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

#include "hw/msix.h"
#include "hw/pc.h"
#include "virtio/devices.h"
#include "vm/board.h"
#include "vm/vm.h"

#define SLOT     3
#define BAR_BASE (BOARD_PCI_MEM32_BASE + SLOT * 0x10000ULL)

/* The BAR's layout and the common configuration (VIRTIO 1.2 §4.1.4.3). */
#define C_DFSELECT     0x00
#define C_DFEATURE     0x04
#define C_GFSELECT     0x08
#define C_GFEATURE     0x0c
#define C_MSIX_CONFIG  0x10
#define C_NUM_QUEUES   0x12
#define C_STATUS       0x14
#define C_QUEUE_SELECT 0x16
#define C_QUEUE_SIZE   0x18
#define C_QUEUE_VECTOR 0x1a
#define C_QUEUE_ENABLE 0x1c
#define C_QUEUE_NOTIFY 0x1e
#define C_QUEUE_DESC   0x20
#define C_QUEUE_DRIVER 0x28
#define C_QUEUE_DEVICE 0x30
#define ISR            0x1000
#define NOTIFY         0x3000
#define TABLE          0x4000
#define PBA            0x5000

#define DESC  0x10000ULL
#define AVAIL 0x11000ULL
#define USED  0x12000ULL
#define BUF   0x20000ULL
#define QSIZE 8

static struct {
    int count;
    uint64_t addr;
    uint32_t data;
} msi;
static int irq_level[24];

static int fake_irq_set(struct vm *vm, uint32_t gsi, int level)
{
    (void)vm;
    if (gsi < 24)
        irq_level[gsi] = level;
    return 0;
}

static int fake_msi_send(struct vm *vm, uint64_t addr, uint32_t data)
{
    (void)vm;
    msi.count++;
    msi.addr = addr;
    msi.data = data;
    return 0;
}

static const struct accel_ops fake_engine = {
    .name = "fake", .irq_set = fake_irq_set, .msi_send = fake_msi_send};

/* An engine with irqfds: the bindings it was given, by eventfd. */
static struct {
    int fd[8];
    uint64_t addr[8];
    uint32_t data[8];
    int n;
} irqfds;

static int fake_msi_irqfd(struct vm *vm, int fd, uint64_t addr, uint32_t data)
{
    int i = 0;

    (void)vm;
    while (i < irqfds.n && irqfds.fd[i] != fd)
        i++;
    if (i == irqfds.n) {
        if (irqfds.n == 8)
            return -ENOSPC;
        irqfds.n++;
    }
    irqfds.fd[i] = fd, irqfds.addr[i] = addr, irqfds.data[i] = data;
    return 0;
}

static const struct accel_ops irqfd_engine = {.name = "fake-irqfd",
                                              .irq_set = fake_irq_set,
                                              .msi_send = fake_msi_send,
                                              .msi_irqfd = fake_msi_irqfd};

struct fixture {
    struct vm vm;
    struct pc pc;
    struct virtio_dev *dev;
    uint16_t avail_idx;
};

static int setup_on(void **state, const struct accel_ops *engine)
{
    static struct fixture f;
    struct bus_range reset = {0};

    memset(&f, 0, sizeof(f));
    memset(&msi, 0, sizeof(msi));
    memset(&irqfds, 0, sizeof(irqfds));
    memset(irq_level, 0, sizeof(irq_level));
    f.vm.accel = engine;
    f.vm.pc = &f.pc;
    bus_init(&f.vm.pio, "pio");
    bus_init(&f.vm.mmio, "mmio");
    assert_int_equal(mem_init(&f.vm.mem, 4 << 20), 0);
    assert_int_equal(pci_init(&f.pc.pci, &f.vm.pio, &f.vm.mmio, &reset), 0);
    f.dev = virtio_rng_create(&f.vm);
    assert_non_null(f.dev);
    assert_int_equal(virtio_pci_add(f.dev, 0, SLOT), 0);
    *state = &f;
    return 0;
}

static int setup(void **state)
{
    return setup_on(state, &fake_engine);
}

static int setup_irqfd(void **state)
{
    return setup_on(state, &irqfd_engine);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    virtio_pci_remove(f->dev);
    f->dev->ops->destroy(f->dev);
    pci_destroy(&f->pc.pci);
    mem_destroy(&f->vm.mem);
    bus_destroy(&f->vm.mmio);
    bus_destroy(&f->vm.pio);
    return 0;
}

static uint32_t cfg_rd(struct fixture *f, unsigned off, unsigned size)
{
    bus_write(&f->vm.pio, PCI_CONFIG_ADDRESS, 4,
              PCI_CONFIG_ENABLE | PCI_DEVFN(SLOT, 0) << 8 | (off & 0xfc));
    return (uint32_t)bus_read(&f->vm.pio, PCI_CONFIG_DATA + (off & 3), size);
}

static void cfg_wr(struct fixture *f, unsigned off, unsigned size, uint32_t v)
{
    bus_write(&f->vm.pio, PCI_CONFIG_ADDRESS, 4,
              PCI_CONFIG_ENABLE | PCI_DEVFN(SLOT, 0) << 8 | (off & 0xfc));
    bus_write(&f->vm.pio, PCI_CONFIG_DATA + (off & 3), size, v);
}

static uint64_t bar_rd(struct fixture *f, uint64_t off, unsigned size)
{
    return bus_read(&f->vm.mmio, BAR_BASE + off, size);
}

static void bar_wr(struct fixture *f, uint64_t off, unsigned size, uint64_t v)
{
    bus_write(&f->vm.mmio, BAR_BASE + off, size, v);
}

/* The offset of the first capability with ID id (and, for the vendor
 * ones, cfg_type type), walking the list as Linux does; 0 if none. */
static unsigned find_cap(struct fixture *f, uint8_t id, uint8_t type)
{
    unsigned off = cfg_rd(f, PCI_CAPABILITY_LIST, 1);

    for (int n = 0; off && n < 48; n++, off = cfg_rd(f, off + 1, 1))
        if (cfg_rd(f, off, 1) == id && (id != PCI_CAP_ID_VNDR || cfg_rd(f, off + 3, 1) == type))
            return off;
    return 0;
}

/* Linux's vp_modern probe and virtio_dev_probe for queue 0, on zeroed
 * rings; with msix, MSI-X on and vector 1 for the queue, 0 for config. */
static void driver_init(struct fixture *f, bool msix)
{
    static const uint8_t zero[0x1000];
    unsigned cap = find_cap(f, PCI_CAP_ID_MSIX, 0);

    mem_write(&f->vm.mem, AVAIL, zero, sizeof(zero));
    mem_write(&f->vm.mem, USED, zero, sizeof(zero));
    if (msix) {
        cfg_wr(f, cap + 2, 2, MSIX_CTRL_ENABLED | MSIX_CTRL_MASKED);
        for (unsigned v = 0; v < 2; v++) {
            bar_wr(f, TABLE + 16 * v, 4, 0xfee00000);
            bar_wr(f, TABLE + 16 * v + 4, 4, 0);
            bar_wr(f, TABLE + 16 * v + 8, 4, 0x40 + v);
            bar_wr(f, TABLE + 16 * v + 12, 4, 0);
        }
        cfg_wr(f, cap + 2, 2, MSIX_CTRL_ENABLED);
    }
    bar_wr(f, C_STATUS, 1, 0);
    bar_wr(f, C_STATUS, 1, 1);
    bar_wr(f, C_STATUS, 1, 3);
    bar_wr(f, C_GFSELECT, 4, 1);
    bar_wr(f, C_GFEATURE, 4, 1); /* VERSION_1 */
    bar_wr(f, C_STATUS, 1, 0xb);
    assert_int_equal(bar_rd(f, C_STATUS, 1), 0xb);
    if (msix) {
        bar_wr(f, C_MSIX_CONFIG, 2, 0);
        assert_int_equal(bar_rd(f, C_MSIX_CONFIG, 2), 0);
    }
    bar_wr(f, C_QUEUE_SELECT, 2, 0);
    assert_int_equal(bar_rd(f, C_QUEUE_SIZE, 2), VIRTQ_MAX_SIZE);
    bar_wr(f, C_QUEUE_SIZE, 2, QSIZE);
    if (msix) {
        bar_wr(f, C_QUEUE_VECTOR, 2, 1);
        assert_int_equal(bar_rd(f, C_QUEUE_VECTOR, 2), 1);
    }
    /* 64-bit fields in two halves, as vp_iowrite64_twopart writes them */
    bar_wr(f, C_QUEUE_DESC, 4, (uint32_t)DESC);
    bar_wr(f, C_QUEUE_DESC + 4, 4, 0);
    bar_wr(f, C_QUEUE_DRIVER, 4, (uint32_t)AVAIL);
    bar_wr(f, C_QUEUE_DRIVER + 4, 4, 0);
    bar_wr(f, C_QUEUE_DEVICE, 8, USED);
    bar_wr(f, C_QUEUE_ENABLE, 2, 1);
    bar_wr(f, C_STATUS, 1, 0xf);
    f->avail_idx = 0;
}

static uint16_t used_idx(struct fixture *f)
{
    uint16_t v;

    mem_read(&f->vm.mem, USED + 2, &v, 2);
    return v;
}

/* A 64-byte device-writable buffer, offered and notified. */
static void offer(struct fixture *f)
{
    uint8_t d[16] = {0};
    uint64_t addr = BUF;
    uint32_t len = 64;
    uint16_t flags = 2, head = 0;

    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    mem_write(&f->vm.mem, DESC, d, 16);
    mem_write(&f->vm.mem, AVAIL + 4 + 2 * (f->avail_idx % QSIZE), &head, 2);
    f->avail_idx++;
    mem_write(&f->vm.mem, AVAIL + 2, &f->avail_idx, 2);
    bar_wr(f, NOTIFY + 4 * bar_rd(f, C_QUEUE_NOTIFY, 2), 2, 0);
}

static void test_config_space(void **state)
{
    struct fixture *f = *state;
    unsigned cap;

    assert_int_equal(cfg_rd(f, PCI_VENDOR_ID, 2), 0x1af4);
    assert_int_equal(cfg_rd(f, PCI_DEVICE_ID, 2), 0x1044); /* 0x1040 + entropy */
    assert_int_equal(cfg_rd(f, PCI_REVISION_ID, 1), 1);
    assert_int_equal(cfg_rd(f, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
    assert_int_equal(cfg_rd(f, PCI_INTERRUPT_PIN, 1), 1);
    assert_int_equal(cfg_rd(f, PCI_INTERRUPT_LINE, 1), pci_intx_gsi(SLOT, 0));
    assert_true(cfg_rd(f, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    /* every structure the driver needs, each pointing into BAR 0 */
    for (uint8_t type = 1; type <= 5; type++) {
        if (type == 4)
            continue; /* virtio-rng has no device configuration */
        cap = find_cap(f, PCI_CAP_ID_VNDR, type);
        assert_true(cap >= PCI_CAP_START);
        assert_int_equal(cfg_rd(f, cap + 4, 1), 0);
    }
    assert_int_equal(find_cap(f, PCI_CAP_ID_VNDR, 4), 0);
    cap = find_cap(f, PCI_CAP_ID_VNDR, 2);
    assert_int_equal(cfg_rd(f, cap + 8, 4), NOTIFY);
    assert_int_equal(cfg_rd(f, cap + 16, 4), 4); /* notify_off_multiplier */
    cap = find_cap(f, PCI_CAP_ID_MSIX, 0);
    assert_true(cap);
    assert_int_equal(cfg_rd(f, cap + 2, 2), 1); /* 2 vectors, disabled */
    assert_int_equal(cfg_rd(f, cap + 4, 4), TABLE | 0);
    assert_int_equal(cfg_rd(f, cap + 8, 4), PBA | 0);
    /* BAR sizing: 32 KiB of 32-bit memory, then back where it was */
    assert_int_equal(cfg_rd(f, PCI_BAR0, 4), (uint32_t)BAR_BASE);
    cfg_wr(f, PCI_BAR0, 4, ~0u);
    assert_int_equal(cfg_rd(f, PCI_BAR0, 4), 0xffff8000u);
    cfg_wr(f, PCI_BAR0, 4, (uint32_t)BAR_BASE);
    assert_int_equal(bar_rd(f, C_NUM_QUEUES, 2), 1);
}

static void test_bar_decoding(void **state)
{
    struct fixture *f = *state;

    /* memory decoding off: the window reads all ones */
    cfg_wr(f, PCI_COMMAND, 2, 0);
    assert_int_equal(bar_rd(f, C_NUM_QUEUES, 2), 0xffff);
    cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    assert_int_equal(bar_rd(f, C_NUM_QUEUES, 2), 1);
    /* moved by the guest: decoded at the new address only */
    cfg_wr(f, PCI_BAR0, 4, (uint32_t)BOARD_PCI_MEM32_BASE + 0x100000);
    assert_int_equal(bus_read(&f->vm.mmio, BOARD_PCI_MEM32_BASE + 0x100000 + C_NUM_QUEUES, 2), 1);
    assert_int_equal(bar_rd(f, C_NUM_QUEUES, 2), 0xffff);
}

static void test_msix_delivery(void **state)
{
    struct fixture *f = *state;
    uint8_t got[64];

    driver_init(f, true);
    offer(f);
    assert_int_equal(used_idx(f), 1);
    mem_read(&f->vm.mem, BUF, got, sizeof(got));
    assert_int_equal(msi.count, 1);
    assert_int_equal(msi.addr, 0xfee00000);
    assert_int_equal(msi.data, 0x41); /* the queue's vector */
    assert_int_equal(irq_level[pci_intx_gsi(SLOT, 0)], 0);
    /* masked: pending instead, sent when unmasked */
    bar_wr(f, TABLE + 16 + 12, 4, MSIX_ENTRY_MASKED);
    offer(f);
    assert_int_equal(msi.count, 1);
    assert_int_equal(bar_rd(f, PBA, 8), 2);
    bar_wr(f, TABLE + 16 + 12, 4, 0);
    assert_int_equal(msi.count, 2);
    assert_int_equal(bar_rd(f, PBA, 8), 0);
    /* function mask likewise */
    cfg_wr(f, find_cap(f, PCI_CAP_ID_MSIX, 0) + 2, 2, MSIX_CTRL_ENABLED | MSIX_CTRL_MASKED);
    offer(f);
    assert_int_equal(msi.count, 2);
    cfg_wr(f, find_cap(f, PCI_CAP_ID_MSIX, 0) + 2, 2, MSIX_CTRL_ENABLED);
    assert_int_equal(msi.count, 3);
    assert_int_equal(used_idx(f), 3);
}

/* With irqfds, each vector's eventfd is bound to the message the guest
 * wrote, and an interrupt is a write to it, not a call to the engine. */
static void test_msix_through_irqfd(void **state)
{
    struct fixture *f = *state;
    uint64_t count = 0;
    int fd = -1;

    driver_init(f, true);
    assert_int_equal(irqfds.n, 2);
    for (int i = 0; i < irqfds.n; i++) {
        assert_int_equal(irqfds.addr[i], 0xfee00000);
        if (irqfds.data[i] == 0x41)
            fd = irqfds.fd[i];
    }
    assert_true(fd >= 0);
    offer(f);
    assert_int_equal(used_idx(f), 1);
    assert_int_equal(msi.count, 0);
    assert_int_equal(read(fd, &count, sizeof(count)), sizeof(count));
    assert_int_equal(count, 1);
    /* the guest moves the vector: the binding follows */
    bar_wr(f, TABLE + 16 + 8, 4, 0x51);
    for (int i = 0; i < irqfds.n; i++)
        if (irqfds.fd[i] == fd)
            assert_int_equal(irqfds.data[i], 0x51);
}

static void test_intx_and_isr(void **state)
{
    struct fixture *f = *state;
    unsigned gsi = pci_intx_gsi(SLOT, 0);

    driver_init(f, false);
    offer(f);
    assert_int_equal(used_idx(f), 1);
    assert_int_equal(msi.count, 0);
    assert_int_equal(irq_level[gsi], 1);
    assert_int_equal(bar_rd(f, ISR, 1), 1); /* queue interrupt; reading clears it */
    assert_int_equal(irq_level[gsi], 0);
    assert_int_equal(bar_rd(f, ISR, 1), 0);
}

/* The PCI configuration access capability reaches the same registers. */
static void test_cfg_access_window(void **state)
{
    struct fixture *f = *state;
    unsigned cap = find_cap(f, PCI_CAP_ID_VNDR, 5);

    cfg_wr(f, cap + 4, 1, 0);
    cfg_wr(f, cap + 8, 4, C_NUM_QUEUES);
    cfg_wr(f, cap + 12, 4, 2);
    assert_int_equal(cfg_rd(f, cap + 16, 4) & 0xffff, 1);
    cfg_wr(f, cap + 8, 4, C_STATUS);
    cfg_wr(f, cap + 12, 4, 1);
    cfg_wr(f, cap + 16, 4, 1); /* ACKNOWLEDGE */
    assert_int_equal(bar_rd(f, C_STATUS, 1), 1);
    /* a length other than 1, 2 or 4, or a misaligned offset: nothing */
    cfg_wr(f, cap + 12, 4, 3);
    cfg_wr(f, cap + 16, 4, 0);
    assert_int_equal(bar_rd(f, C_STATUS, 1), 1);
}

static void test_hostile_driver(void **state)
{
    struct fixture *f = *state;
    unsigned cap = find_cap(f, PCI_CAP_ID_MSIX, 0);

    cfg_wr(f, cap + 2, 2, MSIX_CTRL_ENABLED);
    bar_wr(f, TABLE, 4, 0xfee00000);
    bar_wr(f, TABLE + 8, 4, 0x30);
    bar_wr(f, TABLE + 12, 4, 0);
    bar_wr(f, C_STATUS, 1, 3);
    bar_wr(f, C_GFSELECT, 4, 1);
    bar_wr(f, C_GFEATURE, 4, 1);
    bar_wr(f, C_STATUS, 1, 0xb);
    /* a vector past the table reads back as NO_VECTOR */
    bar_wr(f, C_MSIX_CONFIG, 2, 7);
    assert_int_equal(bar_rd(f, C_MSIX_CONFIG, 2), MSIX_NO_VECTOR);
    bar_wr(f, C_MSIX_CONFIG, 2, 0);
    /* a write across two fields is dropped */
    bar_wr(f, C_QUEUE_SELECT, 4, 0x00050000);
    assert_int_equal(bar_rd(f, C_QUEUE_SIZE, 2), VIRTQ_MAX_SIZE);
    /* a queue that does not exist reads size 0 and takes no writes */
    bar_wr(f, C_QUEUE_SELECT, 2, 9);
    assert_int_equal(bar_rd(f, C_QUEUE_SIZE, 2), 0);
    bar_wr(f, C_QUEUE_ENABLE, 2, 1);
    /* rings outside RAM: the device needs a reset and says so on the
     * config vector */
    bar_wr(f, C_QUEUE_SELECT, 2, 0);
    bar_wr(f, C_QUEUE_SIZE, 2, 3); /* not a power of two */
    bar_wr(f, C_QUEUE_DESC, 8, 0xfffffffff000ULL);
    bar_wr(f, C_QUEUE_ENABLE, 2, 1);
    assert_true(bar_rd(f, C_STATUS, 1) & 64);
    assert_int_equal(msi.count, 1);
    assert_int_equal(msi.data, 0x30);
    assert_int_equal(bar_rd(f, ISR, 1), 2);
    /* notifications to a broken device, or past its queues, do nothing */
    bar_wr(f, NOTIFY, 2, 0);
    bar_wr(f, NOTIFY + 4 * 7, 2, 0);
    /* reset brings it back, vectors unmapped */
    bar_wr(f, C_STATUS, 1, 0);
    assert_int_equal(bar_rd(f, C_STATUS, 1), 0);
    assert_int_equal(bar_rd(f, C_MSIX_CONFIG, 2), MSIX_NO_VECTOR);
    /* MSI-X table accesses that are not 4 or 8 bytes, or past it */
    bar_wr(f, TABLE + 1, 2, 0xffff);
    bar_wr(f, TABLE + 16 * 2, 4, 0xffffffff);
    assert_int_equal(bar_rd(f, TABLE + 16 * 2, 4), 0);
    assert_int_equal(bar_rd(f, TABLE + 8, 4), 0x30);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bar_decoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msix_delivery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msix_through_irqfd, setup_irqfd, teardown),
        cmocka_unit_test_setup_teardown(test_intx_and_isr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cfg_access_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_driver, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
