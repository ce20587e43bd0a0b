/*
 * Multiboot Specification version 0.6.96: the header (section 3.1), the
 * machine state at entry (3.2) and the boot information (3.3).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/layout.h"
#include "util/log.h"

#define MB_HEADER_MAGIC 0x1BADB002u
#define MB_BOOT_MAGIC   0x2BADB002u
#define MB_SEARCH_BYTES 8192
#define MB_FLAG_ALIGN   (1u << 0) /* page-align modules: there are none */
#define MB_FLAG_MEMINFO (1u << 1)
#define MB_FLAG_VIDEO   (1u << 2)
#define MB_FLAG_AOUT    (1u << 16)

#define MBI_MEM     (1u << 0)
#define MBI_CMDLINE (1u << 2)
#define MBI_MMAP    (1u << 6)
#define MBI_LOADER  (1u << 9)

struct mb_header {
    uint32_t magic, flags, checksum;
    uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

/* struct multiboot_info, fields up to boot_loader_name. */
struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table;
    uint32_t boot_loader_name;
};

struct __attribute__((packed)) mb_mmap_entry {
    uint32_t size; /* of the rest of the entry */
    uint64_t addr, len;
    uint32_t type;
};

static const char loader_name[] = "vx86";

/* Offset of the header, or -1. The header is 32-bit aligned within the
 * first 8192 bytes, and magic + flags + checksum is zero mod 2^32. */
static long find_header(const struct boot_image *img)
{
    size_t end = img->size < MB_SEARCH_BYTES ? img->size : MB_SEARCH_BYTES;

    for (size_t off = 0; off + 12 <= end; off += 4) {
        uint32_t h[3];

        memcpy(h, img->data + off, sizeof(h));
        if (h[0] == MB_HEADER_MAGIC && (uint32_t)(h[0] + h[1] + h[2]) == 0)
            return (long)off;
    }
    return -1;
}

int multiboot_detect(const struct boot_image *img)
{
    return find_header(img) >= 0;
}

static int load_aout(const struct guest_mem *mem, const struct boot_image *img, long off,
                     const struct mb_header *h, uint64_t *img_start, uint64_t *img_end)
{
    uint64_t start, end, bss_end, len;
    int err;

    /* The header's file offset corresponds to header_addr (spec 3.1.3). */
    if ((uint64_t)off + sizeof(*h) > img->size)
        return log_err("%s: truncated multiboot header", img->name), -EINVAL;
    if (h->load_addr > h->header_addr || h->header_addr - h->load_addr > (uint64_t)off)
        return log_err("%s: multiboot load_addr is inconsistent with header_addr", img->name),
               -EINVAL;
    start = (uint64_t)off - (h->header_addr - h->load_addr);
    end = h->load_end_addr ? h->load_end_addr : h->load_addr + (img->size - start);
    if (end < h->load_addr || end - h->load_addr > img->size - start)
        return log_err("%s: multiboot load_end_addr lies beyond the file", img->name), -EINVAL;
    len = end - h->load_addr;
    bss_end = h->bss_end_addr ? h->bss_end_addr : end;
    if (bss_end < end)
        return log_err("%s: multiboot bss_end_addr lies below load_end_addr", img->name), -EINVAL;
    err = boot_check_ram(mem, img, h->load_addr, bss_end - h->load_addr, BOOT_MB_FLOOR,
                         "multiboot image");
    if (err)
        return err;
    mem_write(mem, h->load_addr, img->data + start, len);
    memset(mem_ptr(mem, end, bss_end - end), 0, bss_end - end);
    *img_start = h->load_addr;
    *img_end = bss_end;
    return 0;
}

/* Where the information block goes: BOOT_MB_INFO, or the first page after
 * an image that covers it. */
static int place_block(const struct guest_mem *mem, const struct boot_image *img,
                       uint64_t img_start, uint64_t img_end, uint64_t *block)
{
    *block = BOOT_MB_INFO;
    if (img_start < BOOT_MB_INFO + BOOT_MB_BLOCK_SIZE && img_end > BOOT_MB_INFO)
        *block = (img_end + 0xfff) & ~0xfffULL;
    if (*block + BOOT_MB_BLOCK_SIZE > MEM_4G || !mem_ptr(mem, *block, BOOT_MB_BLOCK_SIZE)) {
        log_err("%s: no room in RAM below 4 GiB for the multiboot information after the image",
                img->name);
        return -EINVAL;
    }
    return 0;
}

