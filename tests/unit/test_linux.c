/*
 * The Linux loader (boot/linux.c): a bzImage through the x86 boot protocol
 * (Documentation/arch/x86/boot.rst) and an ELF vmlinux through PVH
 * (xen/include/public/arch-x86/hvm/start_info.h). Images are built in
 * memory; each rejection is checked by the one line it prints.
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "boot/boot.h"
#include "boot/layout.h"

#define MiB  (1ULL << 20)
#define RAM  (32 * MiB)
#define FILL 0xaa

#define CR0_PE   (1ULL << 0)
#define CR0_PG   (1ULL << 31)
#define EFER_LMA (1ULL << 10)

/* boot.rst, "The Real-Mode Kernel Header"; zero-page.rst */
#define HDR_SETUP_SECTS      0x1f1
#define HDR_SYSSIZE          0x1f4
#define HDR_BOOT_FLAG        0x1fe
#define HDR_JUMP             0x200
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
#define HDR_END              0x26c /* of protocol 2.15's header */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_ACPI_RSDP_ADDR    0x070
#define BP_E820_ENTRIES      0x1e8
#define BP_E820_TABLE        0x2d0

#define XLF_KERNEL_64              1
#define XLF_CAN_BE_LOADED_ABOVE_4G 2

#define KERNEL_AT   0x1000000ULL
#define KERNEL_SIZE 0x3000      /* bytes after the setup code */
#define INIT_SIZE   0x200000ULL /* the kernel ends at 18 MiB */
#define SETUP_SECTS 3

struct hvm_start_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    uint32_t memmap_entries, reserved;
};

struct hvm_modlist_entry {
    uint64_t paddr, size, cmdline_paddr, reserved;
};

struct hvm_memmap_table_entry {
    uint64_t addr, size;
    uint32_t type, reserved;
};

static struct guest_mem mem;
static struct cpu_state cpu;
static _Alignas(16) uint8_t img[64 * 1024];
static _Alignas(16) uint8_t initrd[3 * 4096 + 5];
static char logbuf[4096];

static int setup_ram(uint64_t size, int fill)
{
    if (mem_init(&mem, size))
        return -1;
    if (fill)
        memset(mem.base, FILL, mem.regions[0].size);
    memset(img, 0, sizeof(img));
    for (size_t i = 0; i < sizeof(initrd); i++)
        initrd[i] = (uint8_t)(i * 13 + 7);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_ram(RAM, 1);
}

static int setup_big(void **state)
{
    (void)state;
    return setup_ram(4096 * MiB + RAM, 0);
}

static int teardown(void **state)
{
    (void)state;
    mem_destroy(&mem);
    return 0;
}

/* Loads a copy of the image (and of the initrd if rd_size), each exactly
 * as long as said so that ASan sees a read past its end; keeps what the
 * loader printed in logbuf. */
static int load(size_t size, const char *cmdline, size_t rd_size)
{
    struct boot_image bi = {.name = "test.img", .size = size, .cmdline = cmdline};
    uint8_t *copy = malloc(size), *rd = NULL;
    FILE *log = tmpfile();
    int saved, err;
    size_t n;

    assert_non_null(copy);
    assert_non_null(log);
    memcpy(copy, img, size);
    bi.data = copy;
    if (rd_size) {
        rd = malloc(rd_size);
        assert_non_null(rd);
        memcpy(rd, initrd, rd_size);
        bi.initrd = rd;
        bi.initrd_size = rd_size;
        bi.initrd_name = "initrd.img";
    }
    fflush(stderr);
    saved = dup(2);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(log), 2) >= 0);
    err = boot_load_image(&mem, &bi, &cpu);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(log);
    n = fread(logbuf, 1, sizeof(logbuf) - 1, log);
    logbuf[n] = 0;
    fclose(log);
    free(copy);
    free(rd);
    return err;
}

