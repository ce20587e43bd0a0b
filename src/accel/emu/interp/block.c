/*
 * Blocks of pre-decoded straight-line code, cached per vCPU by the host
 * address of their first byte and the decoder mode. A block lies in one
 * guest page and ends at a branch, at an instruction without a handler of
 * its own (which runs through the generic groups from the block's copy of
 * its decode) unless emu_uop_generic_continues says it may go on after it
 * (STI: for one instruction), at the page's end, or after BLOCK_MAX
 * instructions. It is
 * valid while its page's generation (struct emu_vm) is unchanged, so a
 * store to the page, by any vCPU, retires it.
 *
 * Blocks live in an arena that is emptied as a whole when full: blocks are
 * cheap to rebuild, and nothing points at one between two blocks.
 */
#include <sys/mman.h>

#include "accel/emu/jit/jit.h"

#define HASH_BITS   20 /* table entries (8 MiB): a Linux boot runs ~100k blocks */
#define ARENA_BYTES (64u << 20)

struct emu_block_cache {
    struct emu_block *table[1u << HASH_BITS];
    uint8_t *arena;
    size_t used;
};

/* Instructions without a handler of their own in one block, at most: the
 * last of them ends it. */
#define GENERIC_MAX 8

/* The most a block can take of the arena: its uops and generic decodes. */
#define BLOCK_BYTES                                                                                \
    (sizeof(struct emu_block) + BLOCK_MAX * sizeof(struct emu_uop) +                               \
     GENERIC_MAX * sizeof(struct emu_decoded) + 16)

