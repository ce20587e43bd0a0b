/*
 * Checks what a multiboot v1 loader hands over, per the Multiboot
 * Specification 0.6.96: the machine state (§3.2) and the boot information
 * (§3.3). Expects to run with --mem 128M --cmdline "vx86 test"; the command
 * line starts with the kernel's path, as QEMU and GRUB write it.
 */
#include "lib/guest.h"

#define MB_BOOT_MAGIC 0x2badb002u
#define MBI_MEM       (1u << 0)
#define MBI_CMDLINE   (1u << 2)
#define MBI_MMAP      (1u << 6)
#define MBI_LOADER    (1u << 9)
#define MMAP_RAM      1

#define KIB 1024ull
#define MIB (1024 * KIB)

/* struct multiboot_info, up to boot_loader_name. */
struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr, drives_length, drives_addr, config_table;
    uint32_t boot_loader_name;
};

/* size counts the bytes after itself, so entries may grow. */
struct __attribute__((packed)) mb_mmap_entry {
    uint32_t size;
    uint64_t addr, len;
    uint32_t type;
};

static void check_machine_state(void)
{
    unsigned long cr0 = read_cr0();

    printf("cr0 %lx, eflags %lx\n", cr0, read_flags());
    CHECK(cr0 & CR0_PE);
    CHECK(!(cr0 & CR0_PG));
    CHECK(!(read_flags() & RFLAGS_IF));
}

/* RAM above 1 MiB is one range that mem_upper also describes; all RAM adds
 * up to about the 128 MiB the test runs with. */
/* line is "PATH ARGS" with PATH ending in name. */
static int path_then_args(const char *line, const char *name, const char *args)
{
    const char *sp = line;
    unsigned long n = 0;

    while (*sp && *sp != ' ')
        sp++;
    while (name[n])
        n++;
    if (*sp != ' ' || (unsigned long)(sp - line) < n)
        return 0;
    for (unsigned long i = 0; i < n; i++)
        if (sp[i - n] != name[i])
            return 0;
    return strcmp(sp + 1, args) == 0;
}

static void check_mmap(const struct mb_info *mbi)
{
    uint32_t p = mbi->mmap_addr, end = mbi->mmap_addr + mbi->mmap_length;
    uint64_t ram = 0, upper_len = 0;
    int n = 0;

    while (p < end && n < 32) {
        const struct mb_mmap_entry *e = (const struct mb_mmap_entry *)p;

        printf("  mmap: %llx-%llx type %u\n", e->addr, e->addr + e->len - 1, e->type);
        CHECK(e->size >= sizeof(*e) - 4);
        if (e->type == MMAP_RAM) {
            ram += e->len;
            if (e->addr <= 1 * MIB && e->addr + e->len > 1 * MIB)
                upper_len = e->addr + e->len - 1 * MIB;
        }
        p += e->size + 4;
        n++;
    }
    printf("mmap: %d entries, %llu KiB of RAM, %llu KiB from 1 MiB\n", n, ram / KIB,
           upper_len / KIB);
    CHECK(n >= 2 && n < 32);
    CHECK(p == end);
    CHECK(ram > 127 * MIB && ram <= 128 * MIB);
    CHECK(upper_len == mbi->mem_upper * KIB);
}

int guest_main_multiboot(uint32_t magic, uint32_t info)
{
    const struct mb_info *mbi = (const struct mb_info *)info;
    const uint32_t need = MBI_MEM | MBI_CMDLINE | MBI_MMAP | MBI_LOADER;

    printf("multiboot magic %x, info at %x\n", magic, info);
    CHECK(magic == MB_BOOT_MAGIC);
    check_machine_state();
    if (magic != MB_BOOT_MAGIC || !mbi)
        guest_finish();

    printf("flags %x, mem_lower %u KiB, mem_upper %u KiB\n", mbi->flags, mbi->mem_lower,
           mbi->mem_upper);
    CHECK((mbi->flags & need) == need);
    /* Lower memory ends at most at 640 KiB, the EBDA often takes its top. */
    CHECK(mbi->mem_lower >= 600 && mbi->mem_lower <= 640);
    CHECK(mbi->mem_upper * KIB > 120 * MIB && mbi->mem_upper * KIB <= 127 * MIB);
    if ((mbi->flags & need) != need)
        guest_finish();

    check_mmap(mbi);
    printf("command line \"%s\", loader \"%s\"\n", (const char *)mbi->cmdline,
           (const char *)mbi->boot_loader_name);
    CHECK(path_then_args((const char *)mbi->cmdline, "mbinfo.elf", "vx86 test"));
    CHECK(strcmp((const char *)mbi->boot_loader_name, "vx86") == 0);
    guest_finish();
}