static void expect_reject(int err, const char *msg)
{
    if (err != -EINVAL)
        fail_msg("loader gave %d, expected -EINVAL", err);
    if (!strstr(logbuf, msg))
        fail_msg("expected a message with \"%s\", got \"%s\"", msg, logbuf);
}

static const uint8_t *guest(uint64_t gpa, uint64_t len)
{
    const uint8_t *p = mem_ptr(&mem, gpa, len);

    assert_non_null(p);
    return p;
}

static uint64_t guest_n(uint64_t gpa, size_t n)
{
    uint64_t v = 0;

    memcpy(&v, guest(gpa, n), n);
    return v;
}

static void put(size_t off, uint64_t v, size_t n)
{
    memcpy(img + off, &v, n);
}

/* --- bzImage --- */

/* A protocol 2.15 bzImage: SETUP_SECTS sectors of setup code after the boot
 * sector, then KERNEL_SIZE bytes of "kernel" (i * 7 + 3). */
static size_t build_bzimage(void)
{
    size_t setup = (SETUP_SECTS + 1) * 512;

    memset(img, 0, setup);
    for (size_t i = 0; i < KERNEL_SIZE; i++)
        img[setup + i] = (uint8_t)(i * 7 + 3);
    img[HDR_SETUP_SECTS] = SETUP_SECTS;
    put(HDR_SYSSIZE, KERNEL_SIZE / 16, 4);
    put(HDR_BOOT_FLAG, 0xaa55, 2);
    img[HDR_JUMP] = 0xeb;
    img[HDR_JUMP + 1] = HDR_END - 0x202;
    memcpy(img + HDR_MAGIC, "HdrS", 4);
    put(HDR_VERSION, 0x020f, 2);
    img[HDR_LOADFLAGS] = 0x01; /* LOADED_HIGH */
    put(HDR_INITRD_ADDR_MAX, 0x7fffffff, 4);
    put(HDR_KERNEL_ALIGNMENT, 0x200000, 4);
    img[HDR_RELOCATABLE] = 1;
    put(HDR_XLOADFLAGS, XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G, 2);
    put(HDR_CMDLINE_SIZE, 2047, 4);
    put(HDR_PREF_ADDRESS, KERNEL_AT, 8);
    put(HDR_INIT_SIZE, INIT_SIZE, 4);
    put(HDR_END, 0x5a5a5a5a, 4); /* past the header: not copied */
    return setup + KERNEL_SIZE;
}

static void assert_zero_page_e820(void)
{
    struct e820_entry map[E820_MAX];
    int n = e820_build(&mem, map);

    assert_int_equal(guest_n(BOOT_ZERO_PAGE + BP_E820_ENTRIES, 1), n);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + BP_ACPI_RSDP_ADDR, 8), BOOT_ACPI);
    for (int i = 0; i < n; i++) {
        uint64_t e = BOOT_ZERO_PAGE + BP_E820_TABLE + 20 * (uint64_t)i;

        assert_int_equal(guest_n(e, 8), map[i].addr);
        assert_int_equal(guest_n(e + 8, 8), map[i].size);
        assert_int_equal(guest_n(e + 16, 4), map[i].type);
    }
}

/* boot.rst, "64-bit Boot Protocol": long mode, the kernel's range
 * identity-mapped, __BOOT_CS 0x10 and __BOOT_DS 0x18 flat, RSI = the zero
 * page, at load address + 0x200. */
