/*
 * Linux, two ways in:
 *
 *  - a bzImage through the x86 boot protocol (Documentation/arch/x86/boot.rst,
 *    zero-page.rst): the protected-mode kernel at pref_address, a zero page
 *    (struct boot_params) with the image's setup header, entered at its
 *    64-bit entry point (load address + 0x200) with RSI = zero page;
 *  - an ELF vmlinux with XEN_ELFNOTE_PHYS32_ENTRY through PVH
 *    (xen/include/public/arch-x86/hvm/start_info.h, Linux's
 *    arch/x86/platform/pvh/): segments at their physical addresses, entered
 *    in 32-bit protected mode, paging off, EBX = struct hvm_start_info.
 *
 * Both get the command line at BOOT_CMDLINE, e820_build()'s memory map, the
 * address of the ACPI RSDP (boot_write_tables() writes the tables) and the
 * initrd placed as high as the kernel allows, above the kernel.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/layout.h"
#include "util/log.h"

/* struct setup_header, at 0x1f1 in both the image and the zero page
 * (boot.rst, "The Real-Mode Kernel Header"). */
#define HDR_START            0x1f1
#define HDR_SETUP_SECTS      0x1f1
#define HDR_SYSSIZE          0x1f4
#define HDR_JUMP             0x200 /* its second byte + 0x202: the header's end */
#define HDR_MAGIC            0x202
#define HDR_VERSION          0x206
#define HDR_TYPE_OF_LOADER   0x210
#define HDR_LOADFLAGS        0x211
#define HDR_RAMDISK_IMAGE    0x218
#define HDR_RAMDISK_SIZE     0x21c
#define HDR_HEAP_END_PTR     0x224
#define HDR_CMD_LINE_PTR     0x228
#define HDR_INITRD_ADDR_MAX  0x22c
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE      0x234
#define HDR_XLOADFLAGS       0x236
#define HDR_CMDLINE_SIZE     0x238
#define HDR_PREF_ADDRESS     0x258
#define HDR_INIT_SIZE        0x260
#define HDR_END_MAX          0x290 /* where struct boot_params' next field starts */

#define LOADFLAGS_CAN_USE_HEAP     0x80
#define XLF_KERNEL_64              (1u << 0)
#define XLF_CAN_BE_LOADED_ABOVE_4G (1u << 1)
#define LOADER_TYPE_UNDEFINED      0xff
#define HEAP_END                   0xde00 /* 0xe000 - 0x200, as boot.rst's example */
#define PROTOCOL_MIN               0x020c /* 2.12: xloadflags, the 64-bit entry */
#define ENTRY64_OFFSET             0x200

/* The rest of struct boot_params (zero-page.rst). */
#define BP_ACPI_RSDP_ADDR    0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_E820_ENTRIES      0x1e8
#define BP_E820_TABLE        0x2d0 /* struct boot_e820_entry[128], packed, 20 bytes */
#define BP_SIZE              4096

/* PVH: xen/include/public/elfnote.h and hvm/start_info.h. */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC          0x336ec578u

struct hvm_start_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr;
    uint64_t memmap_paddr; /* version 1 */
    uint32_t memmap_entries, reserved;
};

struct hvm_modlist_entry {
    uint64_t paddr, size, cmdline_paddr, reserved;
};

struct hvm_memmap_table_entry {
    uint64_t addr, size;
    uint32_t type, reserved;
};

#define PVH_MODLIST (BOOT_START_INFO + 0x40)
#define PVH_MEMMAP  (BOOT_START_INFO + 0x80)

_Static_assert(sizeof(struct hvm_start_info) == 56, "start_info.h layout");
_Static_assert(sizeof(struct hvm_start_info) <= PVH_MODLIST - BOOT_START_INFO, "overlap");
_Static_assert(PVH_MEMMAP + E820_MAX * sizeof(struct hvm_memmap_table_entry) <=
                   BOOT_START_INFO + 0x1000,
               "the memory map fits before the command line");

/* Bytes as MiB for messages, rounded up. */
static unsigned long long mib(uint64_t x)
{
    return (x >> 20) + ((x & ((1ULL << 20) - 1)) != 0);
}

