#include "hw/fw_cfg.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vm/board.h"

/* One FILE_DIR entry (fw_cfg.rst, "File Directory"): big-endian fields. */
struct __attribute__((packed)) fw_cfg_file {
    uint32_t size;
    uint16_t select;
    uint16_t reserved;
    char name[FW_CFG_MAX_FILE_PATH];
};

/* In guest RAM, big-endian (fw_cfg.rst, "DMA interface"). */
struct __attribute__((packed)) fw_cfg_dma_access {
    uint32_t control;
    uint32_t length;
    uint64_t address;
};

/* The selector's bit 14 (write channel) and bit 15 (architecture-local)
 * are part of the key: items live under the full 16-bit value. */
static struct fw_cfg_item *find(struct fw_cfg *fw, uint16_t key)
{
    for (int i = 0; i < fw->nr_items; i++)
        if (fw->items[i].key == key)
            return &fw->items[i];
    return NULL;
}

int fw_cfg_add(struct fw_cfg *fw, uint16_t key, const void *data, uint32_t len)
{
    struct fw_cfg_item *it = find(fw, key);
    uint8_t *copy = malloc(len ? len : 1);

    if (!copy)
        return -ENOMEM;
    if (!it) {
        if (fw->nr_items == FW_CFG_MAX_ITEMS) {
            free(copy);
            return -ENOSPC;
        }
        it = &fw->items[fw->nr_items++];
        it->key = key;
    }
    memcpy(copy, data, len);
    free(it->data);
    it->data = copy;
    it->len = len;
    return 0;
}

int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, uint32_t len)
{
    struct fw_cfg_item *dir = find(fw, FW_CFG_FILE_DIR);
    uint32_t n = (uint32_t)fw->nr_files, dir_len = 4 + (n + 1) * sizeof(struct fw_cfg_file);
    uint16_t key = (uint16_t)(FW_CFG_FILE_FIRST + n);
    struct fw_cfg_file f = {.size = htobe32(len), .select = htobe16(key)};
    uint8_t *d;
    int err;

    if (strlen(name) >= FW_CFG_MAX_FILE_PATH || !dir)
        return -EINVAL;
    err = fw_cfg_add(fw, key, data, len);
    if (err)
        return err;
    d = realloc(dir->data, dir_len);
    if (!d)
        return -ENOMEM;
    strcpy(f.name, name);
    memcpy(d + dir->len, &f, sizeof(f));
    n = htobe32(n + 1);
    memcpy(d, &n, 4);
    dir->data = d;
    dir->len = dir_len;
    fw->nr_files++;
    return 0;
}

/* The next data byte of the selected item; the caller holds the lock. */
static uint8_t next_byte(struct fw_cfg *fw)
{
    struct fw_cfg_item *it = find(fw, fw->sel);

    if (!it || fw->offset >= it->len)
        return 0;
    return it->data[fw->offset++];
}

/* 0x510-0x511 as one range, as QEMU's "fwcfg" port region: a 16-bit write
 * selects, a byte write is a (refused) data write, any read reads data. */
static uint64_t port_read(void *opaque, uint64_t offset, unsigned size)
{
    struct fw_cfg *fw = opaque;
    uint8_t b;

    (void)offset;
    (void)size;
    pthread_mutex_lock(&fw->lock);
    b = next_byte(fw);
    pthread_mutex_unlock(&fw->lock);
    return b;
}

static void port_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct fw_cfg *fw = opaque;

    if (size != 2 || offset != 0)
        return;
    pthread_mutex_lock(&fw->lock);
    fw->sel = (uint16_t)value;
    fw->offset = 0;
    pthread_mutex_unlock(&fw->lock);
}

/* Runs one DMA request at gpa; the caller holds the lock. Errors the guest
 * made (bad addresses, writes) end up in the control word it reads back. */
