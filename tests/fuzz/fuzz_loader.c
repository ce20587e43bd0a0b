/*
 * libFuzzer target: arbitrary bytes as a kernel image for boot_load_image()
 * on 16 MiB of guest RAM. The last two bytes give the length (13 bits) of a
 * command line made of the input's bytes, so that its limit is reached too.
 *
 * What would be a bug: a read outside the image (ASan: the image is exactly
 * size bytes), a write outside guest RAM (inaccessible pages are mapped on
 * both sides of it where the address space allows), a result other than 0
 * or -EINVAL, or a successful load with an entry point the boot vCPU cannot
 * reach (at or above 4 GiB).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "boot/boot.h"

#define RAM_SIZE     (16ULL << 20)
#define GUARD        (1ULL << 20)
#define CMDLINE_MASK 0x1fff

static struct guest_mem mem;
static char cmdline[CMDLINE_MASK + 1];

static void guard(void *at)
{
    void *p = mmap(at, GUARD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

    /* A kernel without MAP_FIXED_NOREPLACE takes it as a hint. */
    if (p != MAP_FAILED && p != at)
        munmap(p, GUARD);
}

static void init(void)
{
    if (mem_init(&mem, RAM_SIZE)) {
        fprintf(stderr, "fuzz_loader: cannot create guest RAM\n");
        abort();
    }
    guard(mem.base - GUARD);
    guard(mem.base + RAM_SIZE);
}

static const char *make_cmdline(const uint8_t *data, size_t size)
{
    size_t len = 0;

    if (size >= 2)
        len = (size_t)(data[size - 2] | data[size - 1] << 8) & CMDLINE_MASK;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i % size];

        cmdline[i] = c ? (char)c : ' ';
    }
    cmdline[len] = 0;
    return cmdline;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct boot_image img = {.name = "fuzz", .data = data, .size = size};
    struct cpu_state cpu;
    int err;

    if (!mem.base)
        init();
    img.cmdline = make_cmdline(data, size);
    err = boot_load_image(&mem, &img, &cpu);
    if (err != 0 && err != -EINVAL) {
        fprintf(stderr, "fuzz_loader: boot_load_image returned %d\n", err);
        abort();
    }
    if (!err && (cpu.rip >= MEM_4G || !cpu.cs.present)) {
        fprintf(stderr, "fuzz_loader: loaded, but RIP is 0x%llx\n", (unsigned long long)cpu.rip);
        abort();
    }
    return 0;
}