/* The command line a PC boot loader gives (QEMU's -kernel/-append, GRUB's
 * "multiboot PATH ARGS"): the kernel's path, then the user's words. */
static int write_cmdline(const struct guest_mem *mem, const struct boot_image *img, uint64_t gpa)
{
    char line[BOOT_CMDLINE_MAX + 1];
    int n =
        snprintf(line, sizeof(line), "%s%s%s", img->name, *img->cmdline ? " " : "", img->cmdline);

    if (n < 0 || n > BOOT_CMDLINE_MAX) {
        log_err("--cmdline: the kernel's path and the command line exceed the limit of %d bytes",
                BOOT_CMDLINE_MAX);
        return -EINVAL;
    }
    return mem_write(mem, gpa, line, (uint64_t)n + 1);
}

static int write_info(const struct guest_mem *mem, const struct boot_image *img, uint64_t block)
{
    struct e820_entry map[E820_MAX];
    struct mb_mmap_entry mm[E820_MAX];
    int n = e820_build(mem, map), err;
    uint64_t low_top = mem->regions[0].size;
    struct mb_info info = {
        .flags = MBI_MEM | MBI_CMDLINE | MBI_MMAP | MBI_LOADER,
        .mem_lower = 0x9fc00 / 1024,
        .mem_upper = (uint32_t)((low_top - 0x100000) / 1024),
        .cmdline = (uint32_t)(block + BOOT_MB_CMDLINE_OFF),
        .mmap_length = (uint32_t)(n * sizeof(mm[0])),
        .mmap_addr = (uint32_t)(block + BOOT_MB_MMAP_OFF),
        .boot_loader_name = (uint32_t)(block + BOOT_MB_MMAP_OFF + sizeof(mm)),
    };

    for (int i = 0; i < n; i++)
        mm[i] = (struct mb_mmap_entry){.size = sizeof(mm[0]) - 4,
                                       .addr = map[i].addr,
                                       .len = map[i].size,
                                       .type = map[i].type};
    err = write_cmdline(mem, img, info.cmdline);
    if (err)
        return err;
    mem_write(mem, info.mmap_addr, mm, (uint64_t)n * sizeof(mm[0]));
    mem_write(mem, info.boot_loader_name, loader_name, sizeof(loader_name));
    return mem_write(mem, block, &info, sizeof(info));
}

int multiboot_load(const struct guest_mem *mem, const struct boot_image *img, struct cpu_state *cpu)
{
    long off = find_header(img);
    struct mb_header h = {0};
    uint32_t unknown;
    uint64_t entry, img_start = 0, img_end = 0, block;
    int err;

    if (off < 0)
        return -EINVAL;
    memcpy(&h, img->data + off, img->size - (size_t)off < sizeof(h) ? 12 : sizeof(h));
    if (h.flags & MB_FLAG_VIDEO) {
        log_err("%s: multiboot header requires a video mode; vx86 has no display", img->name);
        return -EINVAL;
    }
    unknown = h.flags & 0xffffu & ~(MB_FLAG_ALIGN | MB_FLAG_MEMINFO);
    if (unknown) {
        log_err("%s: multiboot header requires features vx86 does not know (flags 0x%x)", img->name,
                unknown);
        return -EINVAL;
    }
    if (h.flags & MB_FLAG_AOUT) {
        err = load_aout(mem, img, off, &h, &img_start, &img_end);
        entry = h.entry_addr;
    } else {
        struct elf_info info;

        if (!elf_is_elf(img->data, img->size)) {
            log_err("%s: multiboot image is neither ELF nor has load addresses (flag 16)",
                    img->name);
            return -EINVAL;
        }
        err = elf_load(mem, img, BOOT_MB_FLOOR, &info);
        entry = info.entry;
        img_start = info.start;
        img_end = info.end;
    }
    if (err)
        return err;
    if (entry >= MEM_4G) {
        log_err("%s: multiboot entry point 0x%" PRIx64 " is not a 32-bit address", img->name,
                entry);
        return -EINVAL;
    }
    err = place_block(mem, img, img_start, img_end, &block);
    if (!err)
        err = write_info(mem, img, block);
    if (!err)
        err = boot_write_gdt(mem);
    if (err)
        return err;
    cpu_state_protected32(cpu, (uint32_t)entry);
    cpu->rax = MB_BOOT_MAGIC;
    cpu->rbx = block;
    return 0;
}
