/*
 * Booting through a PC BIOS image instead of a kernel: the image is mapped
 * read-only at the top of 4 GiB (hw/i440fx.h) and its last 128 KiB appear
 * at 0xe0000-0xfffff, and the boot vCPU starts at the reset vector. Debian's
 * SeaBIOS (FIRMWARE_DEFAULT) then finds the virtio-blk disks, reads the
 * tables vx86 hands it through fw_cfg and boots the first disk's MBR.
 */
#ifndef VX86_BOOT_FIRMWARE_H
#define VX86_BOOT_FIRMWARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "accel/accel.h"
#include "vm/mem.h"

#define FIRMWARE_DEFAULT "/usr/share/seabios/bios-256k.bin"
#define FIRMWARE_ALIGN   (64u << 10)

/* Reads a BIOS image: a multiple of 64 KiB, at most 16 MiB
 * (BOARD_ROM_MAX). *out is page-aligned, for free(). Returns 0 or -errno
 * after printing one line. */
int firmware_read(const char *path, uint8_t **out, size_t *size);

/* The register state of an x86 processor after RESET (SDM Vol. 3A
 * §9.1.1): the BIOS's reset vector next. */
void firmware_reset_state(struct cpu_state *s);

/* Copies the image's last 128 KiB (all of a smaller one) to end at
 * 0xfffff, and fills *cpu with the state after a reset. Returns 0 or
 * -errno after printing one line. */
int firmware_load(const struct guest_mem *mem, const uint8_t *rom, size_t size,
                  struct cpu_state *cpu);

#define FIRMWARE_MAX_DISKS 32 /* one per PCI slot */

/* One disk of a firmware boot: its --disk name (for messages), its
 * bootindex (has_bootindex false: none) and its PCI function on bus 0. */
struct firmware_disk {
    const char *name;
    bool has_bootindex;
    unsigned bootindex;
    unsigned devfn;
};

/*
 * Writes fw_cfg's "bootorder" for the n disks to out (size bytes): QEMU's
 * format (docs/specs/fw_cfg.rst), OpenFirmware device paths one a line,
 * the first boots first, NUL-terminated; a virtio-blk function is
 * /pci@i0cf8/scsi@SLOT[,FN]/disk@0,0 (hex) as QEMU names it, which SeaBIOS
 * (src/boot.c, bootprio_find_pci_device) matches by its PCI part, any
 * device name at that slot. The disks with a bootindex come first, lowest
 * first, then the others in their order. Returns the length with the NUL,
 * or -EINVAL after printing one line (two disks with one bootindex, or more
 * than FIRMWARE_MAX_DISKS), or -ENOSPC when out is too short (no line).
 */
int firmware_boot_order(const struct firmware_disk *disks, int n, char *out, size_t size);

#endif
