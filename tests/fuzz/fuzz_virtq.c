/*
 * libFuzzer target for the split virtqueue walker (virtio/virtq.h).
 *
 * Input: flags (1 byte: bit 0 INDIRECT_DESC, bit 1 EVENT_IDX negotiated),
 * queue size (2), desc, avail and used addresses (8 each), then the first
 * bytes of guest RAM (2 MiB, the rest zero): the rings and the buffers.
 *
 * The target pops every chain the rings offer, checks that each buffer it
 * got lies inside guest RAM, fills the device-writable buffers through
 * virtq_elem_write() and returns them, as a device would.
 *
 * Guest RAM is made once; before each input, what the last one wrote goes
 * back to zero: its bytes, and the pages the walker wrote (it reports them
 * through the engine's mem_written, as devices do for the emu engine's
 * decode caches).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtq.h"
#include "vm/vm.h"

#define HDR       27
#define RAM_PAGES (MEM_MIN_SIZE >> 12)

static bool dirty[RAM_PAGES];

/* Called for every write of the walker to guest RAM, inside RAM. */
static void written(struct vm *vm, uint64_t gpa, uint64_t len)
{
    (void)vm;
    for (uint64_t p = gpa >> 12; p < RAM_PAGES && p <= (gpa + len - 1) >> 12; p++)
        dirty[p] = true;
}

static const struct accel_ops engine = {.name = "fuzz", .mem_written = written};

static void check(bool ok, const char *why)
{
    if (!ok) {
        fprintf(stderr, "fuzz_virtq: %s\n", why);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vm vm;
    static struct virtq_elem e;
    static uint8_t fill[4096];
    struct virtq q = {0};
    size_t ram;

    if (size < HDR)
        return 0;
    if (!vm.mem.base) {
        if (mem_init(&vm.mem, MEM_MIN_SIZE))
            abort();
        vm.accel = &engine;
        vm.accel_vm = dirty; /* vm_mem_written calls written() only with one */
    }
    for (unsigned p = 0; p < RAM_PAGES; p++)
        if (dirty[p]) {
            memset(vm.mem.base + p * 4096, 0, 4096);
            dirty[p] = false;
        }
    ram = size - HDR < vm.mem.size ? size - HDR : vm.mem.size;
    memcpy(vm.mem.base, data + HDR, ram);
    if (ram)
        written(&vm, 0, ram);
    q.indirect = data[0] & 1;
    q.event_idx = data[0] & 2;
    memcpy(&q.size, data + 1, 2);
    memcpy(&q.desc, data + 3, 8);
    memcpy(&q.avail, data + 11, 8);
    memcpy(&q.used, data + 19, 8);
    if (virtq_enable(&q, &vm))
        return 0;
    /* A hostile driver may keep offering; a device stops at a broken ring. */
    for (int n = 0; n < 4 * VIRTQ_MAX_SIZE; n++) {
        int r = virtq_pop(&q, &vm, &e);

        check(r == -EINVAL || r == 0 || r == 1, "unexpected return value");
        if (r <= 0)
            break;
        check(e.nr_out + e.nr_in <= VIRTQ_MAX_SEGS, "too many buffers");
        for (unsigned i = 0; i < e.nr_out + e.nr_in; i++)
            check(mem_ptr(&vm.mem, e.seg[i].gpa, e.seg[i].len) == e.seg[i].p,
                  "buffer outside guest RAM");
        for (uint64_t off = 0; off < e.in_len; off += sizeof(fill)) {
            uint64_t k = e.in_len - off < sizeof(fill) ? e.in_len - off : sizeof(fill);

            check(!virtq_elem_write(&e, off, fill, k), "in buffers shorter than in_len");
        }
        check(virtq_elem_write(&e, e.in_len, fill, 1) != 0, "wrote past in_len");
        if (virtq_push(&q, &vm, &e, (uint32_t)e.in_len))
            break;
        virtq_need_irq(&q, &vm);
    }
    return 0;
}