static void test_bzimage(void **state)
{
    size_t size = build_bzimage(), setup = (SETUP_SECTS + 1) * 512;
    uint64_t cs_desc, ds_desc;

    (void)state;
    assert_int_equal(load(size, "console=ttyS0", 0), 0);
    assert_memory_equal(guest(KERNEL_AT, KERNEL_SIZE), img + setup, KERNEL_SIZE);
    assert_int_equal(cpu.rip, KERNEL_AT + 0x200);
    assert_int_equal(cpu.rsi, BOOT_ZERO_PAGE);
    assert_true(cpu.cr0 & CR0_PG);
    assert_true(cpu.efer & EFER_LMA);
    assert_int_equal(cpu.rflags & 0x200, 0); /* interrupts off */
    assert_int_equal(cpu.cs.selector, LINUX_BOOT_CS);
    assert_int_equal(cpu.cs.l, 1);
    assert_int_equal(cpu.ds.selector, LINUX_BOOT_DS);
    assert_int_equal(cpu.es.selector, LINUX_BOOT_DS);
    assert_int_equal(cpu.ss.selector, LINUX_BOOT_DS);
    cs_desc = guest_n(BOOT_GDT + LINUX_BOOT_CS, 8);
    ds_desc = guest_n(BOOT_GDT + LINUX_BOOT_DS, 8);
    assert_int_equal(cs_desc, 0x00af9b000000ffffULL); /* 64-bit code, execute/read */
    assert_int_equal(ds_desc, 0x00cf93000000ffffULL); /* 4 GiB flat data, read/write */
    assert_true(cpu.gdt.limit >= LINUX_BOOT_DS + 7);
    /* the kernel and the zero page identity-mapped: PDEs of 2 MiB pages */
    assert_int_equal(guest_n(BOOT_PD + 8 * (KERNEL_AT >> 21), 8) & ~0xfffULL, KERNEL_AT);
    assert_int_equal(cpu.cr3, BOOT_PML4);

    /* the setup header, as in the image but for what the loader writes */
    assert_memory_equal(guest(BOOT_ZERO_PAGE + HDR_MAGIC, 4), "HdrS", 4);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_VERSION, 2), 0x020f);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_BOOT_FLAG, 2), 0xaa55);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_PREF_ADDRESS, 8), KERNEL_AT);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_TYPE_OF_LOADER, 1), 0xff);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_LOADFLAGS, 1), 0x81); /* + CAN_USE_HEAP */
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_HEAP_END_PTR, 2), 0xde00);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_CMD_LINE_PTR, 4), BOOT_CMDLINE);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_RAMDISK_IMAGE, 4), 0);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_RAMDISK_SIZE, 4), 0);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_END, 4), 0);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE, 8), 0); /* screen_info: no video */
    assert_string_equal((const char *)guest(BOOT_CMDLINE, 14), "console=ttyS0");
    assert_zero_page_e820();
}

/* The initrd at the top of RAM, page-aligned, clear of the kernel. */
static void test_bzimage_initrd(void **state)
{
    size_t size = build_bzimage();
    uint64_t at = (RAM - sizeof(initrd)) & ~0xfffULL;

    (void)state;
    assert_int_equal(load(size, "", sizeof(initrd)), 0);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_RAMDISK_IMAGE, 4), at);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_RAMDISK_SIZE, 4), sizeof(initrd));
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + BP_EXT_RAMDISK_IMAGE, 4), 0);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + BP_EXT_RAMDISK_SIZE, 4), 0);
    assert_memory_equal(guest(at, sizeof(initrd)), initrd, sizeof(initrd));
}

/* Below initrd_addr_max: its last byte may be the limit itself. */
static void test_bzimage_initrd_limit(void **state)
{
    size_t size = build_bzimage();
    uint64_t limit = 24 * MiB;

    (void)state;
    put(HDR_INITRD_ADDR_MAX, limit - 1, 4);
    assert_int_equal(load(size, "", sizeof(initrd)), 0);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_RAMDISK_IMAGE, 4),
                     (limit - sizeof(initrd)) & ~0xfffULL);
}

