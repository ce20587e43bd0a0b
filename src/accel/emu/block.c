/*
 * Blocks of pre-decoded straight-line code, cached per vCPU by the host
 * address of their first byte and the decoder mode. A block lies in one
 * guest page and ends at a branch, at an instruction without a handler of
 * its own (which runs through the generic groups from the block's copy of
 * its decode), at the page's end, or after BLOCK_MAX instructions. It is
 * valid while its page's generation (struct emu_vm) is unchanged, so a
 * store to the page, by any vCPU, retires it.
 *
 * Blocks live in an arena that is emptied as a whole when full: blocks are
 * cheap to rebuild, and nothing points at one between two blocks.
 */
#include <sys/mman.h>

#include "accel/emu/uop.h"

#define BLOCK_MAX   32
#define HASH_SIZE   16384 /* a power of two */
#define ARENA_BYTES (32u << 20)

struct emu_block {
    uint64_t key; /* as the decode cache's: host address and decoder mode */
    uint32_t gen;
    uint16_t count;
    uint64_t rip_mask;
    struct emu_uop uops[];
};

struct emu_block_cache {
    struct emu_block *table[HASH_SIZE];
    uint8_t *arena;
    size_t used;
};

/* The most a block can take of the arena: its uops and one generic decode. */
#define BLOCK_BYTES                                                                                \
    (sizeof(struct emu_block) + BLOCK_MAX * sizeof(struct emu_uop) + sizeof(struct emu_decoded) +  \
     16)

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

static void flush(struct emu_block_cache *c)
{
    memset(c->table, 0, sizeof(c->table));
    c->used = 0;
}

/* The instruction has no handler: run its decode through exec.c's groups. */
static void uop_generic(struct emu_cpu *cpu, const struct emu_uop *u)
{
    struct emu_decoded *d = (struct emu_decoded *)(uintptr_t)u->imm;

    cpu->decoded = d;
    cpu->insn = &d->insn;
    cpu->ops = d->ops;
    cpu->next_rip = cpu->rip;
    emu_exec_decoded(cpu);
}

/* Decodes from host (the block's first byte, lin & 0xfff into its page) into
 * a new block; NULL when not even the first instruction decodes within the
 * page (emu_step then raises what it must). */
static struct emu_block *build(struct emu_cpu *cpu, const uint8_t *host, uint64_t key,
                               uint64_t page)
{
    struct emu_block_cache *c = cpu->blocks;
    unsigned off = (unsigned)((uintptr_t)(host - cpu->evm->base) & 0xfff), n = 0;
    const uint8_t *page_start = host - off;
    struct emu_block *b;
    uint8_t *end;

    if (c->used + BLOCK_BYTES > ARENA_BYTES)
        flush(c);
    b = (struct emu_block *)(c->arena + c->used);
    /* Mark the page before reading it, so a store racing with the decode
     * bumps the generation and the block is not trusted again. */
    atomic_store_explicit(&cpu->evm->code[page], 1, memory_order_relaxed);
    b->gen = atomic_load_explicit(&cpu->evm->gen[page], memory_order_acquire);
    while (n < BLOCK_MAX) {
        struct emu_uop *u = &b->uops[n];
        ZydisDecodedInstruction insn;
        ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
        unsigned avail =
            4096 - off < ZYDIS_MAX_INSTRUCTION_LENGTH ? 4096 - off : ZYDIS_MAX_INSTRUCTION_LENGTH;
        enum uop_kind kind;

        /* Fails for an instruction running into the next page, too. */
        if (!avail || !ZYAN_SUCCESS(ZydisDecoderDecodeFull(&cpu->decoder, page_start + off, avail,
                                                           &insn, ops)))
            break;
        kind = emu_uop_compile(&insn, ops, cpu->code_bits, u);
        u->len = insn.length;
        off += insn.length;
        n++;
        if (kind == UOP_GENERIC) {
            struct emu_decoded *d =
                (struct emu_decoded *)(((uintptr_t)&b->uops[n] + 15) & ~(uintptr_t)15);
            d->insn = insn;
            memcpy(d->ops, ops, sizeof(d->ops));
            d->group = GROUP_UNKNOWN;
            u->fn = uop_generic;
            u->imm = (uintptr_t)d;
            break;
        }
        if (kind == UOP_BRANCH)
            break;
    }
    if (!n)
        return NULL;
    b->key = key;
    b->count = (uint16_t)n;
    b->rip_mask = cpu->code_bits == 64 ? ~0ULL : 0xffffffffULL;
    end = (uint8_t *)&b->uops[n];
    if (b->uops[n - 1].fn == uop_generic)
        end = (uint8_t *)((struct emu_decoded *)(uintptr_t)b->uops[n - 1].imm + 1);
    c->used = ((size_t)(end - c->arena) + 15) & ~(size_t)15;
    return b;
}

/* The block at CS:RIP, built if need be; NULL when the instruction there
 * must go through emu_step (16-bit code, a CS limit that is not flat,
 * code outside RAM or an instruction across a page). Raises #PF. */
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
    else if (cpu->code_bits == 32 && cs->limit == 0xffffffff)
        lin = (cs->base + cpu->rip) & 0xffffffff;
    else
        return NULL;
    cpu->insn_rip = cpu->rip; /* a fault on the fetch is this instruction's */
    host = emu_fetch_host(cpu, lin);
    if (!host)
        return NULL;
    key = (((uint64_t)(uintptr_t)host << 4) | (uint64_t)cpu->decoder.machine_mode << 2 |
           (uint64_t)cpu->decoder.stack_width) +
          1;
    page = (uint64_t)(host - cpu->evm->base) >> 12;
    gen = atomic_load_explicit(&cpu->evm->gen[page], memory_order_acquire);
    slot = &c->table[((uintptr_t)host ^ ((uintptr_t)host >> 14)) & (HASH_SIZE - 1)];
    b = *slot;
    if (b && b->key == key && b->gen == gen)
        return b;
    b = build(cpu, host, key, page);
    *slot = b;
    return b;
}

/* Runs b from its start; returns how many instructions ran. After MOV SS or
 * STI (intr_shadow) only the first runs, so a pending interrupt is taken
 * right after it, as on hardware. A store to a page holding decoded code
 * ends the block: the rest of it may have been overwritten. */
static unsigned run_block(struct emu_cpu *cpu, const struct emu_block *b)
{
    const struct emu_uop *u = b->uops, *end = u + b->count;

    if (cpu->intr_shadow) {
        cpu->intr_shadow = false;
        end = u + 1;
    }
    cpu->code_changed = false;
    for (; u < end; u++) {
        cpu->insn_rip = cpu->rip;
        cpu->rip = (cpu->rip + u->len) & b->rip_mask;
        u->fn(cpu, u);
        if (__builtin_expect(cpu->code_changed, 0))
            return (unsigned)(u - b->uops) + 1;
    }
    return (unsigned)(end - b->uops);
}

unsigned emu_run_blocks(struct emu_cpu *cpu, unsigned budget)
{
    unsigned n = 0;

    while (n < budget && !cpu->halted && !cpu->triple_fault) {
        struct emu_block *b = lookup(cpu);

        if (b) {
            n += run_block(cpu, b);
        } else {
            emu_step(cpu);
            n++;
        }
        if (emu_events_due(cpu))
            break;
    }
    return n;
}
