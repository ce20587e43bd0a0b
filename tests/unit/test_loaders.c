/*
 * Kernel loaders (boot/boot.h): ELF64, multiboot v1 (ELF and a.out-kludge),
 * flat binaries. Images are built in memory; each rejection is checked by the
 * one line it prints, so a test shows which check fired.
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
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "boot/boot.h"
#include "boot/firmware.h"
#include "boot/layout.h"
#include "hw/pci.h"
#include "vm/board.h"

#define MiB  (1ULL << 20)
#define RAM  (16 * MiB)
#define FILL 0xaa /* RAM's contents before a load, to see what a loader writes */

#define CR0_PE   (1ULL << 0)
#define CR0_PG   (1ULL << 31)
#define CR4_PAE  (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

/* Multiboot Specification 0.6.96, 3.1.1 and 3.3 */
#define MB_HEADER_MAGIC 0x1BADB002u
#define MB_BOOT_MAGIC   0x2BADB002u
#define MB_FLAG_ALIGN   (1u << 0)
#define MB_FLAG_MEMINFO (1u << 1)
#define MB_FLAG_VIDEO   (1u << 2)
#define MB_FLAG_AOUT    (1u << 16)

struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table;
    uint32_t boot_loader_name;
};

struct __attribute__((packed)) mb_mmap_entry {
    uint32_t size;
    uint64_t addr, len;
    uint32_t type;
};

static struct guest_mem mem;
static struct cpu_state cpu;
static _Alignas(16) uint8_t img[64 * 1024];
static char logbuf[4096]; /* what the last load() printed */

