#include "boot/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/acpi.h"
#include "boot/layout.h"
#include "boot/mptable.h"
#include "util/log.h"

int boot_check_not_disk(const char *path)
{
    uint8_t b[0x8006] = {0};
    const char *kind = NULL;
    ssize_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    while (n < (ssize_t)sizeof(b)) {
        ssize_t r = pread(fd, b + n, sizeof(b) - (size_t)n, n);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += r;
    }
    close(fd);
    /* qcow2's magic; the GPT header in LBA 1 (UEFI 2.10 §5.3.2); ISO
     * 9660's volume descriptor in sector 16; an MBR's signature with a
     * boot flag of 0x00 or 0x80 in each partition entry, and no Linux
     * setup header (a bzImage ends its boot sector with 0x55AA too). */
    if (n >= 4 && !memcmp(b, "QFI\xfb", 4))
        kind = "a qcow2 disk image";
    else if (n >= 520 && !memcmp(b + 512, "EFI PART", 8))
        kind = "a disk image with a GPT partition table";
    else if (n >= 0x8006 && !memcmp(b + 0x8001, "CD001", 5))
        kind = "an ISO 9660 image";
    else if (n >= 512 && b[510] == 0x55 && b[511] == 0xaa && memcmp(b + 0x202, "HdrS", 4) &&
             !((b[446] | b[462] | b[478] | b[494]) & 0x7f) && (b[450] | b[466] | b[482] | b[498]))
        kind = "a disk image with an MBR partition table";
    if (!kind)
        return 0;
    log_err("%s: %s, not a kernel: give it with --disk, and leave --kernel out to boot it "
            "through firmware",
            path, kind);
    return -EINVAL;
}

int boot_read_file(const char *path, uint64_t max, uint8_t **out, size_t *size)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t done = 0;
    int fd, err;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        err = -errno;
        log_err("%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        log_err("%s: not a regular file", path);
        err = -EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        log_err("%s: %" PRIu64 " bytes do not fit in %" PRIu64 " MiB of guest RAM", path,
                (uint64_t)st.st_size, max >> 20);
        err = -EFBIG;
        goto out;
    }
    if (st.st_size == 0) {
        log_err("%s: empty file", path);
        err = -EINVAL;
        goto out;
    }
    buf = malloc((size_t)st.st_size);
    if (!buf) {
        err = -ENOMEM;
        log_err("%s: out of memory", path);
        goto out;
    }
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? -errno : -EIO;
            log_err("%s: read failed: %s", path, n < 0 ? strerror(errno) : "file shrank");
            goto out;
        }
        done += (size_t)n;
    }
    *out = buf;
    *size = done;
    buf = NULL;
    err = 0;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return err;
}

int boot_check_ram(const struct guest_mem *mem, const struct boot_image *img, uint64_t gpa,
                   uint64_t len, uint64_t floor, const char *what)
{
    if (!mem_ptr(mem, gpa, len)) {
        log_err("%s: %s at 0x%" PRIx64 " (%" PRIu64 " bytes) lies outside guest RAM", img->name,
                what, gpa, len);
        return -EINVAL;
    }
    if (len && gpa < floor) {
        log_err("%s: %s at 0x%" PRIx64 " overlaps vx86's boot area below 0x%" PRIx64, img->name,
                what, gpa, floor);
        return -EINVAL;
    }
    return 0;
}

int boot_check_range(const struct guest_mem *mem, const struct boot_image *img, uint64_t gpa,
                     uint64_t len, const char *what)
{
    return boot_check_ram(mem, img, gpa, len, BOOT_AREA_END, what);
}

int boot_write_cmdline(const struct guest_mem *mem, const struct boot_image *img)
{
    size_t len = strlen(img->cmdline);

    if (len > BOOT_CMDLINE_MAX) {
        log_err("--cmdline: %zu bytes exceed the limit of %d", len, BOOT_CMDLINE_MAX);
        return -EINVAL;
    }
    return mem_write(mem, BOOT_CMDLINE, img->cmdline, len + 1);
}

static int load_flat(const struct guest_mem *mem, const struct boot_image *img,
                     struct cpu_state *cpu)
{
    int err;

    if (img->size > FLAT_MAX_SIZE) {
        log_err("%s: a flat binary of %zu bytes exceeds the %llu KiB below the VGA window",
                img->name, img->size, FLAT_MAX_SIZE >> 10);
        return -EINVAL;
    }
    err = boot_check_range(mem, img, FLAT_LOAD_ADDR, img->size, "flat binary");
    if (err)
        return err;
    mem_write(mem, FLAT_LOAD_ADDR, img->data, img->size);
    cpu_state_real(cpu, FLAT_SEGMENT, 0, 0);
    err = boot_write_gdt(mem);
    return err ? err : bios_state_write(mem, cpu);
}

static int load_elf64(const struct guest_mem *mem, const struct boot_image *img,
                      struct cpu_state *cpu)
{
    struct elf_info info;
    int err = elf_load(mem, img, BOOT_AREA_END, &info);

    if (err)
        return err;
    if (info.bits != 64) {
        log_err("%s: a 32-bit ELF needs a multiboot header to say how to enter it", img->name);
        return -EINVAL;
    }
    if (info.entry >= MEM_4G) {
        log_err("%s: entry point 0x%" PRIx64 " is outside the identity-mapped first 4 GiB",
                img->name, info.entry);
        return -EINVAL;
    }
    err = boot_write_cmdline(mem, img);
    if (err)
        return err;
    err = cpu_state_long64(mem, cpu, info.entry);
    if (err)
        return err;
    cpu->rdi = BOOT_CMDLINE;
    cpu->rsi = mem->size;
    cpu->rsp = BOOT_STACK_TOP;
    return 0;
}

int boot_load_image(const struct guest_mem *mem, const struct boot_image *img,
                    struct cpu_state *cpu)
{
    int mb = multiboot_detect(img);

    memset(cpu, 0, sizeof(*cpu));
    if (mb < 0)
        return mb;
    if (!mb && linux_detect(img))
        return linux_load(mem, img, cpu);
    if (img->initrd) {
        log_err("%s: not a Linux kernel, so --initrd cannot go with it (a bzImage or a vmlinux "
                "with a PVH note can)",
                img->name);
        return -EINVAL;
    }
    if (mb) {
        int err = multiboot_load(mem, img, cpu);

        return err ? err : bios_state_write(mem, cpu);
    }
    if (elf_is_elf(img->data, img->size))
        return load_elf64(mem, img, cpu);
    return load_flat(mem, img, cpu);
}

int boot_write_tables(const struct guest_mem *mem, int cpus, const struct acpi_mmio_dev *devs,
                      int ndevs)
{
    int err = acpi_build(mem, cpus, devs, ndevs);

    if (err) {
        log_err("cannot write the ACPI tables: %s", strerror(-err));
        return err;
    }
    err = mptable_build(mem, cpus);
    if (err)
        log_err("cannot write the MP tables: %s", strerror(-err));
    return err;
}
