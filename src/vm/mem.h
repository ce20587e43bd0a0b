/*
 * Guest physical memory: one memfd holding all of RAM, mapped once into vx86
 * and split into at most two guest-physical regions around the PCI/MMIO hole
 * below 4 GiB, as on a PC:
 *
 *   [0, low)            RAM (low = min(size, MEM_HOLE_START))
 *   [MEM_HOLE_START, 4G) MMIO: IOAPIC, LAPIC, boot timer, later PCI BARs
 *   [4G, 4G + high)     the rest of RAM, if any
 *
 * The legacy VGA/BIOS window 0xA0000-0xFFFFF stays backed by RAM (as with
 * QEMU and kvmtool) but is reported reserved in the guest's memory map.
 *
 * Every access to guest memory by vx86 goes through mem_ptr(): it is the one
 * place that turns a guest-controlled (gpa, len) into a host pointer.
 */
#ifndef VX86_VM_MEM_H
#define VX86_VM_MEM_H

#include <stddef.h>
#include <stdint.h>

#define MEM_HOLE_START 0xC0000000ULL
#define MEM_4G         0x100000000ULL
#define MEM_MIN_SIZE   (2ULL << 20)

struct mem_region {
    uint64_t gpa;
    uint64_t size;
    uint8_t *host;      /* host address of gpa */
    uint64_t fd_offset; /* offset of gpa in the memfd */
};

struct guest_mem {
    int fd;        /* memfd, -1 when not created */
    uint8_t *base; /* host mapping of the whole memfd */
    uint64_t size; /* bytes of RAM */
    int nr_regions;
    struct mem_region regions[2];
    /* Firmware ROM (hw/i440fx.h), size 0 when none: read-only memory an
     * engine maps for instruction fetch (the kvm engine: a read-only slot);
     * mem_ptr() never returns it, and guest accesses to it are MMIO on the
     * emu engine. host is the caller's image, not in the memfd. */
    struct mem_region rom;
};

/* Creates size bytes of zeroed guest RAM. Returns 0 or -errno. */
int mem_init(struct guest_mem *mem, uint64_t size);

/* Unmaps and closes; safe on a zeroed or half-initialised struct. */
void mem_destroy(struct guest_mem *mem);

/*
 * Host pointer to [gpa, gpa + len) if the whole range lies in one RAM region,
 * else NULL. Overflow-safe for any gpa and len; len 0 is valid inside RAM.
 */
void *mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* Copy between guest RAM and a host buffer. Return 0 or -EFAULT. */
int mem_read(const struct guest_mem *mem, uint64_t gpa, void *buf, uint64_t len);
int mem_write(const struct guest_mem *mem, uint64_t gpa, const void *buf, uint64_t len);

#endif
