/* QEMU's edu device: see edu.h. */
#include "hw/edu.h"

#include <errno.h>
#include <string.h>

#include "hw/msi.h"
#include "vm/board.h"

static uint32_t factorial(uint32_t n)
{
    uint32_t f = 1;

    while (n > 1)
        f *= n--;
    return f;
}

/* The interrupt state after irq_status changed; raised: bits were ORed in.
 * With e->lock held. */
static void update_irq(struct edu *e, bool raised)
{
    uint64_t addr = 0;
    uint32_t data = 0;
    bool msi, intx_off;

    pthread_mutex_lock(&e->host->lock);
    msi = msi_message(&e->pci, e->msi_cap, &addr, &data);
    intx_off = e->pci.cfg[PCI_COMMAND + 1] & (PCI_COMMAND_INTX >> 8);
    pthread_mutex_unlock(&e->host->lock);
    if (msi) {
        if (raised && e->irq_status)
            e->ops->msi(e->opaque, e->sid, addr, data);
        return;
    }
    e->ops->irq(e->opaque, e->gsi, e->irq_status && !intx_off);
}

static void raise_irq(struct edu *e, uint32_t bits)
{
    e->irq_status |= bits;
    update_irq(e, true);
}

static bool bus_master(struct edu *e)
{
    bool on;

    pthread_mutex_lock(&e->host->lock);
    on = e->pci.cfg[PCI_COMMAND] & PCI_COMMAND_MASTER;
    pthread_mutex_unlock(&e->host->lock);
    return on;
}

/* The buffer offset of [addr, addr + count), or -1 if it is not all in the
 * buffer. */
static int64_t buf_offset(uint64_t addr, uint64_t count)
{
    if (addr < EDU_DMA_BASE || addr - EDU_DMA_BASE > EDU_DMA_SIZE ||
        count > EDU_DMA_SIZE - (addr - EDU_DMA_BASE))
        return -1;
    return (int64_t)(addr - EDU_DMA_BASE);
}

/* The transfer the command register asked for. With e->lock held. */
static void run_dma(struct edu *e)
{
    bool to_ram = e->dma_cmd & EDU_DMA_TO_RAM;
    int64_t off = buf_offset(to_ram ? e->dma_src : e->dma_dst, e->dma_count);

    if (off >= 0 && e->dma_count && bus_master(e))
        e->ops->dma(e->opaque, e->sid, to_ram ? e->dma_dst : e->dma_src, e->buf + off, e->dma_count,
                    to_ram);
    e->dma_cmd &= ~(uint64_t)EDU_DMA_RUN;
    if (e->dma_cmd & EDU_DMA_IRQ)
        raise_irq(e, EDU_IRQ_DMA);
}

static bool access_ok(uint64_t off, unsigned size)
{
    return off < EDU_REG_DMA_SRC ? size == 4 : size == 4 || size == 8;
}

static uint64_t bar_read(struct pci_device *d, unsigned bar, uint64_t off, unsigned size)
{
    struct edu *e = d->opaque;
    uint64_t v = ~0ULL;

    (void)bar;
    if (!access_ok(off, size))
        return size == 8 ? ~0ULL : 0xffffffffu;
    pthread_mutex_lock(&e->lock);
    switch (off) {
    case EDU_REG_ID:
        v = EDU_ID;
        break;
    case EDU_REG_LIVENESS:
        v = ~e->liveness;
        break;
    case EDU_REG_FACTORIAL:
        v = e->factorial;
        break;
    case EDU_REG_STATUS:
        v = e->status;
        break;
    case EDU_REG_IRQ_STAT:
        v = e->irq_status;
        break;
    case EDU_REG_DMA_SRC:
        v = e->dma_src;
        break;
    case EDU_REG_DMA_DST:
        v = e->dma_dst;
        break;
    case EDU_REG_DMA_COUNT:
        v = e->dma_count;
        break;
    case EDU_REG_DMA_CMD:
        v = e->dma_cmd;
        break;
    }
    pthread_mutex_unlock(&e->lock);
    return size == 8 ? v : (uint32_t)v;
}

static void bar_write(struct pci_device *d, unsigned bar, uint64_t off, unsigned size,
                      uint64_t value)
{
    struct edu *e = d->opaque;
    uint32_t v32 = (uint32_t)value;

    (void)bar;
    if (!access_ok(off, size))
        return;
    if (size == 4)
        value = v32;
    pthread_mutex_lock(&e->lock);
    switch (off) {
    case EDU_REG_LIVENESS:
        e->liveness = v32;
        break;
    case EDU_REG_FACTORIAL:
        e->factorial = factorial(v32);
        if (e->status & EDU_STATUS_IRQ_FACT)
            raise_irq(e, EDU_IRQ_FACT);
        break;
    case EDU_REG_STATUS:
        e->status = v32 & EDU_STATUS_IRQ_FACT;
        break;
    case EDU_REG_IRQ_RAISE:
        raise_irq(e, v32);
        break;
    case EDU_REG_IRQ_ACK:
        e->irq_status &= ~v32;
        update_irq(e, false);
        break;
    case EDU_REG_DMA_SRC:
        e->dma_src = value;
        break;
    case EDU_REG_DMA_DST:
        e->dma_dst = value;
        break;
    case EDU_REG_DMA_COUNT:
        e->dma_count = value;
        break;
    case EDU_REG_DMA_CMD:
        e->dma_cmd = value & (EDU_DMA_RUN | EDU_DMA_TO_RAM | EDU_DMA_IRQ);
        if (e->dma_cmd & EDU_DMA_RUN)
            run_dma(e);
        break;
    }
    pthread_mutex_unlock(&e->lock);
}

int edu_init(struct edu *e, struct pci *pci, unsigned slot, uint32_t bar_addr,
             const struct edu_ops *ops, void *opaque)
{
    struct pci_device *d = &e->pci;
    int err;

    memset(e, 0, sizeof(*e));
    if (slot < 1 || slot >= 32 || bar_addr % EDU_BAR_SIZE || bar_addr < BOARD_PCI_MEM32_BASE ||
        bar_addr - BOARD_PCI_MEM32_BASE + (uint64_t)EDU_BAR_SIZE > BOARD_PCI_MEM32_SIZE)
        return -EINVAL;
    pci_device_init(d, EDU_VENDOR, EDU_DEVICE, EDU_CLASS, 0x10);
    d->opaque = e;
    d->bar_read = bar_read;
    d->bar_write = bar_write;
    err = pci_set_bar(d, 0, EDU_BAR_SIZE, 0);
    if (err)
        return err;
    e->msi_cap = msi_add_cap(d);
    if (!e->msi_cap)
        return -ENOSPC;
    memcpy(d->cfg + PCI_BAR0, &bar_addr, 4);
    d->cfg[PCI_COMMAND] = PCI_COMMAND_MEMORY;
    e->gsi = pci_intx_gsi(slot, 0);
    d->cfg[PCI_INTERRUPT_LINE] = (uint8_t)e->gsi;
    d->cfg[PCI_INTERRUPT_PIN] = 1; /* INTA# */
    e->host = pci;
    e->ops = ops;
    e->opaque = opaque;
    e->sid = (uint16_t)PCI_DEVFN(slot, 0);
    pthread_mutex_init(&e->lock, NULL);
    err = pci_register(pci, d, PCI_DEVFN(slot, 0));
    if (err) {
        pthread_mutex_destroy(&e->lock);
        e->host = NULL;
    }
    return err;
}

void edu_destroy(struct edu *e)
{
    if (e->host)
        pthread_mutex_destroy(&e->lock);
}
