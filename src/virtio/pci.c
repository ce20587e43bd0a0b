/*
 * virtio-pci, "modern" only (VIRTIO 1.2 §4.1): a PCI function per device,
 * vendor 0x1af4, device 0x1040 + the virtio device ID, with one 32 KiB
 * memory BAR that holds every structure the vendor capabilities point at:
 *
 *   0x0000  common configuration (§4.1.4.3)
 *   0x1000  ISR status, one byte, cleared by reading it (§4.1.4.5)
 *   0x2000  device configuration (read-only here)
 *   0x3000  notifications: queue q at 0x3000 + 4 * q (§4.1.4.4)
 *   0x4000  MSI-X table, 0x5000 pending bits (hw/msix.h)
 *
 * plus the PCI configuration access capability (§4.1.4.9), a window onto
 * the BAR through config space. Interrupts go through MSI-X, a vector per
 * queue and one for config changes as the driver assigns them (on the kvm
 * engine each vector is an irqfd); with MSI-X off, through ISR and the INTA
 * line, which the DSDT's _PRT routes to the device's GSI.
 *
 * Lock order: pci->lock (config hooks), then d->lock, then the MSI-X lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hw/msix.h"
#include "hw/pc.h"
#include "virtio/virtio.h"
#include "vm/board.h"
#include "vm/vm.h"

#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040
#define VIRTIO_PCI_SUBSYS      0x1100 /* QEMU's subsystem ID for its devices */

#define BAR          0
#define BAR_SIZE     0x8000
#define COMMON_OFF   0x0000
#define ISR_OFF      0x1000
#define DEVICE_OFF   0x2000
#define NOTIFY_OFF   0x3000
#define NOTIFY_MUL   4
#define MSIX_TABLE   0x4000
#define MSIX_PBA     0x5000
#define PCI_BAR_STEP 0x10000ULL /* slot s's BAR at BOARD_PCI_MEM32_BASE + s * 64 KiB */

/* cfg_type of struct virtio_pci_cap (§4.1.4). */
enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4, CAP_PCI_CFG = 5 };

/* struct virtio_pci_cap: vndr, next, len, cfg_type, bar, id, 2 padding,
 * offset, length; the notify one adds notify_off_multiplier, the PCI
 * configuration access one pci_cfg_data[4]. */
#define CAP_LEN      16
#define CAP_BAR      4
#define CAP_OFFSET   8
#define CAP_LENGTH   12
#define CAP_EXTRA    16
#define CAP_LONG_LEN 20

/* The common configuration's fields, §4.1.4.3. */
enum {
    DFSELECT = 0x00,
    DFEATURE = 0x04,
    GFSELECT = 0x08,
    GFEATURE = 0x0c,
    MSIX_CONFIG = 0x10,
    NUM_QUEUES = 0x12,
    DEVICE_STATUS = 0x14,
    CONFIG_GENERATION = 0x15,
    QUEUE_SELECT = 0x16,
    QUEUE_SIZE = 0x18,
    QUEUE_MSIX_VECTOR = 0x1a,
    QUEUE_ENABLE = 0x1c,
    QUEUE_NOTIFY_OFF = 0x1e,
    QUEUE_DESC = 0x20,
    QUEUE_DRIVER = 0x28,
    QUEUE_DEVICE = 0x30,
    COMMON_LEN = 0x38,
};

struct vpci {
    struct pci_device pci;
    struct msix msix;
    struct virtio_dev *dev;
    unsigned cfg_cap; /* the PCI configuration access capability */
    bool bound;       /* the notify registers are bound at bound_base */
    uint64_t bound_base;
    /* Each MSI-X vector's eventfd for the engine's irqfd, or -1; bound to
     * the vector's message once the guest wrote it. MSI-X lock. */
    int irqfd[MSIX_MAX_VECTORS];
    bool irqfd_bound[MSIX_MAX_VECTORS];
    /* MSI-X vectors the driver chose; d->lock. */
    uint16_t config_vector, queue_vector[VIRTIO_MAX_QUEUES];
};

static struct virtq *cur_queue(struct virtio_dev *d)
{
    return d->queue_sel < d->nr_queues ? &d->vq[d->queue_sel] : NULL;
}

