#include "virtio/virtq.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "vm/vm.h"

/* VIRTIO 1.2 §2.7.5 (descriptor flags), §2.7.6 and §2.7.8 (ring flags). */
#define VIRTQ_DESC_F_NEXT          1
#define VIRTQ_DESC_F_WRITE         2
#define VIRTQ_DESC_F_INDIRECT      4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

/* Ring sizes in bytes for a queue of n entries, event fields included. */
static uint64_t desc_bytes(uint16_t n)
{
    return 16ULL * n;
}

static uint64_t avail_bytes(uint16_t n)
{
    return 6 + 2ULL * n;
}

static uint64_t used_bytes(uint16_t n)
{
    return 6 + 8ULL * n;
}

void virtq_reset(struct virtq *q)
{
    *q = (struct virtq){0};
}

static int fail(struct virtq *q, const char *why)
{
    q->why = why;
    return -EINVAL;
}

int virtq_enable(struct virtq *q, struct vm *vm)
{
    if (!q->size || (q->size & (q->size - 1)) || q->size > VIRTQ_MAX_SIZE)
        return fail(q, "queue size is not a power of two up to 256");
    if ((q->desc & 15) || (q->avail & 1) || (q->used & 3))
        return fail(q, "ring address misaligned");
    if (!mem_ptr(&vm->mem, q->desc, desc_bytes(q->size)) ||
        !mem_ptr(&vm->mem, q->avail, avail_bytes(q->size)) ||
        !mem_ptr(&vm->mem, q->used, used_bytes(q->size)))
        return fail(q, "ring outside guest RAM");
    q->last_avail = q->used_idx = q->signalled_used = 0;
    q->ready = true;
    return 0;
}

/* The 16-bit ring field at gpa (checked 2-aligned and in RAM at enable). */
static _Atomic uint16_t *field16(struct vm *vm, uint64_t gpa)
{
    return mem_ptr(&vm->mem, gpa, 2);
}

static int load16(struct virtq *q, struct vm *vm, uint64_t gpa, uint16_t *v)
{
    _Atomic uint16_t *p = field16(vm, gpa);

    if (!p)
        return fail(q, "ring outside guest RAM");
    *v = atomic_load_explicit(p, memory_order_acquire);
    return 0;
}

static int store16(struct virtq *q, struct vm *vm, uint64_t gpa, uint16_t v)
{
    _Atomic uint16_t *p = field16(vm, gpa);

    if (!p)
        return fail(q, "ring outside guest RAM");
    atomic_store_explicit(p, v, memory_order_release);
    vm_mem_written(vm, gpa, 2);
    return 0;
}

static int add_seg(struct virtq *q, struct vm *vm, struct virtq_elem *e, const struct virtq_desc *d)
{
    struct virtq_seg *s;
    unsigned n = e->nr_out + e->nr_in;
    bool write = d->flags & VIRTQ_DESC_F_WRITE;

    if (n == VIRTQ_MAX_SEGS)
        return fail(q, "descriptor chain longer than 256 buffers");
    if (!write && e->nr_in)
        return fail(q, "device-readable buffer after a device-writable one");
    s = &e->seg[n];
    s->p = mem_ptr(&vm->mem, d->addr, d->len);
    if (!s->p)
        return fail(q, "buffer outside guest RAM");
    s->gpa = d->addr;
    s->len = d->len;
    /* Lengths are 32-bit and there are at most 256: no overflow in 64 bits. */
    if (write) {
        e->nr_in++;
        e->in_len += d->len;
    } else {
        e->nr_out++;
        e->out_len += d->len;
    }
    return 0;
}

/* Walks the chain from head, following one indirect table at most (§2.7.5.3). */
static int walk(struct virtq *q, struct vm *vm, uint16_t head, struct virtq_elem *e)
{
    uint64_t table = q->desc;
    uint32_t table_size = q->size, seen = 0, i = head;
    bool in_indirect = false;
    struct virtq_desc d;

    e->head = head;
    e->nr_out = e->nr_in = 0;
    e->out_len = e->in_len = 0;
    for (;;) {
        if (i >= table_size)
            return fail(q, "descriptor index out of range");
        if (++seen > table_size)
            return fail(q, "descriptor loop");
        if (mem_read(&vm->mem, table + 16ULL * i, &d, sizeof(d)))
            return fail(q, "descriptor table outside guest RAM");
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (!q->indirect)
                return fail(q, "indirect descriptor without the feature");
            if (in_indirect)
                return fail(q, "nested indirect descriptor table");
            if (d.flags & VIRTQ_DESC_F_NEXT)
                return fail(q, "indirect descriptor with NEXT set");
            if (!d.len || (d.len & 15) || d.len / 16 > VIRTQ_MAX_SEGS)
                return fail(q, "indirect table length not 16 to 4096 in steps of 16");
            if (!mem_ptr(&vm->mem, d.addr, d.len))
                return fail(q, "indirect table outside guest RAM");
            table = d.addr;
            table_size = d.len / 16;
            in_indirect = true;
            seen = 0;
            i = 0;
            continue;
        }
        if (add_seg(q, vm, e, &d))
            return -EINVAL;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        i = d.next;
    }
}

