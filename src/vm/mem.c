#include "vm/mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int mem_init(struct guest_mem *mem, uint64_t size)
{
    uint64_t low = size < MEM_HOLE_START ? size : MEM_HOLE_START;
    void *p;

    memset(mem, 0, sizeof(*mem));
    mem->fd = -1;
    if (size < MEM_MIN_SIZE || size % 4096)
        return -EINVAL;
    mem->fd = memfd_create("vx86-ram", MFD_CLOEXEC);
    if (mem->fd < 0)
        return -errno;
    if (ftruncate(mem->fd, (off_t)size) < 0)
        goto fail;
    /* MAP_NORESERVE: RAM is allocated when the guest touches it, as with any VMM. */
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, mem->fd, 0);
    if (p == MAP_FAILED)
        goto fail;
    mem->base = p;
    mem->size = size;
    mem->regions[0] = (struct mem_region){.gpa = 0, .size = low, .host = p, .fd_offset = 0};
    mem->nr_regions = 1;
    if (size > low) {
        mem->regions[1] = (struct mem_region){
            .gpa = MEM_4G, .size = size - low, .host = mem->base + low, .fd_offset = low};
        mem->nr_regions = 2;
    }
    return 0;
fail:;
    int err = -errno;
    mem_destroy(mem);
    return err;
}

void mem_destroy(struct guest_mem *mem)
{
    if (mem->base)
        munmap(mem->base, mem->size);
    if (mem->fd >= 0)
        close(mem->fd);
    memset(mem, 0, sizeof(*mem));
    mem->fd = -1;
}

void *mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
    for (int i = 0; i < mem->nr_regions; i++) {
        const struct mem_region *r = &mem->regions[i];
        uint64_t off;

        /* gpa - r->gpa cannot wrap once gpa >= r->gpa; comparing lengths, not
         * end addresses, keeps gpa + len from overflowing. */
        if (gpa < r->gpa)
            continue;
        off = gpa - r->gpa;
        if (off > r->size || len > r->size - off)
            continue;
        return r->host + off;
    }
    return NULL;
}

int mem_read(const struct guest_mem *mem, uint64_t gpa, void *buf, uint64_t len)
{
    const void *p = mem_ptr(mem, gpa, len);

    if (!p)
        return -EFAULT;
    memcpy(buf, p, len);
    return 0;
}

int mem_write(const struct guest_mem *mem, uint64_t gpa, const void *buf, uint64_t len)
{
    void *p = mem_ptr(mem, gpa, len);

    if (!p)
        return -EFAULT;
    memcpy(p, buf, len);
    return 0;
}