static int setup_ram(uint64_t size, int fill)
{
    if (mem_init(&mem, size))
        return -1;
    if (fill)
        memset(mem.base, FILL, mem.regions[0].size);
    memset(img, 0, sizeof(img));
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

/* Loads a copy of data, exactly size bytes long (so that ASan sees any read
 * past the end), and keeps what the loader printed in logbuf. */
static int load(const void *data, size_t size, const char *cmdline)
{
    struct boot_image bi = {.name = "test.img", .size = size, .cmdline = cmdline};
    uint8_t *copy = malloc(size ? size : 1);
    FILE *log = tmpfile();
    int saved, err;
    size_t n;

    assert_non_null(copy);
    assert_non_null(log);
    memcpy(copy, data, size);
    bi.data = copy;
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
    return err;
}

static void expect_reject(int err, const char *what, const char *msg)
{
    if (err != -EINVAL)
        fail_msg("%s: loader gave %d, expected -EINVAL", what, err);
    if (!strstr(logbuf, msg))
        fail_msg("%s: expected a message with \"%s\", got \"%s\"", what, msg, logbuf);
}

static const uint8_t *guest(uint64_t gpa, uint64_t len)
{
    const uint8_t *p = mem_ptr(&mem, gpa, len);

    assert_non_null(p);
    return p;
}

static uint64_t guest64(uint64_t gpa)
{
    uint64_t v;

    memcpy(&v, guest(gpa, 8), 8);
    return v;
}

static void assert_filled(uint64_t gpa, uint64_t len, uint8_t byte)
{
    const uint8_t *p = guest(gpa, len);

    for (uint64_t i = 0; i < len; i++)
        if (p[i] != byte)
            fail_msg("guest byte at 0x%llx is 0x%02x, expected 0x%02x",
                     (unsigned long long)(gpa + i), p[i], byte);
}

/* --- image builders --- */

struct seg {
    uint32_t type;
    uint64_t paddr, filesz, memsz;
    const void *data; /* filesz bytes; NULL: bytes i + 1 */
};

struct elf_spec {
    int bits;
    uint16_t machine; /* 0: EM_X86_64 or EM_386 as bits say */
    uint64_t entry;
    int nr_segs;
    struct seg segs[4];
};

/* Offsets in img of each segment's file bytes, set by build_elf. */
static uint64_t seg_offset[4];

/* ELF header, program headers, then each segment's bytes 16-byte aligned. */
static size_t build_elf(const struct elf_spec *e)
{
    size_t eh_size = e->bits == 64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    size_t ph_size = e->bits == 64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    size_t off = eh_size + ph_size * (size_t)e->nr_segs;

    memset(img, 0, sizeof(img));
    for (int i = 0; i < e->nr_segs; i++) {
        const struct seg *s = &e->segs[i];

        off = (off + 15) & ~(size_t)15;
        assert_true(s->filesz <= sizeof(img) - off);
        seg_offset[i] = off;
        for (uint64_t j = 0; j < s->filesz; j++)
            img[off + j] = s->data ? ((const uint8_t *)s->data)[j] : (uint8_t)(j + 1);
        off += s->filesz;
    }
    memcpy(img, ELFMAG, SELFMAG);
    img[EI_CLASS] = e->bits == 64 ? ELFCLASS64 : ELFCLASS32;
    img[EI_DATA] = ELFDATA2LSB;
    img[EI_VERSION] = EV_CURRENT;
    if (e->bits == 64) {
        Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
        Elf64_Phdr *ph = (Elf64_Phdr *)(img + eh_size);

        eh->e_type = ET_EXEC;
        eh->e_machine = e->machine ? e->machine : EM_X86_64;
        eh->e_version = EV_CURRENT;
        eh->e_entry = e->entry;
        eh->e_phoff = eh_size;
        eh->e_ehsize = (uint16_t)eh_size;
        eh->e_phentsize = (uint16_t)ph_size;
        eh->e_phnum = (uint16_t)e->nr_segs;
        for (int i = 0; i < e->nr_segs; i++)
            ph[i] = (Elf64_Phdr){.p_type = e->segs[i].type,
                                 .p_offset = seg_offset[i],
                                 .p_vaddr = e->segs[i].paddr,
                                 .p_paddr = e->segs[i].paddr,
                                 .p_filesz = e->segs[i].filesz,
                                 .p_memsz = e->segs[i].memsz};
    } else {
        Elf32_Ehdr *eh = (Elf32_Ehdr *)img;
        Elf32_Phdr *ph = (Elf32_Phdr *)(img + eh_size);

        eh->e_type = ET_EXEC;
        eh->e_machine = e->machine ? e->machine : EM_386;
        eh->e_version = EV_CURRENT;
        eh->e_entry = (uint32_t)e->entry;
        eh->e_phoff = (uint32_t)eh_size;
        eh->e_ehsize = (uint16_t)eh_size;
        eh->e_phentsize = (uint16_t)ph_size;
        eh->e_phnum = (uint16_t)e->nr_segs;
        for (int i = 0; i < e->nr_segs; i++)
            ph[i] = (Elf32_Phdr){.p_type = e->segs[i].type,
                                 .p_offset = (uint32_t)seg_offset[i],
                                 .p_vaddr = (uint32_t)e->segs[i].paddr,
                                 .p_paddr = (uint32_t)e->segs[i].paddr,
                                 .p_filesz = (uint32_t)e->segs[i].filesz,
                                 .p_memsz = (uint32_t)e->segs[i].memsz};
    }
    return off;
}

/* A multiboot header (magic, flags, checksum) followed by code bytes, as
 * the first bytes of an ELF kernel's text segment. */
static uint8_t mb_text[64];

static const void *mb_text_with(uint32_t flags)
{
    uint32_t h[3] = {MB_HEADER_MAGIC, flags, -(MB_HEADER_MAGIC + flags)};

    for (size_t i = 0; i < sizeof(mb_text); i++)
        mb_text[i] = (uint8_t)(0x90 + i);
    memcpy(mb_text, h, sizeof(h));
    return mb_text;
}

/* An a.out-kludge image: the header's fields and the file's size. Its file
 * bytes are i * 7 + 1, the header at offset AOUT_HDR. */
struct aout {
    uint32_t flags, header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
    size_t size;
};

#define AOUT_HDR 0x20

/* Loads file bytes 0x10-0x7f at 0x200000, bss up to 0x201000. */
static const struct aout aout_ok = {
    .flags = MB_FLAG_AOUT,
    .header_addr = 0x200010,
    .load_addr = 0x200000,
    .load_end_addr = 0x200070,
    .bss_end_addr = 0x201000,
    .entry_addr = 0x200040,
    .size = 0x80,
};

static size_t build_aout(const struct aout *a)
{
    uint32_t h[8] = {MB_HEADER_MAGIC, a->flags,     -(MB_HEADER_MAGIC + a->flags),
                     a->header_addr,  a->load_addr, a->load_end_addr,
                     a->bss_end_addr, a->entry_addr};
    size_t n = a->size - AOUT_HDR < sizeof(h) ? a->size - AOUT_HDR : sizeof(h);

    for (size_t i = 0; i < a->size; i++)
        img[i] = (uint8_t)(i * 7 + 1);
    memcpy(img + AOUT_HDR, h, n);
    return a->size;
}

/* --- cpu state checks --- */

static void assert_long_mode(uint64_t entry)
{
    assert_int_equal(cpu.rip, entry);
    assert_true(cpu.cr0 & CR0_PE);
    assert_true(cpu.cr0 & CR0_PG);
    assert_true(cpu.cr4 & CR4_PAE);
    assert_int_equal(cpu.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
    assert_int_equal(cpu.cr3, BOOT_PML4);
    assert_int_equal(cpu.cs.selector, SEL_CODE64);
    assert_int_equal(cpu.cs.l, 1);
    assert_int_equal(cpu.cs.db, 0);
    assert_int_equal(cpu.ss.selector, SEL_DATA);
    assert_int_equal(cpu.gdt.base, BOOT_GDT);
    assert_int_equal(cpu.tr.selector, SEL_TSS);
    assert_int_equal(cpu.rflags, 2);
}

/* The boot vCPU of a multiboot or flat kernel starts in the BIOS stub
 * (bios_state.c): OUTs (MOV AL, imm8; OUT imm8, AL), then EAX loaded and a
 * jump to the kernel. Checks that it gives EAX back as eax; returns the
 * linear address it jumps to, or for a far jump (real mode) *seg:offset. */
static uint64_t stub_target(uint32_t eax, uint16_t *seg)
{
    uint64_t at = cpu.cs.base + cpu.rip;
    const uint8_t *p = guest(at, 64);
    uint32_t v, rel;
    size_t n = 0;

    while (p[n] == 0xb0 && p[n + 2] == 0xe6)
        n += 4;
    if (p[n] == 0x66)
        n++;
    assert_int_equal(p[n], 0xb8);
    memcpy(&v, p + n + 1, 4);
    assert_int_equal(v, eax);
    n += 5;
    if (p[n] == 0xea) {
        assert_non_null(seg);
        *seg = (uint16_t)(p[n + 3] | p[n + 4] << 8);
        return (uint64_t)(p[n + 1] | p[n + 2] << 8);
    }
    assert_int_equal(p[n], 0xe9);
    memcpy(&rel, p + n + 1, 4);
    return (uint32_t)(at + n + 5 + rel);
}

/* Whether the stub writes value to port. */
static int stub_writes(uint8_t port, uint8_t value)
{
    const uint8_t *p = guest(cpu.cs.base + cpu.rip, 64);

    for (size_t n = 0; p[n] == 0xb0 && p[n + 2] == 0xe6; n += 4)
        if (p[n + 3] == port && p[n + 1] == value)
            return 1;
    return 0;
}

static void assert_protected32(uint32_t entry)
{
    assert_int_equal(stub_target(MB_BOOT_MAGIC, NULL), entry);
    assert_true(cpu.cr0 & CR0_PE);
    assert_false(cpu.cr0 & CR0_PG);
    assert_int_equal(cpu.efer, 0);
    assert_int_equal(cpu.cs.selector, SEL_CODE32);
    assert_int_equal(cpu.cs.l, 0);
    assert_int_equal(cpu.cs.db, 1);
    assert_int_equal(cpu.cs.base, 0);
    assert_int_equal(cpu.cs.limit, 0xffffffff);
    assert_int_equal(cpu.ds.selector, SEL_DATA);
    assert_int_equal(cpu.ss.selector, SEL_DATA);
    assert_int_equal(cpu.rax, MB_BOOT_MAGIC);
    assert_int_equal(cpu.gdt.base, BOOT_GDT);
    assert_int_equal(cpu.rflags, 2);
}

static void assert_cmdline(const char *cmdline)
{
    assert_string_equal((const char *)guest(BOOT_CMDLINE, strlen(cmdline) + 1), cmdline);
}

/* --- ELF64 --- */

static void test_elf64(void **state)
{
    static const uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const struct elf_spec e = {
        .bits = 64,
        .entry = 0x100000,
        .nr_segs = 4,
        .segs =
            {
                {PT_LOAD, 0x100000, 32, 0x1000, NULL}, /* text and bss */
                {PT_NOTE, 0, 8, 8, NULL},              /* not loaded: would hit the boot area */
                {PT_LOAD, 0x0, 0, 0, NULL},            /* empty: skipped */
                {PT_LOAD, 0x200000, sizeof(data), sizeof(data), data},
            },
    };
    size_t size = build_elf(&e);

    (void)state;
    assert_int_equal(load(img, size, "console=ttyS0"), 0);
    assert_memory_equal(guest(0x100000, 32), img + seg_offset[0], 32);
    assert_filled(0x100000 + 32, 0x1000 - 32, 0); /* bss zeroed */
    assert_filled(0x101000, 16, FILL);            /* and not a byte more */
    assert_filled(0xfff00, 0x100, FILL);
    assert_memory_equal(guest(0x200000, 8), data, 8);
    assert_filled(0x200008, 8, FILL);
    assert_long_mode(0x100000);
    assert_int_equal(cpu.rdi, BOOT_CMDLINE);
    assert_int_equal(cpu.rsi, RAM);
    assert_int_equal(cpu.rsp, BOOT_STACK_TOP);
    assert_cmdline("console=ttyS0");
}

/* The first 4 GiB identity-mapped with 2 MiB pages; a GDT with the 64-bit
 * code segment the state refers to (SDM Vol. 3A, 3.4.5). */
static void test_elf64_tables(void **state)
{
    const struct elf_spec e = {
        .bits = 64, .entry = 0x100000, .nr_segs = 1, .segs = {{PT_LOAD, 0x100000, 16, 16}}};
    size_t size = build_elf(&e);
    uint64_t code64, code32, tss;

    (void)state;
    assert_int_equal(load(img, size, ""), 0);
    assert_int_equal(guest64(BOOT_PML4) & ~0xfffULL, BOOT_PDPT);
    assert_int_equal(guest64(BOOT_PML4) & 1, 1);
    for (int i = 0; i < 4; i++)
        assert_int_equal(guest64(BOOT_PDPT + 8 * (uint64_t)i) & ~0xfffULL,
                         BOOT_PD + 4096 * (uint64_t)i);
    for (uint64_t i = 0; i < 2048; i += 511) {
        uint64_t pde = guest64(BOOT_PD + 8 * i);

        assert_int_equal(pde & ~0xfffULL, i << 21);
        assert_int_equal(pde & 0x83, 0x83); /* present, writable, 2 MiB page */
    }
    code64 = guest64(BOOT_GDT + SEL_CODE64);
    code32 = guest64(BOOT_GDT + SEL_CODE32);
    tss = guest64(BOOT_GDT + SEL_TSS);
    assert_true(code64 & (1ULL << 47));  /* present */
    assert_true(code64 & (1ULL << 53));  /* L */
    assert_false(code64 & (1ULL << 54)); /* D */
    assert_false(code32 & (1ULL << 53));
    assert_true(code32 & (1ULL << 54));
    assert_int_equal((tss >> 16) & 0xffffff, BOOT_TSS);
    assert_true(cpu.gdt.limit >= SEL_TSS + 15); /* the TSS descriptor is 16 bytes */
}

/* Pure bss, a segment right at the end of the boot area and one ending at
 * the last byte of RAM are all fine. */
static void test_elf64_edges(void **state)
{
    const struct elf_spec e = {
        .bits = 64,
        .entry = 0x10000,
        .nr_segs = 3,
        .segs =
            {
                {PT_LOAD, BOOT_AREA_END, 16, 16},
                {PT_LOAD, 0x300000, 0, 0x2000},
                {PT_LOAD, RAM - 32, 32, 32},
            },
    };
    size_t size = build_elf(&e);

    (void)state;
    assert_int_equal(load(img, size, ""), 0);
    assert_filled(0x300000, 0x2000, 0);
    assert_memory_equal(guest(RAM - 32, 32), img + seg_offset[2], 32);
    assert_filled(BOOT_AREA_END - 16, 16, FILL);
}

/* --- rejected ELF images --- */

enum kind { ELF64, ELF64_MB, ELF32_MB, ELF32_PLAIN };

#define EH64(field) offsetof(Elf64_Ehdr, field)
#define EH32(field) offsetof(Elf32_Ehdr, field)
#define PH64(field) (sizeof(Elf64_Ehdr) + offsetof(Elf64_Phdr, field))
#define PH32(field) (sizeof(Elf32_Ehdr) + offsetof(Elf32_Phdr, field))

/*
 * A valid image of the kind with one PT_LOAD segment (paddr, filesz, memsz;
 * defaults 0x100000, 64, 128), then one field patched (patch_len bytes at
 * patch_at) and the file cut to truncate bytes, if given.
 */
static const struct {
    const char *what;
    enum kind kind;
    uint64_t paddr, filesz, memsz, entry;
    size_t patch_at;
    unsigned patch_len;
    uint64_t patch;
    size_t truncate;
    const char *msg;
} elf_rejects[] = {
    {"only the magic", ELF64, .truncate = 4, .msg = "not an ELF file"},
    {"ELF64 header cut", ELF64, .truncate = 40, .msg = "truncated ELF header"},
    {"ELF32 header cut", ELF32_MB, .truncate = 40, .msg = "truncated ELF header"},
    {"class none", ELF64, .patch_at = EI_CLASS, .patch_len = 1, .patch = ELFCLASSNONE,
     .msg = "unknown ELF class"},
    {"class 3", ELF64, .patch_at = EI_CLASS, .patch_len = 1, .patch = 3,
     .msg = "unknown ELF class"},
    {"big-endian", ELF64, .patch_at = EI_DATA, .patch_len = 1, .patch = ELFDATA2MSB,
     .msg = "big-endian"},
    {"big-endian ELF32", ELF32_MB, .patch_at = EI_DATA, .patch_len = 1, .patch = ELFDATA2MSB,
     .msg = "big-endian"},
    {"ELF64 for i386", ELF64, .patch_at = EH64(e_machine), .patch_len = 2, .patch = EM_386,
     .msg = "not for x86-64"},
    {"ELF64 for AArch64", ELF64, .patch_at = EH64(e_machine), .patch_len = 2, .patch = EM_AARCH64,
     .msg = "not for x86-64"},
    {"ELF32 for x86-64", ELF32_MB, .patch_at = EH32(e_machine), .patch_len = 2, .patch = EM_X86_64,
     .msg = "not for i386"},
    {"ET_DYN", ELF64, .patch_at = EH64(e_type), .patch_len = 2, .patch = ET_DYN,
     .msg = "not an executable"},
    {"ET_REL", ELF64, .patch_at = EH64(e_type), .patch_len = 2, .patch = ET_REL,
     .msg = "not an executable"},
    {"ELF32 ET_DYN", ELF32_MB, .patch_at = EH32(e_type), .patch_len = 2, .patch = ET_DYN,
     .msg = "not an executable"},
    {"phentsize 0", ELF64, .patch_at = EH64(e_phentsize), .patch_len = 2, .patch = 0,
     .msg = "program header size is wrong"},
    {"phentsize 64", ELF64, .patch_at = EH64(e_phentsize), .patch_len = 2, .patch = 64,
     .msg = "program header size is wrong"},
    {"ELF32 phentsize 56", ELF32_MB, .patch_at = EH32(e_phentsize), .patch_len = 2, .patch = 56,
     .msg = "program header size is wrong"},
    {"phnum 0", ELF64, .patch_at = EH64(e_phnum), .patch_len = 2, .patch = 0,
     .msg = "no program headers"},
    {"phnum 0xffff", ELF64, .patch_at = EH64(e_phnum), .patch_len = 2, .patch = 0xffff,
     .msg = "program header table extends past the end"},
    {"phoff past the end", ELF64, .patch_at = EH64(e_phoff), .patch_len = 8, .patch = 0x10000,
     .msg = "program header table extends past the end"},
    {"phoff near 2^64", ELF64, .patch_at = EH64(e_phoff), .patch_len = 8, .patch = UINT64_MAX - 8,
     .msg = "program header table extends past the end"},
    {"ELF32 phoff past the end", ELF32_MB, .patch_at = EH32(e_phoff), .patch_len = 4,
     .patch = UINT32_MAX, .msg = "program header table extends past the end"},
    {"program header table cut", ELF64, .truncate = sizeof(Elf64_Ehdr) + 30,
     .msg = "program header table extends past the end"},
    {"ELF32 program header table cut", ELF32_MB, .truncate = sizeof(Elf32_Ehdr) + 31,
     .msg = "program header table extends past the end"},
    {"segment offset past the end", ELF64, .patch_at = PH64(p_offset), .patch_len = 8,
     .patch = 1ULL << 40, .msg = "segment extends past the end of the file"},
    {"segment offset near 2^64", ELF64, .patch_at = PH64(p_offset), .patch_len = 8,
     .patch = UINT64_MAX - 16, .msg = "segment extends past the end of the file"},
    {"segment bytes cut", ELF64, .truncate = 0x80 + 63,
     .msg = "segment extends past the end of the file"},
    {"ELF32 segment bytes cut", ELF32_MB, .truncate = 0x60 + 63,
     .msg = "segment extends past the end of the file"},
    {"filesz > memsz", ELF64, .filesz = 64, .memsz = 32, .msg = "larger in the file than"},
    {"segment above RAM", ELF64, .paddr = RAM, .msg = "outside guest RAM"},
    {"segment across the end of RAM", ELF64, .paddr = RAM - 64, .msg = "outside guest RAM"},
    {"segment in the MMIO hole", ELF64, .paddr = MEM_HOLE_START, .msg = "outside guest RAM"},
    {"segment above 4 GiB", ELF64, .paddr = MEM_4G, .msg = "outside guest RAM"},
    {"paddr + memsz wraps", ELF64, .paddr = UINT64_MAX - 63, .msg = "outside guest RAM"},
    {"memsz near 2^64", ELF64, .memsz = UINT64_MAX, .msg = "outside guest RAM"},
    {"ELF32 segment above RAM", ELF32_MB, .paddr = 0xfff00000, .msg = "outside guest RAM"},
    {"segment at 0x100", ELF64, .paddr = 0x100, .filesz = 16, .memsz = 16, .msg = "boot area"},
    {"segment across 0x10000", ELF64, .paddr = 0xf000, .memsz = 0x2000, .msg = "boot area"},
    {"segment ending at 0x10000", ELF64, .paddr = 0x10000 - 128, .msg = "boot area"},
    {"ELF32 multiboot segment on the GDT", ELF32_MB, .paddr = BOOT_GDT, .msg = "boot area"},
    {"no PT_LOAD", ELF64, .patch_at = PH64(p_type), .patch_len = 4, .patch = PT_NOTE,
     .msg = "no loadable segment"},
    {"only an empty PT_LOAD", ELF64, .patch_at = PH64(p_memsz), .patch_len = 8, .patch = 0,
     .msg = "no loadable segment"},
    {"entry at 4 GiB", ELF64, .entry = MEM_4G, .msg = "outside the identity-mapped"},
    {"entry near 2^64", ELF64, .entry = UINT64_MAX, .msg = "outside the identity-mapped"},
    {"multiboot entry at 4 GiB", ELF64_MB, .entry = MEM_4G, .msg = "not a 32-bit address"},
    {"ELF32 without multiboot", ELF32_PLAIN, .msg = "needs a multiboot header"},
};

static void test_elf_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(elf_rejects) / sizeof(elf_rejects[0]); i++) {
        enum kind kind = elf_rejects[i].kind;
        struct elf_spec e = {
            .bits = kind == ELF64 || kind == ELF64_MB ? 64 : 32,
            .entry = elf_rejects[i].entry ? elf_rejects[i].entry : 0x100010,
            .nr_segs = 1,
            .segs = {{
                .type = PT_LOAD,
                .paddr = elf_rejects[i].paddr ? elf_rejects[i].paddr : 0x100000,
                .filesz = elf_rejects[i].filesz ? elf_rejects[i].filesz : 64,
                .memsz = elf_rejects[i].memsz ? elf_rejects[i].memsz : 128,
                .data = kind == ELF64_MB || kind == ELF32_MB ? mb_text_with(0) : NULL,
            }},
        };
        size_t size;
        uint64_t patch = elf_rejects[i].patch;

        size = build_elf(&e);
        memcpy(img + elf_rejects[i].patch_at, &patch, elf_rejects[i].patch_len);
        if (elf_rejects[i].truncate) {
            assert_true(elf_rejects[i].truncate < size);
            size = elf_rejects[i].truncate;
        }
        expect_reject(load(img, size, ""), elf_rejects[i].what, elf_rejects[i].msg);
    }
}