int emu_blocks_init(struct emu_cpu *cpu)
{
    struct emu_block_cache *c = calloc(1, sizeof(*c));

    if (!c)
        return -1;
    /* Reserved, not committed: only the pages blocks use cost memory. */
    c->arena = mmap(NULL, ARENA_BYTES, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (c->arena == MAP_FAILED) {
        free(c);
        return -1;
    }
    cpu->blocks = c;
    return 0;
}

void emu_blocks_free(struct emu_cpu *cpu)
{
    if (!cpu->blocks)
        return;
    munmap(cpu->blocks->arena, ARENA_BYTES);
    free(cpu->blocks);
    cpu->blocks = NULL;
}

static void flush(struct emu_cpu *cpu)
{
    cpu->stats.block_flushes++;
    memset(cpu->blocks->table, 0, sizeof(cpu->blocks->table));
    cpu->blocks->used = 0;
    cpu->map_epoch++; /* no link may lead into the old blocks */
    cpu->global_epoch++;
    emu_jit_flush(cpu); /* translations point into the arena */
}

/* The instruction has no handler: run its decode through exec.c's groups. */
void uop_generic(struct emu_cpu *cpu, const struct emu_uop *u)
{
    struct emu_decoded *d = (struct emu_decoded *)(uintptr_t)u->imm;

    cpu->decoded = d;
    cpu->next_rip = cpu->rip;
    emu_exec_decoded(cpu);
}

/* The host address of the page after the one CS:RIP is in, translated
 * for fetch, or NULL (no fault raised): not RAM, or no translation. */
static const uint8_t *next_page(struct emu_cpu *cpu, const uint8_t *host)
{
    uint64_t lin = (cpu->rip + 4096 - ((uintptr_t)(host - cpu->evm->base) & 0xfff)) &
                   (cpu->code_bits == 64 ? ~0ULL : 0xffffffffULL);

    return emu_fetch_host_next(cpu, lin);
}

/* Decodes from host (the block's first byte, lin & 0xfff into its page) into
 * a new block; NULL when not even the first instruction decodes (emu_step
 * then raises what it must). An instruction that runs into the next page
 * is a block of its own, decoded from both pages (host2) and valid while
 * the next linear page translates to the same RAM and neither page is
 * written (emu_block_across_ok); the interpreter does not link to it. */
static struct emu_block *build(struct emu_cpu *cpu, const uint8_t *host, uint64_t key,
                               uint64_t page)
{
    struct emu_block_cache *c = cpu->blocks;
    unsigned off = (unsigned)((uintptr_t)(host - cpu->evm->base) & 0xfff), n = 0, ng = 0;
    const uint8_t *page_start = host - off, *host2 = NULL;
    struct emu_decoded dec[GENERIC_MAX], *d;
    struct emu_block *b;
    uint8_t across[ZYDIS_MAX_INSTRUCTION_LENGTH];
    int sti = -1; /* the STI whose next instruction is being decoded */

    cpu->stats.blocks_built++;
    if (c->used + BLOCK_BYTES > ARENA_BYTES)
        flush(cpu);
    b = (struct emu_block *)(c->arena + c->used);
    b->gen = 0;
    b->gen2 = 0;
    b->page2 = 0;
    while (n < BLOCK_MAX) {
        struct emu_uop *u = &b->uops[n];
        ZydisDecodedInstruction insn;
        ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
        unsigned avail =
            4096 - off < ZYDIS_MAX_INSTRUCTION_LENGTH ? 4096 - off : ZYDIS_MAX_INSTRUCTION_LENGTH;
        const uint8_t *from = page_start + off;
        enum uop_kind kind;
        uint32_t gen;

        if (!avail)
            break;
        /* The generation before the first instruction is the block's: a
         * store to a line decoded since moves it, and the block is not
         * trusted again. */
        gen = emu_code_watch(cpu, page, off, avail);
        if (!n)
            b->gen = gen;
        /* Fails for an instruction running into the next page, too. */
        if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(emu_decoder(cpu), from, avail, &insn, ops))) {
            if (n || avail == ZYDIS_MAX_INSTRUCTION_LENGTH || !(host2 = next_page(cpu, host)))
                break;
            b->page2 = (uint32_t)emu_code_page(cpu, host2);
            b->gen2 = emu_code_watch(cpu, b->page2, 0, ZYDIS_MAX_INSTRUCTION_LENGTH - avail);
            memcpy(across, from, avail);
            memcpy(across + avail, host2, ZYDIS_MAX_INSTRUCTION_LENGTH - avail);
            if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(emu_decoder(cpu), across, sizeof(across),
                                                     &insn, ops))) {
                host2 = NULL;
                break;
            }
        }
        kind = emu_uop_compile(&insn, ops, cpu->code_bits, u);
        /* STI's next instruction ends the block: with it there, STI needs
         * no interrupt shadow (uop_sti). Not a REP string instruction,
         * which may stop between iterations: the block ends at STI. (An
         * instruction into the next page only ever starts a block.) */
        if (sti >= 0 && (insn.attributes &
                         (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE | ZYDIS_ATTRIB_HAS_REPNE)))
            break;
        if (sti >= 0)
            b->uops[sti].fn = uop_sti;
        u->len = insn.length;
        off += insn.length;
        n++;
        if (kind == UOP_GENERIC) {
            dec[ng].insn = insn;
            memcpy(dec[ng].ops, ops, sizeof(dec[ng].ops));
            dec[ng].fpu_len = 0;
            u->fn = uop_generic;
            u->imm = ng++; /* its decode's index until they are placed */
            if (sti < 0 && insn.mnemonic == ZYDIS_MNEMONIC_STI && ng < GENERIC_MAX) {
                sti = (int)n - 1;
                continue;
            }
            if (ng == GENERIC_MAX || !emu_uop_generic_continues(&insn, ops))
                break;
        }
        if (kind == UOP_BRANCH || host2 || sti >= 0)
            break;
    }
    if (!n)
        return NULL;
    b->key = key;
    b->page = (uint32_t)page;
    b->host2 = host2;
    b->count = (uint16_t)n;
    b->linkable = b->uops[n - 1].fn != uop_generic && !host2;
    b->next_link = 0;
    memset(b->link, 0, sizeof(b->link));
    b->rip_mask = cpu->code_bits == 64 ? ~0ULL : 0xffffffffULL;
    b->jit = NULL;
    b->jit_park = 0;
    b->runs = 0;
    /* The decodes go after the uops. */
    d = (struct emu_decoded *)(((uintptr_t)&b->uops[n] + 15) & ~(uintptr_t)15);
    memcpy(d, dec, ng * sizeof(*d));
    for (unsigned i = 0; i < n; i++)
        if (b->uops[i].fn == uop_generic)
            b->uops[i].imm = (uintptr_t)&d[b->uops[i].imm];
    c->used = ((size_t)((uint8_t *)&d[ng] - c->arena) + 15) & ~(size_t)15;
    return b;
}