static void test_bzimage_initrd_does_not_fit(void **state)
{
    size_t size = build_bzimage();

    (void)state;
    put(HDR_INITRD_ADDR_MAX, KERNEL_AT + INIT_SIZE + 0x2000 - 1, 4);
    expect_reject(load(size, "", sizeof(initrd)),
                  "initrd.img: 1 MiB does not fit between the kernel's end at 18 MiB and the "
                  "kernel's initrd limit at 19 MiB");
    put(HDR_INITRD_ADDR_MAX, 0x7fffffff, 4);
    put(HDR_INIT_SIZE, RAM - KERNEL_AT - 0x1000, 4);
    expect_reject(load(size, "", sizeof(initrd)),
                  "initrd.img: 1 MiB does not fit between the kernel's end at 32 MiB and the end "
                  "of RAM at 32 MiB");
}

/* With XLF_CAN_BE_LOADED_ABOVE_4G, an initrd that does not fit low goes to
 * the top of RAM above 4 GiB; the zero page's ext_* fields hold bits 32-63. */
static void test_bzimage_initrd_above_4g(void **state)
{
    size_t size = build_bzimage();
    uint64_t at = (MEM_4G + 4096 * MiB + RAM - MEM_HOLE_START - sizeof(initrd)) & ~0xfffULL;

    (void)state;
    put(HDR_INITRD_ADDR_MAX, KERNEL_AT + INIT_SIZE - 1, 4);
    assert_int_equal(load(size, "", sizeof(initrd)), 0);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_RAMDISK_IMAGE, 4), (uint32_t)at);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + BP_EXT_RAMDISK_IMAGE, 4), at >> 32);
    assert_int_equal(guest_n(BOOT_ZERO_PAGE + HDR_RAMDISK_SIZE, 4), sizeof(initrd));
    assert_memory_equal(guest(at, sizeof(initrd)), initrd, sizeof(initrd));

    put(HDR_XLOADFLAGS, XLF_KERNEL_64, 2);
    expect_reject(load(size, "", sizeof(initrd)),
                  "initrd.img: 1 MiB does not fit between the kernel's end at 18 MiB and the "
                  "kernel's initrd limit at 18 MiB");
}

static void test_bzimage_protocol_too_old(void **state)
{
    size_t size = build_bzimage();

    (void)state;
    put(HDR_VERSION, 0x020b, 2);
    expect_reject(load(size, "", 0), "test.img: boot protocol 2.11 is too old (2.12 needed)");
    put(HDR_VERSION, 0x0100, 2);
    expect_reject(load(size, "", 0), "test.img: boot protocol 1.00 is too old (2.12 needed)");
}

static void test_bzimage_truncated(void **state)
{
    size_t size = build_bzimage();

    (void)state;
    /* setup_sects pointing past the end */
    img[HDR_SETUP_SECTS] = 100;
    expect_reject(load(size, "", 0),
                  "test.img: truncated bzImage: the setup code extends past the end of the file");
    img[HDR_SETUP_SECTS] = SETUP_SECTS;
    /* the protected-mode kernel cut short of syssize */
    expect_reject(load(size - 16, "", 0), "test.img: truncated bzImage: 12272 bytes of kernel "
                                          "after the setup code, 12288 expected");
    /* the file ends inside the setup header */
    expect_reject(load(0x220, "", 0), "test.img: truncated bzImage: the setup header extends "
                                      "past the end of the file");
    /* too short for "HdrS": a flat binary */
    assert_int_equal(load(0x205, "", 0), 0);
    assert_false(cpu.cr0 & CR0_PE);
}

static void test_bzimage_bad_header(void **state)
{
    size_t size = build_bzimage();

    (void)state;
    put(HDR_XLOADFLAGS, 0, 2);
    expect_reject(load(size, "", 0),
                  "test.img: not a 64-bit kernel (the bzImage has no 64-bit entry point)");
    put(HDR_XLOADFLAGS, XLF_KERNEL_64, 2);
    img[HDR_JUMP + 1] = 0x20;
    expect_reject(load(size, "", 0),
                  "test.img: bzImage setup header too short for its boot protocol version");
    img[HDR_JUMP + 1] = HDR_END - 0x202;
    put(HDR_PREF_ADDRESS, 0x8000, 8);
    expect_reject(load(size, "", 0), "test.img: bzImage's preferred load address is not usable");
    put(HDR_PREF_ADDRESS, 0x123456789000ULL, 8);
    expect_reject(load(size, "", 0), "test.img: bzImage's preferred load address is not usable");
}