/* --- multiboot --- */

/* The information block at block; cmdline as the kernel sees it, with the
 * kernel's path (load() names it test.img) first. */
static void assert_mb_info_at(uint64_t block, const char *cmdline)
{
    struct mb_info info;
    struct mb_mmap_entry mm[8];
    uint64_t top = mem.regions[0].size;

    assert_int_equal(cpu.rbx, block);
    memcpy(&info, guest(block, sizeof(info)), sizeof(info));
    /* memory, command line, memory map, boot loader name */
    assert_int_equal(info.flags, (1u << 0) | (1u << 2) | (1u << 6) | (1u << 9));
    assert_int_equal(info.mem_lower, 639);
    assert_int_equal(info.mem_upper, (top - MiB) / 1024);
    assert_int_equal(info.cmdline, block + BOOT_MB_CMDLINE_OFF);
    assert_string_equal((const char *)guest(info.cmdline, strlen(cmdline) + 1), cmdline);
    assert_int_equal(info.mmap_addr, block + BOOT_MB_MMAP_OFF);
    assert_int_equal(info.mmap_length % sizeof(mm[0]), 0);
    assert_int_equal(info.mmap_length, (5 + (mem.nr_regions > 1)) * sizeof(mm[0]));
    memcpy(mm, guest(info.mmap_addr, info.mmap_length), info.mmap_length);
    for (unsigned i = 0; i < info.mmap_length / sizeof(mm[0]); i++)
        assert_int_equal(mm[i].size, 20);
    assert_int_equal(mm[0].addr, 0);
    assert_int_equal(mm[0].len, 0x9fc00);
    assert_int_equal(mm[0].type, 1);
    assert_int_equal(mm[1].addr, 0x9fc00);
    assert_int_equal(mm[1].type, 2);
    assert_int_equal(mm[2].addr, 0xe0000);
    assert_int_equal(mm[2].addr + mm[2].len, MiB);
    assert_int_equal(mm[2].type, 2);
    assert_int_equal(mm[3].addr, MiB);
    assert_int_equal(mm[3].len, top - MiB);
    assert_int_equal(mm[3].type, 1);
    assert_int_equal(mm[4].addr, BOARD_PCI_ECAM_BASE);
    assert_int_equal(mm[4].type, 2);
    if (mem.nr_regions > 1) {
        assert_int_equal(mm[5].addr, MEM_4G);
        assert_int_equal(mm[5].len, mem.regions[1].size);
        assert_int_equal(mm[5].type, 1);
    }
    assert_string_equal((const char *)guest(info.boot_loader_name, 5), "vx86");
}