bool emu_block_across_ok(struct emu_cpu *cpu, const struct emu_block *b, uint64_t rip)
{
    return !b->host2 || (emu_fetch_host_next(cpu, ((rip | 0xfff) + 1) & b->rip_mask) ==
                             b->host2 &&
                         b->gen2 == emu_code_gen(cpu, b->page2));
}

/* The block at CS:RIP, built if need be; NULL when the instruction there
 * must go through emu_step (16-bit code, a CS that is not flat,
 * code outside RAM, an instruction across a page into one that is not RAM
 * or does not translate). Raises #PF. */
static struct emu_block *lookup(struct emu_cpu *cpu)
{
    struct emu_block_cache *c = cpu->blocks;
    const struct cpu_segment *cs = &cpu->seg[SEG_CS];
    struct emu_block **slot, *b;
    uint64_t lin, key, page;
    uint8_t *host;
    uint32_t gen;

    if (cpu->code_bits == 64)
        lin = cpu->rip;
    else if (cpu->code_bits == 32 && cs->base == 0 && cs->limit == 0xffffffff)
        lin = cpu->rip;
    else
        return NULL;
    cpu->insn_rip = cpu->rip; /* a fault on the fetch is this instruction's */
    host = emu_fetch_host(cpu, lin);
    if (!host)
        return NULL;
    cpu->stats.block_lookups++;
    key = emu_code_key(cpu, host);
    page = emu_code_page(cpu, host);
    gen = emu_code_gen(cpu, page);
    slot = &c->table[((uintptr_t)host * 0x9e3779b97f4a7c15ULL) >> (64 - HASH_BITS)];
    b = *slot;
    if (b && b->key == key && b->gen == gen && emu_block_across_ok(cpu, b, cpu->rip))
        return b;
    b = build(cpu, host, key, page);
    *slot = b;
    return b;
}

/* A store to a page holding decoded code ends the block: the rest of it
 * may have been overwritten. */
unsigned emu_block_run(struct emu_cpu *cpu, const struct emu_block *b, unsigned first)
{
    const struct emu_uop *u = b->uops + first, *end = b->uops + b->count;

    cpu->code_changed = false;
    for (; u < end; u++) {
        uint64_t next = (cpu->rip + u->len) & b->rip_mask;

        cpu->insn_rip = cpu->rip;
        cpu->rip = next;
        u->fn(cpu, u);
        /* A REP string instruction left to be resumed sets RIP back. */
        if (__builtin_expect(cpu->code_changed || cpu->rip != next, 0))
            return (unsigned)(u - b->uops) + 1 - first;
    }
    return b->count - first;
}

/* Runs b from its start; returns how many instructions ran. After MOV SS or
 * STI (intr_shadow) only the first runs, so a pending interrupt is taken
 * right after it, as on hardware. */
static unsigned run_block(struct emu_cpu *cpu, const struct emu_block *b)
{
    if (cpu->intr_shadow) {
        const struct emu_uop *u = b->uops;

        /* One instruction: interrupts are due after it. */
        cpu->intr_shadow = false;
        cpu->code_changed = false;
        cpu->insn_rip = cpu->rip;
        cpu->rip = (cpu->rip + u->len) & b->rip_mask;
        u->fn(cpu, u);
        return 1;
    }
    return emu_block_run(cpu, b, 0);
}

/* A link holds under the map_epoch and at the CPL it was made at: the
 * fetch's privilege checks were made at that CPL. */
static uint64_t link_epoch(const struct emu_cpu *cpu)
{
    return cpu->map_epoch << 2 | (unsigned)cpu->cpl;
}

/* The block linked from prev at RIP, if the link still holds. */
static struct emu_block *follow(struct emu_cpu *cpu, const struct emu_block *prev)
{
    for (int i = 0; i < 2; i++) {
        const struct block_link *l = &prev->link[i];

        if (l->rip == cpu->rip && l->epoch == link_epoch(cpu) && l->to)
            return l->to->gen == emu_code_gen(cpu, l->to->page) ? l->to : NULL;
    }
    return NULL;
}

static void link(struct emu_cpu *cpu, struct emu_block *prev, struct emu_block *b)
{
    if (b->host2)
        return; /* follow() does not check the next page */
    prev->link[prev->next_link] = (struct block_link){cpu->rip, link_epoch(cpu), b};
    prev->next_link ^= 1;
}