static void put(uint8_t *p, uint64_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get(const uint8_t *p, unsigned size)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The common configuration as the driver reads it now. d->lock held. */
static void common_image(struct vpci *p, uint8_t img[COMMON_LEN])
{
    struct virtio_dev *d = p->dev;
    struct virtq *q = cur_queue(d);

    memset(img, 0, COMMON_LEN);
    put(img + DFSELECT, d->host_features_sel, 4);
    put(img + DFEATURE, virtio_features_read(d), 4);
    put(img + GFSELECT, d->driver_features_sel, 4);
    if (d->driver_features_sel < 2)
        put(img + GFEATURE, d->driver_features >> (32 * d->driver_features_sel), 4);
    put(img + MSIX_CONFIG, p->config_vector, 2);
    put(img + NUM_QUEUES, d->nr_queues, 2);
    img[DEVICE_STATUS] = (uint8_t)d->status;
    put(img + QUEUE_SELECT, d->queue_sel, 2);
    if (!q)
        return; /* a queue that does not exist reads size 0 (§4.1.4.3.2) */
    put(img + QUEUE_SIZE, q->size ? q->size : VIRTQ_MAX_SIZE, 2);
    put(img + QUEUE_MSIX_VECTOR, p->queue_vector[d->queue_sel], 2);
    put(img + QUEUE_ENABLE, q->ready, 2);
    put(img + QUEUE_NOTIFY_OFF, d->queue_sel, 2);
    put(img + QUEUE_DESC, q->desc, 8);
    put(img + QUEUE_DRIVER, q->avail, 8);
    put(img + QUEUE_DEVICE, q->used, 8);
}

/* A vector past the table cannot be mapped: the driver reads NO_VECTOR
 * back and knows (§4.1.5.1.2). */
static uint16_t vector(struct vpci *p, uint64_t v)
{
    return v < p->msix.nvec ? (uint16_t)v : MSIX_NO_VECTOR;
}

/* The field that holds [off, off + size), as its offset and width; 0 width
 * for an access that straddles fields. 64-bit fields take 32-bit halves. */
static unsigned field(uint64_t off, unsigned size, unsigned *start)
{
    static const uint8_t width[COMMON_LEN] = {
        [DFSELECT] = 4,         [DFEATURE] = 4,   [GFSELECT] = 4,          [GFEATURE] = 4,
        [MSIX_CONFIG] = 2,      [NUM_QUEUES] = 2, [DEVICE_STATUS] = 1,     [CONFIG_GENERATION] = 1,
        [QUEUE_SELECT] = 2,     [QUEUE_SIZE] = 2, [QUEUE_MSIX_VECTOR] = 2, [QUEUE_ENABLE] = 2,
        [QUEUE_NOTIFY_OFF] = 2, [QUEUE_DESC] = 8, [QUEUE_DRIVER] = 8,      [QUEUE_DEVICE] = 8,
    };

    for (unsigned f = 0; f < COMMON_LEN; f++)
        if (width[f] && off >= f && off + size <= f + width[f]) {
            *start = f;
            return width[f];
        }
    return 0;
}

static void common_write(struct vpci *p, uint64_t off, unsigned size, uint64_t value)
{
    struct virtio_dev *d = p->dev;
    struct virtq *q = cur_queue(d);
    uint8_t img[COMMON_LEN];
    unsigned f, w = field(off, size, &f);
    uint64_t v;

    if (!w)
        return;
    common_image(p, img);
    put(img + off, value, size);
    v = get(img + f, w);
    switch (f) {
    case DFSELECT:
        d->host_features_sel = (uint32_t)v;
        return;
    case GFSELECT:
        d->driver_features_sel = (uint32_t)v;
        return;
    case GFEATURE:
        virtio_features_write(d, (uint32_t)v);
        return;
    case MSIX_CONFIG:
        p->config_vector = vector(p, v);
        return;
    case DEVICE_STATUS:
        virtio_set_status(d, (uint32_t)v);
        if (!v) {
            p->config_vector = MSIX_NO_VECTOR;
            for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
                p->queue_vector[i] = MSIX_NO_VECTOR;
        }
        return;
    case QUEUE_SELECT:
        d->queue_sel = (uint32_t)v;
        return;
    }
    /* The queue's fields; the driver sets them before enabling it and
     * MUST NOT change them after (§4.1.4.3.2): such writes are dropped. */
    if (!q || q->ready)
        return;
    switch (f) {
    case QUEUE_SIZE:
        q->size = (uint16_t)v; /* virtq_enable checks it */
        break;
    case QUEUE_MSIX_VECTOR:
        p->queue_vector[d->queue_sel] = vector(p, v);
        break;
    case QUEUE_ENABLE:
        if (v != 1)
            break; /* the driver MUST NOT write 0 (§4.1.4.3.2) */
        if (!q->size)
            q->size = VIRTQ_MAX_SIZE;
        virtio_set_queue_ready(d, d->queue_sel, true);
        break;
    case QUEUE_DESC:
        q->desc = v;
        break;
    case QUEUE_DRIVER:
        q->avail = v;
        break;
    case QUEUE_DEVICE:
        q->used = v;
        break;
    }
}

static uint64_t bar_read_locked(struct vpci *p, uint64_t off, unsigned size)
{
    struct virtio_dev *d = p->dev;
    uint8_t img[COMMON_LEN];
    uint64_t v = 0;

    if (off < COMMON_LEN) {
        if (off + size <= COMMON_LEN) {
            common_image(p, img);
            v = get(img + off, size);
        }
    } else if (off == ISR_OFF) {
        v = d->isr;
        virtio_isr_clear(d, ~0u);
    } else if (off >= DEVICE_OFF && off - DEVICE_OFF + size <= d->config_len) {
        v = get((const uint8_t *)d->config + (off - DEVICE_OFF), size);
    }
    return v;
}

static void bar_write_locked(struct vpci *p, uint64_t off, unsigned size, uint64_t value)
{
    if (off < COMMON_LEN)
        common_write(p, off, size, value);
    else if (off >= NOTIFY_OFF && off < NOTIFY_OFF + NOTIFY_MUL * VIRTIO_MAX_QUEUES)
        virtio_notify(p->dev, (unsigned)(off - NOTIFY_OFF) / NOTIFY_MUL);
}

/* The MSI-X structures have a lock of their own, the rest takes d->lock. */
static uint64_t bar_read(struct pci_device *pd, unsigned bar, uint64_t off, unsigned size)
{
    struct vpci *p = pd->opaque;
    uint64_t v;

    (void)bar;
    if (off >= MSIX_TABLE && off < MSIX_PBA)
        return msix_table_read(&p->msix, off - MSIX_TABLE, size);
    if (off >= MSIX_PBA)
        return msix_pba_read(&p->msix, off - MSIX_PBA, size);
    pthread_mutex_lock(&p->dev->lock);
    v = bar_read_locked(p, off, size);
    pthread_mutex_unlock(&p->dev->lock);
    return v;
}

static void bar_write(struct pci_device *pd, unsigned bar, uint64_t off, unsigned size,
                      uint64_t value)
{
    struct vpci *p = pd->opaque;

    (void)bar;
    if (off >= MSIX_TABLE && off < MSIX_PBA) {
        msix_table_write(&p->msix, off - MSIX_TABLE, size, value);
        return;
    }
    if (off >= MSIX_PBA)
        return;
    pthread_mutex_lock(&p->dev->lock);
    bar_write_locked(p, off, size, value);
    pthread_mutex_unlock(&p->dev->lock);
}

/* The PCI configuration access capability (§4.1.4.9): an access to its
 * pci_cfg_data is an access of cap.length bytes (1, 2 or 4) at cap.offset
 * in BAR cap.bar. pci->lock held. */
static bool cfg_window(struct vpci *p, unsigned off, unsigned size, uint64_t *bar_off,
                       unsigned *len)
{
    const uint8_t *cap = p->pci.cfg + p->cfg_cap;
    uint32_t o = (uint32_t)get(cap + CAP_OFFSET, 4), l = (uint32_t)get(cap + CAP_LENGTH, 4);

    if (off != p->cfg_cap + CAP_EXTRA || cap[CAP_BAR] != BAR || (l != 1 && l != 2 && l != 4) ||
        size < l || (o & (l - 1)) || (uint64_t)o + l > BAR_SIZE)
        return false;
    *bar_off = o;
    *len = l;
    return true;
}

static void cfg_read(struct pci_device *pd, unsigned off, unsigned size, uint32_t *value)
{
    struct vpci *p = pd->opaque;
    uint64_t bar_off;
    unsigned len;

    if (cfg_window(p, off, size, &bar_off, &len))
        *value = (uint32_t)bar_read(pd, BAR, bar_off, len);
}

/* Where the notify registers are decoded now (0: nowhere), bound to the
 * engine's ioeventfd; rebound when the guest moves the BAR or turns
 * decoding off. Before vCPUs run or with pci->lock held. */
static void bind_notify(struct vpci *p)
{
    const struct pci_device *pd = &p->pci;
    uint64_t base = pci_bar_addr(pd, BAR), gpa;
    bool on = (pd->cfg[PCI_COMMAND] & PCI_COMMAND_MEMORY) && base >= BOARD_PCI_MEM32_BASE &&
              base + BAR_SIZE <= BOARD_PCI_MEM32_BASE + BOARD_PCI_MEM32_SIZE;

    if (on == p->bound && (!on || base == p->bound_base))
        return;
    p->bound = on;
    p->bound_base = base;
    for (unsigned q = 0; q < p->dev->nr_queues; q++) {
        gpa = on ? base + NOTIFY_OFF + NOTIFY_MUL * q : 0;
        /* Linux writes the queue index as 16 bits (vp_notify) */
        if (virtio_ioevent_bind(p->dev, q, gpa, 2, false, 0))
            return; /* the bus still delivers the writes */
    }
}

static void cfg_write(struct pci_device *pd, unsigned off, unsigned size, uint32_t value)
{
    struct vpci *p = pd->opaque;
    uint64_t bar_off;
    unsigned len;

    msix_cfg_write(&p->msix, pd, off, size);
    if (off < PCI_COMMAND + 2 || (off < PCI_BAR0 + 4 * BAR + 4 && off + size > PCI_BAR0 + 4 * BAR))
        bind_notify(p);
    if (cfg_window(p, off, size, &bar_off, &len))
        bar_write(pd, BAR, bar_off, len, value & (len == 4 ? ~0u : (1u << (8 * len)) - 1));
}

/* With MSI-X on, the vector the driver chose; otherwise ISR and INTA. A
 * config change sets its ISR bit either way (§4.1.4.5). */
static void pci_interrupt(struct virtio_dev *d, int q)
{
    struct vpci *p = d->transport;
    bool config = q == VIRTIO_CONFIG_IRQ;

    if (!msix_enabled(&p->msix)) {
        virtio_isr_set(d, config ? VIRTIO_ISR_CONFIG : VIRTIO_ISR_QUEUE);
        return;
    }
    if (config)
        d->isr |= VIRTIO_ISR_CONFIG;
    msix_notify(&p->msix, config ? p->config_vector : p->queue_vector[q]);
}

/* Where the engine can inject an MSI on an eventfd write (KVM's irqfd),
 * each vector has an eventfd bound to its message whenever the guest
 * rewrites it, and sending is one write; otherwise vm_msi_send. Both with
 * the MSI-X lock held, so a vector's binding and its sends keep order. */
static void route_msi(void *opaque, unsigned vec, uint64_t addr, uint32_t data)
{
    struct vpci *p = opaque;

    if (p->irqfd[vec] >= 0)
        p->irqfd_bound[vec] = !vm_msi_irqfd(p->dev->vm, p->irqfd[vec], addr, data);
}

static void send_msi(void *opaque, unsigned vec, uint64_t addr, uint32_t data)
{
    struct vpci *p = opaque;
    uint64_t one = 1;

    if (p->irqfd_bound[vec] && write(p->irqfd[vec], &one, sizeof(one)) == sizeof(one))
        return;
    vm_msi_send(p->dev->vm, addr, data);
}

static unsigned add_cap(struct pci_device *pd, uint8_t type, unsigned len, uint32_t off,
                        uint32_t length)
{
    unsigned cap = pci_add_cap(pd, PCI_CAP_ID_VNDR, len);

    if (!cap)
        return 0;
    pd->cfg[cap + 2] = (uint8_t)len;
    pd->cfg[cap + 3] = type;
    pd->cfg[cap + CAP_BAR] = BAR;
    put(pd->cfg + cap + CAP_OFFSET, off, 4);
    put(pd->cfg + cap + CAP_LENGTH, length, 4);
    return cap;
}

static uint32_t class_of(uint32_t device_id)
{
    switch (device_id) {
    case 1:
        return 0x020000; /* network controller, Ethernet */
    case 2:
        return 0x010000; /* mass storage, SCSI, as QEMU's virtio-blk */
    case 3:
        return 0x078000; /* communication controller, other */
    default:
        return 0x00ff00; /* unclassified */
    }
}

static int setup(struct vpci *p, unsigned slot)
{
    struct virtio_dev *d = p->dev;
    struct pci_device *pd = &p->pci;
    unsigned notify;
    int err;

    pci_device_init(pd, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + d->ops->device_id),
                    class_of(d->ops->device_id), 1);
    put(pd->cfg + PCI_SUBSYSTEM_VENDOR_ID, VIRTIO_PCI_VENDOR, 2);
    put(pd->cfg + PCI_SUBSYSTEM_ID, VIRTIO_PCI_SUBSYS, 2);
    pd->cfg[PCI_INTERRUPT_PIN] = 1; /* INTA */
    pd->cfg[PCI_INTERRUPT_LINE] = (uint8_t)d->irq;
    pd->opaque = p;
    pd->read = cfg_read;
    pd->write = cfg_write;
    pd->bar_read = bar_read;
    pd->bar_write = bar_write;
    err = pci_set_bar(pd, BAR, BAR_SIZE, 0);
    if (err)
        return err;
    /* Where firmware would have put it, decoding and bus-mastering on. */
    put(pd->cfg + PCI_BAR0 + 4 * BAR, BOARD_PCI_MEM32_BASE + slot * PCI_BAR_STEP, 4);
    pd->cfg[PCI_COMMAND] = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
    notify = add_cap(pd, CAP_NOTIFY, CAP_LONG_LEN, NOTIFY_OFF, NOTIFY_MUL * VIRTIO_MAX_QUEUES);
    if (!add_cap(pd, CAP_COMMON, CAP_LEN, COMMON_OFF, COMMON_LEN) ||
        !add_cap(pd, CAP_ISR, CAP_LEN, ISR_OFF, 1) || !notify ||
        (d->config_len && !add_cap(pd, CAP_DEVICE, CAP_LEN, DEVICE_OFF, d->config_len)))
        return -ENOSPC;
    put(pd->cfg + notify + CAP_EXTRA, NOTIFY_MUL, 4);
    p->cfg_cap = add_cap(pd, CAP_PCI_CFG, CAP_LONG_LEN, 0, 0);
    if (!p->cfg_cap)
        return -ENOSPC;
    /* cap.bar, cap.offset, cap.length and pci_cfg_data are the driver's. */
    pd->wmask[p->cfg_cap + CAP_BAR] = 0xff;
    memset(pd->wmask + p->cfg_cap + CAP_OFFSET, 0xff, 12);
    for (unsigned v = 0; v < MSIX_MAX_VECTORS; v++)
        p->irqfd[v] = v <= d->nr_queues && vm_has_msi_irqfd(d->vm)
                          ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)
                          : -1;
    return msix_init(&p->msix, pd, d->nr_queues + 1, BAR, MSIX_TABLE, MSIX_PBA, send_msi, route_msi,
                     p);
}