static uint16_t get16(const uint8_t *p, size_t off)
{
    uint16_t v;

    memcpy(&v, p + off, sizeof(v));
    return v;
}

static uint32_t get32(const uint8_t *p, size_t off)
{
    uint32_t v;

    memcpy(&v, p + off, sizeof(v));
    return v;
}

static uint64_t get64(const uint8_t *p, size_t off)
{
    uint64_t v;

    memcpy(&v, p + off, sizeof(v));
    return v;
}

static void put16(uint8_t *p, size_t off, uint16_t v)
{
    memcpy(p + off, &v, sizeof(v));
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
    memcpy(p + off, &v, sizeof(v));
}

static void put64(uint8_t *p, size_t off, uint64_t v)
{
    memcpy(p + off, &v, sizeof(v));
}

static int is_bzimage(const struct boot_image *img)
{
    return img->size >= HDR_MAGIC + 4 && !memcmp(img->data + HDR_MAGIC, "HdrS", 4);
}

/* 1 and *entry if img is an ELF file with the PVH entry note, else 0. */
static int pvh_entry(const struct boot_image *img, uint64_t *entry)
{
    const uint8_t *desc;
    uint32_t descsz;

    if (!elf_is_elf(img->data, img->size) ||
        elf_find_note(img, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &desc, &descsz) != 1)
        return 0;
    /* A 32-bit value, stored as a pointer-sized one by 64-bit kernels. */
    if (descsz == 4)
        *entry = get32(desc, 0);
    else if (descsz == 8)
        *entry = get64(desc, 0);
    else
        *entry = UINT64_MAX;
    return 1;
}

int linux_detect(const struct boot_image *img)
{
    uint64_t entry;

    return is_bzimage(img) || pvh_entry(img, &entry);
}

/* The top of the RAM below 4 GiB (the identity map ends there). */
static uint64_t low_ram_end(const struct guest_mem *mem)
{
    return mem->regions[0].gpa + mem->regions[0].size;
}

/*
 * Places the initrd as high as it goes in RAM above kernel_end and below
 * limit, page-aligned; failing that, at the top of RAM above 4 GiB if the
 * kernel takes it there.
 */
static int place_initrd(const struct guest_mem *mem, const struct boot_image *img,
                        uint64_t kernel_end, uint64_t limit, bool above_4g, uint64_t *gpa)
{
    uint64_t size = img->initrd_size, top = low_ram_end(mem);
    const char *why = "the end of RAM";

    if (limit < top) {
        top = limit;
        why = "the kernel's initrd limit";
    }
    if (top >= kernel_end && top - kernel_end >= size && ((top - size) & ~0xfffULL) >= kernel_end) {
        *gpa = (top - size) & ~0xfffULL;
        return 0;
    }
    if (above_4g && mem->nr_regions > 1 && mem->regions[1].size >= size) {
        const struct mem_region *high = &mem->regions[1];

        *gpa = (high->gpa + high->size - size) & ~0xfffULL;
        if (*gpa >= high->gpa)
            return 0;
    }
    log_err("%s: %llu MiB does not fit between the kernel's end at %llu MiB and %s at %llu MiB",
            img->initrd_name, mib(size), mib(kernel_end), why, mib(top));
    return -EINVAL;
}

static int write_initrd(const struct guest_mem *mem, const struct boot_image *img, uint64_t gpa)
{
    int err = boot_check_range(mem, img, gpa, img->initrd_size, "initrd");

    if (!err)
        err = mem_write(mem, gpa, img->initrd, img->initrd_size);
    return err;
}

static int bad(const struct boot_image *img, const char *why)
{
    log_err("%s: %s", img->name, why);
    return -EINVAL;
}

static int load_bzimage(const struct guest_mem *mem, const struct boot_image *img,
                        struct cpu_state *cpu)
{
    const uint8_t *d = img->data;
    uint8_t bp[BP_SIZE];
    struct e820_entry map[E820_MAX];
    uint64_t setup_size, pm_size, load, init_size, kernel_end, initrd = 0;
    size_t hdr_end, cmdline_len = strlen(img->cmdline);
    uint16_t version;
    uint32_t xlf, cmdline_max;
    int n, err;