static void assert_mb_info(const char *cmdline)
{
    assert_mb_info_at(BOOT_MB_INFO, cmdline);
}

static void test_multiboot_elf32(void **state)
{
    const struct elf_spec e = {
        .bits = 32,
        .entry = 0x10000c,
        .nr_segs = 1,
        .segs = {{PT_LOAD, 0x100000, sizeof(mb_text), 0x2000, mb_text_with(MB_FLAG_ALIGN)}},
    };
    size_t size = build_elf(&e);

    (void)state;
    assert_int_equal(load(img, size, "root=/dev/vda quiet"), 0);
    assert_memory_equal(guest(0x100000, sizeof(mb_text)), mb_text, sizeof(mb_text));
    assert_filled(0x100000 + sizeof(mb_text), 0x2000 - sizeof(mb_text), 0);
    assert_protected32(0x10000c);
    assert_mb_info("test.img root=/dev/vda quiet");
}

/* A multiboot header takes precedence over the ELF64 way in. */
static void test_multiboot_elf64(void **state)
{
    const struct elf_spec e = {
        .bits = 64,
        .entry = 0x200000,
        .nr_segs = 1,
        .segs = {{PT_LOAD, 0x200000, sizeof(mb_text), sizeof(mb_text), mb_text_with(0)}},
    };
    size_t size = build_elf(&e);

    (void)state;
    assert_int_equal(load(img, size, ""), 0);
    assert_protected32(0x200000);
    assert_mb_info("test.img");
}