int virtio_pci_add(struct virtio_dev *d, int index, unsigned slot)
{
    struct vpci *p;
    int err;

    if (slot < 1 || slot >= 32 || d->nr_queues + 1 > MSIX_MAX_VECTORS)
        return -EINVAL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->dev = d;
    for (unsigned v = 0; v < MSIX_MAX_VECTORS; v++)
        p->irqfd[v] = -1;
    p->config_vector = MSIX_NO_VECTOR;
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
        p->queue_vector[i] = MSIX_NO_VECTOR;
    d->index = index;
    d->slot = slot;
    d->irq = pci_intx_gsi(slot, 0);
    d->interrupt = pci_interrupt;
    d->transport = p;
    err = setup(p, slot);
    if (!err)
        err = pci_register(&d->vm->pc->pci, &p->pci, PCI_DEVFN(slot, 0));
    if (!err)
        bind_notify(p);
    return err;
}

void virtio_pci_remove(struct virtio_dev *d)
{
    struct vpci *p = d->transport;

    if (!p || d->interrupt != pci_interrupt)
        return;
    if (p->msix.send)
        msix_destroy(&p->msix);
    for (unsigned v = 0; v < MSIX_MAX_VECTORS; v++) {
        if (p->irqfd_bound[v])
            vm_msi_irqfd(d->vm, p->irqfd[v], 0, 0);
        if (p->irqfd[v] >= 0)
            close(p->irqfd[v]);
    }
    free(p);
    d->transport = NULL;
}