    if (img->size < HDR_VERSION + 2)
        return bad(img, "truncated bzImage: the setup header extends past the end of the file");
    version = get16(d, HDR_VERSION);
    if (version < PROTOCOL_MIN) {
        log_err("%s: boot protocol %u.%02u is too old (%u.%02u needed)", img->name, version >> 8,
                version & 0xff, PROTOCOL_MIN >> 8, PROTOCOL_MIN & 0xff);
        return -EINVAL;
    }
    hdr_end = (size_t)HDR_MAGIC + d[HDR_JUMP + 1];
    if (hdr_end > img->size)
        return bad(img, "truncated bzImage: the setup header extends past the end of the file");
    if (hdr_end < HDR_INIT_SIZE + 4)
        return bad(img, "bzImage setup header too short for its boot protocol version");
    if (hdr_end > HDR_END_MAX)
        hdr_end = HDR_END_MAX;
    xlf = get16(d, HDR_XLOADFLAGS);
    if (!(xlf & XLF_KERNEL_64))
        return bad(img, "not a 64-bit kernel (the bzImage has no 64-bit entry point)");
    setup_size = ((uint64_t)(d[HDR_SETUP_SECTS] ? d[HDR_SETUP_SECTS] : 4) + 1) * 512;
    if (setup_size >= img->size)
        return bad(img, "truncated bzImage: the setup code extends past the end of the file");
    pm_size = img->size - setup_size;
    if ((uint64_t)get32(d, HDR_SYSSIZE) * 16 > pm_size) {
        log_err("%s: truncated bzImage: %" PRIu64 " bytes of kernel after the setup code, "
                "%" PRIu64 " expected",
                img->name, pm_size, (uint64_t)get32(d, HDR_SYSSIZE) * 16);
        return -EINVAL;
    }

    /* The kernel decompresses itself in place: it needs init_size bytes from
     * its load address. A relocatable one could go elsewhere but moves
     * itself up to pref_address (LOAD_PHYSICAL_ADDR) anyway. */
    load = get64(d, HDR_PREF_ADDRESS);
    init_size = get32(d, HDR_INIT_SIZE);
    if (init_size < pm_size)
        init_size = pm_size;
    if (load < BOOT_AREA_END || load >= MEM_4G || (load & 0xfff))
        return bad(img, "bzImage's preferred load address is not usable");
    kernel_end = load + init_size; /* both below 2^33 */
    if (kernel_end > low_ram_end(mem)) {
        log_err("%s: the kernel needs %llu MiB of RAM (init_size %llu MiB at %llu MiB); --mem "
                "gives %llu MiB",
                img->name, mib(kernel_end), mib(init_size), mib(load), mib(low_ram_end(mem)));
        return -EINVAL;
    }
    cmdline_max = get32(d, HDR_CMDLINE_SIZE);
    if (cmdline_len > cmdline_max) {
        log_err("--cmdline: %zu bytes exceed the kernel's limit of %u", cmdline_len, cmdline_max);
        return -EINVAL;
    }
    if (img->initrd) {
        err = place_initrd(mem, img, kernel_end, (uint64_t)get32(d, HDR_INITRD_ADDR_MAX) + 1,
                           xlf & XLF_CAN_BE_LOADED_ABOVE_4G, &initrd);
        if (err)
            return err;
    }

