/* The translator's own state, shared by cache.c and translate.c. */
#ifndef VX86_ACCEL_EMU_JIT_INTERNAL_H
#define VX86_ACCEL_EMU_JIT_INTERNAL_H

#include <stdio.h>

#include "accel/emu/jit/emit.h"
#include "accel/emu/jit/jit.h"

/* Translate a block once the block loop has run it this often (QEMU
 * translates at once; here a block already runs fast in the interpreter,
 * and most of a boot's blocks run a few times only). */
#define JIT_HOT_RUNS 16

/*
 * The jump cache: translations by guest RIP, for exits whose target is not
 * in the block's page (returns, indirect branches, calls to other pages).
 * An entry holds while ctx equals cpu->jit_ctx, which emu_jit_run sets from
 * map_epoch and the CPL: no mapping of code changed since it was made; or,
 * for a block on a global page, cpu->jit_ctx_g, from global_epoch: no
 * invalidation that drops global entries since (kernel code stays across
 * the CR3 writes of context switches, as the TLB's global entries do).
 * 2^16 entries (4 MiB): at 2^12, bench/user's kernel and processes took
 * each other's entries 5.6 million times a run (1.1 million at 2^16).
 */
#define JC_BITS 16

struct jc_entry {
    _Alignas(64) uint64_t rip;
    uint64_t ctx;
    const void *code;        /* a translation made for rip at ctx's CPL */
    struct emu_block *block; /* whose translation code is (it may have a newer one) */
    /* The block's key, page and generation, and whether it runs into the
     * next page (host2): tested without reading the block, whose cache
     * miss was most of emu_jit_cached's time. */
    uint64_t key;
    uint32_t page, gen;
    bool across;
};
#define JC_ENTRY_SHIFT 6 /* one cache line each */
_Static_assert(sizeof(struct jc_entry) == 1u << JC_ENTRY_SHIFT, "jc_entry: one cache line");

static inline unsigned jc_index(uint64_t rip)
{
    return (unsigned)((rip ^ (rip >> 12)) & ((1u << JC_BITS) - 1));
}

struct emu_jit {
    struct jc_entry jc[1u << JC_BITS];
    uint8_t *rw, *rx;    /* the two mappings of the code cache */
    const uint8_t *exit; /* the exit trampoline (in rx) */
    size_t start, used;  /* first block's offset, bytes in use */
    uint64_t flushes;    /* how often the cache was emptied */
    /* Offsets into every translation (its entry tests have one length):
     * link_entry past the page's generation test, for links from a block of
     * the same page; c_entry past the test of kicked and wake too, for
     * emu_jit_run, which tests the generation itself. */
    size_t link_entry, c_entry;
    /* Flags parked across a link (tr_exit_parked, park_entry in
     * translate.c): the bytes from a parking site's first rel32 to its
     * second, and from a block's park entry to its variant past the
     * generation test. The same for every block. */
    size_t park_gap, park_skip;
    bool eager;          /* cfg.jit_eager or VX86_JIT_EAGER: translate at the first run */
    FILE *perf_map;      /* VX86_JIT_PERF_MAP: perf's /tmp/perf-PID.map, or NULL */
    struct tr *tr;       /* translate.c's working state, made at the first translation */
};

/* Set in a link site's address (emu_jit_run's result) when the target must
 * be entered at its full entry: the site's block ran an instruction of the
 * generic groups, which may serialize (see tr_link_site). */
#define JIT_SITE_FULL (1ull << 63)
/* Set when the site is a parking one (tr_exit_parked): the guest's six
 * status flags are an image in AX there, and the site park_gap bytes
 * before it may go to the target's park entry instead. */
#define JIT_SITE_PARK (1ull << 62)

static inline uint64_t jit_ctx(const struct emu_cpu *cpu)
{
    return cpu->map_epoch << 3 | (unsigned)cpu->cpl;
}

static inline uint64_t jit_ctx_global(const struct emu_cpu *cpu)
{
    return cpu->global_epoch << 3 | 4 | (unsigned)cpu->cpl;
}

/* emu_code_written for translated code, which cannot call an inline. */
void emu_jit_code_written(struct emu_cpu *cpu, const uint8_t *p, unsigned len);

/* For translated code at a block's end that the jump cache did not settle
 * inline (after an instruction of the generic groups, which may change the
 * mode, the mappings or the events due; or a jump-cache entry made under
 * an older map_epoch): the translation to go on with at cpu->rip, or NULL
 * to leave for the block loop. The decisions are the block loop's (its
 * loop test with the budget left, emu_events_due, find's jump cache), so
 * that the block loop regains control where it would have. */
const void *emu_jit_next(struct emu_cpu *cpu);

#endif
