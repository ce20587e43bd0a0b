/*
 * Where vx86 puts its boot structures in guest RAM. The first 64 KiB belong
 * to vx86 at boot; a kernel image may not load there, except a multiboot
 * one, which may load anywhere from BOOT_MB_FLOOR on, as on a PC (QEMU and
 * GRUB load kvm-unit-tests' realmode test at 0x8000).
 *
 *   0x0000  real-mode IVT and BIOS data area: zero, or for multiboot and flat
 *           kernels what a PC BIOS leaves there (bios_state.c)
 *   0x0500  GDT: null, 64-bit code, data, 32-bit code, 64-bit TSS (16 bytes)
 *   0x0600  the TSS the GDT's TSS descriptor points at
 *   0x1000  PML4, 0x2000 PDPT, 0x3000-0x6fff four page directories: the
 *           first 4 GiB identity-mapped with 2 MiB pages
 *   0x7000  Linux's zero page (struct boot_params, 4 KiB), or PVH's struct
 *           hvm_start_info with its module list and memory map
 *   0x8000  kernel command line, NUL-terminated
 *   0x7000-0x9fff  a multiboot kernel's block (BOOT_MB_BLOCK_SIZE): its
 *           information at +0, command line at +0x1000, memory map and
 *           boot loader name at +0x2000; where the image overlaps it, the
 *           block goes to the first page after the image instead (QEMU
 *           puts it there always)
 *   0xa000-0xffff  stack of a 64-bit ELF kernel (RSP = 0x10000)
 *   0x10000 a flat binary, entered in real mode at 1000:0000
 *
 * and, whatever the kernel, firmware tables in the BIOS area, which the
 * memory map reports reserved (e820.c):
 *
 *   0xe0000-0xeffff  ACPI tables, the RSDP first (acpi.c)
 *   0xf0000-0xf0fff  MP floating pointer and configuration table (mptable.c)
 *   0xff000-0xfffff  for multiboot and flat kernels, the BIOS's interrupt
 *           handlers and the stub that programs the PICs and the PIT
 *           (bios_state.c)
 */
#ifndef VX86_BOOT_LAYOUT_H
#define VX86_BOOT_LAYOUT_H

#define BOOT_GDT         0x0500ULL
#define BOOT_TSS         0x0600ULL
#define BOOT_PML4        0x1000ULL
#define BOOT_PDPT        0x2000ULL
#define BOOT_PD          0x3000ULL
#define BOOT_MB_INFO     0x7000ULL /* the block's default place */
#define BOOT_MB_CMDLINE_OFF 0x1000ULL
#define BOOT_MB_MMAP_OFF    0x2000ULL
#define BOOT_MB_BLOCK_SIZE  0x3000ULL
#define BOOT_MB_FLOOR       0x1000ULL /* IVT, BIOS data area, GDT and TSS below */
#define BOOT_ZERO_PAGE   0x7000ULL
#define BOOT_START_INFO  0x7000ULL
#define BOOT_CMDLINE     0x8000ULL
#define BOOT_CMDLINE_MAX 4095
#define BOOT_STACK_TOP   0x10000ULL
#define BOOT_AREA_END    0x10000ULL

/* Written after the kernel, so a kernel loaded there loses to them. */
#define BOOT_BIOS_AREA  0xe0000ULL
#define BOOT_BIOS_END   0x100000ULL
#define BOOT_ACPI       0xe0000ULL
#define BOOT_ACPI_SIZE  0x10000ULL
#define BOOT_MPTABLE    0xf0000ULL
#define BOOT_MPTABLE_SIZE 0x1000ULL

#define FLAT_LOAD_ADDR 0x10000ULL
#define FLAT_SEGMENT   0x1000
#define FLAT_MAX_SIZE  (0xa0000ULL - FLAT_LOAD_ADDR) /* up to the VGA window */

/* GDT selectors */
#define SEL_CODE64 0x08
#define SEL_DATA   0x10
#define SEL_CODE32 0x18
#define SEL_TSS    0x20

/* The GDT of a Linux 64-bit entry (cpu_state_linux64): Linux's __BOOT_CS and
 * __BOOT_DS, Documentation/arch/x86/boot.rst, "64-bit Boot Protocol". */
#define LINUX_BOOT_CS 0x10
#define LINUX_BOOT_DS 0x18

#endif
