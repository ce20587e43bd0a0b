/*
 * Booting through a PC BIOS image (--firmware, or SeaBIOS by default for
 * --disk without --kernel): the image's checks, its copy below 1 MiB, and
 * the register state of a processor coming out of reset.
 */
#include "boot/firmware.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "boot/boot.h"
#include "hw/i440fx.h"
#include "util/log.h"
#include "vm/board.h"

/* The part of the image a PC decodes below 1 MiB too (QEMU's "isa-bios"
 * alias): at most its last 128 KiB, ending at 0xfffff. */
#define LOW_ALIAS_MAX (128ULL << 10)
#define LOW_ALIAS_END 0x100000ULL

/* Descriptor types (SDM Vol. 3A, Table 3-1, 3-2). */
#define TYPE_DATA_RW_ACCESSED 0x3
#define TYPE_CODE_RX_ACCESSED 0xb
#define TYPE_LDT              0x2
#define TYPE_TSS16_BUSY       0x3

int firmware_read(const char *path, uint8_t **out, size_t *size)
{
    uint8_t *data, *rom;
    struct stat st;
    size_t n;
    int err;

    /* A bad size gets its own line before boot_read_file reads anything. */
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
        ((uint64_t)st.st_size > BOARD_ROM_MAX || st.st_size % FIRMWARE_ALIGN)) {
        log_err("--firmware %s: %" PRIu64 " bytes; a BIOS image is a multiple of 64 KiB, at "
                "most 16 MiB",
                path, (uint64_t)st.st_size);
        return -EINVAL;
    }
    err = boot_read_file(path, BOARD_ROM_MAX, &data, &n);
    if (err)
        return err;
    /* Page-aligned: the kvm engine maps it as guest memory. */
    rom = aligned_alloc(4096, n);
    if (!rom) {
        free(data);
        log_err("--firmware %s: out of memory", path);
        return -ENOMEM;
    }
    memcpy(rom, data, n);
    free(data);
    *out = rom;
    *size = n;
    return 0;
}

static struct cpu_segment reset_segment(uint16_t selector, uint64_t base, uint8_t type)
{
    return (struct cpu_segment){
        .selector = selector, .base = base, .limit = 0xffff, .type = type, .s = 1, .present = 1};
}

void firmware_reset_state(struct cpu_state *s)
{
    memset(s, 0, sizeof(*s));
    /* SDM Vol. 3A §9.1.1, Table 9-1: CS 0xf000 with base 0xffff0000, IP
     * 0xfff0, so the first fetch is at 0xfffffff0; CR0 has CD, NW, ET;
     * GDTR and IDTR base 0 limit 0xffff. */
    s->cs = reset_segment(0xf000, 0xffff0000ULL, TYPE_CODE_RX_ACCESSED);
    s->ds = s->es = s->fs = s->gs = s->ss = reset_segment(0, 0, TYPE_DATA_RW_ACCESSED);
    s->tr = (struct cpu_segment){.limit = 0xffff, .type = TYPE_TSS16_BUSY, .present = 1};
    s->ldt = (struct cpu_segment){.limit = 0xffff, .type = TYPE_LDT, .present = 1};
    s->gdt.limit = 0xffff;
    s->idt.limit = 0xffff;
    s->rip = 0xfff0;
    s->rflags = 0x2;
    s->cr0 = 0x60000010ULL;
}

int firmware_load(const struct guest_mem *mem, const uint8_t *rom, size_t size,
                  struct cpu_state *cpu)
{
    size_t low = size < LOW_ALIAS_MAX ? size : LOW_ALIAS_MAX;
    int err = mem_write(mem, LOW_ALIAS_END - low, rom + size - low, low);

    if (err) {
        log_err("firmware: no RAM below 1 MiB for its copy: %s", strerror(-err));
        return err;
    }
    firmware_reset_state(cpu);
    return 0;
}

/* Whether disk a boots before disk b (a before b in the list). */
static bool boots_before(const struct firmware_disk *a, const struct firmware_disk *b)
{
    return a->has_bootindex && (!b->has_bootindex || a->bootindex < b->bootindex);
}

int firmware_boot_order(const struct firmware_disk *disks, int n, char *out, size_t size)
{
    int order[FIRMWARE_MAX_DISKS];
    size_t len = 0;

    if (n < 0 || n > FIRMWARE_MAX_DISKS) {
        log_err("bootorder: %d disks; the firmware boot takes %d at most", n, FIRMWARE_MAX_DISKS);
        return -EINVAL;
    }
    if (!size)
        return -ENOSPC;
    /* Insertion sort, stable: disks without a bootindex keep their order. */
    for (int i = 0; i < n; i++) {
        int j = i;

        for (int k = 0; k < i; k++) {
            if (disks[k].has_bootindex && disks[i].has_bootindex &&
                disks[k].bootindex == disks[i].bootindex) {
                log_err("--disk %s,bootindex=%u: bootindex %u is --disk %s's already",
                        disks[i].name, disks[i].bootindex, disks[i].bootindex, disks[k].name);
                return -EINVAL;
            }
        }
        while (j > 0 && boots_before(&disks[i], &disks[order[j - 1]])) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        unsigned devfn = disks[order[i]].devfn;
        char fn[8] = "";
        int w;

        if (devfn & 7)
            snprintf(fn, sizeof(fn), ",%x", devfn & 7);
        w = snprintf(out + len, size - len, "%s/pci@i0cf8/scsi@%x%s/disk@0,0", i ? "\n" : "",
                     devfn >> 3, fn);
        if (w < 0 || (size_t)w >= size - len)
            return -ENOSPC;
        len += (size_t)w;
    }
    return (int)len + 1;
}