    memset(bp, 0, sizeof(bp));
    memcpy(bp + HDR_START, d + HDR_START, hdr_end - HDR_START);
    bp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
    bp[HDR_LOADFLAGS] |= LOADFLAGS_CAN_USE_HEAP;
    put16(bp, HDR_HEAP_END_PTR, HEAP_END);
    put32(bp, HDR_CMD_LINE_PTR, (uint32_t)BOOT_CMDLINE);
    if (img->initrd) {
        put32(bp, HDR_RAMDISK_IMAGE, (uint32_t)initrd);
        put32(bp, HDR_RAMDISK_SIZE, (uint32_t)img->initrd_size);
        put32(bp, BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd >> 32));
        put32(bp, BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)img->initrd_size >> 32));
    }
    put64(bp, BP_ACPI_RSDP_ADDR, BOOT_ACPI);
    n = e820_build(mem, map);
    bp[BP_E820_ENTRIES] = (uint8_t)n;
    for (int i = 0; i < n; i++) {
        uint8_t *e = bp + BP_E820_TABLE + 20 * i;

        memcpy(e, &map[i].addr, 8);
        memcpy(e + 8, &map[i].size, 8);
        memcpy(e + 16, &map[i].type, 4);
    }

    err = boot_check_range(mem, img, load, init_size, "kernel");
    if (!err)
        err = mem_write(mem, load, d + setup_size, pm_size);
    if (!err && img->initrd)
        err = write_initrd(mem, img, initrd);
    if (!err)
        err = boot_write_cmdline(mem, img);
    if (!err)
        err = mem_write(mem, BOOT_ZERO_PAGE, bp, sizeof(bp));
    if (!err)
        err = cpu_state_linux64(mem, cpu, load + ENTRY64_OFFSET);
    if (err)
        return err;
    cpu->rsi = BOOT_ZERO_PAGE;
    cpu->rsp = BOOT_STACK_TOP; /* not required; the kernel sets up its own */
    return 0;
}

static int load_pvh(const struct guest_mem *mem, const struct boot_image *img,
                    struct cpu_state *cpu, uint64_t entry)
{
    struct hvm_start_info si = {.magic = HVM_START_MAGIC,
                                .version = 1,
                                .cmdline_paddr = BOOT_CMDLINE,
                                .rsdp_paddr = BOOT_ACPI,
                                .memmap_paddr = PVH_MEMMAP};
    struct hvm_memmap_table_entry memmap[E820_MAX];
    struct e820_entry map[E820_MAX];
    struct elf_info info;
    uint64_t initrd = 0;
    int n, err;

    err = elf_inspect(img, &info);
    if (err)
        return err;
    if (entry < info.start || entry >= info.end || entry >= MEM_4G)
        return bad(img, "the PVH entry point lies outside the kernel");
    if (info.end > low_ram_end(mem)) {
        log_err("%s: the kernel needs %llu MiB of RAM; --mem gives %llu MiB", img->name,
                mib(info.end), mib(low_ram_end(mem)));
        return -EINVAL;
    }
    /* Linux's PVH code takes a 32-bit initrd address (ramdisk_image). */
    if (img->initrd) {
        err = place_initrd(mem, img, info.end, MEM_4G, false, &initrd);
        if (err)
            return err;
        si.nr_modules = 1;
        si.modlist_paddr = PVH_MODLIST;
    }
    err = boot_write_cmdline(mem, img);
    if (err)
        return err;
    err = elf_load(mem, img, BOOT_AREA_END, &info);
    if (!err && img->initrd) {
        struct hvm_modlist_entry mod = {.paddr = initrd, .size = img->initrd_size};

        err = write_initrd(mem, img, initrd);
        if (!err)
            err = mem_write(mem, PVH_MODLIST, &mod, sizeof(mod));
    }
    if (err)
        return err;
    n = e820_build(mem, map);
    for (int i = 0; i < n; i++)
        memmap[i] = (struct hvm_memmap_table_entry){map[i].addr, map[i].size, map[i].type, 0};
    si.memmap_entries = (uint32_t)n;
    err = mem_write(mem, PVH_MEMMAP, memmap, sizeof(memmap[0]) * (size_t)n);
    if (!err)
        err = mem_write(mem, BOOT_START_INFO, &si, sizeof(si));
    if (!err)
        err = boot_write_gdt(mem);
    if (err)
        return err;
    cpu_state_protected32(cpu, (uint32_t)entry);
    cpu->rbx = BOOT_START_INFO;
    cpu->rsp = BOOT_STACK_TOP; /* not required; the kernel sets up its own */
    return 0;
}

int linux_load(const struct guest_mem *mem, const struct boot_image *img, struct cpu_state *cpu)
{
    uint64_t entry;

    if (is_bzimage(img))
        return load_bzimage(mem, img, cpu);
    if (pvh_entry(img, &entry))
        return load_pvh(mem, img, cpu, entry);
    return bad(img, "not a Linux kernel (neither a bzImage nor a vmlinux with a PVH note)");
}
