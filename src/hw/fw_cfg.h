/*
 * QEMU's firmware configuration device (fw_cfg) on its x86 ports, as QEMU's
 * docs/specs/fw_cfg.rst describes it, so that firmware and x86 test suites
 * written for QEMU find what they expect:
 *
 *   0x510  selector, 16-bit write: picks an item, its read offset back to 0
 *   0x511  data, 8-bit read: the item's next byte; 0 past its end or for an
 *          unknown item; data writes are ignored (read-only, as QEMU >= 2.4)
 *   0x514  DMA address, big-endian: a 32-bit write of the high half at 0x514
 *          then of the low half at 0x518 (or one 64-bit write at 0x514)
 *          starts a transfer described by struct fw_cfg_dma_access in guest
 *          RAM; reading 0x514 gives the signature "QEMU CFG"
 *
 * Items are byte strings under 16-bit keys; named ones ("files") get keys
 * from FW_CFG_FILE_FIRST and a big-endian directory at FW_CFG_FILE_DIR.
 * Items are added before any vCPU runs; the guest only reads them.
 */
#ifndef VX86_HW_FW_CFG_H
#define VX86_HW_FW_CFG_H

#include <pthread.h>
#include <stdint.h>

#include "hw/bus.h"
#include "vm/board.h"
#include "vm/mem.h"

#define FW_CFG_PORT_DATA (BOARD_FW_CFG_PORT + 1)
#define FW_CFG_PORT_DMA  (BOARD_FW_CFG_PORT + 4)

/* Keys (QEMU's include/standard-headers/linux/qemu_fw_cfg.h). */
#define FW_CFG_SIGNATURE  0x0000
#define FW_CFG_ID         0x0001
#define FW_CFG_RAM_SIZE   0x0003
#define FW_CFG_NB_CPUS    0x0005
#define FW_CFG_MAX_CPUS   0x000f
#define FW_CFG_FILE_DIR   0x0019
#define FW_CFG_FILE_FIRST 0x0020
#define FW_CFG_INVALID    0xffff

#define FW_CFG_ID_TRADITIONAL 0x01
#define FW_CFG_ID_DMA         0x02

#define FW_CFG_DMA_CTL_ERROR  0x01
#define FW_CFG_DMA_CTL_READ   0x02
#define FW_CFG_DMA_CTL_SKIP   0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE  0x10
#define FW_CFG_DMA_SIGNATURE  "QEMU CFG"

#define FW_CFG_MAX_FILE_PATH 56
#define FW_CFG_MAX_ITEMS     24

struct fw_cfg_item {
    uint16_t key;
    uint32_t len;
    uint8_t *data; /* malloc'd */
};

struct fw_cfg {
    pthread_mutex_t lock; /* sel, offset, dma_high */
    uint16_t sel;
    uint32_t offset;
    uint32_t dma_high;
    const struct guest_mem *mem; /* DMA target */
    /* Told of every DMA write to guest RAM, so that an engine caching
     * decoded guest code drops it (vm_mem_written); NULL: nobody to tell. */
    void (*written)(void *opaque, uint64_t gpa, uint64_t len);
    void *opaque;
    int nr_items, nr_files;
    struct fw_cfg_item items[FW_CFG_MAX_ITEMS];
};

/* Registers the ports on pio with the signature, ID and an empty file
 * directory; DMA reads and writes go to mem. Returns 0 or -errno. */
int fw_cfg_init(struct fw_cfg *fw, struct bus *pio, const struct guest_mem *mem);

/* Adds (or replaces) the item key with a copy of len bytes. Returns 0,
 * -ENOSPC, -ENOMEM. */
int fw_cfg_add(struct fw_cfg *fw, uint16_t key, const void *data, uint32_t len);

/* fw_cfg_add() under the next file key, listed in the directory under name
 * (at most FW_CFG_MAX_FILE_PATH - 1 bytes: else -EINVAL). */
int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, uint32_t len);

/* Frees the items; safe on a zeroed struct or after a failed init. */
void fw_cfg_destroy(struct fw_cfg *fw);

#endif