static void test_bzimage_memory_too_small(void **state)
{
    size_t size = build_bzimage();

    (void)state;
    put(HDR_INIT_SIZE, 40 * MiB, 4);
    expect_reject(load(size, "", 0), "test.img: the kernel needs 56 MiB of RAM (init_size 40 MiB "
                                     "at 16 MiB); --mem gives 32 MiB");
    put(HDR_INIT_SIZE, INIT_SIZE, 4);
    put(HDR_PREF_ADDRESS, RAM, 8);
    expect_reject(load(size, "", 0), "test.img: the kernel needs 34 MiB of RAM");
}

static void test_bzimage_cmdline_limit(void **state)
{
    size_t size = build_bzimage();

    (void)state;
    put(HDR_CMDLINE_SIZE, 16, 4);
    assert_int_equal(load(size, "0123456789abcdef", 0), 0);
    expect_reject(load(size, "0123456789abcdefg", 0),
                  "--cmdline: 17 bytes exceed the kernel's limit of 16");
}

/* --- PVH --- */

#define PVH_AT    0x100000ULL
#define PVH_ENTRY 0x100040ULL

/* An ELF64 vmlinux: one PT_LOAD of 0x100 bytes (i + 1) at PVH_AT with 0x1000
 * bytes of bss, and a PT_NOTE with a GNU note, then note (its type is
 * XEN_ELFNOTE_PHYS32_ENTRY, 18, unless type says otherwise). */
static size_t build_vmlinux(const char *owner, uint32_t type, const void *desc, uint32_t descsz)
{
    Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
    Elf64_Phdr *ph = (Elf64_Phdr *)(img + sizeof(*eh));
    size_t off = sizeof(*eh) + 2 * sizeof(*ph), note, namesz = strlen(owner) + 1;
    uint32_t h[3];

    memset(img, 0, 0x1000);
    memcpy(img, ELFMAG, SELFMAG);
    img[EI_CLASS] = ELFCLASS64;
    img[EI_DATA] = ELFDATA2LSB;
    img[EI_VERSION] = EV_CURRENT;
    eh->e_type = ET_EXEC;
    eh->e_machine = EM_X86_64;
    eh->e_version = EV_CURRENT;
    eh->e_entry = 0xffffffff81000000ULL; /* virtual: not the way in */
    eh->e_phoff = sizeof(*eh);
    eh->e_ehsize = sizeof(*eh);
    eh->e_phentsize = sizeof(*ph);
    eh->e_phnum = 2;
    for (size_t i = 0; i < 0x100; i++)
        img[off + i] = (uint8_t)(i + 1);
    ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
                         .p_offset = off,
                         .p_vaddr = 0xffffffff81000000ULL,
                         .p_paddr = PVH_AT,
                         .p_filesz = 0x100,
                         .p_memsz = 0x1100};
    off += 0x100;
    note = off;
    h[0] = 4, h[1] = 4, h[2] = NT_GNU_BUILD_ID; /* a note to skip */
    memcpy(img + off, h, 12);
    memcpy(img + off + 12, "GNU\0abcd", 8);
    off += 20;
    h[0] = (uint32_t)namesz, h[1] = descsz, h[2] = type;
    memcpy(img + off, h, 12);
    memcpy(img + off + 12, owner, namesz);
    off += 12 + ((namesz + 3) & ~3ULL);
    memcpy(img + off, desc, descsz);
    off += (descsz + 3) & ~3ULL;
    ph[1] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = note, .p_filesz = off - note};
    return off;
}