static void test_multiboot_big_ram(void **state)
{
    const struct elf_spec e = {
        .bits = 32,
        .entry = 0x100000,
        .nr_segs = 1,
        .segs = {{PT_LOAD, 0x100000, sizeof(mb_text), sizeof(mb_text), mb_text_with(0)}},
    };
    size_t size = build_elf(&e);

    (void)state;
    assert_int_equal(mem.nr_regions, 2);
    assert_int_equal(load(img, size, "x"), 0);
    assert_mb_info("test.img x");
}

static void test_multiboot_aout(void **state)
{
    size_t size = build_aout(&aout_ok);

    (void)state;
    assert_int_equal(load(img, size, "aout"), 0);
    /* The file from header offset - (header_addr - load_addr) lands at load_addr. */
    assert_memory_equal(guest(0x200000, 0x70), img + 0x10, 0x70);
    assert_filled(0x200070, 0x1000 - 0x70, 0);
    assert_filled(0x201000, 16, FILL);
    assert_filled(0x1ffff0, 16, FILL);
    assert_protected32(0x200040);
    assert_mb_info("test.img aout");
}

/* load_end_addr 0: the rest of the file; bss_end_addr 0: no bss. */
static void test_multiboot_aout_whole_file(void **state)
{
    struct aout a = aout_ok;
    size_t size;

    (void)state;
    a.load_end_addr = 0;
    a.bss_end_addr = 0;
    a.size = 0x200;
    size = build_aout(&a);
    assert_int_equal(load(img, size, ""), 0);
    assert_memory_equal(guest(0x200000, 0x1f0), img + 0x10, 0x1f0);
    assert_filled(0x2001f0, 16, FILL);
    assert_protected32(0x200040);
}

/* A multiboot kernel may load in conventional memory, over the block's
 * default place, as kvm-unit-tests' realmode test does at 0x8000: the
 * block goes to the first page after the image. */
static void test_multiboot_low(void **state)
{
    const struct elf_spec e = {
        .bits = 32,
        .entry = 0x8000,
        .nr_segs = 1,
        .segs = {{PT_LOAD, 0x8000, sizeof(mb_text), 0x5a30, mb_text_with(0)}},
    };
    size_t size = build_elf(&e);

    (void)state;
    assert_int_equal(load(img, size, "a b"), 0);
    assert_memory_equal(guest(0x8000, sizeof(mb_text)), mb_text, sizeof(mb_text));
    assert_filled(0x8000 + sizeof(mb_text), 0x5a30 - sizeof(mb_text), 0);
    assert_protected32(0x8000);
    assert_mb_info_at(0xe000, "test.img a b");
}

