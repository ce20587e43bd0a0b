/*
 * 4-level page tables for 64-bit test guests (SDM Vol. 3A §4.5). Table pages
 * come from a static pool and are reached through their physical address, so
 * whatever maps the pool must map it 1:1 (pgtable_identity does).
 */
#ifndef GUEST_PGTABLE_H
#define GUEST_PGTABLE_H

#include <stdint.h>

/* Paging-structure entry bits (SDM Vol. 3A §4.5, Tables 4-15 to 4-20). */
#define PTE_P    (1ull << 0)
#define PTE_RW   (1ull << 1)
#define PTE_US   (1ull << 2)
#define PTE_A    (1ull << 5)
#define PTE_D    (1ull << 6)
#define PTE_PS   (1ull << 7)
#define PTE_ADDR 0x000ffffffffff000ull

#define PAGE_4K (1ull << 12)
#define PAGE_2M (1ull << 21)
#define PAGE_1G (1ull << 30)

/* A new, zeroed table page (any level). Ends the test if the pool is empty. */
uint64_t *pgtable_new(void);

/*
 * The entry that maps va at level (1: PT, 2: PD, 3: PDPT, 4: PML4), creating
 * the tables above it as needed. Entries that point to a table are always
 * P|RW|US, so the leaf alone decides the access rights. Ends the test if a
 * large page is in the way.
 */
uint64_t *pgtable_entry(uint64_t *pml4, uint64_t va, int level);

/* Maps the page of page_size (PAGE_4K or PAGE_2M) at va to pa with flags. */
void pgtable_map(uint64_t *pml4, uint64_t va, uint64_t pa, uint64_t page_size, uint64_t flags);

/* Maps [0, size) 1:1 with 2 MiB pages and flags; size a multiple of 2 MiB. */
void pgtable_identity(uint64_t *pml4, uint64_t size, uint64_t flags);

#endif