static size_t build_pvh(void)
{
    uint64_t entry = PVH_ENTRY;

    return build_vmlinux("Xen", 18, &entry, 8);
}

/* start_info.h: 32-bit protected mode, paging off, EBX = hvm_start_info. */
static void test_pvh(void **state)
{
    size_t size = build_pvh();
    struct hvm_start_info si;
    struct e820_entry map[E820_MAX];
    int n;

    (void)state;
    assert_int_equal(load(size, "console=ttyS0", 0), 0);
    assert_memory_equal(guest(PVH_AT, 0x100), img + sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr),
                        0x100);
    assert_int_equal(guest_n(PVH_AT + 0x100, 8), 0); /* bss */
    assert_int_equal(cpu.rip, PVH_ENTRY);
    assert_int_equal(cpu.rbx, BOOT_START_INFO);
    assert_true(cpu.cr0 & CR0_PE);
    assert_false(cpu.cr0 & CR0_PG);
    assert_int_equal(cpu.cr4, 0);
    assert_int_equal(cpu.efer, 0);
    assert_int_equal(cpu.rflags, 2);
    assert_int_equal(cpu.cs.db, 1);
    assert_int_equal(cpu.cs.base, 0);
    assert_int_equal(cpu.cs.limit, 0xffffffff);
    assert_int_equal(cpu.ds.limit, 0xffffffff);
    assert_int_equal(guest_n(BOOT_GDT + cpu.cs.selector, 8), 0x00cf9b000000ffffULL);
    memcpy(&si, guest(BOOT_START_INFO, sizeof(si)), sizeof(si));
    assert_int_equal(si.magic, 0x336ec578);
    assert_int_equal(si.version, 1);
    assert_int_equal(si.nr_modules, 0);
    assert_int_equal(si.cmdline_paddr, BOOT_CMDLINE);
    assert_int_equal(si.rsdp_paddr, BOOT_ACPI);
    assert_string_equal((const char *)guest(BOOT_CMDLINE, 14), "console=ttyS0");
    n = e820_build(&mem, map);
    assert_int_equal(si.memmap_entries, n);
    for (int i = 0; i < n; i++) {
        struct hvm_memmap_table_entry e;

        memcpy(&e, guest(si.memmap_paddr + sizeof(e) * (uint64_t)i, sizeof(e)), sizeof(e));
        assert_int_equal(e.addr, map[i].addr);
        assert_int_equal(e.size, map[i].size);
        assert_int_equal(e.type, map[i].type);
        assert_int_equal(e.reserved, 0);
    }
}

static void test_pvh_initrd(void **state)
{
    size_t size = build_pvh();
    struct hvm_start_info si;
    struct hvm_modlist_entry mod;
    uint64_t at = (RAM - sizeof(initrd)) & ~0xfffULL;

    (void)state;
    assert_int_equal(load(size, "", sizeof(initrd)), 0);
    memcpy(&si, guest(BOOT_START_INFO, sizeof(si)), sizeof(si));
    assert_int_equal(si.nr_modules, 1);
    memcpy(&mod, guest(si.modlist_paddr, sizeof(mod)), sizeof(mod));
    assert_int_equal(mod.paddr, at);
    assert_int_equal(mod.size, sizeof(initrd));
    assert_int_equal(mod.cmdline_paddr, 0);
    assert_memory_equal(guest(at, sizeof(initrd)), initrd, sizeof(initrd));
}

/* Linux 6.1's PVH code keeps only 32 bits of the initrd's address. */
static void test_pvh_initrd_stays_below_4g(void **state)
{
    size_t size = build_pvh();
    struct hvm_modlist_entry mod;

    (void)state;
    assert_int_equal(load(size, "", sizeof(initrd)), 0);
    memcpy(&mod, guest(BOOT_START_INFO + 0x40, sizeof(mod)), sizeof(mod));
    assert_int_equal(mod.paddr, (MEM_HOLE_START - sizeof(initrd)) & ~0xfffULL);
}

