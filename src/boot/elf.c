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

static int load_segment(const struct guest_mem *mem, const struct boot_image *img,
                        const struct phdr *p)
{
    uint8_t *dst;
    int err;

    if (p->filesz > p->memsz)
        return bad(img, "ELF segment larger in the file than in memory");
    if (p->offset > img->size || p->filesz > img->size - p->offset)
        return bad(img, "truncated ELF: a segment extends past the end of the file");
    err = boot_check_range(mem, img, p->paddr, p->memsz, "ELF segment");
    if (err)
        return err;
    dst = mem_ptr(mem, p->paddr, p->memsz);
    memcpy(dst, img->data + p->offset, p->filesz);
    memset(dst + p->filesz, 0, p->memsz - p->filesz);
    return 0;
}

int elf_load(const struct guest_mem *mem, const struct boot_image *img, struct elf_info *info)
{
    uint64_t phoff, phentsize, phnum, table;
    int bits, loaded = 0;

    if (img->size < EI_NIDENT || !elf_is_elf(img->data, img->size))
        return bad(img, "not an ELF file");
    switch (img->data[EI_CLASS]) {
    case ELFCLASS64:
        bits = 64;
        break;
    case ELFCLASS32:
        bits = 32;
        break;
    default:
        return bad(img, "unknown ELF class");
    }
    if (img->data[EI_DATA] != ELFDATA2LSB)
        return bad(img, "big-endian ELF is not an x86 kernel");
    if (bits == 64) {
        Elf64_Ehdr eh;

        if (img->size < sizeof(eh))
            return bad(img, "truncated ELF header");
        memcpy(&eh, img->data, sizeof(eh));
        if (eh.e_machine != EM_X86_64)
            return bad(img, "ELF64 file is not for x86-64");
        if (eh.e_type != ET_EXEC)
            return bad(img, "ELF file is not an executable (ET_EXEC)");
        phoff = eh.e_phoff, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
        info->entry = eh.e_entry;
        if (phentsize != sizeof(Elf64_Phdr))
            return bad(img, "ELF program header size is wrong");
    } else {
        Elf32_Ehdr eh;

        if (img->size < sizeof(eh))
            return bad(img, "truncated ELF header");
        memcpy(&eh, img->data, sizeof(eh));
        if (eh.e_machine != EM_386)
            return bad(img, "ELF32 file is not for i386");
        if (eh.e_type != ET_EXEC)
            return bad(img, "ELF file is not an executable (ET_EXEC)");
        phoff = eh.e_phoff, phentsize = eh.e_phentsize, phnum = eh.e_phnum;
        info->entry = eh.e_entry;
        if (phentsize != sizeof(Elf32_Phdr))
            return bad(img, "ELF program header size is wrong");
    }
    info->bits = bits;
    if (phnum == 0)
        return bad(img, "ELF file has no program headers");
    table = phentsize * phnum; /* both are 16-bit: no overflow */
    if (phoff > img->size || table > img->size - phoff)
        return bad(img, "truncated ELF: program header table extends past the end of the file");
    for (uint64_t i = 0; i < phnum; i++) {
        struct phdr p;
        int err;

        read_phdr(img, bits, phoff + i * phentsize, &p);
        if (p.type != PT_LOAD || p.memsz == 0)
            continue;
        err = load_segment(mem, img, &p);
        if (err)
            return err;
        loaded++;
    }
    if (!loaded)
        return bad(img, "ELF file has no loadable segment");
    return 0;
}