int virtq_pop(struct virtq *q, struct vm *vm, struct virtq_elem *e)
{
    uint16_t avail_idx, head;
    int err;

    if (!q->ready)
        return 0;
    err = load16(q, vm, q->avail + 2, &avail_idx);
    if (err)
        return err;
    if (avail_idx == q->last_avail)
        return 0;
    if ((uint16_t)(avail_idx - q->last_avail) > q->size)
        return fail(q, "available index ran more than a queue ahead");
    /* The acquire load of idx orders the ring entry and descriptor reads. */
    err = load16(q, vm, q->avail + 4 + 2ULL * (q->last_avail & (q->size - 1)), &head);
    if (err)
        return err;
    err = walk(q, vm, head, e);
    if (err)
        return err;
    q->last_avail++;
    if (q->event_idx) {
        if (store16(q, vm, q->used + 4 + 8ULL * q->size, q->last_avail))
            return -EINVAL;
        /* avail_event before the next read of avail idx, or a driver that
         * read the old avail_event skips a notification we wait for. */
        atomic_thread_fence(memory_order_seq_cst);
    }
    return 1;
}

/* Marks the first len bytes of e's in buffers as written by the device. */
static void mark_written(struct vm *vm, const struct virtq_elem *e, uint64_t len)
{
    for (unsigned i = e->nr_out; i < e->nr_out + e->nr_in && len; i++) {
        uint64_t n = e->seg[i].len < len ? e->seg[i].len : len;

        vm_mem_written(vm, e->seg[i].gpa, n);
        len -= n;
    }
}

int virtq_push(struct virtq *q, struct vm *vm, const struct virtq_elem *e, uint32_t len)
{
    uint64_t slot = q->used + 4 + 8ULL * (q->used_idx & (q->size - 1));
    uint32_t elem[2] = {e->head, len};

    if (len > e->in_len)
        len = elem[1] = (uint32_t)e->in_len;
    mark_written(vm, e, len);
    if (mem_write(&vm->mem, slot, elem, sizeof(elem))) {
        q->why = "used ring outside guest RAM";
        return -EFAULT;
    }
    vm_mem_written(vm, slot, sizeof(elem));
    q->used_idx++;
    /* Release: the element and the buffers are visible before the index. */
    if (store16(q, vm, q->used + 2, q->used_idx))
        return -EFAULT;
    return 0;
}

bool virtq_need_irq(struct virtq *q, struct vm *vm)
{
    uint16_t old = q->signalled_used, v;

    /* The used index store must be visible before the driver's
     * used_event or flags are read (§2.7.10; Linux's virtio_mb). */
    atomic_thread_fence(memory_order_seq_cst);
    q->signalled_used = q->used_idx;
    if (q->event_idx) {
        if (load16(q, vm, q->avail + 4 + 2ULL * q->size, &v))
            return true;
        /* vring_need_event() of the spec, §2.7.10.1. */
        return (uint16_t)(q->used_idx - v - 1) < (uint16_t)(q->used_idx - old);
    }
    if (load16(q, vm, q->avail, &v))
        return true;
    return !(v & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

/* Copies between buf and the segments [first, first + n) of e at offset off. */
static int copy(const struct virtq_elem *e, unsigned first, unsigned n, uint64_t off, void *buf,
                uint64_t len, bool to_guest)
{
    uint8_t *b = buf;

    for (unsigned i = first; i < first + n && len; i++) {
        const struct virtq_seg *s = &e->seg[i];
        uint64_t k;

        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        k = s->len - off < len ? s->len - off : len;
        if (to_guest)
            memcpy(s->p + off, b, k);
        else
            memcpy(b, s->p + off, k);
        b += k;
        len -= k;
        off = 0;
    }
    return len ? -EINVAL : 0;
}

int virtq_elem_read(const struct virtq_elem *e, uint64_t off, void *buf, uint64_t len)
{
    return copy(e, 0, e->nr_out, off, buf, len, false);
}

int virtq_elem_write(const struct virtq_elem *e, uint64_t off, const void *buf, uint64_t len)
{
    return copy(e, e->nr_out, e->nr_in, off, (void *)buf, len, true);
}