/* A 4-byte note (32-bit kernels) works too; other owners or types do not
 * make an ELF file Linux. */
static void test_pvh_note_forms(void **state)
{
    uint32_t entry32 = PVH_ENTRY;
    uint64_t entry = PVH_ENTRY;
    size_t size;

    (void)state;
    size = build_vmlinux("Xen", 18, &entry32, 4);
    assert_int_equal(load(size, "", 0), 0);
    assert_int_equal(cpu.rip, PVH_ENTRY);
    assert_int_equal(cpu.rbx, BOOT_START_INFO);

    size = build_vmlinux("Xen", 17, &entry, 8);
    expect_reject(load(size, "", 0), "is outside the identity-mapped first 4 GiB");
    size = build_vmlinux("Xem", 18, &entry, 8);
    expect_reject(load(size, "", 0), "is outside the identity-mapped first 4 GiB");
    /* and with an initrd, such a kernel is refused for it */
    expect_reject(load(size, "", sizeof(initrd)),
                  "test.img: not a Linux kernel, so --initrd cannot go with it");
}

static void test_pvh_bad(void **state)
{
    uint64_t entry = 0x200000;
    uint16_t entry16 = 0x1000;
    size_t size;

    (void)state;
    size = build_vmlinux("Xen", 18, &entry, 8);
    expect_reject(load(size, "", 0), "test.img: the PVH entry point lies outside the kernel");
    size = build_vmlinux("Xen", 18, &entry16, 2);
    expect_reject(load(size, "", 0), "test.img: the PVH entry point lies outside the kernel");
    /* a note whose descriptor runs past its segment is no note */
    size = build_pvh();
    ((Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)))[1].p_filesz -= 4;
    expect_reject(load(size, "", 0), "is outside the identity-mapped first 4 GiB");
    /* RAM too small */
    size = build_pvh();
    ((Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)))[0].p_memsz = RAM;
    expect_reject(load(size, "", 0),
                  "test.img: the kernel needs 33 MiB of RAM; --mem gives 32 MiB");
}

static void test_pvh_initrd_does_not_fit(void **state)
{
    size_t size = build_pvh();

    (void)state;
    ((Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)))[0].p_memsz = RAM - PVH_AT - 0x2000;
    expect_reject(load(size, "", sizeof(initrd)),
                  "initrd.img: 1 MiB does not fit between the kernel's end at 32 MiB and the end "
                  "of RAM at 32 MiB");
}

/* Non-Linux kernels do not take an initrd. */
static void test_initrd_needs_linux(void **state)
{
    static const uint8_t flat[] = {0xf4};

    (void)state;
    memcpy(img, flat, sizeof(flat));
    expect_reject(load(sizeof(flat), "", 16),
                  "test.img: not a Linux kernel, so --initrd cannot go with it (a bzImage or a "
                  "vmlinux with a PVH note can)");
}

#define T(f)     cmocka_unit_test_setup_teardown(f, setup, teardown)
#define T_BIG(f) cmocka_unit_test_setup_teardown(f, setup_big, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_bzimage),
        T(test_bzimage_initrd),
        T(test_bzimage_initrd_limit),
        T(test_bzimage_initrd_does_not_fit),
        T_BIG(test_bzimage_initrd_above_4g),
        T(test_bzimage_protocol_too_old),
        T(test_bzimage_truncated),
        T(test_bzimage_bad_header),
        T(test_bzimage_memory_too_small),
        T(test_bzimage_cmdline_limit),
        T(test_pvh),
        T(test_pvh_initrd),
        T_BIG(test_pvh_initrd_stays_below_4g),
        T(test_pvh_note_forms),
        T(test_pvh_bad),
        T(test_pvh_initrd_does_not_fit),
        T(test_initrd_needs_linux),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