/* An image that ends where no block fits after it. */
static void test_multiboot_no_room(void **state)
{
    const struct elf_spec e = {
        .bits = 32,
        .entry = 0x7000,
        .nr_segs = 1,
        .segs = {{PT_LOAD, 0x7000, sizeof(mb_text), RAM - 0x7000 - 0x1000, mb_text_with(0)}},
    };
    size_t size = build_elf(&e);

    (void)state;
    expect_reject(load(img, size, ""), "image up to the end of RAM", "no room in RAM");
}

static const struct {
    const char *what;
    struct aout a;
    const char *msg;
} aout_rejects[] = {
    {"load_addr above header_addr",
     {MB_FLAG_AOUT, 0x200010, 0x200020, 0x200070, 0x201000, 0x200040, 0x80},
     "inconsistent with header_addr"},
    {"load_addr before the start of the file",
     {MB_FLAG_AOUT, 0x200010, 0x1fffe0, 0x200070, 0x201000, 0x200040, 0x80},
     "inconsistent with header_addr"},
    {"load_end_addr below load_addr",
     {MB_FLAG_AOUT, 0x200010, 0x200000, 0x1ffff0, 0x201000, 0x200040, 0x80},
     "load_end_addr lies beyond the file"},
    {"load_end_addr one past the file",
     {MB_FLAG_AOUT, 0x200010, 0x200000, 0x200071, 0x201000, 0x200040, 0x80},
     "load_end_addr lies beyond the file"},
    {"bss_end_addr below load_end_addr",
     {MB_FLAG_AOUT, 0x200010, 0x200000, 0x200070, 0x200060, 0x200040, 0x80},
     "bss_end_addr lies below load_end_addr"},
    {"bss_end_addr one below load_end_addr",
     {MB_FLAG_AOUT, 0x200010, 0x200000, 0x200070, 0x20006f, 0x200040, 0x80},
     "bss_end_addr lies below load_end_addr"},
    {"bss beyond RAM",
     {MB_FLAG_AOUT, 0x200010, 0x200000, 0x200070, 0x2000000, 0x200040, 0x80},
     "outside guest RAM"},
    {"bss to the top of 32-bit space",
     {MB_FLAG_AOUT, 0x200010, 0x200000, 0x200070, 0xffffffff, 0x200040, 0x80},
     "outside guest RAM"},
    {"image on the GDT", {MB_FLAG_AOUT, 0x510, 0x500, 0x570, 0x1000, 0x540, 0x80}, "boot area"},
    {"image above RAM",
     {MB_FLAG_AOUT, 0xfff00010, 0xfff00000, 0xfff00070, 0, 0xfff00040, 0x80},
     "outside guest RAM"},
    {"header cut after the checksum",
     {MB_FLAG_AOUT, 0x200010, 0x200000, 0x200070, 0x201000, 0x200040, AOUT_HDR + 12},
     "truncated multiboot header"},
    {"header cut before entry_addr",
     {MB_FLAG_AOUT, 0x200010, 0x200000, 0x200070, 0x201000, 0x200040, AOUT_HDR + 28},
     "truncated multiboot header"},
};

static void test_multiboot_aout_rejects(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(aout_rejects) / sizeof(aout_rejects[0]); i++) {
        size_t size = build_aout(&aout_rejects[i].a);

        expect_reject(load(img, size, ""), aout_rejects[i].what, aout_rejects[i].msg);
    }
}

/* Flags 0-15 are requirements: vx86 meets 0 and 1 only. Flags 16-31 are
 * optional and only 16 is known (Multiboot 3.1.2). */
static const struct {
    uint32_t flags;
    const char *msg; /* NULL: loads */
} flag_vectors[] = {
    {MB_FLAG_AOUT, NULL},
    {MB_FLAG_AOUT | MB_FLAG_ALIGN | MB_FLAG_MEMINFO, NULL},
    {MB_FLAG_AOUT | (1u << 17) | (1u << 31), NULL},
    {MB_FLAG_AOUT | MB_FLAG_VIDEO, "requires a video mode"},
    {MB_FLAG_AOUT | MB_FLAG_ALIGN | MB_FLAG_VIDEO, "requires a video mode"},
    {MB_FLAG_AOUT | (1u << 3), "does not know (flags 0x8)"},
    {MB_FLAG_AOUT | (1u << 15) | MB_FLAG_MEMINFO, "does not know (flags 0x8000)"},
    {MB_FLAG_AOUT | 0xfff8, "does not know (flags 0xfff8)"},
    {0, "neither ELF nor has load addresses"},
};

static void test_multiboot_flags(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(flag_vectors) / sizeof(flag_vectors[0]); i++) {
        struct aout a = aout_ok;
        size_t size;
        int err;

        a.flags = flag_vectors[i].flags;
        size = build_aout(&a);
        err = load(img, size, "");
        if (flag_vectors[i].msg)
            expect_reject(err, "multiboot flags", flag_vectors[i].msg);
        else
            assert_int_equal(err, 0);
    }
}

/* The header must be 32-bit aligned, lie wholly in the first 8192 bytes and
 * have a valid checksum; otherwise the file is a flat binary. */
static const struct {
    size_t offset;
    int bad_checksum;
    int detected;
} search_vectors[] = {
    {0, 0, 1}, {4, 0, 1},    {8192 - 12, 0, 1}, {8192 - 8, 0, 0}, {8192, 0, 0},
    {2, 0, 0}, {4097, 0, 0}, {0, 1, 0},         {64, 1, 0},
};

static void test_multiboot_search(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(search_vectors) / sizeof(search_vectors[0]); i++) {
        uint32_t h[3] = {MB_HEADER_MAGIC, 0, -MB_HEADER_MAGIC + search_vectors[i].bad_checksum};
        size_t size = 12 * 1024;
        int err;

        memset(img, 0xf4, size);
        memcpy(img + search_vectors[i].offset, h, sizeof(h));
        err = load(img, size, "");
        if (search_vectors[i].detected) {
            expect_reject(err, "multiboot search", "neither ELF nor has load addresses");
        } else {
            if (err)
                fail_msg("header at %zu: not multiboot, yet rejected: %s", search_vectors[i].offset,
                         logbuf);
            assert_false(cpu.cr0 & CR0_PE); /* a flat binary */
        }
    }
}

