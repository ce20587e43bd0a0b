/*
 * Kernel loaders. boot_load() reads cfg.kernel, recognises its format and
 * puts it in guest RAM with the boot structures its protocol expects:
 *
 *   multiboot (v1)  a multiboot header in the first 8 KiB: ELF or a.out-kludge
 *                   image, entered in 32-bit protected mode, EAX = 0x2BADB002,
 *                   EBX = multiboot information (memory, map, command line)
 *   Linux           a bzImage ("HdrS" at 0x202, boot protocol 2.12+): the
 *                   64-bit entry with a zero page (boot_params); an ELF
 *                   vmlinux with a PVH note: its 32-bit PVH entry with
 *                   struct hvm_start_info. Both take an initrd (linux.c).
 *   ELF64           entered in 64-bit mode at e_entry with the first 4 GiB
 *                   identity-mapped, RDI = command line, RSI = bytes of RAM,
 *                   RSP = 0x10000
 *   flat binary     anything else: loaded at 0x10000, entered in real mode at
 *                   1000:0000 with every segment register 0x1000
 *
 * Multiboot kernels and flat binaries find the state a PC BIOS leaves
 * (bios_state_write()); Linux and ELF64 kernels find the PICs, PIT, IVT and
 * BIOS data area as the machine's reset left them.
 *
 * Every field of the image is checked before use; a bad one gets one line
 * naming the file and the problem, and -EINVAL.
 */
#ifndef VX86_BOOT_BOOT_H
#define VX86_BOOT_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "accel/accel.h"
#include "vm/mem.h"

struct boot_image {
    const char *name; /* for messages */
    const uint8_t *data;
    size_t size;
    const char *cmdline;
    const char *initrd_name; /* NULL: no initrd; only a Linux kernel takes one */
    const uint8_t *initrd;
    size_t initrd_size;
};

/* Reads a whole file of at most max bytes into *out (malloc'd). */
int boot_read_file(const char *path, uint64_t max, uint8_t **out, size_t *size);

/* For --kernel: -EINVAL after one line naming what path is instead when it
 * starts as a disk image does (qcow2, a GPT or MBR partition table, ISO
 * 9660), which a user may give there by mistake; 0 otherwise (also when it
 * cannot be read: boot_read_file says why). */
int boot_check_not_disk(const char *path);

/* Loads img into mem and fills *cpu for the boot vCPU. */
int boot_load_image(const struct guest_mem *mem, const struct boot_image *img,
                    struct cpu_state *cpu);

/* Sets up what a PC BIOS leaves for a multiboot kernel or a real-mode
 * program (bios_state.c): the real-mode IVT and its handlers, the BIOS data
 * area, and a stub in the F000 segment that programs the PICs and the PIT
 * and then goes on to the entry *cpu held; *cpu now starts at the stub.
 * *cpu must be in real mode, or in 32-bit protected mode with a zero CS
 * base. Returns 0 or -errno after printing one line. */
int bios_state_write(const struct guest_mem *mem, struct cpu_state *cpu);

/* Writes the platform's firmware tables for cpus vCPUs and the ndevs MMIO
 * devices that only ACPI can describe into the BIOS area (layout.h): ACPI
 * (acpi.h) and MP (mptable.h). Called after boot_load_image(), whatever the
 * kernel. Returns 0 or -errno after printing one line. */
struct acpi_mmio_dev;
int boot_write_tables(const struct guest_mem *mem, int cpus, const struct acpi_mmio_dev *devs,
                      int ndevs);

/* --- used by the format loaders --- */

struct elf_info {
    uint64_t entry;
    int bits;            /* 32 or 64 */
    uint64_t start, end; /* physical addresses the PT_LOAD segments span */
};

/* Checks the headers and PT_LOAD segments of an ELF32/ELF64 x86 executable
 * and fills *info; loads nothing. */
int elf_inspect(const struct boot_image *img, struct elf_info *info);

/* elf_inspect(), then loads the PT_LOAD segments at their physical
 * addresses, none of which may lie below floor (boot_check_ram()). */
int elf_load(const struct guest_mem *mem, const struct boot_image *img, uint64_t floor,
             struct elf_info *info);

/* Looks for a note of the given name (owner, e.g. "Xen") and type in the
 * PT_NOTE segments. 1: found, *desc (inside img->data) and *descsz set;
 * 0: not found, or img is not an ELF file elf_inspect() would take. Prints
 * nothing. */
int elf_find_note(const struct boot_image *img, const char *name, uint32_t type,
                  const uint8_t **desc, uint32_t *descsz);

/* True if data starts with the ELF magic. */
int elf_is_elf(const uint8_t *data, size_t size);

/* 1 if a multiboot header is present, 0 if not. */
int multiboot_detect(const struct boot_image *img);
int multiboot_load(const struct guest_mem *mem, const struct boot_image *img,
                   struct cpu_state *cpu);

/* 1 if img is a Linux kernel: a bzImage, or an ELF vmlinux with the PVH
 * entry note (XEN_ELFNOTE_PHYS32_ENTRY); else 0. */
int linux_detect(const struct boot_image *img);

/* Loads a kernel linux_detect() took, its initrd and its boot structures;
 * fills *cpu for its 64-bit (bzImage) or PVH (vmlinux) entry. */
int linux_load(const struct guest_mem *mem, const struct boot_image *img, struct cpu_state *cpu);

/* Checks that [gpa, gpa + len) is in RAM and clear of vx86's boot area
 * (below BOOT_AREA_END). */
int boot_check_range(const struct guest_mem *mem, const struct boot_image *img, uint64_t gpa,
                     uint64_t len, const char *what);

/* The same with the boot area ending at floor instead: a multiboot image
 * leaves vx86 only the page below BOOT_MB_FLOOR (layout.h). */
int boot_check_ram(const struct guest_mem *mem, const struct boot_image *img, uint64_t gpa,
                   uint64_t len, uint64_t floor, const char *what);

/* Writes the GDT and TSS of layout.h. */
int boot_write_gdt(const struct guest_mem *mem);

/* Writes the command line at BOOT_CMDLINE. */
int boot_write_cmdline(const struct guest_mem *mem, const struct boot_image *img);

/* Register states for each way in. */
void cpu_state_real(struct cpu_state *s, uint16_t segment, uint16_t ip, uint16_t sp);
void cpu_state_protected32(struct cpu_state *s, uint32_t entry);
/* Also writes the identity-mapping page tables. */
int cpu_state_long64(const struct guest_mem *mem, struct cpu_state *s, uint64_t entry);
/* cpu_state_long64() with the GDT of Linux's 64-bit boot protocol: CS =
 * LINUX_BOOT_CS, the data segments LINUX_BOOT_DS (layout.h). */
int cpu_state_linux64(const struct guest_mem *mem, struct cpu_state *s, uint64_t entry);

/* A PC memory map in e820 terms (type 1 RAM, 2 reserved). */
struct e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};
#define E820_RAM      1
#define E820_RESERVED 2
#define E820_MAX      8

/* Fills map; returns the number of entries. */
int e820_build(const struct guest_mem *mem, struct e820_entry *map);

#endif
