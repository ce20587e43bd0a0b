#include "pgtable.h"

#include "guest.h"

#define POOL_PAGES 16
#define ENTRIES    512

static uint64_t pool[POOL_PAGES][ENTRIES] __attribute__((aligned(4096)));
static int pool_used;

uint64_t *pgtable_new(void)
{
    if (pool_used == POOL_PAGES) {
        printf("FAIL: page-table pool of %d pages exhausted\n", POOL_PAGES);
        guest_exit(100);
    }
    return pool[pool_used++];
}

static unsigned index_at(uint64_t va, int level)
{
    return (unsigned)(va >> (12 + 9 * (level - 1))) & (ENTRIES - 1);
}

uint64_t *pgtable_entry(uint64_t *pml4, uint64_t va, int level)
{
    uint64_t *table = pml4;

    for (int l = 4; l > level; l--) {
        uint64_t *e = &table[index_at(va, l)];

        if (!(*e & PTE_P)) {
            *e = (uint64_t)pgtable_new() | PTE_P | PTE_RW | PTE_US;
        } else if (*e & PTE_PS) {
            printf("FAIL: mapping %lx: a large page is in the way at level %d\n", va, l);
            guest_exit(100);
        }
        table = (uint64_t *)(*e & PTE_ADDR);
    }
    return &table[index_at(va, level)];
}

void pgtable_map(uint64_t *pml4, uint64_t va, uint64_t pa, uint64_t page_size, uint64_t flags)
{
    if (page_size == PAGE_2M)
        *pgtable_entry(pml4, va, 2) = pa | flags | PTE_PS;
    else
        *pgtable_entry(pml4, va, 1) = pa | flags;
}

void pgtable_identity(uint64_t *pml4, uint64_t size, uint64_t flags)
{
    for (uint64_t a = 0; a < size; a += PAGE_2M)
        pgtable_map(pml4, a, a, PAGE_2M, flags);
}