/* b's translation for this RIP and CPL, made if b is hot enough; NULL when
 * the interpreter is to run it. *flushed: the caches were emptied to make
 * room (b is gone). */
static void *translation(struct emu_cpu *cpu, struct emu_block *b, bool *flushed)
{
    *flushed = false;
    if (cpu->intr_shadow)
        return NULL;
    if (b->jit && b->jit_rip == cpu->rip && b->jit_cpl == cpu->cpl)
        return b->jit;
    if (b->runs == EMU_JIT_NEVER)
        return NULL;
    if (b->runs < emu_jit_threshold(cpu)) {
        b->runs++;
        return NULL;
    }
    if (!emu_jit_translate(cpu, b)) {
        flush(cpu);
        *flushed = true;
        return NULL;
    }
    if (b->jit)
        cpu->stats.jit_translations++;
    return b->jit;
}

/* Runs code, b's translation; returns how many instructions ran. *site: a
 * link site to point at the next block, as emu_jit_run. */
static unsigned run_translated(struct emu_cpu *cpu, const struct emu_block *b, const void *code,
                               unsigned budget, void **site)
{
    int32_t start = (int32_t)(budget < INT32_MAX ? budget : INT32_MAX);

    cpu->stats.jit_entries++;
    cpu->jit_budget = start;
    cpu->code_changed = false;
    *site = emu_jit_run(cpu, b, code);
    return (unsigned)(start - cpu->jit_budget);
}

/* The translation to run at CS:RIP, if any: *bp gets its block, else the
 * block for the interpreter (or NULL: emu_step). Either runs whole, however
 * little of the pass's budget is left. */
static const void *find(struct emu_cpu *cpu, struct emu_block *prev, struct emu_block **bp)
{
    struct emu_block *b;
    bool flushed;
    const void *code;

    /* A block translated for this RIP and context: no TLB walk or hash. */
    code = cpu->jit && !cpu->intr_shadow ? emu_jit_cached(cpu, bp) : NULL;
    if (code) {
        cpu->stats.jit_cache_hits++;
        return code;
    }
    b = prev ? follow(cpu, prev) : NULL;
    cpu->fetch_global = false; /* unknown: lookup's fetch tells */
    if (!b) {
        uint64_t epoch = cpu->map_epoch;

        b = lookup(cpu);
        /* A lookup that flushed the cache has freed prev, too. */
        if (b && prev && cpu->map_epoch == epoch)
            link(cpu, prev, b);
    }
    *bp = b;
    if (!b || !cpu->jit)
        return NULL;
    code = translation(cpu, b, &flushed);
    if (flushed)
        *bp = lookup(cpu);
    return code;
}

unsigned emu_run_blocks(struct emu_cpu *cpu, unsigned budget)
{
    struct emu_block *prev = NULL, *b;
    unsigned n = 0, ran;
    const void *code;
    void *site = NULL;
    uint64_t site_epoch = 0;

    while (n < budget && !cpu->halted && !cpu->triple_fault) {
        if (__builtin_expect(emu_debug_on(cpu), 0)) {
            emu_debug_step(cpu);
            n++;
            cpu->stats.insns++;
            prev = NULL;
            site = NULL;
            if (emu_events_due(cpu))
                break;
            continue;
        }
        if ((code = find(cpu, prev, &b))) {
            /* The previous translation's exit jumps here from now on: the
             * same page, mode and CPL (code is for this one), the code
             * cache unchanged. */
            if (site && site_epoch == emu_jit_epoch(cpu))
                emu_jit_link(cpu, site, b, code);
            ran = run_translated(cpu, b, code, budget - n, &site);
            site_epoch = emu_jit_epoch(cpu);
            prev = NULL;
        } else if (b) {
            site = NULL;
            cpu->stats.interp_blocks++;
            ran = run_block(cpu, b);
            /* Only a block that ran to its end with a handler of its own
             * leaves the mode and mappings as they were. */
            prev = ran == b->count && b->linkable ? b : NULL;
        } else {
            site = NULL;
            emu_step(cpu);
            ran = 1;
            prev = NULL;
        }
        n += ran;
        /* Counted here, not from the return value: an exception leaves
         * this loop by longjmp. */
        cpu->stats.insns += ran;
        if (emu_events_due(cpu))
            break;
    }
    return n;
}
