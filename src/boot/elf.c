/* ELF executables (System V gABI; x86-64 psABI for EM_X86_64). */
#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "boot/boot.h"
#include "util/log.h"

int elf_is_elf(const uint8_t *data, size_t size)
{
    return size >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0;
}

/* One program header, widened to 64 bits. */
struct phdr {
    uint32_t type;
    uint64_t offset, paddr, filesz, memsz;
};

static int bad(const struct boot_image *img, const char *why)
{
    log_err("%s: %s", img->name, why);
    return -EINVAL;
}

static void read_phdr(const struct boot_image *img, int bits, uint64_t off, struct phdr *p)
{
    if (bits == 64) {
        Elf64_Phdr h;

        memcpy(&h, img->data + off, sizeof(h));
        *p = (struct phdr){h.p_type, h.p_offset, h.p_paddr, h.p_filesz, h.p_memsz};
    } else {
        Elf32_Phdr h;

        memcpy(&h, img->data + off, sizeof(h));
        *p = (struct phdr){h.p_type, h.p_offset, h.p_paddr, h.p_filesz, h.p_memsz};
    }
}

/* The ELF header, checked: an x86 executable whose program header table
 * lies within the file. Returns NULL or what is wrong. */
static const char *parse_header(const struct boot_image *img, struct elf_info *info,
                                uint64_t *phoff, uint64_t *phnum)
{
    uint64_t phentsize, table;
    int bits;

    if (img->size < EI_NIDENT || !elf_is_elf(img->data, img->size))
        return "not an ELF file";
    switch (img->data[EI_CLASS]) {
    case ELFCLASS64:
        bits = 64;
        break;
    case ELFCLASS32:
        bits = 32;
        break;
    default:
        return "unknown ELF class";
    }
    if (img->data[EI_DATA] != ELFDATA2LSB)
        return "big-endian ELF is not an x86 kernel";
    if (bits == 64) {
        Elf64_Ehdr eh;

        if (img->size < sizeof(eh))
            return "truncated ELF header";
        memcpy(&eh, img->data, sizeof(eh));
        if (eh.e_machine != EM_X86_64)
            return "ELF64 file is not for x86-64";
        if (eh.e_type != ET_EXEC)
            return "ELF file is not an executable (ET_EXEC)";
        *phoff = eh.e_phoff, phentsize = eh.e_phentsize, *phnum = eh.e_phnum;
        info->entry = eh.e_entry;
        if (phentsize != sizeof(Elf64_Phdr))
            return "ELF program header size is wrong";
    } else {
        Elf32_Ehdr eh;

        if (img->size < sizeof(eh))
            return "truncated ELF header";
        memcpy(&eh, img->data, sizeof(eh));
        if (eh.e_machine != EM_386)
            return "ELF32 file is not for i386";
        if (eh.e_type != ET_EXEC)
            return "ELF file is not an executable (ET_EXEC)";
        *phoff = eh.e_phoff, phentsize = eh.e_phentsize, *phnum = eh.e_phnum;
        info->entry = eh.e_entry;
        if (phentsize != sizeof(Elf32_Phdr))
            return "ELF program header size is wrong";
    }
    info->bits = bits;
    if (*phnum == 0)
        return "ELF file has no program headers";
    table = phentsize * *phnum; /* both are 16-bit: no overflow */
    if (*phoff > img->size || table > img->size - *phoff)
        return "truncated ELF: program header table extends past the end of the file";
    return NULL;
}

static uint64_t phdr_size(int bits)
{
    return bits == 64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
}

int elf_inspect(const struct boot_image *img, struct elf_info *info)
{
    uint64_t phoff, phnum;
    const char *why = parse_header(img, info, &phoff, &phnum);

    if (why)
        return bad(img, why);
    info->start = UINT64_MAX;
    info->end = 0;
    for (uint64_t i = 0; i < phnum; i++) {
        struct phdr p;
        uint64_t end;

        read_phdr(img, info->bits, phoff + i * phdr_size(info->bits), &p);
        if (p.type != PT_LOAD || p.memsz == 0)
            continue;
        if (p.filesz > p.memsz)
            return bad(img, "ELF segment larger in the file than in memory");
        if (p.offset > img->size || p.filesz > img->size - p.offset)
            return bad(img, "truncated ELF: a segment extends past the end of the file");
        if (__builtin_add_overflow(p.paddr, p.memsz, &end))
            end = UINT64_MAX; /* elf_load() finds it outside RAM */
        if (p.paddr < info->start)
            info->start = p.paddr;
        if (end > info->end)
            info->end = end;
    }
    if (!info->end)
        return bad(img, "ELF file has no loadable segment");
    return 0;
}

int elf_load(const struct guest_mem *mem, const struct boot_image *img, uint64_t floor,
             struct elf_info *info)
{
    uint64_t phoff, phnum;
    int err = elf_inspect(img, info);

    if (err)
        return err;
    parse_header(img, info, &phoff, &phnum);
    for (uint64_t i = 0; i < phnum; i++) {
        struct phdr p;
        uint8_t *dst;

        read_phdr(img, info->bits, phoff + i * phdr_size(info->bits), &p);
        if (p.type != PT_LOAD || p.memsz == 0)
            continue;
        err = boot_check_ram(mem, img, p.paddr, p.memsz, floor, "ELF segment");
        if (err)
            return err;
        dst = mem_ptr(mem, p.paddr, p.memsz);
        memcpy(dst, img->data + p.offset, p.filesz);
        memset(dst + p.filesz, 0, p.memsz - p.filesz);
    }
    return 0;
}

/* ELF notes (gABI "Note Section"): namesz, descsz, type, then the name and
 * the descriptor, each padded to 4 bytes. A malformed note ends the search
 * of its segment. */
int elf_find_note(const struct boot_image *img, const char *name, uint32_t type,
                  const uint8_t **desc, uint32_t *descsz)
{
    struct elf_info info;
    uint64_t phoff, phnum, namesz = strlen(name) + 1;

    if (parse_header(img, &info, &phoff, &phnum))
        return 0;
    for (uint64_t i = 0; i < phnum; i++) {
        struct phdr p;
        uint64_t off, end;

        read_phdr(img, info.bits, phoff + i * phdr_size(info.bits), &p);
        if (p.type != PT_NOTE)
            continue;
        if (p.offset > img->size || p.filesz > img->size - p.offset)
            continue;
        end = p.offset + p.filesz;
        for (off = p.offset; end - off >= 12;) {
            uint32_t h[3]; /* namesz, descsz, type */
            uint64_t name_at = off + 12, desc_at, next;

            memcpy(h, img->data + off, sizeof(h));
            desc_at = name_at + ((h[0] + 3ULL) & ~3ULL);
            next = desc_at + ((h[1] + 3ULL) & ~3ULL);
            if (desc_at > end || h[1] > end - desc_at)
                break;
            if (h[0] == namesz && h[2] == type && !memcmp(img->data + name_at, name, namesz)) {
                *desc = img->data + desc_at;
                *descsz = h[1];
                return 1;
            }
            if (next >= end)
                break;
            off = next;
        }
    }
    return 0;
}