static void dma_run(struct fw_cfg *fw, uint64_t gpa)
{
    struct fw_cfg_dma_access req;
    struct fw_cfg_item *it;
    uint32_t control, len, have, n;
    uint64_t addr;
    uint8_t *dst;

    if (!fw->mem || mem_read(fw->mem, gpa, &req, sizeof(req)))
        return;
    control = be32toh(req.control);
    len = be32toh(req.length);
    addr = be64toh(req.address);
    if (control & FW_CFG_DMA_CTL_SELECT) {
        fw->sel = (uint16_t)(control >> 16);
        fw->offset = 0;
    }
    it = find(fw, fw->sel);
    have = it && fw->offset < it->len ? it->len - fw->offset : 0;
    n = len < have ? len : have;
    if (control & FW_CFG_DMA_CTL_READ) {
        dst = mem_ptr(fw->mem, addr, len);
        if (!dst) {
            control = FW_CFG_DMA_CTL_ERROR;
            goto out;
        }
        if (n)
            memcpy(dst, it->data + fw->offset, n);
        memset(dst + n, 0, len - n); /* past the end: zeros, as QEMU */
        if (fw->written)
            fw->written(fw->opaque, addr, len);
    } else if (control & FW_CFG_DMA_CTL_WRITE) {
        control = FW_CFG_DMA_CTL_ERROR; /* every item is read-only */
        goto out;
    } else if (!(control & FW_CFG_DMA_CTL_SKIP)) {
        control = 0;
        goto out;
    }
    fw->offset += n;
    control = 0;
out:
    control = htobe32(control);
    if (!mem_write(fw->mem, gpa, &control, sizeof(control)) && fw->written)
        fw->written(fw->opaque, gpa, sizeof(control));
}

static uint64_t dma_read(void *opaque, uint64_t offset, unsigned size)
{
    uint64_t v = 0;

    (void)opaque;
    memcpy(&v, &FW_CFG_DMA_SIGNATURE[offset], size);
    return v;
}

/* The halves arrive as the guest wrote them with iowrite32be/outl of a
 * byte-swapped value: the address bytes are in memory order. */
static void dma_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct fw_cfg *fw = opaque;

    pthread_mutex_lock(&fw->lock);
    if (size == 8 && offset == 0) {
        dma_run(fw, be64toh(value));
    } else if (size == 4 && offset == 0) {
        fw->dma_high = be32toh((uint32_t)value);
    } else if (size == 4 && offset == 4) {
        dma_run(fw, (uint64_t)fw->dma_high << 32 | be32toh((uint32_t)value));
        fw->dma_high = 0;
    }
    pthread_mutex_unlock(&fw->lock);
}

int fw_cfg_init(struct fw_cfg *fw, struct bus *pio, const struct guest_mem *mem)
{
    const uint32_t id = htole32(FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA), no_files = 0;
    int err;

    memset(fw, 0, sizeof(*fw));
    pthread_mutex_init(&fw->lock, NULL);
    fw->mem = mem;
    fw->sel = FW_CFG_INVALID;
    err = fw_cfg_add(fw, FW_CFG_SIGNATURE, "QEMU", 4);
    if (!err)
        err = fw_cfg_add(fw, FW_CFG_ID, &id, sizeof(id));
    if (!err)
        err = fw_cfg_add(fw, FW_CFG_FILE_DIR, &no_files, sizeof(no_files));
    if (!err)
        err = bus_register(pio, &(struct bus_range){.base = BOARD_FW_CFG_PORT,
                                                    .len = 2,
                                                    .widths = BUS_W1 | BUS_W2,
                                                    .read = port_read,
                                                    .write = port_write,
                                                    .opaque = fw,
                                                    .name = "fw_cfg"});
    if (!err)
        err = bus_register(pio, &(struct bus_range){.base = FW_CFG_PORT_DMA,
                                                    .len = 8,
                                                    .widths = BUS_WANY,
                                                    .read = dma_read,
                                                    .write = dma_write,
                                                    .opaque = fw,
                                                    .name = "fw_cfg-dma"});
    return err;
}

void fw_cfg_destroy(struct fw_cfg *fw)
{
    for (int i = 0; i < fw->nr_items; i++)
        free(fw->items[i].data);
    fw->nr_items = 0;
    pthread_mutex_destroy(&fw->lock);
}