/* --- command line --- */

static void test_cmdline_limit(void **state)
{
    char *line = malloc(BOOT_CMDLINE_MAX + 2);
    const struct elf_spec e64 = {
        .bits = 64, .entry = 0x100000, .nr_segs = 1, .segs = {{PT_LOAD, 0x100000, 16, 16}}};
    size_t size64;

    (void)state;
    assert_non_null(line);
    memset(line, 'x', BOOT_CMDLINE_MAX);
    line[BOOT_CMDLINE_MAX] = 0;
    size64 = build_elf(&e64);
    assert_int_equal(load(img, size64, line), 0);
    assert_cmdline(line);
    assert_int_equal(*guest(BOOT_CMDLINE + BOOT_CMDLINE_MAX, 1), 0);

    line[BOOT_CMDLINE_MAX] = 'x';
    line[BOOT_CMDLINE_MAX + 1] = 0;
    expect_reject(load(img, size64, line), "ELF64 command line", "exceed the limit of 4095");
    size64 = build_aout(&aout_ok);
    expect_reject(load(img, size64, line), "multiboot command line", "exceed the limit of 4095");
    free(line);
}

/* --- flat binaries --- */

static void assert_real_mode(void)
{
    uint16_t seg = 0;

    assert_int_equal(stub_target(0, &seg), 0);
    assert_int_equal(seg, FLAT_SEGMENT);
    assert_false(cpu.cr0 & CR0_PE);
    assert_int_equal(cpu.efer, 0);
    assert_int_equal(cpu.cs.limit, 0xffff);
    assert_int_equal(cpu.ds.selector, FLAT_SEGMENT);
    assert_int_equal(cpu.es.selector, FLAT_SEGMENT);
    assert_int_equal(cpu.ss.selector, FLAT_SEGMENT);
    assert_int_equal(cpu.ss.base, FLAT_LOAD_ADDR);
    assert_int_equal(cpu.idt.limit, 0x3ff);
    assert_int_equal(cpu.rflags, 2);
}

static void test_flat(void **state)
{
    static const uint8_t code[] = {0xb0, 0x41, 0xe6, 0xe9, 0xf4}; /* mov al,'A'; out 0xe9,al; hlt */

    (void)state;
    assert_int_equal(load(code, sizeof(code), ""), 0);
    assert_memory_equal(guest(FLAT_LOAD_ADDR, sizeof(code)), code, sizeof(code));
    assert_filled(FLAT_LOAD_ADDR + sizeof(code), 16, FILL);
    assert_real_mode();

    assert_int_equal(load(code, 1, ""), 0);
    assert_real_mode();
}

/* What a PC BIOS leaves (bios_state.c), for a multiboot kernel as for a
 * flat binary: the IVT, the BIOS data area, the PICs and the PIT. */
static uint32_t le(uint64_t gpa, unsigned size)
{
    uint32_t v = 0;

    memcpy(&v, guest(gpa, size), size);
    return v;
}

static void assert_bios_state(void)
{
    assert_int_equal(le(0x08 * 4, 4), 0xf000fea5); /* IRQ0: timer */
    assert_int_equal(le(0x09 * 4, 4) >> 16, 0xf000);
    assert_int_equal(le(0x70 * 4, 4) >> 16, 0xf000);
    assert_int_equal(le(0x10 * 4, 4), 0xf000ff53); /* IRET */
    assert_int_equal(*guest(0xfff53, 1), 0xcf);
    assert_int_equal(le(0x60 * 4, 4), 0);
    assert_int_equal(le(0x400, 2), 0x3f8);
    assert_int_equal(le(0x413, 2), 639);
    assert_true(le(0x46c, 4) < 0x1800b0);
    assert_int_equal(*guest(0x470, 1), 0);
    assert_true(stub_writes(0x20, 0x11) && stub_writes(0xa0, 0x11));
    assert_true(stub_writes(0x21, 0x08) && stub_writes(0xa1, 0x70));
    assert_true(stub_writes(0x21, 0xfa)); /* IRQ0 and the cascade unmasked */
    assert_true(stub_writes(0x43, 0x34) && stub_writes(0x40, 0x00));
}

static void test_bios_state(void **state)
{
    static const uint8_t code[] = {0xf4};
    size_t size = build_aout(&aout_ok);

    (void)state;
    assert_int_equal(load(code, sizeof(code), ""), 0);
    assert_bios_state();
    memset(mem.base, FILL, 0x100000);
    assert_int_equal(load(img, size, ""), 0);
    assert_bios_state();

    /* Not for an ELF64 kernel (nor Linux): the IVT stays as RAM was. */
    memset(mem.base, FILL, 0x100000);
    size = build_elf(&(struct elf_spec){
        .bits = 64, .entry = 0x100000, .nr_segs = 1, .segs = {{PT_LOAD, 0x100000, 16, 16}}});
    assert_int_equal(load(img, size, ""), 0);
    assert_filled(0, 0x500, FILL);
    assert_filled(0xff000, 0x1000, FILL);
}

/* Up to the VGA window at 0xa0000, not a byte more; something that starts
 * with the ELF magic is never taken for a flat binary. */
static void test_flat_size(void **state)
{
    uint8_t *big = malloc(FLAT_MAX_SIZE + 1);

    (void)state;
    assert_non_null(big);
    memset(big, 0x90, FLAT_MAX_SIZE + 1);
    big[FLAT_MAX_SIZE - 1] = 0xf4;
    assert_int_equal(load(big, FLAT_MAX_SIZE, ""), 0);
    assert_int_equal(*guest(0x9ffff, 1), 0xf4);
    assert_filled(0xa0000, 16, FILL);
    expect_reject(load(big, FLAT_MAX_SIZE + 1, ""), "flat binary too big", "exceeds the 576 KiB");
    free(big);

    expect_reject(load(ELFMAG "\2\1\1", 7, ""), "7-byte ELF", "not an ELF file");
}

/* --- files --- */

static char tmpdir[64];

static const char *path_of(const char *name)
{
    static char path[128];

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    return path;
}

static void write_file(const char *name, const void *data, size_t size)
{
    FILE *f = fopen(path_of(name), "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

static void test_read_file(void **state)
{
    static const char text[] = "kernel bytes";
    uint8_t *buf = NULL;
    size_t size = 0;

    (void)state;
    strcpy(tmpdir, "/tmp/vx86-test-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    write_file("kernel", text, sizeof(text));
    write_file("empty", "", 0);
    assert_int_equal(mkdir(path_of("dir"), 0700), 0);

    assert_int_equal(boot_read_file(path_of("kernel"), RAM, &buf, &size), 0);
    assert_int_equal(size, sizeof(text));
    assert_memory_equal(buf, text, sizeof(text));
    free(buf);
    assert_int_equal(boot_read_file(path_of("kernel"), sizeof(text), &buf, &size), 0);
    free(buf);

    /* max is the guest's RAM: a kernel bigger than RAM is refused unread. */
    buf = NULL;
    assert_int_equal(boot_read_file(path_of("kernel"), sizeof(text) - 1, &buf, &size), -EFBIG);
    assert_int_equal(boot_read_file(path_of("empty"), RAM, &buf, &size), -EINVAL);
    assert_int_equal(boot_read_file(path_of("missing"), RAM, &buf, &size), -ENOENT);
    assert_int_equal(boot_read_file(path_of("dir"), RAM, &buf, &size), -EINVAL);
    assert_null(buf);

    rmdir(path_of("dir"));
    remove(path_of("kernel"));
    remove(path_of("empty"));
    assert_int_equal(rmdir(tmpdir), 0);
}

/* --- the memory map and boot_check_range --- */

static void test_e820(void **state)
{
    struct e820_entry map[E820_MAX];
    int n;

    (void)state;
    n = e820_build(&mem, map);
    assert_int_equal(n, 5);
    assert_int_equal(map[3].addr, MiB);
    assert_int_equal(map[3].size, RAM - MiB);
    /* The PCI ECAM window, reserved for the MCFG. */
    assert_int_equal(map[4].addr, BOARD_PCI_ECAM_BASE);
    assert_int_equal(map[4].size, BOARD_PCI_ECAM_SIZE);
    assert_int_equal(map[4].type, E820_RESERVED);
    /* Sorted, and nothing overlaps. */
    for (int i = 1; i < n; i++)
        assert_true(map[i - 1].addr + map[i - 1].size <= map[i].addr);
}

static void test_e820_big(void **state)
{
    struct e820_entry map[E820_MAX];
    int n;

    (void)state;
    n = e820_build(&mem, map);
    assert_int_equal(n, 6);
    assert_int_equal(map[3].addr + map[3].size, MEM_HOLE_START);
    assert_int_equal(map[4].addr, BOARD_PCI_ECAM_BASE);
    assert_int_equal(map[5].addr, MEM_4G);
    assert_int_equal(map[5].size, 1024 * MiB + RAM);
    assert_int_equal(map[5].type, E820_RAM);
}

static const struct {
    uint64_t gpa, len;
    int ok;
} range_vectors[] = {
    {BOOT_AREA_END, 0, 1},
    {BOOT_AREA_END, RAM - BOOT_AREA_END, 1},
    {BOOT_AREA_END, RAM - BOOT_AREA_END + 1, 0},
    {BOOT_AREA_END - 1, 1, 0},
    {0, 1, 0},
    {0, 0, 1}, /* nothing to load, so nothing in the boot area */
    {RAM, 1, 0},
    {UINT64_MAX, 2, 0},
};

static void test_check_range(void **state)
{
    struct boot_image bi = {.name = "test.img"};

    (void)state;
    for (size_t i = 0; i < sizeof(range_vectors) / sizeof(range_vectors[0]); i++) {
        int err = boot_check_range(&mem, &bi, range_vectors[i].gpa, range_vectors[i].len, "range");

        if (err != (range_vectors[i].ok ? 0 : -EINVAL))
            fail_msg("boot_check_range(0x%llx, 0x%llx) = %d",
                     (unsigned long long)range_vectors[i].gpa,
                     (unsigned long long)range_vectors[i].len, err);
    }
}

/* fw_cfg's bootorder: QEMU's OpenFirmware paths, the bootindex ones first. */
static void test_boot_order(void **state)
{
    struct firmware_disk d[] = {
        {.name = "a", .devfn = PCI_DEVFN(2, 0)},
        {.name = "b", .devfn = PCI_DEVFN(3, 0), .has_bootindex = true, .bootindex = 5},
        {.name = "c", .devfn = PCI_DEVFN(0x1c, 0)},
        {.name = "d", .devfn = PCI_DEVFN(4, 1), .has_bootindex = true, .bootindex = 2},
    };
    const char *want = "/pci@i0cf8/scsi@4,1/disk@0,0\n/pci@i0cf8/scsi@3/disk@0,0\n"
                       "/pci@i0cf8/scsi@2/disk@0,0\n/pci@i0cf8/scsi@1c/disk@0,0";
    char out[256];

    (void)state;
    assert_int_equal(firmware_boot_order(d, 4, out, sizeof(out)), (int)strlen(want) + 1);
    assert_string_equal(out, want);
    assert_int_equal(firmware_boot_order(d, 1, out, sizeof(out)), 27);
    assert_string_equal(out, "/pci@i0cf8/scsi@2/disk@0,0");
    assert_int_equal(firmware_boot_order(d, 0, out, sizeof(out)), 1);
    assert_string_equal(out, "");
    assert_int_equal(firmware_boot_order(d, 4, out, 40), -ENOSPC);
    d[3].bootindex = 5;
    assert_int_equal(firmware_boot_order(d, 4, out, sizeof(out)), -EINVAL);
}

#define T(f)     cmocka_unit_test_setup_teardown(f, setup, teardown)
#define T_BIG(f) cmocka_unit_test_setup_teardown(f, setup_big, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_elf64),
        T(test_elf64_tables),
        T(test_elf64_edges),
        T(test_elf_rejects),
        T(test_multiboot_elf32),
        T(test_multiboot_elf64),
        T_BIG(test_multiboot_big_ram),
        T(test_multiboot_aout),
        T(test_multiboot_aout_whole_file),
        T(test_multiboot_aout_rejects),
        T(test_multiboot_flags),
        T(test_multiboot_search),
        T(test_multiboot_low),
        T(test_multiboot_no_room),
        T(test_cmdline_limit),
        T(test_flat),
        T(test_bios_state),
        T(test_flat_size),
        T(test_read_file),
        T(test_e820),
        T_BIG(test_e820_big),
        T(test_check_range),
        T(test_boot_order),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
